package reach

import (
	"os"
	"slices"
	"strings"
	"testing"
)

const demoGraph = `{"schema":"https://stella-ops.org/reach-graph/v1",
 "nodes":[
  {"id":"main","symbol":"example.com/app.main","purl":"pkg:golang/example.com/app@v1.0.0"},
  {"id":"h","symbol":"example.com/app.handle","purl":"pkg:golang/example.com/app@v1.0.0"},
  {"id":"p","symbol":"golang.org/x/text/language.ParseAcceptLanguage","purl":"pkg:golang/golang.org/x/text@v0.3.7"},
  {"id":"m","symbol":"gopkg.in/yaml.v2.Marshal","purl":"pkg:golang/gopkg.in/yaml.v2@v2.2.2"},
  {"id":"u","symbol":"gopkg.in/yaml.v2.Unmarshal","purl":"pkg:golang/gopkg.in/yaml.v2@v2.2.2"},
  {"id":"dead","symbol":"example.com/lib.Old","purl":"pkg:golang/example.com/lib@v0.1.0"}
 ],
 "edges":[{"from":"main","to":"h"},{"from":"h","to":"p"},{"from":"h","to":"m"},{"from":"dead","to":"u"}],
 "entrypoints":["main"]}`

func TestGraphAnswers(t *testing.T) {
	in, err := Parse([]byte(demoGraph), "g.json")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		q      Query
		state  string
		reason string
		path   []string
	}{
		{Query{Purl: "pkg:golang/golang.org/x/text@v0.3.7", Version: "v0.3.7", Symbols: []string{"golang.org/x/text/language.ParseAcceptLanguage"}}, Reachable, ReasonSymbolReached, []string{"main", "h", "p"}},
		{Query{Purl: "pkg:golang/gopkg.in/yaml.v2@v2.2.2", Version: "v2.2.2", Symbols: []string{"gopkg.in/yaml.v2.Unmarshal"}, Packages: []string{"gopkg.in/yaml.v2"}}, Unreachable, ReasonSymbolsNotReached, nil},
		// the graph has x/text nodes, but none in unicode/norm: it says nothing about norm's symbols
		{Query{Purl: "pkg:golang/golang.org/x/text@v0.3.7", Version: "v0.3.7", Symbols: []string{"golang.org/x/text/unicode/norm.Iter.Next"}, Packages: []string{"golang.org/x/text/unicode/norm"}}, Unknown, ReasonPackageNotInGraph, nil},
		// a prefix of the package path is another package
		{Query{Purl: "pkg:golang/golang.org/x/text@v0.3.7", Version: "v0.3.7", Symbols: []string{"golang.org/x/text/lang.Parse"}, Packages: []string{"golang.org/x/text/lang"}}, Unknown, ReasonPackageNotInGraph, nil},
		{Query{Purl: "pkg:golang/gopkg.in/yaml.v2@v2.2.2", Version: "v2.2.2"}, Reachable, ReasonPackageReached, []string{"main", "h", "m"}},
		{Query{Purl: "pkg:golang/example.com/lib@v0.1.0", Version: "v0.1.0"}, Unreachable, ReasonPackageNotReached, nil},
		{Query{Purl: "pkg:golang/golang.org/x/text@v0.3.8", Version: "v0.3.8"}, Unknown, ReasonNotInGraph, nil},
		{Query{Purl: "pkg:npm/left-pad@1.0.0", Version: "1.0.0"}, Unknown, ReasonNotInGraph, nil},
	}
	for _, tt := range tests {
		r := in.Answer(&tt.q)
		if r.State != tt.state || r.Reason != tt.reason || !slices.Equal(r.Evidence, tt.path) && len(tt.path)+len(r.Evidence) > 0 {
			t.Errorf("%s %v: got %+v, want %s %s %v", tt.q.Purl, tt.q.Symbols, r, tt.state, tt.reason, tt.path)
		}
	}
	if in.Format != FormatGraph || !strings.HasPrefix(in.Digest, "sha256:") {
		t.Fatalf("format %q digest %q", in.Format, in.Digest)
	}
}

// TestGraphDigestIsOrderFree: the digest hashes sorted adjacency lists, so
// node, edge and entrypoint order and duplicates do not change it, and a
// changed edge does.
func TestGraphDigestIsOrderFree(t *testing.T) {
	a, err := Parse([]byte(demoGraph), "a")
	if err != nil {
		t.Fatal(err)
	}
	shuffled := `{"entrypoints":["main","main"],"edges":[{"from":"dead","to":"u"},{"from":"h","to":"m"},{"from":"h","to":"p"},{"from":"main","to":"h"},{"from":"h","to":"p"}],
	"nodes":[{"id":"dead","symbol":"example.com/lib.Old","purl":"pkg:golang/example.com/lib@v0.1.0"},{"purl":"pkg:golang/gopkg.in/yaml.v2@v2.2.2","id":"u","symbol":"gopkg.in/yaml.v2.Unmarshal"},
	{"id":"m","symbol":"gopkg.in/yaml.v2.Marshal","purl":"pkg:golang/gopkg.in/yaml.v2@v2.2.2"},{"id":"p","symbol":"golang.org/x/text/language.ParseAcceptLanguage","purl":"pkg:golang/golang.org/x/text@v0.3.7"},
	{"id":"h","symbol":"example.com/app.handle","purl":"pkg:golang/example.com/app@v1.0.0"},{"id":"main","symbol":"example.com/app.main","purl":"pkg:golang/example.com/app@v1.0.0"}],"schema":"https://stella-ops.org/reach-graph/v1"}`
	b, err := Parse([]byte(shuffled), "b")
	if err != nil {
		t.Fatal(err)
	}
	if a.Digest != b.Digest {
		t.Fatalf("reordered graph: %s != %s", a.Digest, b.Digest)
	}
	c, err := Parse([]byte(strings.Replace(demoGraph, `{"from":"dead","to":"u"}`, `{"from":"h","to":"u"}`, 1)), "c")
	if err != nil {
		t.Fatal(err)
	}
	if c.Digest == a.Digest {
		t.Fatal("a changed edge kept the digest")
	}
}

func TestBadGraphs(t *testing.T) {
	node := func(id string) string {
		return `{"id":"` + id + `","symbol":"s.` + id + `","purl":"pkg:golang/example.com/x@v1"}`
	}
	doc := func(nodes, edges, entries string) string {
		return `{"schema":"https://stella-ops.org/reach-graph/v1","nodes":[` + nodes + `],"edges":[` + edges + `],"entrypoints":[` + entries + `]}`
	}
	tests := []struct{ name, doc, want string }{
		{"cycle", doc(node("a")+","+node("b")+","+node("c"), `{"from":"a","to":"b"},{"from":"b","to":"c"},{"from":"c","to":"b"}`, `"a"`), "cycle b -> c -> b"},
		{"self loop", doc(node("a"), `{"from":"a","to":"a"}`, `"a"`), "cycle a -> a"},
		{"edge to nowhere", doc(node("a"), `{"from":"a","to":"zz"}`, `"a"`), `edges[0].to: no node "zz"`},
		{"duplicate node", doc(node("a")+","+node("a"), ``, `"a"`), `nodes[1].id: "a" defined twice`},
		{"unknown entrypoint", doc(node("a"), ``, `"b"`), `entrypoints[0]: no node "b"`},
		{"no entrypoints", doc(node("a"), ``, ``), "entrypoints: none given"},
		{"bad purl", strings.Replace(doc(node("a"), ``, `"a"`), "pkg:golang/example.com/x@v1", "not a purl", 1), `nodes[0].purl`},
		{"unknown field", strings.Replace(doc(node("a"), ``, `"a"`), `"edges"`, `"edgez"`, 1), "unknown field"},
		{"truncated", doc(node("a"), ``, `"a"`)[:60], "offset"},
		{"wrong schema", strings.Replace(doc(node("a"), ``, `"a"`), "v1", "v9", 1), "schema"},
		{"neither format", `{"nodes":[]}`, "neither a reach graph"},
		{"not an object", `[1]`, "want a JSON object"},
	}
	for _, tt := range tests {
		_, err := Parse([]byte(tt.doc), "bad.json")
		if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), "bad.json") {
			t.Errorf("%s: got %v, want an error naming bad.json and containing %q", tt.name, err, tt.want)
		}
	}
}

// TestGovulncheckFixture reads the real govulncheck v1.9.0 stream in
// testdata/reachdemo (see its README): x/text's ParseAcceptLanguage is
// called (GO-2022-1059 reachable); yaml.v2 is imported but its vulnerable
// functions are not (unreachable).
func TestGovulncheckFixture(t *testing.T) {
	data, err := os.ReadFile("testdata/reachdemo/govulncheck.json")
	if err != nil {
		t.Fatal(err)
	}
	in, err := Parse(data, "govulncheck.json")
	if err != nil {
		t.Fatal(err)
	}
	if in.Format != FormatGovulncheck {
		t.Fatalf("format %q", in.Format)
	}
	r := in.Answer(&Query{Ecosystem: "Go", Name: "golang.org/x/text", Version: "0.3.7", IDs: []string{"GHSA-ppp9-7jff-5vj2", "GO-2022-1059"}})
	want := []string{"example.com/reachdemo.main", "golang.org/x/text/language.ParseAcceptLanguage"}
	if r.State != Reachable || r.Reason != ReasonGovulncheckCalled || !slices.Equal(r.Evidence, want) {
		t.Errorf("GO-2022-1059: %+v", r)
	}
	for _, id := range []string{"GO-2020-0036", "GO-2021-0061", "GO-2022-0956"} {
		r := in.Answer(&Query{Ecosystem: "Go", Name: "gopkg.in/yaml.v2", Version: "v2.2.2", IDs: []string{id}})
		if r.State != Unreachable || r.Reason != ReasonGovulncheckNotShown {
			t.Errorf("%s: %+v", id, r)
		}
	}
	for _, q := range []Query{
		{Ecosystem: "Go", Name: "gopkg.in/yaml.v2", Version: "v2.2.2", IDs: []string{"GO-2099-0001"}}, // not reported
		{Ecosystem: "Go", Name: "golang.org/x/text", Version: "0.3.8", IDs: []string{"GO-2022-1059"}}, // another version
		{Ecosystem: "npm", Name: "left-pad", Version: "1.0.0", IDs: []string{"GO-2022-1059"}},
	} {
		if r := in.Answer(&q); r.State != Unknown {
			t.Errorf("%+v: %+v, want unknown", q, r)
		}
	}
	// a stream cut inside a message is refused with its offset
	for _, cut := range []int{len(data) / 2, len(data) - 3} {
		if _, err := Parse(data[:cut], "cut.json"); err == nil || !strings.Contains(err.Error(), "cut short") {
			t.Errorf("cut at %d: %v", cut, err)
		}
	}
	// a package-level scan cannot say "unreachable"
	coarse := strings.Replace(string(data), `"scan_level": "symbol"`, `"scan_level": "package"`, 1)
	c, err := Parse([]byte(coarse), "coarse.json")
	if err != nil {
		t.Fatal(err)
	}
	if r := c.Answer(&Query{Ecosystem: "Go", Name: "gopkg.in/yaml.v2", Version: "v2.2.2", IDs: []string{"GO-2020-0036"}}); r.State != Unknown || r.Reason != ReasonGovulncheckLevel {
		t.Errorf("package-level scan: %+v", r)
	}
}

func TestGoSymbols(t *testing.T) {
	got := GoSymbols([]byte(`{"imports":[{"path":"golang.org/x/text/language","symbols":["MatchStrings","ParseAcceptLanguage"]},{"path":"p","symbols":["T.M"]}]}`))
	want := []string{"golang.org/x/text/language.MatchStrings", "golang.org/x/text/language.ParseAcceptLanguage", "p.T.M"}
	if !slices.Equal(got, want) {
		t.Fatalf("%v", got)
	}
	if GoSymbols([]byte(`{"imports":7}`)) != nil || GoSymbols(nil) != nil {
		t.Fatal("bad ecosystem_specific gave symbols")
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(demoGraph))
	if data, err := os.ReadFile("testdata/reachdemo/govulncheck.json"); err == nil {
		f.Add(data)
	}
	f.Add([]byte(`{"config":{"protocol_version":"v1.0.0"}}{"finding":{"osv":"X","trace":[{"module":"m","function":"f"}]}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		in, err := Parse(data, "fuzz")
		if err != nil {
			return
		}
		r := in.Answer(&Query{Purl: "pkg:golang/m@v1", Ecosystem: "Go", Name: "m", Version: "v1", IDs: []string{"X"}, Symbols: []string{"s.a"}})
		if r.State != Reachable && r.State != Unreachable && r.State != Unknown {
			t.Fatalf("state %q", r.State)
		}
	})
}
