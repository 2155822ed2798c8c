package artifacts

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzTopLevel: topLevel accepts exactly what json.Unmarshal into a
// map[string]json.RawMessage accepts (an object; "null", which
// encoding/json turns into a nil map, is no document for Detect), with the
// same members and the same raw bytes for each.
func FuzzTopLevel(f *testing.F) {
	for _, s := range []string{`{}`, `{"a":1}`, ` {"a" : [1, {"b": "c\u00e9\n"}], "a": true} `, `{"x":-0.5e+3,"y":null,"z":false}`,
		`{"k\u0041":"v"}`, "{\"\xff\":1}", `{"a":01}`, `{"a":1,}`, `[1]`, `null`, `{"a":"\x01"}`, `{"a":"\q"}`, `{"a":1}{}`, `{"a":[}`, `{"a":1e}`,
		strings.Repeat("[", 10001) + strings.Repeat("]", 10001)} {
		f.Add([]byte(s))
	}
	files, _ := filepath.Glob(filepath.Join("..", "examples", "*", "*.json"))
	for _, p := range files {
		if b, err := os.ReadFile(p); err == nil && len(b) < 1<<20 {
			f.Add(b)
		}
	}
	f.Fuzz(sameAsJSON)
}

func sameAsJSON(t *testing.T, b []byte) {
	t.Helper()
	got, ok := topLevel(b)
	var want map[string]json.RawMessage
	werr := json.Unmarshal(b, &want)
	wantOK := werr == nil && want != nil
	if ok != wantOK {
		t.Fatalf("topLevel ok=%v, encoding/json %v (%v) on %q", ok, wantOK, werr, b)
	}
	if !ok {
		return
	}
	if len(got) != len(want) {
		t.Fatalf("%d members, encoding/json %d", len(got), len(want))
	}
	for k, v := range want {
		if !bytes.Equal(got[k], v) {
			t.Fatalf("member %q: %q, encoding/json %q", k, got[k], v)
		}
	}
}

// TestStringWords: strings are skipped eight bytes at a time until a word
// holds a byte that needs a look; each such byte (and its neighbours in
// value, which a wrong bit trick would confuse with it), at every offset
// within and across words, in keys and values, gives encoding/json's
// answer.
func TestStringWords(t *testing.T) {
	for _, special := range []string{`"`, `\"`, `\\`, `\n`, `\u00e9`, `\x`, "\x00", "\x01", "\x1f", " ", "!", "#", "\x7f", "\x80", "\xff", "[", "]", "\\", "\\\"", "\t"} {
		for n := range 20 {
			for at := 0; at <= n; at++ {
				str := strings.Repeat("a", at) + special + strings.Repeat("b", n-at)
				sameAsJSON(t, []byte(`{"k":"`+str+`","`+str+`":1}`))
				sameAsJSON(t, []byte(`{"k":"`+str))
			}
		}
	}
}

// TestDeepNesting: the nesting bound is encoding/json's, in both
// directions, and nothing recurses past it.
func TestDeepNesting(t *testing.T) {
	for _, n := range []int{9998, 9999, 10000, 10001, 100000} {
		b := []byte(`{"a":` + strings.Repeat("[", n) + strings.Repeat("]", n) + `}`)
		_, ok := topLevel(b)
		var m map[string]json.RawMessage
		if want := json.Unmarshal(b, &m) == nil; ok != want {
			t.Errorf("depth %d: topLevel %v, encoding/json %v", n, ok, want)
		}
	}
}
