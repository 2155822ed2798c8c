package main

import (
	"strings"
	"testing"
)

// TestDemo: the README's first command runs the main job end to end on
// OCI layouts: evaluate, verify, replay identical, then a cache hit.
func TestDemo(t *testing.T) {
	r := cli(t, "", "demo", "--dir", t.TempDir())
	if r.code != 0 {
		t.Fatalf("demo: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	for _, want := range []string{"state computed (engine runs 1)", "verification: true", ": identical sha256:", "state cached (engine runs 0)", "1 untrusted VEX ignored"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("demo output lacks %q", want)
		}
	}
}

// TestEvaluateCLI: flags map to options; usage errors exit 2; the gate
// exits 3 and --output json is one document.
func TestEvaluateCLI(t *testing.T) {
	if r := cli(t, "", "evaluate", "oci:./x:demo"); r.code != ExitUsage {
		t.Errorf("evaluate without --feed/--key: exit %d, want %d", r.code, ExitUsage)
	}
	if r := cli(t, "", "evaluate", "oci:./x:demo", "--feed", "f", "--key", "k", "--fail-on", "maybe"); r.code != ExitUsage {
		t.Errorf("evaluate --fail-on maybe: exit %d, want %d", r.code, ExitUsage)
	}
}
