package main

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stella-ops/stella-oras/evaluator"
	"github.com/stella-ops/stella-oras/internal/cli"
)

// TestExportImportCLI: on the demo's layouts, export --output json
// reports the archive's sha256 and what it carries; the commands its
// index.md gives verify and replay from the archive alone, with the key
// it carries; import puts it into another layout, where it verifies;
// usage errors exit 2, a bad archive 1, a tampered one 4.
func TestExportImportCLI(t *testing.T) {
	dir, key, newImage := demoWorld(t, "", "signer")
	img := newImage("app", "export build", example("sbom.cdx.json"))
	if r := stella(t, "", "evaluate", img, "--feed", "oci:"+filepath.Join(dir, "feeds"), "--key", key+".key"); r.code != 0 && r.code != cli.ExitGateFailed {
		t.Fatalf("evaluate: exit %d %s", r.code, r.stderr)
	}
	out := t.TempDir()
	archive := filepath.Join(out, "app.tar")
	r := stella(t, "", "export", img, "--density", "strict", "--key", key+".pub", "-o", archive, "--output", "json")
	var rep evaluator.ExportReport
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil || r.code != 0 {
		t.Fatalf("export --output json: exit %d %v\n%s%s", r.code, err, r.stdout, r.stderr)
	}
	b, _ := os.ReadFile(archive)
	sum := sha256.Sum256(b)
	if rep.SHA256 != "sha256:"+hex.EncodeToString(sum[:]) || rep.Output != archive || rep.Manifests == 0 || len(rep.Verdicts) != 1 || rep.Density != "strict" {
		t.Errorf("report %+v; the file's sha256 is %x", rep, sum)
	}

	// The commands index.md gives, run from the archive's directory with
	// trust/ extracted (as the report says).
	var md []byte
	tr := tar.NewReader(bytes.NewReader(b))
	for {
		h, err := tr.Next()
		if err != nil {
			break
		}
		var data bytes.Buffer
		data.ReadFrom(tr)
		if h.Name == "index.md" {
			md = data.Bytes()
		}
		if strings.HasPrefix(h.Name, "trust/") {
			os.MkdirAll(filepath.Join(out, filepath.Dir(h.Name)), 0o755)
			os.WriteFile(filepath.Join(out, h.Name), data.Bytes(), 0o644)
		}
	}
	wd, _ := os.Getwd()
	os.Chdir(out)
	defer os.Chdir(wd)
	ran := 0
	for _, line := range strings.Split(string(md), "\n") {
		args, ok := strings.CutPrefix(line, "stella-oras ")
		if !ok || strings.HasPrefix(args, "import") {
			continue
		}
		if r := stella(t, "", strings.Fields(args)...); r.code != 0 {
			t.Errorf("%s: exit %d\n%s%s", line, r.code, r.stdout, r.stderr)
		}
		ran++
	}
	if ran != 2 {
		t.Errorf("index.md gave %d verify and replay commands, want 2:\n%s", ran, md)
	}
	os.Chdir(wd)

	dst := "oci:" + filepath.Join(t.TempDir(), "imported")
	r = stella(t, "", "import", archive, dst+":v1", "--output", "json")
	var ir evaluator.ImportReport
	if err := json.Unmarshal([]byte(r.stdout), &ir); err != nil || r.code != 0 || ir.Tag != "v1" || len(ir.Missing) != 2 {
		t.Fatalf("import: exit %d %v, tag %q, missing %d (want v1, the image's config and layer)\n%s%s", r.code, err, ir.Tag, len(ir.Missing), r.stdout, r.stderr)
	}
	at := strings.LastIndex(img, "@")
	if r := stella(t, "", "verify", dst+img[at:], "--key", key+".pub"); r.code != 0 {
		t.Errorf("verify after import: exit %d %s", r.code, r.stderr)
	}
	if r := stella(t, "", "import", archive, dst); r.code != 0 || !strings.Contains(r.stdout, "Imported ") || !strings.Contains(r.stdout, "2 missing") {
		t.Errorf("import (text): exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}

	for _, tc := range []struct {
		args []string
		code int
	}{
		{[]string{"export", img, "--density", "dense", "-o", archive}, cli.ExitUsage},
		{[]string{"export", img}, cli.ExitUsage},
		{[]string{"export", "oci:" + filepath.Join(dir, "layout"), "-o", archive}, cli.ExitError}, // no tag or digest
		{[]string{"export", img, "-o", archive, "--key", key + ".key"}, cli.ExitError},            // a private key
		{[]string{"import", archive}, cli.ExitUsage},
		{[]string{"import", archive, dst + img[at:]}, cli.ExitUsage},
		{[]string{"import", filepath.Join(out, "missing.tar"), dst}, cli.ExitError},
	} {
		if r := stella(t, "", tc.args...); r.code != tc.code || strings.Count(r.stderr, "Error:") != 1 {
			t.Errorf("%s: exit %d, stderr %q; want %d and one error line", strings.Join(tc.args, " "), r.code, r.stderr, tc.code)
		}
	}
	// A truncated archive: 1; a tampered blob: 4.
	cut := filepath.Join(out, "cut.tar")
	os.WriteFile(cut, b[:len(b)-2048-700], 0o644)
	if r := stella(t, "", "import", cut, "oci:"+filepath.Join(t.TempDir(), "x")); r.code != cli.ExitError {
		t.Errorf("import of a truncated archive: exit %d %s", r.code, r.stderr)
	}
	bad := bytes.Clone(b)
	i := bytes.Index(bad, []byte(`"dsseEnvelope"`))
	bad[i+40] ^= 0x01
	tampered := filepath.Join(out, "tampered.tar")
	os.WriteFile(tampered, bad, 0o644)
	if r := stella(t, "", "import", tampered, "oci:"+filepath.Join(t.TempDir(), "y")); r.code != cli.ExitVerifyFailed {
		t.Errorf("import of a tampered archive: exit %d %s", r.code, r.stderr)
	}
	if r := stella(t, "", "export", img, "--density", "lite", "-o", filepath.Join(out, "lite.tar")); r.code != 0 || !strings.Contains(r.stdout, "verdict inputs:") || !strings.Contains(r.stdout, "not included: density lite") {
		t.Errorf("export (text): exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
}
