//go:build !unix

package main

import (
	"os"
	"os/exec"

	"github.com/spf13/cobra"
)

// execRegistry runs the registry as a child (no exec(2) here) with this
// process's streams, until it exits or the command is interrupted.
func execRegistry(cmd *cobra.Command, s *streams, bin string, args []string) error {
	c := exec.CommandContext(cmd.Context(), bin, args...)
	c.Stdin, c.Stdout, c.Stderr = os.Stdin, s.out, s.err
	c.Cancel = func() error { return c.Process.Signal(os.Interrupt) }
	return c.Run()
}
