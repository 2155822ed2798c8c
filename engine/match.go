package engine

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/google/osv-scalibr/semantic"
	"github.com/stella-ops/stella-oras/artifacts"
	"github.com/stella-ops/stella-oras/engine/feed"
	"github.com/stella-ops/stella-oras/engine/policy"
	"github.com/stella-ops/stella-oras/engine/reach"
	"github.com/stella-ops/stella-oras/engine/sbom"
)

// Reason codes the engine adds to findings.
const (
	ReasonSeverityPrefix   = "SEVERITY_"   // + CRITICAL, HIGH, …, UNKNOWN
	ReasonNoSeverity       = "NO_SEVERITY" // the advisory carries no usable rating
	ReasonFixAvailable     = "FIX_AVAILABLE"
	ReasonNoFix            = "NO_FIX"
	ReasonGatePrefix       = "GATE_"       // + FAIL, WARN, PASS: the finding's outcome
	ReasonRulePrefix       = "RULE_FIRED_" // + FAIL, WARN: a policy gate fired
	ReasonRuleError        = "RULE_ERROR"  // a gate fired because its expression failed on the finding
	ReasonExceptionApplied = "EXCEPTION_APPLIED"
	ReasonExceptionExpired = "EXCEPTION_EXPIRED"
)

// hit is one matched record for one component.
type hit struct {
	rec     *feed.Loaded
	reasons []string
	fixed   []string
	ratings []rating
	symbols []string // vulnerable symbols (Go: ecosystem_specific.imports)
	pkgs    []string // the packages declaring them
}

// evalCtx is what every component's matching shares (read-only).
type evalCtx struct {
	snap       *feed.Snapshot
	sbomDigest string
	p          *Policy
	idx        vexIndex
	reach      *reach.Input
	epoch      time.Time
}

// matchComponent finds every advisory affecting c, grouped so that one
// vulnerability (an alias group) is one finding. listedOnly is set for a
// component whose version its ecosystem cannot parse (an SBOM unknown):
// only advisories listing the version verbatim apply (feed.MatchListed).
func matchComponent(c *sbom.Component, listedOnly bool, x *evalCtx) ([]artifacts.Finding, []artifacts.Unknown, error) {
	snap := x.snap
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
			var o feed.Outcome
			if listedOnly {
				o = feed.MatchListed(a, c.Version)
			} else {
				o = snap.MatchAffected(a, c.Ecosystem, c.Version)
			}
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
			if listedOnly {
				h.reasons = append(h.reasons, sbom.ReasonVersionUnparseable)
			}
			if relUnknown {
				h.reasons = append(h.reasons, feed.ReasonReleaseUnknown)
			}
			h.fixed = append(h.fixed, o.Fixed...)
			syms, pkgs := reach.GoImports(a.EcosystemSpecific)
			h.symbols = append(h.symbols, syms...)
			h.pkgs = append(h.pkgs, pkgs...)
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
		f, err := finding(c, groups[k], x)
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

// sortedKeys lists a map's keys in order; never nil (an empty list is
// serialized as [], not null).
func sortedKeys[V any](m map[string]V) []string {
	if len(m) == 0 {
		return []string{}
	}
	return slices.Sorted(maps.Keys(m))
}

// finding merges the hits of one alias group into one finding and judges
// it: severity, reachability, VEX merge, policy gates, exceptions, points.
func finding(c *sbom.Component, hits []*hit, x *evalCtx) (artifacts.Finding, error) {
	snap, p := x.snap, x.p
	slices.SortFunc(hits, func(a, b *hit) int { return strings.Compare(a.rec.ID, b.rec.ID) })
	primary := hits[0].rec
	f := artifacts.Finding{
		Purl: c.Purl, Ecosystem: c.Ecosystem, Name: c.Name, Version: c.Version,
		Vulnerability: primary.ID,
		Summary:       strings.TrimSpace(primary.Summary),
	}
	aliases := map[string]bool{}
	var ratings []rating
	var reasons, fixed, evidence, symbols, pkgs []string
	published := ""
	for _, h := range hits {
		f.Records = append(f.Records, h.rec.ID)
		evidence = append(evidence, h.rec.ContentID)
		reasons = append(reasons, h.reasons...)
		fixed = append(fixed, h.fixed...)
		ratings = append(ratings, h.ratings...)
		symbols = append(symbols, h.symbols...)
		pkgs = append(pkgs, h.pkgs...)
		for _, a := range h.rec.Aliases {
			aliases[a] = true
		}
		for _, a := range snap.Aliases(h.rec.ID) {
			aliases[a] = true
		}
		if f.Summary == "" {
			f.Summary = strings.TrimSpace(h.rec.Summary)
		}
		if pub := h.rec.Published; pub != "" && (published == "" || pub < published) {
			published = pub
		}
	}
	delete(aliases, primary.ID)
	f.Aliases = sortedKeys(aliases)
	evidence = append(evidence, x.sbomDigest)
	slices.Sort(evidence)
	f.Evidence = slices.Compact(evidence)
	allFixed := sortVersions(fixed, c.Ecosystem)
	f.FixedVersions = upgrades(slices.Clone(allFixed), c.Ecosystem, c.Version)
	ids := append(append([]string{f.Vulnerability}, f.Aliases...), f.Records...)

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

	rr := x.reach.Answer(&reach.Query{Purl: c.Purl, Ecosystem: c.Ecosystem, Name: c.Name, Version: c.Version, IDs: ids, Symbols: sortedUnique(symbols), Packages: sortedUnique(pkgs)})
	f.Reachability = artifacts.Reachability{State: rr.State, Source: rr.Source, Reason: rr.Reason, Evidence: rr.Evidence}
	if x.reach != nil {
		reasons = append(reasons, rr.Reason)
	}

	base := p.Outcome(f.Severity)
	f.Outcome = base
	f.Rules = []artifacts.Rule{}
	if base != artifacts.StatusPass {
		f.Rules = append(f.Rules, artifacts.Rule{Name: "severity.outcomes." + f.Severity, Outcome: base, Message: "severity " + f.Severity + " is " + base + " by the policy's severity table"})
	}
	if len(x.idx) > 0 {
		f.VEX = mergeVEX(x.idx.applicable(ids, c.Purl), p, c.Ecosystem, c.Version, allFixed, rr.State == reach.Unreachable)
	}
	suppressed := f.VEX != nil && f.VEX.Applied
	if f.VEX != nil {
		reasons = append(reasons, f.VEX.Reason)
	}
	if len(p.Gates) > 0 {
		facts := gateFacts(&f, suppressed, published, x.epoch)
		fired, err := p.EvalFinding(facts)
		if err != nil {
			return f, fmt.Errorf("%s %s: %w", f.Purl, f.Vulnerability, err)
		}
		for _, g := range fired {
			f.Rules = append(f.Rules, artifacts.Rule{Name: g.Name, Outcome: g.Outcome, Message: g.Message})
			f.Outcome = worse(f.Outcome, g.Outcome)
			reasons = append(reasons, ReasonRulePrefix+strings.ToUpper(g.Outcome))
			if g.Error {
				reasons = append(reasons, ReasonRuleError)
			}
		}
	}
	id, err := findingID(f.Purl, f.Vulnerability)
	if err != nil {
		return f, err
	}
	f.ID = id
	f.Exception = exception(p, &f, ids, x.epoch)
	switch {
	case suppressed:
		f.Outcome = artifacts.StatusPass
	case f.Exception != nil && f.Exception.Status == ExceptionApplied:
		f.Outcome = artifacts.StatusPass
		reasons = append(reasons, ReasonExceptionApplied)
	case f.Exception != nil:
		reasons = append(reasons, ReasonExceptionExpired)
	}
	if !suppressed {
		f.Points = p.Points(f.Score, f.Severity, f.Reachability.State)
	}
	reasons = append(reasons, ReasonGatePrefix+strings.ToUpper(f.Outcome))
	slices.Sort(reasons)
	f.Reasons = slices.Compact(reasons)
	f.Explanation = explain(&f, p)
	return f, nil
}

// Exception states.
const (
	ExceptionApplied = "applied"
	ExceptionExpired = "expired"
)

// exception finds the policy exception covering a finding: the first
// (by ID) that is still valid at the feed's as-of instant, else the first
// that has expired.
func exception(p *Policy, f *artifacts.Finding, ids []string, epoch time.Time) *artifacts.ExceptionDecision {
	var expired *artifacts.ExceptionDecision
	for _, e := range p.Exceptions {
		if !e.Matches(f.ID, f.Purl, ids, purlMatches) {
			continue
		}
		until, err := time.Parse(time.RFC3339, e.Until)
		d := &artifacts.ExceptionDecision{ID: e.ID, Until: e.Until, Reason: e.Reason, Status: ExceptionApplied}
		if err == nil && epoch.Before(until) {
			return d
		}
		if expired == nil {
			d.Status = ExceptionExpired
			expired = d
		}
	}
	return expired
}

// gateFacts is what a finding gate sees.
func gateFacts(f *artifacts.Finding, suppressed bool, published string, epoch time.Time) *policy.Finding {
	g := &policy.Finding{
		ID: f.ID, Vulnerability: f.Vulnerability, Aliases: f.Aliases, Purl: f.Purl, Ecosystem: f.Ecosystem,
		Name: f.Name, Version: f.Version, Severity: f.Severity, CVSS: -1, ScoreSource: f.ScoreSource,
		Reachability: f.Reachability.State, VEX: "none", Suppressed: suppressed,
		FixAvailable: len(f.FixedVersions) > 0, AgeDays: -1,
	}
	if f.Score >= 0 && f.ScoreSource != SourceDatabaseSpecific {
		g.CVSS = float64(f.Score) / 10
	}
	if f.VEX != nil {
		g.VEX = f.VEX.Status
	}
	if t, err := time.Parse(time.RFC3339, published); err == nil && t.Year() > 1 { // year 1: no date (Go vulndb)
		g.AgeDays = max(int64(epoch.Sub(t)/(24*time.Hour)), 0)
	}
	return g
}

func sortedUnique(s []string) []string {
	slices.Sort(s)
	return slices.Compact(s)
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
	if slices.Contains(f.Reasons, sbom.ReasonVersionUnparseable) {
		fmt.Fprintf(&b, ", which lists the version verbatim (it is not a valid %s version, so no range could place it)", f.Ecosystem)
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
		case d.Applied && d.Reason == ReasonVEXUnreachable:
			fmt.Fprintf(&b, ". VEX from %s says %s, and the vulnerable code is unreachable: suppressed", who, d.Status)
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
	}
	switch r := f.Reachability; {
	case r.State == reach.Reachable:
		fmt.Fprintf(&b, ". Reachable (%s): %s", r.Source, strings.Join(r.Evidence, " -> "))
	case r.State == reach.Unreachable:
		fmt.Fprintf(&b, ". Unreachable (%s, %s)", r.Source, r.Reason)
	case r.Source != "":
		fmt.Fprintf(&b, ". Reachability unknown (%s, %s)", r.Source, r.Reason)
	}
	gates := false
	for _, g := range f.Rules {
		if !strings.HasPrefix(g.Name, "severity.") {
			fmt.Fprintf(&b, ". Gate %s: %s", g.Name, g.Outcome)
			gates = true
		}
	}
	if e := f.Exception; e != nil {
		if e.Status == ExceptionApplied {
			fmt.Fprintf(&b, ". Exception %s applies until %s (%s)", e.ID, e.Until, e.Reason)
		} else {
			fmt.Fprintf(&b, ". Exception %s expired at %s, on or before the feed's as-of instant", e.ID, e.Until)
		}
	}
	if f.VEX == nil && !gates && f.Exception == nil {
		fmt.Fprintf(&b, ". Policy %s@%s: %s on %s severity.", p.Name, p.Version, f.Outcome, f.Severity)
		return b.String()
	}
	fmt.Fprintf(&b, ". Policy %s@%s: %s.", p.Name, p.Version, f.Outcome)
	return b.String()
}
