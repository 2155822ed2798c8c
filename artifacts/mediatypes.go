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
)

// Document kinds, the "kind" member of each document.
const (
	KindScanManifest = "stella-ops/scan-manifest/v1"
	KindVerdict      = "stella-ops/verdict/v1"
)
