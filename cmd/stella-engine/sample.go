package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/stella-ops/stella-oras/internal/cli"
	"github.com/stella-ops/stella-oras/registry"
)

func newSampleImageCmd(s *cli.Streams) *cobra.Command {
	var (
		out  cli.OutputFlag
		tf   cli.TargetFlags
		text string
	)
	cmd := &cobra.Command{
		Use:   "sample-image REF",
		Short: "Push a small reproducible sample image (to try the tool on an OCI layout)",
		Example: `  stella-oras sample-image oci:./layout:demo
  stella-oras sample-image --plain-http 127.0.0.1:5000/app:1.0 --text "build 42"`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := out.Validate(); err != nil {
				return err
			}
			t, err := tf.Open(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			defer t.Discard()
			d, err := registry.PushSampleImage(cmd.Context(), t, text)
			if err != nil {
				return err
			}
			if err := t.Close(); err != nil {
				return err
			}
			r := t.Ref
			r.Tag, r.Digest = "", d.Digest
			if out.JSON() {
				return cli.WriteJSON(s.Out, map[string]any{"reference": r.String(), "manifest": d})
			}
			fmt.Fprintf(s.Out, "Pushed sample image %s\n", r.String())
			return nil
		},
	}
	cmd.Flags().StringVar(&text, "text", "hello from stella-oras", "content of the image's one file (changes the digest)")
	tf.Register(cmd)
	out.Register(cmd)
	return cmd
}
