package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestReadOnlyCommandsCreateNothing (#11 item 8): a command that only
// reads, pointed at a layout that does not exist, fails and leaves no
// empty layout behind.
func TestReadOnlyCommandsCreateNothing(t *testing.T) {
	dir := t.TempDir()
	missing := filepath.Join(dir, "missing")
	t.Setenv("STELLA_KEY_PASSWORD", "")
	if r := stella(t, "", "key", "generate", "-o", filepath.Join(dir, "k")); r.code != 0 {
		t.Fatal(r.stderr)
	}
	for _, args := range [][]string{
		{"discover", "oci:" + missing + ":v1"},
		{"pull", "oci:" + missing + ":v1", "-o", filepath.Join(dir, "out")},
		{"verify", "oci:" + missing + ":v1", "--key", filepath.Join(dir, "k.pub")},
		{"replay", "oci:" + missing + ":v1"},
		{"status", "oci:" + missing + ":v1", "--key", filepath.Join(dir, "k.pub")},
		{"export", "oci:" + missing + ":v1", "-o", filepath.Join(dir, "x.tar")},
	} {
		r := stella(t, "", args...)
		if r.code == 0 || !strings.Contains(r.stderr, "no OCI layout at "+missing) {
			t.Errorf("%s: exit %d, %q", args[0], r.code, r.stderr)
		}
		if _, err := os.Stat(missing); err == nil {
			t.Fatalf("%s created %s", args[0], missing)
		}
	}
}
