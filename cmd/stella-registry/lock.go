package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// lockName is the file in the storage directory that a serving
// stella-registry holds locked.
const lockName = "stella-registry.lock"

// errLocked is what lockFile returns when another process holds the lock.
var errLocked = errors.New("locked")

// lockRoot takes the storage directory root for this process, or says
// which process has it. One server per directory: the referrers layer
// serializes its index updates in memory (a second process's would
// interleave with them), and each server clears the single POST's
// partial files at start (a second one's would vanish mid-upload). The
// lock is the kernel's (flock, LockFileEx), so it goes with the process
// however it ends; the file stays, with the PID of the last holder.
func lockRoot(root string) (release func(), err error) {
	if err := os.MkdirAll(root, 0o755); err != nil {
		return nil, err
	}
	path := filepath.Join(root, lockName)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, err
	}
	if err := lockFile(f); err != nil {
		f.Close()
		if !errors.Is(err, errLocked) {
			return nil, fmt.Errorf("locking %s: %w", path, err)
		}
		holder := "another process"
		if b, rerr := os.ReadFile(path); rerr == nil {
			if pid, perr := strconv.Atoi(strings.TrimSpace(string(b))); perr == nil && pid > 0 {
				holder = fmt.Sprintf("process %d", pid)
			}
		}
		return nil, fmt.Errorf("--root %s is in use: %s serves it (%s is locked); one server per storage directory", root, holder, path)
	}
	// The PID is for that message only; the lock is what counts.
	if err := f.Truncate(0); err == nil {
		_, _ = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	}
	return func() { f.Close() }, nil
}
