package cli

import (
	"github.com/spf13/cobra"
)

// LightCommands are the commands of this package, which both binaries
// run in-process.
func LightCommands(s *Streams) []*cobra.Command {
	return []*cobra.Command{NewVersionCmd(s), NewAttachCmd(s), NewDiscoverCmd(s), NewPullCmd(s)}
}
