package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"testing"

	"github.com/stella-ops/stella-oras/internal/testutil"
)

// binaries built once for the package: "native" is the stella-oras front
// (the light commands in-process, every other one by executing
// stella-engine beside it, as installed), "engine" the stella-engine
// binary beside it, and the rest the engine variants the cross-build test
// compares.
var bin = map[string]string{}

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "stella-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := func() int {
		defer os.RemoveAll(dir)
		if err := build(dir, "native", nil); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		bin["engine"] = bin["native"]
		// The front, and the helper binaries beside it: the engine (above),
		// the embedded registry (registry serve runs it) and the schema
		// validator (--strict).
		native := filepath.Join(dir, "native")
		cmd := exec.Command("go", "build", "-o", native+string(filepath.Separator), "./cmd/stella-oras", "./cmd/stella-registry", "./cmd/stella-schema")
		cmd.Dir = testutil.RepoRoot()
		if b, err := cmd.CombinedOutput(); err != nil {
			fmt.Fprintf(os.Stderr, "building stella-oras, stella-registry and stella-schema: %v\n%s", err, b)
			return 1
		}
		bin["native"] = filepath.Join(native, exe("stella-oras"))
		return m.Run()
	}()
	os.Exit(code)
}

// build compiles cmd/stella-engine, the binary that computes verdicts,
// into dir/name with extra env and flags, and sets bin[name] to it. The
// cross-build variants are engines alone: the front would execute its
// engine with exec(2), which a foreign-architecture binary under
// qemu-user cannot do without binfmt_misc, and the verdict is the
// engine's work.
func build(dir, name string, env []string, flags ...string) error {
	out := filepath.Join(dir, name, "stella-engine")
	if slices.Contains(env, "GOOS=windows") {
		out += ".exe"
	}
	args := append([]string{"build", "-o", out}, flags...)
	args = append(args, "./cmd/stella-engine")
	cmd := exec.Command("go", args...)
	cmd.Dir = testutil.RepoRoot()
	cmd.Env = append(os.Environ(), env...)
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go %v: %v\n%s", args, err, b)
	}
	bin[name] = out
	return nil
}

// exe is name as an executable of this platform.
func exe(name string) string {
	if runtime.GOOS == "windows" {
		return name + ".exe"
	}
	return name
}
