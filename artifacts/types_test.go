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

// TestTypesCopy: changing what Types returns changes neither the table
// nor what TypeByName and Detect answer.
func TestTypesCopy(t *testing.T) {
	want := Types()
	ts := Types()
	for i := range ts {
		ts[i].ArtifactType, ts[i].MediaType, ts[i].Name = "text/plain", "text/plain", "x"
	}
	if got, ok := TypeByName("sbom-cyclonedx"); !ok || got.ArtifactType != "application/vnd.cyclonedx+json" {
		t.Errorf(`TypeByName("sbom-cyclonedx") = %+v, %v after changing Types()'s result, want application/vnd.cyclonedx+json`, got, ok)
	}
	if got, ok := Detect([]byte(`{"bomFormat":"CycloneDX","components":[]}`)); !ok || got.MediaType != "application/vnd.cyclonedx+json" {
		t.Errorf("Detect(CycloneDX) = %+v, %v after changing Types()'s result", got, ok)
	}
	if got := Types(); len(got) != len(want) || got[0] != want[0] || got[len(got)-1] != want[len(want)-1] {
		t.Errorf("Types() = %+v after changing an earlier result, want %+v", got, want)
	}
}
