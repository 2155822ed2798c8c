package delta

import (
	"encoding/json"
	"fmt"

	"github.com/stella-ops/stella-oras/artifacts"
	"github.com/stella-ops/stella-oras/canon"
)

// leanVerdict holds the verdict members a delta reads: decoding only these
// skips the explanations and evidence that make up most of the bytes.
type leanVerdict struct {
	Kind           string           `json:"kind"`
	ManifestDigest string           `json:"manifest_digest"`
	Status         string           `json:"status"`
	RiskScore      int64            `json:"risk_score"`
	UnknownsCount  int              `json:"unknowns_count"`
	Gates          []artifacts.Rule `json:"gates"`
	BudgetCheck    *struct {
		Environment string `json:"environment"`
		Outcome     string `json:"outcome"`
	} `json:"budget_check"`
	Findings []struct {
		ID            string `json:"id"`
		Purl          string `json:"purl"`
		Vulnerability string `json:"vulnerability"`
		Severity      string `json:"severity"`
		Outcome       string `json:"outcome"`
		VEX           *struct {
			Status string `json:"status"`
		} `json:"vex"`
		Reachability struct {
			State string `json:"state"`
		} `json:"reachability"`
		Rules []struct {
			Name    string `json:"name"`
			Outcome string `json:"outcome"`
		} `json:"rules"`
	} `json:"findings"`
}

// Decode reads a verdict document for a delta (any JSON serialization of
// it; the digest is that of its canonical form).
//
// Verdicts are written canonical, so b is first scanned in place, which
// also checks its form (scanVerdict): a canonical b is its own canonical
// form, and is hashed as it is. Anything else, another serialization of a
// verdict or not one at all, is canonicalized and scanned again, which
// decides the error.
func Decode(b []byte) (*artifacts.Verdict, string, error) {
	v, ok := scanVerdict(b)
	c := b
	if !ok {
		var err error
		if c, err = canon.Transform(b); err != nil {
			return nil, "", err
		}
		if v, ok = scanVerdict(c); !ok {
			return nil, "", fmt.Errorf("not a stella-oras verdict: a member has the wrong type or shape")
		}
	}
	if err := check(v); err != nil {
		return nil, "", err
	}
	return v, canon.ContentID(c), nil
}

// maxCount bounds risk scores and unknowns counts: exact in a double, and
// far from int64 overflow when a delta subtracts them.
const maxCount = 1 << 53

// check is what both decoders require of a verdict.
func check(v *artifacts.Verdict) error {
	if v.Kind != artifacts.KindVerdict {
		return fmt.Errorf("not a stella-oras verdict (kind %q)", v.Kind)
	}
	if v.RiskScore < 0 || v.RiskScore > maxCount {
		return fmt.Errorf("risk_score %d is outside 0..2^53", v.RiskScore)
	}
	if v.UnknownsCount < 0 || int64(v.UnknownsCount) > maxCount {
		return fmt.Errorf("unknowns_count %d is outside 0..2^53", v.UnknownsCount)
	}
	return nil
}

// decodeJSON is Decode through encoding/json: the reference the scanner is
// tested against.
func decodeJSON(b []byte) (*artifacts.Verdict, string, error) {
	c, err := canon.Transform(b)
	if err != nil {
		return nil, "", err
	}
	var lv leanVerdict
	if err := json.Unmarshal(c, &lv); err != nil {
		return nil, "", fmt.Errorf("not a stella-oras verdict: %v", err)
	}
	v := &artifacts.Verdict{Kind: lv.Kind, ManifestDigest: lv.ManifestDigest, Status: lv.Status, RiskScore: lv.RiskScore, UnknownsCount: lv.UnknownsCount, Gates: lv.Gates}
	if b := lv.BudgetCheck; b != nil {
		v.BudgetCheck = &artifacts.BudgetCheck{Environment: b.Environment, Outcome: b.Outcome}
	}
	v.Findings = make([]artifacts.Finding, len(lv.Findings))
	for i, f := range lv.Findings {
		v.Findings[i] = artifacts.Finding{ID: f.ID, Purl: f.Purl, Vulnerability: f.Vulnerability, Severity: f.Severity, Outcome: f.Outcome}
		if f.VEX != nil {
			v.Findings[i].VEX = &artifacts.VEXDecision{Status: f.VEX.Status}
		}
		v.Findings[i].Reachability.State = f.Reachability.State
		for _, r := range f.Rules {
			v.Findings[i].Rules = append(v.Findings[i].Rules, artifacts.Rule{Name: r.Name, Outcome: r.Outcome})
		}
	}
	if err := check(v); err != nil {
		return nil, "", err
	}
	return v, canon.ContentID(c), nil
}
