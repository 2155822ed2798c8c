package e2e

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"sigs.k8s.io/yaml"

	"github.com/stella-ops/stella-oras/internal/testutil"
)

// TestPolicyOrder extends the chaos test to the decision inputs: the policy
// with its keys (and its issuer and budget maps) in another order, the reach
// graph with nodes, edges, entrypoints and keys shuffled, and the VEX
// documents reversed, under other GOMAXPROCS and TZ, give the same verdict
// bytes.
func TestPolicyOrder(t *testing.T) {
	root := testutil.RepoRoot()
	q := func(p string) string { return filepath.Join(root, "examples/quickstart", p) }
	dir := t.TempDir()
	src, err := os.ReadFile(filepath.Join(root, "examples/policies/strict-prod.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	js, err := yaml.YAMLToJSON(src)
	if err != nil {
		t.Fatal(err)
	}
	pj := filepath.Join(dir, "policy.json")
	os.WriteFile(pj, js, 0o644)
	second := filepath.Join(dir, "second.cdx.json")
	os.WriteFile(second, []byte(`{"bomFormat":"CycloneDX","specVersion":"1.6","metadata":{"timestamp":"2026-05-03T00:00:00Z","manufacturer":{"name":"Example Vendor PSIRT"}},
	 "vulnerabilities":[{"id":"EX-GHSA-2026-0001","analysis":{"state":"affected"},"affects":[{"ref":"pkg:golang/example.com/webframework@v1.5.2"}]}]}`), 0o644)
	verdict := func(policy, graph string, env []string, vexes ...string) []byte {
		out := filepath.Join(t.TempDir(), "v.json")
		args := []string{"eval", "--sbom", q("sbom.cdx.json"), "--feed", q("osv"), "-o", out, "--policy", policy, "--reachability", graph, "--env", "staging"}
		for _, v := range vexes {
			args = append(args, "--vex", v)
		}
		cmd := exec.Command(bin["native"], args...)
		cmd.Env = append(os.Environ(), env...)
		cmd.Run() // exit 3: the sample fails its gate
		got, err := os.ReadFile(out)
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	policy := filepath.Join(root, "examples/policies/strict-prod.yaml")
	want := verdict(policy, q("reach-graph.json"), nil, q("vex.openvex.json"), second)
	for seed := range uint64(3) {
		r := newRand(seed + 20)
		sp, sg := filepath.Join(dir, "p.json"), filepath.Join(dir, "g.json")
		if err := shuffleFile(pj, sp, r); err != nil {
			t.Fatal(err)
		}
		if err := shuffleFile(q("reach-graph.json"), sg, r); err != nil {
			t.Fatal(err)
		}
		env := []string{"GOMAXPROCS=" + []string{"1", "3", "8"}[seed], "TZ=" + []string{"Asia/Kathmandu", "America/St_Johns", "UTC"}[seed]}
		if got := verdict(sp, sg, env, second, q("vex.openvex.json")); !sameDecision(got, want) {
			t.Errorf("seed %d: shuffled policy, graph and VEX order changed the verdict", seed)
		}
	}
	if bytes.Equal(verdict(policy, q("reach-graph.json"), nil, q("vex.openvex.json")), want) {
		t.Error("the second VEX document had no effect: the test proves nothing")
	}
}
