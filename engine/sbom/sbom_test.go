package sbom

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/stella-ops/stella-oras/canon"
	"github.com/stella-ops/stella-oras/internal/testutil"
)

func parseFile(t *testing.T, path string) *SBOM {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	s, err := Parse(b)
	if err != nil {
		t.Fatalf("Parse(%s): %v", path, err)
	}
	return s
}

func purls(s *SBOM) []string {
	var out []string
	for _, c := range s.Components {
		out = append(out, c.Purl)
	}
	return out
}

func TestQuickstartCycloneDX(t *testing.T) {
	s := parseFile(t, filepath.Join(testutil.RepoRoot(), "examples/quickstart/sbom.cdx.json"))
	if s.Format != FormatCycloneDX || s.SpecVersion != "1.6" {
		t.Errorf("format = %s %s, want cyclonedx 1.6", s.Format, s.SpecVersion)
	}
	want := map[string]Component{
		"pkg:golang/example.com/webframework@v1.5.2": {Ecosystem: "Go", Name: "example.com/webframework", Version: "1.5.2"},
		"pkg:golang/stdlib@go1.21.3":                 {Ecosystem: "Go", Name: "stdlib", Version: "1.21.3"},
		"pkg:npm/%40example/parser@2.3.0":            {Ecosystem: "npm", Name: "@example/parser", Version: "2.3.0"},
		"pkg:npm/git-only-pkg@1.0.0":                 {Ecosystem: "npm", Name: "git-only-pkg", Version: "1.0.0"},
		"pkg:pypi/example-lib@1.9":                   {Ecosystem: "PyPI", Name: "example-lib", Version: "1.9"},
		"pkg:maven/org.example/core@1.2.5":           {Ecosystem: "Maven", Name: "org.example:core", Version: "1.2.5"},
		"pkg:deb/debian/libssl-example@3.0.9-1?arch=amd64&distro=debian-12&upstream=openssl-example": {Ecosystem: "Debian:12", Name: "openssl-example", Version: "3.0.9-1"},
		"pkg:apk/alpine/zlib-example@1.3-r2?arch=x86_64&distro=alpine-3.19.1":                        {Ecosystem: "Alpine:v3.19", Name: "zlib-example", Version: "1.3-r2"},
	}
	got := map[string]Component{}
	for _, c := range s.Components {
		got[c.Purl] = Component{Ecosystem: c.Ecosystem, Name: c.Name, Version: c.Version}
	}
	for p, w := range want {
		if diff := cmp.Diff(w, got[p]); diff != "" {
			t.Errorf("component %s (-want +got):\n%s", p, diff)
		}
	}
	reasons := map[string]string{}
	for _, u := range s.Unknowns {
		reasons[u.Name] = u.Reason
	}
	wantU := map[string]string{"vendored-blob": ReasonNoPurl, "weird": ReasonVersionUnparseable, "base-image": ReasonEcosystemUnsupported}
	if diff := cmp.Diff(wantU, reasons); diff != "" {
		t.Errorf("unknowns (-want +got):\n%s", diff)
	}
	if len(s.Dependencies) == 0 {
		t.Error("no dependencies read")
	}
}

func TestSPDX(t *testing.T) {
	s := parseFile(t, "testdata/sbom.spdx.json")
	// packageurl-go normalizes PyPI names, so the two spellings are one
	// component with both SPDX ids.
	want := []string{"pkg:golang/example.com/webframework@v1.5.2", "pkg:pypi/example-lib@1.9"}
	if diff := cmp.Diff(want, purls(s)); diff != "" {
		t.Errorf("purls (-want +got):\n%s", diff)
	}
	if got := s.Components[1].BOMRefs; !cmp.Equal(got, []string{"py", "py2"}) {
		t.Errorf("bom refs = %v, want [py py2]", got)
	}
	if len(s.Unknowns) != 1 || s.Unknowns[0].Reason != ReasonNoPurl || s.Unknowns[0].Name != "example-service" {
		t.Errorf("unknowns = %+v, want the purl-less root package", s.Unknowns)
	}
	// DEPENDS_ON and DEPENDENCY_OF both become edges from the app.
	if len(s.Dependencies) != 1 || s.Dependencies[0].From != "app" || len(s.Dependencies[0].To) != 2 {
		t.Errorf("dependencies = %+v", s.Dependencies)
	}
}

func TestSPDX3(t *testing.T) {
	s := parseFile(t, "testdata/sbom.spdx3.json")
	want := []string{"pkg:cargo/example-crate@0.4.0", "pkg:golang/example.com/webframework@v1.5.2"}
	if diff := cmp.Diff(want, purls(s)); diff != "" {
		t.Errorf("purls (-want +got):\n%s", diff)
	}
	if len(s.Unknowns) != 1 || s.Unknowns[0].Name != "mystery" {
		t.Errorf("unknowns = %+v", s.Unknowns)
	}
	if len(s.Dependencies) != 1 || s.Dependencies[0].To[0] != "pkg:cargo/example-crate@0.4.0" {
		t.Errorf("dependencies = %+v", s.Dependencies)
	}
}

// TestNestedFlatAgree: layout and order do not change the normalized SBOM.
func TestNestedFlatAgree(t *testing.T) {
	a, b := parseFile(t, "testdata/nested.cdx.json"), parseFile(t, "testdata/flat.cdx.json")
	da, _ := a.Digest()
	db, _ := b.Digest()
	if da != db {
		t.Errorf("nested %s != flat %s\n%s", da, db, cmp.Diff(a, b, cmp.AllowUnexported(Unknown{}, osvPackage{})))
	}
}

func TestDedupe(t *testing.T) {
	s, err := Parse([]byte(`{"bomFormat":"CycloneDX","specVersion":"1.4","components":[
		{"type":"library","bom-ref":"x1","name":"x","purl":"pkg:npm/x@1.0.0"},
		{"type":"library","bom-ref":"x2","name":"x","purl":"pkg:npm/x@1.0.0"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Components) != 1 || !cmp.Equal(s.Components[0].BOMRefs, []string{"x1", "x2"}) {
		t.Errorf("components = %+v, want one with both bom-refs", s.Components)
	}
}

func TestPurlMapping(t *testing.T) {
	tests := []struct {
		purl, eco, name, version, reason string
	}{
		{"pkg:golang/github.com/a/b@v1.2.3", "Go", "github.com/a/b", "1.2.3", ""},
		{"pkg:golang/stdlib@go1.22.1", "Go", "stdlib", "1.22.1", ""},
		{"pkg:npm/%40scope/name@1.0.0", "npm", "@scope/name", "1.0.0", ""},
		{"pkg:pypi/Django_Rest.Framework@3.0", "PyPI", "django-rest-framework", "3.0", ""},
		{"pkg:maven/org.apache/commons@1.0", "Maven", "org.apache:commons", "1.0", ""},
		{"pkg:cargo/serde@1.0.0", "crates.io", "serde", "1.0.0", ""},
		{"pkg:gem/rails@7.0.8.1", "RubyGems", "rails", "7.0.8.1", ""},
		{"pkg:nuget/Newtonsoft.Json@13.0.1", "NuGet", "Newtonsoft.Json", "13.0.1", ""},
		{"pkg:composer/laravel/framework@7.12.0", "Packagist", "laravel/framework", "7.12.0", ""},
		{"pkg:deb/debian/libc6@2.36-9?distro=debian-12.4&upstream=glibc", "Debian:12", "glibc", "2.36-9", ""},
		{"pkg:deb/debian/bash@5.2-1?distro=bookworm", "Debian:12", "bash", "5.2-1", ""},
		{"pkg:deb/debian/tzdata@1?epoch=2&distro=debian-12", "Debian:12", "tzdata", "2:1", ""},
		{"pkg:deb/ubuntu/openssl@3.0.2-0ubuntu1?distro=ubuntu-22.04", "Ubuntu:22.04", "openssl", "3.0.2-0ubuntu1", ""},
		{"pkg:apk/alpine/busybox@1.36.1-r15?distro=3.19.1", "Alpine:v3.19", "busybox", "1.36.1-r15", ""},
		{"pkg:alpine/musl@1.2.4-r2?distro=alpine-3.18.4", "Alpine:v3.18", "musl", "1.2.4-r2", ""},
		{"pkg:rpm/redhat/openssl@1.1.1k-7.el8_6?epoch=1", "Red Hat", "openssl", "1:1.1.1k-7.el8_6", ""},
		{"pkg:rpm/centos/bash@4.2.46-34.el7", "", "", "", ReasonEcosystemUnsupported},
		{"pkg:github/actions/checkout@v4", "", "", "", ReasonEcosystemUnsupported},
		{"pkg:npm/nover", "", "", "", ReasonVersionMissing},
		{"not-a-purl", "", "", "", ReasonPurlInvalid},
	}
	for _, tt := range tests {
		r, reason, _ := resolve(tt.purl)
		if reason != tt.reason {
			t.Errorf("resolve(%q) reason = %q, want %q", tt.purl, reason, tt.reason)
			continue
		}
		if reason != "" {
			continue
		}
		if r.ecosystem != tt.eco || r.name != tt.name || r.version != tt.version {
			t.Errorf("resolve(%q) = %s %s %s, want %s %s %s", tt.purl, r.ecosystem, r.name, r.version, tt.eco, tt.name, tt.version)
		}
	}
}

func TestRejects(t *testing.T) {
	tests := []struct {
		name string
		doc  string
		want error
	}{
		{"truncated", `{"bomFormat":"CycloneDX","components":[`, canon.ErrSyntax},
		{"duplicate key", `{"bomFormat":"CycloneDX","bomFormat":"CycloneDX"}`, canon.ErrDuplicateKey},
		{"not an object", `[1,2]`, ErrFormat},
		{"wrong format", `{"bomFormat":"CDX","specVersion":"1"}`, ErrFormat},
		{"spdx version number", `{"spdxVersion":2}`, ErrFormat},
		{"unknown document", `{"invalid":"data"}`, ErrFormat},
		{"wrong field type", `{"bomFormat":"CycloneDX","specVersion":"1.5","components":"x"}`, ErrFormat},
		{"deep nesting", `{"bomFormat":"CycloneDX","x":` + strings.Repeat("[", 1_000_000) + strings.Repeat("]", 1_000_000) + `}`, canon.ErrTooDeep},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.doc))
			if !errors.Is(err, tt.want) {
				t.Fatalf("Parse() error = %v, want %v", err, tt.want)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("error spans lines: %q", err)
			}
		})
	}
}

// TestCorpus reads every SBOM in the corpus: the documents MANIFEST.md
// calls negative are refused with ErrFormat, all others normalize.
func TestCorpus(t *testing.T) {
	dir := testutil.Corpus(t)
	negative := map[string]bool{
		"invalid-cyclonedx.json":            true,
		"invalid-spdx.json":                 true,
		"invalid-spdx-identifier-spdx.json": true,
		"invalid_spdx.json":                 true,
		"sad-invalid-serial.json":           true,
	}
	n := 0
	err := filepath.WalkDir(filepath.Join(dir, "sbom"), func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(p, ".json") {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		s, perr := Parse(b)
		base := filepath.Base(p)
		switch {
		case strings.Contains(p, "spec-tests"):
			// CycloneDX's schema suite: any outcome but a panic; valid
			// documents must parse.
			if perr != nil && strings.HasPrefix(base, "valid-") && !strings.Contains(p, "1.2") {
				t.Errorf("%s: %v", p, perr)
			}
		case negative[base]:
			if !errors.Is(perr, ErrFormat) {
				t.Errorf("%s: error = %v, want ErrFormat", p, perr)
			}
		case perr != nil:
			t.Errorf("%s: %v", p, perr)
		default:
			if _, err := s.Digest(); err != nil {
				t.Errorf("%s: Digest: %v", p, err)
			}
		}
		n++
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n < 190 {
		t.Errorf("read %d corpus SBOMs, want ≥ 190", n)
	}
	// The nested and flat guac documents describe the same components.
	a := parseFile(t, filepath.Join(dir, "sbom/cyclonedx/guac/cyclonedx-components-nested.json"))
	b := parseFile(t, filepath.Join(dir, "sbom/cyclonedx/guac/cyclonedx-components-flat.json"))
	if diff := cmp.Diff(purls(a), purls(b)); diff != "" {
		t.Errorf("nested vs flat components (-nested +flat):\n%s", diff)
	}
	// Photon's Tern report has no purls at all: every package is unknown.
	p := parseFile(t, filepath.Join(dir, "sbom/spdx/sbomqs/photon-tern.spdx-2.2.json"))
	if len(p.Components) != 0 || len(p.Unknowns) != 38 {
		t.Errorf("photon: %d components, %d unknowns, want 0 and 38", len(p.Components), len(p.Unknowns))
	}
}

// TestSubjects: what a document describes (CycloneDX metadata.component,
// the package an SPDX 2 document DESCRIBES or documentDescribes names,
// an SPDX 3 SBOM's root element) is recorded as a subject, not judged,
// and leaves the normalized form (its content ID) unchanged.
func TestSubjects(t *testing.T) {
	const img = "pkg:oci/app@sha256%3Aabc"
	for name, tt := range map[string]struct{ with, without string }{
		"cyclonedx": {
			with:    `{"bomFormat":"CycloneDX","specVersion":"1.6","metadata":{"component":{"type":"application","name":"app","purl":"` + img + `"}},"components":[{"type":"library","name":"x","version":"1.0.0","purl":"pkg:npm/x@1.0.0"}]}`,
			without: `{"bomFormat":"CycloneDX","specVersion":"1.6","components":[{"type":"library","name":"x","version":"1.0.0","purl":"pkg:npm/x@1.0.0"}]}`,
		},
		"spdx-2 relationship": {
			with:    spdx2Doc(`,"relationships":[{"spdxElementId":"SPDXRef-DOCUMENT","relationshipType":"DESCRIBES","relatedSpdxElement":"SPDXRef-app"}]`),
			without: spdx2Doc(``),
		},
		"spdx-2 documentDescribes": {
			with:    spdx2Doc(`,"documentDescribes":["SPDXRef-app"]`),
			without: spdx2Doc(``),
		},
		"spdx-3": {
			with:    spdx3Doc(`"rootElement":["urn:app"],`),
			without: spdx3Doc(``),
		},
	} {
		t.Run(name, func(t *testing.T) {
			with, err := Parse([]byte(tt.with))
			if err != nil {
				t.Fatal(err)
			}
			without, err := Parse([]byte(tt.without))
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff([]string{img}, with.Subjects); diff != "" {
				t.Errorf("Subjects (-want +got):\n%s", diff)
			}
			if len(without.Subjects) != 0 {
				t.Errorf("Subjects without a described element = %v", without.Subjects)
			}
			if name == "cyclonedx" {
				d1, _ := with.Digest()
				d2, _ := without.Digest()
				if d1 != d2 {
					t.Errorf("metadata.component changed the normalized SBOM's digest: %s, %s", d1, d2)
				}
			}
		})
	}
}

func spdx2Doc(extra string) string {
	return `{"spdxVersion":"SPDX-2.3","dataLicense":"CC0-1.0","SPDXID":"SPDXRef-DOCUMENT","name":"d","documentNamespace":"https://example.com/d",
"creationInfo":{"created":"2026-01-01T00:00:00Z","creators":["Tool: t"]},
"packages":[{"SPDXID":"SPDXRef-app","name":"app","downloadLocation":"NOASSERTION","externalRefs":[{"referenceCategory":"PACKAGE-MANAGER","referenceType":"purl","referenceLocator":"pkg:oci/app@sha256%3Aabc"}]},
 {"SPDXID":"SPDXRef-x","name":"x","versionInfo":"1.0.0","downloadLocation":"NOASSERTION","externalRefs":[{"referenceCategory":"PACKAGE-MANAGER","referenceType":"purl","referenceLocator":"pkg:npm/x@1.0.0"}]}]` + extra + `}`
}

func spdx3Doc(root string) string {
	return `{"@context":"https://spdx.org/rdf/3.0.1/spdx-context.jsonld","@graph":[
{"type":"software_Sbom","spdxId":"urn:sbom",` + root + `"element":["urn:app","urn:x"]},
{"type":"software_Package","spdxId":"urn:app","name":"app","software_packageUrl":"pkg:oci/app@sha256%3Aabc"},
{"type":"software_Package","spdxId":"urn:x","name":"x","software_packageVersion":"1.0.0","software_packageUrl":"pkg:npm/x@1.0.0"}]}`
}
