package cli

import (
	"fmt"
	"runtime"
	"runtime/debug"

	"github.com/spf13/cobra"
)

// ToolVersion is the CLI's version (user agent, `version`). It is not the
// engine's version (engine.Version), which is in every scan manifest and so
// in every cache key: a CLI-only release leaves cached verdicts valid. Set
// with -ldflags "-X github.com/stella-ops/stella-oras/internal/cli.ToolVersion=…".
var ToolVersion = "0.4.0-dev"

// EngineName and EngineVersion are engine.Name and engine.Version, which
// `version` prints: constants here because the engine package links the
// evaluation stack the front binary leaves out (#11 section 2). A test of
// cmd/stella-engine holds them equal.
const (
	EngineName    = "stella-oras"
	EngineVersion = "0.3.1"
)

// rootVersionSuffix follows the tool version in --version.
const rootVersionSuffix = " (engine " + EngineName + "/" + EngineVersion + ")"

// RootVersion is what --version prints after the command name.
func RootVersion() string { return ToolVersion + rootVersionSuffix }

// VersionInfo is `version --output json`.
type VersionInfo struct {
	Name     string `json:"name"`
	Version  string `json:"version"`
	Engine   string `json:"engine"`
	Go       string `json:"go"`
	Platform string `json:"platform"`
	Commit   string `json:"commit,omitempty"`
}

// NewVersionCmd is `version`.
func NewVersionCmd(s *Streams) *cobra.Command {
	var out OutputFlag
	cmd := &cobra.Command{
		Use:   "version",
		Short: "Print the tool, engine and Go versions",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := out.Validate(); err != nil {
				return err
			}
			v := VersionInfo{
				Name: EngineName, Version: ToolVersion,
				Engine:   EngineName + "/" + EngineVersion,
				Go:       runtime.Version(),
				Platform: runtime.GOOS + "/" + runtime.GOARCH,
			}
			if bi, ok := debug.ReadBuildInfo(); ok {
				for _, st := range bi.Settings {
					if st.Key == "vcs.revision" {
						v.Commit = st.Value
					}
				}
			}
			if out.JSON() {
				return WriteJSON(s.Out, v)
			}
			fmt.Fprintf(s.Out, "%s %s\nengine:   %s\ngo:       %s\nplatform: %s\n", v.Name, v.Version, v.Engine, v.Go, v.Platform)
			if v.Commit != "" {
				fmt.Fprintf(s.Out, "commit:   %s\n", v.Commit)
			}
			return nil
		},
	}
	out.Register(cmd)
	return cmd
}
