// Package delta compares two verdicts: what a change (a new image, a new
// feed, a new policy) did to the findings. It is pure and deterministic:
// every list is sorted, and the result is canonical JSON with a content ID.
package delta

import (
	"cmp"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/stella-ops/stella-oras/artifacts"
	"github.com/stella-ops/stella-oras/canon"
)

// Kind is the delta document's kind.
const Kind = artifacts.KindDelta

// Delta is the difference between a base and a head verdict.
type Delta struct {
	CanonVersion string `json:"_canonVersion"`
	Kind         string `json:"kind"`
	Base         Side   `json:"base"`
	Head         Side   `json:"head"`
	// Added and Removed are findings present on one side only.
	Added   []FindingRef `json:"added"`
	Removed []FindingRef `json:"removed"`
	// Changed are findings on both sides whose severity, VEX status,
	// reachability or outcome differs.
	Changed []Change `json:"changed"`
	// PolicyEffects are the rules (finding gates, the severity table,
	// verdict gates, the unknowns budget) whose outcome changed: fired on
	// one side only, or with another outcome.
	PolicyEffects []Effect `json:"policy_effects"`
	RiskDelta     int64    `json:"risk_delta"`
	UnknownsDelta int      `json:"unknowns_delta"`
	StatusChange  string   `json:"status_change"` // e.g. "pass -> fail", or "" when equal
}

// Side identifies one verdict.
type Side struct {
	VerdictDigest  string `json:"verdict_digest"`
	ManifestDigest string `json:"manifest_digest"`
	Status         string `json:"status"`
	RiskScore      int64  `json:"risk_score"`
	UnknownsCount  int    `json:"unknowns_count"`
}

// FindingRef names a finding.
type FindingRef struct {
	ID            string `json:"id"`
	Purl          string `json:"purl"`
	Vulnerability string `json:"vulnerability"`
	Severity      string `json:"severity"`
	Outcome       string `json:"outcome"`
}

// Change is one field of one finding that changed. It names the
// vulnerability and the package as well as the finding's ID, so a reader
// of the delta alone knows what changed.
type Change struct {
	ID            string `json:"id"`
	Vulnerability string `json:"vulnerability"`
	Purl          string `json:"purl"`
	Field         string `json:"field"` // severity, vex_status, reachability, outcome
	From          string `json:"from"`
	To            string `json:"to"`
}

// Effect is one rule whose outcome changed. ID is the finding's ID, or ""
// for a verdict gate or the budget check (rule "budget_check").
type Effect struct {
	ID   string `json:"id"`
	Rule string `json:"rule"`
	From string `json:"from"` // the outcome, or "not_fired"
	To   string `json:"to"`
}

// NotFired marks a rule absent on one side of an effect.
const NotFired = "not_fired"

func effects(id string, base, head []artifacts.Rule) []Effect {
	// rule lists are a handful long: nested loops, no maps (this runs for
	// every finding of both verdicts)
	find := func(rs []artifacts.Rule, name string) string {
		for _, r := range rs {
			if r.Name == name {
				return r.Outcome
			}
		}
		return NotFired
	}
	var out []Effect
	for _, r := range base {
		if to := find(head, r.Name); to != r.Outcome {
			out = append(out, Effect{ID: id, Rule: r.Name, From: r.Outcome, To: to})
		}
	}
	for _, r := range head {
		if find(base, r.Name) == NotFired {
			out = append(out, Effect{ID: id, Rule: r.Name, From: NotFired, To: r.Outcome})
		}
	}
	return out
}

func budgetRule(v *artifacts.Verdict) []artifacts.Rule {
	if v.BudgetCheck == nil || v.BudgetCheck.Outcome == artifacts.StatusPass {
		return nil
	}
	return []artifacts.Rule{{Name: "budget_check." + v.BudgetCheck.Environment, Outcome: v.BudgetCheck.Outcome}}
}

// Compute compares base and head; baseDigest and headDigest are the
// content IDs of the verdict documents.
func Compute(base, head *artifacts.Verdict, baseDigest, headDigest string) *Delta {
	d := &Delta{
		CanonVersion: canon.Version, Kind: Kind,
		Base:          side(base, baseDigest),
		Head:          side(head, headDigest),
		Added:         []FindingRef{},
		Removed:       []FindingRef{},
		Changed:       []Change{},
		PolicyEffects: []Effect{},
	}
	both := func(b, f *artifacts.Finding) {
		// in field order: findings joined in ID order then give changes
		// already sorted
		for _, c := range []struct{ field, from, to string }{
			{"outcome", b.Outcome, f.Outcome},
			{"reachability", b.Reachability.State, f.Reachability.State},
			{"severity", b.Severity, f.Severity},
			{"vex_status", vexStatus(b), vexStatus(f)},
		} {
			if c.from != c.to {
				d.Changed = append(grow(d.Changed), Change{ID: f.ID, Vulnerability: f.Vulnerability, Purl: f.Purl, Field: c.field, From: c.from, To: c.to})
			}
		}
		d.PolicyEffects = append(d.PolicyEffects, effects(f.ID, b.Rules, f.Rules)...)
	}
	bf, hf := base.Findings, head.Findings
	if strictlySorted(bf) && strictlySorted(hf) {
		// verdicts list findings by ID: a merge join, no maps
		i, j := 0, 0
		for i < len(bf) || j < len(hf) {
			switch {
			case j == len(hf) || i < len(bf) && bf[i].ID < hf[j].ID:
				d.Removed = append(d.Removed, ref(&bf[i]))
				i++
			case i == len(bf) || hf[j].ID < bf[i].ID:
				d.Added = append(d.Added, ref(&hf[j]))
				j++
			default:
				both(&bf[i], &hf[j])
				i, j = i+1, j+1
			}
		}
	} else {
		bm := map[string]*artifacts.Finding{}
		for i := range bf {
			bm[bf[i].ID] = &bf[i]
		}
		hm := map[string]bool{}
		for i := range hf {
			f := &hf[i]
			hm[f.ID] = true
			if b, ok := bm[f.ID]; ok {
				both(b, f)
			} else {
				d.Added = append(d.Added, ref(f))
			}
		}
		for i := range bf {
			if !hm[bf[i].ID] {
				d.Removed = append(d.Removed, ref(&bf[i]))
			}
		}
	}
	d.PolicyEffects = append(d.PolicyEffects, effects("", append(slices.Clone(base.Gates), budgetRule(base)...), append(slices.Clone(head.Gates), budgetRule(head)...))...)
	byID := func(a, b FindingRef) int { return strings.Compare(a.ID, b.ID) }
	sortFunc(d.Added, byID)
	sortFunc(d.Removed, byID)
	// (compared field by field: concatenating keys allocated on every
	// comparison, most of the time of a 10,000-finding delta)
	sortFunc(d.Changed, func(a, b Change) int { return cmp.Or(strings.Compare(a.ID, b.ID), strings.Compare(a.Field, b.Field)) })
	sortFunc(d.PolicyEffects, func(a, b Effect) int { return cmp.Or(strings.Compare(a.ID, b.ID), strings.Compare(a.Rule, b.Rule)) })
	d.RiskDelta = head.RiskScore - base.RiskScore
	d.UnknownsDelta = head.UnknownsCount - base.UnknownsCount
	if base.Status != head.Status {
		d.StatusChange = base.Status + " -> " + head.Status
	}
	return d
}

// grow makes room for one more element of a long list by doubling its
// capacity: past 256 elements append grows a slice by a quarter at a time,
// which copied the 16,000 changes of the bench delta five times over.
func grow[T any](xs []T) []T {
	if len(xs) == cap(xs) {
		xs = slices.Grow(xs, len(xs)+16)
	}
	return xs
}

// sortFunc sorts xs unless it is sorted already, as the merge join leaves
// the lists of sorted verdicts (a sort of a sorted list compared every pair
// of IDs a few times over).
func sortFunc[T any](xs []T, cmp func(a, b T) int) {
	if !slices.IsSortedFunc(xs, cmp) {
		slices.SortFunc(xs, cmp)
	}
}

func strictlySorted(fs []artifacts.Finding) bool {
	for i := 1; i < len(fs); i++ {
		if fs[i-1].ID >= fs[i].ID {
			return false
		}
	}
	return true
}

func side(v *artifacts.Verdict, digest string) Side {
	return Side{VerdictDigest: digest, ManifestDigest: v.ManifestDigest, Status: v.Status, RiskScore: v.RiskScore, UnknownsCount: v.UnknownsCount}
}

func ref(f *artifacts.Finding) FindingRef {
	return FindingRef{ID: f.ID, Purl: f.Purl, Vulnerability: f.Vulnerability, Severity: f.Severity, Outcome: f.Outcome}
}

func vexStatus(f *artifacts.Finding) string {
	if f.VEX == nil {
		return "none"
	}
	return f.VEX.Status
}

// Gate is one --fail-on condition.
type Gate struct {
	Name string // new-findings, new-critical, new-high, risk, unknowns, status-worse
	N    int64  // threshold for risk+N and unknowns+N
}

// ParseGates reads a comma-separated --fail-on list.
func ParseGates(s string) ([]Gate, error) {
	var out []Gate
	for g := range strings.SplitSeq(s, ",") {
		g = strings.TrimSpace(g)
		switch {
		case g == "":
		case g == "new-findings", g == "new-critical", g == "new-high", g == "status-worse":
			out = append(out, Gate{Name: g})
		case strings.HasPrefix(g, "risk+"), strings.HasPrefix(g, "unknowns+"):
			name, n, _ := strings.Cut(g, "+")
			v, err := strconv.ParseInt(n, 10, 64)
			if err != nil || v < 0 {
				return nil, fmt.Errorf("--fail-on %q: want %s+N with N ≥ 0", g, name)
			}
			out = append(out, Gate{Name: name, N: v})
		default:
			return nil, fmt.Errorf("--fail-on %q: want new-findings, new-critical, new-high, risk+N, unknowns+N or status-worse", g)
		}
	}
	return out, nil
}

var statusRank = map[string]int{artifacts.StatusPass: 0, artifacts.StatusWarn: 1, artifacts.StatusFail: 2}

// Fired returns a description of each gate the delta fires, in order.
func (d *Delta) Fired(gates []Gate) []string {
	var out []string
	count := func(sev string) int {
		n := 0
		for _, a := range d.Added {
			if sev == "" || a.Severity == sev {
				n++
			}
		}
		return n
	}
	for _, g := range gates {
		switch g.Name {
		case "new-findings":
			if n := count(""); n > 0 {
				out = append(out, fmt.Sprintf("new-findings: %d added", n))
			}
		case "new-critical":
			if n := count("critical"); n > 0 {
				out = append(out, fmt.Sprintf("new-critical: %d added", n))
			}
		case "new-high":
			if n := count("high"); n > 0 {
				out = append(out, fmt.Sprintf("new-high: %d added", n))
			}
		case "risk":
			if d.RiskDelta > g.N {
				out = append(out, fmt.Sprintf("risk+%d: risk score rose by %d", g.N, d.RiskDelta))
			}
		case "unknowns":
			if int64(d.UnknownsDelta) > g.N {
				out = append(out, fmt.Sprintf("unknowns+%d: unknowns rose by %d", g.N, d.UnknownsDelta))
			}
		case "status-worse":
			if statusRank[d.Head.Status] > statusRank[d.Base.Status] {
				out = append(out, "status-worse: "+d.StatusChange)
			}
		}
	}
	return out
}
