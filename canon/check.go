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
	c := checker{in: in, nfc: opts.NFC, maxDepth: opts.MaxDepth}
	if c.maxDepth <= 0 {
		c.maxDepth = DefaultMaxDepth
	}
	end, ok := c.value(0, 0)
	return ok && end == len(in)
}

// checker walks canonical JSON: no whitespace, members in key order,
// strings escaped as appendQuoted escapes them, numbers as AppendNumber
// writes them. Each method takes the index of a value and returns the
// index after it, or false as soon as the input differs from its
// canonical form (or is not JSON).
type checker struct {
	in       []byte
	nfc      bool
	maxDepth int
}

func (c *checker) value(i, depth int) (int, bool) {
	if i >= len(c.in) {
		return 0, false
	}
	switch b := c.in[i]; {
	case b == '"':
		end, _, ok := c.str(i)
		return end, ok
	case b == '{':
		return c.object(i, depth+1)
	case b == '[':
		return c.array(i, depth+1)
	case b == '-' || b >= '0' && b <= '9':
		return c.number(i)
	case b == 't':
		return c.literal(i, "true")
	case b == 'f':
		return c.literal(i, "false")
	case b == 'n':
		return c.literal(i, "null")
	}
	return 0, false
}

func (c *checker) literal(i int, lit string) (int, bool) {
	if len(c.in)-i < len(lit) || string(c.in[i:i+len(lit)]) != lit {
		return 0, false
	}
	return i + len(lit), true
}

func (c *checker) array(i, depth int) (int, bool) {
	if depth > c.maxDepth {
		return 0, false
	}
	i++
	if i < len(c.in) && c.in[i] == ']' {
		return i + 1, true
	}
	for {
		end, ok := c.value(i, depth)
		if !ok || end >= len(c.in) {
			return 0, false
		}
		switch c.in[end] {
		case ',':
			i = end + 1
		case ']':
			return end + 1, true
		default:
			return 0, false
		}
	}
}

func (c *checker) object(i, depth int) (int, bool) {
	if depth > c.maxDepth {
		return 0, false
	}
	i++
	if i < len(c.in) && c.in[i] == '}' {
		return i + 1, true
	}
	var prev []byte // the previous key's body
	prevEsc := false
	for {
		if i >= len(c.in) || c.in[i] != '"' {
			return 0, false
		}
		end, esc, ok := c.str(i)
		if !ok || end >= len(c.in) || c.in[end] != ':' {
			return 0, false
		}
		key := c.in[i+1 : end-1]
		// members must be in strictly increasing key order: otherwise
		// canonicalization reorders them, or refuses a duplicate
		if prev != nil && compareBodies(prev, prevEsc, key, esc) >= 0 {
			return 0, false
		}
		prev, prevEsc = key, esc
		if end, ok = c.value(end+1, depth); !ok || end >= len(c.in) {
			return 0, false
		}
		switch c.in[end] {
		case ',':
			i = end + 1
		case '}':
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

// str checks the string at i (in[i] == '"'): it must be valid UTF-8 (NFC
// when asked), hold no raw control characters, and escape exactly what
// appendQuoted escapes, in the same form. It returns the index after the
// closing quote and whether the string holds escapes.
func (c *checker) str(i int) (end int, esc, ok bool) {
	in := c.in
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
			if nonASCII && !c.validText(body, esc) {
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
// decoded text) when the checker asks for it.
func (c *checker) validText(body []byte, esc bool) bool {
	if !utf8.Valid(body) {
		return false
	}
	if !c.nfc {
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
func (c *checker) number(i int) (int, bool) {
	in := c.in
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
