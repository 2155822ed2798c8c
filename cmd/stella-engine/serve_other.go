//go:build !unix

package main

import (
	"os"
	"os/exec"

	"github.com/spf13/cobra"
	"github.com/stella-ops/stella-oras/internal/cli"
)

// execRegistry runs the registry as a child (no exec(2) here) with this
// process's streams, until it exits or the command is interrupted.
func execRegistry(cmd *cobra.Command, s *cli.Streams, bin string, args []string) error {
	c := exec.CommandContext(cmd.Context(), bin, args...)
	c.Stdin, c.Stdout, c.Stderr = os.Stdin, s.Out, s.Err
	c.Cancel = func() error { return c.Process.Signal(os.Interrupt) }
	return c.Run()
}
