//go:build unix

package verify

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// fifoOf is a named pipe that a goroutine fills with up to n bytes of b
// (stat gives it size 0, as it does /dev/zero and other devices); read
// returns how many the reader took before it closed the pipe.
func fifoOf(t *testing.T, b byte, n int) (string, func() int) {
	t.Helper()
	p := filepath.Join(t.TempDir(), "in.json")
	if err := syscall.Mkfifo(p, 0o600); err != nil {
		t.Skipf("mkfifo: %v", err)
	}
	done := make(chan int, 1)
	go func() {
		f, err := os.OpenFile(p, os.O_WRONLY, 0)
		if err != nil {
			done <- 0
			return
		}
		defer f.Close()
		chunk, w := bytes.Repeat([]byte{b}, 1<<20), 0
		for w < n {
			m, err := f.Write(chunk)
			w += m
			if err != nil {
				break // EPIPE: the reader stopped
			}
		}
		done <- w
	}()
	return p, func() int { return <-done }
}

// TestBundleBoundCountedAsRead: a bundle or trusted root from a pipe or a
// device is bounded by the bytes read. Before, the bound was taken from
// stat (size 0 for these), and `verify-bundle /dev/zero` was read until
// the process ran out of memory (#11 1.4).
func TestBundleBoundCountedAsRead(t *testing.T) {
	const offered = 64 << 20 // four times the bounds
	p, read := fifoOf(t, ' ', offered)
	_, err := VerifyBundle(p, BundleOptions{})
	if !errors.Is(err, ErrVerification) || !strings.Contains(err.Error(), "larger than") {
		t.Fatalf("bundle from a pipe past the bound: %v, want a verification failure saying it is too large", err)
	}
	if n := read(); n >= offered {
		t.Errorf("the bundle's reader took all %d bytes offered, want it to stop past %d", n, MaxBundleBytes)
	}
	p, read = fifoOf(t, ' ', offered)
	_, err = trustedRootFile(p)
	if err == nil || !strings.Contains(err.Error(), "exceeds size limit") {
		t.Fatalf("trusted root from a pipe past the bound: %v, want the size limit", err)
	}
	if n := read(); n >= offered {
		t.Errorf("the trusted root's reader took all %d bytes offered, want it to stop past %d", n, maxTrustedRootBytes)
	}
}
