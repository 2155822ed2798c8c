package main

import (
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/stella-ops/stella-oras/internal/cli"
	"github.com/stella-ops/stella-oras/verify"
)

type verifyBundleResult struct {
	Bundle   string         `json:"bundle"`
	Verified bool           `json:"verified"`
	Result   *verify.Result `json:"result,omitempty"`
	// Checked says in words what was verified and what was not.
	Checked string `json:"checked,omitempty"`
	Error   string `json:"error,omitempty"`
}

// checkedSummary says what a verified bundle proves: who signed, and
// whether what they signed was bound to the artifact given.
func checkedSummary(r *verify.Result) string {
	switch {
	case r.PayloadDigest == "":
		return "signature by " + r.Signer + " over the artifact"
	case r.SubjectChecked:
		return "signature by " + r.Signer + " over the statement; its subject is the artifact"
	}
	return "signature by " + r.Signer + " over the statement; the subject was not checked (no --artifact or --artifact-digest)"
}

func newVerifyBundleCmd(s *cli.Streams) *cobra.Command {
	var (
		out            cli.OutputFlag
		artifact       string
		artifactDigest string
		key            string
		trustedRoot    string
		identity       string
		identityRegexp string
		issuer         string
		keyValidity    string
	)
	cmd := &cobra.Command{
		Use:   "verify-bundle FILE",
		Short: "Verify a standalone Sigstore bundle, offline",
		Long: `Verify a Sigstore bundle file with sigstore-go, fully offline: no TUF, Fulcio or
Rekor call. The flags are cosign's. With --key the bundle must be signed by that
key (a --trusted-root then still supplies transparency-log and timestamp keys);
otherwise the certificate must chain to --trusted-root and match the identity.
Exit status: 0 verified, 4 verification failed (a malformed or oversized bundle
too), 1 cannot run (unreadable bundle; unreadable or malformed key, root or
digest), 2 usage.`,
		Example: `  stella-oras verify-bundle artifact.sigstore.json --artifact a.txt --trusted-root trusted_root.json \
    --certificate-identity https://github.com/org/repo/.github/workflows/release.yml@refs/heads/main \
    --certificate-oidc-issuer https://token.actions.githubusercontent.com
  stella-oras verify-bundle attestation.sigstore.json --key cosign.pub --artifact-digest sha256:…`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := out.Validate(); err != nil {
				return err
			}
			if artifact != "" && artifactDigest != "" {
				return cli.Usagef("give --artifact or --artifact-digest, not both")
			}
			if identity != "" && identityRegexp != "" {
				return cli.Usagef("give --certificate-identity or --certificate-identity-regexp, not both")
			}
			o := verify.BundleOptions{
				ArtifactDigest: artifactDigest, TrustedRoot: trustedRoot,
				Identity: identity, IdentityRegexp: identityRegexp, Issuer: issuer,
			}
			if keyValidity != "" {
				from, to, ok := strings.Cut(keyValidity, ",")
				f, err1 := time.Parse(time.RFC3339, from)
				u, err2 := time.Parse(time.RFC3339, to)
				if !ok || err1 != nil || err2 != nil || !u.After(f) {
					return cli.Usagef("--key-validity %q: want START,END in RFC 3339", keyValidity)
				}
				o.KeyValidFrom, o.KeyValidTo = f, u
			}
			if key != "" {
				b, _, err := readPublicKey(key)
				if err != nil {
					return err
				}
				o.KeyPEM = b
			}
			if artifact != "" {
				f, err := os.Open(artifact)
				if err != nil {
					return err
				}
				defer f.Close()
				o.Artifact = f
			}
			res, err := verify.VerifyBundle(args[0], o)
			if out.JSON() {
				r := verifyBundleResult{Bundle: args[0], Verified: err == nil, Result: res}
				if err != nil {
					r.Error = err.Error()
				} else {
					r.Checked = checkedSummary(res)
				}
				if werr := cli.WriteJSON(s.Out, r); werr != nil {
					return werr
				}
			} else if err == nil {
				fmt.Fprintf(s.Out, "Verified OK: %s: %s\n  signer: %s\n", args[0], checkedSummary(res), res.Signer)
				if res.Issuer != "" {
					fmt.Fprintf(s.Out, "  issuer: %s\n", res.Issuer)
				}
				if res.PredicateType != "" {
					fmt.Fprintf(s.Out, "  predicate type: %s\n", res.PredicateType)
				}
			}
			return err
		},
	}
	f := cmd.Flags()
	f.StringVar(&artifact, "artifact", "", "the signed file")
	f.StringVar(&artifactDigest, "artifact-digest", "", "the signed file's digest, sha256:<hex> or sha512:<hex>")
	f.StringVar(&key, "key", "", "PEM public key the bundle must be signed with")
	f.StringVar(&trustedRoot, "trusted-root", "", "Sigstore trusted_root.json (CAs, logs, timestamp authorities)")
	f.StringVar(&identity, "certificate-identity", "", "expected certificate SAN")
	f.StringVar(&identityRegexp, "certificate-identity-regexp", "", "expected certificate SAN, as a regular expression")
	f.StringVar(&issuer, "certificate-oidc-issuer", "", "expected OIDC issuer of the certificate")
	f.StringVar(&keyValidity, "key-validity", "", "START,END (RFC 3339): the --key signed only in this window, checked against the bundle's verified timestamps (not a cosign flag)")
	out.Register(cmd)
	return cmd
}
