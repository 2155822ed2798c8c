package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/stella-ops/stella-oras/internal/cli"
	"github.com/stella-ops/stella-oras/internal/sibling"
)

// registryBinary is the embedded registry's own command (cmd/stella-registry):
// stella-oras does not link distribution (see that command's doc).
const registryBinary = "stella-registry"

func newRegistryCmd(s *cli.Streams) *cobra.Command {
	cmd := &cobra.Command{Use: "registry", Short: "Run the embedded OCI registry"}
	cmd.AddCommand(newServeCmd(s))
	return cmd
}

func newServeCmd(s *cli.Streams) *cobra.Command {
	return &cobra.Command{
		Use:   "serve [--addr 127.0.0.1:5000] [--root DIR] [--plain] [--debug] [--output json]",
		Short: "Serve CNCF distribution v3 with the OCI 1.1 referrers API",
		Long: `Serve a real OCI registry: CNCF distribution v3 (filesystem storage) with this
project's referrers layer in front (GET /v2/<name>/referrers/<digest> with
artifactType filtering, OCI-Subject on pushes with a subject, an index that
survives restarts). No authentication: bind it to loopback or put it behind a
proxy. --plain turns the referrers layer off (plain distribution).

This runs the stella-registry binary (installed beside stella-oras by
'go install ./cmd/...'), found next to this executable or on PATH, with the
same flags: --addr (default 127.0.0.1:5000; port 0 picks a free one),
--root (default ./stella-registry), --plain, --debug, --upload-ttl (purge
uploads abandoned for longer, default 24h), --body-idle-timeout (cut off a
request body that stalls, default 30s), --output json (the address and
storage as one JSON line on stdout).

Repository names follow the distribution spec (lowercase components, at
most 255 characters); others get NAME_INVALID. Referrers pages are cut at
1 MiB as well as by count, and a referrer's annotations are copied into
its descriptor up to 64 KiB (the rest is left out and the descriptor is
annotated org.stellaops.referrers.annotations-truncated=true).`,
		Example: `  stella-oras registry serve --root ./registry-data
  stella-oras attach --plain-http 127.0.0.1:5000/app@sha256:… sbom.cdx.json`,
		DisableFlagParsing: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			for _, a := range args {
				if a == "-h" || a == "--help" {
					return cmd.Help()
				}
			}
			bin, err := findRegistryBinary()
			if err != nil {
				return err
			}
			return execRegistry(cmd, s, bin, args)
		},
	}
}

// findRegistryBinary looks next to this executable, then on PATH.
func findRegistryBinary() (string, error) {
	p, err := sibling.Find(registryBinary)
	if err != nil {
		return "", fmt.Errorf("registry serve: %w", err)
	}
	return p, nil
}

func registryArgs(bin string, args []string) []string {
	return append([]string{bin}, args...)
}
