// Command stella-oras is the deterministic, signed verdict engine over OCI
// registries (see README.md). This binary is its thin front: it runs the
// light one-request commands (version, discover, attach, pull) and a
// mirror without the engine's gate or receipt (handoff.MirrorEngineFlags)
// itself, and executes the stella-engine binary, found next to it or on
// PATH, with the same arguments for every other command. The front links only cobra,
// oras-go and what those commands need, not the evaluation, signing and
// SBOM stacks, whose initialization alone took longer than a whole
// `oras discover` (#11 section 2).
package main

import (
	"os"

	"github.com/spf13/cobra"

	"github.com/stella-ops/stella-oras/cmd/stella-oras/internal/early"
	"github.com/stella-ops/stella-oras/internal/cli"
	"github.com/stella-ops/stella-oras/internal/handoff"
	"github.com/stella-ops/stella-oras/internal/sibling"
)

func main() {
	// On unix an engine command line was handed off already, before the
	// front's packages initialized (package early); here it is when the
	// engine could not be run that way (or not on unix).
	args := os.Args[1:]
	if handoff.EngineArgs(args) {
		os.Exit(runEngine(args))
	}
	// The first signal cancels the command; a second, or the grace
	// passing, ends the process (cli.SignalContext).
	ctx, stop := cli.SignalContext(os.Stderr, cli.SignalGrace, os.Exit)
	out := cli.NewResultWriter(os.Stdout, 64<<10)
	code := cli.Run(ctx, newRoot(&cli.Streams{In: os.Stdin, Out: out, Err: os.Stderr}), args, out, os.Stderr)
	stop()
	os.Exit(code)
}

// newRoot is the front's tree: the light commands, and for each engine
// command a stand-in with its name and description (for --help and
// suggestions) that runs the engine, should cobra reach it (it does not
// when main dispatched first).
func newRoot(s *cli.Streams) *cobra.Command {
	// mirror runs here unless its command line needs the engine
	// (handoff.EngineArgs); its stand-in is then not needed.
	cmds := append(cli.LightCommands(s), cli.NewMirrorCmd(s, nil))
	for _, c := range handoff.Commands() {
		if c.Name == "mirror" {
			continue
		}
		cmds = append(cmds, &cobra.Command{
			Use:                c.Name,
			Short:              c.Short,
			DisableFlagParsing: true,
			RunE: func(_ *cobra.Command, args []string) error {
				os.Exit(runEngine(append([]string{c.Name}, args...)))
				return nil
			},
		})
	}
	return cli.NewRoot(s, cmds...)
}

// runEngine runs the engine with args and returns its exit code (on unix
// it does not return: the process becomes the engine).
func runEngine(args []string) int {
	bin, err := sibling.Find(early.EngineBinary)
	if err != nil {
		return cli.Report(os.Stderr, err, "stella-oras")
	}
	return execEngine(bin, args)
}
