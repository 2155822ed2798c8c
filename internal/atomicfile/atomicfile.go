// Package atomicfile writes files through a temporary file and a rename.
package atomicfile

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
)

// Write writes data to path through a temporary file in the same
// directory and a rename, so a reader never sees a partial file and a
// failure leaves nothing behind. What path is decides how (see WriteFrom).
func Write(path string, data []byte, perm os.FileMode) error {
	return WriteFrom(path, perm, func(w io.Writer) error {
		_, err := w.Write(data)
		return err
	})
}

// WriteFrom is Write of what write writes to the temporary file, for
// contents too large to hold in memory at once. An error from write
// leaves nothing behind and is returned (wrapped).
//
// The rename replaces a regular file or creates one. What else path may
// name is written as a user of cp or tee expects, not replaced (before,
// the rename put a regular file in place of a device, a FIFO or a symlink:
// `-o /dev/null` run as root replaced the device node):
//   - a symlink is followed, and the file it names is written (through a
//     temporary file beside that file, so the link stays);
//   - a device, FIFO or socket, or a link in /dev or /proc, is opened and
//     written through, appending, with no temporary file: a stream cannot
//     be replaced whole, so a failed write may leave part of it written;
//   - one of the process's own descriptors (/dev/stdout, /dev/fd/N,
//     /proc/self/fd/N) is written through that descriptor, not opened
//     again: `-o /dev/stdout > file` shares the shell's offset, where a
//     second open would write over what the process prints on stdout;
//   - a directory is refused.
func WriteFrom(path string, perm os.FileMode, write func(io.Writer) error) error {
	return writeFrom(path, perm, true, write)
}

// Replace is Write without the fsync before the rename: a reader, or a
// process killed mid-write, still finds the old file or the new one,
// whole, but a crash of the machine may leave either. For a file among
// others that are not synced either (an OCI layout's index.json, whose
// blobs oras-go writes unsynced), where a sync on every update would be
// the one slow write.
//
// On Windows a file that another process has open cannot be renamed over
// (Go, among others, opens files without FILE_SHARE_DELETE): Replace then
// writes the file in place, as os.WriteFile does, rather than fail.
func Replace(path string, data []byte, perm os.FileMode) error {
	err := writeFrom(path, perm, false, func(w io.Writer) error {
		_, err := w.Write(data)
		return err
	})
	var re *renameError
	if err == nil || runtime.GOOS != "windows" || !errors.As(err, &re) {
		return err
	}
	if err := os.WriteFile(re.target, data, perm); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return nil
}

// renameError is a failed rename of the temporary file over target.
type renameError struct {
	target string
	err    error
}

func (e *renameError) Error() string { return e.err.Error() }
func (e *renameError) Unwrap() error { return e.err }

func writeFrom(path string, perm os.FileMode, sync bool, write func(io.Writer) error) (err error) {
	target, stream, err := resolve(path)
	if err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if stream {
		if fd, ok := ownFD(target); ok {
			return writeFD(path, fd, write)
		}
		return writeStream(path, write)
	}
	dir := filepath.Dir(target)
	f, err := os.CreateTemp(dir, "."+filepath.Base(target)+".tmp-*")
	if err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(tmp)
		}
	}()
	if err = write(f); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if sync {
		if err = f.Sync(); err != nil {
			return fmt.Errorf("writing %s: %w", path, err)
		}
	}
	if err = f.Close(); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err = os.Chmod(tmp, perm); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err = os.Rename(tmp, target); err != nil {
		return fmt.Errorf("writing %s: %w", path, &renameError{target: target, err: err})
	}
	return nil
}

// maxLinks bounds the symlinks followed, as the kernel's ELOOP does.
const maxLinks = 40

// resolve follows path's symlinks to what the write goes to: a file to
// replace or create (stream false), or one to write through (stream
// true).
func resolve(path string) (target string, stream bool, err error) {
	p := path
	for range maxLinks {
		fi, err := os.Lstat(p)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			return p, false, nil // created (a dangling link's target too)
		case err != nil:
			return "", false, err
		case fi.Mode()&fs.ModeSymlink == 0:
			if fi.IsDir() {
				return "", false, fmt.Errorf("%s is a directory", p)
			}
			return p, !fi.Mode().IsRegular(), nil
		case inSystemTree(p):
			// /dev/stdout -> /proc/self/fd/1 -> the process's stdout,
			// which may be a pipe, a terminal or a file the shell opened:
			// write to it as it is open, never rename over what it names.
			if st, err := os.Stat(p); err == nil && st.IsDir() {
				return "", false, fmt.Errorf("%s is a directory", p)
			}
			return p, true, nil
		}
		link, err := os.Readlink(p)
		if err != nil {
			return "", false, err
		}
		if !filepath.IsAbs(link) {
			link = filepath.Join(filepath.Dir(p), link)
		}
		p = link
	}
	return "", false, fmt.Errorf("more than %d symbolic links", maxLinks)
}

// inSystemTree reports whether p, made absolute, is in /dev or /proc.
func inSystemTree(p string) bool {
	abs, err := filepath.Abs(p)
	if err != nil {
		return false
	}
	return strings.HasPrefix(abs, "/dev/") || strings.HasPrefix(abs, "/proc/")
}

// writeStream writes to path as it is: opened for writing, appending,
// never created or truncated.
func writeStream(path string, write func(io.Writer) error) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := write(f); err != nil {
		f.Close()
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return nil
}
