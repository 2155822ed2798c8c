package engine

import (
	"slices"
	"strings"

	"github.com/google/osv-scalibr/semantic"
	packageurl "github.com/package-url/packageurl-go"

	"github.com/stella-ops/stella-oras/artifacts"
	"github.com/stella-ops/stella-oras/engine/vex"
)

// VEX reason codes.
const (
	ReasonVEXNotAffected         = "VEX_NOT_AFFECTED"
	ReasonVEXFixed               = "VEX_FIXED"
	ReasonVEXAffected            = "VEX_AFFECTED"
	ReasonVEXUnderInvestigation  = "VEX_UNDER_INVESTIGATION"
	ReasonVEXContested           = "VEX_CONTESTED"
	ReasonVEXNoJustification     = "VEX_NOT_AFFECTED_WITHOUT_JUSTIFICATION"
	ReasonVEXFixedWithoutVersion = "VEX_FIXED_WITHOUT_FIXED_VERSION"
	StatusContested              = "contested"
)

// vexIndex finds the statements about a vulnerability id.
type vexIndex map[string][]vex.Statement

func newVEXIndex(docs []*vex.Document) vexIndex {
	idx := vexIndex{}
	for _, d := range docs {
		for _, s := range d.Statements {
			for _, id := range append([]string{s.Vulnerability}, s.Aliases...) {
				idx[id] = append(idx[id], s)
			}
		}
	}
	return idx
}

// applicable returns the statements about any of ids that name the
// component: its purl (qualifiers ignored; the version must match when the
// statement gives one), directly or as a subcomponent.
func (x vexIndex) applicable(ids []string, purl string) []vex.Statement {
	var out []vex.Statement
	seen := map[string]bool{}
	for _, id := range ids {
		for _, s := range x[id] {
			k := s.Source + "\x00" + s.Vulnerability + "\x00" + s.Product + "\x00" + strings.Join(s.Subcomponents, " ") + "\x00" + s.Status + s.Timestamp
			if seen[k] {
				continue
			}
			targets := s.Subcomponents
			if len(targets) == 0 {
				targets = []string{s.Product}
			}
			if slices.ContainsFunc(targets, func(t string) bool { return purlMatches(t, purl) }) {
				seen[k] = true
				out = append(out, s)
			}
		}
	}
	slices.SortFunc(out, func(a, b vex.Statement) int {
		return strings.Compare(a.Source+a.Vulnerability+a.Product+a.Timestamp+a.Status, b.Source+b.Vulnerability+b.Product+b.Timestamp+b.Status)
	})
	return out
}

// purlMatches compares a statement's product with a component purl:
// type, namespace and name; the version when the statement has one;
// qualifiers and subpath are ignored.
func purlMatches(stmt, comp string) bool {
	a, err1 := packageurl.FromString(stmt)
	b, err2 := packageurl.FromString(comp)
	if err1 != nil || err2 != nil {
		return false
	}
	if !strings.EqualFold(a.Type, b.Type) || !strings.EqualFold(a.Namespace, b.Namespace) || !strings.EqualFold(a.Name, b.Name) {
		return false
	}
	return a.Version == "" || a.Version == b.Version
}

// mergeVEX applies the lattice of the README's merge table: the highest
// trust level among the statements' issuers first, then the latest
// timestamp, then a join of what remains (agreement keeps the status;
// affected against not_affected or fixed is contested, treated as
// affected). A suppression counts only with evidence.
func mergeVEX(stmts []vex.Statement, p *Policy, eco, version string, fixed []string) *artifacts.VEXDecision {
	if len(stmts) == 0 {
		return nil
	}
	best := -1 << 31
	for _, s := range stmts {
		best = max(best, p.trust(s.Issuer))
	}
	var top []vex.Statement
	for _, s := range stmts {
		if p.trust(s.Issuer) == best {
			top = append(top, s)
		}
	}
	latest := ""
	for _, s := range top {
		if s.Timestamp > latest { // RFC 3339 UTC strings order by time
			latest = s.Timestamp
		}
	}
	var cur []vex.Statement
	for _, s := range top {
		if s.Timestamp == latest {
			cur = append(cur, s)
		}
	}
	d := &artifacts.VEXDecision{Statements: []string{}}
	for _, s := range stmts {
		d.Statements = append(d.Statements, s.Source)
	}
	slices.Sort(d.Statements)
	d.Statements = slices.Compact(d.Statements)
	statuses := map[string]bool{}
	for _, s := range cur {
		statuses[s.Status] = true
	}
	suppress := statuses[vex.StatusNotAffected] || statuses[vex.StatusFixed]
	switch {
	case statuses[vex.StatusAffected] && suppress:
		d.Status, d.Reason = StatusContested, ReasonVEXContested
		return d
	case statuses[vex.StatusAffected]:
		d.Status, d.Reason = vex.StatusAffected, ReasonVEXAffected
		return d
	case statuses[vex.StatusNotAffected]:
		s := firstWith(cur, vex.StatusNotAffected)
		d.Status, d.Issuer = vex.StatusNotAffected, s.Issuer
		for _, c := range cur {
			if c.Status == vex.StatusNotAffected && c.Justification != "" {
				d.Justification, d.Issuer = c.Justification, c.Issuer
				break
			}
		}
		if d.Justification == "" && !p.AcceptUnjustified {
			d.Reason = ReasonVEXNoJustification
			return d
		}
		d.Applied, d.Reason = true, ReasonVEXNotAffected
		return d
	case statuses[vex.StatusFixed]:
		d.Status, d.Issuer = vex.StatusFixed, firstWith(cur, vex.StatusFixed).Issuer
		if !satisfiesFix(eco, version, fixed) {
			d.Reason = ReasonVEXFixedWithoutVersion
			return d
		}
		d.Applied, d.Reason = true, ReasonVEXFixed
		return d
	}
	d.Status, d.Reason = vex.StatusUnderInvestigation, ReasonVEXUnderInvestigation
	return d
}

func firstWith(ss []vex.Statement, status string) vex.Statement {
	for _, s := range ss {
		if s.Status == status {
			return s
		}
	}
	return vex.Statement{}
}

// satisfiesFix says whether the component's version is at or above one of
// the advisory's fixed versions.
func satisfiesFix(eco, version string, fixed []string) bool {
	v, err := semantic.Parse(version, eco)
	if err != nil {
		return false
	}
	for _, f := range fixed {
		if c, err := v.CompareStr(f); err == nil && c >= 0 {
			return true
		}
	}
	return false
}
