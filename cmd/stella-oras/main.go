// Command stella-oras is the deterministic, signed verdict engine over OCI
// registries. See README.md.
package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	// The first signal cancels the command, which stops at its next check
	// and reports "interrupted"; stop() restores the default disposition,
	// so a second Ctrl-C ends the process at once.
	go func() {
		<-ctx.Done()
		stop()
	}()
	// Buffer stdout: tables are written cell by cell, and one write
	// syscall per cell costs more than the evaluation itself.
	out := bufio.NewWriterSize(os.Stdout, 64<<10)
	code := run(ctx, os.Args[1:], os.Stdin, out, os.Stderr)
	if err := out.Flush(); err != nil && code == ExitOK {
		fmt.Fprintf(os.Stderr, "Error: writing output: %v\n", err)
		code = ExitError
	}
	stop()
	os.Exit(code)
}

// run executes one command line and returns the process exit code. Tests
// call it with a fresh root each time.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	root := newRoot(&streams{in: stdin, out: stdout, err: stderr})
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	if err != nil && ctx.Err() != nil && errors.Is(err, context.Canceled) {
		err = interrupted{err}
	}
	return report(stderr, err)
}
