//go:build !unix

package main

import (
	"errors"
	"os"
	"os/exec"
	"os/signal"

	"github.com/stella-ops/stella-oras/internal/cli"
)

// execEngine runs the engine as a child (no exec(2) here) with this
// process's standard streams and returns its exit code. An interrupt
// reaches the child too (the console sends it to the whole process
// group), so this process ignores it and waits for the child to stop.
func execEngine(bin string, args []string) int {
	signal.Ignore(os.Interrupt)
	c := exec.Command(bin, args...)
	c.Stdin, c.Stdout, c.Stderr = os.Stdin, os.Stdout, os.Stderr
	err := c.Run()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode()
	}
	return cli.Report(os.Stderr, err, "stella-oras")
}
