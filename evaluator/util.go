package evaluator

import (
	"context"
	"encoding/json"

	"github.com/stella-ops/stella-oras/engine/policy"
	"github.com/stella-ops/stella-oras/internal/load"
	"github.com/stella-ops/stella-oras/registry"
)

func jsonUnmarshal(b []byte, v any) error { return json.Unmarshal(b, v) }

// readPolicy reads a policy artifact reference, or a YAML source or IR
// file; the reference it was pulled by is returned for artifacts.
func readPolicy(ctx context.Context, src string, opts registry.Options) (*policy.Policy, string, error) {
	if isReference(src) {
		return PullPolicy(ctx, src, opts)
	}
	data, err := load.File(src, policy.MaxSourceBytes)
	if err != nil {
		return nil, "", err
	}
	p, err := policy.Load(data, src)
	return p, "", err
}
