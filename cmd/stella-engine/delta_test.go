package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stella-ops/stella-oras/internal/cli"
)

// TestDelta: the quickstart verdict before and after its VEX document.
func TestDelta(t *testing.T) {
	dir := t.TempDir()
	base, head := filepath.Join(dir, "base.json"), filepath.Join(dir, "head.json")
	stella(t, "", "eval", "--sbom", example("sbom.cdx.json"), "--feed", example("osv"), "-o", base)
	stella(t, "", "eval", "--sbom", example("sbom.cdx.json"), "--feed", example("osv"), "--vex", example("vex.openvex.json"), "-o", head)
	out := filepath.Join(dir, "delta.json")
	r := stella(t, "", "delta", base, head, "-o", out, "--fail-on", "new-findings,risk+0,status-worse")
	if r.code != 0 || !strings.Contains(r.stdout, "risk:      -50") {
		t.Errorf("base -> head: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	var d struct {
		Changed []struct{ Field, From, To string } `json:"changed"`
	}
	b, _ := os.ReadFile(out)
	json.Unmarshal(b, &d)
	if len(d.Changed) != 4 { // x/net outcome and vex_status; framework and parser vex_status
		t.Errorf("changed = %+v", d.Changed)
	}
	// The other way round the risk rises: risk+10 fires, exit 3.
	r = stella(t, "", "delta", head, base, "--fail-on", "risk+10")
	if r.code != cli.ExitGateFailed || !strings.Contains(r.stderr, "risk+10") {
		t.Errorf("head -> base: exit %d %s", r.code, r.stderr)
	}
	if r := stella(t, "", "delta", base, head, "--fail-on", "risk+many"); r.code != cli.ExitUsage {
		t.Errorf("bad gate: exit %d", r.code)
	}
	if r := stella(t, "", "delta", base, example("sbom.cdx.json")); r.code != cli.ExitError || !strings.Contains(r.stderr, "not a stella-oras verdict") {
		t.Errorf("not a verdict: exit %d %s", r.code, r.stderr)
	}
}
