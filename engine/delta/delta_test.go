package delta

import (
	"reflect"
	"testing"

	"github.com/stella-ops/stella-oras/artifacts"
)

func verdict(status string, risk int64, unknowns int, fs ...artifacts.Finding) *artifacts.Verdict {
	return &artifacts.Verdict{ManifestDigest: "sha256:m" + status, Status: status, RiskScore: risk, UnknownsCount: unknowns, Findings: fs}
}

func f(id, sev, outcome string, vex *artifacts.VEXDecision) artifacts.Finding {
	return artifacts.Finding{ID: id, Purl: "pkg:npm/" + id, Vulnerability: "V-" + id, Severity: sev, Outcome: outcome, VEX: vex}
}

func TestCompute(t *testing.T) {
	base := verdict("warn", 100, 2, f("a", "medium", "warn", nil), f("b", "high", "fail", nil), f("c", "low", "pass", nil))
	head := verdict("fail", 250, 5, f("b", "high", "pass", &artifacts.VEXDecision{Status: "not_affected", Applied: true}), f("c", "medium", "warn", nil), f("d", "critical", "fail", nil))
	d := Compute(base, head, "sha256:base", "sha256:head")
	if len(d.Added) != 1 || d.Added[0].ID != "d" || len(d.Removed) != 1 || d.Removed[0].ID != "a" {
		t.Errorf("added %v removed %v", d.Added, d.Removed)
	}
	want := []Change{
		{ID: "b", Vulnerability: "V-b", Purl: "pkg:npm/b", Field: "outcome", From: "fail", To: "pass"},
		{ID: "b", Vulnerability: "V-b", Purl: "pkg:npm/b", Field: "vex_status", From: "none", To: "not_affected"},
		{ID: "c", Vulnerability: "V-c", Purl: "pkg:npm/c", Field: "outcome", From: "pass", To: "warn"},
		{ID: "c", Vulnerability: "V-c", Purl: "pkg:npm/c", Field: "severity", From: "low", To: "medium"},
	}
	if !reflect.DeepEqual(d.Changed, want) {
		t.Errorf("changed = %+v", d.Changed)
	}
	if d.RiskDelta != 150 || d.UnknownsDelta != 3 || d.StatusChange != "warn -> fail" || d.Base.VerdictDigest != "sha256:base" || d.Head.ManifestDigest != "sha256:mfail" {
		t.Errorf("delta %+v", d)
	}
	gates, err := ParseGates("new-findings,new-critical,new-high,risk+100,risk+200,unknowns+2,unknowns+3,status-worse")
	if err != nil {
		t.Fatal(err)
	}
	fired := d.Fired(gates)
	wantFired := []string{"new-findings: 1 added", "new-critical: 1 added", "risk+100: risk score rose by 150", "unknowns+2: unknowns rose by 3", "status-worse: warn -> fail"}
	if !reflect.DeepEqual(fired, wantFired) {
		t.Errorf("fired = %q", fired)
	}
	// The reverse delta fires none of the growth gates.
	if got := Compute(head, base, "", "").Fired(gates); !reflect.DeepEqual(got, []string{"new-findings: 1 added"}) {
		t.Errorf("reverse fired = %q", got)
	}
	for _, bad := range []string{"risk+x", "new-everything", "unknowns+-1"} {
		if _, err := ParseGates(bad); err == nil {
			t.Errorf("ParseGates(%q) accepted", bad)
		}
	}
}

func BenchmarkCompute(b *testing.B) {
	mk := func(offset int) *artifacts.Verdict {
		v := verdict("fail", 0, 0)
		for i := range 10000 {
			id := string(rune('a'+(i+offset)%26)) + itoa(i+offset)
			v.Findings = append(v.Findings, f(id, "high", "fail", nil))
		}
		return v
	}
	base, head := mk(0), mk(500)
	for b.Loop() {
		Compute(base, head, "", "")
	}
}

func itoa(n int) string {
	if n < 10 {
		return string(rune('0' + n))
	}
	return itoa(n/10) + string(rune('0'+n%10))
}
