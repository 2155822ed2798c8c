package load

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestFile: a regular file is read whole in one allocation; the limit is
// enforced before reading; stdin is read through the same limit.
func TestFile(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "f")
	data := bytes.Repeat([]byte("0123456789"), 100_000)
	os.WriteFile(p, data, 0o644)
	got, err := File(p, int64(len(data)))
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("read %d bytes, %v", len(got), err)
	}
	if _, err := File(p, int64(len(data)-1)); !errors.Is(err, ErrTooLarge) || !strings.Contains(err.Error(), p) {
		t.Fatalf("over the limit: %v", err)
	}
	empty := filepath.Join(dir, "empty")
	os.WriteFile(empty, nil, 0o644)
	if got, err := File(empty, 10); err != nil || len(got) != 0 {
		t.Fatalf("empty file: %q %v", got, err)
	}
	if _, err := FileOrStdin("-", 3, strings.NewReader("abcd")); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("stdin over the limit: %v", err)
	}
	if _, err := File(filepath.Join(dir, "missing"), 10); err == nil {
		t.Fatal("missing file read")
	}
}
