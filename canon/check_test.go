package canon

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/stella-ops/stella-oras/internal/testutil"
)

// checkAgrees is IsCanonical's whole contract: true exactly when
// canonicalizing in succeeds and gives in back.
func checkAgrees(t *testing.T, in []byte, opts Options) bool {
	t.Helper()
	out, err := AppendCanonical(nil, in, opts)
	want := err == nil && bytes.Equal(out, in)
	if got := IsCanonical(in, opts); got != want {
		t.Fatalf("IsCanonical(%q, %+v) = %v, want %v (canonical form %q, %v)", in, opts, got, want, out, err)
	}
	return want
}

// checkCases are the edges of the canonical form, each next to a
// near miss: escapes, numbers, key order, depth, UTF-8, NFC.
var checkCases = []string{
	``, ` `, `{}`, `[]`, `{ }`, `[1 ]`, ` 1`, `1 `, `null`, `nul`, `true`, `false`, `tru`, `"`, `"a`, `"a"`, `"a"x`,
	// escapes: the short forms and \u00xx for other controls, lowercase
	`"\""`, `"\\"`, `"\/"`, `"/"`, `"\b\t\n\f\r"`, `"\u0008"`, `"\u0009"`, `"\u000a"`, `"\u000c"`, `"\u000d"`,
	`"\u0000"`, `"\u001f"`, `"\u001F"`, `"\u0020"`, `"\u0041"`, `"\u007f"`, `"\u00e9"`, `"\u0"`, `"\u00"`, `"\u001"`,
	`"\x"`, `"\"`, "\"\x01\"", "\"\x1f\"", "\"\x7f\"", "\"\u2028\"", `"\ud83d\ude00"`, "\"😀\"", `"\ud83d"`,
	// strings around the eight-byte steps, with the stop at every offset
	`"0123456"`, `"01234567"`, `"012345678"`, `"0123456789abcdef"`, `"0123456\\"`, `"01234567\\"`, `"0123\n4567"`,
	"\"012345\xc3\xa9\"", "\"0123456\xc3\xa9\"", "\"01234567\xc3\"", "\"0123456789abcde\x00\"", `"0123456789abcde"`,
	// UTF-8 and NFC (é precomposed and decomposed, "\n" before a combining mark)
	"\"\xff\"", "\"\xc3\"", "\"\xed\xa0\x80\"", "\"\xef\xbf\xbd\"", "\"\xc3\xa9\"", "\"e\xcc\x81\"", "\"\\n\xcc\x81\"", "\"n\xcc\x81\"",
	// numbers: integers up to 15 digits as written, others as ES6 writes them
	`0`, `-0`, `00`, `01`, `-`, `-a`, `1.`, `1.0`, `1.5`, `1e2`, `1E2`, `100`, `1e-7`, `1e-6`, `0.000001`, `1e+21`, `1e21`,
	`100000000000000000000`, `1e400`, `-1e400`, `123456789012345`, `1234567890123456`, `12345678901234567`, `-123456789012345`,
	`9007199254740993`, `2.5e3`, `2500`, `0.1`, `.1`, `1e`, `1e+`, `-0.0`, `5e-324`, `4.9e-324`,
	// objects: strictly increasing keys in UTF-16 order, no duplicates
	`{"a":1}`, `{"a":1,"b":2}`, `{"b":2,"a":1}`, `{"a":1,"a":1}`, `{"a":1,"a":2}`, `{"a":1,}`, `{"a"1}`, `{"a":}`, `{a:1}`,
	`{"":1,"a":2}`, `{"a":1,"ab":2}`, `{"ab":1,"a":2}`, `{"\n":1,"a":2}`, `{"\u0000":1,"\u0001":2}`, `{"\u0001":1,"\u0000":2}`,
	`{"\"":1,"\\":2}`, `{"\\":1,"\"":2}`, `{"a":1,"\u0041":2}`, "{\"\xef\xbd\xa1\":1,\"\xf0\x9f\x98\x80\":2}", "{\"\xf0\x9f\x98\x80\":1,\"\xef\xbd\xa1\":2}",
	"{\"\xee\x80\x80\":1,\"\xf0\x9f\x98\x80\":2}", "{\"\xf0\x9f\x98\x80\":1,\"\xee\x80\x80\":2}", `{"a":{"c":[1,{"e":null,"d":true}],"b":2}}`, `{"a":{"b":2,"c":[1,{"d":true,"e":null}]}}`,
	`[1,2]`, `[1,,2]`, `[,1]`, `[1,]`, `[1;2]`, `{"a":1}{}`, `[{}]`, `[[]]`,
}

func TestIsCanonical(t *testing.T) {
	var canonical int
	for _, in := range checkCases {
		for _, opts := range []Options{{}, {NFC: true}, {MaxDepth: 1}, {MaxDepth: 2, NFC: true}} {
			if checkAgrees(t, []byte(in), opts) {
				canonical++
			}
			// and its canonical form, when it has one
			if out, err := AppendCanonical(nil, []byte(in), opts); err == nil && !checkAgrees(t, out, opts) {
				t.Fatalf("IsCanonical(AppendCanonical(%q)) = false", in)
			}
		}
	}
	if canonical < 100 {
		t.Errorf("only %d canonical cases: the table lost its positives", canonical)
	}
	// depth: exactly at the bound, and one over
	for _, n := range []int{DefaultMaxDepth, DefaultMaxDepth + 1} {
		in := bytes.Repeat([]byte("["), n)
		in = append(in, bytes.Repeat([]byte("]"), n)...)
		checkAgrees(t, in, Options{})
	}
}

// TestIsCanonicalDocuments: the canonical JCS vectors and every JSON
// document the project keeps as a golden file are canonical, and stay so
// under the check.
func TestIsCanonicalDocuments(t *testing.T) {
	var files []string
	for _, g := range []string{"../engine/testdata/golden/*.json", "../engine/testdata/golden/*/*.json"} {
		m, _ := filepath.Glob(g)
		files = append(files, m...)
	}
	if dir := testutil.CorpusDir(); dir != "" {
		m, _ := filepath.Glob(filepath.Join(dir, "jcs", "cyberphone", "output", "*.json"))
		files = append(files, m...)
	}
	positives := 0
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, opts := range []Options{{}, {NFC: true}} {
			if checkAgrees(t, b, opts) {
				positives++
			}
		}
	}
	if positives < 20 {
		t.Errorf("only %d canonical documents among %d files", positives, len(files))
	}
}

// FuzzIsCanonical: IsCanonical(x) is true exactly when x is its own
// canonical form, for x and for the canonical form of x (random inputs are
// rarely canonical; their canonical forms always are), with and without
// NFC.
func FuzzIsCanonical(f *testing.F) {
	for _, s := range checkCases {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		for _, opts := range []Options{{}, {NFC: true}, {MaxDepth: 3}} {
			checkAgrees(t, in, opts)
			if out, err := AppendCanonical(nil, in, opts); err == nil {
				checkAgrees(t, out, opts)
			}
		}
	})
}

func BenchmarkIsCanonical(b *testing.B) {
	in, err := TransformNFC(benchSBOM())
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(in)))
	for b.Loop() {
		if !IsCanonical(in, Options{NFC: true}) {
			b.Fatal("not canonical")
		}
	}
}
