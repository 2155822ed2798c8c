package load

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"runtime"
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

// TestWithMapped: the mapped bytes are the file's; a file truncated while
// mapped gives an error naming it, not a crash (the fault is real: the
// test truncates the file under the mapping).
func TestWithMapped(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "v.json")
	data := bytes.Repeat([]byte("abcdefgh"), 1<<16) // 512 KiB
	os.WriteFile(p, data, 0o644)
	err := WithMapped(p, 1<<20, func(b []byte) error {
		if !bytes.Equal(b, data) {
			t.Error("mapped bytes differ from the file")
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := WithMapped(p, 100, func([]byte) error { return nil }); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("over the limit: %v", err)
	}
	err = WithMapped(p, 1<<20, func(b []byte) error {
		if err := os.Truncate(p, 0); err != nil {
			return err
		}
		sum := 0
		for i := 0; i < len(b); i += 4096 {
			sum += int(b[i])
		}
		t.Logf("read past the truncation without a fault (platform without mmap?): %d", sum)
		return nil
	})
	if runtime.GOOS == "linux" && (err == nil || !strings.Contains(err.Error(), "changed while it was read")) {
		t.Fatalf("truncated under the mapping: %v", err)
	}
}
