package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stella-ops/stella-oras/internal/cli"
	"github.com/stella-ops/stella-oras/internal/testutil"
)

func examplePolicy(name string) string {
	return filepath.Join(testutil.RepoRoot(), "examples/policies", name)
}

func TestPolicyCommands(t *testing.T) {
	dir := t.TempDir()
	r := stella(t, "", "policy", "lint", examplePolicy("strict-prod.yaml"), examplePolicy("lenient-dev.yaml"))
	if r.code != 0 || strings.Count(r.stdout, "ok  ") != 2 {
		t.Fatalf("lint: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	ir := filepath.Join(dir, "strict.policy.json")
	if r := stella(t, "", "policy", "compile", examplePolicy("strict-prod.yaml"), "-o", ir, "--output", "json"); r.code != 0 {
		t.Fatalf("compile: exit %d %s", r.code, r.stderr)
	}
	var res policyResult
	r = stella(t, "", "policy", "explain", ir, "--output", "json")
	if r.code != 0 {
		t.Fatalf("explain: %s", r.stderr)
	}
	json.Unmarshal([]byte(r.stdout), &res)
	if !strings.HasPrefix(res.Digest, "sha256:") {
		t.Errorf("explain json: %s", r.stdout)
	}
	r = stella(t, "", "policy", "explain", examplePolicy("strict-prod.yaml"), "--as-of", "2027-01-01")
	if r.code != 0 || !strings.Contains(r.stdout, "vendor > distro > internal > community > unknown") || !strings.Contains(r.stdout, "EXPIRED") || !strings.Contains(r.stdout, res.Digest) {
		t.Errorf("explain:\n%s%s", r.stdout, r.stderr)
	}

	bad := filepath.Join(dir, "bad.yaml")
	os.WriteFile(bad, []byte("apiVersion: stella-ops.org/policy/v1\nkind: Policy\nname: bad\nversion: 1.0.0\ngates:\n  - name: g\n    when: finding.cvss > \"7\"\n    outcome: fail\n    message: m\n"), 0o644)
	r = stella(t, "", "policy", "lint", bad)
	if r.code != cli.ExitError || !strings.Contains(r.stderr, bad+": gates[0].when:") || strings.Count(r.stderr, "\n") != 1 {
		t.Errorf("bad policy: exit %d %q", r.code, r.stderr)
	}
	if r := stella(t, "", "policy", "compile", bad, "-o", filepath.Join(dir, "bad.json")); r.code != cli.ExitError {
		t.Errorf("compile bad: exit %d", r.code)
	}
	if _, err := os.Stat(filepath.Join(dir, "bad.json")); err == nil {
		t.Error("a policy that does not compile left an IR behind")
	}
}

// TestEvalPolicyReachEnv: eval with a policy (source or IR: same bytes),
// a reach graph and an environment; bad inputs exit 1 or 2 and write
// nothing.
func TestEvalPolicyReachEnv(t *testing.T) {
	dir := t.TempDir()
	args := func(out string, extra ...string) []string {
		return append([]string{"eval", "--sbom", example("sbom.cdx.json"), "--feed", example("osv"), "-o", out}, extra...)
	}
	src, irOut := filepath.Join(dir, "src.json"), filepath.Join(dir, "ir.json")
	ir := filepath.Join(dir, "strict.policy.json")
	stella(t, "", "policy", "compile", examplePolicy("strict-prod.yaml"), "-o", ir)
	r := stella(t, "", args(src, "--policy", examplePolicy("strict-prod.yaml"), "--reachability", example("reach-graph.json"), "--env", "prod")...)
	if r.code != cli.ExitGateFailed {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	for _, want := range []string{"Budget:   prod FAIL (4 unknowns, limit 0, exceeded: max_unknowns)", "REACHABILITY", "gate high-not-unreachable"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("human output lacks %q:\n%s", want, r.stdout)
		}
	}
	stella(t, "", args(irOut, "--policy", ir, "--reachability", example("reach-graph.json"), "--env", "prod")...)
	a, _ := os.ReadFile(src)
	b, _ := os.ReadFile(irOut)
	if len(a) == 0 || !bytes.Equal(a, b) {
		t.Fatal("the policy source and its compiled IR give different verdicts")
	}
	var v struct {
		Policy      struct{ Name string }
		BudgetCheck struct {
			Environment string
			Exceeded    []string
			Outcome     string
		} `json:"budget_check"`
		Findings []struct {
			Name         string
			Outcome      string
			Reachability struct{ State string }
			Rules        []struct{ Name string }
		}
	}
	if err := json.Unmarshal(a, &v); err != nil {
		t.Fatal(err)
	}
	if v.Policy.Name != "strict-prod" || v.BudgetCheck.Environment != "prod" || v.BudgetCheck.Outcome != "fail" || len(v.BudgetCheck.Exceeded) != 1 {
		t.Errorf("policy %q budget %+v", v.Policy.Name, v.BudgetCheck)
	}
	states := map[string]string{}
	for _, f := range v.Findings {
		states[f.Name] = f.Reachability.State + "/" + f.Outcome
	}
	// the framework is reached from main (critical: fail); stdlib's node is
	// only reached from dead code (high, unreachable: warn, the gate holds)
	if states["example.com/webframework"] != "reachable/fail" || states["stdlib"] != "unreachable/warn" || states["@example/parser"] != "unknown/warn" {
		t.Errorf("states %v", states)
	}

	bad := filepath.Join(dir, "out.json")
	if r := stella(t, "", args(bad, "--policy", examplePolicy("strict-prod.yaml"), "--env", "qa")...); r.code != cli.ExitUsage || !strings.Contains(r.stderr, `unknown environment "qa"`) {
		t.Errorf("unknown env: exit %d %s", r.code, r.stderr)
	}
	cyclic := filepath.Join(dir, "cyclic.json")
	g, _ := os.ReadFile(example("reach-graph.json"))
	os.WriteFile(cyclic, bytes.Replace(g, []byte(`{"from": "serve", "to": "router"}`), []byte(`{"from": "serve", "to": "router"}, {"from": "router", "to": "main"}`), 1), 0o644)
	if r := stella(t, "", args(bad, "--reachability", cyclic)...); r.code != cli.ExitError || !strings.Contains(r.stderr, cyclic+": edges: cycle main -> serve -> router -> main") {
		t.Errorf("cyclic graph: exit %d %s", r.code, r.stderr)
	}
	cut := filepath.Join(dir, "cut.json")
	vc, err := os.ReadFile(filepath.Join(testutil.RepoRoot(), "engine/reach/testdata/reachdemo/govulncheck.json"))
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(cut, vc[:len(vc)/2], 0o644)
	if r := stella(t, "", args(bad, "--reachability", cut)...); r.code != cli.ExitError || !strings.Contains(r.stderr, "cut short") {
		t.Errorf("cut govulncheck stream: exit %d %s", r.code, r.stderr)
	}
	if _, err := os.Stat(bad); err == nil {
		t.Error("a failed eval left a verdict behind")
	}
}

// TestEvalVEXUnmatched: a statement about an id the feed does not know is
// reported (stderr and the verdict's vex_unmatched) but does not stop the
// evaluation; one about a known id and a product with no finding is noted.
func TestEvalVEXUnmatched(t *testing.T) {
	dir := t.TempDir()
	doc := filepath.Join(dir, "unknown.openvex.json")
	os.WriteFile(doc, []byte(`{"@context":"https://openvex.dev/ns/v0.2.0","@id":"x","author":"a","timestamp":"2026-01-01T00:00:00Z","version":1,
"statements":[{"vulnerability":{"name":"CVE-2099-0001"},"products":[{"@id":"pkg:golang/example.com/webframework@v1.5.2"}],"status":"not_affected","justification":"component_not_present"},
{"vulnerability":{"name":"EX-GO-2026-0001"},"products":[{"@id":"pkg:npm/left-pad@1.0.0"}],"status":"affected"}]}`), 0o644)
	out := filepath.Join(dir, "v.json")
	r := stella(t, "", "eval", "--sbom", example("sbom.cdx.json"), "--feed", example("osv"), "--vex", doc, "-o", out)
	if r.code != cli.ExitGateFailed || !strings.Contains(r.stderr, doc+": statement about CVE-2099-0001") || !strings.Contains(r.stderr, "1 VEX statements apply to no finding") {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	var v struct {
		VEXUnmatched []struct{ Vulnerability, Reason string } `json:"vex_unmatched"`
	}
	b, _ := os.ReadFile(out)
	json.Unmarshal(b, &v)
	if len(v.VEXUnmatched) != 2 || v.VEXUnmatched[0].Reason != "VEX_UNKNOWN_VULNERABILITY" || v.VEXUnmatched[1].Reason != "VEX_NO_MATCHING_FINDING" {
		t.Errorf("vex_unmatched %+v", v.VEXUnmatched)
	}
}
