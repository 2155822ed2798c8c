package delta

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/stella-ops/stella-oras/artifacts"
	"github.com/stella-ops/stella-oras/canon"
)

// deltaBytes computes the delta of a verdict against itself reversed in
// findings order, through one decoder: what Compute reads, in bytes.
func deltaBytes(t testing.TB, dec func([]byte) (*artifacts.Verdict, string, error), base, head []byte) ([]byte, error) {
	b, bd, err := dec(base)
	if err != nil {
		return nil, err
	}
	h, hd, err := dec(head)
	if err != nil {
		return nil, err
	}
	d := Compute(b, h, bd, hd)
	out, id, err := canon.MarshalID(d)
	if err != nil {
		return nil, err
	}
	// the direct writer gives the same bytes
	if fast, fid, err := MarshalID(d); err != nil || !bytes.Equal(fast, out) || fid != id {
		t.Fatalf("delta.MarshalID differs from canon.MarshalID (%v)", err)
	}
	return out, nil
}

// TestScanMatchesDecode: on every golden verdict of the engine (and the
// benchmark's, when generated), every pair gives the same delta through
// the scanner as through encoding/json.
func TestScanMatchesDecode(t *testing.T) {
	var files []string
	for _, g := range []string{"../testdata/golden/*.verdict.json", "../testdata/golden/scenarios/*.verdict.json", "../testdata/golden/corpus/*.json", "../../bench/out/*-10000.json"} {
		m, _ := filepath.Glob(g)
		files = append(files, m...)
	}
	if len(files) < 10 {
		t.Fatalf("only %d golden verdicts found", len(files))
	}
	var docs [][]byte
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		docs = append(docs, b)
	}
	for i := range docs {
		for _, j := range []int{i, (i + 1) % len(docs), (i + 7) % len(docs)} {
			fast, err1 := deltaBytes(t, Decode, docs[i], docs[j])
			slow, err2 := deltaBytes(t, decodeJSON, docs[i], docs[j])
			if (err1 == nil) != (err2 == nil) || !bytes.Equal(fast, slow) {
				t.Errorf("%s vs %s: scanner and encoding/json disagree (%v, %v)", files[i], files[j], err1, err2)
			}
		}
	}
}

func FuzzDecode(f *testing.F) {
	for _, g := range []string{"../testdata/golden/quickstart-vex.verdict.json", "../testdata/golden/scenarios/reachable-high-govulncheck.verdict.json", "../testdata/golden/scenarios/unknowns-budget-prod.verdict.json"} {
		if b, err := os.ReadFile(g); err == nil {
			f.Add(b)
		}
	}
	f.Add([]byte(`{"kind":"stella-ops/verdict/v1","findings":null,"gates":null,"budget_check":null,"risk_score":3,"unknowns_count":1}`))
	f.Add([]byte(`{"kind":"stella-ops/verdict/v1","findings":[{"id":"a\"b","vex":{"status":"x"},"reachability":null,"rules":[{"name":"n","outcome":"fail"}]}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		fast, err1 := deltaBytes(t, Decode, data, data)
		slow, err2 := deltaBytes(t, decodeJSON, data, data)
		if foldedKey(data) {
			// encoding/json matches keys case-insensitively; the scanner,
			// like the format, does not: only the errors must agree
			// (a folded key's value is skipped, never misread)
			if err1 != nil && err2 == nil {
				t.Fatalf("scanner refused what encoding/json read: %v", err1)
			}
			return
		}
		if (err1 == nil) != (err2 == nil) || !bytes.Equal(fast, slow) {
			t.Fatalf("scanner and encoding/json disagree: %v / %v\n%s\n%s", err1, err2, fast, slow)
		}
	})
}

var keyRE = regexp.MustCompile(`"((?:[^"\\]|\\.)*)":`)

// foldedKey reports a key that equals a verdict field name only under
// case folding (encoding/json would read it; the scanner does not).
func foldedKey(data []byte) bool {
	names := []string{"kind", "manifest_digest", "status", "risk_score", "unknowns_count", "gates", "budget_check",
		"environment", "findings", "id", "purl", "vulnerability", "severity", "outcome", "vex", "reachability", "state", "rules", "name", "message"}
	for _, m := range keyRE.FindAllSubmatch(data, -1) {
		var k string
		if json.Unmarshal(append(append([]byte{'"'}, m[1]...), '"'), &k) != nil {
			k = string(m[1])
		}
		for _, n := range names {
			if k != n && strings.EqualFold(k, n) {
				return true
			}
		}
	}
	return false
}

// TestJoinPaths: the merge join (findings sorted by ID, as verdicts list
// them) and the map join (any order) give the same delta.
func TestJoinPaths(t *testing.T) {
	pairs := [][2]string{
		{"../testdata/golden/scenarios/baseline-default.verdict.json", "../testdata/golden/scenarios/reachable-high-govulncheck.verdict.json"},
		{"../testdata/golden/quickstart.verdict.json", "../testdata/golden/quickstart-vex.verdict.json"},
		{"../testdata/golden/scenarios/exception-active.verdict.json", "../testdata/golden/corpus/proton-bridge-v1.8.0.cdx-1.2.json"},
	}
	for _, p := range pairs {
		var vs [2]*artifacts.Verdict
		var ids [2]string
		for k, f := range p {
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			if vs[k], ids[k], err = Decode(b); err != nil {
				t.Fatal(err)
			}
		}
		want, _, err := MarshalID(Compute(vs[0], vs[1], ids[0], ids[1]))
		if err != nil {
			t.Fatal(err)
		}
		slices.Reverse(vs[0].Findings)
		slices.Reverse(vs[1].Findings)
		if len(vs[1].Findings) > 1 && strictlySorted(vs[1].Findings) {
			t.Fatal("reversed findings still sorted: the map path is not exercised")
		}
		got, _, err := MarshalID(Compute(vs[0], vs[1], ids[0], ids[1]))
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("%s: the two joins disagree (%v)", p, err)
		}
	}
}

// TestDecodeRefuses: wrong kinds, wrong shapes and out-of-range counts are
// refused with a message that tells them apart.
func TestDecodeRefuses(t *testing.T) {
	for doc, want := range map[string]string{
		`{"kind":"stella-ops/scan-manifest/v1"}`:                             `kind "stella-ops/scan-manifest/v1"`,
		`{"kind":"stella-ops/verdict/v1","findings":{"a":1}}`:                "wrong type or shape",
		`{"kind":"stella-ops/verdict/v1","risk_score":-9000000000000000000}`: "risk_score",
		`{"kind":"stella-ops/verdict/v1","risk_score":9000000000000000000}`:  "risk_score",
		`{"kind":"stella-ops/verdict/v1","unknowns_count":-1}`:               "unknowns_count",
		`{"kind":"stella-ops/verdict/v1","risk_score":1.5}`:                  "wrong type or shape",
	} {
		if _, _, err := Decode([]byte(doc)); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want an error with %q", doc, err, want)
		}
	}
}

// TestDecodeOtherSerializations: a verdict written otherwise than
// canonically (indented; re-encoded by encoding/json, which escapes <, >
// and & and writes keys in its own order) is not read in place but
// canonicalized first, and decodes to the same verdict and digest.
func TestDecodeOtherSerializations(t *testing.T) {
	escaped := 0 // re-encoded verdicts that encoding/json escaped
	for _, f := range []string{"../testdata/golden/quickstart.verdict.json", "../testdata/golden/quickstart-vex.verdict.json", "../testdata/golden/scenarios/proton-bridge-strict-staging.verdict.json"} {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if !canon.IsCanonical(b, canon.Options{}) {
			t.Fatalf("%s is not canonical", f)
		}
		want, wantID, err := Decode(b)
		if err != nil {
			t.Fatal(err)
		}
		var indented bytes.Buffer
		if err := json.Indent(&indented, b, "", "  "); err != nil {
			t.Fatal(err)
		}
		var m map[string]any
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatal(err)
		}
		reencoded, err := json.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		if canon.IsCanonical(indented.Bytes(), canon.Options{}) {
			t.Fatalf("%s indented is canonical", f)
		}
		if !canon.IsCanonical(reencoded, canon.Options{}) {
			escaped++
		}
		for _, other := range [][]byte{indented.Bytes(), reencoded} {
			got, id, err := Decode(other)
			if err != nil || id != wantID || !reflect.DeepEqual(got, want) {
				t.Errorf("%s: Decode(other serialization) = %s, %v; want the verdict of %s", f, id, err, wantID)
			}
		}
	}
	if escaped == 0 {
		t.Error("no re-encoded verdict differs from its canonical form")
	}
}
