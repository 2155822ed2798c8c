package canon

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"unicode/utf16"
	"unicode/utf8"
	"unsafe"

	"golang.org/x/text/unicode/norm"
)

// Version is the value of the "_canonVersion" marker that stella-oras puts
// in every JSON document it writes: RFC 8785 with NFC-normalized strings.
// It changes only if the canonical form of some document would change.
const Version = "stella-canon/1 rfc8785+nfc"

// VersionKey is the member name of the canonicalization marker.
const VersionKey = "_canonVersion"

// DefaultMaxDepth bounds nesting. It matches encoding/json's own limit, so
// everything canon accepts the standard library can decode too, and it keeps
// hostile input (a million nested arrays) from growing the stack.
const DefaultMaxDepth = 10000

// Options tunes canonicalization. The zero value is plain RFC 8785.
type Options struct {
	// NFC normalizes every string (keys and values) to Unicode NFC before
	// sorting and serialization. Off by default, since plain JCS does not.
	NFC bool
	// MaxDepth bounds nesting of arrays and objects; 0 means DefaultMaxDepth.
	MaxDepth int
}

// Transform returns the RFC 8785 canonical form of the JSON document in.
func Transform(in []byte) ([]byte, error) { return Canonicalize(in, Options{}) }

// TransformNFC returns the RFC 8785 canonical form of in with every string
// NFC-normalized: the form stella-oras hashes and stores.
func TransformNFC(in []byte) ([]byte, error) { return Canonicalize(in, Options{NFC: true}) }

// Canonicalize returns the canonical form of in under opts. On invalid
// input it returns an *Error carrying the byte offset.
func Canonicalize(in []byte, opts Options) ([]byte, error) {
	return AppendCanonical(make([]byte, 0, len(in)), in, opts)
}

// AppendCanonical appends the canonical form of in to dst.
func AppendCanonical(dst, in []byte, opts Options) ([]byte, error) {
	p := parserPool.Get().(*parser)
	defer func() {
		// Keep the scratch space for the next call unless it grew huge.
		p.in, p.out = nil, nil
		if cap(p.scratch) > 64<<20 {
			p.scratch = nil
		}
		parserPool.Put(p)
	}()
	*p = parser{in: in, out: dst, nfc: opts.NFC, maxDepth: opts.MaxDepth,
		members: p.members[:0], scratch: p.scratch[:0], tmp: p.tmp[:0]}
	if p.maxDepth <= 0 {
		p.maxDepth = DefaultMaxDepth
	}
	p.ws()
	if err := p.value(); err != nil {
		return nil, err
	}
	p.ws()
	if p.pos != len(p.in) {
		return nil, p.fail(ErrTrailingData, "")
	}
	return p.out, nil
}

// Marshal encodes v with encoding/json and returns its canonical (NFC) form.
func Marshal(v any) ([]byte, error) {
	raw, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("encoding JSON: %w", err)
	}
	return TransformNFC(raw)
}

// ContentID returns "sha256:<hex>" of b. Call it on canonical bytes.
func ContentID(b []byte) string {
	sum := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// MarshalID is Marshal followed by ContentID.
func MarshalID(v any) ([]byte, string, error) {
	b, err := Marshal(v)
	if err != nil {
		return nil, "", err
	}
	return b, ContentID(b), nil
}

var parserPool = sync.Pool{New: func() any { return new(parser) }}

type member struct {
	keyStart, keyEnd int    // canonical quoted key in out
	end              int    // end of the member's value in out
	off              int    // offset of the key in the input, for errors
	prefix           uint64 // first 8 key bytes, big-endian, zero-padded
	slow             bool   // key has escapes or bytes ≥ 0xEE: compare in full
}

type parser struct {
	in       []byte
	pos      int
	out      []byte
	nfc      bool
	depth    int
	maxDepth int
	members  []member // a stack shared by all open objects
	scratch  []byte
	tmp      []byte
}

func (p *parser) fail(err error, detail string) error {
	return &Error{Offset: int64(p.pos), Err: err, Detail: detail}
}

func (p *parser) failAt(off int, err error, detail string) error {
	return &Error{Offset: int64(off), Err: err, Detail: detail}
}

func (p *parser) unexpected() error {
	if p.pos >= len(p.in) {
		return p.fail(ErrSyntax, "unexpected end of input")
	}
	return p.fail(ErrSyntax, fmt.Sprintf("unexpected byte %q", p.in[p.pos]))
}

func (p *parser) ws() {
	for p.pos < len(p.in) {
		switch p.in[p.pos] {
		case ' ', '\t', '\n', '\r':
			p.pos++
		default:
			return
		}
	}
}

func (p *parser) value() error {
	if p.pos >= len(p.in) {
		return p.unexpected()
	}
	switch c := p.in[p.pos]; {
	case c == '{':
		return p.object()
	case c == '[':
		return p.array()
	case c == '"':
		_, err := p.str()
		return err
	case c == '-' || (c >= '0' && c <= '9'):
		return p.number()
	case c == 't':
		return p.literal("true")
	case c == 'f':
		return p.literal("false")
	case c == 'n':
		return p.literal("null")
	default:
		return p.unexpected()
	}
}

func (p *parser) literal(lit string) error {
	if len(p.in)-p.pos < len(lit) || string(p.in[p.pos:p.pos+len(lit)]) != lit {
		return p.fail(ErrSyntax, "invalid literal")
	}
	p.pos += len(lit)
	p.out = append(p.out, lit...)
	return nil
}

func (p *parser) enter() error {
	p.depth++
	if p.depth > p.maxDepth {
		return p.fail(ErrTooDeep, fmt.Sprintf("more than %d levels", p.maxDepth))
	}
	return nil
}

func (p *parser) array() error {
	if err := p.enter(); err != nil {
		return err
	}
	p.pos++
	p.out = append(p.out, '[')
	p.ws()
	if p.pos < len(p.in) && p.in[p.pos] == ']' {
		p.pos++
		p.out = append(p.out, ']')
		p.depth--
		return nil
	}
	for {
		p.ws()
		if err := p.value(); err != nil {
			return err
		}
		p.ws()
		if p.pos >= len(p.in) {
			return p.unexpected()
		}
		switch p.in[p.pos] {
		case ',':
			p.pos++
			p.out = append(p.out, ',')
		case ']':
			p.pos++
			p.out = append(p.out, ']')
			p.depth--
			return nil
		default:
			return p.unexpected()
		}
	}
}

func (p *parser) object() error {
	if err := p.enter(); err != nil {
		return err
	}
	p.pos++
	p.out = append(p.out, '{')
	start := len(p.out)
	mstart := len(p.members)
	p.ws()
	if p.pos < len(p.in) && p.in[p.pos] == '}' {
		p.pos++
		p.out = append(p.out, '}')
		p.depth--
		return nil
	}
	for {
		p.ws()
		if p.pos >= len(p.in) || p.in[p.pos] != '"' {
			return p.unexpected()
		}
		m := member{off: p.pos, keyStart: len(p.out)}
		esc, err := p.str()
		if err != nil {
			return err
		}
		m.keyEnd = len(p.out)
		m.prefix, m.slow = keyPrefix(p.out[m.keyStart+1 : m.keyEnd-1])
		m.slow = m.slow || esc
		p.ws()
		if p.pos >= len(p.in) || p.in[p.pos] != ':' {
			return p.unexpected()
		}
		p.pos++
		p.out = append(p.out, ':')
		p.ws()
		if err := p.value(); err != nil {
			return err
		}
		m.end = len(p.out)
		p.members = append(p.members, m)
		p.ws()
		if p.pos >= len(p.in) {
			return p.unexpected()
		}
		if p.in[p.pos] == ',' {
			p.pos++
			p.out = append(p.out, ',')
			continue
		}
		if p.in[p.pos] != '}' {
			return p.unexpected()
		}
		p.pos++
		break
	}
	if err := p.sortMembers(start, p.members[mstart:]); err != nil {
		return err
	}
	p.members = p.members[:mstart]
	p.out = append(p.out, '}')
	p.depth--
	return nil
}

// sortMembers reorders the members written at out[start:] by key in UTF-16
// code unit order (RFC 8785 §3.2.3) and rejects duplicate keys.
func (p *parser) sortMembers(start int, ms []member) error {
	if len(ms) < 2 {
		return nil
	}
	sorted := true
	for i := 1; i < len(ms); i++ {
		c := p.compareKeys(&ms[i-1], &ms[i])
		if c == 0 {
			return p.duplicate(&ms[i-1], &ms[i])
		}
		if c > 0 {
			sorted = false
		}
	}
	if sorted {
		return nil
	}
	if len(ms) <= 16 {
		// Insertion sort: objects are small, and this avoids the generic
		// sort's overhead, the hot spot of canonicalizing an SBOM.
		for i := 1; i < len(ms); i++ {
			for j := i; j > 0 && p.compareKeys(&ms[j-1], &ms[j]) > 0; j-- {
				ms[j-1], ms[j] = ms[j], ms[j-1]
			}
		}
	} else {
		slices.SortFunc(ms, func(a, b member) int { return p.compareKeys(&a, &b) })
	}
	for i := 1; i < len(ms); i++ {
		if p.compareKeys(&ms[i-1], &ms[i]) == 0 {
			return p.duplicate(&ms[i-1], &ms[i])
		}
	}
	p.scratch = append(p.scratch[:0], p.out[start:]...)
	p.out = p.out[:start]
	for i, m := range ms {
		if i > 0 {
			p.out = append(p.out, ',')
		}
		p.out = append(p.out, p.scratch[m.keyStart-start:m.end-start]...)
	}
	return nil
}

// keyPrefix packs the first 8 bytes of a key for a fast first comparison.
// Byte order equals UTF-16 order unless a byte ≥ 0xEE (U+E000 and above,
// or a supplementary character) is involved; such keys are marked slow.
func keyPrefix(k []byte) (uint64, bool) {
	var v uint64
	slow := false
	for i := 0; i < 8; i++ {
		v <<= 8
		if i < len(k) {
			v |= uint64(k[i])
		}
	}
	for _, c := range k {
		if c >= 0xEE {
			slow = true
			break
		}
	}
	return v, slow
}

func (p *parser) duplicate(a, b *member) error {
	off := max(a.off, b.off)
	return p.failAt(off, ErrDuplicateKey, string(p.out[a.keyStart:a.keyEnd]))
}

func (p *parser) compareKeys(a, b *member) int {
	if !a.slow && !b.slow {
		if a.prefix != b.prefix {
			if a.prefix < b.prefix {
				return -1
			}
			return 1
		}
		return bytes.Compare(p.out[a.keyStart+1:a.keyEnd-1], p.out[b.keyStart+1:b.keyEnd-1])
	}
	ka := p.out[a.keyStart+1 : a.keyEnd-1]
	kb := p.out[b.keyStart+1 : b.keyEnd-1]
	if hasEscape(ka) || hasEscape(kb) {
		// Rare: keys holding quotes, backslashes or control characters
		// compare by their decoded form.
		return compareUTF16(unescapeCanonical(ka), unescapeCanonical(kb))
	}
	return compareUTF16(ka, kb)
}

func hasEscape(k []byte) bool { return bytes.IndexByte(k, '\\') >= 0 }

// compareUTF16 orders two valid UTF-8 strings by their UTF-16 code units.
func compareUTF16(a, b []byte) int {
	n := min(len(a), len(b))
	i := 0
	for i < n && a[i] == b[i] {
		i++
	}
	if i == n {
		return len(a) - len(b)
	}
	if a[i] < 0x80 || b[i] < 0x80 {
		// UTF-8 byte order is code point order, and below U+E000 code point
		// order is UTF-16 order.
		return int(a[i]) - int(b[i])
	}
	for i > 0 && !utf8.RuneStart(a[i]) {
		i--
	}
	ra, _ := utf8.DecodeRune(a[i:])
	rb, _ := utf8.DecodeRune(b[i:])
	if (ra >= 0x10000) == (rb >= 0x10000) {
		return int(ra) - int(rb)
	}
	// One is a supplementary character (a surrogate pair in UTF-16, first
	// unit D800–DBFF), the other a BMP character; compare first units.
	ua, ub := int(ra), int(rb)
	if ra >= 0x10000 {
		h, _ := utf16.EncodeRune(ra)
		ua = int(h)
	} else {
		h, _ := utf16.EncodeRune(rb)
		ub = int(h)
	}
	return ua - ub
}

// unescapeCanonical decodes a string body as written by appendEscaped.
func unescapeCanonical(s []byte) []byte {
	out := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '\\' {
			out = append(out, c)
			continue
		}
		i++
		switch s[i] {
		case 'b':
			out = append(out, '\b')
		case 't':
			out = append(out, '\t')
		case 'n':
			out = append(out, '\n')
		case 'f':
			out = append(out, '\f')
		case 'r':
			out = append(out, '\r')
		case 'u':
			v, _ := strconv.ParseUint(string(s[i+1:i+5]), 16, 8)
			out = append(out, byte(v))
			i += 4
		default:
			out = append(out, s[i])
		}
	}
	return out
}

// strClass marks bytes that end the fast path of a string scan.
var strClass = func() (t [256]uint8) {
	for c := 0; c < 0x20; c++ {
		t[c] = 1
	}
	t['"'] = 1
	t['\\'] = 1
	for c := 0x80; c < 0x100; c++ {
		t[c] = 2
	}
	return
}()

// str parses a string at p.pos and appends its canonical form. It reports
// whether the canonical form contains an escape sequence.
func (p *parser) str() (bool, error) {
	begin := p.pos
	p.pos++
	start := p.pos
	nonASCII := false
	i := start
	for ; i < len(p.in); i++ {
		k := strClass[p.in[i]]
		if k == 0 {
			continue
		}
		if k == 2 {
			nonASCII = true
			continue
		}
		break
	}
	if i < len(p.in) && p.in[i] == '"' {
		body := p.in[start:i]
		p.pos = i + 1
		if nonASCII {
			if !utf8.Valid(body) {
				return false, p.failAt(start+invalidUTF8Offset(body), ErrInvalidUTF8, "")
			}
			if p.nfc && !norm.NFC.IsNormal(body) {
				p.tmp = norm.NFC.Append(p.tmp[:0], body...)
				return p.appendQuoted(p.tmp), nil
			}
		}
		p.out = append(p.out, '"')
		p.out = append(p.out, body...)
		p.out = append(p.out, '"')
		return false, nil
	}
	return p.strSlow(begin)
}

func invalidUTF8Offset(b []byte) int {
	for i := 0; i < len(b); {
		r, n := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && n <= 1 {
			return i
		}
		i += n
	}
	return 0
}

// strSlow decodes a string with escapes into p.tmp, then re-escapes it.
func (p *parser) strSlow(begin int) (bool, error) {
	p.pos = begin + 1
	buf := p.tmp[:0]
	for {
		if p.pos >= len(p.in) {
			return false, p.fail(ErrSyntax, "unterminated string")
		}
		c := p.in[p.pos]
		switch {
		case c == '"':
			p.pos++
			if p.nfc && !norm.NFC.IsNormal(buf) {
				buf = norm.NFC.Bytes(buf)
			}
			p.tmp = buf
			return p.appendQuoted(buf), nil
		case c < 0x20:
			return false, p.fail(ErrSyntax, "control character in string")
		case c == '\\':
			var err error
			if buf, err = p.escape(buf); err != nil {
				return false, err
			}
		case c < 0x80:
			buf = append(buf, c)
			p.pos++
		default:
			r, n := utf8.DecodeRune(p.in[p.pos:])
			if r == utf8.RuneError && n <= 1 {
				return false, p.fail(ErrInvalidUTF8, "")
			}
			buf = append(buf, p.in[p.pos:p.pos+n]...)
			p.pos += n
		}
	}
}

func (p *parser) escape(buf []byte) ([]byte, error) {
	if p.pos+1 >= len(p.in) {
		return nil, p.fail(ErrSyntax, "unterminated escape")
	}
	switch e := p.in[p.pos+1]; e {
	case '"', '\\', '/':
		p.pos += 2
		return append(buf, e), nil
	case 'b':
		p.pos += 2
		return append(buf, '\b'), nil
	case 'f':
		p.pos += 2
		return append(buf, '\f'), nil
	case 'n':
		p.pos += 2
		return append(buf, '\n'), nil
	case 'r':
		p.pos += 2
		return append(buf, '\r'), nil
	case 't':
		p.pos += 2
		return append(buf, '\t'), nil
	case 'u':
		at := p.pos
		r, ok := p.hex4(p.pos + 2)
		if !ok {
			return nil, p.fail(ErrSyntax, "invalid \\u escape")
		}
		p.pos += 6
		if utf16.IsSurrogate(r) {
			if r >= 0xDC00 {
				return nil, p.failAt(at, ErrLoneSurrogate, fmt.Sprintf("\\u%04x", r))
			}
			lo, ok := rune(0), false
			if p.pos+1 < len(p.in) && p.in[p.pos] == '\\' && p.in[p.pos+1] == 'u' {
				lo, ok = p.hex4(p.pos + 2)
			}
			if !ok || lo < 0xDC00 || lo > 0xDFFF {
				return nil, p.failAt(at, ErrLoneSurrogate, fmt.Sprintf("\\u%04x", r))
			}
			p.pos += 6
			r = utf16.DecodeRune(r, lo)
		}
		return utf8.AppendRune(buf, r), nil
	default:
		return nil, p.fail(ErrSyntax, fmt.Sprintf("invalid escape %q", e))
	}
}

func (p *parser) hex4(at int) (rune, bool) {
	if at+4 > len(p.in) {
		return 0, false
	}
	var r rune
	for _, c := range p.in[at : at+4] {
		switch {
		case c >= '0' && c <= '9':
			r = r<<4 | rune(c-'0')
		case c >= 'a' && c <= 'f':
			r = r<<4 | rune(c-'a'+10)
		case c >= 'A' && c <= 'F':
			r = r<<4 | rune(c-'A'+10)
		default:
			return 0, false
		}
	}
	return r, true
}

// appendQuoted writes s (valid UTF-8) as a JSON string with RFC 8785's
// escaping: only '"', '\\' and C0 controls are escaped; \b \t \n \f \r use
// their short forms, other controls \u00xx with lowercase hex.
func (p *parser) appendQuoted(s []byte) bool {
	p.out = append(p.out, '"')
	escaped := false
	last := 0
	for i, c := range s {
		if c >= 0x20 && c != '"' && c != '\\' {
			continue
		}
		escaped = true
		p.out = append(p.out, s[last:i]...)
		last = i + 1
		switch c {
		case '"', '\\':
			p.out = append(p.out, '\\', c)
		case '\b':
			p.out = append(p.out, '\\', 'b')
		case '\t':
			p.out = append(p.out, '\\', 't')
		case '\n':
			p.out = append(p.out, '\\', 'n')
		case '\f':
			p.out = append(p.out, '\\', 'f')
		case '\r':
			p.out = append(p.out, '\\', 'r')
		default:
			const hexd = "0123456789abcdef"
			p.out = append(p.out, '\\', 'u', '0', '0', hexd[c>>4], hexd[c&0xF])
		}
	}
	p.out = append(p.out, s[last:]...)
	p.out = append(p.out, '"')
	return escaped
}

func (p *parser) number() error {
	start := p.pos
	i := p.pos
	if p.in[i] == '-' {
		i++
	}
	digits := i
	if i >= len(p.in) || p.in[i] < '0' || p.in[i] > '9' {
		p.pos = i
		return p.fail(ErrSyntax, "invalid number")
	}
	if p.in[i] == '0' {
		i++
	} else {
		for i < len(p.in) && p.in[i] >= '0' && p.in[i] <= '9' {
			i++
		}
	}
	intEnd := i
	simple := true
	if i < len(p.in) && p.in[i] == '.' {
		simple = false
		i++
		j := i
		for i < len(p.in) && p.in[i] >= '0' && p.in[i] <= '9' {
			i++
		}
		if i == j {
			p.pos = i
			return p.fail(ErrSyntax, "invalid number")
		}
	}
	if i < len(p.in) && (p.in[i] == 'e' || p.in[i] == 'E') {
		simple = false
		i++
		if i < len(p.in) && (p.in[i] == '+' || p.in[i] == '-') {
			i++
		}
		j := i
		for i < len(p.in) && p.in[i] >= '0' && p.in[i] <= '9' {
			i++
		}
		if i == j {
			p.pos = i
			return p.fail(ErrSyntax, "invalid number")
		}
	}
	p.pos = i
	lit := p.in[start:i]
	// Fast path: integers of up to 15 digits are exact doubles whose ES6
	// form is their own decimal digits ("-0" becomes "0").
	if simple && intEnd-digits <= 15 {
		if intEnd-digits == 1 && p.in[digits] == '0' {
			p.out = append(p.out, '0')
			return nil
		}
		p.out = append(p.out, lit...)
		return nil
	}
	// ParseFloat does not retain its argument on success, so the string
	// header over the input bytes avoids an allocation per number.
	f, err := strconv.ParseFloat(unsafe.String(&lit[0], len(lit)), 64)
	if err != nil {
		return p.failAt(start, ErrNumberRange, string(lit))
	}
	p.out = AppendNumber(p.out, f)
	return nil
}

// AppendNumber appends the ECMAScript Number.prototype.toString form of f
// (RFC 8785 §3.2.2.3). f must be finite.
func AppendNumber(dst []byte, f float64) []byte {
	if f == 0 {
		return append(dst, '0') // both +0 and -0
	}
	var buf [32]byte
	b := strconv.AppendFloat(buf[:0], f, 'e', -1, 64) // shortest round-trip: d.ddde±XX
	if b[0] == '-' {
		dst = append(dst, '-')
		b = b[1:]
	}
	e := bytes.IndexByte(b, 'e')
	var digits [24]byte
	k := 0
	for _, c := range b[:e] {
		if c != '.' {
			digits[k] = c
			k++
		}
	}
	exp := 0
	for _, c := range b[e+2:] {
		exp = exp*10 + int(c-'0')
	}
	if b[e+1] == '-' {
		exp = -exp
	}
	n := exp + 1 // the decimal point sits after n digits
	d := digits[:k]
	switch {
	case k <= n && n <= 21:
		dst = append(dst, d...)
		for i := k; i < n; i++ {
			dst = append(dst, '0')
		}
	case 0 < n && n <= 21:
		dst = append(dst, d[:n]...)
		dst = append(dst, '.')
		dst = append(dst, d[n:]...)
	case -6 < n && n <= 0:
		dst = append(dst, '0', '.')
		for i := 0; i < -n; i++ {
			dst = append(dst, '0')
		}
		dst = append(dst, d...)
	default:
		dst = append(dst, d[0])
		if k > 1 {
			dst = append(dst, '.')
			dst = append(dst, d[1:]...)
		}
		dst = append(dst, 'e')
		if n-1 >= 0 {
			dst = append(dst, '+')
		}
		dst = strconv.AppendInt(dst, int64(n-1), 10)
	}
	return dst
}

// AppendString appends the canonical form of a Go string, exactly as
// Marshal would serialize it inside a document: bytes that are not UTF-8
// become U+FFFD one by one (encoding/json's rule), the text is
// NFC-normalized, and only what RFC 8785 requires is escaped. Writers of
// large documents use it to serialize flat records directly, instead of
// encoding/json's reflection followed by a second canonicalization pass.
func AppendString(dst []byte, s string) []byte {
	if plainASCII(s) {
		// the common case: nothing to replace, normalize or escape
		dst = append(dst, '"')
		dst = append(dst, s...)
		return append(dst, '"')
	}
	if !utf8.ValidString(s) {
		var b strings.Builder
		for i := 0; i < len(s); {
			r, n := utf8.DecodeRuneInString(s[i:])
			if r == utf8.RuneError && n == 1 {
				b.WriteRune(utf8.RuneError)
			} else {
				b.WriteString(s[i : i+n])
			}
			i += n
		}
		s = b.String()
	}
	if !norm.NFC.IsNormalString(s) {
		s = norm.NFC.String(s)
	}
	p := parser{out: dst}
	p.appendQuoted([]byte(s))
	return p.out
}

// plainASCII reports whether s is printable ASCII without '"' or '\\': its
// own canonical string body.
func plainASCII(s string) bool {
	i := 0
	for ; i+8 <= len(s); i += 8 {
		w := uint64(s[i]) | uint64(s[i+1])<<8 | uint64(s[i+2])<<16 | uint64(s[i+3])<<24 |
			uint64(s[i+4])<<32 | uint64(s[i+5])<<40 | uint64(s[i+6])<<48 | uint64(s[i+7])<<56
		if special(w) != 0 {
			return false
		}
	}
	for ; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c == '"' || c == '\\' || c >= utf8.RuneSelf {
			return false
		}
	}
	return true
}
