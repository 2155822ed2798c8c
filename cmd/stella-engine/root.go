package main

import (
	"github.com/spf13/cobra"

	"github.com/stella-ops/stella-oras/internal/cli"
)

// newRoot is the whole command tree: the light commands of internal/cli,
// which the front binary (cmd/stella-oras) also runs itself, and the heavy
// ones, which it runs by executing this binary (handoff.Commands lists
// them; a test keeps the list equal to this tree).
func newRoot(s *cli.Streams) *cobra.Command {
	return cli.NewRoot(s, append(cli.LightCommands(s),
		newCanonCmd(s), newFeedCmd(s), newEvalCmd(s), newPolicyCmd(s), newRegistryCmd(s), newVerifyBundleCmd(s),
		newKeyCmd(s), newAttestCmd(s), newVerifyCmd(s), newVexCmd(s), newDeltaCmd(s),
		newEvaluateCmd(s), newSampleImageCmd(s), newReplayCmd(s), newStatusCmd(s), newDemoCmd(s), newMirrorCmd(s),
		newExportCmd(s), newImportCmd(s))...)
}
