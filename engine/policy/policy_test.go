package policy

import (
	"errors"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func compileStr(t *testing.T, src string) (*Policy, error) {
	t.Helper()
	return Compile([]byte(src), "p.yaml")
}

const head = "apiVersion: stella-ops.org/policy/v1\nkind: Policy\nname: t\nversion: 1.0.0\n"

func TestExamplesCompile(t *testing.T) {
	for _, f := range []string{"../../examples/policies/strict-prod.yaml", "../../examples/policies/lenient-dev.yaml"} {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		p, err := Compile(data, f)
		if err != nil {
			t.Fatal(err)
		}
		ir, err := p.IR()
		if err != nil {
			t.Fatal(err)
		}
		// the IR reloads to the same digest
		q, err := Load(ir, "ir.json")
		if err != nil {
			t.Fatal(err)
		}
		d1, _ := p.Digest()
		d2, _ := q.Digest()
		if d1 != d2 {
			t.Fatalf("%s: IR round trip %s != %s", f, d1, d2)
		}
	}
}

// TestKeyOrderFree: the digest is a function of the policy's meaning, not
// of the YAML's key order, quoting or comments.
func TestKeyOrderFree(t *testing.T) {
	a := head + "vex:\n  trust:\n    levels: [vendor, community]\n    issuers: {A: vendor, B: community}\nbudgets:\n  environments:\n    prod: {max_unknowns: 0}\n    dev: {max_unknowns: 5, outcome: warn}\n"
	b := "# reordered\nbudgets:\n  environments:\n    dev: {outcome: warn, max_unknowns: 5}\n    prod: {max_unknowns: 0}\nversion: \"1.0.0\"\nvex:\n  trust:\n    issuers: {B: community, A: vendor}\n    levels: [vendor, community]\nname: t\nkind: Policy\napiVersion: stella-ops.org/policy/v1\n"
	pa, err := compileStr(t, a)
	if err != nil {
		t.Fatal(err)
	}
	pb, err := compileStr(t, b)
	if err != nil {
		t.Fatal(err)
	}
	da, _ := pa.Digest()
	db, _ := pb.Digest()
	if da != db {
		t.Fatalf("%s != %s", da, db)
	}
}

func TestCompileErrors(t *testing.T) {
	gate := func(when string) string {
		return head + "gates:\n  - name: g\n    when: '" + when + "'\n    outcome: fail\n    message: m\n"
	}
	tests := []struct{ name, src, want string }{
		{"yaml syntax", head + "gates: [", "p.yaml"},
		{"duplicate key", head + "name: u\n", "already set"},
		{"unknown field", head + "gatez: []\n", "unknown field"},
		{"api version", strings.Replace(head, "policy/v1", "policy/v9", 1), "apiVersion"},
		{"bad semver", strings.Replace(head, "1.0.0", "1.0", 1), "version"},
		{"CEL syntax", gate("finding.severity == "), "gates[0].when"},
		{"CEL undeclared", gate("finding.sevrity == \"high\""), "sevrity"},
		{"CEL type error", gate("finding.cvss == \"high\""), "gates[0].when"},
		{"not bool", gate("finding.cvss"), "want bool"},
		{"map iteration", gate("{\"a\": 1, \"b\": 2}.map(k, k).size() > 0"), "iteration over a map"},
		{"map iteration through dyn", gate("dyn({\"a\": 1, \"b\": 2}).map(k, k)[0] == \"a\""), "iteration over a map"},
		{"nested dyn iteration", gate("[dyn({\"a\": 1})].map(m, m.map(k, k))[0][0] == \"a\""), "iteration over a map"},
		{"time zone", gate("timestamp(\"2026-01-01T00:00:00Z\").getHours(\"Europe/Paris\") > 1"), "time-zone"},
		{"cost", gate("finding.aliases.all(a, finding.aliases.all(b, finding.aliases.all(c, a + b + c != finding.id)))"), "cost"},
		{"totals in finding gate", gate("totals.critical > 0"), "undeclared"},
		{"bad outcome", strings.Replace(gate("true"), "outcome: fail", "outcome: block", 1), "gates[0].outcome"},
		{"missing message", strings.Replace(gate("true"), "message: m", "message: \"\"", 1), "message"},
		{"unknown placeholder", strings.Replace(gate("true"), "message: m", "message: \"{{nope}}\"", 1), "{{nope}}"},
		{"duplicate gate", gate("true") + "  - name: g\n    when: 'true'\n    outcome: warn\n    message: m\n", "defined twice"},
		{"exception without reason", head + "exceptions:\n  - {id: E1, vulnerability: CVE-1, until: 2026-01-01}\n", "exceptions[0].reason"},
		{"exception without until", head + "exceptions:\n  - {id: E1, vulnerability: CVE-1, reason: r}\n", "must expire"},
		{"exception bad date", head + "exceptions:\n  - {id: E1, vulnerability: CVE-1, reason: r, until: soon}\n", "until"},
		{"exception matches nothing", head + "exceptions:\n  - {id: E1, reason: r, until: 2026-01-01}\n", "names nothing"},
		{"trust unknown level", head + "vex:\n  trust:\n    levels: [vendor]\n    issuers: {A: distro}\n", "vex.trust.issuers.A"},
		{"merge order", head + "vex:\n  merge_order: [trust]\n", "merge_order"},
		{"budget without limit", head + "budgets:\n  environments:\n    prod: {outcome: fail}\n", "sets no limit"},
		{"default env unknown", head + "budgets:\n  default: prod\n", "budgets.default"},
		{"severity source", head + "severity:\n  prefer: [CVSS_V5]\n", "severity.prefer[0]"},
		{"rounding", head + "scoring:\n  rounding: up\n", "scoring.rounding"},
		{"weight", head + "scoring:\n  severity_weights: {critical: -1}\n", "severity_weights.critical"},
	}
	for _, tt := range tests {
		_, err := compileStr(t, tt.src)
		if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), "p.yaml") {
			t.Errorf("%s: got %v, want an error naming p.yaml with %q", tt.name, err, tt.want)
		}
	}
}

// TestGates: each gate variable and each outcome, over finding and
// verdict scope.
func TestGates(t *testing.T) {
	p, err := compileStr(t, head+`gates:
  - {name: crit-reach, when: 'finding.severity == "critical" && finding.reachability == "reachable"', outcome: fail, message: "{{vulnerability}} {{reachability}}"}
  - {name: cvss, when: 'finding.cvss >= 7.0', outcome: warn, message: "cvss {{cvss}}"}
  - {name: vex, when: 'finding.vex == "under_investigation"', outcome: warn, message: "{{vex}}"}
  - {name: nofix, when: '!finding.fix_available && finding.ecosystem == "npm"', outcome: warn, message: "{{name}}"}
  - {name: old, when: 'finding.age_days > 365', outcome: fail, message: "{{age_days}} days"}
  - {name: purl, when: 'finding.purl.startsWith("pkg:golang/") && "GHSA-x" in finding.aliases', outcome: warn, message: "{{purl}}"}
  - {name: suppressed, when: 'finding.suppressed', outcome: warn, message: "s"}
  - {name: risk, scope: verdict, when: 'totals.risk_score > 100 || totals.unknowns > 3', outcome: fail, message: "{{risk_score}} {{unknowns}}"}
  - {name: crit, scope: verdict, when: 'totals.critical > 0', outcome: warn, message: "{{critical}}"}
`)
	if err != nil {
		t.Fatal(err)
	}
	fired := func(f *Finding) string {
		fs, err := p.EvalFinding(f)
		if err != nil {
			t.Fatal(err)
		}
		var n []string
		for _, x := range fs {
			n = append(n, x.Name+":"+x.Outcome+":"+x.Message)
		}
		return strings.Join(n, ",")
	}
	base := Finding{Severity: "low", CVSS: 2.0, Reachability: "unknown", VEX: "none", Ecosystem: "Go", FixAvailable: true, AgeDays: 10, Purl: "pkg:npm/x@1", Vulnerability: "V"}
	tests := []struct {
		name string
		mod  func(*Finding)
		want string
	}{
		{"nothing", func(*Finding) {}, ""},
		{"critical reachable", func(f *Finding) { f.Severity, f.Reachability, f.CVSS = "critical", "reachable", 9.8 }, "crit-reach:fail:V reachable,cvss:warn:cvss 9.8"},
		{"critical unreachable", func(f *Finding) { f.Severity, f.Reachability = "critical", "unreachable" }, ""},
		{"vex", func(f *Finding) { f.VEX = "under_investigation" }, "vex:warn:under_investigation"},
		{"no fix npm", func(f *Finding) { f.FixAvailable, f.Ecosystem, f.Name = false, "npm", "left-pad" }, "nofix:warn:left-pad"},
		{"old", func(f *Finding) { f.AgeDays = 400 }, "old:fail:400 days"},
		{"purl and aliases", func(f *Finding) { f.Purl, f.Aliases = "pkg:golang/a@v1", []string{"CVE-1", "GHSA-x"} }, "purl:warn:pkg:golang/a@v1"},
		{"suppressed", func(f *Finding) { f.Suppressed = true }, "suppressed:warn:s"},
		{"no cvss", func(f *Finding) { f.CVSS = -1 }, ""},
	}
	for _, tt := range tests {
		f := base
		tt.mod(&f)
		if got := fired(&f); got != tt.want {
			t.Errorf("%s: fired %q, want %q", tt.name, got, tt.want)
		}
	}
	vs, err := p.EvalVerdict(&Totals{RiskScore: 150, Unknowns: 1, Critical: 2})
	if err != nil {
		t.Fatal(err)
	}
	if len(vs) != 2 || vs[0].Message != "150 1" || vs[1].Message != "2" {
		t.Fatalf("verdict gates: %+v", vs)
	}
	if vs, _ := p.EvalVerdict(&Totals{}); len(vs) != 0 {
		t.Fatalf("verdict gates on zero totals: %+v", vs)
	}
}

func TestPointsRounding(t *testing.T) {
	p := Default()
	if p.Points(-1, "unknown", "unknown") != 50 || p.Points(98, "critical", "reachable") != 98 {
		t.Fatal("default points")
	}
	p.Scoring = &Scoring{Severity: map[string]int{"critical": 150}, Reachability: map[string]int{"unreachable": 25}, Unrated: 40}
	tests := []struct {
		mode       string
		score      int
		sev, reach string
		want       int64
	}{
		{"floor", 75, "critical", "unreachable", 28}, // 75*150*25/10000 = 28.125
		{"ceil", 75, "critical", "unreachable", 29},
		{"half_up", 70, "critical", "unreachable", 26}, // 26.25
		{"half_up", 74, "critical", "reachable", 111},  // 111.0
		{"half_even", 10, "low", "unreachable", 2},     // 2.5 -> 2
		{"half_even", 30, "low", "unreachable", 8},     // 7.5 -> 8
		{"half_up", 10, "low", "unreachable", 3},       // 2.5 -> 3
		{"floor", -1, "unknown", "unknown", 40},
	}
	for _, tt := range tests {
		p.Scoring.Rounding = tt.mode
		if got := p.Points(tt.score, tt.sev, tt.reach); got != tt.want {
			t.Errorf("%s %d %s %s: %d, want %d", tt.mode, tt.score, tt.sev, tt.reach, got, tt.want)
		}
	}
}

// TestIRRejects: an IR that breaks an invariant Compile establishes is
// refused, and the error names the file, the field and the reason.
func TestIRRejects(t *testing.T) {
	const base = `"name":"x","version":"1.0.0","severity_preference":["CVSS_V3"],"outcomes":{}`
	tests := []struct {
		name, ir string
		// want: the field the error names, and its reason
		path, reason string
	}{
		{"unknown outcome", `{"name":"x","version":"1.0.0","severity_preference":["CVSS_V3"],"outcomes":{"critical":"explode"}}`, "outcomes.critical", "want a severity and fail, warn or pass"},
		{"CEL syntax", `{` + base + `,"gates":[{"name":"g","scope":"finding","when":"1 +","outcome":"fail","message":"m"}]}`, "gates[0].when", "Syntax error"},
		{"unknown field", `{` + base + `,"extra":1}`, "offset 88", `unknown field "extra"`},
		{"no severity source", `{"name":"x","version":"1.0.0","severity_preference":[],"outcomes":{}}`, "severity_preference", "empty"},
		{"exception date", `{` + base + `,"exceptions":[{"id":"E","vulnerability":"V","reason":"r","until":"never"}]}`, "exceptions[0].until", `"never" is not an RFC 3339 UTC instant`},
		{"negative severity weight", `{` + base + `,"scoring":{"severity_weights":{"critical":-100},"reachability_weights":{},"unrated_score":50,"rounding":"floor"}}`, "scoring.severity_weights.critical", "a weight in 0..10000"},
		{"negative unrated score", `{` + base + `,"scoring":{"severity_weights":{},"reachability_weights":{},"unrated_score":-7,"rounding":"floor"}}`, "scoring.unrated_score", "-7 is outside 0..100"},
		{"budget below -1", `{` + base + `,"budgets":{"prod":{"max_unknowns":-9,"outcome":"fail"}}}`, "budgets.prod.max_unknowns", "-9: want -1 (no bound) or a count"},
		{"reason code", `{` + base + `,"budgets":{"prod":{"max_unknowns":0,"max_by_reason":{"x":-1},"outcome":"fail"}}}`, "budgets.prod.max_by_reason.x", "want an upper-case reason code and a non-negative count"},
		{"default trust", `{` + base + `,"default_trust":-4}`, "default_trust", "-4 is not a level of trust_levels"},
		{"issuer trust", `{` + base + `,"trust":{"a":3},"trust_levels":["low","high"]}`, "trust.a", "3 is not a level of trust_levels"},
		{"duplicate gate", `{` + base + `,"gates":[{"name":"a","scope":"finding","when":"true","outcome":"fail","message":"m"},{"name":"a","scope":"finding","when":"false","outcome":"fail","message":"m"}]}`, "gates[1].name", `"a" is not a gate name, or is used twice`},
		{"unsorted exceptions", `{` + base + `,"exceptions":[{"id":"B","vulnerability":"V","reason":"r","until":"2026-01-01T00:00:00Z"},{"id":"A","vulnerability":"V","reason":"r","until":"2026-01-01T00:00:00Z"}]}`, "exceptions[1]", "exceptions must be sorted by id"},
		{"purl", `{` + base + `,"exceptions":[{"id":"A","purl":"npm/x","reason":"r","until":"2026-01-01T00:00:00Z"}]}`, "exceptions[0].purl", `"npm/x" is not a package URL`},
		{"name", `{"name":"Bad Name","version":"1.0.0","severity_preference":["CVSS_V3"],"outcomes":{}}`, "name", `"Bad Name" must match`},
	}
	for _, tt := range tests {
		_, err := Load([]byte(tt.ir), "ir.json")
		if !errors.Is(err, ErrPolicy) {
			t.Errorf("%s: Load() = %v, want ErrPolicy", tt.name, err)
			continue
		}
		// the message is "invalid policy: FILE: FIELD: REASON"
		rest, ok := strings.CutPrefix(err.Error(), ErrPolicy.Error()+": ir.json: "+tt.path+": ")
		if !ok || !strings.Contains(rest, tt.reason) {
			t.Errorf("%s: Load() = %v, want ir.json: %s: …%s…", tt.name, err, tt.path, tt.reason)
		}
	}
}

func FuzzCompile(f *testing.F) {
	for _, file := range []string{"../../examples/policies/strict-prod.yaml", "../../examples/policies/lenient-dev.yaml"} {
		if data, err := os.ReadFile(file); err == nil {
			f.Add(data)
		}
	}
	f.Add([]byte(head + "gates:\n  - {name: g, when: 'finding.cvss > 1.0', outcome: fail, message: m}\n"))
	f.Add([]byte(`{"name":"x","version":"1.0.0","severity_preference":["CVSS_V3"],"outcomes":{}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := Load(data, "fuzz")
		if err != nil {
			return
		}
		ir, err := p.IR()
		if err != nil {
			t.Fatal(err)
		}
		q, err := Load(ir, "ir")
		if err != nil {
			t.Fatalf("IR of an accepted policy is refused: %v", err)
		}
		d1, _ := p.Digest()
		d2, _ := q.Digest()
		if d1 != d2 {
			t.Fatalf("digest moved on reload")
		}
		if _, err := p.EvalFinding(&Finding{Severity: "high", CVSS: 7.5}); err != nil && !strings.Contains(err.Error(), "gate") {
			t.Fatal(err)
		}
	})
}

// TestExceptionMatches: every field that is set must match; the purl
// without a version covers every version.
func TestExceptionMatches(t *testing.T) {
	pm := func(pattern, purl string) bool { return strings.HasPrefix(purl, pattern) }
	ids := []string{"GO-1", "CVE-1"}
	tests := []struct {
		e    Exception
		want bool
	}{
		{Exception{Vulnerability: "cve-1"}, true},
		{Exception{Vulnerability: "CVE-2"}, false},
		{Exception{Finding: "sha256:aa"}, true},
		{Exception{Finding: "sha256:bb"}, false},
		{Exception{Purl: "pkg:golang/x"}, true},
		{Exception{Purl: "pkg:golang/y"}, false},
		{Exception{Vulnerability: "GO-1", Purl: "pkg:golang/y"}, false},
		{Exception{Vulnerability: "GO-1", Purl: "pkg:golang/x", Finding: "sha256:aa"}, true},
	}
	for _, tt := range tests {
		if got := tt.e.Matches("sha256:aa", "pkg:golang/x@v1", ids, pm); got != tt.want {
			t.Errorf("%+v: %v", tt.e, got)
		}
	}
}

// TestConcurrentFirstUse: goroutines that use a fresh policy at once
// compile its gates once and agree (run with -race). The policy is built
// by hand: a loaded one has its gates compiled already.
func TestConcurrentFirstUse(t *testing.T) {
	q := &Policy{Gates: []Gate{{Name: "g", Scope: ScopeFinding, When: "finding.cvss > 5.0", Outcome: OutcomeFail, Message: "{{cvss}}"}}}
	before := compiles.Load()
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			fs, err := q.EvalFinding(&Finding{CVSS: 7.5})
			if err != nil || len(fs) != 1 || fs[0].Message != "7.5" {
				t.Errorf("%+v %v", fs, err)
			}
		}()
	}
	wg.Wait()
	if n := compiles.Load() - before; n != 1 {
		t.Errorf("the gates were compiled %d times, want once", n)
	}
}

func mustIR(t *testing.T, p *Policy) []byte {
	t.Helper()
	b, err := p.IR()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestGateErrorFiresClosed: a gate whose expression fails on an input
// (here: an index past the end of an empty list) fires with its outcome
// and says why, instead of stopping the evaluation.
func TestGateErrorFiresClosed(t *testing.T) {
	p, err := compileStr(t, head+"gates:\n  - {name: first-alias, when: 'finding.aliases[0] == \"X\"', outcome: warn, message: m}\n")
	if err != nil {
		t.Fatal(err)
	}
	fs, err := p.EvalFinding(&Finding{})
	if err != nil || len(fs) != 1 || !fs[0].Error || fs[0].Outcome != "warn" || !strings.Contains(fs[0].Message, "gate evaluation failed") {
		t.Fatalf("%+v %v", fs, err)
	}
	if fs, _ := p.EvalFinding(&Finding{Aliases: []string{"Y"}}); len(fs) != 0 {
		t.Fatalf("fired on a finding the gate does not match: %+v", fs)
	}
}

// TestOneDocument (#11 item 9): a second YAML document, or a second JSON
// object after the first, is refused, broken or not, never dropped.
func TestOneDocument(t *testing.T) {
	head := "apiVersion: stella-ops.org/policy/v1\nkind: Policy\nname: a\nversion: 1.0.0\n"
	for name, src := range map[string]string{
		"broken second document": head + "---\nthis: is: broken: [\n",
		"valid second document":  head + "---\n" + head,
		"two JSON objects":       `{"apiVersion":"stella-ops.org/policy/v1","kind":"Policy","name":"a","version":"1.0.0"}{"x":1}`,
	} {
		if _, err := Load([]byte(src), "p.yaml"); !errors.Is(err, ErrPolicy) {
			t.Errorf("%s: %v, want ErrPolicy", name, err)
		}
	}
	if _, err := Load([]byte(head+"---\n"), "p.yaml"); err != nil {
		t.Errorf("one document and a trailing separator: %v", err)
	}
	if _, err := Load([]byte("---\n"+head), "p.yaml"); err != nil {
		t.Errorf("a leading separator: %v", err)
	}
}

// TestCompileOnce: loading a policy compiles each gate's CEL once, from
// source as from the IR, and evaluating it compiles nothing more.
func TestCompileOnce(t *testing.T) {
	src := head + `gates:
  - {name: crit, when: 'finding.severity == "critical"', outcome: fail, message: m}
  - {name: many, scope: verdict, when: 'totals.high > 3', outcome: warn, message: m}
`
	for _, tt := range []struct {
		name string
		load func() (*Policy, error)
	}{
		{"source", func() (*Policy, error) { return Load([]byte(src), "p.yaml") }},
		{"IR", func() (*Policy, error) {
			p, err := Load([]byte(src), "p.yaml")
			if err != nil {
				return nil, err
			}
			return Load(mustIR(t, p), "ir.json")
		}},
	} {
		before := gateCompiles.Load()
		p, err := tt.load()
		if err != nil {
			t.Fatal(err)
		}
		loaded := gateCompiles.Load()
		if _, err := p.EvalFinding(&Finding{Severity: "critical"}); err != nil {
			t.Fatal(err)
		}
		if _, err := p.EvalVerdict(&Totals{High: 4}); err != nil {
			t.Fatal(err)
		}
		want := int64(2)
		if tt.name == "IR" {
			want = 4 // the source, then the IR
		}
		if n := loaded - before; n != want {
			t.Errorf("%s: Load compiled %d gate expressions, want %d", tt.name, n, want)
		}
		if n := gateCompiles.Load() - loaded; n != 0 {
			t.Errorf("%s: evaluating a loaded policy compiled %d gate expressions, want 0", tt.name, n)
		}
	}
}

// TestConcurrentFirstUseTwoPolicies: the first use of one policy does not
// wait for another's: each compiles while the other does (a lock shared
// by all policies would have one wait for the other), each once (run with
// -race).
func TestConcurrentFirstUseTwoPolicies(t *testing.T) {
	newPolicy := func(when string) *Policy {
		return &Policy{Gates: []Gate{{Name: "g", Scope: ScopeFinding, When: when, Outcome: OutcomeFail, Message: "m"}}}
	}
	a, b := newPolicy("finding.cvss > 5.0"), newPolicy(`finding.severity == "high"`)
	started := map[*Policy]chan struct{}{a: make(chan struct{}), b: make(chan struct{})}
	other := map[*Policy]*Policy{a: b, b: a}
	var calls sync.Map // *Policy -> *atomic.Int32
	testHookPrepare = func(p *Policy) {
		n, _ := calls.LoadOrStore(p, new(atomic.Int32))
		if n.(*atomic.Int32).Add(1) != 1 {
			t.Errorf("a policy's gates were compiled twice")
			return
		}
		close(started[p])
		select {
		case <-started[other[p]]:
		case <-time.After(5 * time.Second):
			t.Errorf("one policy's first use waited for the other's compilation (a lock shared by all policies)")
		}
	}
	defer func() { testHookPrepare = nil }()
	var wg sync.WaitGroup
	for _, p := range []*Policy{a, b, a, b} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			fs, err := p.EvalFinding(&Finding{CVSS: 7.5, Severity: "high"})
			if err != nil || len(fs) != 1 {
				t.Errorf("EvalFinding() = %+v, %v, want one gate fired", fs, err)
			}
		}()
	}
	wg.Wait()
}

// TestGatesChangedAfterUse: gates added to a policy after its first use
// are an error, not an index past the compiled programs.
func TestGatesChangedAfterUse(t *testing.T) {
	p := &Policy{Gates: []Gate{{Name: "a", Scope: ScopeFinding, When: "true", Outcome: OutcomeWarn, Message: "m"}}}
	if _, err := p.EvalFinding(&Finding{}); err != nil {
		t.Fatal(err)
	}
	p.Gates = append(p.Gates, Gate{Name: "b", Scope: ScopeFinding, When: "true", Outcome: OutcomeFail, Message: "m"})
	if fs, err := p.EvalFinding(&Finding{}); !errors.Is(err, ErrPolicy) {
		t.Errorf("EvalFinding() after adding a gate = %+v, %v, want ErrPolicy", fs, err)
	}
}
