package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/stella-ops/stella-oras/registry"
)

func newSampleImageCmd(s *streams) *cobra.Command {
	var (
		out  outputFlag
		tf   targetFlags
		text string
	)
	cmd := &cobra.Command{
		Use:   "sample-image REF",
		Short: "Push a small reproducible sample image (to try the tool on an OCI layout)",
		Example: `  stella-oras sample-image oci:./layout:demo
  stella-oras sample-image --plain-http 127.0.0.1:5000/app:1.0 --text "build 42"`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := out.validate(); err != nil {
				return err
			}
			t, err := tf.open(cmd.Context(), args[0])
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
			if out.json() {
				return writeJSON(s.out, map[string]any{"reference": r.String(), "manifest": d})
			}
			fmt.Fprintf(s.out, "Pushed sample image %s\n", r.String())
			return nil
		},
	}
	cmd.Flags().StringVar(&text, "text", "hello from stella-oras", "content of the image's one file (changes the digest)")
	tf.register(cmd)
	out.register(cmd)
	return cmd
}
