package readfile

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// TestSniffed: the sniff sees the first SniffBytes of an input (all of a
// shorter one), its error ends the read, the bound it returns applies to
// the whole input and can only lower the caller's, and what is read is the
// input, whole, whatever its size against SniffBytes.
func TestSniffed(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, n int) (string, []byte) {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte('a' + i%26)
		}
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return p, b
	}
	ctx := context.Background()
	for _, n := range []int{0, 1, SniffBytes - 1, SniffBytes, SniffBytes + 1, 3*SniffBytes + 7} {
		p, want := write("f", n)
		var seen int
		got, err := Sniffed(ctx, p, 1<<20, func(head []byte) (int64, error) {
			seen = len(head)
			if !bytes.Equal(head, want[:len(head)]) {
				t.Errorf("%d bytes: the sniff saw %q, not the input's start", n, head)
			}
			return 1 << 30, nil // above the caller's: not raised
		})
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("%d bytes: read %d bytes, %v; want the input whole", n, len(got), err)
		}
		if seen != min(n, SniffBytes) {
			t.Errorf("%d bytes: the sniff saw %d bytes, want %d", n, seen, min(n, SniffBytes))
		}
	}
	p, _ := write("big", 3*SniffBytes)
	if _, err := Sniffed(ctx, p, 1<<20, func([]byte) (int64, error) { return 2 * SniffBytes, nil }); !errors.Is(err, ErrTooLarge) {
		t.Errorf("a bound lowered by the sniff below the file's size: %v, want ErrTooLarge", err)
	}
	if _, err := Sniffed(ctx, p, 1<<20, func([]byte) (int64, error) { return SniffBytes / 2, nil }); !errors.Is(err, ErrTooLarge) {
		t.Errorf("a bound lowered below what the sniff was shown: %v, want ErrTooLarge", err)
	}
	if _, err := Sniffed(ctx, p, SniffBytes/2, func([]byte) (int64, error) { return 1 << 20, nil }); !errors.Is(err, ErrTooLarge) {
		t.Errorf("a caller's bound below SniffBytes: %v, want ErrTooLarge", err)
	}
	stop := errors.New("not this kind")
	if _, err := Sniffed(ctx, p, 1<<20, func([]byte) (int64, error) { return 0, stop }); !errors.Is(err, stop) {
		t.Errorf("the sniff's error: %v, want it returned", err)
	}
}
