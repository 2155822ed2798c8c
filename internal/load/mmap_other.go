//go:build !unix

package load

import (
	"errors"
	"os"
)

func mmap(*os.File, int) ([]byte, func(), error) {
	return nil, nil, errors.New("no mmap on this platform")
}
