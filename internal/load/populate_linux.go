package load

import "syscall"

// adviseHuge asks for transparent huge pages (MADV_HUGEPAGE), then
// populates the range (MADV_POPULATE_WRITE, Linux 5.14+). Errors are
// ignored: both are hints.
func adviseHuge(b []byte) {
	const madvPopulateWrite = 23
	syscall.Madvise(b, syscall.MADV_HUGEPAGE)
	syscall.Madvise(b, madvPopulateWrite)
}
