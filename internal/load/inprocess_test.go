package load

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stella-ops/stella-oras/internal/schema"
	"github.com/stella-ops/stella-oras/internal/testutil"
)

// The package's tests validate in process; TestSchemaBinary checks that
// the stella-schema binary stella-oras runs gives the same answers.
func init() { Validator = schema.InProcess }

// TestSchemaBinary: the default Validator (the stella-schema binary, found
// on PATH here) agrees with in-process validation on CycloneDX's own
// schema tests, valid and invalid, and says when it is missing.
func TestSchemaBinary(t *testing.T) {
	dir := testutil.Corpus(t)
	schemas := filepath.Join(dir, "schemas")
	bin := t.TempDir()
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/stella-schema")
	cmd.Dir = testutil.RepoRoot()
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building stella-schema: %v\n%s", err, out)
	}
	files, _ := filepath.Glob(filepath.Join(dir, "sbom/cyclonedx/spec-tests/1.6/*.json"))
	if len(files) < 40 {
		t.Fatalf("found %d spec tests", len(files))
	}
	t.Setenv("PATH", bin)
	valid, invalid := 0, 0
	for _, f := range files[:40] {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		want := ValidateSBOM(f, data, schemas)
		Validator = execValidator
		got := ValidateSBOM(f, data, schemas)
		Validator = schema.InProcess
		if (want == nil) != (got == nil) || (want != nil && want.Error() != got.Error()) {
			t.Errorf("%s: stella-schema says %v, in process %v", filepath.Base(f), got, want)
		}
		if want == nil {
			valid++
		} else {
			invalid++
		}
	}
	if valid == 0 || invalid == 0 {
		t.Errorf("%d valid and %d invalid: the comparison needs both", valid, invalid)
	}
	t.Setenv("PATH", t.TempDir())
	Validator = execValidator
	defer func() { Validator = schema.InProcess }()
	data, _ := os.ReadFile(files[0])
	if err := ValidateSBOM(files[0], data, schemas); !errors.Is(err, ErrSchema) || !strings.Contains(err.Error(), "stella-schema binary is needed") {
		t.Errorf("without stella-schema: %v", err)
	}
}

// TestSchemaMessageStable: the violation a schema error names does not
// change from run to run (the validator's own order of causes does).
func TestSchemaMessageStable(t *testing.T) {
	dir := testutil.Corpus(t)
	f := filepath.Join(dir, "sbom/cyclonedx/spec-tests/1.6/invalid-properties-1.6.json")
	data, err := os.ReadFile(f)
	if err != nil {
		t.Fatal(err)
	}
	want := ValidateSBOM(f, data, filepath.Join(dir, "schemas"))
	if want == nil {
		t.Fatal("validated")
	}
	for range 50 {
		if got := ValidateSBOM(f, data, filepath.Join(dir, "schemas")); got.Error() != want.Error() {
			t.Fatalf("messages differ:\n%v\n%v", got, want)
		}
	}
}
