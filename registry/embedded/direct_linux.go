package embedded

import "syscall"

// oDirect opens a file for writes that bypass the page cache.
const oDirect = syscall.O_DIRECT
