//go:build unix

package atomicfile

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
)

// ownFD is the descriptor of this process that p names, if it names one.
func ownFD(p string) (int, bool) {
	abs, err := filepath.Abs(p)
	if err != nil {
		return 0, false
	}
	switch abs {
	case "/dev/stdin":
		return 0, true
	case "/dev/stdout":
		return 1, true
	case "/dev/stderr":
		return 2, true
	}
	dir, name := filepath.Split(abs)
	switch dir {
	case "/dev/fd/", "/proc/self/fd/", "/proc/thread-self/fd/", "/proc/" + strconv.Itoa(os.Getpid()) + "/fd/":
		n, err := strconv.Atoi(name)
		return n, err == nil && n >= 0 && strconv.Itoa(n) == name
	}
	return 0, false
}

// writeFD writes through descriptor fd, left open: standard output and
// error through os.Stdout and os.Stderr, another through a duplicate
// (which shares its offset) closed after the write, since an *os.File
// made on fd itself would close fd when collected.
func writeFD(path string, fd int, write func(io.Writer) error) error {
	var f *os.File
	switch fd {
	case 1:
		f = os.Stdout
	case 2:
		f = os.Stderr
	default:
		d, err := syscall.Dup(fd)
		if err != nil {
			return fmt.Errorf("writing %s: %w", path, err)
		}
		f = os.NewFile(uintptr(d), path)
		defer f.Close()
	}
	if err := write(f); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return nil
}
