package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stella-ops/stella-oras/internal/cli"
)

func TestVexNormalize(t *testing.T) {
	dir := t.TempDir()
	doc := filepath.Join(dir, "v.openvex.json")
	os.WriteFile(doc, []byte(`{"@context":"https://openvex.dev/ns/v0.2.0","@id":"x","author":"Vendor","timestamp":"2026-01-01T00:00:00Z","statements":[
	 {"vulnerability":{"name":"EX-GO-2026-0002"},"products":[{"@id":"pkg:golang/golang.example/x/net@v0.15.0"}],"status":"not_affected","justification":"vulnerable_code_not_in_execute_path"},
	 {"vulnerability":{"name":"CVE-9"},"products":[{"@id":"pkg:npm/not-there@1.0.0"}],"status":"affected"}]}`), 0o644)
	r := stella(t, "", "vex", "normalize", doc, "--sbom", example("sbom.cdx.json"), "--output", "json")
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	var rep vexReport
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
		t.Fatal(err)
	}
	d := rep.Documents[0]
	if len(d.Statements) != 2 || len(d.NotInSBOM) != 1 || d.NotInSBOM[0] != "pkg:npm/not-there@1.0.0" {
		t.Errorf("report %+v", d)
	}
	r = stella(t, "", "vex", "normalize", doc)
	if !strings.Contains(r.stdout, "not_affected") || !strings.Contains(r.stdout, "EX-GO-2026-0002") {
		t.Errorf("table:\n%s", r.stdout)
	}
	bad := filepath.Join(dir, "empty.json")
	os.WriteFile(bad, []byte(`{}`), 0o644)
	if r := stella(t, "", "vex", "normalize", bad); r.code != cli.ExitError || !strings.Contains(r.stderr, "not a VEX document") {
		t.Errorf("{}: exit %d %s", r.code, r.stderr)
	}
	if r := stella(t, "", "vex", "normalize", example("sbom.cdx.json")); r.code != cli.ExitError {
		t.Errorf("an SBOM: exit %d", r.code)
	}
}
