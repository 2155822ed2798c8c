//go:build unix

package main

import (
	"os"
	"syscall"

	"github.com/stella-ops/stella-oras/internal/cli"
)

// execEngine replaces this process with the engine, as `registry serve`
// does with stella-registry: the PID, signals, standard streams and exit
// status are the engine's own. It returns only if exec(2) failed.
func execEngine(bin string, args []string) int {
	err := syscall.Exec(bin, append([]string{bin}, args...), os.Environ())
	return cli.Report(os.Stderr, err, "stella-oras")
}
