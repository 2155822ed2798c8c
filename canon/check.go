package canon

import (
	"bytes"
	"encoding/binary"
	"math/bits"
	"strconv"
	"unicode/utf8"
	"unsafe"

	"golang.org/x/text/unicode/norm"
)

// IsCanonical reports whether in is its own canonical form under opts:
// whether AppendCanonical(nil, in, opts) would succeed and return exactly
// in. It writes nothing, so a reader of documents that are canonical by
// construction (stella-oras writes every document canonical) can check the
// bytes it has and hash them, instead of copying them into their canonical
// form first; on false it canonicalizes as before. FuzzIsCanonical holds it
// to AppendCanonical on every input.
func IsCanonical(in []byte, opts Options) bool {
	end, ok := NewReader(in, opts).Skip(0)
	return ok && end == len(in)
}

// A Reader reads a document that should be in canonical form, checking as
// it goes that it is: no whitespace, members in key order, strings escaped
// as canonicalization escapes them, numbers written as AppendNumber writes
// them. A reader that needs a few members of a large document reads them
// and skips the rest in one pass that is also the canonical check, where
// checking and then decoding would walk the document twice.
//
// Each method takes the offset of a value and returns the offset after it,
// or false as soon as the input differs from its canonical form (or is not
// JSON); after a false the Reader is spent. When every value of the
// document has been read or skipped through the Reader and the top-level
// value ends at len(in), the document is canonical: IsCanonical is Skip(0)
// on a fresh Reader.
type Reader struct {
	in       []byte
	nfc      bool
	maxDepth int
	depth    int
}

// NewReader returns a Reader of in that checks the canonical form under
// opts.
func NewReader(in []byte, opts Options) *Reader {
	r := &Reader{in: in, nfc: opts.NFC, maxDepth: opts.MaxDepth}
	if r.maxDepth <= 0 {
		r.maxDepth = DefaultMaxDepth
	}
	return r
}

// Skip checks the value at i.
func (r *Reader) Skip(i int) (int, bool) {
	if i >= len(r.in) {
		return 0, false
	}
	switch b := r.in[i]; {
	case b == '"':
		end, _, ok := r.String(i)
		return end, ok
	case b == '{':
		return r.members(i, nil)
	case b == '[':
		return r.elements(i, nil)
	case b == '-' || b >= '0' && b <= '9':
		return r.number(i)
	case b == 't':
		return r.literal(i, "true")
	case b == 'f':
		return r.literal(i, "false")
	case b == 'n':
		return r.literal(i, "null")
	}
	return 0, false
}

func (r *Reader) literal(i int, lit string) (int, bool) {
	if len(r.in)-i < len(lit) || string(r.in[i:i+len(lit)]) != lit {
		return 0, false
	}
	return i + len(lit), true
}

// Array reads the array at i, calling elem with the offset of each
// element; elem must read the element through r and return the offset
// after it.
func (r *Reader) Array(i int, elem func(v int) (int, bool)) (int, bool) {
	return r.elements(i, elem)
}

// elements is Array, skipping each element when elem is nil (without a
// call per element).
func (r *Reader) elements(i int, elem func(v int) (int, bool)) (int, bool) {
	if i >= len(r.in) || r.in[i] != '[' {
		return 0, false
	}
	if r.depth++; r.depth > r.maxDepth {
		return 0, false
	}
	i++
	if i < len(r.in) && r.in[i] == ']' {
		r.depth--
		return i + 1, true
	}
	for {
		var end int
		var ok bool
		if elem != nil {
			end, ok = elem(i)
		} else {
			end, ok = r.Skip(i)
		}
		if !ok || end >= len(r.in) {
			return 0, false
		}
		switch r.in[end] {
		case ',':
			i = end + 1
		case ']':
			r.depth--
			return end + 1, true
		default:
			return 0, false
		}
	}
}

// Object reads the object at i, calling member for each member with its
// key's body as written (escaped reports escapes in it, which keep their
// canonical form) and the offset of its value; member must read the value
// through r and return the offset after it.
func (r *Reader) Object(i int, member func(key []byte, escaped bool, v int) (int, bool)) (int, bool) {
	return r.members(i, member)
}

// members is Object, skipping each value when member is nil.
func (r *Reader) members(i int, member func(key []byte, escaped bool, v int) (int, bool)) (int, bool) {
	if i >= len(r.in) || r.in[i] != '{' {
		return 0, false
	}
	if r.depth++; r.depth > r.maxDepth {
		return 0, false
	}
	i++
	if i < len(r.in) && r.in[i] == '}' {
		r.depth--
		return i + 1, true
	}
	var prev []byte // the previous key's body
	prevEsc := false
	for {
		if i >= len(r.in) || r.in[i] != '"' {
			return 0, false
		}
		end, esc, ok := r.String(i)
		if !ok || end >= len(r.in) || r.in[end] != ':' {
			return 0, false
		}
		key := r.in[i+1 : end-1]
		// members must be in strictly increasing key order: otherwise
		// canonicalization reorders them, or refuses a duplicate
		if prev != nil && compareBodies(prev, prevEsc, key, esc) >= 0 {
			return 0, false
		}
		prev, prevEsc = key, esc
		if member != nil {
			end, ok = member(key, esc, end+1)
		} else {
			end, ok = r.Skip(end + 1)
		}
		if !ok || end >= len(r.in) {
			return 0, false
		}
		switch r.in[end] {
		case ',':
			i = end + 1
		case '}':
			r.depth--
			return end + 1, true
		default:
			return 0, false
		}
	}
}

// compareBodies orders two canonical string bodies by their decoded UTF-16
// code units, as sortMembers orders keys.
func compareBodies(a []byte, aEsc bool, b []byte, bEsc bool) int {
	if aEsc || bEsc {
		return compareUTF16(unescapeCanonical(a), unescapeCanonical(b))
	}
	return compareUTF16(a, b)
}

const (
	lo7 = 0x0101010101010101
	hi7 = 0x8080808080808080
)

// special reports, in the high bit of each byte, the bytes of w (eight
// string bytes, little-endian) that end a run of plain ASCII: controls,
// '"', '\\' and bytes ≥ 0x80. Bits above the lowest reported byte may be
// spurious (borrows), the lowest is exact.
func special(w uint64) uint64 {
	q, b := w^('"'*lo7), w^('\\'*lo7) // zero bytes where w has a quote, a backslash
	return ((w-0x20*lo7)&^w | (q-lo7)&^q | (b-lo7)&^b | w) & hi7
}

// String reads the string at i, whose body is in[i+1:end-1]: it must be
// valid UTF-8 (NFC when asked), hold no raw control characters, and escape
// exactly what canonicalization escapes, in the same form. escaped reports
// escapes in it.
func (r *Reader) String(i int) (end int, escaped, ok bool) {
	in := r.in
	if i >= len(in) || in[i] != '"' {
		return 0, false, false
	}
	esc := false
	start := i + 1
	nonASCII := false
	i = start
	for {
		// eight bytes at a time through the plain ASCII run
		for i+8 <= len(in) {
			s := special(binary.LittleEndian.Uint64(in[i:]))
			if s == 0 {
				i += 8
				continue
			}
			i += bits.TrailingZeros64(s) / 8
			break
		}
		if i >= len(in) {
			return 0, false, false
		}
		switch b := in[i]; {
		case b >= 0x80:
			nonASCII = true
			i++
		case b == '"':
			body := in[start:i]
			if nonASCII && !r.validText(body, esc) {
				return 0, false, false
			}
			return i + 1, esc, true
		case b == '\\':
			n := canonicalEscape(in[i:])
			if n == 0 {
				return 0, false, false
			}
			esc = true
			i += n
		case b < 0x20:
			return 0, false, false
		default:
			i++
		}
	}
}

// validText checks a non-ASCII string body: valid UTF-8, and NFC (of the
// decoded text) when the Reader asks for it.
func (r *Reader) validText(body []byte, esc bool) bool {
	if !utf8.Valid(body) {
		return false
	}
	if !r.nfc {
		return true
	}
	if esc {
		// an escape decodes to a control or a quote, and NFC is judged on
		// the decoded text (as strSlow does): "\n" followed by a combining
		// mark is normal, "n" followed by it is not
		body = unescapeCanonical(body)
	}
	return norm.NFC.IsNormal(body)
}

// canonicalEscape returns the length of the escape sequence at the start
// of s if it is the one appendQuoted writes for the character it encodes,
// else 0.
func canonicalEscape(s []byte) int {
	if len(s) < 2 {
		return 0
	}
	switch s[1] {
	case '"', '\\', 'b', 't', 'n', 'f', 'r':
		return 2
	case 'u':
		// \u00xx with lowercase hex, for controls without a short form
		if len(s) < 6 || s[2] != '0' || s[3] != '0' || s[4] != '0' && s[4] != '1' {
			return 0
		}
		var lo byte
		switch d := s[5]; {
		case d >= '0' && d <= '9':
			lo = d - '0'
		case d >= 'a' && d <= 'f':
			lo = d - 'a' + 10
		default:
			return 0
		}
		switch (s[4]-'0')<<4 | lo {
		case '\b', '\t', '\n', '\f', '\r':
			return 0
		}
		return 6
	}
	return 0
}

// number checks the number at i: valid JSON, and written as AppendNumber
// writes its value.
func (r *Reader) number(i int) (int, bool) {
	in := r.in
	start := i
	if in[i] == '-' {
		i++
	}
	digits := i
	if i >= len(in) || in[i] < '0' || in[i] > '9' {
		return 0, false
	}
	if in[i] == '0' {
		i++
	} else {
		for i < len(in) && in[i] >= '0' && in[i] <= '9' {
			i++
		}
	}
	intEnd := i
	if i < len(in) && in[i] != '.' && in[i] != 'e' && in[i] != 'E' || i == len(in) {
		// an integer: canonical up to 15 digits (exact doubles) unless
		// it is -0; longer ones are judged by their value below
		if intEnd-digits <= 15 {
			return i, !(intEnd-digits == 1 && in[digits] == '0' && start != digits)
		}
	}
	if i < len(in) && in[i] == '.' {
		i++
		j := i
		for i < len(in) && in[i] >= '0' && in[i] <= '9' {
			i++
		}
		if i == j {
			return 0, false
		}
	}
	if i < len(in) && (in[i] == 'e' || in[i] == 'E') {
		i++
		if i < len(in) && (in[i] == '+' || in[i] == '-') {
			i++
		}
		j := i
		for i < len(in) && in[i] >= '0' && in[i] <= '9' {
			i++
		}
		if i == j {
			return 0, false
		}
	}
	lit := in[start:i]
	f, err := strconv.ParseFloat(unsafe.String(&lit[0], len(lit)), 64)
	if err != nil {
		return 0, false
	}
	var buf [32]byte
	return i, bytes.Equal(AppendNumber(buf[:0], f), lit)
}
