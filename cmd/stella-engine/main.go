// Command stella-engine is stella-oras's whole command tree, the
// deterministic, signed verdict engine over OCI registries (see README.md).
// The stella-oras front binary runs the light commands itself and executes
// this one, with the same arguments, for every other: it is a separate
// binary so that those light commands do not link and initialize the
// evaluation, signing and SBOM stacks (#11 section 2).
package main

import (
	"context"
	"io"
	"os"

	"github.com/stella-ops/stella-oras/evaluator"
	"github.com/stella-ops/stella-oras/internal/cli"
)

// The exit codes of the evaluator's errors (gate failed, verification
// failed): set before any command runs, tests' included.
func init() { cli.Classify = classify }

func main() {
	// The first signal cancels the command; a second, or the grace
	// passing, ends the process (cli.SignalContext).
	ctx, stop := cli.SignalContext(os.Stderr, cli.SignalGrace, os.Exit)
	// Buffer stdout: tables are written cell by cell, and one write
	// syscall per cell costs more than the evaluation itself.
	out := cli.NewResultWriter(os.Stdout, 64<<10)
	code := run(ctx, os.Args[1:], os.Stdin, out, os.Stderr)
	stop()
	os.Exit(code)
}

// run executes one command line and returns the process exit code. Tests
// call it with a fresh root each time.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	return cli.Run(ctx, newRoot(&cli.Streams{In: stdin, Out: stdout, Err: stderr}), args, stdout, stderr)
}

// classify is cli.Classify for this tree, over evaluator.Class: its
// commands return the evaluator's and verify's errors too.
func classify(err error) int {
	switch evaluator.Class(err) {
	case evaluator.ErrGateFailed:
		return cli.ExitGateFailed
	case evaluator.ErrVerification:
		return cli.ExitVerifyFailed
	}
	return cli.ExitError
}

// errGate is returned when a verdict fails the gate. Its message has been
// printed with the verdict already.
var errGate = evaluator.ErrGateFailed

// errVerify is wrapped by verification failures.
var errVerify = evaluator.ErrVerification
