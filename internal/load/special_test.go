//go:build unix

package load_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stella-ops/stella-oras/internal/load"
)

// TestFeedSpecialFiles (#11 item 4): a FIFO or a symlink to a device in a
// feed directory is refused without being opened (a FIFO hung the walk);
// a device read by path is bounded by counting bytes (the size check by
// stat let --feed /dev/zero run out of memory; a snapshot is now read so).
func TestFeedSpecialFiles(t *testing.T) {
	within := func(name string, f func() error) error {
		t.Helper()
		done := make(chan error, 1)
		go func() { done <- f() }()
		select {
		case err := <-done:
			return err
		case <-time.After(20 * time.Second):
			t.Fatalf("%s: still reading after 20 s", name)
			return nil
		}
	}
	fifoDir := t.TempDir()
	os.WriteFile(filepath.Join(fifoDir, "a.json"), []byte(`{"id":"X-1","modified":"2026-01-01T00:00:00Z"}`), 0o644)
	if err := syscall.Mkfifo(filepath.Join(fifoDir, "p.json"), 0o644); err != nil {
		t.Skipf("mkfifo: %v", err)
	}
	if err := within("FIFO", func() error {
		_, err := load.FeedSources(context.Background(), fifoDir, load.FeedOptions{})
		return err
	}); err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Errorf("feed directory with a FIFO: %v, want refused as not a regular file", err)
	}
	if _, err := os.Stat("/dev/zero"); err != nil {
		t.Skip("no /dev/zero")
	}
	linkDir := t.TempDir()
	os.Symlink("/dev/zero", filepath.Join(linkDir, "x.json"))
	if err := within("symlink to /dev/zero", func() error {
		_, err := load.FeedSources(context.Background(), linkDir, load.FeedOptions{})
		return err
	}); err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Errorf("feed directory with x.json -> /dev/zero: %v, want refused", err)
	}
	// A device read by path is bounded by counting (the feed's own bound
	// is 2 GiB; the same reader with a small one here).
	if err := within("/dev/zero read by path", func() error { _, err := load.File("/dev/zero", 1<<20); return err }); !errors.Is(err, load.ErrTooLarge) {
		t.Errorf("/dev/zero: %v, want ErrTooLarge", err)
	}
}
