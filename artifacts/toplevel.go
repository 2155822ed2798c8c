package artifacts

import (
	"encoding/json"
	"unicode/utf8"
)

// maxDepth is encoding/json's nesting bound, kept so that the two agree on
// what is a document.
const maxDepth = 10000

// topLevel is json.Unmarshal into map[string]json.RawMessage, which Detect
// needs, without encoding/json's cost: a one-pass check of the whole
// document (the same grammar encoding/json accepts: invalid UTF-8 inside
// strings is accepted, as it is there) that keeps the raw bytes of each
// top-level member. Detect runs on every attached file, and encoding/json
// took about 10 ms per MB, more than the whole attach of a 1 MB SBOM
// spends on the network; this takes about one, and a third of that on
// string content (see plain). FuzzTopLevel holds it to encoding/json's
// answers.
func topLevel(b []byte) (map[string]json.RawMessage, bool) {
	p := jsonScan{b: b}
	p.ws()
	if p.peek() != '{' {
		return nil, false
	}
	top := map[string]json.RawMessage{}
	ok := p.container(1, func(key, value []byte) bool {
		k, ok := decodeKey(key)
		top[k] = json.RawMessage(value)
		return ok
	})
	p.ws()
	if !ok || p.i != len(b) {
		return nil, false
	}
	return top, true
}

// decodeKey is a member name as encoding/json decodes it: plain ASCII is
// taken as it is, anything with escapes or other bytes through encoding/json.
func decodeKey(raw []byte) (string, bool) {
	plain := true
	for _, c := range raw[1 : len(raw)-1] {
		if c == '\\' || c >= utf8.RuneSelf {
			plain = false
			break
		}
	}
	if plain {
		return string(raw[1 : len(raw)-1]), true
	}
	var s string
	return s, json.Unmarshal(raw, &s) == nil
}

type jsonScan struct {
	b []byte
	i int
}

func (p *jsonScan) peek() byte {
	if p.i < len(p.b) {
		return p.b[p.i]
	}
	return 0
}

func (p *jsonScan) ws() {
	for p.i < len(p.b) {
		switch p.b[p.i] {
		case ' ', '\t', '\n', '\r':
			p.i++
		default:
			return
		}
	}
}

func (p *jsonScan) value(depth int) bool {
	switch c := p.peek(); {
	case c == '"':
		return p.str()
	case c == '{' || c == '[':
		if depth >= maxDepth {
			return false
		}
		return p.container(depth+1, nil)
	case c == '-' || (c >= '0' && c <= '9'):
		return p.num()
	case c == 't':
		return p.lit("true")
	case c == 'f':
		return p.lit("false")
	case c == 'n':
		return p.lit("null")
	}
	return false
}

// container checks the object or array at p.i. member, when set, is given
// the raw name and value of each member of an object, and may refuse one.
func (p *jsonScan) container(depth int, member func(key, value []byte) bool) bool {
	closer := byte(']')
	obj := p.b[p.i] == '{'
	if obj {
		closer = '}'
	}
	p.i++
	p.ws()
	if p.peek() == closer {
		p.i++
		return true
	}
	for {
		ks := p.i
		if obj {
			if !p.str() {
				return false
			}
			ke := p.i
			p.ws()
			if p.peek() != ':' {
				return false
			}
			p.i++
			p.ws()
			vs := p.i
			if !p.value(depth) {
				return false
			}
			if member != nil && !member(p.b[ks:ke], p.b[vs:p.i]) {
				return false
			}
		} else if !p.value(depth) {
			return false
		}
		p.ws()
		switch p.peek() {
		case ',':
			p.i++
			p.ws()
		case closer:
			p.i++
			return true
		default:
			return false
		}
	}
}

func (p *jsonScan) str() bool {
	if p.peek() != '"' {
		return false
	}
	p.i++
	p.plain()
	for p.i < len(p.b) {
		c := p.b[p.i]
		switch {
		case c == '"':
			p.i++
			return true
		case c < 0x20:
			return false
		case c == '\\':
			p.i++
			switch p.peek() {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				p.i++
			case 'u':
				if p.i+5 > len(p.b) {
					return false
				}
				for _, h := range p.b[p.i+1 : p.i+5] {
					if !isHex(h) {
						return false
					}
				}
				p.i += 5
			default:
				return false
			}
			p.plain()
		default:
			p.i++
		}
	}
	return false
}

// plain skips string bytes that need no look (not '"', '\\' or a
// control character) eight at a time: most of a large document can be
// string content, e.g. a base64 payload, which this reads about three
// times as fast. It stops at the word holding the first byte that does
// need one, which str then reads byte by byte.
func (p *jsonScan) plain() {
	const ones, highs = 0x0101010101010101, 0x8080808080808080
	b := p.b
	i := p.i
	for ; i+8 <= len(b); i += 8 {
		w := uint64(b[i]) | uint64(b[i+1])<<8 | uint64(b[i+2])<<16 | uint64(b[i+3])<<24 |
			uint64(b[i+4])<<32 | uint64(b[i+5])<<40 | uint64(b[i+6])<<48 | uint64(b[i+7])<<56
		q := w ^ ('"' * ones)
		bs := w ^ ('\\' * ones)
		// The word holds a byte below 0x20 (or one that the xor made
		// zero) exactly when the subtraction leaves a high bit set where
		// the word's own is clear: the classic has-less-than and
		// has-zero-byte tests, exact for the word as a whole (which byte
		// it was is left to str).
		if ((w-0x20*ones)&^w|(q-ones)&^q|(bs-ones)&^bs)&highs != 0 {
			break
		}
	}
	p.i = i
}

func isHex(c byte) bool {
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')
}

func (p *jsonScan) digits() int {
	n := 0
	for p.i < len(p.b) && p.b[p.i] >= '0' && p.b[p.i] <= '9' {
		p.i++
		n++
	}
	return n
}

func (p *jsonScan) num() bool {
	if p.peek() == '-' {
		p.i++
	}
	switch c := p.peek(); {
	case c == '0':
		p.i++
	case c >= '1' && c <= '9':
		p.digits()
	default:
		return false
	}
	if p.peek() == '.' {
		p.i++
		if p.digits() == 0 {
			return false
		}
	}
	if c := p.peek(); c == 'e' || c == 'E' {
		p.i++
		if c := p.peek(); c == '+' || c == '-' {
			p.i++
		}
		if p.digits() == 0 {
			return false
		}
	}
	return true
}

func (p *jsonScan) lit(s string) bool {
	if len(p.b)-p.i < len(s) || string(p.b[p.i:p.i+len(s)]) != s {
		return false
	}
	p.i += len(s)
	return true
}
