// Package policy is the policy bundle: authored in YAML (Compile), held as a
// canonical JSON intermediate representation whose content ID is the policy
// digest, and applied by the engine. Gates are CEL expressions (cel-go),
// linted for determinism and bounded in cost before a policy is accepted.
package policy

import (
	"slices"
	"strings"

	"github.com/stella-ops/stella-oras/canon"
)

// Severity levels and score sources, shared with the engine.
const (
	SeverityCritical = "critical"
	SeverityHigh     = "high"
	SeverityMedium   = "medium"
	SeverityLow      = "low"
	SeverityNone     = "none"
	SeverityUnknown  = "unknown"

	SourceCVSSv4           = "CVSS_V4"
	SourceCVSSv3           = "CVSS_V3"
	SourceCVSSv2           = "CVSS_V2"
	SourceDatabaseSpecific = "database_specific"

	OutcomeFail = "fail"
	OutcomeWarn = "warn"
	OutcomePass = "pass"

	MergeTrust     = "trust"
	MergeTimestamp = "timestamp"

	ScopeFinding = "finding"
	ScopeVerdict = "verdict"
)

// severities are the severity levels, worst first. Unexported, so that no
// caller can change what every verdict's summary lists.
var severities = []string{SeverityCritical, SeverityHigh, SeverityMedium, SeverityLow, SeverityNone, SeverityUnknown}

// Severities lists the severity levels, worst first (a copy).
func Severities() []string { return slices.Clone(severities) }

// Policy is the compiled intermediate representation. Its canonical JSON
// is what the digest covers; fields that the built-in default leaves empty
// are omitted so that the default's digest does not move when the language
// grows.
type Policy struct {
	Name               string   `json:"name"`
	Version            string   `json:"version"`
	SeverityPreference []string `json:"severity_preference"`
	// Outcome per severity level: fail, warn or pass.
	Outcomes map[string]string `json:"outcomes"`
	// Trust maps a VEX issuer to its trust level (higher wins); issuers not
	// listed get DefaultTrust. TrustLevels names the levels, lowest first
	// (level n is TrustLevels[n]).
	Trust        map[string]int `json:"trust,omitempty"`
	TrustLevels  []string       `json:"trust_levels,omitempty"`
	DefaultTrust int            `json:"default_trust,omitempty"`
	// MergeOrder orders the tie-breakers before the join: "trust" then
	// "timestamp" unless set.
	MergeOrder []string `json:"merge_order,omitempty"`
	// AcceptUnjustified lets a not_affected statement without evidence
	// suppress a finding (off: a justification, or an unreachable verdict,
	// is required).
	AcceptUnjustified bool              `json:"accept_unjustified,omitempty"`
	Gates             []Gate            `json:"gates,omitempty"`
	Budgets           map[string]Budget `json:"budgets,omitempty"`
	DefaultEnv        string            `json:"default_environment,omitempty"`
	Exceptions        []Exception       `json:"exceptions,omitempty"`
	Scoring           *Scoring          `json:"scoring,omitempty"`
	// programs holds the gates' compiled programs (see Prepare).
	programs programs
}

// Gate is a CEL rule. A finding gate sees `finding`, a verdict gate
// `totals`; when the expression is true the gate fires with its outcome.
type Gate struct {
	Name    string `json:"name"`
	Scope   string `json:"scope"`
	When    string `json:"when"`
	Outcome string `json:"outcome"`
	Message string `json:"message"`
}

// Budget bounds the unknowns of one environment.
type Budget struct {
	// MaxUnknowns bounds all unknowns; -1 means no bound.
	MaxUnknowns int `json:"max_unknowns"`
	// MaxByReason bounds the unknowns of one reason code.
	MaxByReason map[string]int `json:"max_by_reason,omitempty"`
	// Outcome when the budget is exceeded: fail or warn.
	Outcome string `json:"outcome"`
}

// Exception accepts a finding's risk until a date, compared with the feed
// snapshot's as-of instant (never the clock). At least one of
// Vulnerability, Purl and Finding is set; all that are set must match.
type Exception struct {
	ID            string `json:"id"`
	Vulnerability string `json:"vulnerability,omitempty"`
	Purl          string `json:"purl,omitempty"`
	Finding       string `json:"finding,omitempty"`
	Until         string `json:"until"` // RFC 3339, UTC
	Reason        string `json:"reason"`
}

// Scoring weights a finding's score (tenths of a CVSS point) in percent,
// by severity and by reachability, then rounds.
type Scoring struct {
	Severity     map[string]int `json:"severity_weights"`
	Reachability map[string]int `json:"reachability_weights"`
	// Unrated is the score given to a finding without a rating (tenths).
	Unrated  int    `json:"unrated_score"`
	Rounding string `json:"rounding"` // floor, ceil, half_up, half_even
}

// Rounding modes.
var roundings = []string{"floor", "ceil", "half_up", "half_even"}

// Default fails on a critical or high finding, warns on a medium one and
// on one whose advisory carries no severity, passes low and none; every
// VEX issuer is at one trust level and a justified suppression counts.
func Default() *Policy {
	return &Policy{
		Name:               "stella-default",
		Version:            "1.0.0",
		SeverityPreference: []string{SourceCVSSv4, SourceCVSSv3, SourceCVSSv2, SourceDatabaseSpecific},
		Outcomes:           defaultOutcomes(),
	}
}

func defaultOutcomes() map[string]string {
	return map[string]string{
		SeverityCritical: OutcomeFail,
		SeverityHigh:     OutcomeFail,
		SeverityMedium:   OutcomeWarn,
		SeverityUnknown:  OutcomeWarn,
		SeverityLow:      OutcomePass,
		SeverityNone:     OutcomePass,
	}
}

// Digest is the content ID of the policy's canonical JSON.
func (p *Policy) Digest() (string, error) {
	_, id, err := canon.MarshalID(p)
	return id, err
}

// IR is the policy's canonical JSON.
func (p *Policy) IR() ([]byte, error) {
	b, _, err := canon.MarshalID(p)
	return b, err
}

// TrustOf is an issuer's trust level.
func (p *Policy) TrustOf(issuer string) int {
	if l, ok := p.Trust[issuer]; ok {
		return l
	}
	return p.DefaultTrust
}

// TrustName names a trust level, when the policy names its levels.
func (p *Policy) TrustName(level int) string {
	if level >= 0 && level < len(p.TrustLevels) {
		return p.TrustLevels[level]
	}
	return ""
}

// Outcome is the base outcome for a severity level (warn when unlisted).
func (p *Policy) Outcome(sev string) string {
	if o, ok := p.Outcomes[sev]; ok {
		return o
	}
	return OutcomeWarn
}

// Merge is the order of tie-breakers before the join.
func (p *Policy) Merge() []string {
	if len(p.MergeOrder) == 0 {
		return []string{MergeTrust, MergeTimestamp}
	}
	return p.MergeOrder
}

// Budget returns the budget of an environment.
func (p *Policy) Budget(env string) (Budget, bool) {
	b, ok := p.Budgets[env]
	return b, ok
}

// Environments lists the environments the policy budgets, sorted.
func (p *Policy) Environments() []string {
	var out []string
	for e := range p.Budgets {
		out = append(out, e)
	}
	slices.Sort(out)
	return out
}

// Points is a finding's contribution to the risk score.
func (p *Policy) Points(score int, severity, reachability string) int64 {
	s := p.Scoring
	if s == nil {
		if score < 0 {
			return 50
		}
		return int64(score)
	}
	if score < 0 {
		score = s.Unrated
	}
	sw, ok := s.Severity[severity]
	if !ok {
		sw = 100
	}
	rw, ok := s.Reachability[reachability]
	if !ok {
		rw = 100
	}
	return divRound(int64(score)*int64(sw)*int64(rw), 10000, s.Rounding)
}

// divRound divides non-negative integers with the policy's rounding, in
// integer arithmetic so no platform's floating point can move a score.
func divRound(n, d int64, mode string) int64 {
	q, r := n/d, n%d
	switch mode {
	case "ceil":
		if r > 0 {
			q++
		}
	case "half_up":
		if 2*r >= d {
			q++
		}
	case "half_even":
		if 2*r > d || 2*r == d && q%2 == 1 {
			q++
		}
	}
	return q
}

// ExceptionMatches says whether an exception covers a finding.
func (e *Exception) Matches(findingID, purl string, vulns []string, purlMatch func(pattern, purl string) bool) bool {
	if e.Finding != "" && e.Finding != findingID {
		return false
	}
	if e.Vulnerability != "" && !slices.ContainsFunc(vulns, func(v string) bool { return strings.EqualFold(v, e.Vulnerability) }) {
		return false
	}
	if e.Purl != "" && !purlMatch(e.Purl, purl) {
		return false
	}
	return true
}
