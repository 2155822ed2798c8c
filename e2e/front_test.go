package e2e

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/stella-ops/stella-oras/internal/testutil"
)

// runCode runs a binary and returns its stdout, stderr and exit code.
func runCode(t *testing.T, env []string, stdin string, name string, args ...string) (string, string, int) {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdin = strings.NewReader(stdin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return stdout.String(), stderr.String(), 0
	case errors.As(err, &ee):
		return stdout.String(), stderr.String(), ee.ExitCode()
	}
	t.Fatalf("%s %v: %v", filepath.Base(name), args, err)
	return "", "", 0
}

// TestFrontExecsEngine: a heavy command through the stella-oras front
// behaves as the engine run directly: same stdout, stderr and exit code
// (success, usage error, gate failure), the engine's help under the
// stella-oras name, and the front's --help lists every command.
func TestFrontExecsEngine(t *testing.T) {
	examples := filepath.Join(testutil.RepoRoot(), "examples")
	dir := t.TempDir()
	for _, tt := range []struct {
		name  string
		stdin string
		args  []string
		code  int
	}{
		{"canon", `{"b":1,"a":[1.0,"\u00e9"]}`, []string{"canon", "-"}, 0},
		{"canon digest", `{"a":1}`, []string{"canon", "--digest", "-"}, 0},
		{"usage", "", []string{"eval"}, 2},
		{"bad input", `{"a":1,"a":2}`, []string{"canon", "-"}, 1},
		{"gate", "", []string{"eval", "--sbom", filepath.Join(examples, "quickstart", "sbom.cdx.json"), "--feed", filepath.Join(examples, "quickstart", "osv"), "--fail-on", "warn", "-o", filepath.Join(dir, "v.json")}, 3},
		{"help", "", []string{"eval", "--help"}, 0},
		{"help command", "", []string{"help", "delta"}, 0},
		{"subcommand", "", []string{"key", "generate", "--help"}, 0},
	} {
		fo, fe, fc := runCode(t, nil, tt.stdin, bin["native"], tt.args...)
		eo, ee, ec := runCode(t, nil, tt.stdin, bin["engine"], tt.args...)
		if fo != eo || fe != ee || fc != ec {
			t.Errorf("%s: front = (%q, %q, %d), engine = (%q, %q, %d)", tt.name, fo, fe, fc, eo, ee, ec)
		}
		if fc != tt.code {
			t.Errorf("%s: exit %d through the front, want %d (stderr %q)", tt.name, fc, tt.code, fe)
		}
	}
	if out, _, _ := runCode(t, nil, "", bin["native"], "eval", "--help"); !strings.Contains(out, "\n  stella-oras eval --sbom") {
		t.Errorf("eval --help through the front: no \"stella-oras eval --sbom …\" usage line:\n%s", out)
	}
	fo, _, fc := runCode(t, nil, "", bin["native"], "--help")
	eo, _, _ := runCode(t, nil, "", bin["engine"], "--help")
	if fc != 0 || fo != eo {
		t.Errorf("--help: the front's (exit %d) differs from the engine's:\n%s\nwant\n%s", fc, fo, eo)
	}
}

// TestFrontWithoutEngine: a front with no stella-engine beside it or on
// PATH says what is missing (exit 1); its own commands still run.
func TestFrontWithoutEngine(t *testing.T) {
	alone := frontAlone(t)
	env := []string{"PATH=" + t.TempDir()}
	if _, stderr, code := runCode(t, env, "{}", alone, "canon", "-"); code != 1 || !strings.Contains(stderr, "stella-engine binary is needed") {
		t.Errorf("canon without the engine: exit %d, stderr %q; want 1 naming stella-engine", code, stderr)
	}
	if out, _, code := runCode(t, env, "", alone, "version"); code != 0 || !strings.Contains(out, "engine:") {
		t.Errorf("version without the engine: exit %d, stdout %q", code, out)
	}
}

// TestEarlyHandoff: the front hands an engine command to the engine
// before its own heavy packages initialize (cmd/stella-oras/internal/early):
// GODEBUG=inittrace=1 shows the front's process initializing none of
// oras-go, cobra or net/http before the engine's process starts. An
// engine found only on PATH is still run (by main, later).
func TestEarlyHandoff(t *testing.T) {
	_, stderr, code := runCode(t, []string{"GODEBUG=inittrace=1"}, "", bin["native"], "canon", "--help")
	if code != 0 {
		t.Fatalf("canon --help through the front: exit %d\n%s", code, stderr)
	}
	// Each process's trace begins with the runtime's first package.
	var procs [][]string
	for _, line := range strings.Split(stderr, "\n") {
		f := strings.Fields(line)
		if len(f) < 2 || f[0] != "init" {
			continue
		}
		if f[1] == "internal/bytealg" || len(procs) == 0 {
			procs = append(procs, nil)
		}
		procs[len(procs)-1] = append(procs[len(procs)-1], f[1])
	}
	if len(procs) != 2 {
		t.Fatalf("inittrace shows %d processes, want 2 (the front, then the engine):\n%s", len(procs), stderr)
	}
	for _, pkg := range procs[0] {
		if strings.HasPrefix(pkg, "oras.land/") || strings.HasPrefix(pkg, "github.com/spf13/") || pkg == "net/http" {
			t.Errorf("the front initialized %s before handing off to the engine (its inits: %v)", pkg, procs[0])
		}
	}
	if !slices.Contains(procs[1], "github.com/stella-ops/stella-oras/engine/policy") {
		t.Errorf("the second process is not the engine (its inits: %v)", procs[1])
	}

	// A mirror runs in the front unless it uses the engine's gate or
	// receipt (handoff.MirrorEngineFlags): one process, then two.
	src := filepath.Join(t.TempDir(), "src")
	run(t, bin["native"], "sample-image", "oci:"+src+":v1")
	for _, tc := range []struct {
		extra []string
		procs int
	}{{nil, 1}, {[]string{"--require-verified", "--key", filepath.Join(t.TempDir(), "none.pub")}, 2}} {
		args := append([]string{"mirror", "--no-state"}, tc.extra...)
		args = append(args, "oci:"+src+":v1", "oci:"+filepath.Join(t.TempDir(), "dst"))
		_, stderr, code := runCode(t, []string{"GODEBUG=inittrace=1"}, "", bin["native"], args...)
		if n := strings.Count(stderr, "init internal/bytealg"); n != tc.procs {
			t.Errorf("%q: %d processes (exit %d), want %d:\n%s", args, n, code, tc.procs, stderr)
		}
		if tc.procs == 1 && code != 0 {
			t.Errorf("%q: exit %d\n%s", args, code, stderr)
		}
	}

	alone := frontAlone(t)
	env := []string{"PATH=" + filepath.Dir(bin["engine"])}
	if out, stderr, code := runCode(t, env, `{"b":1,"a":2}`, alone, "canon", "-"); code != 0 || out != `{"a":2,"b":1}` {
		t.Errorf("canon through a front with the engine on PATH: exit %d, stdout %q, stderr %q", code, out, stderr)
	}
}

// frontAlone is a copy of the front binary in a directory of its own (no
// stella-engine beside it).
func frontAlone(t *testing.T) string {
	t.Helper()
	alone := filepath.Join(t.TempDir(), filepath.Base(bin["native"]))
	b, err := os.ReadFile(bin["native"])
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(alone, b, 0o755); err != nil {
		t.Fatal(err)
	}
	return alone
}
