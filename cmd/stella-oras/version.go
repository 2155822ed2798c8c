package main

import (
	"fmt"
	"runtime"
	"runtime/debug"

	"github.com/spf13/cobra"
	"github.com/stella-ops/stella-oras/engine"
)

// toolVersion is the CLI's version (user agent, `version`). It is not the
// engine's version (engine.Version), which is in every scan manifest and so
// in every cache key: a CLI-only release leaves cached verdicts valid. Set
// with -ldflags "-X main.toolVersion=…".
var toolVersion = "0.4.0-dev"

type versionInfo struct {
	Name     string `json:"name"`
	Version  string `json:"version"`
	Engine   string `json:"engine"`
	Go       string `json:"go"`
	Platform string `json:"platform"`
	Commit   string `json:"commit,omitempty"`
}

func newVersionCmd(s *streams) *cobra.Command {
	var out outputFlag
	cmd := &cobra.Command{
		Use:   "version",
		Short: "Print the tool, engine and Go versions",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := out.validate(); err != nil {
				return err
			}
			v := versionInfo{
				Name: engine.Name, Version: toolVersion,
				Engine:   engine.Name + "/" + engine.Version,
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
			if out.json() {
				return writeJSON(s.out, v)
			}
			fmt.Fprintf(s.out, "%s %s\nengine:   %s\ngo:       %s\nplatform: %s\n", v.Name, v.Version, v.Engine, v.Go, v.Platform)
			if v.Commit != "" {
				fmt.Fprintf(s.out, "commit:   %s\n", v.Commit)
			}
			return nil
		},
	}
	out.register(cmd)
	return cmd
}
