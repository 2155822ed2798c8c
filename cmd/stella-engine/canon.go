package main

import (
	"fmt"

	"github.com/spf13/cobra"
	"github.com/stella-ops/stella-oras/canon"
	"github.com/stella-ops/stella-oras/internal/cli"
	"github.com/stella-ops/stella-oras/internal/load"
)

// maxCanonBytes bounds what `canon` reads: the whole input is held in
// memory twice (input and output).
const maxCanonBytes = 1 << 30

func newCanonCmd(s *cli.Streams) *cobra.Command {
	var (
		out    cli.OutputFlag
		nfc    bool
		digest bool
	)
	cmd := &cobra.Command{
		Use:   "canon FILE|-",
		Short: "Print the RFC 8785 canonical form of a JSON document",
		Long: `Print the RFC 8785 (JCS) canonical form of a JSON document, or its content
ID with --digest. I-JSON violations (duplicate keys, invalid UTF-8, lone
surrogates, numbers outside IEEE-754 double range) are refused with the byte
offset. --nfc also normalizes every string to Unicode NFC.`,
		Example: `  stella-oras canon sbom.json > sbom.canon.json
  cat doc.json | stella-oras canon --digest -`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := out.Validate(); err != nil {
				return err
			}
			data, err := load.FileOrStdin(args[0], maxCanonBytes, s.In)
			if err != nil {
				return err
			}
			c, err := canon.Canonicalize(data, canon.Options{NFC: nfc})
			if err != nil {
				name := args[0]
				if name == "-" {
					name = "<stdin>"
				}
				return fmt.Errorf("%s: %w", name, err)
			}
			id := canon.ContentID(c)
			switch {
			case out.JSON():
				return cli.WriteJSON(s.Out, map[string]any{"digest": id, "size": len(c), "nfc": nfc})
			case digest:
				_, err = fmt.Fprintln(s.Out, id)
			default:
				_, err = s.Out.Write(c)
			}
			return err
		},
	}
	cmd.Flags().BoolVar(&nfc, "nfc", false, "normalize all strings to Unicode NFC")
	cmd.Flags().BoolVar(&digest, "digest", false, "print the content ID (sha256:…) instead of the document")
	out.Register(cmd)
	return cmd
}
