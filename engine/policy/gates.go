package policy

import (
	"errors"
	"fmt"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"cel.dev/cel-go/cel"
	"cel.dev/cel-go/common/ast"
	"cel.dev/cel-go/common/cost"
	"cel.dev/cel-go/common/types"
	"cel.dev/cel-go/ext"
)

// Finding is what a finding gate sees as `finding`.
type Finding struct {
	ID            string   `json:"id"`
	Vulnerability string   `json:"vulnerability"`
	Aliases       []string `json:"aliases"`
	Purl          string   `json:"purl"`
	Ecosystem     string   `json:"ecosystem"`
	Name          string   `json:"name"`
	Version       string   `json:"version"`
	Severity      string   `json:"severity"`
	// CVSS is the base score (e.g. 9.8), -1.0 when the advisory has none.
	CVSS         float64 `json:"cvss"`
	ScoreSource  string  `json:"score_source"`
	Reachability string  `json:"reachability"` // reachable, unreachable, unknown
	// VEX is the merged VEX status, or "none".
	VEX          string `json:"vex"`
	Suppressed   bool   `json:"suppressed"` // a VEX suppression with evidence
	FixAvailable bool   `json:"fix_available"`
	// AgeDays is whole days from the advisory's publication to the feed
	// snapshot's as-of instant; -1 when the advisory has no date.
	AgeDays int64 `json:"age_days"`
}

// Totals is what a verdict gate sees as `totals`. Severity counts and
// reachable count only active findings (neither suppressed nor excepted).
type Totals struct {
	Components      int64 `json:"components"`
	Findings        int64 `json:"findings"`
	Active          int64 `json:"active"`
	Critical        int64 `json:"critical"`
	High            int64 `json:"high"`
	Medium          int64 `json:"medium"`
	Low             int64 `json:"low"`
	None            int64 `json:"none"`
	UnknownSeverity int64 `json:"unknown_severity"`
	Reachable       int64 `json:"reachable"`
	Suppressed      int64 `json:"suppressed"`
	Excepted        int64 `json:"excepted"`
	Unknowns        int64 `json:"unknowns"`
	RiskScore       int64 `json:"risk_score"`
	Fail            int64 `json:"fail"`
	Warn            int64 `json:"warn"`
}

// Cost bounds: a gate whose estimated worst-case cost exceeds MaxCost is
// refused by lint; at run time evaluation stops at the same bound.
const (
	MaxCost      = 10_000
	maxListSize  = 256
	maxStringLen = 4096
)

type program struct {
	prg cel.Program
}

var (
	envOnce sync.Once
	envs    map[string]*cel.Env
	envErr  error
)

func environments() (map[string]*cel.Env, error) {
	envOnce.Do(func() {
		common := []cel.EnvOption{
			ext.NativeTypes(reflect.TypeFor[Finding](), reflect.TypeFor[Totals](), ext.ParseStructTag("json")),
			cel.DefaultUTCTimeZone(true),
			cel.ExtendedValidations(),
			cel.ASTValidators(determinism{}),
		}
		envs = map[string]*cel.Env{}
		for scope, v := range map[string]string{ScopeFinding: "policy.Finding", ScopeVerdict: "policy.Totals"} {
			name := map[string]string{ScopeFinding: "finding", ScopeVerdict: "totals"}[scope]
			e, err := cel.NewEnv(append(common, cel.Variable(name, cel.ObjectType(v)))...)
			if err != nil {
				envErr = err
				return
			}
			envs[scope] = e
		}
	})
	return envs, envErr
}

// gateCompiles counts compileGate's calls (tests check that a gate is
// compiled once per load).
var gateCompiles atomic.Int64

// compileGate type-checks, lints and cost-bounds a gate's expression.
func compileGate(g *Gate) (*program, error) {
	gateCompiles.Add(1)
	es, err := environments()
	if err != nil {
		return nil, err
	}
	env := es[g.Scope]
	a, iss := env.Compile(g.When)
	if iss != nil && iss.Err() != nil {
		return nil, errors.New(oneLine(iss.Err().Error()))
	}
	if !a.OutputType().IsExactType(cel.BoolType) {
		return nil, fmt.Errorf("evaluates to %s, want bool", a.OutputType())
	}
	est, err := env.EstimateCost(a, sizer{})
	if err != nil {
		return nil, fmt.Errorf("cost: %v", err)
	}
	if est.Max > MaxCost {
		return nil, fmt.Errorf("estimated cost up to %d exceeds the bound %d", est.Max, MaxCost)
	}
	prg, err := env.Program(a, cel.CostLimit(MaxCost), cel.EvalOptions(cel.OptOptimize))
	if err != nil {
		return nil, err
	}
	return &program{prg: prg}, nil
}

func oneLine(s string) string {
	s = strings.TrimPrefix(s, "ERROR: ")
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	return s
}

// programs holds a policy's compiled gates: set once, by validate when
// the policy is loaded or by the first Prepare of a policy built in code,
// then only read, from any number of goroutines. Each policy has its own,
// so the first use of one never waits for another's compilation.
type programs struct {
	once  sync.Once
	progs []*program // by position in Gates, not by name
	err   error
}

// set records programs compiled elsewhere (validate), unless Prepare ran
// first.
func (ps *programs) set(progs []*program) {
	ps.once.Do(func() { ps.progs = progs })
}

// Prepare compiles the policy's gates once; the engine calls it before
// evaluating in parallel. A loaded policy (Compile, FromIR, Load) has its
// gates compiled already; one built in code compiles on the first call,
// and concurrent first calls compile once.
func (p *Policy) Prepare() error {
	if len(p.Gates) == 0 {
		return nil
	}
	p.programs.once.Do(func() {
		if testHookPrepare != nil {
			testHookPrepare(p)
		}
		// programs are kept by position, not by name: a gate never runs
		// another gate's expression, whatever the names
		c := make([]*program, len(p.Gates))
		for i := range p.Gates {
			prg, err := compileGate(&p.Gates[i])
			if err != nil {
				p.programs.err = fmt.Errorf("%w: gates[%d] %s: %v", ErrPolicy, i, p.Gates[i].Name, err)
				return
			}
			c[i] = prg
		}
		compiles.Add(1)
		p.programs.progs = c
	})
	if p.programs.err == nil && len(p.programs.progs) != len(p.Gates) {
		return fmt.Errorf("%w: %d gates, %d compiled: the gates changed after the policy was first used", ErrPolicy, len(p.Gates), len(p.programs.progs))
	}
	return p.programs.err
}

// compiles counts Prepare's compilations (tests check it runs once).
var compiles atomic.Int64

// testHookPrepare, when set (by tests), runs as Prepare starts compiling.
var testHookPrepare func(*Policy)

// Fired is one gate that fired.
type Fired struct {
	Name    string `json:"name"`
	Outcome string `json:"outcome"`
	Message string `json:"message"`
	// Error says the gate fired because its expression failed on this input.
	Error bool `json:"error,omitempty"`
}

// EvalFinding runs the finding gates over f, in policy order.
func (p *Policy) EvalFinding(f *Finding) ([]Fired, error) {
	return p.eval(ScopeFinding, "finding", f, func() map[string]string { return findingVars(f) })
}

// EvalVerdict runs the verdict gates over t, in policy order, and returns
// those that fired.
func (p *Policy) EvalVerdict(t *Totals) ([]Fired, error) {
	return p.eval(ScopeVerdict, "totals", t, func() map[string]string { return totalsVars(t) })
}

// eval runs the gates of one scope; the message variables are built only
// when a gate fires (building them for every finding cost more than the
// gates). A gate whose evaluation fails on this input (an index out of
// range, the cost limit) fires with its outcome and says why: a policy
// fails closed, and one bad gate does not stop the evaluation. CEL's
// errors are deterministic, so the message is too.
func (p *Policy) eval(scope, name string, v any, varsOf func() map[string]string) ([]Fired, error) {
	if len(p.Gates) == 0 {
		return nil, nil
	}
	if err := p.Prepare(); err != nil {
		return nil, err
	}
	var out []Fired
	var vars map[string]string
	act := map[string]any{name: v}
	progs := p.programs.progs
	for i, g := range p.Gates {
		if g.Scope != scope {
			continue
		}
		val, _, err := progs[i].prg.Eval(act)
		if err != nil {
			out = append(out, Fired{Name: g.Name, Outcome: g.Outcome, Message: "gate evaluation failed: " + oneLine(err.Error()), Error: true})
			continue
		}
		if b, ok := val.Value().(bool); ok && b {
			if vars == nil {
				vars = varsOf()
			}
			out = append(out, Fired{Name: g.Name, Outcome: g.Outcome, Message: render(g.Message, vars)})
		}
	}
	return out, nil
}

// determinism rejects constructs whose result could depend on anything but
// the inputs: iteration over a map (Go map order is random, so a list built
// from it is too) and time-zone arguments (the answer depends on the host's
// time-zone database).
type determinism struct{}

func (determinism) Name() string { return "stella.determinism" }

func (determinism) Validate(_ *cel.Env, _ cel.ValidatorConfig, a *ast.AST, iss *cel.Issues) {
	root := ast.NavigateAST(a)
	for _, e := range ast.MatchDescendants(root, ast.KindMatcher(ast.ComprehensionKind)) {
		// only a list has an order; a map, or a dyn() that may hold one,
		// iterates in Go's random map order
		rng := e.AsComprehension().IterRange()
		if t := a.GetType(rng.ID()); t == nil || t.Kind() != types.ListKind {
			iss.ReportErrorAtID(e.ID(), "iteration over a map (or a dyn value) has no defined order; iterate over a list")
		}
	}
	for _, e := range ast.MatchDescendants(root, ast.KindMatcher(ast.CallKind)) {
		c := e.AsCall()
		switch c.FunctionName() {
		case "getFullYear", "getMonth", "getDayOfYear", "getDayOfMonth", "getDate", "getDayOfWeek",
			"getHours", "getMinutes", "getSeconds", "getMilliseconds":
			if c.IsMemberFunction() && len(c.Args()) > 0 {
				iss.ReportErrorAtID(e.ID(), "%s with a time zone depends on the host's time-zone database; use UTC", c.FunctionName())
			}
		}
	}
}

// sizer bounds the sizes of the gate variables' lists and strings, so the
// cost estimate is finite.
type sizer struct{}

func (sizer) EstimateSize(n cost.AstNode) *cost.SizeEstimate {
	if len(n.Path()) == 0 {
		return nil
	}
	switch n.Type().Kind() {
	case types.ListKind:
		return &cost.SizeEstimate{Min: 0, Max: maxListSize}
	case types.StringKind:
		return &cost.SizeEstimate{Min: 0, Max: maxStringLen}
	}
	return nil
}

func (sizer) EstimateCallCost(string, string, *cost.AstNode, []cost.AstNode) *cost.CallEstimate {
	return nil
}

// Message templates: {{field}} placeholders, from a fixed set per scope.
var placeholder = regexp.MustCompile(`\{\{\s*([a-z_]+)\s*\}\}`)

func checkTemplate(msg, scope string) error {
	vars := findingVars(&Finding{})
	if scope == ScopeVerdict {
		vars = totalsVars(&Totals{})
	}
	for _, m := range placeholder.FindAllStringSubmatch(msg, -1) {
		if _, ok := vars[m[1]]; !ok {
			return fmt.Errorf("unknown placeholder {{%s}} for a %s gate", m[1], scope)
		}
	}
	if strings.Count(msg, "{{") != len(placeholder.FindAllString(msg, -1)) {
		return errors.New("malformed placeholder (want {{name}})")
	}
	return nil
}

func render(msg string, vars map[string]string) string {
	return placeholder.ReplaceAllStringFunc(msg, func(m string) string {
		return vars[placeholder.FindStringSubmatch(m)[1]]
	})
}

func findingVars(f *Finding) map[string]string {
	cvss := "none"
	if f.CVSS >= 0 {
		cvss = strconv.FormatFloat(f.CVSS, 'f', 1, 64)
	}
	return map[string]string{
		"id": f.ID, "vulnerability": f.Vulnerability, "aliases": strings.Join(f.Aliases, ", "),
		"purl": f.Purl, "ecosystem": f.Ecosystem, "name": f.Name, "version": f.Version,
		"severity": f.Severity, "cvss": cvss, "score_source": f.ScoreSource,
		"reachability": f.Reachability, "vex": f.VEX, "suppressed": strconv.FormatBool(f.Suppressed),
		"fix_available": strconv.FormatBool(f.FixAvailable), "age_days": strconv.FormatInt(f.AgeDays, 10),
	}
}

func totalsVars(t *Totals) map[string]string {
	out := map[string]string{}
	v := reflect.ValueOf(*t)
	for i := range v.NumField() {
		out[v.Type().Field(i).Tag.Get("json")] = strconv.FormatInt(v.Field(i).Int(), 10)
	}
	return out
}
