package load

import (
	"os"

	"github.com/stella-ops/stella-oras/internal/atomicfile"
)

// WriteAtomic writes data to path through a temporary file and a rename:
// a reader never sees a partial file and a failure leaves nothing behind.
func WriteAtomic(path string, data []byte, perm os.FileMode) error {
	return atomicfile.Write(path, data, perm)
}
