// Package artifacts names every document stella-oras reads or writes: media
// types, artifact types, predicate types, and the Go types of its own
// documents.
package artifacts

// Media types of this tool's own documents.
const (
	MediaTypeScanManifest = "application/vnd.stellaops.scan-manifest.v1+json"
	MediaTypeVerdict      = "application/vnd.stellaops.verdict.v1+json"
	MediaTypeFeedSnapshot = "application/vnd.stellaops.feed-snapshot.v1+json"
	MediaTypePolicy       = "application/vnd.stellaops.policy.v1+json"
	// A feed artifact (artifactType MediaTypeFeedSnapshot) holds the
	// feed's index as its first layer, then one layer per record group.
	MediaTypeFeedIndex   = "application/vnd.stellaops.feed-index.v2+json"
	MediaTypeFeedRecords = "application/vnd.stellaops.feed-records.v2+json"
)

// Annotations on this tool's artifacts.
const (
	// AnnotationDigest is the content's identity: a feed's or policy's
	// digest as scan manifests record it.
	AnnotationDigest = "org.stellaops.digest"
	// AnnotationEpoch is a feed's as-of instant (RFC 3339).
	AnnotationEpoch = "org.stellaops.feed.epoch"
	// AnnotationFeedEcosystem names a record group's ecosystem.
	AnnotationFeedEcosystem = "org.stellaops.feed.ecosystem"
	// AnnotationFeedRef is the feed artifact a verdict used.
	AnnotationFeedRef       = "org.stellaops.feed.ref"
	AnnotationPolicyName    = "org.stellaops.policy.name"
	AnnotationPolicyVersion = "org.stellaops.policy.version"
	// On a verdict artifact:
	AnnotationManifestDigest = "org.stellaops.verdict.manifest-digest"
	AnnotationVerdictDigest  = "org.stellaops.verdict.digest"
	AnnotationCacheKey       = "org.stellaops.verdict.cache-key"
	AnnotationStatus         = "org.stellaops.verdict.status"
	AnnotationEngine         = "org.stellaops.verdict.engine"
	// On a delta artifact: the delta's content ID and the two verdicts.
	AnnotationDeltaDigest = "org.stellaops.delta.digest"
	AnnotationDeltaBase   = "org.stellaops.delta.base"
	AnnotationDeltaHead   = "org.stellaops.delta.head"
	// AnnotationVerdictArtifact, on a bundle manifest, names the verdict
	// or delta artifact the signed statement is about.
	AnnotationVerdictArtifact = "org.stellaops.verdict.artifact"
)

// Document kinds, the "kind" member of each document.
const (
	KindScanManifest = "stella-ops/scan-manifest/v1"
	KindVerdict      = "stella-ops/verdict/v1"
)
