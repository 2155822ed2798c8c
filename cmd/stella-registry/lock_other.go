//go:build !unix && !windows

package main

import "os"

// lockFile does nothing where there is neither flock nor LockFileEx: one
// server per storage directory is then the user's to keep.
func lockFile(*os.File) error { return nil }
