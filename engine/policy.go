package engine

import "github.com/stella-ops/stella-oras/engine/policy"

// Policy is the compiled policy (package policy); the engine applies it.
type Policy = policy.Policy

// DefaultPolicy fails on a critical or high finding, warns on a medium one
// and on one whose advisory carries no severity, passes low and none.
func DefaultPolicy() *Policy { return policy.Default() }
