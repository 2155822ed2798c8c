package canon

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/stella-ops/stella-oras/internal/testutil"
)

// FuzzCanonicalize checks properties, not just the absence of panics:
// canonical output is a fixed point, is valid JSON that decodes to the same
// value as the input, and every rejection is an *Error with an offset inside
// the input.
func FuzzCanonicalize(f *testing.F) {
	for _, s := range []string{`{"b":[1,2.5e3,{"d":null,"c":"\u00e9"}],"a":true}`, `"\ud83d\ude00"`, `[1e-7,-0,0.1]`, `{"a":1,"a":2}`} {
		f.Add([]byte(s))
	}
	if dir := testutil.CorpusDir(); dir != "" {
		ins, _ := filepath.Glob(filepath.Join(dir, "jcs", "cyberphone", "input", "*.json"))
		for _, p := range ins {
			if b, err := os.ReadFile(p); err == nil {
				f.Add(b)
			}
		}
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		for _, nfc := range []bool{false, true} {
			out, err := Canonicalize(in, Options{NFC: nfc})
			if err != nil {
				var ce *Error
				if !errors.As(err, &ce) || !errors.Is(err, ErrInvalid) {
					t.Fatalf("Canonicalize(%q) error %v is not a canon *Error", in, err)
				}
				if ce.Offset < 0 || ce.Offset > int64(len(in)) {
					t.Fatalf("Canonicalize(%q) offset %d outside input", in, ce.Offset)
				}
				continue
			}
			again, err := Canonicalize(out, Options{NFC: nfc})
			if err != nil || string(again) != string(out) {
				t.Fatalf("canonical(canonical(%q)) = %q, %v; want %q", in, again, err, out)
			}
			var v1, v2 any
			if err := json.Unmarshal(out, &v2); err != nil {
				t.Fatalf("canonical output %q is not valid JSON: %v", out, err)
			}
			if !nfc {
				if err := json.Unmarshal(in, &v1); err != nil {
					t.Fatalf("accepted %q that encoding/json rejects: %v", in, err)
				}
				if !reflect.DeepEqual(v1, v2) {
					t.Fatalf("canonical form %q decodes to %v, input to %v", out, v2, v1)
				}
			}
		}
	})
}
