// Package readfile reads whole inputs within a size bound, checking a
// context between chunks. It is internal/load's file reading, apart so that
// the front binary (attach) reads files without linking load's SBOM and
// feed parsers (#11 section 2).
package readfile

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
)

// ErrTooLarge is returned when an input exceeds its size limit.
var ErrTooLarge = errors.New("input exceeds size limit")

// File reads a whole file of at most limit bytes.
func File(path string, limit int64) ([]byte, error) {
	return Context(context.Background(), path, limit)
}

// readChunk is how much one read asks for: between chunks, a read checks
// its context, so a cancelled command never waits for a 2 GiB read.
const readChunk = 32 << 20

// Context is File, stopping with ctx's error when ctx is done.
func Context(ctx context.Context, path string, limit int64) ([]byte, error) {
	return Sniffed(ctx, path, limit, nil)
}

// SniffBytes is how much of the start of an input Sniffed's sniff sees.
const SniffBytes = 4096

// Sniffed is Context with a look at the start first: sniff gets the first
// SniffBytes bytes (all of a shorter input) before the rest is read, and
// returns the bound for the whole input (at most limit) or an error, which
// ends the read. It is there for inputs whose format shows in their first
// bytes, so that one that cannot be of it is refused at once rather than
// read to its bound (eval --feed /dev/zero was read to the snapshot bound,
// 2 GiB, before the snapshot parser saw its first byte: 6.4 GB resident).
// A nil sniff reads as Context.
func Sniffed(ctx context.Context, path string, limit int64, sniff func(head []byte) (int64, error)) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	// Refuse an oversized regular file before reading a byte of it.
	st, err := f.Stat()
	if err == nil && st.Mode().IsRegular() && st.Size() > limit {
		return nil, fmt.Errorf("%s: %w of %d bytes (file has %d)", path, ErrTooLarge, limit, st.Size())
	}
	var head []byte
	if sniff != nil {
		head = make([]byte, SniffBytes)
		n, err := io.ReadFull(f, head)
		if err != nil && err != io.EOF && err != io.ErrUnexpectedEOF {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		head = head[:n]
		bound, err := sniff(head)
		if err != nil {
			return nil, err
		}
		limit = min(limit, bound)
		if int64(n) > limit {
			return nil, fmt.Errorf("%s: %w of %d bytes", path, ErrTooLarge, limit)
		}
		if n < SniffBytes {
			return head, nil // the whole input
		}
		if err == nil && st.Mode().IsRegular() && st.Size() > limit { // the sniff's bound
			return nil, fmt.Errorf("%s: %w of %d bytes (file has %d)", path, ErrTooLarge, limit, st.Size())
		}
	}
	if err == nil && st.Mode().IsRegular() && st.Size() > int64(len(head)) {
		// One allocation of the right size: io.ReadAll's doubling buffer
		// cost more than parsing for files of tens of megabytes. A file
		// that grew meanwhile is read on, within the limit.
		buf := make([]byte, st.Size(), st.Size()+512)
		copy(buf, head)
		for off := len(head); off < len(buf); {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
			n, err := io.ReadFull(f, buf[off:min(off+readChunk, len(buf))])
			off += n
			if err != nil {
				return nil, fmt.Errorf("%s: %w", path, err)
			}
		}
		rest, err := limited(ctx, f, path, limit-int64(len(buf)))
		if err != nil {
			return nil, err
		}
		return append(buf, rest...), nil
	}
	return limited(ctx, io.MultiReader(bytes.NewReader(head), f), path, limit)
}

// FileOrStdin is File, or standard input for "-".
func FileOrStdin(path string, limit int64, stdin io.Reader) ([]byte, error) {
	if path == "-" {
		return limited(context.Background(), stdin, "<stdin>", limit)
	}
	return File(path, limit)
}

func limited(ctx context.Context, r io.Reader, name string, limit int64) ([]byte, error) {
	data, err := All(ctx, r, limit+1)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("%s: %w of %d bytes", name, ErrTooLarge, limit)
	}
	return data, nil
}

// All reads r to its end or to max bytes, checking ctx between reads
// of at most readChunk bytes.
func All(ctx context.Context, r io.Reader, max int64) ([]byte, error) {
	var b []byte
	for int64(len(b)) < max {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		want := min(readChunk, max-int64(len(b)))
		chunk, err := io.ReadAll(io.LimitReader(r, want))
		if b == nil {
			b = chunk
		} else {
			b = append(b, chunk...)
		}
		if err != nil || int64(len(chunk)) < want {
			return b, err // an error, or the end
		}
	}
	return b, nil
}

// Regular stats path (following links) and refuses what is not a regular
// file: a FIFO found in a directory would make a read wait for a writer
// forever, a device never end. The stat's own error (a missing file) is
// returned as it is, with no FileInfo; a file that is not regular gives
// its FileInfo and the refusal.
func Regular(path string) (os.FileInfo, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return fi, fmt.Errorf("%s: not a regular file (%s): not read", path, fi.Mode().Type())
	}
	return fi, nil
}
