package sbom

import (
	"os"
	"path/filepath"
	"testing"
)

// FuzzParse: Parse never panics, and whatever it accepts normalizes to the
// same digest twice, with components sorted and unique.
func FuzzParse(f *testing.F) {
	seeds, _ := filepath.Glob("testdata/*.json")
	for _, p := range seeds {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(b)
		}
	}
	f.Add([]byte(`{"bomFormat":"CycloneDX","specVersion":"1.6","components":[{"type":"library","name":"x","purl":"pkg:npm/x@1.0.0","components":[{"type":"library","name":"y","purl":"pkg:pypi/Y_z@1.0"}]}]}`))
	f.Add([]byte(`{"spdxVersion":"SPDX-2.3","SPDXID":"SPDXRef-DOCUMENT","packages":[{"SPDXID":"SPDXRef-a","name":"a","versionInfo":"1","externalRefs":[{"referenceCategory":"PACKAGE-MANAGER","referenceType":"purl","referenceLocator":"pkg:deb/debian/a@1?distro=debian-12"}]}]}`))
	f.Add([]byte(`{"@context":"https://spdx.org/rdf/3.0.1/spdx-context.jsonld","@graph":[{"type":"software_Package","spdxId":"x","name":"n","software_packageUrl":"pkg:golang/example.com/m@v1.2.3"}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := Parse(data)
		if err != nil {
			return
		}
		d1, err := s.Digest()
		if err != nil {
			t.Fatalf("Digest: %v", err)
		}
		s2, err := Parse(data)
		if err != nil {
			t.Fatalf("second Parse failed: %v", err)
		}
		d2, _ := s2.Digest()
		if d1 != d2 {
			t.Fatalf("digest not stable: %s vs %s", d1, d2)
		}
		for i := 1; i < len(s.Components); i++ {
			if s.Components[i-1].Purl >= s.Components[i].Purl {
				t.Fatalf("components not sorted and unique at %d: %q, %q", i, s.Components[i-1].Purl, s.Components[i].Purl)
			}
		}
	})
}
