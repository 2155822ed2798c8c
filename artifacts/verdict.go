package artifacts

// The documents the scan core reads and writes. All are serialized as
// canonical JSON (package canon); field names are part of the format.

// Engine names the evaluator that produced a verdict.
type Engine struct {
	Name    string `json:"name"`
	Version string `json:"version"`
}

// InputRef identifies one input document by content ID.
type InputRef struct {
	Digest string `json:"digest"`
	Format string `json:"format,omitempty"`
}

// FeedRef identifies the vulnerability-feed snapshot.
type FeedRef struct {
	Digest string `json:"digest"`
	Epoch  string `json:"epoch"`
}

// PolicyRef identifies the policy.
type PolicyRef struct {
	Digest  string `json:"digest"`
	Name    string `json:"name"`
	Version string `json:"version"`
}

// Inputs lists every input of an evaluation by content ID.
type Inputs struct {
	SBOM         InputRef   `json:"sbom"`
	VEX          []InputRef `json:"vex"`
	Reachability *InputRef  `json:"reachability"`
	Feed         FeedRef    `json:"feed"`
	Policy       PolicyRef  `json:"policy"`
}

// ScanManifest is everything a verdict depends on. Its content ID is the
// verdict's manifest_digest; replaying the same manifest gives the same
// verdict bytes.
type ScanManifest struct {
	CanonVersion string   `json:"_canonVersion"`
	Kind         string   `json:"kind"`
	Engine       Engine   `json:"engine"`
	Inputs       Inputs   `json:"inputs"`
	OptionsHash  string   `json:"options_hash"`
	Subject      *Subject `json:"subject"`
}

// Subject is the image a verdict judges, when known.
type Subject struct {
	Name   string `json:"name"`
	Digest string `json:"digest"`
}

// Verdict statuses.
const (
	StatusPass = "pass"
	StatusWarn = "warn"
	StatusFail = "fail"
)

// Verdict is the decision over one scan manifest.
type Verdict struct {
	CanonVersion   string    `json:"_canonVersion"`
	Kind           string    `json:"kind"`
	Engine         Engine    `json:"engine"`
	ManifestDigest string    `json:"manifest_digest"`
	Policy         PolicyRef `json:"policy"`
	Status         string    `json:"status"`
	// RiskScore is the sum over findings of their score in tenths of a CVSS
	// point (integer arithmetic; see Finding.Score).
	RiskScore     int64     `json:"risk_score"`
	UnknownsCount int       `json:"unknowns_count"`
	Summary       Summary   `json:"summary"`
	Findings      []Finding `json:"findings"`
	Unknowns      []Unknown `json:"unknowns"`
}

// Summary counts findings by severity and by outcome.
type Summary struct {
	Components int            `json:"components"`
	Findings   int            `json:"findings"`
	BySeverity map[string]int `json:"by_severity"`
	ByOutcome  map[string]int `json:"by_outcome"`
}

// Finding is one vulnerability in one component.
type Finding struct {
	// ID is the content ID of {"purl", "vulnerability"}: stable across
	// feeds and runs, the key deltas and exceptions refer to.
	ID            string   `json:"id"`
	Purl          string   `json:"purl"`
	Ecosystem     string   `json:"ecosystem"`
	Name          string   `json:"name"`
	Version       string   `json:"version"`
	Vulnerability string   `json:"vulnerability"`
	Aliases       []string `json:"aliases"`
	Records       []string `json:"records"`
	Summary       string   `json:"summary"`
	Severity      string   `json:"severity"`
	// Score is the base score in tenths (CVSS 9.8 -> 98); for a
	// database-specific rating the lower bound of its band; -1 if none.
	Score         int      `json:"score"`
	ScoreSource   string   `json:"score_source"`
	Vector        string   `json:"vector,omitempty"`
	FixedVersions []string `json:"fixed_versions"`
	Evidence      []string `json:"evidence"`
	Reasons       []string `json:"reasons"`
	Outcome       string   `json:"outcome"`
	Explanation   string   `json:"explanation"`
	// VEX is the merged VEX decision for the finding, when any statement
	// applies.
	VEX *VEXDecision `json:"vex,omitempty"`
}

// VEXDecision records how the applicable VEX statements were merged.
type VEXDecision struct {
	// Status is the merged status: affected, not_affected, fixed,
	// under_investigation, or contested (a true conflict, treated as
	// affected).
	Status string `json:"status"`
	// Applied says whether the decision changed the finding's outcome (a
	// suppression with evidence).
	Applied bool `json:"applied"`
	// Reason is a machine reason code for the decision.
	Reason        string   `json:"reason"`
	Justification string   `json:"justification,omitempty"`
	Issuer        string   `json:"issuer,omitempty"`
	Statements    []string `json:"statements"` // source content IDs of the statements merged
}

// Unknown is something the engine could not judge.
type Unknown struct {
	Reason        string `json:"reason"`
	Purl          string `json:"purl,omitempty"`
	Name          string `json:"name,omitempty"`
	Version       string `json:"version,omitempty"`
	BOMRef        string `json:"bom_ref,omitempty"`
	Vulnerability string `json:"vulnerability,omitempty"`
	Detail        string `json:"detail,omitempty"`
}
