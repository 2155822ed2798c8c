// Package cli is what both binaries' command trees share: the light
// commands (version, discover, attach, pull), which the front binary
// (cmd/stella-oras) runs in-process, and the infrastructure every command
// uses (streams, --output, registry flags, exit codes and error report,
// the buffered stdout, Run). The engine (cmd/stella-engine) builds the
// whole tree from these and its own heavy commands. It imports nothing
// of the evaluation stack: the front links it, and start-up is what the
// front is for (#11 section 2).
package cli

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"

	"github.com/spf13/cobra"
)

// Streams are a command's standard input, output and error.
type Streams struct {
	In       io.Reader
	Out, Err io.Writer
}

// OutputFlag is the --output format every command accepts.
type OutputFlag struct{ format string }

// Register adds --output to cmd.
func (o *OutputFlag) Register(cmd *cobra.Command) {
	cmd.Flags().StringVar(&o.format, "output", "text", "output format: text or json")
}

// Validate refuses a format other than text and json (a usage error).
func (o *OutputFlag) Validate() error {
	switch o.format {
	case "text", "json":
		return nil
	}
	return Usagef("--output must be text or json, not %q", o.format)
}

// JSON reports whether --output json was given.
func (o *OutputFlag) JSON() bool { return o.format == "json" }

// WriteJSON prints one JSON document to stdout.
func WriteJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

// NewRoot is the root command of both binaries, with cmds under it: its
// name is stella-oras in both, so the engine's usage lines read as the
// front's.
func NewRoot(s *Streams, cmds ...*cobra.Command) *cobra.Command {
	root := &cobra.Command{
		Use:           "stella-oras",
		Short:         "Deterministic, signed vulnerability verdicts stored in OCI registries",
		Version:       RootVersion(),
		SilenceErrors: true,
		SilenceUsage:  true,
	}
	root.SetIn(s.In)
	root.SetOut(s.Out)
	root.SetErr(s.Err)
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return UsageError{Err: err} })
	root.AddCommand(cmds...)
	// Unknown commands and argument-count errors are usage errors.
	for _, c := range root.Commands() {
		WrapArgs(c)
	}
	root.Args = NoSubcommand
	root.RunE = func(cmd *cobra.Command, _ []string) error { return cmd.Help() }
	return root
}

// NoSubcommand is the Args of a command with subcommands: an argument is
// an unknown subcommand, with cobra's suggestions (Levenshtein distance
// SuggestionsMinimumDistance, default 2, or a prefix) when it has some.
// Cobra prints those only when Args is unset, and then not as a usage
// error.
func NoSubcommand(cmd *cobra.Command, args []string) error {
	if len(args) == 0 {
		return nil
	}
	msg := fmt.Sprintf("unknown command %q for %q", args[0], cmd.CommandPath())
	if cmd.SuggestionsMinimumDistance <= 0 {
		cmd.SuggestionsMinimumDistance = 2 // cobra's default, which it sets only on its own path
	}
	if sug := cmd.SuggestionsFor(args[0]); len(sug) > 0 {
		for i := range sug {
			sug[i] = strconv.Quote(sug[i])
		}
		msg += "; did you mean " + strings.Join(sug, " or ") + "?"
	}
	return UsageError{Err: errors.New(msg)}
}

// WrapArgs makes c's argument errors, and its subcommands', usage errors.
func WrapArgs(c *cobra.Command) {
	if c.Args != nil {
		inner := c.Args
		c.Args = func(cmd *cobra.Command, args []string) error {
			if err := inner(cmd, args); err != nil {
				return UsageError{Err: err}
			}
			return nil
		}
	}
	for _, sub := range c.Commands() {
		WrapArgs(sub)
	}
	if c.HasSubCommands() && c.RunE == nil {
		c.Args = NoSubcommand
		c.RunE = func(cmd *cobra.Command, _ []string) error { return cmd.Help() }
	}
}

// Plural is "1 word" or "n words".
func Plural(n int, word string) string {
	if n == 1 {
		return fmt.Sprintf("%d %s", n, word)
	}
	return fmt.Sprintf("%d %ss", n, word)
}

// ResultWriter is the buffered standard output. Its write errors are
// OutputErrors, so that one returned by a command reads "writing output:
// …"; run flushes it and reports a failure there too.
type ResultWriter struct{ w *bufio.Writer }

// NewResultWriter buffers w with size bytes.
func NewResultWriter(w io.Writer, size int) *ResultWriter {
	return &ResultWriter{w: bufio.NewWriterSize(w, size)}
}

// Write buffers p.
func (r *ResultWriter) Write(p []byte) (int, error) {
	n, err := r.w.Write(p)
	if err != nil {
		err = OutputError{Err: err}
	}
	return n, err
}

// Flush writes what is buffered; bufio keeps the first error, so a write
// that failed while the command ran fails here again.
func (r *ResultWriter) Flush() error {
	if err := r.w.Flush(); err != nil {
		return OutputError{Err: err}
	}
	return nil
}

// Run executes one command line and returns the process exit code. Tests
// call it with a fresh root each time.
func Run(ctx context.Context, root *cobra.Command, args []string, stdout, stderr io.Writer) int {
	root.SetArgs(args)
	cmd, err := root.ExecuteContextC(ctx)
	path := root.CommandPath()
	if cmd != nil {
		path = cmd.CommandPath()
	}
	if err != nil && ctx.Err() != nil && errors.Is(err, context.Canceled) {
		err = Interrupted{Err: err}
	}
	code := Report(stderr, err, path)
	// A result that did not reach stdout in full is exit 1 whatever the
	// command decided: 3 and 4 promise a result the caller can read (the
	// gate failure is on stderr already). Said once: a command may have
	// returned this very error.
	if f, ok := stdout.(interface{ Flush() error }); ok {
		if ferr := f.Flush(); ferr != nil {
			if oe := (OutputError{}); !errors.As(err, &oe) {
				fmt.Fprintf(stderr, "Error: %s\n", OneLine(ferr.Error()))
			}
			code = ExitError
		}
	}
	return code
}

// Sorted sorts s in place and returns it.
func Sorted(s []string) []string { slices.Sort(s); return s }
