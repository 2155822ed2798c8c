package cli

import (
	"fmt"
	"io"
	"strings"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/spf13/cobra"
	"golang.org/x/sync/errgroup"

	"github.com/stella-ops/stella-oras/registry"
)

// NewDiscoverCmd is `discover`.
func NewDiscoverCmd(s *Streams) *cobra.Command {
	var (
		out          OutputFlag
		tf           TargetFlags
		artifactType string
		depth        int
	)
	cmd := &cobra.Command{
		Use:   "discover IMAGE",
		Short: "Show the referrer graph of an image, recursively",
		Long: `List the artifacts that refer to IMAGE, and the artifacts that refer to those,
as a tree (or --output json). Uses the OCI referrers API, or the referrers tag
schema on registries without it.`,
		Example: `  stella-oras discover --plain-http localhost:5000/app@sha256:…
  stella-oras discover oci:./layout:v1 --artifact-type application/vnd.cyclonedx+json --output json`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := out.Validate(); err != nil {
				return err
			}
			if depth < 0 {
				return Usagef("--depth must be ≥ 0")
			}
			ctx := cmd.Context()
			t, err := tf.OpenRead(ctx, args[0])
			if err != nil {
				return err
			}
			defer t.Close()
			if t.Ref.Ref() == "" {
				return Usagef("%s: give a tag or digest", args[0])
			}
			opts := registry.DiscoverOptions{ArtifactType: artifactType, Depth: depth,
				OnDrop: func(parent, r ocispec.Descriptor, why string) {
					fmt.Fprintf(s.Err, "warning: dropped %s listed as a referrer of %s: %s\n", r.Digest, parent.Digest, why)
				}}
			var (
				subj ocispec.Descriptor
				tree *registry.Node
			)
			if d := t.Ref.Digest; d != "" && t.Remote != nil {
				// By digest on a registry, the listing needs only the
				// digest: it runs while the subject is resolved (one round
				// trip fewer). OCI layouts need the whole descriptor.
				g, gctx := errgroup.WithContext(ctx)
				g.Go(func() (err error) { subj, err = t.Resolve(gctx, d.String()); return err })
				g.Go(func() (err error) {
					tree, err = registry.Discover(gctx, t, ocispec.Descriptor{Digest: d}, opts)
					return err
				})
				if err := g.Wait(); err != nil {
					return err
				}
				tree.Descriptor = subj
			} else {
				if subj, err = t.Resolve(ctx, t.Ref.Ref()); err != nil {
					return err
				}
				if tree, err = registry.Discover(ctx, t, subj, opts); err != nil {
					return err
				}
			}
			if out.JSON() {
				return WriteJSON(s.Out, tree)
			}
			fmt.Fprintf(s.Out, "%s\n", RefWithDigest(t.Ref, subj.Digest.String()))
			printTree(s.Out, tree.Referrers, "")
			return nil
		},
	}
	cmd.Flags().StringVar(&artifactType, "artifact-type", "", "only referrers of this artifact type")
	cmd.Flags().IntVar(&depth, "depth", 0, "levels to follow (0 = all)")
	tf.Register(cmd)
	out.Register(cmd)
	return cmd
}

func printTree(w io.Writer, nodes []*registry.Node, indent string) {
	for i, n := range nodes {
		branch, next := "├── ", "│   "
		if i == len(nodes)-1 {
			branch, next = "└── ", "    "
		}
		at := n.ArtifactType
		if at == "" {
			at = n.MediaType
		}
		fmt.Fprintf(w, "%s%s%s %s\n", indent, branch, at, n.Digest)
		keys := make([]string, 0, len(n.Annotations))
		for k, v := range n.Annotations {
			keys = append(keys, k+"="+v)
		}
		if len(keys) > 0 {
			fmt.Fprintf(w, "%s%s  %s\n", indent, next, strings.Join(Sorted(keys), ", "))
		}
		printTree(w, n.Referrers, indent+next)
	}
}
