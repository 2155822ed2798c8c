// Package handoff decides which command lines the thin front
// (cmd/stella-oras) hands to the engine binary (cmd/stella-engine). It
// imports nothing, so that the front can decide, and exec the engine,
// before its other packages initialize (cmd/stella-oras/internal/early).
package handoff

// Command is a command of the engine binary that the front does not run
// itself.
type Command struct{ Name, Short string }

// commands are the engine's commands outside internal/cli, with their
// Short descriptions, for the front's --help and dispatch. The front
// cannot build them (that would link what they need), so they are listed
// here; TestFrontCommands in cmd/stella-engine holds this list equal to
// the engine's tree.
var commands = []Command{
	{"attest", "Sign an in-toto statement about an image and attach it as a Sigstore bundle"},
	{"canon", "Print the RFC 8785 canonical form of a JSON document"},
	{"delta", "Compare two verdicts and gate on what changed"},
	{"demo", "Run the main job end to end on OCI layouts, with nothing installed"},
	{"eval", "Judge an SBOM against a feed snapshot and write a canonical verdict"},
	{"evaluate", "Judge an image from its referrers and attach the signed verdict (the main job)"},
	{"export", "Write an image's audit bundle (verdicts, signatures, evidence) as a reproducible OCI layout tar"},
	{"feed", "Build vulnerability-feed snapshots and push them as OCI artifacts"},
	{"import", "Push an exported audit bundle (an OCI layout tar) into a registry repository or layout"},
	{"key", "Manage signing keys"},
	{"mirror", "Copy an image with its whole referrer graph to another registry, OCI layout or layout tar"},
	{"policy", "Compile, lint and explain policy bundles"},
	{"registry", "Run the embedded OCI registry"},
	{"replay", "Re-evaluate verdicts from their artifacts alone and compare digests"},
	{"sample-image", "Push a small reproducible sample image (to try the tool on an OCI layout)"},
	{"status", "List an image's verdicts: computed, stale or unknown"},
	{"verify", "Verify the Sigstore bundles attached to an image, offline"},
	{"verify-bundle", "Verify a standalone Sigstore bundle, offline"},
	{"vex", "Read VEX documents"},
}

// Commands returns the engine's commands (a copy), in name order.
func Commands() []Command { return append([]Command(nil), commands...) }

// IsCommand reports whether name is one of Commands.
func IsCommand(name string) bool {
	for _, c := range commands {
		if c.Name == name {
			return true
		}
	}
	return false
}

// Shell-completion requests, spelled as cobra spells them
// (cobra.ShellCompRequestCmd and cobra.ShellCompNoDescRequestCmd; a test
// in cmd/stella-oras holds them equal): this package does not link cobra.
const (
	completeRequest       = "__complete"
	completeNoDescRequest = "__completeNoDesc"
)

// EngineArgs reports whether the command line (without the program name)
// is the engine's: an engine command, or help or shell completion of one.
// The root takes no flags before the command but --help and --version,
// which the front answers.
func EngineArgs(args []string) bool {
	if len(args) == 0 {
		return false
	}
	switch args[0] {
	case "help", completeRequest, completeNoDescRequest:
		return len(args) > 1 && IsCommand(args[1])
	case "mirror":
		return mirrorNeedsEngine(args[1:])
	}
	return IsCommand(args[0])
}

// MirrorEngineFlags are the flags only the engine's mirror has: the gate
// and the signed receipt, which link the signing and verification stacks.
// A mirror without them runs in the front (no engine start: about 7 ms,
// a twentieth of a rerun with nothing new); with any of them, or asking
// for help (the whole command's), it is handed to the engine.
// TestMirrorEngineFlags in cmd/stella-engine holds this list equal to
// what the engine's mirror adds to the front's.
var MirrorEngineFlags = []string{"key", "receipt-key", "require-verified", "revocation-key", "revocations", "threshold"}

// mirrorNeedsEngine reports whether mirror's arguments use one of
// MirrorEngineFlags (--name or --name=value) or ask for help. Arguments
// after "--" are not flags.
func mirrorNeedsEngine(args []string) bool {
	for _, a := range args {
		if a == "--" {
			return false
		}
		if a == "-h" || a == "--help" {
			return true
		}
		if len(a) < 3 || a[0] != '-' || a[1] != '-' {
			continue
		}
		name := a[2:]
		for i := 0; i < len(name); i++ {
			if name[i] == '=' {
				name = name[:i]
				break
			}
		}
		for _, f := range MirrorEngineFlags {
			if name == f {
				return true
			}
		}
	}
	return false
}
