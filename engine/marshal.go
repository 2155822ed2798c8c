package engine

import (
	"bytes"
	"fmt"

	"github.com/stella-ops/stella-oras/artifacts"
	"github.com/stella-ops/stella-oras/canon"
)

// MarshalVerdict is canon.MarshalID for a verdict, with the findings
// serialized in parallel: canonical JSON is context-free, so each finding's
// canonical form is exactly its bytes inside the verdict's, and the parts
// are joined in finding order. Serializing a 10,000-finding verdict on one
// core was the largest sequential step of eval.
func MarshalVerdict(v *artifacts.Verdict) ([]byte, string, error) {
	if len(v.Findings) < 256 {
		return canon.MarshalID(v)
	}
	shell := *v
	shell.Findings = []artifacts.Finding{}
	head, err := canon.Marshal(&shell)
	if err != nil {
		return nil, "", err
	}
	const hole = `"findings":[]`
	at := bytes.Index(head, []byte(hole))
	if at < 0 || bytes.Count(head, []byte(hole)) != 1 {
		return nil, "", fmt.Errorf("verdict serialization: findings member not found once")
	}
	parts := make([][]byte, len(v.Findings))
	errs := make([]error, len(v.Findings))
	parallel(len(parts), len(parts), func(i int) { parts[i], errs[i] = canon.Marshal(&v.Findings[i]) })
	size := len(head) + len(parts)
	for i, p := range parts {
		if errs[i] != nil {
			return nil, "", errs[i]
		}
		size += len(p)
	}
	out := make([]byte, 0, size)
	out = append(out, head[:at+len(hole)-1]...)
	for i, p := range parts {
		if i > 0 {
			out = append(out, ',')
		}
		out = append(out, p...)
	}
	out = append(out, head[at+len(hole)-1:]...)
	return out, canon.ContentID(out), nil
}
