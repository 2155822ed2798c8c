// Package iox holds small I/O helpers shared by the registry client and
// the embedded registry.
package iox

import (
	"context"
	"io"
)

// Fill reads r into b until b is full or r fails, and returns how much it
// read and r's error: io.EOF is r's clean end, anything else a failure
// (unlike io.ReadFull, which turns an end within b into
// io.ErrUnexpectedEOF, the same error a truncated HTTP body gives).
func Fill(r io.Reader, b []byte) (int, error) {
	n := 0
	for n < len(b) {
		m, err := r.Read(b[n:])
		n += m
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

// ContextReadCloser is rc that fails with ctx's error once ctx is done,
// checked before each read: a file read (a layout's blob) has no context
// of its own, so a cancelled copy of a large one went on to its end.
func ContextReadCloser(ctx context.Context, rc io.ReadCloser) io.ReadCloser {
	return &ctxReadCloser{ctx: ctx, ReadCloser: rc}
}

type ctxReadCloser struct {
	ctx context.Context
	io.ReadCloser
}

func (c *ctxReadCloser) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.ReadCloser.Read(p)
}
