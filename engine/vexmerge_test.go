package engine

import (
	"testing"
	"time"

	"github.com/stella-ops/stella-oras/artifacts"
	"github.com/stella-ops/stella-oras/engine/policy"

	"github.com/stella-ops/stella-oras/engine/vex"
)

// TestMergeTable checks every cell of the README's merge table.
func TestMergeTable(t *testing.T) {
	const purl = "pkg:golang/example.com/m@v1.5.0"
	st := func(status, just, issuer, ts string) vex.Statement {
		return vex.Statement{Vulnerability: "V-1", Product: "pkg:golang/example.com/m", Status: status, Justification: just, Issuer: issuer, Timestamp: ts, Source: "sha256:" + issuer + ts}
	}
	def := DefaultPolicy()
	trusting := DefaultPolicy()
	trusting.Trust = map[string]int{"vendor": 10, "community": 1}
	lenient := DefaultPolicy()
	lenient.AcceptUnjustified = true
	timeFirst := DefaultPolicy()
	timeFirst.Trust = map[string]int{"vendor": 10, "community": 1}
	timeFirst.MergeOrder = []string{"timestamp", "trust"}
	tests := []struct {
		name        string
		p           *Policy
		stmts       []vex.Statement
		fixed       []string
		status      string
		applied     bool
		reason      string
		unreachable bool
	}{
		{"not_affected with justification", def, []vex.Statement{st("not_affected", "vulnerable_code_not_present", "a", "2026-01-01T00:00:00Z")}, nil, "not_affected", true, ReasonVEXNotAffected, false},
		{"not_affected without justification", def, []vex.Statement{st("not_affected", "", "a", "2026-01-01T00:00:00Z")}, nil, "not_affected", false, ReasonVEXNoJustification, false},
		{"not_affected without justification, lenient policy", lenient, []vex.Statement{st("not_affected", "", "a", "2026-01-01T00:00:00Z")}, nil, "not_affected", true, ReasonVEXNotAffected, false},
		{"fixed, version at a fix", def, []vex.Statement{st("fixed", "", "a", "2026-01-01T00:00:00Z")}, []string{"1.4.0", "2.0.0"}, "fixed", true, ReasonVEXFixed, false},
		{"fixed, version below every fix", def, []vex.Statement{st("fixed", "", "a", "2026-01-01T00:00:00Z")}, []string{"1.6.0"}, "fixed", false, ReasonVEXFixedWithoutVersion, false},
		{"affected", def, []vex.Statement{st("affected", "", "a", "2026-01-01T00:00:00Z")}, nil, "affected", false, ReasonVEXAffected, false},
		{"under_investigation", def, []vex.Statement{st("under_investigation", "", "a", "2026-01-01T00:00:00Z")}, nil, "under_investigation", false, ReasonVEXUnderInvestigation, false},
		{"same level and time: conflict is contested", def, []vex.Statement{st("affected", "", "a", "2026-01-01T00:00:00Z"), st("not_affected", "component_not_present", "b", "2026-01-01T00:00:00Z")}, nil, StatusContested, false, ReasonVEXContested, false},
		{"same level: the later statement wins", def, []vex.Statement{st("affected", "", "a", "2026-01-01T00:00:00Z"), st("not_affected", "component_not_present", "b", "2026-02-01T00:00:00Z")}, nil, "not_affected", true, ReasonVEXNotAffected, false},
		{"higher trust wins over a later statement", trusting, []vex.Statement{st("affected", "", "vendor", "2026-01-01T00:00:00Z"), st("not_affected", "component_not_present", "community", "2026-03-01T00:00:00Z")}, nil, "affected", false, ReasonVEXAffected, false},
		{"vendor overrides community", trusting, []vex.Statement{st("not_affected", "vulnerable_code_not_in_execute_path", "vendor", "2026-01-01T00:00:00Z"), st("affected", "", "community", "2026-03-01T00:00:00Z")}, nil, "not_affected", true, ReasonVEXNotAffected, false},
		{"fixed and not_affected agree on suppression", def, []vex.Statement{st("fixed", "", "a", "2026-01-01T00:00:00Z"), st("not_affected", "component_not_present", "b", "2026-01-01T00:00:00Z")}, nil, "not_affected", true, ReasonVEXNotAffected, false},
		{"not_affected without justification, unreachable", def, []vex.Statement{st("not_affected", "", "a", "2026-01-01T00:00:00Z")}, nil, "not_affected", true, ReasonVEXUnreachable, true},
		{"fixed below every fix, unreachable", def, []vex.Statement{st("fixed", "", "a", "2026-01-01T00:00:00Z")}, []string{"1.6.0"}, "fixed", true, ReasonVEXUnreachable, true},
		{"justification wins over unreachable as the recorded evidence", def, []vex.Statement{st("not_affected", "component_not_present", "a", "2026-01-01T00:00:00Z")}, nil, "not_affected", true, ReasonVEXNotAffected, true},
		{"unreachable does not turn affected into a suppression", def, []vex.Statement{st("affected", "", "a", "2026-01-01T00:00:00Z")}, nil, "affected", false, ReasonVEXAffected, true},
		{"merge order timestamp first: the later community statement wins", timeFirst, []vex.Statement{st("not_affected", "component_not_present", "vendor", "2026-01-01T00:00:00Z"), st("affected", "", "community", "2026-03-01T00:00:00Z")}, nil, "affected", false, ReasonVEXAffected, false},
		{"merge order timestamp first: trust breaks a tie in time", timeFirst, []vex.Statement{st("not_affected", "component_not_present", "vendor", "2026-03-01T00:00:00Z"), st("affected", "", "community", "2026-03-01T00:00:00Z")}, nil, "not_affected", true, ReasonVEXNotAffected, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := mergeVEX(tt.stmts, tt.p, "Go", "1.5.0", tt.fixed, tt.unreachable)
			if d == nil || d.Status != tt.status || d.Applied != tt.applied || d.Reason != tt.reason {
				t.Errorf("mergeVEX = %+v, want %s applied=%v %s", d, tt.status, tt.applied, tt.reason)
			}
		})
	}
	if mergeVEX(nil, def, "Go", "1.5.0", nil, false) != nil {
		t.Error("no statements must give no decision")
	}
	// Applicability: by product, by subcomponent, version-bound.
	idx := newVEXIndex([]*vex.Document{{Statements: []vex.Statement{
		{Vulnerability: "V-1", Aliases: []string{"CVE-1"}, Product: "pkg:golang/example.com/m@v1.5.0", Status: "affected"},
		{Vulnerability: "V-1", Product: "pkg:oci/app", Subcomponents: []string{"pkg:golang/example.com/m"}, Status: "fixed"},
		{Vulnerability: "V-1", Product: "pkg:golang/example.com/m@v9.9.9", Status: "fixed"},
	}}})
	if got := idx.applicable([]string{"CVE-1"}, purl); len(got) != 1 {
		t.Errorf("by alias: %d statements, want 1", len(got))
	}
	if got := idx.applicable([]string{"V-1"}, purl+"?arch=amd64"); len(got) != 2 {
		t.Errorf("by product and subcomponent: %d statements, want 2 (not the v9.9.9 one)", len(got))
	}
}

// TestExceptions: the engine's exception lookup with its real purl
// matching (name, not prefix; version only when the exception gives one)
// and the epoch, never the clock, deciding applied or expired.
func TestExceptions(t *testing.T) {
	p := DefaultPolicy()
	p.Exceptions = []policy.Exception{
		{ID: "A", Purl: "pkg:golang/example.com/x", Until: "2026-06-01T00:00:00Z", Reason: "r"},
		{ID: "B", Purl: "pkg:golang/example.com/x@v2.0.0", Until: "2027-01-01T00:00:00Z", Reason: "r"},
		{ID: "C", Vulnerability: "CVE-9", Until: "2027-01-01T00:00:00Z", Reason: "r"},
	}
	epoch := time.Date(2026, 8, 21, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		purl, vuln, want string
	}{
		{"pkg:golang/example.com/x@v1.0.0", "CVE-1", "A expired"},            // A matches any version, expired at the epoch
		{"pkg:golang/example.com/x@v2.0.0", "CVE-1", "B applied"},            // B (version-bound) still valid
		{"pkg:golang/example.com/xyz@v2.0.0", "CVE-1", "none"},               // a longer name is another package
		{"pkg:golang/example.com/xyz@v2.0.0", "CVE-9", "C applied"},          // by vulnerability id alone
		{"pkg:npm/example.com/x@v2.0.0", "CVE-1", "none"},                    // another type
		{"pkg:golang/example.com/x@v2.0.0?goos=linux", "CVE-1", "B applied"}, // qualifiers ignored
	}
	for _, tt := range tests {
		f := &artifacts.Finding{ID: "sha256:f", Purl: tt.purl, Vulnerability: tt.vuln}
		got := "none"
		if d := exception(p, f, []string{tt.vuln}, epoch); d != nil {
			got = d.ID + " " + d.Status
		}
		if got != tt.want {
			t.Errorf("%s %s: %s, want %s", tt.purl, tt.vuln, got, tt.want)
		}
	}
}
