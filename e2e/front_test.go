package e2e

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
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
	alone := filepath.Join(t.TempDir(), filepath.Base(bin["native"]))
	b, err := os.ReadFile(bin["native"])
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(alone, b, 0o755); err != nil {
		t.Fatal(err)
	}
	env := []string{"PATH=" + t.TempDir()}
	if _, stderr, code := runCode(t, env, "{}", alone, "canon", "-"); code != 1 || !strings.Contains(stderr, "stella-engine binary is needed") {
		t.Errorf("canon without the engine: exit %d, stderr %q; want 1 naming stella-engine", code, stderr)
	}
	if out, _, code := runCode(t, env, "", alone, "version"); code != 0 || !strings.Contains(out, "engine:") {
		t.Errorf("version without the engine: exit %d, stdout %q", code, out)
	}
}
