//go:build unix

package testutil

import (
	"bytes"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// Fifo is a named pipe (stat gives it size 0, as it does /dev/zero and
// other devices) that a goroutine fills with head and then fill bytes, n
// bytes in all; written returns how many the reader took before it closed
// the pipe (the writer stops at EPIPE). The test is skipped, with the
// reason, where a FIFO cannot be made.
func Fifo(t testing.TB, head []byte, fill byte, n int) (path string, written func() int) {
	t.Helper()
	path = filepath.Join(t.TempDir(), "in.json")
	if err := syscall.Mkfifo(path, 0o600); err != nil {
		t.Skipf("mkfifo: %v", err)
	}
	done := make(chan int, 1)
	go func() {
		f, err := os.OpenFile(path, os.O_WRONLY, 0)
		if err != nil {
			done <- 0
			return
		}
		defer f.Close()
		w, err := f.Write(head[:min(len(head), n)])
		chunk := bytes.Repeat([]byte{fill}, 1<<20)
		for err == nil && w < n {
			var m int
			m, err = f.Write(chunk[:min(len(chunk), n-w)])
			w += m
		}
		done <- w
	}()
	return path, func() int { return <-done }
}
