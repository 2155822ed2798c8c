package delta

import (
	"bytes"
	"encoding/json"
	"slices"
	"strconv"

	"github.com/stella-ops/stella-oras/artifacts"
	"github.com/stella-ops/stella-oras/canon"
)

// A scanner reads only the verdict members a delta compares, through a
// canon.Reader: one pass over the document that reads those members, skips
// the rest, and checks that the whole is canonical (RFC 8785, as canon
// writes it). encoding/json's reflection took most of a delta's time on a
// 10 MB verdict, and checking the form, then scanning, walked the document
// twice. Every value goes through the Reader, so a scan that succeeds to
// the end of the input has checked every byte of it; any failure (not
// canonical, not JSON, or a member of the wrong shape) is only false, and
// Decode decides which. TestScanMatchesDecode and FuzzDecode hold it to
// encoding/json's answers, digests included.
type scanner struct {
	b []byte
	r *canon.Reader
}

// null says whether a null literal starts at i (a null object or array
// reads as empty, a null string as "").
func (s *scanner) null(i int) bool { return bytes.HasPrefix(s.b[min(i, len(s.b)):], []byte("null")) }

// object calls f for each member of the object at i with the key (raw:
// the keys a verdict names hold no escapes) and the value's offset; f
// returns the value's end.
func (s *scanner) object(i int, f func(key []byte, v int) (int, bool)) (int, bool) {
	if s.null(i) {
		return i + 4, true
	}
	return s.r.Object(i, func(key []byte, _ bool, v int) (int, bool) { return f(key, v) })
}

// array calls f for each element of the array at i.
func (s *scanner) array(i int, f func(v int) (int, bool)) (int, bool) {
	if s.null(i) {
		return i + 4, true
	}
	return s.r.Array(i, f)
}

// str reads the string at i into *dst.
func (s *scanner) str(i int, dst *string) (int, bool) {
	if s.null(i) {
		return i + 4, true
	}
	end, esc, ok := s.r.String(i)
	switch {
	case !ok:
		return 0, false
	case !esc:
		*dst = string(s.b[i+1 : end-1])
	default:
		// (into a local: dst given to json.Unmarshal would escape, and
		// every finding the scanner fills with it)
		var t string
		if json.Unmarshal(s.b[i:end], &t) != nil {
			return 0, false
		}
		*dst = t
	}
	return end, true
}

func (s *scanner) integer(i int, dst *int64, bits int) (int, bool) {
	end, ok := s.r.Skip(i)
	if !ok {
		return 0, false
	}
	n, err := strconv.ParseInt(string(s.b[i:end]), 10, bits)
	if err != nil {
		return 0, false
	}
	*dst = n
	return end, true
}

// rules reads an array of {name, outcome, …} objects.
func (s *scanner) rules(i int, dst *[]artifacts.Rule) (int, bool) {
	return s.array(i, func(v int) (int, bool) {
		var r artifacts.Rule
		end, ok := s.object(v, func(k []byte, v int) (int, bool) {
			switch string(k) {
			case "name":
				return s.str(v, &r.Name)
			case "outcome":
				return s.str(v, &r.Outcome)
			case "message":
				return s.str(v, &r.Message)
			}
			return s.r.Skip(v)
		})
		*dst = append(*dst, r)
		return end, ok
	})
}

// remaining estimates how many elements of a list remain to be read when n
// of them took read bytes and rest bytes are left (plus a sixteenth, and at
// least 16), to allocate the list once: a verdict's findings are large
// (440 bytes), thousands, and most of its bytes. append grows a slice
// past 256 elements by a quarter at a time, which copied the findings of
// the bench verdicts about five times over, into fresh memory each time:
// two thirds of the bytes a delta allocated. (Counting them first would be
// a second pass over the document.) An estimate that falls short grows the
// list again from a better one.
func remaining(n, read, rest int) int {
	if n < 16 || read <= 0 {
		return 16
	}
	m := int(int64(rest) * int64(n) / int64(read))
	return m + m/16 + 16
}

// scanVerdict reads the members of a verdict that Compute uses; true means
// b is a canonical document of the right shape.
func scanVerdict(b []byte) (*artifacts.Verdict, bool) {
	s := &scanner{b: b, r: canon.NewReader(b, canon.Options{})}
	v := &artifacts.Verdict{}
	var risk, unknowns int64
	end, ok := s.object(0, func(k []byte, i int) (int, bool) {
		switch string(k) {
		case "kind":
			return s.str(i, &v.Kind)
		case "manifest_digest":
			return s.str(i, &v.ManifestDigest)
		case "status":
			return s.str(i, &v.Status)
		case "risk_score":
			return s.integer(i, &risk, 64)
		case "unknowns_count":
			return s.integer(i, &unknowns, strconv.IntSize)
		case "gates":
			return s.rules(i, &v.Gates)
		case "budget_check":
			if s.null(i) {
				return i + 4, true
			}
			bc := &artifacts.BudgetCheck{}
			v.BudgetCheck = bc
			return s.object(i, func(k []byte, i int) (int, bool) {
				switch string(k) {
				case "environment":
					return s.str(i, &bc.Environment)
				case "outcome":
					return s.str(i, &bc.Outcome)
				}
				return s.r.Skip(i)
			})
		case "findings":
			start := i
			return s.array(i, func(i int) (int, bool) {
				var f artifacts.Finding
				end, ok := s.object(i, func(k []byte, i int) (int, bool) {
					switch string(k) {
					case "id":
						return s.str(i, &f.ID)
					case "purl":
						return s.str(i, &f.Purl)
					case "vulnerability":
						return s.str(i, &f.Vulnerability)
					case "severity":
						return s.str(i, &f.Severity)
					case "outcome":
						return s.str(i, &f.Outcome)
					case "vex":
						if s.null(i) {
							return i + 4, true
						}
						f.VEX = &artifacts.VEXDecision{}
						return s.object(i, func(k []byte, i int) (int, bool) {
							if string(k) == "status" {
								return s.str(i, &f.VEX.Status)
							}
							return s.r.Skip(i)
						})
					case "reachability":
						return s.object(i, func(k []byte, i int) (int, bool) {
							if string(k) == "state" {
								return s.str(i, &f.Reachability.State)
							}
							return s.r.Skip(i)
						})
					case "rules":
						return s.rules(i, &f.Rules)
					}
					return s.r.Skip(i)
				})
				if n := len(v.Findings); n == cap(v.Findings) {
					v.Findings = slices.Grow(v.Findings, remaining(n, i-start, len(b)-i))
				}
				v.Findings = append(v.Findings, f)
				return end, ok
			})
		}
		return s.r.Skip(i)
	})
	if !ok || end != len(b) {
		return nil, false
	}
	v.RiskScore, v.UnknownsCount = risk, int(unknowns)
	return v, true
}
