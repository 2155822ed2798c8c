//go:build unix

package atomicfile

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestWriteWhatPathIs: a regular file is replaced and a missing one
// created, atomically; a symlink is followed and the file it names written,
// the link kept; a FIFO, a device and an open file of the process
// (/proc/self/fd/N) are written through and stay what they are; a
// directory is refused. Before, the rename put a regular file in place of
// each (an `eval -o` onto a device node made with mknod, run as root,
// replaced the node; a FIFO's reader got nothing).
func TestWriteWhatPathIs(t *testing.T) {
	dir := t.TempDir()
	data := []byte(`{"verdict":"pass"}`)
	read := func(p string) string {
		t.Helper()
		b, err := os.ReadFile(p)
		if err != nil {
			return err.Error()
		}
		return string(b)
	}

	plain := filepath.Join(dir, "v.json")
	os.WriteFile(plain, []byte("old"), 0o600)
	if err := Write(plain, data, 0o644); err != nil || read(plain) != string(data) {
		t.Errorf("regular file: %v, content %q", err, read(plain))
	}
	if st, _ := os.Stat(plain); st.Mode().Perm() != 0o644 {
		t.Errorf("regular file: mode %v, want 0644", st.Mode().Perm())
	}

	real := filepath.Join(dir, "real.json")
	os.WriteFile(real, []byte("old"), 0o600)
	link := filepath.Join(dir, "link.json")
	os.Symlink("real.json", link)
	if err := Write(link, data, 0o644); err != nil {
		t.Fatalf("symlink to a file: %v", err)
	}
	if st, _ := os.Lstat(link); st.Mode()&os.ModeSymlink == 0 {
		t.Errorf("symlink to a file: the link was replaced by a %v", st.Mode().Type())
	}
	if got := read(real); got != string(data) {
		t.Errorf("symlink to a file: the file it names holds %q", got)
	}

	dangling := filepath.Join(dir, "dangling.json")
	os.Symlink("made.json", dangling)
	if err := Write(dangling, data, 0o644); err != nil || read(filepath.Join(dir, "made.json")) != string(data) {
		t.Errorf("dangling symlink: %v; want the file it names created", err)
	}
	if st, _ := os.Lstat(dangling); st.Mode()&os.ModeSymlink == 0 {
		t.Errorf("dangling symlink: the link was replaced")
	}

	loop := filepath.Join(dir, "loop")
	os.Symlink("loop", loop)
	if err := Write(loop, data, 0o644); err == nil || !strings.Contains(err.Error(), "symbolic links") {
		t.Errorf("a link to itself: %v, want refused", err)
	}

	sub := filepath.Join(dir, "sub")
	os.Mkdir(sub, 0o755)
	if err := Write(sub, data, 0o644); err == nil || !strings.Contains(err.Error(), "is a directory") {
		t.Errorf("directory: %v, want refused", err)
	}

	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	got := make(chan string, 1)
	go func() {
		f, err := os.Open(fifo)
		if err != nil {
			got <- err.Error()
			return
		}
		defer f.Close()
		b, _ := io.ReadAll(f)
		got <- string(b)
	}()
	if err := Write(fifo, data, 0o644); err != nil {
		t.Errorf("FIFO: %v", err)
	}
	select {
	case s := <-got:
		if s != string(data) {
			t.Errorf("FIFO: the reader got %q", s)
		}
	case <-time.After(10 * time.Second):
		t.Errorf("FIFO: the reader got nothing in 10 s")
	}
	if st, _ := os.Lstat(fifo); st.Mode()&os.ModeNamedPipe == 0 {
		t.Errorf("FIFO: replaced by a %v", st.Mode().Type())
	}

	if runtime.GOOS == "linux" {
		r, w, err := os.Pipe()
		if err != nil {
			t.Fatal(err)
		}
		fd := fmt.Sprintf("/proc/self/fd/%d", w.Fd())
		done := make(chan string, 1)
		go func() { b, _ := io.ReadAll(r); done <- string(b) }()
		err = Write(fd, data, 0o644)
		w.Close()
		if s := <-done; err != nil || s != string(data) {
			t.Errorf("%s (a pipe): %v, the reader got %q", fd, err, s)
		}
	}

	// The process's own descriptors are written through, sharing their
	// offset with what else the process writes to them: `-o /dev/stdout >
	// file` with a summary printed on stdout after the verdict. A second
	// open of the file (appending or not) wrote over one or the other.
	if runtime.GOOS == "linux" {
		out, err := os.Create(filepath.Join(dir, "stdout.txt"))
		if err != nil {
			t.Fatal(err)
		}
		saved := os.Stdout
		os.Stdout = out
		out.WriteString("before\n")
		err1 := Write("/dev/stdout", data, 0o644)
		out.WriteString("between\n")
		err2 := Write(fmt.Sprintf("/proc/self/fd/%d", out.Fd()), data, 0o644)
		out.WriteString("after\n")
		os.Stdout = saved
		out.Close()
		want := "before\n" + string(data) + "between\n" + string(data) + "after\n"
		if got := read(out.Name()); err1 != nil || err2 != nil || got != want {
			t.Errorf("the process's own descriptors: %v, %v; the file holds %q, want %q", err1, err2, got, want)
		}
	}

	// Device nodes: only root makes them (the test's own, in its
	// directory: never the system's).
	if runtime.GOOS != "linux" {
		return // mkdev is Linux's encoding
	}
	null, full := filepath.Join(dir, "null"), filepath.Join(dir, "full")
	if syscall.Mknod(null, syscall.S_IFCHR|0o666, int(mkdev(1, 3))) != nil || syscall.Mknod(full, syscall.S_IFCHR|0o666, int(mkdev(1, 7))) != nil {
		t.Logf("device nodes not tested: mknod needs root")
		return
	}
	if err := Write(null, data, 0o644); err != nil {
		t.Errorf("a null device: %v", err)
	}
	if err := Write(full, data, 0o644); !errors.Is(err, syscall.ENOSPC) {
		t.Errorf("a full device: %v, want the write's ENOSPC", err)
	}
	for _, p := range []string{null, full} {
		if st, _ := os.Lstat(p); st.Mode()&os.ModeCharDevice == 0 {
			t.Errorf("%s: the device node was replaced by a %v", filepath.Base(p), st.Mode().Type())
		}
	}
}

// mkdev is Linux's encoding of a device number (major, minor).
func mkdev(major, minor uint64) uint64 {
	return (major&0xfff)<<8 | (minor & 0xff) | (minor&^0xff)<<12 | (major&^0xfff)<<32
}
