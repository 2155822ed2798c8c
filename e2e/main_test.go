package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"

	"github.com/stella-ops/stella-oras/internal/testutil"
)

// binaries built once for the package: the normal build and the variants
// the cross-build test compares.
var bin = map[string]string{}

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "stella-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := func() int {
		defer os.RemoveAll(dir)
		for name, flags := range map[string][]string{"native": nil} {
			if err := build(dir, name, nil, flags...); err != nil {
				fmt.Fprintln(os.Stderr, err)
				return 1
			}
		}
		// The helper binaries, beside stella-oras: the embedded registry
		// (registry serve runs it) and the schema validator (--strict).
		cmd := exec.Command("go", "build", "-o", filepath.Join(dir, "native")+string(filepath.Separator), "./cmd/stella-registry", "./cmd/stella-schema")
		cmd.Dir = testutil.RepoRoot()
		if b, err := cmd.CombinedOutput(); err != nil {
			fmt.Fprintf(os.Stderr, "building stella-registry and stella-schema: %v\n%s", err, b)
			return 1
		}
		return m.Run()
	}()
	os.Exit(code)
}

// build compiles cmd/stella-oras into dir/name with extra env and flags.
func build(dir, name string, env []string, flags ...string) error {
	out := filepath.Join(dir, name, "stella-oras")
	if slices.Contains(env, "GOOS=windows") {
		out += ".exe"
	}
	args := append([]string{"build", "-o", out}, flags...)
	args = append(args, "./cmd/stella-oras")
	cmd := exec.Command("go", args...)
	cmd.Dir = testutil.RepoRoot()
	cmd.Env = append(os.Environ(), env...)
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go %v: %v\n%s", args, err, b)
	}
	bin[name] = out
	return nil
}
