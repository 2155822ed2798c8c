//go:build !unix

package atomicfile

import (
	"errors"
	"io"
)

// ownFD: only Unix names a process's descriptors by path.
func ownFD(string) (int, bool) { return 0, false }

func writeFD(string, int, func(io.Writer) error) error {
	return errors.New("no descriptor paths on this platform")
}
