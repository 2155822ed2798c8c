package engine

import (
	"github.com/stella-ops/stella-oras/artifacts"
	"github.com/stella-ops/stella-oras/canon"
)

// Policy is the part of a policy the scan core applies. The full policy
// language (CEL gates, trust registry, budgets) extends it; the built-in
// default is expressed in the same terms.
type Policy struct {
	Name               string   `json:"name"`
	Version            string   `json:"version"`
	SeverityPreference []string `json:"severity_preference"`
	// Outcome per severity level: fail, warn or pass.
	Outcomes map[string]string `json:"outcomes"`
	// Trust maps a VEX issuer to its trust level (higher wins); issuers not
	// listed get DefaultTrust. The default policy lists none: every issuer
	// is at one level.
	Trust        map[string]int `json:"trust,omitempty"`
	DefaultTrust int            `json:"default_trust,omitempty"`
	// AcceptUnjustified lets a not_affected statement without a
	// justification suppress a finding (off: evidence is required).
	AcceptUnjustified bool `json:"accept_unjustified,omitempty"`
}

func (p *Policy) trust(issuer string) int {
	if l, ok := p.Trust[issuer]; ok {
		return l
	}
	return p.DefaultTrust
}

// DefaultPolicy fails on a critical or high finding, warns on a medium one
// and on one whose advisory carries no severity, passes low and none.
func DefaultPolicy() *Policy {
	return &Policy{
		Name:               "stella-default",
		Version:            "1.0.0",
		SeverityPreference: []string{SourceCVSSv4, SourceCVSSv3, SourceCVSSv2, SourceDatabaseSpecific},
		Outcomes: map[string]string{
			SeverityCritical: artifacts.StatusFail,
			SeverityHigh:     artifacts.StatusFail,
			SeverityMedium:   artifacts.StatusWarn,
			SeverityUnknown:  artifacts.StatusWarn,
			SeverityLow:      artifacts.StatusPass,
			SeverityNone:     artifacts.StatusPass,
		},
	}
}

// Digest is the content ID of the policy's canonical JSON.
func (p *Policy) Digest() (string, error) {
	_, id, err := canon.MarshalID(p)
	return id, err
}

func (p *Policy) outcome(sev string) string {
	if o, ok := p.Outcomes[sev]; ok {
		return o
	}
	return artifacts.StatusWarn
}
