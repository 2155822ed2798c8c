package atomicfile

import (
	"os"
	"path/filepath"
	"testing"
)

// TestReplace: Replace puts a new file in place (a second name of the old
// one keeps the old bytes) and leaves no temporary file.
func TestReplace(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "index.json")
	if err := os.WriteFile(p, []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Link(p, filepath.Join(dir, "before")); err != nil {
		t.Skipf("no hard links here: %v", err)
	}
	if err := Replace(p, []byte("new"), 0o644); err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]string{"index.json": "new", "before": "old"} {
		if b, err := os.ReadFile(filepath.Join(dir, name)); err != nil || string(b) != want {
			t.Errorf("%s: %q, %v; want %q", name, b, err, want)
		}
	}
	if fi, err := os.Stat(p); err != nil || fi.Mode().Perm() != 0o644 {
		t.Errorf("mode: %v, %v; want 0644", fi, err)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 2 {
		t.Errorf("%d files left, want 2 (a temporary file stayed?)", len(ents))
	}
}

// TestReplaceWhileOpen: Replace succeeds while another handle has the
// file open for reading, as a layout's index.json is whenever another
// process reads the layout. Windows refuses a rename over such a file
// (e2e's TestWindowsUnitTests runs this test under Wine), where
// the first version of Replace then failed.
func TestReplaceWhileOpen(t *testing.T) {
	// Not t.TempDir: Go's RemoveAll on Windows deletes with POSIX
	// semantics, which Wine 8 refuses ("Invalid function").
	dir, err := os.MkdirTemp("", "replace-")
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, "index.json")
	t.Cleanup(func() { os.Remove(p); os.Remove(dir) })
	if err := os.WriteFile(p, []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	err = Replace(p, []byte("new"), 0o644)
	f.Close()
	if err != nil {
		t.Fatalf("Replace while the file is open: %v", err)
	}
	if b, err := os.ReadFile(p); err != nil || string(b) != "new" {
		t.Errorf("after Replace: %q, %v; want \"new\"", b, err)
	}
}
