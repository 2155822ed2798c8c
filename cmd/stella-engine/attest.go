package main

import (
	"fmt"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/spf13/cobra"

	"github.com/stella-ops/stella-oras/artifacts"
	"github.com/stella-ops/stella-oras/bundle"
	"github.com/stella-ops/stella-oras/internal/atomicfile"
	"github.com/stella-ops/stella-oras/internal/cli"
	"github.com/stella-ops/stella-oras/internal/load"
	"github.com/stella-ops/stella-oras/registry"
)

type attestResult struct {
	Subject       ocispec.Descriptor `json:"subject"`
	Bundle        ocispec.Descriptor `json:"bundleManifest"`
	PredicateType string             `json:"predicateType"`
	KeyID         string             `json:"keyId"`
	BundleFile    string             `json:"bundleFile,omitempty"`
}

func newAttestCmd(s *cli.Streams) *cobra.Command {
	var (
		out       cli.OutputFlag
		tf        cli.TargetFlags
		predicate string
		predType  string
		keyFile   string
		bundleOut string
		signOpts  bundle.SignOptions
		resolve   bool
	)
	cmd := &cobra.Command{
		Use:   "attest IMAGE@sha256:… --predicate FILE --type URI --key KEY",
		Short: "Sign an in-toto statement about an image and attach it as a Sigstore bundle",
		Long: `Build an in-toto Statement v1 (subject: the image name and digest; predicate: the
canonical JSON of FILE), sign it into a DSSE envelope inside a Sigstore bundle
v0.3, and push the bundle as a referrer of the image the way cosign v3 stores
bundles (artifactType and layer application/vnd.dev.sigstore.bundle.v0.3+json,
empty config, dev.sigstore.bundle.* annotations, no creation time). Offline
unless --tsa-url asks for an RFC 3161 timestamp or --rekor-url for a
transparency-log entry.`,
		Example: `  STELLA_KEY_PASSWORD= stella-oras attest --plain-http 127.0.0.1:5000/app@sha256:… \
    --predicate verdict.json --type https://stella-ops.org/attestation/verdict/v1 --key release.key
  stella-oras attest --resolve registry.example.com/app:1.0 --predicate p.json --type URI --key release.key`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := out.Validate(); err != nil {
				return err
			}
			if predicate == "" || predType == "" || keyFile == "" {
				return cli.Usagef("--predicate, --type and --key are required")
			}
			if err := signOpts.Check(); err != nil {
				return cli.UsageError{Err: err}
			}
			ctx := cmd.Context()
			kp, priv, err := loadKeypair(s, keyFile)
			if err != nil {
				return err
			}
			pred, err := load.File(predicate, bundle.MaxPredicateBytes)
			if err != nil {
				return err
			}
			t, err := tf.Open(ctx, args[0])
			if err != nil {
				return err
			}
			defer t.Discard()
			subj, err := cli.SubjectDescriptor(ctx, t, resolve)
			if err != nil {
				return err
			}
			if subj.Resolved {
				fmt.Fprintf(s.Err, "resolved %s to %s\n", t.Ref, subj.Digest)
			}
			ref := t.Ref
			ref.Tag, ref.Digest = "", ""
			st, err := bundle.NewStatement(ref.String(), subj.Digest.String(), predType, pred)
			if err != nil {
				return fmt.Errorf("%s: %w", predicate, err)
			}
			b, err := bundle.SignStatement(ctx, st, kp, signOpts)
			if err != nil {
				return err
			}
			if bundleOut != "" {
				if err := atomicfile.Write(bundleOut, b, 0o644); err != nil {
					return err
				}
			}
			m, err := registry.Attach(ctx, t, subj.Descriptor, b, registry.AttachOptions{
				ArtifactType: artifacts.MediaTypeSigstoreBundle, MediaType: artifacts.MediaTypeSigstoreBundle,
				Annotations: map[string]string{
					artifacts.AnnotationBundleContent:       "dsse-envelope",
					artifacts.AnnotationBundlePredicateType: predType,
				},
			})
			if err != nil {
				return err
			}
			if err := t.Close(); err != nil {
				return err
			}
			id, _ := bundle.KeyID(priv.Public())
			r := attestResult{Subject: subj.Descriptor, Bundle: m, PredicateType: predType, KeyID: id, BundleFile: bundleOut}
			if out.JSON() {
				return cli.WriteJSON(s.Out, r)
			}
			fmt.Fprintf(s.Out, "Attested %s to %s\n  signer:  %s\n  bundle:  %s\n", predType, subj.Digest, id, cli.RefWithDigest(t.Ref, m.Digest.String()))
			return nil
		},
	}
	cmd.Flags().StringVar(&predicate, "predicate", "", "predicate JSON file")
	cmd.Flags().StringVar(&predType, "type", "", "predicate type URI")
	cmd.Flags().StringVar(&keyFile, "key", "", "private key (this tool's, cosign's, or unencrypted PKCS#8/SEC1 PEM)")
	cmd.Flags().BoolVar(&resolve, "resolve", false, "accept a tag and sign what it resolves to (the digest is printed on stderr)")
	cmd.Flags().StringVar(&bundleOut, "bundle-out", "", "also write the bundle JSON here")
	cmd.Flags().StringVar(&signOpts.RekorURL, "rekor-url", "", "record the signature in this Rekor v2 (rekor-tiles) log; off by default (air-gapped first)")
	cmd.Flags().StringVar(&signOpts.TSAURL, "tsa-url", "", "add an RFC 3161 signed timestamp from this time-stamping authority (e.g. https://timestamp.sigstore.dev/api/v1/timestamp)")
	tf.Register(cmd)
	out.Register(cmd)
	return cmd
}
