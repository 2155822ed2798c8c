package artifacts

import (
	"bytes"
	"encoding/json"
	"slices"
)

// Type is one kind of document the tool attaches or reads, with the
// artifactType of its OCI artifact manifest and the media type of the
// layer holding it. Conventions follow existing tools where one exists:
// CycloneDX and SPDX as Trivy and the ORAS docs attach them, OpenVEX as
// vexctl/cosign name it, Sigstore bundles as cosign v3 stores them.
type Type struct {
	Name         string // the --type value
	ArtifactType string
	MediaType    string
	Title        string // what it is, in words: "a CycloneDX SBOM"
}

// Types lists every document kind, by --type name (a copy: the table
// decides what is attached and detected, and no caller may change it).
func Types() []Type { return slices.Clone(typeTable) }

var typeTable = []Type{
	{"sbom-cyclonedx", "application/vnd.cyclonedx+json", "application/vnd.cyclonedx+json", "a CycloneDX SBOM"},
	{"sbom-spdx", "application/spdx+json", "application/spdx+json", "an SPDX SBOM"},
	{"vex-openvex", "application/vnd.openvex+json", "application/vnd.openvex+json", "an OpenVEX document"},
	{"vex-cyclonedx", "application/vnd.cyclonedx.vex+json", "application/vnd.cyclonedx+json", "a CycloneDX VEX document"},
	{"vex-csaf", "application/csaf+json", "application/csaf+json", "a CSAF document"},
	{"reach", "application/vnd.stellaops.reach-graph.v1+json", "application/vnd.stellaops.reach-graph.v1+json", "a reach graph"},
	{"govulncheck", "application/vnd.stellaops.govulncheck-stream.v1+json", "application/vnd.stellaops.govulncheck-stream.v1+json", "a govulncheck JSON stream"},
	{"feed", MediaTypeFeedSnapshot, MediaTypeFeedSnapshot, "a feed snapshot"},
	{"policy", MediaTypePolicy, MediaTypePolicy, "a compiled policy"},
	{"scan-manifest", MediaTypeScanManifest, MediaTypeScanManifest, "a scan manifest"},
	{"verdict", MediaTypeVerdict, MediaTypeVerdict, "a verdict"},
	{"delta", MediaTypeDelta, MediaTypeDelta, "a delta"},
	{"sigstore-bundle", MediaTypeSigstoreBundle, MediaTypeSigstoreBundle, "a Sigstore bundle"},
}

// Document kinds and schemas defined by other packages, named here for
// detection.
const (
	KindDelta        = "stella-ops/delta/v1"
	ReachGraphSchema = "https://stella-ops.org/reach-graph/v1"
)

// More media types.
const (
	// MediaTypeDelta is a delta document, and the artifact type of the
	// delta artifact that holds it (subject = the head image).
	MediaTypeDelta          = "application/vnd.stellaops.delta.v1+json"
	MediaTypeSigstoreBundle = "application/vnd.dev.sigstore.bundle.v0.3+json"
)

// Annotations this tool reads or writes.
const (
	AnnotationTitle = "org.opencontainers.image.title"
	// cosign v3's annotations on a Sigstore bundle manifest.
	AnnotationBundleContent       = "dev.sigstore.bundle.content"
	AnnotationBundlePredicateType = "dev.sigstore.bundle.predicateType"
)

// TypeByName finds a type by its --type name; "sbom" and "vex" are
// resolved from the content by Detect instead.
func TypeByName(name string) (Type, bool) {
	for _, t := range typeTable {
		if t.Name == name {
			return t, true
		}
	}
	return Type{}, false
}

// Detect names the document kind from its content: CycloneDX (VEX when it
// has vulnerabilities with analysis and no components), SPDX 2 and 3,
// OpenVEX, CSAF, this tool's own documents (by their "kind"), a Sigstore
// bundle, a govulncheck JSON stream. ok is false when nothing matches.
func Detect(data []byte) (Type, bool) {
	trimmed := bytes.TrimSpace(data)
	top, ok := topLevel(trimmed)
	if !ok {
		// govulncheck -json writes a stream of objects, not one document.
		if bytes.HasPrefix(trimmed, []byte("{")) && bytes.Contains(trimmed, []byte(`"config"`)) && bytes.Contains(trimmed, []byte(`"scanner_name"`)) {
			return TypeByName("govulncheck")
		}
		return Type{}, false
	}
	str := func(k string) string {
		var s string
		json.Unmarshal(top[k], &s)
		return s
	}
	switch {
	case str("bomFormat") == "CycloneDX":
		_, hasComps := top["components"]
		if _, hasVulns := top["vulnerabilities"]; hasVulns && !hasComps {
			return TypeByName("vex-cyclonedx")
		}
		return TypeByName("sbom-cyclonedx")
	case top["spdxVersion"] != nil:
		return TypeByName("sbom-spdx")
	case bytes.Contains(top["@context"], []byte("spdx.org/rdf/3")):
		return TypeByName("sbom-spdx")
	case bytes.Contains(top["@context"], []byte("openvex.dev/ns")):
		return TypeByName("vex-openvex")
	case top["document"] != nil && bytes.Contains(top["document"], []byte(`"csaf_version"`)):
		return TypeByName("vex-csaf")
	case bytes.HasPrefix(top["mediaType"], []byte(`"application/vnd.dev.sigstore.bundle`)):
		return TypeByName("sigstore-bundle")
	}
	switch str("kind") {
	case KindVerdict:
		return TypeByName("verdict")
	case KindScanManifest:
		return TypeByName("scan-manifest")
	case KindDelta:
		return TypeByName("delta")
	}
	if top["config"] != nil && bytes.Contains(top["config"], []byte(`"scanner_name"`)) {
		return TypeByName("govulncheck") // a stream of one message
	}
	if str("schema") == ReachGraphSchema {
		return TypeByName("reach")
	}
	if top["severity_preference"] != nil && top["outcomes"] != nil && top["name"] != nil {
		return TypeByName("policy") // a compiled policy IR
	}
	if f := str("format"); f == "stella-feed-snapshot/1" || f == "stella-feed-snapshot/2" {
		return TypeByName("feed")
	}
	return Type{}, false
}
