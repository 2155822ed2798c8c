// Package iox holds small I/O helpers shared by the registry client and
// the embedded registry.
package iox

import "io"

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
