package main

import (
	"fmt"
	"os"
	"text/tabwriter"

	"github.com/stella-ops/stella-oras/evaluator"
	"github.com/stella-ops/stella-oras/internal/cli"
	"github.com/stella-ops/stella-oras/internal/load"

	"github.com/spf13/cobra"

	"github.com/stella-ops/stella-oras/artifacts"
	"github.com/stella-ops/stella-oras/bundle"
	"github.com/stella-ops/stella-oras/registry"
	"github.com/stella-ops/stella-oras/verify"
)

func newVerifyCmd(s *cli.Streams) *cobra.Command {
	var (
		out           cli.OutputFlag
		tf            cli.TargetFlags
		keys          []string
		threshold     int
		predType      string
		rev           revocationFlags
		cert          verify.BundleOptions
		requireStatus string
		resolve       bool
	)
	cmd := &cobra.Command{
		Use:   "verify IMAGE@sha256:… (--key PUB… | --trusted-root R --certificate-identity[-regexp] I --certificate-oidc-issuer U) [--threshold N] [--type URI]",
		Short: "Verify the Sigstore bundles attached to an image, offline",
		Long: `Find the Sigstore bundle referrers of the image (referrers API, tag-schema
fallback or OCI layout), verify each with sigstore-go against the listed keys,
and require that one statement naming this image digest (and, with --type, of
that predicate type) is signed by at least --threshold distinct listed keys.
Exit status: 0 the policy holds, 4 it does not (or, with --require-status, no
verified verdict), 3 the verified verdict's status is not the one required by
--require-status, 1 cannot run, 2 usage.`,
		Example: `  stella-oras verify --plain-http 127.0.0.1:5000/app@sha256:… --key release.pub --type https://stella-ops.org/attestation/verdict/v1
  stella-oras verify oci:./layout@sha256:… --key a.pub --key b.pub --key c.pub --threshold 2 --output json`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := out.Validate(); err != nil {
				return err
			}
			certMode := cert.Identity != "" || cert.IdentityRegexp != ""
			switch {
			case len(keys) == 0 && !certMode:
				return cli.Usagef("give --key, or --trusted-root with --certificate-identity[-regexp] and --certificate-oidc-issuer")
			case certMode && (cert.TrustedRoot == "" || cert.Issuer == ""):
				return cli.Usagef("a certificate identity needs --trusted-root and --certificate-oidc-issuer")
			case threshold < 1 || (!certMode && threshold > len(keys)):
				return cli.Usagef("--threshold must be between 1 and the number of keys (%d)", len(keys))
			}
			if err := rev.validate(len(keys)); err != nil {
				return err
			}
			if !certMode {
				cert.TrustedRoot = ""
			}
			ctx := cmd.Context()
			p := verify.ImagePolicy{Threshold: threshold, PredicateType: predType, Certificate: cert}
			var err error
			distinct := map[string]bool{}
			for _, k := range keys {
				b, pub, err := readPublicKey(k)
				if err != nil {
					return err
				}
				id, err := bundle.KeyID(pub)
				if err != nil {
					return fmt.Errorf("%s: %w", k, err)
				}
				distinct[id] = true
				p.Keys = append(p.Keys, b)
			}
			if !certMode && threshold > len(distinct) {
				// Two files of one key count once (a threshold of
				// distinct signers): a usage error, like a threshold
				// above the number of --key flags.
				return cli.Usagef("--threshold %d: the %d --key files hold %d distinct keys", threshold, len(keys), len(distinct))
			}
			if p.Revoked, err = rev.load(cmd, s, &tf, p.Keys); err != nil {
				return err
			}
			if requireStatus != "" && requireStatus != artifacts.StatusPass && requireStatus != artifacts.StatusWarn {
				return cli.Usagef("--require-status must be pass or warn, not %q", requireStatus)
			}
			t, err := tf.OpenRead(ctx, args[0])
			if err != nil {
				return err
			}
			defer t.Close()
			subj, err := cli.SubjectByDigest(ctx, t, resolve)
			if err != nil {
				return err
			}
			if subj.Resolved {
				fmt.Fprintf(s.Err, "resolved %s to %s\n", t.Ref, subj.Digest)
			}
			p.ImageDigest = subj.Digest.String()
			rep, err := evaluator.VerifyImage(ctx, t, subj.Descriptor, evaluator.VerifyImageOptions{
				Trust:         evaluator.Trust{Keys: p.Keys, Threshold: p.Threshold, Revoked: p.Revoked, Certificate: p.Certificate},
				PredicateType: p.PredicateType,
			})
			if err != nil {
				return err
			}
			rep.Image = cli.RefWithDigest(t.Ref, subj.Digest.String())
			if out.JSON() {
				if err := cli.WriteJSON(s.Out, rep); err != nil {
					return err
				}
			} else {
				tw := tabwriter.NewWriter(s.Out, 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "BUNDLE\tSIGNER\tPREDICATE TYPE\tRESULT")
				for _, b := range rep.Bundles {
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", b.Bundle, orDash(b.Signer), orDash(b.PredicateType), b.Reason)
				}
				tw.Flush()
				status := "FAILED"
				if rep.Satisfied {
					status = "OK"
				}
				fmt.Fprintf(s.Out, "Verification %s: %s\n", status, rep.Reason)
			}
			if !rep.Satisfied {
				return fmt.Errorf("%w: %s: %s", errVerify, rep.Image, rep.Reason)
			}
			if requireStatus == "" {
				return nil
			}
			ropts, err := tf.Options()
			if err != nil {
				return err
			}
			st, err := evaluator.Status(ctx, cli.RefWithDigest(t.Ref, subj.Digest.String()), evaluator.StatusOptions{
				Trust: evaluator.Trust{Keys: p.Keys, Revoked: p.Revoked}, Registry: ropts,
			})
			if err != nil {
				return err
			}
			for _, v := range st {
				if v.State != evaluator.StateComputed {
					continue
				}
				if !out.JSON() {
					fmt.Fprintf(s.Out, "Verified verdict %s: %s\n", v.Verdict, v.Status)
				}
				if v.Status == artifacts.StatusFail || (requireStatus == artifacts.StatusPass && v.Status != artifacts.StatusPass) {
					// A gate failure is not printed as an error (the
					// verdict is the result): said here, on stderr, as eval
					// and evaluate say theirs.
					fmt.Fprintf(s.Err, "gate failed: the verified verdict %s is %s, --require-status %s\n", v.Verdict, v.Status, requireStatus)
					return fmt.Errorf("%w: the verified verdict %s is %s, %s required", errGate, v.Verdict, v.Status, requireStatus)
				}
				return nil
			}
			return fmt.Errorf("%w: %s: no current verdict verifies under the given keys", errVerify, rep.Image)
		},
	}
	cmd.Flags().StringArrayVar(&keys, "key", nil, "trusted PEM public key (repeatable)")
	cmd.Flags().IntVar(&threshold, "threshold", 1, "distinct listed keys that must have signed the same statement")
	cmd.Flags().StringVar(&predType, "type", "", "required predicate type URI")
	cmd.Flags().StringVar(&cert.TrustedRoot, "trusted-root", "", "Sigstore trusted_root.json for certificate-signed bundles")
	cmd.Flags().StringVar(&cert.Identity, "certificate-identity", "", "expected certificate SAN")
	cmd.Flags().StringVar(&cert.IdentityRegexp, "certificate-identity-regexp", "", "expected certificate SAN, as a regular expression")
	cmd.Flags().StringVar(&cert.Issuer, "certificate-oidc-issuer", "", "expected OIDC issuer of the certificate")
	cmd.Flags().StringVar(&requireStatus, "require-status", "", "also require the newest verified verdict's status: pass, or warn (pass or warn); exit 3 otherwise")
	cmd.Flags().BoolVar(&resolve, "resolve", false, "accept a tag and verify what it resolves to now (the digest is printed on stderr; the bundles must name that digest)")
	rev.register(cmd)
	tf.Register(cmd)
	out.Register(cmd)
	return cmd
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// revocationFlags are --revocations and --revocation-key (verify, status).
type revocationFlags struct {
	list string
	keys []string
}

func (f *revocationFlags) register(cmd *cobra.Command) {
	cmd.Flags().StringVar(&f.list, "revocations", "", "revocation list: a bundle FILE or an artifact REF@sha256:… holding one, signed by a --revocation-key")
	cmd.Flags().StringArrayVar(&f.keys, "revocation-key", nil, "PEM public key trusted to sign the --revocations list, and for nothing else (repeatable)")
}

// validate checks the flag combination.
func (f *revocationFlags) validate(attestKeys int) error {
	switch {
	case len(f.keys) > 0 && f.list == "":
		return cli.Usagef("--revocation-key needs --revocations")
	case f.list != "" && len(f.keys) == 0 && attestKeys == 0:
		return cli.Usagef("--revocations needs --revocation-key, the public key that signed the list")
	}
	return nil
}

// load reads and verifies the --revocations list (the revocation-list
// format lives in package verify). The list must be signed by a
// --revocation-key; those keys are trusted for the list alone, never as
// signers of attestations. Without --revocation-key the list is checked
// against the attestation keys, as before --revocation-key existed: that grants no key any
// trust it did not have (they are --key already, and a list can only take
// signers away), but it is a note, since it was what made users list a
// revocation admin's key as a --key.
func (f *revocationFlags) load(cmd *cobra.Command, s *cli.Streams, tf *cli.TargetFlags, attestKeys [][]byte) (map[string]bool, error) {
	if f.list == "" {
		return nil, nil
	}
	keys := attestKeys
	if len(f.keys) > 0 {
		var err error
		if keys, err = readPublicKeys(f.keys); err != nil {
			return nil, err
		}
	} else {
		fmt.Fprintln(s.Err, "note: the revocation list is checked against the --key keys; give its signer with --revocation-key, which is not trusted for attestations")
	}
	data, err := readRevocations(cmd, tf, f.list)
	if err != nil {
		return nil, err
	}
	return verify.LoadRevocations(f.list, data, keys)
}

// readRevocations reads a revocation-list bundle from a file, or from an
// artifact in a registry or layout.
func readRevocations(cmd *cobra.Command, tf *cli.TargetFlags, src string) ([]byte, error) {
	if _, err := os.Stat(src); err == nil {
		return load.File(src, verify.MaxBundleBytes)
	}
	ctx := cmd.Context()
	t, err := tf.Open(ctx, src)
	if err != nil {
		return nil, err
	}
	defer t.Close()
	if t.Ref.Digest == "" {
		// A tag could be moved back to an older list with fewer
		// revocations: the list is named by digest.
		return nil, cli.Usagef("--revocations %s: name the revocation-list artifact by digest (@sha256:…; 'stella-oras discover' lists artifacts with their digests)", src)
	}
	d, err := cli.SubjectDescriptor(ctx, t, false)
	if err != nil {
		return nil, err
	}
	return registry.FetchSingleLayer(ctx, t, d.Descriptor, artifacts.MediaTypeSigstoreBundle, verify.MaxBundleBytes)
}
