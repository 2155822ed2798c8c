//go:build unix

package main

import (
	"os"
	"syscall"

	"github.com/spf13/cobra"
	"github.com/stella-ops/stella-oras/internal/cli"
)

// execRegistry replaces this process with the registry: the PID, signals
// and exit status are the registry's own.
func execRegistry(_ *cobra.Command, _ *cli.Streams, bin string, args []string) error {
	return syscall.Exec(bin, registryArgs(bin, args), os.Environ())
}
