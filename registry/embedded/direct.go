package embedded

import (
	"errors"
	"os"
	"path/filepath"
	"unsafe"
)

// Large single-POST bodies are written with O_DIRECT where the filesystem
// takes it: the bytes go from the receive buffer to the disk, not copied
// into the page cache first. That copy was the largest cost of receiving
// a 1 GiB layer (copy_folio_from_iter, 46 % of the registry's CPU, more
// than the hash), and a blob written once is not read back soon by this
// process (a mirror's destination). The data is on the disk when the
// writes return; the file's fsync then flushes its size and the device's
// cache.

// directAlign is what O_DIRECT writes are aligned to: address, length and
// offset (4096 covers 512-byte and 4 KiB logical blocks).
const directAlign = 4096

// alignedBuf is n bytes (a multiple of directAlign) at an address aligned
// for O_DIRECT. Go's allocator promises no alignment past the word, so
// the buffer is cut out of a larger one (unsafe only reads its address).
func alignedBuf(n int) []byte {
	b := make([]byte, n+directAlign)
	off := int(uintptr(unsafe.Pointer(&b[0])) & (directAlign - 1))
	if off != 0 {
		off = directAlign - off
	}
	return b[off : off+n : off+n]
}

// directOK reports whether files in dir take O_DIRECT writes (tmpfs, some
// network filesystems and all of the non-Linux builds do not): one
// aligned block written to a probe file.
func directOK(dir string) bool {
	if oDirect == 0 {
		return false
	}
	p := filepath.Join(dir, ".direct-probe")
	defer os.Remove(p)
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_TRUNC|oDirect, 0o600)
	if err != nil {
		return false
	}
	defer f.Close()
	_, err = f.Write(alignedBuf(directAlign))
	return err == nil
}

var errAfterTail = errors.New("write after the last, partial, block")

// directWriter writes through a file opened with O_DIRECT. Every write
// but the last is whole blocks from an aligned buffer (receive's chunks);
// the last is padded with zeros to a block inside its buffer's capacity,
// and the file is cut to size after (the caller's Truncate).
type directWriter struct {
	f    *os.File
	tail bool // the padded last block is written
}

func (w *directWriter) Write(p []byte) (int, error) {
	if w.tail {
		return 0, errAfterTail
	}
	if len(p)%directAlign == 0 {
		return w.f.Write(p)
	}
	full := (len(p) + directAlign - 1) &^ (directAlign - 1)
	if cap(p) < full {
		return 0, errors.New("O_DIRECT write from a buffer without room for its last block")
	}
	q := p[:full]
	clear(q[len(p):]) // beyond what the hash reads
	if _, err := w.f.Write(q); err != nil {
		return 0, err
	}
	w.tail = true
	return len(p), nil
}
