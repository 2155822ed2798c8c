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
	out := newResultWriter(os.Stdout, 64<<10)
	code := run(ctx, os.Args[1:], os.Stdin, out, os.Stderr)
	stop()
	os.Exit(code)
}

// resultWriter is the buffered standard output. Its write errors are
// outputErrors, so that one returned by a command reads "writing output:
// …"; run flushes it and reports a failure there too.
type resultWriter struct{ w *bufio.Writer }

func newResultWriter(w io.Writer, size int) *resultWriter {
	return &resultWriter{w: bufio.NewWriterSize(w, size)}
}

func (r *resultWriter) Write(p []byte) (int, error) {
	n, err := r.w.Write(p)
	if err != nil {
		err = outputError{err}
	}
	return n, err
}

// Flush writes what is buffered; bufio keeps the first error, so a write
// that failed while the command ran fails here again.
func (r *resultWriter) Flush() error {
	if err := r.w.Flush(); err != nil {
		return outputError{err}
	}
	return nil
}

// run executes one command line and returns the process exit code. Tests
// call it with a fresh root each time.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	root := newRoot(&streams{in: stdin, out: stdout, err: stderr})
	root.SetArgs(args)
	cmd, err := root.ExecuteContextC(ctx)
	path := root.CommandPath()
	if cmd != nil {
		path = cmd.CommandPath()
	}
	if err != nil && ctx.Err() != nil && errors.Is(err, context.Canceled) {
		err = interrupted{err}
	}
	code := report(stderr, err, path)
	// A result that did not reach stdout in full is exit 1 whatever the
	// command decided: 3 and 4 promise a result the caller can read (the
	// gate failure is on stderr already). Said once: a command may have
	// returned this very error.
	if f, ok := stdout.(interface{ Flush() error }); ok {
		if ferr := f.Flush(); ferr != nil {
			if oe := (outputError{}); !errors.As(err, &oe) {
				fmt.Fprintf(stderr, "Error: %s\n", oneLine(ferr.Error()))
			}
			code = ExitError
		}
	}
	return code
}
