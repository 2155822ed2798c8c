package main

import (
	"fmt"
	"slices"
	"strings"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/spf13/cobra"

	"github.com/stella-ops/stella-oras/evaluator"
	"github.com/stella-ops/stella-oras/internal/cli"
	"github.com/stella-ops/stella-oras/internal/load"
	"github.com/stella-ops/stella-oras/registry"
)

// maxTrustedRootBytes bounds --trusted-root (the public-good instance's
// is about 10 KB).
const maxTrustedRootBytes = 16 << 20

func newExportCmd(s *cli.Streams) *cobra.Command {
	var (
		out         cli.OutputFlag
		tf          cli.TargetFlags
		o           evaluator.ExportOptions
		keys        []string
		trustedRoot string
	)
	cmd := &cobra.Command{
		Use:   "export IMAGE --density lite|standard|strict -o FILE.tar",
		Short: "Write an image's audit bundle (verdicts, signatures, evidence) as a reproducible OCI layout tar",
		Long: `Write the audit bundle of IMAGE (a registry reference, oci:DIR or
oci-archive:FILE.tar, by tag or digest) as an OCI image layout in a tar:

  lite      the image's manifests (index and platform manifests, not their
            layers), the verdict artifacts' manifests and every Sigstore
            bundle on them: enough to verify the signatures
  standard  lite, and the SBOM, VEX and reachability referrers with their
            bundles (the default)
  strict    standard, and every verdict's inputs (its layers: scan manifest,
            verdict, SBOM, VEX, reachability, feed index and record groups,
            policy IR) and the delta artifacts: enough to replay every
            verdict offline, from the archive alone

Beside index.json the archive holds index.md and index.html (the image,
each verdict, and the exact commands that verify and replay it),
coverage.json (what is carried, and what is left out and why), and the
keys given with --key (trust/keys/<key ID>.pub) and --trusted-root
(trust/trusted_root.json). The same content gives the same bytes: entries
in a fixed order, fixed times, owners and modes, no registry name. Blobs
stream from IMAGE's store into the tar, each checked against its digest;
the tar is written to a temporary file and renamed, so a failure leaves
nothing.

Exit status: 0 written, 1 could not run, 2 usage, 4 content that does not
match its digest.`,
		Example: `  stella-oras export registry.example/app:1.0 --density strict --key ci.pub -o app.tar
  stella-oras export --plain-http 127.0.0.1:5000/app@sha256:… --density lite -o app-lite.tar --output json
  stella-oras verify oci-archive:app.tar@sha256:… --key ci.pub   # then, offline
  stella-oras replay oci-archive:app.tar@sha256:…`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := out.Validate(); err != nil {
				return err
			}
			if !slices.Contains([]string{evaluator.DensityLite, evaluator.DensityStandard, evaluator.DensityStrict}, o.Density) {
				return cli.Usagef("--density must be lite, standard or strict, not %q", o.Density)
			}
			if o.Output == "" {
				return cli.Usagef("give the archive to write with -o FILE.tar")
			}
			if _, err := registry.ParseReference(args[0]); err != nil {
				return cli.UsageError{Err: err}
			}
			var err error
			if o.Keys, err = readPublicKeys(keys); err != nil {
				return err
			}
			if trustedRoot != "" {
				if o.TrustedRoot, err = load.File(trustedRoot, maxTrustedRootBytes); err != nil {
					return err
				}
			}
			if o.Registry, err = tf.Options(); err != nil {
				return err
			}
			o.OnDrop = func(parent, r ocispec.Descriptor, why string) {
				fmt.Fprintf(s.Err, "Warning: %s listed under %s was not exported: %s\n", r.Digest, parent.Digest, why)
			}
			rep, err := evaluator.Export(cmd.Context(), args[0], o)
			if err != nil {
				return err
			}
			if out.JSON() {
				return cli.WriteJSON(s.Out, rep)
			}
			renderExport(s, rep)
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&o.Density, "density", evaluator.DensityStandard, "what the archive carries: lite, standard or strict")
	fl.StringVarP(&o.Output, "out", "o", "", "the tar file to write (atomically)")
	fl.StringArrayVar(&keys, "key", nil, "PEM public key of the verdicts' signer, carried as trust/keys/<key ID>.pub (repeatable)")
	fl.StringVar(&trustedRoot, "trusted-root", "", "Sigstore trusted_root.json, carried as trust/trusted_root.json")
	fl.StringVar(&o.Name, "name", "", "the image's name in the report (default: its repository path and tag, without the registry host)")
	fl.StringVar(&o.Tag, "tag", "", "the tag naming the image in index.json (default: IMAGE's tag)")
	fl.BoolVar(&o.WithImage, "with-image", false, "also carry the image's configs and layers (no density does)")
	tf.Register(cmd)
	out.Register(cmd)
	return cmd
}

func renderExport(s *cli.Streams, rep *evaluator.ExportReport) {
	fmt.Fprintf(s.Out, "Exported %s (%s) to %s, density %s\n", orDash(rep.Image.Name), rep.Image.Digest, rep.Output, rep.Density)
	fmt.Fprintf(s.Out, "  archive:  %s, %d bytes\n", rep.SHA256, rep.Size)
	fmt.Fprintf(s.Out, "  carried:  %d manifests, %d blobs, %d bytes\n", rep.Manifests, rep.Blobs, rep.Bytes)
	for _, e := range rep.Included {
		fmt.Fprintf(s.Out, "    %s: %s\n", e.Category, counts(e))
	}
	if len(rep.Omitted) > 0 {
		fmt.Fprintln(s.Out, "  left out:")
		for _, e := range rep.Omitted {
			what := e.Category
			if len(e.ArtifactTypes) > 0 {
				what += " (" + strings.Join(e.ArtifactTypes, ", ") + ")"
			}
			fmt.Fprintf(s.Out, "    %s: %s; %s\n", what, counts(e), e.Reason)
		}
	}
	for _, v := range rep.Verdicts {
		platform := ""
		if v.Platform != "" {
			platform = " " + v.Platform
		}
		fmt.Fprintf(s.Out, "  verdict%s: %s, risk %d, %d findings, %s\n", platform, v.Status, v.RiskScore, v.Findings, v.Artifact)
	}
}

func counts(e evaluator.CoverageEntry) string {
	return fmt.Sprintf("%d manifests, %d blobs, %d bytes", e.Manifests, e.Blobs, e.Bytes)
}

func newImportCmd(s *cli.Streams) *cobra.Command {
	var (
		out cli.OutputFlag
		tf  cli.TargetFlags
		o   evaluator.ImportOptions
	)
	cmd := &cobra.Command{
		Use:   "import FILE.tar[:TAG|@DIGEST] DST",
		Short: "Push an exported audit bundle (an OCI layout tar) into a registry repository or layout",
		Long: `Push the content of an OCI layout tar (what export writes, or any layout
tar of one image) into DST, a registry repository, oci:DIR or
oci-archive:FILE.tar: the image with every referrer at every depth, as
mirror copies it (manifests as their bytes, every blob checked against its
digest). The image is the one FILE.tar:TAG or FILE.tar@DIGEST names, else
the one index.json tags, else the one manifest that is neither a referrer
nor listed by an index. DST's tag, when given, replaces the archive's.

Blobs the archive does not carry (the image's layers, and at lite and
standard the verdicts' inputs) are reported as missing, not an error. A
layout takes every manifest; a registry refuses a manifest whose blobs it
lacks, so those are reported as incomplete and not put (an incomplete
image is not tagged) unless the registry has the blobs already: importing
into the registry that holds the image completes it. Referrers are put
either way.

The archive is unpacked with bounds: no ../ or absolute paths, links,
devices or sparse entries, at most 200,000 entries and 64 GiB.

Exit status: 0 imported, 1 could not run (a bad archive), 2 usage, 4
content that does not match its digest.`,
		Example: `  stella-oras import app.tar registry.example/app
  stella-oras import app.tar@sha256:… --plain-http 127.0.0.1:5000/app:1.0
  stella-oras import app.tar oci:./evidence --output json`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := out.Validate(); err != nil {
				return err
			}
			dref, err := registry.ParseReference(args[1])
			if err != nil {
				return cli.UsageError{Err: err}
			}
			if dref.Digest != "" {
				return cli.Usagef("%s: DST is a repository (a tag at most, never a digest)", args[1])
			}
			if o.Destination, err = tf.Options(); err != nil {
				return err
			}
			o.OnDrop = func(parent, r ocispec.Descriptor, why string) {
				fmt.Fprintf(s.Err, "Warning: %s listed under %s was not copied: %s\n", r.Digest, parent.Digest, why)
			}
			rep, err := evaluator.Import(cmd.Context(), args[0], args[1], o)
			if err != nil {
				return err
			}
			for _, m := range rep.Incomplete {
				fmt.Fprintf(s.Err, "Warning: %s not put on %s: it names blobs the archive does not carry and the registry does not have\n", m.Digest, rep.Destination)
			}
			if out.JSON() {
				return cli.WriteJSON(s.Out, rep)
			}
			c := rep.MirrorCounts()
			fmt.Fprintf(s.Out, "Imported %s (%s) to %s\n", rep.Archive, rep.Root.Digest, rep.Destination)
			fmt.Fprintf(s.Out, "  manifests: %d (%d put, %d present, %d incomplete: not put), %d of them referrers\n",
				len(rep.Manifests), c["manifest copied"], c["manifest present"], c["manifest incomplete"], rep.Referrers)
			fmt.Fprintf(s.Out, "  blobs:     %d (%d copied, %d present, %d missing: not in the archive)\n", len(rep.Blobs), c["blob copied"], c["blob present"], c["blob missing"])
			fmt.Fprintf(s.Out, "  bytes:     %d sent, %d already there\n", rep.BytesCopied, rep.BytesPresent)
			switch {
			case rep.Tag != "":
				fmt.Fprintf(s.Out, "  tag:       %s\n", rep.Tag)
			case len(rep.Incomplete) > 0 && slices.ContainsFunc(rep.Incomplete, func(d ocispec.Descriptor) bool { return d.Digest == rep.Root.Digest }):
				fmt.Fprintln(s.Out, "  tag:       none (the image is incomplete at the destination)")
			}
			return nil
		},
	}
	cmd.Flags().IntVar(&o.Jobs, "concurrency", 4, "blobs copied at once")
	tf.Register(cmd)
	out.Register(cmd)
	return cmd
}
