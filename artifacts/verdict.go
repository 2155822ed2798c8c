package artifacts

// The documents the scan core reads and writes. All are serialized as
// canonical JSON (package canon); field names are part of the format.

// Engine names the evaluator that produced a verdict.
type Engine struct {
	Name    string `json:"name"`
	Version string `json:"version"`
}

// InputRef identifies one input document: Digest is the content ID of its
// normalized form (what the verdict depends on), Stored the digest of its
// bytes as read or attached (what a replay fetches: an OCI blob digest).
type InputRef struct {
	Digest string `json:"digest"`
	Format string `json:"format,omitempty"`
	Stored string `json:"stored"`
}

// IgnoredInput is an input that was found but not evaluated (a VEX
// document from the registry that no trusted key signed), with a reason
// code. It is listed because its presence is part of what was judged.
type IgnoredInput struct {
	Stored string `json:"stored"`
	Reason string `json:"reason"`
}

// FeedRef identifies the vulnerability-feed snapshot by the content ID of
// its index document, which names every record group by digest; the index
// is canonical, so its content ID is also its stored blob digest.
type FeedRef struct {
	Digest string `json:"digest"`
	Epoch  string `json:"epoch"`
}

// PolicyRef identifies the policy by the content ID of its compiled IR
// (canonical, so also the IR's blob digest).
type PolicyRef struct {
	Digest  string `json:"digest"`
	Name    string `json:"name"`
	Version string `json:"version"`
}

// Inputs lists every input of an evaluation by content ID.
type Inputs struct {
	SBOM InputRef   `json:"sbom"`
	VEX  []InputRef `json:"vex"`
	// VEXIgnored are VEX documents found and not merged (sorted by Stored).
	VEXIgnored   []IgnoredInput `json:"vex_ignored"`
	Reachability *InputRef      `json:"reachability"`
	Feed         FeedRef        `json:"feed"`
	Policy       PolicyRef      `json:"policy"`
}

// ScanManifest is everything a verdict depends on. Its content ID is the
// verdict's manifest_digest; replaying the same manifest gives the same
// verdict bytes.
type ScanManifest struct {
	CanonVersion string `json:"_canonVersion"`
	Kind         string `json:"kind"`
	Engine       Engine `json:"engine"`
	Inputs       Inputs `json:"inputs"`
	// Environment selects the policy's unknowns budget ("" for none).
	Environment string   `json:"environment,omitempty"`
	OptionsHash string   `json:"options_hash"`
	Subject     *Subject `json:"subject"`
}

// Subject is the image a verdict judges, when known. Evaluate records the
// digest alone: the same image judged through a mirror, another registry
// name or another layout directory gets the byte-identical verdict.
type Subject struct {
	Name   string `json:"name,omitempty"`
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
	RiskScore     int64   `json:"risk_score"`
	UnknownsCount int     `json:"unknowns_count"`
	Summary       Summary `json:"summary"`
	// Gates are the policy's verdict gates that fired, in policy order.
	Gates []Rule `json:"gates"`
	// BudgetCheck is the unknowns budget of the environment, when one is
	// selected.
	BudgetCheck *BudgetCheck `json:"budget_check"`
	Findings    []Finding    `json:"findings"`
	Unknowns    []Unknown    `json:"unknowns"`
	// VEXUnmatched lists the VEX statements that apply to no finding, with
	// a reason code (present when VEX documents were given).
	VEXUnmatched []VEXNote `json:"vex_unmatched,omitempty"`
	// VEXIgnored lists the VEX documents that were found but not merged,
	// with a reason code (present when there are any).
	VEXIgnored []IgnoredInput `json:"vex_ignored,omitempty"`
}

// VEXNote is a VEX statement that applied to no finding.
type VEXNote struct {
	Source        string `json:"source"`
	Vulnerability string `json:"vulnerability"`
	Product       string `json:"product"`
	Reason        string `json:"reason"`
}

// Rule is a policy rule that fired: a gate, or the severity table.
type Rule struct {
	Name    string `json:"name"`
	Outcome string `json:"outcome"`
	Message string `json:"message"`
}

// BudgetCheck is the "BudgetCheck" predicate: the unknowns budget of one
// environment against the verdict's counts.
type BudgetCheck struct {
	Environment string       `json:"environment"`
	Limits      BudgetLimits `json:"limits"`
	Counts      BudgetCounts `json:"counts"`
	ConfigHash  string       `json:"config_hash"`
	Exceeded    []string     `json:"exceeded"` // the limits exceeded, e.g. "max_unknowns", "max_by_reason.NO_PURL"
	Outcome     string       `json:"outcome"`  // pass, or the budget's outcome when exceeded
}

// BudgetLimits are the limits of a budget (-1: unbounded).
type BudgetLimits struct {
	MaxUnknowns int            `json:"max_unknowns"`
	MaxByReason map[string]int `json:"max_by_reason"`
}

// BudgetCounts are the unknowns counted against a budget.
type BudgetCounts struct {
	Unknowns int            `json:"unknowns"`
	ByReason map[string]int `json:"by_reason"`
}

// Summary counts findings by severity and by outcome.
type Summary struct {
	Components     int            `json:"components"`
	Findings       int            `json:"findings"`
	BySeverity     map[string]int `json:"by_severity"`
	ByOutcome      map[string]int `json:"by_outcome"`
	ByReachability map[string]int `json:"by_reachability"`
	Suppressed     int            `json:"suppressed"`
	Excepted       int            `json:"excepted"`
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
	// Reachability is the finding's reachability and its evidence.
	Reachability Reachability `json:"reachability"`
	// Rules are the policy rules that fired for the finding, the severity
	// table first, then gates in policy order.
	Rules []Rule `json:"rules"`
	// Exception is the policy exception that covers the finding, applied
	// or expired.
	Exception *ExceptionDecision `json:"exception,omitempty"`
	// Points is the finding's contribution to the risk score.
	Points int64 `json:"points"`
}

// Reachability is reachable, unreachable or unknown, with evidence: the
// node IDs from an entrypoint to the vulnerable symbol, or govulncheck's
// trace (entry first).
type Reachability struct {
	State    string   `json:"state"`
	Source   string   `json:"source,omitempty"`
	Reason   string   `json:"reason"`
	Evidence []string `json:"evidence"`
}

// ExceptionDecision records a policy exception that matched a finding.
type ExceptionDecision struct {
	ID     string `json:"id"`
	Status string `json:"status"` // applied, or expired (until is at or before the feed's as-of instant)
	Until  string `json:"until"`
	Reason string `json:"reason"`
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
