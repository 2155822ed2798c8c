package engine

import (
	"fmt"
	"slices"
	"strings"

	"github.com/google/osv-scalibr/semantic"
	"github.com/stella-ops/stella-oras/artifacts"
	"github.com/stella-ops/stella-oras/engine/feed"
	"github.com/stella-ops/stella-oras/engine/sbom"
)

// Reason codes the engine adds to findings.
const (
	ReasonSeverityPrefix = "SEVERITY_"   // + CRITICAL, HIGH, …, UNKNOWN
	ReasonNoSeverity     = "NO_SEVERITY" // the advisory carries no usable rating
	ReasonFixAvailable   = "FIX_AVAILABLE"
	ReasonNoFix          = "NO_FIX"
	ReasonGatePrefix     = "GATE_" // + FAIL, WARN, PASS
)

// hit is one matched record for one component.
type hit struct {
	rec     *feed.Loaded
	reasons []string
	fixed   []string
	ratings []rating
}

// matchComponent finds every advisory affecting c, grouped so that one
// vulnerability (an alias group) is one finding.
func matchComponent(c *sbom.Component, snap *feed.Snapshot, sbomDigest string, p *Policy, idx vexIndex) ([]artifacts.Finding, []artifacts.Unknown, error) {
	recs, err := snap.Lookup(c.Ecosystem, c.Name)
	if err != nil || len(recs) == 0 {
		return nil, nil, err
	}
	groups := map[string][]*hit{}
	uncertain := map[string][]string{} // record id -> reasons
	for _, r := range recs {
		h := &hit{rec: r}
		affected, unsure := false, false
		var unsureWhy []string
		for i := range r.Affected {
			a := &r.Affected[i]
			if feed.PackageKeyOf(a) != feed.PackageKey(c.Ecosystem, c.Name) {
				continue
			}
			ok, relUnknown := feed.ReleaseMatches(a.Package.Ecosystem, c.Ecosystem)
			if !ok {
				continue
			}
			o := snap.MatchAffected(a, c.Ecosystem, c.Version)
			if o.Uncertain {
				unsure = true
				unsureWhy = append(unsureWhy, o.Reasons...)
				continue
			}
			if !o.Affected {
				continue
			}
			affected = true
			h.reasons = append(h.reasons, o.Reasons...)
			if relUnknown {
				h.reasons = append(h.reasons, feed.ReasonReleaseUnknown)
			}
			h.fixed = append(h.fixed, o.Fixed...)
			for _, s := range a.Severity {
				if rt, ok := cvssRating(s); ok {
					h.ratings = append(h.ratings, rt)
				}
			}
			if rt, ok := dbRating(a.DatabaseSpecific); ok {
				h.ratings = append(h.ratings, rt)
			}
		}
		if !affected {
			if unsure {
				uncertain[r.ID] = unsureWhy
			}
			continue
		}
		for _, s := range r.Severity {
			if rt, ok := cvssRating(s); ok {
				h.ratings = append(h.ratings, rt)
			}
		}
		if rt, ok := dbRating(r.DatabaseSpecific); ok {
			h.ratings = append(h.ratings, rt)
		}
		key := r.ID
		if g := snap.Aliases(r.ID); len(g) > 0 {
			key = g[0]
		}
		groups[key] = append(groups[key], h)
	}

	var findings []artifacts.Finding
	keys := sortedKeys(groups)
	covered := map[string]bool{}
	for _, k := range keys {
		f, err := finding(c, groups[k], snap, sbomDigest, p, idx)
		if err != nil {
			return nil, nil, err
		}
		for _, id := range append([]string{f.Vulnerability}, f.Aliases...) {
			covered[id] = true
		}
		findings = append(findings, f)
	}
	var unknowns []artifacts.Unknown
	for _, id := range sortedKeys(uncertain) {
		if covered[id] {
			continue
		}
		why := uncertain[id]
		slices.Sort(why)
		why = slices.Compact(why)
		unknowns = append(unknowns, artifacts.Unknown{
			Reason: why[0], Purl: c.Purl, Name: c.Name, Version: c.Version, Vulnerability: id,
			Detail: "advisory " + id + " cannot be evaluated for this version: " + strings.Join(why, ", "),
		})
	}
	return findings, unknowns, nil
}

func sortedKeys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}

// finding merges the hits of one alias group into one finding.
func finding(c *sbom.Component, hits []*hit, snap *feed.Snapshot, sbomDigest string, p *Policy, idx vexIndex) (artifacts.Finding, error) {
	slices.SortFunc(hits, func(a, b *hit) int { return strings.Compare(a.rec.ID, b.rec.ID) })
	primary := hits[0].rec
	f := artifacts.Finding{
		Purl: c.Purl, Ecosystem: c.Ecosystem, Name: c.Name, Version: c.Version,
		Vulnerability: primary.ID,
		Summary:       strings.TrimSpace(primary.Summary),
	}
	aliases := map[string]bool{}
	var ratings []rating
	var reasons, fixed, evidence []string
	for _, h := range hits {
		f.Records = append(f.Records, h.rec.ID)
		evidence = append(evidence, h.rec.ContentID)
		reasons = append(reasons, h.reasons...)
		fixed = append(fixed, h.fixed...)
		ratings = append(ratings, h.ratings...)
		for _, a := range h.rec.Aliases {
			aliases[a] = true
		}
		for _, a := range snap.Aliases(h.rec.ID) {
			aliases[a] = true
		}
		if f.Summary == "" {
			f.Summary = strings.TrimSpace(h.rec.Summary)
		}
	}
	delete(aliases, primary.ID)
	f.Aliases = sortedKeys(aliases)
	evidence = append(evidence, sbomDigest)
	slices.Sort(evidence)
	f.Evidence = slices.Compact(evidence)
	allFixed := sortVersions(fixed, c.Ecosystem)
	f.FixedVersions = upgrades(slices.Clone(allFixed), c.Ecosystem, c.Version)

	r := best(ratings, p.SeverityPreference)
	f.Score, f.ScoreSource, f.Vector = r.score, r.source, r.vector
	f.Severity = band(r.score)
	reasons = append(reasons, ReasonSeverityPrefix+strings.ToUpper(f.Severity))
	if r.source == SourceNone {
		reasons = append(reasons, ReasonNoSeverity)
	}
	if len(f.FixedVersions) > 0 {
		reasons = append(reasons, ReasonFixAvailable)
	} else {
		reasons = append(reasons, ReasonNoFix)
	}
	f.Outcome = p.outcome(f.Severity)
	if len(idx) > 0 {
		ids := append(append([]string{f.Vulnerability}, f.Aliases...), f.Records...)
		f.VEX = mergeVEX(idx.applicable(ids, c.Purl), p, c.Ecosystem, c.Version, allFixed)
	}
	if f.VEX != nil {
		reasons = append(reasons, f.VEX.Reason)
		if f.VEX.Applied {
			f.Outcome = artifacts.StatusPass
		}
	}
	reasons = append(reasons, ReasonGatePrefix+strings.ToUpper(f.Outcome))
	slices.Sort(reasons)
	f.Reasons = slices.Compact(reasons)
	f.Explanation = explain(&f, p)
	id, err := findingID(f.Purl, f.Vulnerability)
	if err != nil {
		return f, err
	}
	f.ID = id
	return f, nil
}

// sortVersions orders versions by the ecosystem's rules (then bytewise, for
// a total order), without duplicates.
func sortVersions(vs []string, eco string) []string {
	slices.Sort(vs)
	vs = slices.Compact(vs)
	slices.SortStableFunc(vs, func(a, b string) int {
		va, err1 := semantic.Parse(a, eco)
		if err1 != nil {
			return 0
		}
		c, err := va.CompareStr(b)
		if err != nil {
			return 0
		}
		return c
	})
	if vs == nil {
		vs = []string{}
	}
	return vs
}

// upgrades keeps the fixed versions above the component's version: the
// upgrades that resolve the finding (a fix on an older branch is not one).
func upgrades(fixed []string, eco, version string) []string {
	cur, err := semantic.Parse(version, eco)
	if err != nil {
		return fixed
	}
	out := fixed[:0]
	for _, f := range fixed {
		if c, err := cur.CompareStr(f); err != nil || c < 0 {
			out = append(out, f)
		}
	}
	return out
}

// explain renders the fixed explanation template. Every word comes from the
// finding and the policy; nothing from the environment.
func explain(f *artifacts.Finding, p *Policy) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s is affected by %s", f.Name, f.Version, f.Vulnerability)
	if len(f.Aliases) > 0 {
		fmt.Fprintf(&b, " (%s)", strings.Join(f.Aliases, ", "))
	}
	switch f.ScoreSource {
	case SourceNone:
		b.WriteString("; the advisory carries no severity, so it is rated unknown")
	case SourceDatabaseSpecific:
		fmt.Fprintf(&b, "; severity %s from the advisory's database-specific rating", f.Severity)
	default:
		fmt.Fprintf(&b, "; severity %s, %s base score %d.%d", f.Severity, f.ScoreSource, f.Score/10, f.Score%10)
	}
	if len(f.FixedVersions) > 0 {
		fmt.Fprintf(&b, "; fixed in %s", strings.Join(f.FixedVersions, ", "))
	} else {
		b.WriteString("; no fixed version is published")
	}
	if d := f.VEX; d != nil {
		who := d.Issuer
		if who == "" {
			who = "an unnamed issuer"
		}
		switch {
		case d.Applied && d.Justification != "":
			fmt.Fprintf(&b, ". VEX from %s says %s (%s): suppressed", who, d.Status, d.Justification)
		case d.Applied:
			fmt.Fprintf(&b, ". VEX from %s says %s: suppressed", who, d.Status)
		case d.Status == StatusContested:
			b.WriteString(". VEX statements conflict (affected against not_affected or fixed): contested, treated as affected")
		case d.Reason == ReasonVEXNoJustification:
			fmt.Fprintf(&b, ". VEX from %s says not_affected without a justification: ignored", who)
		case d.Reason == ReasonVEXFixedWithoutVersion:
			fmt.Fprintf(&b, ". VEX from %s says fixed, but %s is below every fixed version: ignored", who, f.Version)
		default:
			fmt.Fprintf(&b, ". VEX says %s", d.Status)
		}
		fmt.Fprintf(&b, ". Policy %s@%s: %s.", p.Name, p.Version, f.Outcome)
		return b.String()
	}
	fmt.Fprintf(&b, ". Policy %s@%s: %s on %s severity.", p.Name, p.Version, f.Outcome, f.Severity)
	return b.String()
}
