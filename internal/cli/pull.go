package cli

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/stella-ops/stella-oras/registry"
)

// NewPullCmd is `pull`.
func NewPullCmd(s *Streams) *cobra.Command {
	var (
		out     OutputFlag
		tf      TargetFlags
		dir     string
		maxBlob int64
		force   bool
	)
	cmd := &cobra.Command{
		Use:   "pull REF@sha256:… -o DIR",
		Short: "Fetch an artifact by digest and write its files, every digest checked",
		Long: `Fetch an artifact by digest and write its layers into DIR (named by their
org.opencontainers.image.title, else by digest), every digest and size checked.
Nothing is written until all of it verified; a file already in DIR is not
replaced without --force, and a failed pull leaves DIR as it was (a DIR it
would have created is not created).`,
		Example: `  stella-oras pull --plain-http localhost:5000/app@sha256:… -o ./evidence
  stella-oras pull oci:./layout@sha256:… -o out --max-blob-bytes 104857600`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := out.Validate(); err != nil {
				return err
			}
			if dir == "" {
				return Usagef("-o DIR is required")
			}
			ctx := cmd.Context()
			t, err := tf.OpenRead(ctx, args[0])
			if err != nil {
				return err
			}
			defer t.Close()
			if t.Ref.Digest == "" {
				return Usagef("%s: pull needs a digest (@sha256:…)", args[0])
			}
			p, err := registry.Pull(ctx, t, t.Ref.Digest, dir, registry.PullOptions{MaxBlobBytes: maxBlob, Force: force})
			if err != nil {
				return err
			}
			if out.JSON() {
				return WriteJSON(s.Out, p)
			}
			fmt.Fprintf(s.Out, "Pulled %s\n", RefWithDigest(t.Ref, p.Manifest.Digest.String()))
			for _, f := range p.Files {
				fmt.Fprintf(s.Out, "  %s  %s (%d bytes)\n", f.Descriptor.Digest, f.Path, f.Descriptor.Size)
			}
			return nil
		},
	}
	cmd.Flags().StringVarP(&dir, "out", "o", "", "directory to write the files into")
	cmd.Flags().BoolVarP(&force, "force", "f", false, "replace files that already exist in DIR (without it the pull fails before writing)")
	cmd.Flags().Int64Var(&maxBlob, "max-blob-bytes", registry.DefaultMaxBlobBytes, "refuse blobs larger than this")
	tf.Register(cmd)
	out.Register(cmd)
	return cmd
}
