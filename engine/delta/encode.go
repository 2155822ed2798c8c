package delta

import (
	"bytes"
	"fmt"

	"github.com/stella-ops/stella-oras/canon"
)

// MarshalID is canon.MarshalID for a delta. Its large lists are records of
// strings, written here directly in canonical form (canon.AppendString)
// and spliced into the canonical rest of the document, in one buffer sized
// up front: encoding/json's reflection and the second canonicalization
// pass over a 17,000-change delta took longer than computing it, and lists
// grown by appending allocated 14 MB for a 4 MB delta. TestScanMatchesDecode
// and FuzzDecode hold it to canon.MarshalID byte for byte.
func MarshalID(d *Delta) ([]byte, string, error) {
	shell := *d
	shell.Added, shell.Removed, shell.Changed, shell.PolicyEffects = []FindingRef{}, []FindingRef{}, []Change{}, []Effect{}
	head, err := canon.Marshal(&shell)
	if err != nil {
		return nil, "", err
	}
	ref := func(b []byte, r FindingRef) []byte {
		return fields(b, "id", r.ID, "outcome", r.Outcome, "purl", r.Purl, "severity", r.Severity, "vulnerability", r.Vulnerability)
	}
	// the members appear in key order: added, changed, policy_effects, removed
	lists := []struct {
		key   string
		size  int // plain ASCII size of the elements, to allocate once
		write func([]byte) []byte
	}{
		{"added", sizes(d.Added, func(r FindingRef) int { return refSize(r) }), func(b []byte) []byte { return list(b, d.Added, ref) }},
		{"changed", sizes(d.Changed, func(c Change) int {
			return len(`{"field":"","from":"","id":"","purl":"","to":"","vulnerability":""}`) + len(c.Field) + len(c.From) + len(c.ID) + len(c.Purl) + len(c.To) + len(c.Vulnerability)
		}), func(b []byte) []byte {
			return list(b, d.Changed, func(b []byte, c Change) []byte {
				return fields(b, "field", c.Field, "from", c.From, "id", c.ID, "purl", c.Purl, "to", c.To, "vulnerability", c.Vulnerability)
			})
		}},
		{"policy_effects", sizes(d.PolicyEffects, func(e Effect) int {
			return len(`{"from":"","id":"","rule":"","to":""}`) + len(e.From) + len(e.ID) + len(e.Rule) + len(e.To)
		}), func(b []byte) []byte {
			return list(b, d.PolicyEffects, func(b []byte, e Effect) []byte {
				return fields(b, "from", e.From, "id", e.ID, "rule", e.Rule, "to", e.To)
			})
		}},
		{"removed", sizes(d.Removed, func(r FindingRef) int { return refSize(r) }), func(b []byte) []byte { return list(b, d.Removed, ref) }},
	}
	size := len(head)
	for _, l := range lists {
		size += l.size
	}
	out := make([]byte, 0, size)
	rest := head
	for _, l := range lists {
		hole := []byte(`"` + l.key + `":[]`)
		at := bytes.Index(rest, hole)
		if at < 0 {
			return nil, "", fmt.Errorf("delta serialization: member %s not found", l.key)
		}
		out = append(out, rest[:at+len(hole)-1]...) // through the '['
		out = l.write(out)
		out = append(out, ']')
		rest = rest[at+len(hole):]
	}
	out = append(out, rest...)
	return out, canon.ContentID(out), nil
}

func refSize(r FindingRef) int {
	return len(`{"id":"","outcome":"","purl":"","severity":"","vulnerability":""}`) + len(r.ID) + len(r.Outcome) + len(r.Purl) + len(r.Severity) + len(r.Vulnerability)
}

// sizes sums size over xs, with the commas between them.
func sizes[T any](xs []T, size func(T) int) int {
	n := len(xs)
	for _, x := range xs {
		n += size(x)
	}
	return n
}

// list appends the elements of xs, comma-separated, each written by f.
func list[T any](b []byte, xs []T, f func([]byte, T) []byte) []byte {
	for i, x := range xs {
		if i > 0 {
			b = append(b, ',')
		}
		b = f(b, x)
	}
	return b
}

// fields writes an object of string members; kv alternates keys (given in
// canonical order, plain ASCII) and values.
func fields(b []byte, kv ...string) []byte {
	b = append(b, '{')
	for i := 0; i < len(kv); i += 2 {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, '"')
		b = append(b, kv[i]...)
		b = append(b, '"', ':')
		b = canon.AppendString(b, kv[i+1])
	}
	return append(b, '}')
}
