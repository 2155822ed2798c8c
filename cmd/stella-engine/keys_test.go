package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stella-ops/stella-oras/internal/cli"
)

// TestKeyFileHandling (#11 item 11): no passphrase source is said as
// such, not as a wrong passphrase; a key file others can read draws a
// warning; a key path that never ends (/dev/zero) is refused by its bound.
func TestKeyFileHandling(t *testing.T) {
	dir := t.TempDir()
	key := filepath.Join(dir, "k")
	t.Setenv("STELLA_KEY_PASSWORD", "pw")
	if r := stella(t, "", "key", "generate", "-o", key); r.code != 0 {
		t.Fatalf("key generate: %s", r.stderr)
	}
	out := filepath.Join(dir, "rev.json")
	revoke := func(k string) result {
		return stella(t, "", "key", "revoke", "--key", k, "-o", out, strings.Repeat("ab", 32))
	}
	os.Unsetenv("STELLA_KEY_PASSWORD")
	r := revoke(key + ".key")
	if r.code != cli.ExitError || strings.Contains(r.stderr, "wrong passphrase") || !strings.Contains(r.stderr, "not set") {
		t.Errorf("no variable, no terminal: exit %d, %q; want 1 saying the variable is not set", r.code, r.stderr)
	}
	t.Setenv("STELLA_KEY_PASSWORD", "pw")
	if r := revoke(key + ".key"); r.code != 0 || strings.Contains(r.stderr, "readable by others") {
		t.Errorf("mode 0600 key: exit %d, %q", r.code, r.stderr)
	}
	os.Chmod(key+".key", 0o644)
	if r := revoke(key + ".key"); r.code != 0 || !strings.Contains(r.stderr, "readable by others") {
		t.Errorf("mode 0644 key: exit %d, %q; want a warning", r.code, r.stderr)
	}
	if _, err := os.Stat("/dev/zero"); err == nil {
		if r := revoke("/dev/zero"); r.code != cli.ExitError || !strings.Contains(r.stderr, "size limit") {
			t.Errorf("--key /dev/zero: exit %d, %q; want 1, refused by the size bound", r.code, r.stderr)
		}
	}
}

// TestErrorLineBounded (#11 item 12): an error that quotes its input (a
// number of a million digits) is one line of bounded length that says how
// long the message was.
func TestErrorLineBounded(t *testing.T) {
	p := filepath.Join(t.TempDir(), "big.json")
	os.WriteFile(p, []byte(`{"a":`+strings.Repeat("9", 1_000_000)+`}`), 0o644)
	r := stella(t, "", "canon", p)
	if r.code == 0 || len(r.stderr) > 2*cli.MaxErrorLine || strings.Count(r.stderr, "\n") != 1 || !strings.Contains(r.stderr, "bytes in all") {
		t.Errorf("canon of a million-digit number: exit %d, %d bytes of stderr", r.code, len(r.stderr))
	}
}

// TestVersionFlag (#11 section 5): --version works like the peers'.
func TestVersionFlag(t *testing.T) {
	r := stella(t, "", "--version")
	if r.code != 0 || !strings.Contains(r.stdout, cli.ToolVersion) || !strings.Contains(r.stdout, "engine") {
		t.Errorf("--version: exit %d, %q", r.code, r.stdout)
	}
}
