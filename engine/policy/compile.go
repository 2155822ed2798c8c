package policy

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"regexp"
	"slices"
	"strings"
	"time"

	yamlv3 "go.yaml.in/yaml/v3"
	"golang.org/x/mod/semver"
	"sigs.k8s.io/yaml"
)

// APIVersion is the policy source format this compiler reads.
const APIVersion = "stella-ops.org/policy/v1"

// ErrPolicy marks a policy that does not compile or lint.
var ErrPolicy = errors.New("invalid policy")

// MaxSourceBytes bounds a policy source file.
const MaxSourceBytes = 4 << 20

// Source is the YAML (or JSON) a policy author writes.
type Source struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Name       string `json:"name"`
	Version    string `json:"version"`
	Severity   struct {
		Prefer   []string          `json:"prefer"`
		Outcomes map[string]string `json:"outcomes"`
	} `json:"severity"`
	VEX struct {
		Trust struct {
			Levels  []string          `json:"levels"` // highest first
			Default string            `json:"default"`
			Issuers map[string]string `json:"issuers"`
		} `json:"trust"`
		MergeOrder        []string `json:"merge_order"`
		AcceptUnjustified bool     `json:"accept_unjustified"`
	} `json:"vex"`
	Gates   []SourceGate `json:"gates"`
	Budgets struct {
		Default      string                  `json:"default"`
		Environments map[string]SourceBudget `json:"environments"`
	} `json:"budgets"`
	Exceptions []SourceException `json:"exceptions"`
	Scoring    *struct {
		SeverityWeights     map[string]int `json:"severity_weights"`
		ReachabilityWeights map[string]int `json:"reachability_weights"`
		UnratedScore        *int           `json:"unrated_score"`
		Rounding            string         `json:"rounding"`
	} `json:"scoring"`
}

// SourceGate is a gate as authored.
type SourceGate struct {
	Name    string `json:"name"`
	Scope   string `json:"scope"`
	When    string `json:"when"`
	Outcome string `json:"outcome"`
	Message string `json:"message"`
}

// SourceBudget is an environment's budget as authored.
type SourceBudget struct {
	MaxUnknowns *int           `json:"max_unknowns"`
	MaxByReason map[string]int `json:"max_by_reason"`
	Outcome     string         `json:"outcome"`
}

// SourceException is an exception as authored.
type SourceException struct {
	ID            string `json:"id"`
	Vulnerability string `json:"vulnerability"`
	Purl          string `json:"purl"`
	Finding       string `json:"finding"`
	Until         string `json:"until"`
	Reason        string `json:"reason"`
}

// Compile reads a policy source (YAML or JSON) and returns its IR, linted:
// every gate type-checks, is free of non-deterministic constructs and is
// within the cost bound. Errors name the file and the field.
func Compile(data []byte, file string) (*Policy, error) {
	fail := func(path, format string, a ...any) error {
		return fmt.Errorf("%w: %s: %s: %s", ErrPolicy, file, path, fmt.Sprintf(format, a...))
	}
	if len(data) > MaxSourceBytes {
		return nil, fail("$", "larger than %d bytes", MaxSourceBytes)
	}
	// sigs.k8s.io/yaml converts the first YAML document and drops the
	// rest, broken or not: a source is exactly one document.
	if n, err := yamlDocuments(data); err != nil {
		return nil, fmt.Errorf("%w: %s: %s", ErrPolicy, file, strings.Join(strings.Fields(err.Error()), " "))
	} else if n > 1 {
		return nil, fail("$", "%d documents: a policy source is one", n)
	}
	js, err := yaml.YAMLToJSONStrict(data)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %s", ErrPolicy, file, strings.Join(strings.Fields(err.Error()), " "))
	}
	var src Source
	dec := json.NewDecoder(bytes.NewReader(js))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&src); err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrPolicy, file, err)
	}
	if dec.More() {
		return nil, fail("$", "more than one document")
	}
	return src.compile(fail)
}

// yamlDocuments counts the YAML documents in data (a later document that
// does not parse is an error, not dropped). Documents are decoded into
// nodes, which expand no aliases.
func yamlDocuments(data []byte) (int, error) {
	dec := yamlv3.NewDecoder(bytes.NewReader(data))
	n := 0
	for {
		var node yamlv3.Node
		if err := dec.Decode(&node); errors.Is(err, io.EOF) {
			return n, nil
		} else if err != nil {
			return n, fmt.Errorf("document %d: %w", n+1, err)
		}
		if !emptyDocument(&node) {
			n++
		}
	}
}

// emptyDocument: no content, or only an implicit null (a trailing ---).
func emptyDocument(d *yamlv3.Node) bool {
	if len(d.Content) == 0 {
		return true
	}
	c := d.Content[0]
	return len(d.Content) == 1 && c.Kind == yamlv3.ScalarNode && c.Tag == "!!null" && c.Value == "" && c.Style == 0
}

var (
	nameRE   = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,62}$`)
	reasonRE = regexp.MustCompile(`^[A-Z][A-Z0-9_]*$`)
	outcomes = []string{OutcomeFail, OutcomeWarn, OutcomePass}
	sources  = []string{SourceCVSSv4, SourceCVSSv3, SourceCVSSv2, SourceDatabaseSpecific}
)

func (s *Source) compile(fail func(path, format string, a ...any) error) (*Policy, error) {
	if s.APIVersion != APIVersion {
		return nil, fail("apiVersion", "%q, want %q", s.APIVersion, APIVersion)
	}
	if s.Kind != "Policy" {
		return nil, fail("kind", "%q, want \"Policy\"", s.Kind)
	}
	if !nameRE.MatchString(s.Name) {
		return nil, fail("name", "%q must match %s", s.Name, nameRE)
	}
	if !semver.IsValid("v"+s.Version) || semver.Canonical("v"+s.Version) != "v"+s.Version && !strings.Contains(s.Version, "+") {
		return nil, fail("version", "%q is not a semantic version (MAJOR.MINOR.PATCH)", s.Version)
	}
	p := &Policy{Name: s.Name, Version: s.Version, Outcomes: defaultOutcomes(), SeverityPreference: Default().SeverityPreference}

	if len(s.Severity.Prefer) > 0 {
		seen := map[string]bool{}
		for i, src := range s.Severity.Prefer {
			if !slices.Contains(sources, src) {
				return nil, fail(fmt.Sprintf("severity.prefer[%d]", i), "%q is not one of %s", src, strings.Join(sources, ", "))
			}
			if seen[src] {
				return nil, fail(fmt.Sprintf("severity.prefer[%d]", i), "%q listed twice", src)
			}
			seen[src] = true
		}
		p.SeverityPreference = s.Severity.Prefer
	}
	for _, sev := range sortedKeys(s.Severity.Outcomes) {
		o := s.Severity.Outcomes[sev]
		if !slices.Contains(severities, sev) {
			return nil, fail("severity.outcomes."+sev, "unknown severity (want one of %s)", strings.Join(severities, ", "))
		}
		if !slices.Contains(outcomes, o) {
			return nil, fail("severity.outcomes."+sev, "outcome %q is not fail, warn or pass", o)
		}
		p.Outcomes[sev] = o
	}

	t := &s.VEX.Trust
	level := map[string]int{}
	for i, l := range t.Levels {
		if !nameRE.MatchString(l) {
			return nil, fail(fmt.Sprintf("vex.trust.levels[%d]", i), "%q must match %s", l, nameRE)
		}
		if _, dup := level[l]; dup {
			return nil, fail(fmt.Sprintf("vex.trust.levels[%d]", i), "%q listed twice", l)
		}
		level[l] = len(t.Levels) - 1 - i
	}
	if len(t.Levels) > 0 {
		p.TrustLevels = make([]string, len(t.Levels))
		for l, n := range level {
			p.TrustLevels[n] = l
		}
		def := t.Default
		if def == "" {
			def = t.Levels[len(t.Levels)-1]
		}
		n, ok := level[def]
		if !ok {
			return nil, fail("vex.trust.default", "%q is not a level in vex.trust.levels", def)
		}
		p.DefaultTrust = n
	} else if t.Default != "" || len(t.Issuers) > 0 {
		return nil, fail("vex.trust.levels", "required when issuers or a default level are given")
	}
	if len(t.Issuers) > 0 {
		p.Trust = map[string]int{}
		for _, iss := range sortedKeys(t.Issuers) {
			n, ok := level[t.Issuers[iss]]
			if !ok {
				return nil, fail("vex.trust.issuers."+iss, "level %q is not in vex.trust.levels", t.Issuers[iss])
			}
			p.Trust[iss] = n
		}
	}
	if len(s.VEX.MergeOrder) > 0 {
		o := s.VEX.MergeOrder
		if len(o) != 2 || !slices.Contains(o, MergeTrust) || !slices.Contains(o, MergeTimestamp) {
			return nil, fail("vex.merge_order", "%q must list trust and timestamp once each, in the order they break ties (the join comes last)", o)
		}
		if o[0] != MergeTrust {
			p.MergeOrder = o // the default order is left out of the IR
		}
	}
	p.AcceptUnjustified = s.VEX.AcceptUnjustified

	names := map[string]bool{}
	var progs []*program // kept for validate and evaluation: a gate is compiled once
	for i, g := range s.Gates {
		path := fmt.Sprintf("gates[%d]", i)
		if !nameRE.MatchString(g.Name) {
			return nil, fail(path+".name", "%q must match %s", g.Name, nameRE)
		}
		if names[g.Name] {
			return nil, fail(path+".name", "gate %q defined twice", g.Name)
		}
		names[g.Name] = true
		if g.Scope == "" {
			g.Scope = ScopeFinding
		}
		if g.Scope != ScopeFinding && g.Scope != ScopeVerdict {
			return nil, fail(path+".scope", "%q is not finding or verdict", g.Scope)
		}
		if g.Outcome != OutcomeFail && g.Outcome != OutcomeWarn {
			return nil, fail(path+".outcome", "%q is not fail or warn", g.Outcome)
		}
		if strings.TrimSpace(g.When) == "" {
			return nil, fail(path+".when", "empty expression")
		}
		if g.Message == "" {
			return nil, fail(path+".message", "a message template is required")
		}
		if err := checkTemplate(g.Message, g.Scope); err != nil {
			return nil, fail(path+".message", "%v", err)
		}
		gate := Gate{Name: g.Name, Scope: g.Scope, When: g.When, Outcome: g.Outcome, Message: g.Message}
		prg, err := compileGate(&gate)
		if err != nil {
			return nil, fail(path+".when", "%v", err)
		}
		p.Gates = append(p.Gates, gate)
		progs = append(progs, prg)
	}

	for _, env := range sortedKeys(s.Budgets.Environments) {
		b := s.Budgets.Environments[env]
		path := "budgets.environments." + env
		if !nameRE.MatchString(env) {
			return nil, fail(path, "environment name must match %s", nameRE)
		}
		out := Budget{MaxUnknowns: -1, Outcome: b.Outcome}
		if out.Outcome == "" {
			out.Outcome = OutcomeFail
		}
		if out.Outcome != OutcomeFail && out.Outcome != OutcomeWarn {
			return nil, fail(path+".outcome", "%q is not fail or warn", b.Outcome)
		}
		if b.MaxUnknowns != nil {
			if *b.MaxUnknowns < 0 {
				return nil, fail(path+".max_unknowns", "negative")
			}
			out.MaxUnknowns = *b.MaxUnknowns
		}
		for _, r := range sortedKeys(b.MaxByReason) {
			if !reasonRE.MatchString(r) || b.MaxByReason[r] < 0 {
				return nil, fail(path+".max_by_reason."+r, "want an upper-case reason code and a non-negative count")
			}
		}
		if len(b.MaxByReason) > 0 {
			out.MaxByReason = b.MaxByReason
		}
		if b.MaxUnknowns == nil && len(b.MaxByReason) == 0 {
			return nil, fail(path, "sets no limit (max_unknowns or max_by_reason)")
		}
		if p.Budgets == nil {
			p.Budgets = map[string]Budget{}
		}
		p.Budgets[env] = out
	}
	if d := s.Budgets.Default; d != "" {
		if _, ok := p.Budgets[d]; !ok {
			return nil, fail("budgets.default", "%q is not in budgets.environments", d)
		}
		p.DefaultEnv = d
	}

	ids := map[string]bool{}
	for i, e := range s.Exceptions {
		path := fmt.Sprintf("exceptions[%d]", i)
		if strings.TrimSpace(e.ID) == "" {
			return nil, fail(path+".id", "required")
		}
		if ids[e.ID] {
			return nil, fail(path+".id", "%q used twice", e.ID)
		}
		ids[e.ID] = true
		if strings.TrimSpace(e.Reason) == "" {
			return nil, fail(path+".reason", "required: say why the risk is accepted")
		}
		if e.Vulnerability == "" && e.Purl == "" && e.Finding == "" {
			return nil, fail(path, "names nothing: set vulnerability, purl or finding")
		}
		if e.Purl != "" && !strings.HasPrefix(e.Purl, "pkg:") {
			return nil, fail(path+".purl", "%q is not a package URL", e.Purl)
		}
		if e.Finding != "" && !strings.HasPrefix(e.Finding, "sha256:") {
			return nil, fail(path+".finding", "%q is not a finding ID (sha256:…)", e.Finding)
		}
		until, err := parseInstant(e.Until)
		if err != nil {
			return nil, fail(path+".until", "%v", err)
		}
		p.Exceptions = append(p.Exceptions, Exception{ID: e.ID, Vulnerability: e.Vulnerability, Purl: e.Purl, Finding: e.Finding, Until: until, Reason: e.Reason})
	}
	slices.SortFunc(p.Exceptions, func(a, b Exception) int { return strings.Compare(a.ID, b.ID) })

	if sc := s.Scoring; sc != nil {
		out := &Scoring{Severity: map[string]int{}, Reachability: map[string]int{}, Unrated: 50, Rounding: sc.Rounding}
		if out.Rounding == "" {
			out.Rounding = "half_even"
		}
		if !slices.Contains(roundings, out.Rounding) {
			return nil, fail("scoring.rounding", "%q is not one of %s", sc.Rounding, strings.Join(roundings, ", "))
		}
		for _, k := range sortedKeys(sc.SeverityWeights) {
			if !slices.Contains(severities, k) {
				return nil, fail("scoring.severity_weights."+k, "unknown severity")
			}
			if w := sc.SeverityWeights[k]; w < 0 || w > 10000 {
				return nil, fail("scoring.severity_weights."+k, "weight %d is outside 0..10000 (percent)", w)
			}
			out.Severity[k] = sc.SeverityWeights[k]
		}
		for _, k := range sortedKeys(sc.ReachabilityWeights) {
			if !slices.Contains(reachabilityStates, k) {
				return nil, fail("scoring.reachability_weights."+k, "unknown reachability (want %s)", strings.Join(reachabilityStates, ", "))
			}
			if w := sc.ReachabilityWeights[k]; w < 0 || w > 10000 {
				return nil, fail("scoring.reachability_weights."+k, "weight %d is outside 0..10000 (percent)", w)
			}
			out.Reachability[k] = sc.ReachabilityWeights[k]
		}
		if sc.UnratedScore != nil {
			if *sc.UnratedScore < 0 || *sc.UnratedScore > 100 {
				return nil, fail("scoring.unrated_score", "%d is outside 0..100 (tenths of a CVSS point)", *sc.UnratedScore)
			}
			out.Unrated = *sc.UnratedScore
		}
		p.Scoring = out
	}
	if err := p.validate(fail, progs); err != nil {
		return nil, err // a bug in the compiler, if it ever happens
	}
	return p, nil
}

// reachabilityStates are the reachability verdicts a finding can carry.
var reachabilityStates = []string{"reachable", "unreachable", "unknown"}

// ReachabilityStates lists the reachability verdicts a finding can carry
// (a copy: the verdict summary counts each).
func ReachabilityStates() []string { return slices.Clone(reachabilityStates) }

// parseInstant reads a date (YYYY-MM-DD, meaning its start in UTC) or an
// RFC 3339 instant and returns it in RFC 3339 UTC.
func parseInstant(s string) (string, error) {
	if s == "" {
		return "", errors.New("required: an exception must expire (YYYY-MM-DD or RFC 3339)")
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		t, err = time.Parse(time.DateOnly, s)
	}
	if err != nil {
		return "", fmt.Errorf("%q is not a date (YYYY-MM-DD) or an RFC 3339 instant", s)
	}
	return t.UTC().Format(time.RFC3339), nil
}

// sortedKeys lists a map's keys in order; never nil (an empty list is
// serialized as [], not null).
func sortedKeys[V any](m map[string]V) []string {
	if len(m) == 0 {
		return []string{}
	}
	return slices.Sorted(maps.Keys(m))
}

// Load reads a policy as authored (YAML or JSON with apiVersion) or as a
// compiled IR (canonical JSON, as `policy compile` writes and registries
// store); an IR is checked as strictly as a source.
func Load(data []byte, file string) (*Policy, error) {
	if len(data) > MaxSourceBytes {
		return nil, fmt.Errorf("%w: %s: larger than %d bytes", ErrPolicy, file, MaxSourceBytes)
	}
	var probe struct {
		APIVersion *string `json:"apiVersion"`
	}
	if err := yaml.Unmarshal(data, &probe); err == nil && probe.APIVersion == nil && bytes.HasPrefix(bytes.TrimSpace(data), []byte("{")) {
		return FromIR(data, file)
	}
	return Compile(data, file)
}

// FromIR decodes a compiled policy and lints it again: gates compile,
// outcomes, sources, budgets and exceptions are well formed.
func FromIR(data []byte, file string) (*Policy, error) {
	fail := func(path, format string, a ...any) error {
		return fmt.Errorf("%w: %s: %s: %s", ErrPolicy, file, path, fmt.Sprintf(format, a...))
	}
	var p Policy
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil {
		return nil, fmt.Errorf("%w: %s: offset %d: %v", ErrPolicy, file, dec.InputOffset(), err)
	}
	if dec.More() {
		return nil, fail("$", "data after the policy")
	}
	if err := p.validate(fail, nil); err != nil {
		return nil, err
	}
	return &p, nil
}

// validate checks every invariant Compile establishes, so an IR written
// by hand (or by another tool) is held to what a source would be: the IR
// is what registries store and verifiers replay. progs are the gates'
// programs when the caller compiled them already (nil: validate compiles
// them); on success the policy keeps them, so evaluation compiles nothing.
func (p *Policy) validate(fail func(path, format string, a ...any) error, progs []*program) error {
	compile := progs == nil
	if !nameRE.MatchString(p.Name) {
		return fail("name", "%q must match %s", p.Name, nameRE)
	}
	if !semver.IsValid("v" + p.Version) {
		return fail("version", "%q is not a semantic version", p.Version)
	}
	if len(p.SeverityPreference) == 0 {
		return fail("severity_preference", "empty")
	}
	seen := map[string]bool{}
	for i, s := range p.SeverityPreference {
		if !slices.Contains(sources, s) || seen[s] {
			return fail(fmt.Sprintf("severity_preference[%d]", i), "%q is not a score source, or is listed twice", s)
		}
		seen[s] = true
	}
	for _, sev := range sortedKeys(p.Outcomes) {
		if !slices.Contains(severities, sev) || !slices.Contains(outcomes, p.Outcomes[sev]) {
			return fail("outcomes."+sev, "want a severity and fail, warn or pass")
		}
	}
	levels := map[string]bool{}
	for i, l := range p.TrustLevels {
		if !nameRE.MatchString(l) || levels[l] {
			return fail(fmt.Sprintf("trust_levels[%d]", i), "%q is not a level name, or is listed twice", l)
		}
		levels[l] = true
	}
	inRange := func(n int) bool { return n >= 0 && (n < len(p.TrustLevels) || len(p.TrustLevels) == 0 && n == 0) }
	if !inRange(p.DefaultTrust) {
		return fail("default_trust", "%d is not a level of trust_levels", p.DefaultTrust)
	}
	for _, iss := range sortedKeys(p.Trust) {
		if len(p.TrustLevels) == 0 || !inRange(p.Trust[iss]) {
			return fail("trust."+iss, "%d is not a level of trust_levels", p.Trust[iss])
		}
	}
	if p.MergeOrder != nil && (len(p.MergeOrder) != 2 || !slices.Contains(p.MergeOrder, MergeTrust) || !slices.Contains(p.MergeOrder, MergeTimestamp)) {
		return fail("merge_order", "must list trust and timestamp once each")
	}
	names := map[string]bool{}
	for i := range p.Gates {
		g := &p.Gates[i]
		path := fmt.Sprintf("gates[%d]", i)
		if !nameRE.MatchString(g.Name) || names[g.Name] {
			return fail(path+".name", "%q is not a gate name, or is used twice", g.Name)
		}
		names[g.Name] = true
		if (g.Scope != ScopeFinding && g.Scope != ScopeVerdict) || (g.Outcome != OutcomeFail && g.Outcome != OutcomeWarn) {
			return fail(path, "scope must be finding or verdict and outcome fail or warn")
		}
		if g.Message == "" {
			return fail(path+".message", "a message template is required")
		}
		if err := checkTemplate(g.Message, g.Scope); err != nil {
			return fail(path+".message", "%v", err)
		}
		if compile {
			prg, err := compileGate(g)
			if err != nil {
				return fail(path+".when", "%v", err)
			}
			progs = append(progs, prg)
		}
	}
	for _, env := range sortedKeys(p.Budgets) {
		b := p.Budgets[env]
		path := "budgets." + env
		if !nameRE.MatchString(env) {
			return fail(path, "environment name must match %s", nameRE)
		}
		if b.Outcome != OutcomeFail && b.Outcome != OutcomeWarn {
			return fail(path+".outcome", "%q is not fail or warn", b.Outcome)
		}
		if b.MaxUnknowns < -1 {
			return fail(path+".max_unknowns", "%d: want -1 (no bound) or a count", b.MaxUnknowns)
		}
		for _, r := range sortedKeys(b.MaxByReason) {
			if !reasonRE.MatchString(r) || b.MaxByReason[r] < 0 {
				return fail(path+".max_by_reason."+r, "want an upper-case reason code and a non-negative count")
			}
		}
		if b.MaxUnknowns < 0 && len(b.MaxByReason) == 0 {
			return fail(path, "sets no limit")
		}
	}
	if p.DefaultEnv != "" {
		if _, ok := p.Budgets[p.DefaultEnv]; !ok {
			return fail("default_environment", "%q has no budget", p.DefaultEnv)
		}
	}
	ids := map[string]bool{}
	for i, e := range p.Exceptions {
		path := fmt.Sprintf("exceptions[%d]", i)
		if strings.TrimSpace(e.ID) == "" || ids[e.ID] || strings.TrimSpace(e.Reason) == "" || (e.Vulnerability == "" && e.Purl == "" && e.Finding == "") {
			return fail(path, "needs a unique id, a reason and something to match")
		}
		ids[e.ID] = true
		if i > 0 && p.Exceptions[i-1].ID > e.ID {
			return fail(path, "exceptions must be sorted by id")
		}
		if e.Purl != "" && !strings.HasPrefix(e.Purl, "pkg:") {
			return fail(path+".purl", "%q is not a package URL", e.Purl)
		}
		if e.Finding != "" && !strings.HasPrefix(e.Finding, "sha256:") {
			return fail(path+".finding", "%q is not a finding ID (sha256:…)", e.Finding)
		}
		if u, err := parseInstant(e.Until); err != nil || u != e.Until {
			return fail(path+".until", "%q is not an RFC 3339 UTC instant", e.Until)
		}
	}
	if sc := p.Scoring; sc != nil {
		if !slices.Contains(roundings, sc.Rounding) {
			return fail("scoring.rounding", "%q is not one of %s", sc.Rounding, strings.Join(roundings, ", "))
		}
		for _, k := range sortedKeys(sc.Severity) {
			if !slices.Contains(severities, k) || sc.Severity[k] < 0 || sc.Severity[k] > 10000 {
				return fail("scoring.severity_weights."+k, "want a severity and a weight in 0..10000")
			}
		}
		for _, k := range sortedKeys(sc.Reachability) {
			if !slices.Contains(reachabilityStates, k) || sc.Reachability[k] < 0 || sc.Reachability[k] > 10000 {
				return fail("scoring.reachability_weights."+k, "want a reachability state and a weight in 0..10000")
			}
		}
		if sc.Unrated < 0 || sc.Unrated > 100 {
			return fail("scoring.unrated_score", "%d is outside 0..100", sc.Unrated)
		}
	}
	p.programs.set(progs)
	return nil
}
