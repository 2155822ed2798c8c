package load

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stella-ops/stella-oras/internal/testutil"
)

// TestValidateSBOMSpecTests runs CycloneDX's own schema test suite: every
// valid-* validates and every invalid-* fails. (The corpus MANIFEST notes
// that Python's jsonschema rejects four valid-* documents over jsf-0.82's
// oneOf [enum, string] algorithm; this validator accepts them, as the suite
// expects.)
func TestValidateSBOMSpecTests(t *testing.T) {
	dir := testutil.Corpus(t)
	schemas := filepath.Join(dir, "schemas")
	files, _ := filepath.Glob(filepath.Join(dir, "sbom/cyclonedx/spec-tests/1.[56]/*.json"))
	if len(files) < 120 {
		t.Fatalf("found %d spec tests, want 128", len(files))
	}
	for _, f := range files {
		base := filepath.Base(f)
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		err = ValidateSBOM(f, data, schemas)
		switch {
		case strings.HasPrefix(base, "valid-") && err != nil:
			t.Errorf("%s: %v", base, err)
		case strings.HasPrefix(base, "invalid-") && !errors.Is(err, ErrSchema):
			t.Errorf("%s: validated, want ErrSchema", base)
		}
	}
}

func TestValidateSBOM(t *testing.T) {
	dir := testutil.Corpus(t)
	schemas := filepath.Join(dir, "schemas")
	for rel, valid := range map[string]bool{
		"sbom/spdx/spdx-spec/SPDXJSONExample-v2.3.spdx.json":    true,
		"sbom/spdx3/spdx-spec/package_sbom.spdx3.json":          true,
		"sbom/cyclonedx/trivy/multi-ecosystem-bom.cdx-1.5.json": true,
		"sbom/cyclonedx/osv-scanner/alpine-zlib-16.cdx.json":    false, // metadata.component type ""
		"sbom/spdx/trivy/ca-certificates.spdx.json":             false, // OPERATING-SYSTEM
		"sbom/cyclonedx/guac/alpine-cyclonedx.json":             false, // 1.4: no schema given
	} {
		data, err := os.ReadFile(filepath.Join(dir, rel))
		if err != nil {
			t.Fatal(err)
		}
		err = ValidateSBOM(rel, data, schemas)
		if valid && err != nil || !valid && !errors.Is(err, ErrSchema) {
			t.Errorf("ValidateSBOM(%s) = %v, want valid=%v", rel, err, valid)
		}
		if err != nil && strings.Contains(err.Error(), "\n") {
			t.Errorf("error spans lines: %q", err)
		}
	}
	if err := ValidateSBOM("x.json", []byte(`{"bomFormat":"CycloneDX","specVersion":"1.6"}`), ""); !errors.Is(err, ErrSchema) {
		t.Errorf("no schema dir: %v", err)
	}
}

// TestValidateSBOMSaysWhatIsWrong: a document whose format or version
// has no schema says what is wrong with it, not `no schema for
// "CycloneDX 1"`.
func TestValidateSBOMSaysWhatIsWrong(t *testing.T) {
	for doc, want := range map[string]string{
		`{"bomFormat":"CDX","specVersion":"1"}`:         `bomFormat is "CDX", want "CycloneDX"`,
		`{"bomFormat":"CycloneDX"}`:                     "a CycloneDX document without specVersion",
		`{"bomFormat":"CycloneDX","specVersion":"1"}`:   `specVersion "1" is not a CycloneDX version`,
		`{"bomFormat":"CycloneDX","specVersion":"1.4"}`: "CycloneDX 1.4: --strict has the schemas of CycloneDX 1.5–1.7",
		`{"spdxVersion":"SPDX-2.2"}`:                    `spdxVersion "SPDX-2.2": --strict has the schemas of`,
		`{"openvex":"not an SBOM","statements":[]}`:     "not a CycloneDX or SPDX document",
	} {
		err := ValidateSBOM("x.json", []byte(doc), t.TempDir())
		if !errors.Is(err, ErrSchema) || !strings.Contains(err.Error(), want) {
			t.Errorf("ValidateSBOM(%s) = %v, want ErrSchema saying %q", doc, err, want)
		}
	}
}

// TestSchemaEnumMessageBounded: a value outside a long enum (the
// CycloneDX license ids, the whole SPDX license list) is summarized by
// count and first values, not listed in full.
func TestSchemaEnumMessageBounded(t *testing.T) {
	schemas := filepath.Join(testutil.Corpus(t), "schemas")
	doc := `{"bomFormat":"CycloneDX","specVersion":"1.5","version":1,"components":[{"type":"library","name":"x","version":"1.0","licenses":[{"license":{"id":"NOT-A-LICENSE"}}]}]}`
	err := ValidateSBOM("lic.json", []byte(doc), schemas)
	if !errors.Is(err, ErrSchema) {
		t.Fatalf("ValidateSBOM(bad license id) = %v, want ErrSchema", err)
	}
	msg := err.Error()
	if len(msg) > 400 || !strings.Contains(msg, `value "NOT-A-LICENSE" is not one of the`) || !strings.Contains(msg, "/components/0/licenses/0/license/id") {
		t.Errorf("ValidateSBOM(bad license id) = %d bytes %q, want a short summary naming the value and the place", len(msg), msg)
	}
}

// TestSchemaFieldTypes: a field that chooses the schema, given as
// something other than a string, is said so in JSON's terms, not Go's
// ("cannot unmarshal number into Go struct field .specVersion of type
// string"); so is a document that is not an object.
func TestSchemaFieldTypes(t *testing.T) {
	long := `"` + strings.Repeat("x", 100) + `"`
	for doc, want := range map[string]string{
		`{"bomFormat":"CycloneDX","specVersion":1}`:    `specVersion is 1, want a string (such as "1.6")`,
		`{"bomFormat":["CycloneDX"]}`:                  `bomFormat is ["CycloneDX"], want a string (such as "CycloneDX")`,
		`{"spdxVersion":{"v":` + long + `}}`:           `spdxVersion is {"v":"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx…, want a string`,
		`[{"bomFormat":"CycloneDX"}]`:                  `the document is a JSON array, not an object`,
		`{"bomFormat":"CycloneDX","specVersion":null}`: `a CycloneDX document without specVersion`,
	} {
		err := ValidateSBOM("s.json", []byte(doc), t.TempDir())
		if !errors.Is(err, ErrSchema) || !strings.Contains(err.Error(), want) || strings.Contains(err.Error(), "Go struct") {
			t.Errorf("ValidateSBOM(%s) = %v, want ErrSchema saying %q", doc, err, want)
		}
	}
}
