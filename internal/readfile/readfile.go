// Package readfile reads whole inputs within a size bound, checking a
// context between chunks. It is internal/load's file reading, apart so that
// the front binary (attach) reads files without linking load's SBOM and
// feed parsers (#11 section 2).
package readfile

import (
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
	if err == nil && st.Mode().IsRegular() && st.Size() > 0 {
		// One allocation of the right size: io.ReadAll's doubling buffer
		// cost more than parsing for files of tens of megabytes. A file
		// that grew meanwhile is read on, within the limit.
		buf := make([]byte, st.Size(), st.Size()+512)
		for off := 0; off < len(buf); {
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
	return limited(ctx, f, path, limit)
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
