package cli

import (
	"slices"

	"github.com/spf13/cobra"
)

// EngineCommand is a command of the engine binary (cmd/stella-engine)
// that the front (cmd/stella-oras) does not run itself.
type EngineCommand struct{ Name, Short string }

// EngineCommands are the engine's commands outside this package, with
// their Short descriptions, for the front's --help and dispatch. The
// front cannot build them (that would link what they need), so they are
// listed here; TestFrontCommands in cmd/stella-engine holds this list
// equal to the engine's tree.
var EngineCommands = []EngineCommand{
	{"attest", "Sign an in-toto statement about an image and attach it as a Sigstore bundle"},
	{"canon", "Print the RFC 8785 canonical form of a JSON document"},
	{"delta", "Compare two verdicts and gate on what changed"},
	{"demo", "Run the main job end to end on OCI layouts, with nothing installed"},
	{"eval", "Judge an SBOM against a feed snapshot and write a canonical verdict"},
	{"evaluate", "Judge an image from its referrers and attach the signed verdict (the main job)"},
	{"feed", "Build vulnerability-feed snapshots and push them as OCI artifacts"},
	{"key", "Manage signing keys"},
	{"policy", "Compile, lint and explain policy bundles"},
	{"registry", "Run the embedded OCI registry"},
	{"replay", "Re-evaluate verdicts from their artifacts alone and compare digests"},
	{"sample-image", "Push a small reproducible sample image (to try the tool on an OCI layout)"},
	{"status", "List an image's verdicts: computed, stale or unknown"},
	{"verify", "Verify the Sigstore bundles attached to an image, offline"},
	{"verify-bundle", "Verify a standalone Sigstore bundle, offline"},
	{"vex", "Read VEX documents"},
}

// LightCommands are the commands of this package, which both binaries
// run in-process.
func LightCommands(s *Streams) []*cobra.Command {
	return []*cobra.Command{NewVersionCmd(s), NewAttachCmd(s), NewDiscoverCmd(s), NewPullCmd(s)}
}

// IsEngineCommand reports whether name is one of EngineCommands.
func IsEngineCommand(name string) bool {
	return slices.ContainsFunc(EngineCommands, func(c EngineCommand) bool { return c.Name == name })
}
