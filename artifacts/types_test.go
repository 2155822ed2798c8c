package artifacts

import "testing"

func TestDetect(t *testing.T) {
	for doc, want := range map[string]string{
		`{"bomFormat":"CycloneDX","specVersion":"1.6","components":[]}`:             "sbom-cyclonedx",
		`{"bomFormat":"CycloneDX","specVersion":"1.6","vulnerabilities":[]}`:        "vex-cyclonedx",
		`{"spdxVersion":"SPDX-2.3"}`:                                                "sbom-spdx",
		`{"@context":"https://spdx.org/rdf/3.0.1/spdx-context.jsonld","@graph":[]}`: "sbom-spdx",
		`{"@context":"https://openvex.dev/ns/v0.2.0","statements":[]}`:              "vex-openvex",
		`{"document":{"csaf_version":"2.0"}}`:                                       "vex-csaf",
		`{"mediaType":"application/vnd.dev.sigstore.bundle.v0.3+json"}`:             "sigstore-bundle",
		`{"kind":"stella-ops/verdict/v1"}`:                                          "verdict",
		`{"format":"stella-feed-snapshot/1"}`:                                       "feed",
		"{\"config\":{\"scanner_name\":\"govulncheck\"}}\n{\"progress\":{}}":        "govulncheck",
		`{"config":{"protocol_version":"v1.0.0","scanner_name":"govulncheck"}}`:     "govulncheck",
		`{"kind":"stella-ops/delta/v1","added":[]}`:                                 "delta",
		`{"schema":"https://stella-ops.org/reach-graph/v1","nodes":[]}`:             "reach",
		`{"name":"p","outcomes":{},"severity_preference":[],"version":"1.0.0"}`:     "policy",
	} {
		got, ok := Detect([]byte(doc))
		if !ok || got.Name != want {
			t.Errorf("Detect(%s) = %q %v, want %q", doc, got.Name, ok, want)
		}
	}
	if _, ok := Detect([]byte(`{"hello":"world"}`)); ok {
		t.Error("Detect accepted an unknown document")
	}
}
