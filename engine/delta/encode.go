package delta

import (
	"bytes"
	"fmt"

	"github.com/stella-ops/stella-oras/canon"
)

// MarshalID is canon.MarshalID for a delta. Its large lists are records of
// strings, written here directly in canonical form (canon.AppendString)
// and spliced into the canonical rest of the document: encoding/json's
// reflection and the second canonicalization pass over a 17,000-change
// delta took longer than computing it. TestMarshalIDMatchesCanon and
// FuzzDecode hold it to canon.MarshalID byte for byte.
func MarshalID(d *Delta) ([]byte, string, error) {
	shell := *d
	shell.Added, shell.Removed, shell.Changed, shell.PolicyEffects = []FindingRef{}, []FindingRef{}, []Change{}, []Effect{}
	head, err := canon.Marshal(&shell)
	if err != nil {
		return nil, "", err
	}
	lists := map[string][]byte{
		"added":   refs(d.Added),
		"removed": refs(d.Removed),
		"changed": list(d.Changed, func(b []byte, c Change) []byte {
			return fields(b, "field", c.Field, "from", c.From, "id", c.ID, "purl", c.Purl, "to", c.To, "vulnerability", c.Vulnerability)
		}),
		"policy_effects": list(d.PolicyEffects, func(b []byte, e Effect) []byte {
			return fields(b, "from", e.From, "id", e.ID, "rule", e.Rule, "to", e.To)
		}),
	}
	out := make([]byte, 0, len(head)+len(lists["added"])+len(lists["removed"])+len(lists["changed"])+len(lists["policy_effects"]))
	rest := head
	// the members appear in key order: added, changed, policy_effects, removed
	for _, key := range []string{"added", "changed", "policy_effects", "removed"} {
		hole := []byte(`"` + key + `":[]`)
		at := bytes.Index(rest, hole)
		if at < 0 {
			return nil, "", fmt.Errorf("delta serialization: member %s not found", key)
		}
		out = append(out, rest[:at+len(hole)-2]...)
		out = append(out, lists[key]...)
		rest = rest[at+len(hole):]
	}
	out = append(out, rest...)
	return out, canon.ContentID(out), nil
}

func refs(rs []FindingRef) []byte {
	return list(rs, func(b []byte, r FindingRef) []byte {
		return fields(b, "id", r.ID, "outcome", r.Outcome, "purl", r.Purl, "severity", r.Severity, "vulnerability", r.Vulnerability)
	})
}

// list writes [elem,elem,…] with each element written by f.
func list[T any](xs []T, f func([]byte, T) []byte) []byte {
	b := make([]byte, 0, 2+len(xs)*160)
	b = append(b, '[')
	for i, x := range xs {
		if i > 0 {
			b = append(b, ',')
		}
		b = f(b, x)
	}
	return append(b, ']')
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
