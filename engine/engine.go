// Package engine is the pure, deterministic core: (scan manifest, inputs) ->
// verdict. It reads no clock, no environment and no network, iterates no map
// without sorting, and collects concurrent results by index before sorting.
package engine

import (
	"cmp"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/stella-ops/stella-oras/artifacts"
	"github.com/stella-ops/stella-oras/canon"
	"github.com/stella-ops/stella-oras/engine/feed"
	"github.com/stella-ops/stella-oras/engine/policy"
	"github.com/stella-ops/stella-oras/engine/reach"
	"github.com/stella-ops/stella-oras/engine/sbom"
	"github.com/stella-ops/stella-oras/engine/vex"
)

// Name and Version identify the engine in every manifest and verdict, and
// so in every provenance-cache key. The version changes whenever verdict
// bytes could change for the same inputs, and only then: it is not the
// tool's version, so a release that changes only the CLI keeps every
// cached verdict valid.
const (
	Name    = "stella-oras"
	Version = "0.3.1"
)

// Identity is the engine as recorded in documents.
func Identity() artifacts.Engine { return artifacts.Engine{Name: Name, Version: Version} }

// Inputs are the decoded inputs of one evaluation. The engine derives every
// identity in the scan manifest from these values themselves (content IDs
// of the normalized forms, and the digests the parsers recorded of the
// bytes they read), so no caller can evaluate an input the manifest does
// not name, or name one it does not evaluate.
type Inputs struct {
	SBOM *sbom.SBOM
	Feed *feed.Snapshot
	// VEX are the normalized documents merged per finding.
	VEX []*vex.Document
	// IgnoredVEX are documents found but not merged (untrusted): listed in
	// the manifest and the verdict, and never matched.
	IgnoredVEX []artifacts.IgnoredInput
	Subject    *artifacts.Subject
	Policy     *Policy
	// Reach is the reachability evidence, if any.
	Reach *reach.Input
	// Env selects the policy's unknowns budget; "" means the policy's
	// default environment, if it names one.
	Env string
}

// ErrEnvironment is an environment the policy does not budget.
var ErrEnvironment = errors.New("unknown environment")

// environment resolves the budget environment.
func (in *Inputs) environment(p *Policy) (string, error) {
	env := in.Env
	if env == "" {
		env = p.DefaultEnv
	}
	if env == "" {
		return "", nil
	}
	if _, ok := p.Budget(env); !ok {
		return "", fmt.Errorf("%w %q: policy %s@%s budgets %s", ErrEnvironment, env, p.Name, p.Version, listOrNone(p.Environments()))
	}
	return env, nil
}

func listOrNone(s []string) string {
	if len(s) == 0 {
		return "no environment"
	}
	return strings.Join(s, ", ")
}

// Manifest builds the scan manifest of an evaluation.
func Manifest(in *Inputs) (*artifacts.ScanManifest, error) {
	p := in.policy()
	opts, err := optionsHash(p)
	if err != nil {
		return nil, err
	}
	vex := make([]artifacts.InputRef, 0, len(in.VEX))
	for _, d := range in.VEX {
		vex = append(vex, artifacts.InputRef{Digest: d.Source, Format: d.Format, Stored: d.Stored})
	}
	slices.SortFunc(vex, compareInputRef)
	vex = slices.Compact(vex)
	ignored := slices.Clone(in.IgnoredVEX)
	if ignored == nil {
		ignored = []artifacts.IgnoredInput{}
	}
	slices.SortFunc(ignored, func(a, b artifacts.IgnoredInput) int {
		return cmp.Or(strings.Compare(a.Stored, b.Stored), strings.Compare(a.Reason, b.Reason))
	})
	ignored = slices.Compact(ignored)
	sbomID, err := in.SBOM.Digest()
	if err != nil {
		return nil, err
	}
	pid, err := p.Digest()
	if err != nil {
		return nil, err
	}
	env, err := in.environment(p)
	if err != nil {
		return nil, err
	}
	var rref *artifacts.InputRef
	if in.Reach != nil {
		rref = &artifacts.InputRef{Digest: in.Reach.Digest, Format: in.Reach.Format, Stored: in.Reach.Stored}
	}
	return &artifacts.ScanManifest{
		CanonVersion: canon.Version,
		Kind:         artifacts.KindScanManifest,
		Engine:       Identity(),
		Inputs: artifacts.Inputs{
			SBOM:         artifacts.InputRef{Digest: sbomID, Format: in.SBOM.Format, Stored: in.SBOM.Stored},
			VEX:          vex,
			VEXIgnored:   ignored,
			Reachability: rref,
			Feed:         artifacts.FeedRef{Digest: in.Feed.ContentID(), Epoch: in.Feed.Epoch().Format("2006-01-02T15:04:05Z07:00")},
			Policy:       artifacts.PolicyRef{Digest: pid, Name: p.Name, Version: p.Version},
		},
		Environment: env,
		OptionsHash: opts,
		Subject:     in.Subject,
	}, nil
}

func compareInputRef(a, b artifacts.InputRef) int {
	return cmp.Or(strings.Compare(a.Digest, b.Digest), strings.Compare(a.Stored, b.Stored), strings.Compare(a.Format, b.Format))
}

func (in *Inputs) policy() *Policy {
	if in.Policy != nil {
		return in.Policy
	}
	return DefaultPolicy()
}

// optionsHash covers the matching semantics that are not part of the
// policy, so a change to them changes the manifest.
func optionsHash(p *Policy) (string, error) {
	_, id, err := canon.MarshalID(map[string]any{
		"matching":            "osv-1.7 versions+SEMVER+ECOSYSTEM; GIT ranges unknown; versions listed verbatim match unparseable versions",
		"alias_grouping":      "union of aliases; finding id = smallest matched record id",
		"severity_preference": p.SeverityPreference,
	})
	return id, err
}

// Evaluate judges the SBOM against the feed under the policy. It returns
// the manifest and the verdict; both are pure functions of the inputs.
func Evaluate(in *Inputs) (*artifacts.ScanManifest, *artifacts.Verdict, error) {
	m, err := Manifest(in)
	if err != nil {
		return nil, nil, err
	}
	mid, err := ManifestDigest(m)
	if err != nil {
		return nil, nil, err
	}
	p := in.policy()
	if err := p.Prepare(); err != nil {
		return nil, nil, err
	}
	v := &artifacts.Verdict{
		CanonVersion:   canon.Version,
		Kind:           artifacts.KindVerdict,
		Engine:         Identity(),
		ManifestDigest: mid,
		Policy:         m.Inputs.Policy,
		Gates:          []artifacts.Rule{},
		Findings:       []artifacts.Finding{},
		Unknowns:       []artifacts.Unknown{},
	}
	for _, u := range in.SBOM.Unknowns {
		v.Unknowns = append(v.Unknowns, artifacts.Unknown{Reason: u.Reason, Purl: u.Purl, Name: u.Name, Version: u.Version, BOMRef: u.BOMRef, Detail: u.Detail})
	}
	results, err := matchAll(in, p, m.Inputs.SBOM.Digest)
	if err != nil {
		return nil, nil, err
	}
	for _, r := range results {
		v.Findings = append(v.Findings, r.findings...)
		v.Unknowns = append(v.Unknowns, r.unknowns...)
	}
	slices.SortFunc(v.Findings, func(a, b artifacts.Finding) int { return strings.Compare(a.ID, b.ID) })
	slices.SortFunc(v.Unknowns, compareUnknown)
	v.UnknownsCount = len(v.Unknowns)
	v.VEXUnmatched = unmatched(in.VEX, v.Findings, in.Feed)
	if len(m.Inputs.VEXIgnored) > 0 {
		v.VEXIgnored = m.Inputs.VEXIgnored
	}
	v.Summary = artifacts.Summary{
		Components:     len(in.SBOM.Components),
		Findings:       len(v.Findings),
		BySeverity:     map[string]int{},
		ByOutcome:      map[string]int{},
		ByReachability: map[string]int{},
	}
	for _, s := range policy.Severities() {
		v.Summary.BySeverity[s] = 0
	}
	for _, o := range []string{artifacts.StatusFail, artifacts.StatusWarn, artifacts.StatusPass} {
		v.Summary.ByOutcome[o] = 0
	}
	for _, r := range policy.ReachabilityStates() {
		v.Summary.ByReachability[r] = 0
	}
	t := &policy.Totals{Components: int64(len(in.SBOM.Components)), Findings: int64(len(v.Findings)), Unknowns: int64(v.UnknownsCount)}
	v.Status = artifacts.StatusPass
	for _, f := range v.Findings {
		v.RiskScore += f.Points
		v.Summary.BySeverity[f.Severity]++
		v.Summary.ByOutcome[f.Outcome]++
		v.Summary.ByReachability[f.Reachability.State]++
		v.Status = worse(v.Status, f.Outcome)
		suppressed := f.VEX != nil && f.VEX.Applied
		excepted := f.Exception != nil && f.Exception.Status == ExceptionApplied
		switch {
		case suppressed:
			v.Summary.Suppressed++
			t.Suppressed++
		case excepted:
			v.Summary.Excepted++
			t.Excepted++
		default:
			t.Active++
			*severityCount(t, f.Severity)++
			if f.Reachability.State == "reachable" {
				t.Reachable++
			}
		}
		switch f.Outcome {
		case artifacts.StatusFail:
			t.Fail++
		case artifacts.StatusWarn:
			t.Warn++
		}
	}
	t.RiskScore = v.RiskScore
	fired, err := p.EvalVerdict(t)
	if err != nil {
		return nil, nil, err
	}
	for _, g := range fired {
		v.Gates = append(v.Gates, artifacts.Rule{Name: g.Name, Outcome: g.Outcome, Message: g.Message})
		v.Status = worse(v.Status, g.Outcome)
	}
	if m.Environment != "" {
		bc, err := budgetCheck(p, m.Environment, v.Unknowns)
		if err != nil {
			return nil, nil, err
		}
		v.BudgetCheck = bc
		v.Status = worse(v.Status, bc.Outcome)
	}
	return m, v, nil
}

func severityCount(t *policy.Totals, sev string) *int64 {
	switch sev {
	case SeverityCritical:
		return &t.Critical
	case SeverityHigh:
		return &t.High
	case SeverityMedium:
		return &t.Medium
	case SeverityLow:
		return &t.Low
	case SeverityNone:
		return &t.None
	}
	return &t.UnknownSeverity
}

// budgetCheck counts the unknowns against the environment's budget.
func budgetCheck(p *Policy, env string, unknowns []artifacts.Unknown) (*artifacts.BudgetCheck, error) {
	b, _ := p.Budget(env)
	hash, err := canonID(map[string]any{"environment": env, "budget": b})
	if err != nil {
		return nil, err
	}
	bc := &artifacts.BudgetCheck{
		Environment: env,
		Limits:      artifacts.BudgetLimits{MaxUnknowns: b.MaxUnknowns, MaxByReason: map[string]int{}},
		Counts:      artifacts.BudgetCounts{Unknowns: len(unknowns), ByReason: map[string]int{}},
		ConfigHash:  hash,
		Exceeded:    []string{},
		Outcome:     artifacts.StatusPass,
	}
	for r, n := range b.MaxByReason {
		bc.Limits.MaxByReason[r] = n
		bc.Counts.ByReason[r] = 0
	}
	for _, u := range unknowns {
		bc.Counts.ByReason[u.Reason]++
	}
	if b.MaxUnknowns >= 0 && bc.Counts.Unknowns > b.MaxUnknowns {
		bc.Exceeded = append(bc.Exceeded, "max_unknowns")
	}
	for _, r := range sortedKeys(b.MaxByReason) {
		if bc.Counts.ByReason[r] > b.MaxByReason[r] {
			bc.Exceeded = append(bc.Exceeded, "max_by_reason."+r)
		}
	}
	if len(bc.Exceeded) > 0 {
		bc.Outcome = b.Outcome
	}
	return bc, nil
}

// parallel calls f(0) … f(n-1) on up to min(GOMAXPROCS, 8, limit)
// goroutines and waits. Callers store results by index, so nothing depends
// on scheduling.
func parallel(n, limit int, f func(i int)) {
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(runtime.GOMAXPROCS(0), 8, limit) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := int(next.Add(1)) - 1; i < n; i = int(next.Add(1)) - 1 {
				f(i)
			}
		}()
	}
	wg.Wait()
}

func canonID(v any) (string, error) {
	_, id, err := canon.MarshalID(v)
	return id, err
}

type componentResult struct {
	findings []artifacts.Finding
	unknowns []artifacts.Unknown
	err      error
}

// matchAll matches every component, on up to GOMAXPROCS goroutines (at
// most 8: matching is CPU-bound and shares one record cache). Results are
// stored by component index and later sorted, so the verdict never depends
// on scheduling.
func matchAll(in *Inputs, p *Policy, sbomDigest string) ([]componentResult, error) {
	comps := in.SBOM.Components
	// Components whose version does not parse are unknowns, and still
	// match an advisory that lists their version verbatim.
	listed := in.SBOM.VersionUnparseable()
	n := len(comps) + len(listed)
	results := make([]componentResult, n)
	x := &evalCtx{snap: in.Feed, sbomDigest: sbomDigest, p: p, idx: newVEXIndex(in.VEX), reach: in.Reach, epoch: in.Feed.Epoch()}
	parallel(n, max(n/64, 1), func(i int) {
		r := &results[i]
		if i < len(comps) {
			r.findings, r.unknowns, r.err = matchComponent(&comps[i], false, x)
		} else {
			r.findings, r.unknowns, r.err = matchComponent(&listed[i-len(comps)], true, x)
		}
	})
	for _, r := range results {
		if r.err != nil {
			return nil, r.err
		}
	}
	return results, nil
}

func worse(a, b string) string {
	rank := map[string]int{artifacts.StatusPass: 0, artifacts.StatusWarn: 1, artifacts.StatusFail: 2}
	if rank[b] > rank[a] {
		return b
	}
	return a
}

// ManifestDigest is the content ID of a manifest's canonical JSON.
func ManifestDigest(m *artifacts.ScanManifest) (string, error) {
	_, id, err := canon.MarshalID(m)
	return id, err
}

func compareUnknown(a, b artifacts.Unknown) int {
	for _, p := range [][2]string{{a.Purl, b.Purl}, {a.Name, b.Name}, {a.Version, b.Version}, {a.Vulnerability, b.Vulnerability}, {a.Reason, b.Reason}, {a.BOMRef, b.BOMRef}, {a.Detail, b.Detail}} {
		if c := strings.Compare(p[0], p[1]); c != 0 {
			return c
		}
	}
	return 0
}

// findingID is the content ID of the (purl, vulnerability) pair.
func findingID(purl, vuln string) (string, error) {
	_, id, err := canon.MarshalID(map[string]string{"purl": purl, "vulnerability": vuln})
	return id, err
}

// Ecosystems lists the OSV ecosystems the SBOM's components (and the
// unknowns whose only problem is an unparseable version, matched against
// version lists) are looked up in, sorted: what a reader of a feed artifact must fetch record groups for
// (feed.Snapshot.Needs).
func Ecosystems(s *sbom.SBOM) []string {
	var out []string
	for _, c := range append(slices.Clone(s.Components), s.VersionUnparseable()...) {
		if c.Ecosystem != "" {
			out = append(out, c.Ecosystem)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}
