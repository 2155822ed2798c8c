package engine_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stella-ops/stella-oras/artifacts"
	"github.com/stella-ops/stella-oras/canon"
	"github.com/stella-ops/stella-oras/engine"
	"github.com/stella-ops/stella-oras/engine/delta"
	"github.com/stella-ops/stella-oras/engine/feed"
	"github.com/stella-ops/stella-oras/engine/policy"
	"github.com/stella-ops/stella-oras/engine/reach"
	"github.com/stella-ops/stella-oras/engine/vex"
	"github.com/stella-ops/stella-oras/internal/load"
	"github.com/stella-ops/stella-oras/internal/testutil"
)

// scenario is one decision scenario: inputs, a few expectations stated
// independently of the golden bytes, and a golden verdict.
type scenario struct {
	name   string
	sbom   string // under testdata/scenarios, or corpus: + path under the corpus
	vex    []string
	policy string // "" default; examples: or scenarios-relative path
	reach  string
	env    string
	status string
	// expect maps a finding's vulnerability to "vexstatus/reachability/outcome"
	// (vexstatus "-" when no statement applies).
	expect map[string]string
	check  func(t *testing.T, v *artifacts.Verdict)
}

const (
	text = "EX-2026-1059" // golang.org/x/text finding (GO-2022-1059), high 7.5
	yaml = "EX-2026-0036" // gopkg.in/yaml.v2 finding (GO-2020-0036), critical 9.8
)

var scenarios = []scenario{
	{name: "baseline-default", sbom: "reachdemo.cdx.json", status: "fail",
		expect: map[string]string{text: "-/unknown/fail", yaml: "-/unknown/fail"}},
	{name: "vendor-overrides-community", sbom: "reachdemo.cdx.json", policy: "examples:strict-prod.yaml",
		vex: []string{"vex/vendor-not-affected.openvex.json", "vex/community-affected.openvex.json"}, status: "fail",
		expect: map[string]string{text: "not_affected/unknown/pass", yaml: "-/unknown/fail"}},
	{name: "later-community-wins-at-one-level", sbom: "reachdemo.cdx.json",
		vex: []string{"vex/vendor-not-affected.openvex.json", "vex/community-affected.openvex.json"}, status: "fail",
		expect: map[string]string{text: "affected/unknown/fail"}},
	{name: "timestamp-before-trust", sbom: "reachdemo.cdx.json", policy: "policies/timestamp-first.yaml",
		vex: []string{"vex/vendor-not-affected.openvex.json", "vex/community-affected.openvex.json"}, status: "fail",
		expect: map[string]string{text: "affected/unknown/fail"}},
	{name: "contested", sbom: "reachdemo.cdx.json",
		vex: []string{"vex/community-affected.openvex.json", "vex/internal-not-affected.openvex.json"}, status: "fail",
		expect: map[string]string{text: "contested/unknown/fail"}},
	{name: "internal-outranks-community", sbom: "reachdemo.cdx.json", policy: "examples:strict-prod.yaml",
		vex: []string{"vex/community-affected.openvex.json", "vex/internal-not-affected.openvex.json"}, status: "fail",
		expect: map[string]string{text: "not_affected/unknown/pass", yaml: "not_affected/unknown/fail"}},
	{name: "unjustified-suppression-with-unreachable-evidence", sbom: "reachdemo.cdx.json", policy: "examples:strict-prod.yaml",
		vex: []string{"vex/internal-not-affected.openvex.json"}, reach: "reach:reachdemo/govulncheck.json", status: "warn",
		expect: map[string]string{yaml: "not_affected/unreachable/pass", text: "not_affected/reachable/pass"},
		check: func(t *testing.T, v *artifacts.Verdict) {
			f := findingOf(t, v, yaml)
			if f.VEX.Reason != engine.ReasonVEXUnreachable || f.Points != 0 {
				t.Errorf("yaml.v2: %s, %d points", f.VEX.Reason, f.Points)
			}
		}},
	{name: "reachable-high-govulncheck", sbom: "reachdemo.cdx.json", policy: "examples:strict-prod.yaml",
		reach: "reach:reachdemo/govulncheck.json", status: "fail",
		expect: map[string]string{text: "-/reachable/fail", yaml: "-/unreachable/fail"},
		check: func(t *testing.T, v *artifacts.Verdict) {
			f := findingOf(t, v, text)
			if !hasRule(f, "high-not-unreachable") || !slices.Equal(f.Reachability.Evidence, []string{"example.com/reachdemo.main", "golang.org/x/text/language.ParseAcceptLanguage"}) {
				t.Errorf("x/text rules %v evidence %v", f.Rules, f.Reachability.Evidence)
			}
			// critical 98 × 150% × 30% (unreachable) = 44.1 -> 44
			if y := findingOf(t, v, yaml); y.Points != 44 || hasRule(y, "high-not-unreachable") {
				t.Errorf("yaml.v2 points %d rules %v", y.Points, y.Rules)
			}
		}},
	{name: "unreachable-critical-dev", sbom: "reachdemo.cdx.json", policy: "examples:lenient-dev.yaml",
		reach: "reach-graph.json", status: "warn",
		expect: map[string]string{yaml: "-/unreachable/warn", text: "-/reachable/warn"},
		check: func(t *testing.T, v *artifacts.Verdict) {
			if f := findingOf(t, v, text); !slices.Equal(f.Reachability.Evidence, []string{"app.main", "text.ParseAcceptLanguage"}) {
				t.Errorf("graph path %v", f.Reachability.Evidence)
			}
			// the budget passes in dev (1 unknown of 100); the fail is not the budget's
			if v.BudgetCheck == nil || v.BudgetCheck.Environment != "dev" || v.BudgetCheck.Outcome != "pass" {
				t.Errorf("budget %+v", v.BudgetCheck)
			}
		}},
	{name: "exception-active", sbom: "reachdemo.cdx.json", policy: "policies/exception-active.yaml", status: "fail",
		expect: map[string]string{text: "-/unknown/pass"},
		check: func(t *testing.T, v *artifacts.Verdict) {
			if e := findingOf(t, v, text).Exception; e == nil || e.Status != engine.ExceptionApplied {
				t.Errorf("exception %+v", e)
			}
		}},
	{name: "exception-expired", sbom: "reachdemo.cdx.json", policy: "policies/exception-expired.yaml", status: "fail",
		expect: map[string]string{text: "-/unknown/fail"},
		check: func(t *testing.T, v *artifacts.Verdict) {
			if e := findingOf(t, v, text).Exception; e == nil || e.Status != engine.ExceptionExpired {
				t.Errorf("exception %+v", e)
			}
		}},
	{name: "unknowns-budget-prod", sbom: "reachdemo.cdx.json", policy: "examples:strict-prod.yaml", env: "prod",
		vex: []string{"vex/internal-not-affected.openvex.json"}, reach: "reach-graph.json", status: "fail",
		expect: map[string]string{text: "not_affected/reachable/pass", yaml: "not_affected/unreachable/pass"},
		check: func(t *testing.T, v *artifacts.Verdict) {
			// every finding passes: only the budget fails the verdict
			b := v.BudgetCheck
			if b == nil || b.Outcome != "fail" || !slices.Equal(b.Exceeded, []string{"max_unknowns"}) || b.Counts.Unknowns != 1 {
				t.Errorf("budget %+v", b)
			}
		}},
	{name: "unknowns-budget-dev", sbom: "reachdemo.cdx.json", policy: "examples:lenient-dev.yaml", env: "dev",
		vex: []string{"vex/internal-not-affected.openvex.json"}, reach: "reach-graph.json", status: "pass",
		expect: map[string]string{text: "not_affected/reachable/pass", yaml: "not_affected/unreachable/pass"}},
	{name: "proton-bridge-strict-staging", sbom: "corpus:sbom/cyclonedx/bom-examples/proton-bridge-v1.8.0.cdx-1.2.json",
		policy: "examples:strict-prod.yaml", env: "staging", status: "fail",
		check: func(t *testing.T, v *artifacts.Verdict) {
			if len(v.Findings) != 58 || len(v.Gates) != 0 && v.Gates[0].Name != "risk-ceiling" {
				t.Errorf("%d findings, gates %v", len(v.Findings), v.Gates)
			}
		}},
}

func findingOf(t *testing.T, v *artifacts.Verdict, vuln string) *artifacts.Finding {
	t.Helper()
	for i := range v.Findings {
		if v.Findings[i].Vulnerability == vuln {
			return &v.Findings[i]
		}
	}
	t.Fatalf("no finding %s", vuln)
	return nil
}

func changes(d *delta.Delta, field string) string {
	var out []string
	for _, c := range d.Changed {
		if c.Field == field {
			out = append(out, c.From+"->"+c.To)
		}
	}
	return strings.Join(out, ",")
}

func hasRule(f *artifacts.Finding, name string) bool {
	return slices.ContainsFunc(f.Rules, func(r artifacts.Rule) bool { return r.Name == name })
}

var (
	scenarioOnce sync.Once
	scenarioSnap *feed.Snapshot
	scenarioErr  error
)

// scenarioFeed is go-vulndb from the corpus plus the scenarios' two rating
// records, frozen at the corpus snapshot's date.
func scenarioFeed(t *testing.T) *feed.Snapshot {
	corpus := testutil.Corpus(t)
	scenarioOnce.Do(func() {
		dir, err := os.MkdirTemp("", "scenario-feed")
		if err != nil {
			scenarioErr = err
			return
		}
		defer os.RemoveAll(dir)
		for _, src := range []string{filepath.Join(corpus, "osv/go-vulndb"), "testdata/scenarios/osv"} {
			ents, err := os.ReadDir(src)
			if err != nil {
				scenarioErr = err
				return
			}
			for _, e := range ents {
				b, err := os.ReadFile(filepath.Join(src, e.Name()))
				if err == nil {
					err = os.WriteFile(filepath.Join(dir, e.Name()), b, 0o644)
				}
				if err != nil {
					scenarioErr = err
					return
				}
			}
		}
		scenarioSnap, scenarioErr = load.Feed(context.Background(), dir, load.FeedOptions{Epoch: time.Date(2026, 8, 21, 0, 0, 0, 0, time.UTC)})
	})
	if scenarioErr != nil {
		t.Fatal(scenarioErr)
	}
	return scenarioSnap
}

func runScenario(t *testing.T, sc *scenario, snap *feed.Snapshot) *artifacts.Verdict {
	t.Helper()
	dir := "testdata/scenarios"
	path := func(p string) string {
		switch {
		case strings.HasPrefix(p, "corpus:"):
			return filepath.Join(testutil.Corpus(t), strings.TrimPrefix(p, "corpus:"))
		case strings.HasPrefix(p, "examples:"):
			return filepath.Join(testutil.RepoRoot(), "examples/policies", strings.TrimPrefix(p, "examples:"))
		case strings.HasPrefix(p, "reach:"):
			return filepath.Join("reach/testdata", strings.TrimPrefix(p, "reach:"))
		}
		return filepath.Join(dir, p)
	}
	s, err := load.SBOM(path(sc.sbom), load.SBOMOptions{})
	if err != nil {
		t.Fatal(err)
	}
	in := &engine.Inputs{SBOM: s, Feed: snap, Env: sc.env}
	for _, f := range sc.vex {
		data, err := os.ReadFile(path(f))
		if err != nil {
			t.Fatal(err)
		}
		doc, err := vex.Normalize(data)
		if err != nil {
			t.Fatal(err)
		}
		in.VEX = append(in.VEX, doc)
	}
	if sc.policy != "" {
		data, err := os.ReadFile(path(sc.policy))
		if err != nil {
			t.Fatal(err)
		}
		if in.Policy, err = policy.Load(data, sc.policy); err != nil {
			t.Fatal(err)
		}
	}
	if sc.reach != "" {
		data, err := os.ReadFile(path(sc.reach))
		if err != nil {
			t.Fatal(err)
		}
		if in.Reach, err = reach.Parse(data, sc.reach); err != nil {
			t.Fatal(err)
		}
	}
	_, v, err := engine.Evaluate(in)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// TestScenarios: decision scenarios on corpus data, each with stated
// expectations and a byte-for-byte golden verdict.
func TestScenarios(t *testing.T) {
	snap := scenarioFeed(t)
	verdicts := map[string][]byte{}
	for i := range scenarios {
		sc := &scenarios[i]
		t.Run(sc.name, func(t *testing.T) {
			v := runScenario(t, sc, snap)
			if v.Status != sc.status {
				t.Errorf("status %s, want %s", v.Status, sc.status)
			}
			for vuln, want := range sc.expect {
				f := findingOf(t, v, vuln)
				vs := "-"
				if f.VEX != nil {
					vs = f.VEX.Status
				}
				if got := fmt.Sprintf("%s/%s/%s", vs, f.Reachability.State, f.Outcome); got != want {
					t.Errorf("%s: %s, want %s (%s)", vuln, got, want, f.Explanation)
				}
			}
			if sc.check != nil {
				sc.check(t, v)
			}
			b, err := canon.Marshal(v)
			if err != nil {
				t.Fatal(err)
			}
			verdicts[sc.name] = b
			golden(t, filepath.Join("testdata/golden/scenarios", sc.name+".verdict.json"), b)
		})
	}
	// deltas between scenarios: what a CI gate on the change would see
	for _, d := range []struct {
		base, head string
		check      func(t *testing.T, d *delta.Delta)
	}{
		{"baseline-default", "vendor-overrides-community", func(t *testing.T, d *delta.Delta) {
			// x/text: VEX none -> not_affected, outcome fail -> pass; the
			// gate and severity rules that stopped applying are effects
			if got := changes(d, "vex_status"); got != "none->not_affected" {
				t.Errorf("vex changes %s", got)
			}
			if len(d.PolicyEffects) == 0 || d.StatusChange != "" {
				t.Errorf("effects %+v status %q", d.PolicyEffects, d.StatusChange)
			}
		}},
		{"exception-active", "exception-expired", func(t *testing.T, d *delta.Delta) {
			if got := changes(d, "outcome"); got != "pass->fail" {
				t.Errorf("outcome changes %s", got)
			}
			if len(d.Added)+len(d.Removed) != 0 {
				t.Errorf("added %v removed %v", d.Added, d.Removed)
			}
		}},
		{"baseline-default", "reachable-high-govulncheck", func(t *testing.T, d *delta.Delta) {
			// x/text's GO-2022-1059 is called; yaml.v2's advisories are not
			if got := changes(d, "reachability"); strings.Count(got, "unknown->reachable") != 1 || strings.Count(got, "unknown->unreachable") != 4 {
				t.Errorf("reachability changes %s", got)
			}
			if !slices.ContainsFunc(d.PolicyEffects, func(e delta.Effect) bool { return e.Rule == "high-not-unreachable" && e.To == "fail" }) {
				t.Errorf("effects %+v", d.PolicyEffects)
			}
		}},
		{"unknowns-budget-dev", "unknowns-budget-prod", func(t *testing.T, d *delta.Delta) {
			if d.StatusChange != "pass -> fail" || !slices.ContainsFunc(d.PolicyEffects, func(e delta.Effect) bool { return e.Rule == "budget_check.prod" && e.To == "fail" }) {
				t.Errorf("status %q effects %+v", d.StatusChange, d.PolicyEffects)
			}
			if len(d.Fired([]delta.Gate{{Name: "status-worse"}})) != 1 {
				t.Error("status-worse did not fire")
			}
		}},
	} {
		t.Run("delta/"+d.base+"..."+d.head, func(t *testing.T) {
			b, h := verdicts[d.base], verdicts[d.head]
			if b == nil || h == nil {
				t.Fatalf("scenario %s or %s produced no verdict (see its failure above)", d.base, d.head)
			}
			bv, bd, err := delta.Decode(b)
			if err != nil {
				t.Fatal(err)
			}
			hv, hd, err := delta.Decode(h)
			if err != nil {
				t.Fatal(err)
			}
			dl := delta.Compute(bv, hv, bd, hd)
			d.check(t, dl)
			out, _, err := canon.MarshalID(dl)
			if err != nil {
				t.Fatal(err)
			}
			golden(t, filepath.Join("testdata/golden/scenarios", "delta-"+d.base+"--"+d.head+".json"), out)
		})
	}
}
