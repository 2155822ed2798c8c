package canon

import (
	"bufio"
	"errors"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/stella-ops/stella-oras/internal/testutil"
	"golang.org/x/text/unicode/norm"
)

func TestCorpusJCS(t *testing.T) {
	dir := filepath.Join(testutil.Corpus(t), "jcs", "cyberphone")
	names := []string{"arrays", "french", "structures", "unicode", "values", "weird"}
	for _, name := range names {
		t.Run(name, func(t *testing.T) {
			in, err := os.ReadFile(filepath.Join(dir, "input", name+".json"))
			if err != nil {
				t.Fatal(err)
			}
			want, err := os.ReadFile(filepath.Join(dir, "output", name+".json"))
			if err != nil {
				t.Fatal(err)
			}
			got, err := Transform(in)
			if err != nil {
				t.Fatalf("Transform(%s) error: %v", name, err)
			}
			if string(got) != string(want) {
				t.Errorf("Transform(%s) = %q, want %q", name, got, want)
			}
			// The outhex file is the same expectation as hex bytes.
			hexWant, err := os.ReadFile(filepath.Join(dir, "outhex", name+".txt"))
			if err != nil {
				t.Fatal(err)
			}
			var hb []byte
			for _, f := range strings.Fields(string(hexWant)) {
				v, err := strconv.ParseUint(f, 16, 8)
				if err != nil {
					t.Fatal(err)
				}
				hb = append(hb, byte(v))
			}
			if string(got) != string(hb) {
				t.Errorf("Transform(%s) differs from outhex", name)
			}
			// With NFC: equal for all but unicode and weird (MANIFEST's NFC caveat).
			nfc, err := TransformNFC(in)
			if err != nil {
				t.Fatalf("TransformNFC(%s) error: %v", name, err)
			}
			changes := name == "unicode" || name == "weird"
			if (string(nfc) != string(want)) != changes {
				t.Errorf("TransformNFC(%s) changed = %v, want %v", name, string(nfc) != string(want), changes)
			}
			again, err := TransformNFC(nfc)
			if err != nil || string(again) != string(nfc) {
				t.Errorf("TransformNFC not idempotent on %s", name)
			}
		})
	}
	// The NFC forms the MANIFEST describes.
	in, _ := os.ReadFile(filepath.Join(dir, "input", "unicode.json"))
	nfc, _ := TransformNFC(in)
	if !strings.Contains(string(nfc), "\u00c5") || strings.Contains(string(nfc), "A\u030a") {
		t.Errorf("TransformNFC(unicode) = %q, want U+00C5 instead of A+U+030A", nfc)
	}
	in, _ = os.ReadFile(filepath.Join(dir, "input", "weird.json"))
	nfc, _ = TransformNFC(in)
	s := string(nfc)
	iO, iD, iE := strings.Index(s, "\"\u00f6\""), strings.Index(s, "\"\u05d3\u05bc\""), strings.Index(s, "\"\u20ac\"")
	if iD < 0 || !(iO < iD && iD < iE) {
		t.Errorf("TransformNFC(weird): U+FB33 key not normalized and sorted between ö and €: %q", s)
	}
}

func TestES6Numbers(t *testing.T) {
	path := filepath.Join(testutil.Corpus(t), "jcs", "cyberphone", "es6testfile-100k.txt")
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	n := 0
	for sc.Scan() {
		line := sc.Text()
		hexs, want, ok := strings.Cut(line, ",")
		if !ok {
			t.Fatalf("bad line %q", line)
		}
		bits, err := strconv.ParseUint(hexs, 16, 64)
		if err != nil {
			t.Fatal(err)
		}
		v := math.Float64frombits(bits)
		if got := string(AppendNumber(nil, v)); got != want {
			t.Fatalf("line %d: AppendNumber(%v) = %s, want %s", n+1, v, got, want)
		}
		// And through the parser: the expected text must round-trip to itself.
		got, err := Transform([]byte(want))
		if err != nil || string(got) != want {
			t.Fatalf("line %d: Transform(%s) = %s, %v", n+1, want, got, err)
		}
		n++
	}
	if n != 100000 {
		t.Fatalf("read %d lines, want 100000", n)
	}
}

func TestNormalizationVectors(t *testing.T) {
	path := filepath.Join(testutil.Corpus(t), "unicode", "NormalizationTest-15.0.0.txt")
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	decode := func(col string) string {
		var b strings.Builder
		for _, h := range strings.Fields(col) {
			r, _ := strconv.ParseUint(h, 16, 32)
			b.WriteRune(rune(r))
		}
		return b.String()
	}
	enc := func(s string) []byte {
		b, _ := Marshal(s)
		return b
	}
	lines := 0
	for _, line := range strings.Split(string(data), "\n") {
		if line == "" || line[0] == '#' || line[0] == '@' {
			continue
		}
		cols := strings.Split(line, ";")
		c := make([]string, 5)
		for i := range c {
			c[i] = decode(cols[i])
		}
		// canon's NFC of c1, c2, c3 is the canonical JSON string of c2; of c4, c5 that of c4.
		want2, _ := Transform(enc(c[1]))
		for _, i := range []int{0, 1, 2} {
			got, err := TransformNFC([]byte(strconv.Quote(c[i])))
			if err != nil || string(got) != string(want2) || norm.NFC.String(c[i]) != c[1] {
				t.Fatalf("line %q col %d: got %q, want %q (%v)", line, i+1, got, want2, err)
			}
		}
		lines++
	}
	if lines < 19000 {
		t.Fatalf("only %d test lines", lines)
	}
}

func TestOwnVectors(t *testing.T) {
	tests := []struct{ in, want string }{
		{`{"b":2,"a":1}`, `{"a":1,"b":2}`},
		{` [ 1 , 2.50 , -0 , -0.0, 1e2, 1E-7, 123456789012345678 ] `, `[1,2.5,0,0,100,1e-7,123456789012345680]`},
		{`"\u0041\/\u00e9\n\u001f"`, `"A/é\n\u001f"`},
		{`{"\u0022":1,"\\":2,"a\nb":3}`, `{"\"":1,"\\":2,"a\nb":3}`},
		{`{"\ud83d\ude00":1,"\ufb33":2,"z":3}`, "{\"z\":3,\"😀\":1,\"\ufb33\":2}"},
		{`[true,false,null,{}]`, `[true,false,null,{}]`},
		{`"\u2028<>&"`, "\"\u2028<>&\""},
		{`{"a":{"d":1,"c":[{"z":0,"y":1}]},"0":0}`, `{"0":0,"a":{"c":[{"y":1,"z":0}],"d":1}}`},
		{`9007199254740993`, `9007199254740992`},
		{`1e21`, `1e+21`},
	}
	for _, tt := range tests {
		got, err := Transform([]byte(tt.in))
		if err != nil {
			t.Errorf("Transform(%s) error %v", tt.in, err)
			continue
		}
		if string(got) != tt.want {
			t.Errorf("Transform(%s) = %s, want %s", tt.in, got, tt.want)
		}
	}
}

func TestReject(t *testing.T) {
	tests := []struct {
		in     string
		err    error
		offset int64
	}{
		{`{"a":1,"a":2}`, ErrDuplicateKey, 7},
		{`{"b":1,"a":2,"b":3}`, ErrDuplicateKey, 13},
		{"\"\xff\"", ErrInvalidUTF8, 1},
		{"\"ab\xc3\"", ErrInvalidUTF8, 3},
		{`"\ud800"`, ErrLoneSurrogate, 1},
		{`"\udc00\ud800"`, ErrLoneSurrogate, 1},
		{`"x\ud800\u0041"`, ErrLoneSurrogate, 2},
		{`1e400`, ErrNumberRange, 0},
		{`[-1e309]`, ErrNumberRange, 1},
		{`{"a":1`, ErrSyntax, 6},
		{`{"a" 1}`, ErrSyntax, 5},
		{`[1,]`, ErrSyntax, 3},
		{`01`, ErrTrailingData, 1},
		{`1.`, ErrSyntax, 2},
		{`+1`, ErrSyntax, 0},
		{`{"a":1} x`, ErrTrailingData, 8},
		{"\"a\tb\"", ErrSyntax, 2},
		{`"\x"`, ErrSyntax, 1},
		{`nul`, ErrSyntax, 0},
		{``, ErrSyntax, 0},
		{"\xef\xbb\xbf{}", ErrSyntax, 0},
		{strings.Repeat("[", DefaultMaxDepth+1), ErrTooDeep, DefaultMaxDepth},
	}
	for _, tt := range tests {
		_, err := Transform([]byte(tt.in))
		var ce *Error
		if !errors.As(err, &ce) || !errors.Is(err, tt.err) || !errors.Is(err, ErrInvalid) {
			t.Errorf("Transform(%q) error = %v, want %v", tt.in, err, tt.err)
			continue
		}
		if ce.Offset != tt.offset {
			t.Errorf("Transform(%q) offset = %d, want %d (%v)", tt.in, ce.Offset, tt.offset, err)
		}
	}
}

func TestDuplicateAfterNFC(t *testing.T) {
	in := []byte("{\"\u00c5\":1,\"A\u030a\":2}")
	if _, err := Transform(in); err != nil {
		t.Fatalf("Transform: distinct keys without NFC, got %v", err)
	}
	if _, err := TransformNFC(in); !errors.Is(err, ErrDuplicateKey) {
		t.Fatalf("TransformNFC error = %v, want ErrDuplicateKey", err)
	}
}

func TestMillionNested(t *testing.T) {
	in := []byte(strings.Repeat("[", 1_000_000) + strings.Repeat("]", 1_000_000))
	if _, err := Transform(in); !errors.Is(err, ErrTooDeep) {
		t.Fatalf("Transform(1e6 nested) error = %v, want ErrTooDeep", err)
	}
}

func TestContentID(t *testing.T) {
	// FIPS 180-2 known answer: SHA-256("abc").
	if got, want := ContentID([]byte("abc")), "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"; got != want {
		t.Fatalf("ContentID(abc) = %s, want %s", got, want)
	}
	b, id, err := MarshalID(map[string]any{"b": 1, "a": "x"})
	if err != nil {
		t.Fatal(err)
	}
	if string(b) != `{"a":"x","b":1}` || id != ContentID(b) {
		t.Fatalf("MarshalID = %s, %s", b, id)
	}
}

// FuzzAppendString: AppendString writes what Marshal writes for the same
// string, whatever the string (invalid UTF-8, controls, decomposed text).
func FuzzAppendString(f *testing.F) {
	for _, s := range []string{"", "plain", "quote\" back\\slash", "ctl\x00\x1f\x7f", "A\u030a", "\ufb33", "bad\xff\xfeutf8", "<>&\u2028\u2029", "é\u0301",
		"sha256:00134c6f9779c2848c30fdeb28acf9fe267f0919b591861338fbe63f6de0f201", "0123456\"", "01234567\x1f", "012345678\x80", "0123456789abcde\\"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		want, err := Marshal(s)
		if err != nil {
			t.Fatal(err)
		}
		if got := AppendString(nil, s); string(got) != string(want) {
			t.Fatalf("AppendString(%q) = %s, Marshal = %s", s, got, want)
		}
	})
}
