package evaluator_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stella-ops/stella-oras/engine/policy"
)

func policyLoad(b []byte) (*policy.Policy, error) { return policy.Load(b, "strict-prod.yaml") }

// errPolicy is what a policy that does not compile fails with.
var errPolicy = policy.ErrPolicy

func badPolicy(t *testing.T) string {
	p := filepath.Join(t.TempDir(), "bad.yaml")
	os.WriteFile(p, []byte("apiVersion: stella-ops.org/policy/v1\nname: bad\nversion: 1.0.0\ngates:\n- name: g\n  when: 'finding.sevrity == \"high\"'\n  outcome: fail\n"), 0o644)
	return p
}
