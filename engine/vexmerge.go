package engine

import (
	"slices"
	"strings"

	"github.com/google/osv-scalibr/semantic"
	packageurl "github.com/package-url/packageurl-go"

	"github.com/stella-ops/stella-oras/artifacts"
	"github.com/stella-ops/stella-oras/engine/policy"
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
	ReasonVEXUnreachable         = "VEX_SUPPRESSED_UNREACHABLE"
	StatusContested              = "contested"
	ReasonVEXNoMatchingFinding   = "VEX_NO_MATCHING_FINDING"
	ReasonVEXUnknownVuln         = "VEX_UNKNOWN_VULNERABILITY"
	// ReasonVEXUntrusted: a VEX document found in the registry that no
	// trusted key signed; it is listed and suppresses nothing.
	ReasonVEXUntrusted = "VEX_UNTRUSTED"
	// ReasonVEXSignatureInvalid: a VEX document whose bundle names it but
	// does not verify under any trusted key.
	ReasonVEXSignatureInvalid = "VEX_SIGNATURE_INVALID"
)

// vexIndex finds the statements about a vulnerability id. Each statement's
// targets are parsed once here: parsing purls per finding was most of the
// cost of a 10,000-statement merge.
type vexIndex map[string][]*indexed

type indexed struct {
	vex.Statement
	targets []ppurl
}

// ppurl is a parsed purl: type/namespace/name (lower case) and version.
type ppurl struct {
	key, version string
	ok           bool
}

func parsePurl(s string) ppurl {
	p, err := packageurl.FromString(s)
	if err != nil {
		return ppurl{}
	}
	return ppurl{key: strings.ToLower(p.Type + "/" + p.Namespace + "/" + p.Name), version: p.Version, ok: true}
}

// matches compares a statement's target with a component: type, namespace
// and name; the version when the target has one; qualifiers and subpath
// are ignored.
func (t ppurl) matches(comp ppurl) bool {
	return t.ok && comp.ok && t.key == comp.key && (t.version == "" || t.version == comp.version)
}

func newVEXIndex(docs []*vex.Document) vexIndex {
	idx := vexIndex{}
	for _, d := range docs {
		for _, s := range d.Statements {
			in := &indexed{Statement: s}
			targets := s.Subcomponents
			if len(targets) == 0 {
				targets = []string{s.Product}
			}
			for _, t := range targets {
				in.targets = append(in.targets, parsePurl(t))
			}
			for _, id := range append([]string{s.Vulnerability}, s.Aliases...) {
				idx[id] = append(idx[id], in)
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
	seen := map[*indexed]bool{}
	comp := parsePurl(purl)
	for _, id := range ids {
		for _, s := range x[id] {
			if seen[s] {
				continue
			}
			seen[s] = true
			if slices.ContainsFunc(s.targets, func(t ppurl) bool { return t.matches(comp) }) {
				out = append(out, s.Statement)
			}
		}
	}
	slices.SortFunc(out, func(a, b vex.Statement) int {
		return strings.Compare(a.Source+a.Vulnerability+a.Product+a.Timestamp+a.Status, b.Source+b.Vulnerability+b.Product+b.Timestamp+b.Status)
	})
	return slices.CompactFunc(out, func(a, b vex.Statement) bool {
		return a.Source == b.Source && a.Vulnerability == b.Vulnerability && a.Product == b.Product &&
			slices.Equal(a.Subcomponents, b.Subcomponents) && a.Status == b.Status && a.Timestamp == b.Timestamp
	})
}

// purlMatches compares a statement's product with a component purl.
func purlMatches(stmt, comp string) bool { return parsePurl(stmt).matches(parsePurl(comp)) }

// mergeVEX applies the lattice of the README's merge table: the tie-breakers
// in the policy's merge order (by default the highest trust level among the
// statements' issuers, then the latest timestamp), then a join of what
// remains (agreement keeps the status; affected against not_affected or
// fixed is contested, treated as affected). A suppression counts only with
// evidence: a justification (not_affected), a fixed version the component
// satisfies (fixed), or an unreachable verdict (either).
func mergeVEX(stmts []vex.Statement, p *Policy, eco, version string, fixed []string, unreachable bool) *artifacts.VEXDecision {
	if len(stmts) == 0 {
		return nil
	}
	cur := stmts
	for _, step := range p.Merge() {
		switch step {
		case policy.MergeTrust:
			cur = keepMax(cur, func(s vex.Statement) int { return p.TrustOf(s.Issuer) }, func(a, b int) bool { return a > b })
		case policy.MergeTimestamp:
			// RFC 3339 UTC strings order by time
			cur = keepMax(cur, func(s vex.Statement) string { return s.Timestamp }, func(a, b string) bool { return a > b })
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
		switch {
		case d.Justification != "":
			d.Applied, d.Reason = true, ReasonVEXNotAffected
		case unreachable:
			d.Applied, d.Reason = true, ReasonVEXUnreachable
		case p.AcceptUnjustified:
			d.Applied, d.Reason = true, ReasonVEXNotAffected
		default:
			d.Reason = ReasonVEXNoJustification
		}
		return d
	case statuses[vex.StatusFixed]:
		d.Status, d.Issuer = vex.StatusFixed, firstWith(cur, vex.StatusFixed).Issuer
		switch {
		case satisfiesFix(eco, version, fixed):
			d.Applied, d.Reason = true, ReasonVEXFixed
		case unreachable:
			d.Applied, d.Reason = true, ReasonVEXUnreachable
		default:
			d.Reason = ReasonVEXFixedWithoutVersion
		}
		return d
	}
	d.Status, d.Reason = vex.StatusUnderInvestigation, ReasonVEXUnderInvestigation
	return d
}

// keepMax keeps the statements whose key is the greatest.
func keepMax[K comparable](ss []vex.Statement, key func(vex.Statement) K, greater func(a, b K) bool) []vex.Statement {
	var best K
	var out []vex.Statement
	for i, s := range ss {
		k := key(s)
		switch {
		case i == 0 || greater(k, best):
			best, out = k, []vex.Statement{s}
		case k == best:
			out = append(out, s)
		}
	}
	return out
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

// unmatched lists the statements that apply to no finding: about an id the
// feed knows (its alias index, or a finding's id, alias or record) but a
// product no finding is about (VEX_NO_MATCHING_FINDING), or about an id
// neither knows (VEX_UNKNOWN_VULNERABILITY).
func unmatched(docs []*vex.Document, findings []artifacts.Finding, snap interface{ Aliases(string) []string }) []artifacts.VEXNote {
	if len(docs) == 0 {
		return nil
	}
	byID := map[string][]ppurl{} // id -> finding purls
	parsed := map[string]ppurl{}
	for _, f := range findings {
		p, ok := parsed[f.Purl]
		if !ok {
			p = parsePurl(f.Purl)
			parsed[f.Purl] = p
		}
		for _, id := range append(append([]string{f.Vulnerability}, f.Aliases...), f.Records...) {
			byID[id] = append(byID[id], p)
		}
	}
	out := []artifacts.VEXNote{}
	for _, d := range docs {
		for _, s := range d.Statements {
			targets := s.Subcomponents
			if len(targets) == 0 {
				targets = []string{s.Product}
			}
			pts := make([]ppurl, len(targets))
			for i, t := range targets {
				pts[i] = parsePurl(t)
			}
			known, matched := false, false
			for _, id := range append([]string{s.Vulnerability}, s.Aliases...) {
				purls, ok := byID[id]
				known = known || ok || snap.Aliases(id) != nil
				for _, p := range purls {
					if slices.ContainsFunc(pts, func(t ppurl) bool { return t.matches(p) }) {
						matched = true
					}
				}
			}
			if matched {
				continue
			}
			r := ReasonVEXUnknownVuln
			if known {
				r = ReasonVEXNoMatchingFinding
			}
			out = append(out, artifacts.VEXNote{Source: s.Source, Vulnerability: s.Vulnerability, Product: s.Product, Reason: r})
		}
	}
	slices.SortFunc(out, func(a, b artifacts.VEXNote) int {
		return strings.Compare(a.Source+"\x00"+a.Vulnerability+"\x00"+a.Product+"\x00"+a.Reason, b.Source+"\x00"+b.Vulnerability+"\x00"+b.Product+"\x00"+b.Reason)
	})
	return slices.Compact(out)
}
