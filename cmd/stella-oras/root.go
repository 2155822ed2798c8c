package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/spf13/cobra"
	"github.com/stella-ops/stella-oras/engine"
)

type streams struct {
	in       io.Reader
	out, err io.Writer
}

// outputFlag is the --output format every command accepts.
type outputFlag struct{ format string }

func (o *outputFlag) register(cmd *cobra.Command) {
	cmd.Flags().StringVar(&o.format, "output", "text", "output format: text or json")
}

func (o *outputFlag) validate() error {
	switch o.format {
	case "text", "json":
		return nil
	}
	return usagef("--output must be text or json, not %q", o.format)
}

func (o *outputFlag) json() bool { return o.format == "json" }

// writeJSON prints one JSON document to stdout.
func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

func newRoot(s *streams) *cobra.Command {
	root := &cobra.Command{
		Use:           "stella-oras",
		Short:         "Deterministic, signed vulnerability verdicts stored in OCI registries",
		Version:       toolVersion + " (engine " + engine.Name + "/" + engine.Version + ")",
		SilenceErrors: true,
		SilenceUsage:  true,
	}
	root.SetIn(s.in)
	root.SetOut(s.out)
	root.SetErr(s.err)
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	root.AddCommand(newVersionCmd(s), newCanonCmd(s), newFeedCmd(s), newEvalCmd(s), newPolicyCmd(s),
		newAttachCmd(s), newDiscoverCmd(s), newPullCmd(s), newRegistryCmd(s), newVerifyBundleCmd(s),
		newKeyCmd(s), newAttestCmd(s), newVerifyCmd(s), newVexCmd(s), newDeltaCmd(s),
		newEvaluateCmd(s), newSampleImageCmd(s), newReplayCmd(s), newStatusCmd(s), newDemoCmd(s))
	// Unknown commands and argument-count errors are usage errors.
	for _, c := range root.Commands() {
		wrapArgs(c)
	}
	root.Args = noSubcommand
	root.RunE = func(cmd *cobra.Command, _ []string) error { return cmd.Help() }
	return root
}

// noSubcommand is the Args of a command with subcommands: an argument is
// an unknown subcommand, with cobra's suggestions (Levenshtein distance
// SuggestionsMinimumDistance, default 2, or a prefix) when it has some.
// Cobra prints those only when Args is unset, and then not as a usage
// error.
func noSubcommand(cmd *cobra.Command, args []string) error {
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
	return usageError{errors.New(msg)}
}

func wrapArgs(c *cobra.Command) {
	if c.Args != nil {
		inner := c.Args
		c.Args = func(cmd *cobra.Command, args []string) error {
			if err := inner(cmd, args); err != nil {
				return usageError{err}
			}
			return nil
		}
	}
	for _, sub := range c.Commands() {
		wrapArgs(sub)
	}
	if c.HasSubCommands() && c.RunE == nil {
		c.Args = noSubcommand
		c.RunE = func(cmd *cobra.Command, _ []string) error { return cmd.Help() }
	}
}

func plural(n int, word string) string {
	if n == 1 {
		return fmt.Sprintf("%d %s", n, word)
	}
	return fmt.Sprintf("%d %ss", n, word)
}
