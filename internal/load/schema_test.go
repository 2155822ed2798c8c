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
