package main

import (
	"fmt"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/spf13/cobra"

	"github.com/stella-ops/stella-oras/internal/cli"
	"github.com/stella-ops/stella-oras/registry"
)

func newMirrorCmd(s *cli.Streams) *cobra.Command {
	var (
		out cli.OutputFlag
		tf  cli.TargetFlags
		o   registry.MirrorOptions
	)
	cmd := &cobra.Command{
		Use:   "mirror SRC DST",
		Short: "Copy an image with its whole referrer graph to another registry, OCI layout or layout tar",
		Long: `Copy an image (an index with all its platform manifests, or one
manifest), every referrer at every depth (SBOMs, VEX, verdicts, deltas and
their bundles) and every blob they name from SRC to DST. Each side is a
registry reference, oci:DIR or oci-archive:FILE.tar; SRC names the image
by tag or digest, DST a repository (its tag, when given, replaces SRC's).

Manifests are copied as their exact bytes (digests that signatures and
verdicts name survive) and every byte is checked against its digest while
it streams. A rerun resumes: blobs already at DST are not sent again,
manifests are put again (children first, referrers after their subjects,
the tag last), so referrers attached since the last run arrive. On a
registry without the referrers API the referrers tag of each subject is
written, safe with concurrent writers.`,
		Example: `  stella-oras mirror registry.example/app:1.0 oci-archive:./app.tar
  stella-oras mirror --plain-http 127.0.0.1:5000/app@sha256:… 127.0.0.1:5001/app
  stella-oras mirror --dry-run --output json registry.example/app:1.0 airgap.example/app`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := out.Validate(); err != nil {
				return err
			}
			ctx := cmd.Context()
			src, err := tf.OpenRead(ctx, args[0])
			if err != nil {
				return err
			}
			defer src.Discard()
			if src.Ref.Ref() == "" {
				return cli.UsageError{Err: fmt.Errorf("%s: name the image by tag or digest", args[0])}
			}
			dst, err := tf.Open(ctx, args[1])
			if err != nil {
				return err
			}
			defer dst.Discard()
			if dst.Ref.Digest != "" {
				return cli.UsageError{Err: fmt.Errorf("%s: the destination is a repository (a tag may be given, not a digest)", args[1])}
			}
			o.Tag = dst.Ref.Tag
			o.OnDrop = func(parent, r ocispec.Descriptor, why string) {
				fmt.Fprintf(s.Err, "Warning: %s listed under %s was not copied: %s\n", r.Digest, parent.Digest, why)
			}
			rep, err := registry.Mirror(ctx, src, dst, src.Ref.Ref(), o)
			if err != nil {
				return err
			}
			if !o.DryRun {
				if err := dst.Close(); err != nil {
					return err
				}
			}
			if out.JSON() {
				return cli.WriteJSON(s.Out, rep)
			}
			verb := "Mirrored"
			if o.DryRun {
				verb = "Would mirror"
			}
			c := rep.MirrorCounts()
			fmt.Fprintf(s.Out, "%s %s to %s\n", verb, rep.Root.Digest, dst.Ref)
			fmt.Fprintf(s.Out, "  manifests: %d (%d new, %d put again, %d present, %d planned), %d of them referrers\n",
				len(rep.Manifests), c["manifest copied"], c["manifest put"], c["manifest present"], c["manifest planned"], rep.Referrers)
			fmt.Fprintf(s.Out, "  blobs:     %d (%d copied, %d present, %d planned)\n", len(rep.Blobs), c["blob copied"], c["blob present"], c["blob planned"])
			fmt.Fprintf(s.Out, "  bytes:     %d sent, %d already there\n", rep.BytesCopied, rep.BytesPresent)
			if rep.Tag != "" {
				fmt.Fprintf(s.Out, "  tag:       %s\n", rep.Tag)
			}
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&o.ArtifactType, "artifact-type", "", "copy only referrers of this artifact type (the image is always copied)")
	fl.IntVar(&o.Jobs, "jobs", 4, "blobs copied at once")
	fl.BoolVar(&o.DryRun, "dry-run", false, "print the plan (what would be copied, what is there) and write nothing")
	tf.Register(cmd)
	out.Register(cmd)
	return cmd
}
