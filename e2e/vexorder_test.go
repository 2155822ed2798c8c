package e2e

import (
	"bytes"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/stella-ops/stella-oras/internal/testutil"
)

// TestVEXOrder: the order of --vex documents and the key order inside
// them do not change the verdict bytes.
func TestVEXOrder(t *testing.T) {
	root := testutil.RepoRoot()
	sbom := filepath.Join(root, "examples/quickstart/sbom.cdx.json")
	feed := filepath.Join(root, "examples/quickstart/osv")
	a := filepath.Join(root, "examples/quickstart/vex.openvex.json")
	dir := t.TempDir()
	b := filepath.Join(dir, "second.cdx.json")
	os.WriteFile(b, []byte(`{"bomFormat":"CycloneDX","specVersion":"1.6","metadata":{"timestamp":"2026-05-03T00:00:00Z","manufacturer":{"name":"Distro"}},
	 "vulnerabilities":[{"id":"EX-PYPI-2026-0001","analysis":{"state":"not_affected","justification":"code_not_present"},"affects":[{"ref":"pkg:pypi/example-lib@1.9"}]}]}`), 0o644)
	shuffled := filepath.Join(dir, "first.json")
	r := newRand(3)
	if err := shuffleFile(a, shuffled, r); err != nil {
		t.Fatal(err)
	}
	verdict := func(vexes ...string) []byte {
		out := filepath.Join(t.TempDir(), "v.json")
		args := []string{"eval", "--sbom", sbom, "--feed", feed, "-o", out}
		for _, v := range vexes {
			args = append(args, "--vex", v)
		}
		exec.Command(bin["native"], args...).Run() // exit 3: the sample fails its gate
		got, err := os.ReadFile(out)
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	want := verdict(a, b)
	if !bytes.Equal(verdict(b, a), want) {
		t.Error("--vex order changed the verdict")
	}
	if !sameDecision(verdict(b, shuffled), want) {
		t.Error("key order inside a VEX document changed the verdict")
	}
	if sameDecision(verdict(a), want) {
		t.Error("the second VEX document had no effect: the test proves nothing")
	}
}

func newRand(seed uint64) *rand.Rand { return rand.New(rand.NewPCG(seed, 11)) }
