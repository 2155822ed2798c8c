package main

import (
	"crypto"
	"runtime"
	"slices"
	"strings"

	"errors"
	"fmt"
	"io"
	"os"

	"github.com/stella-ops/stella-oras/canon"
	"github.com/stella-ops/stella-oras/evaluator"
	"github.com/stella-ops/stella-oras/verify"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/stella-ops/stella-oras/bundle"
	"github.com/stella-ops/stella-oras/internal/atomicfile"
	"github.com/stella-ops/stella-oras/internal/cli"
	"github.com/stella-ops/stella-oras/internal/load"
)

// passphraseEnv holds the key passphrase; it may be set and empty, as
// cosign's COSIGN_PASSWORD may.
const passphraseEnv = "STELLA_KEY_PASSWORD"

// passphrase returns the passphrase from the environment, or asks on the
// terminal (twice when confirm) when the variable is unset and stdin is one.
func passphrase(stdin io.Reader, stderr io.Writer, confirm bool) func() ([]byte, error) {
	return func() ([]byte, error) {
		if v, ok := os.LookupEnv(passphraseEnv); ok {
			return []byte(v), nil
		}
		f, ok := stdin.(*os.File)
		if !ok || !term.IsTerminal(int(f.Fd())) {
			return nil, fmt.Errorf("%w: the key is encrypted, %s is not set and stdin is not a terminal to ask on: set it (it may be empty)", errNoPassphrase, passphraseEnv)
		}
		fmt.Fprint(stderr, "Passphrase for the private key: ")
		p, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(stderr)
		if err != nil || !confirm {
			return p, err
		}
		fmt.Fprint(stderr, "Again: ")
		q, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(stderr)
		if err != nil {
			return nil, err
		}
		if string(p) != string(q) {
			return nil, errors.New("the passphrases differ")
		}
		return p, nil
	}
}

// errNoPassphrase: a passphrase is needed and there is no way to get one.
var errNoPassphrase = errors.New("no passphrase")

// maxKeyBytes bounds a key file (counted as it is read: a device or a
// pipe has no size to check first).
const maxKeyBytes = 1 << 20

// loadKeypair reads a private key file (asking for its passphrase if it
// is encrypted) and wraps it for signing. A key file that others than its
// owner can read is used, with a warning (ssh refuses; cosign says
// nothing).
func loadKeypair(s *cli.Streams, path string) (*bundle.Keypair, crypto.Signer, error) {
	keyPEM, err := load.File(path, maxKeyBytes)
	if err != nil {
		return nil, nil, err
	}
	if st, err := os.Stat(path); err == nil && st.Mode().IsRegular() && st.Mode().Perm()&0o077 != 0 && runtime.GOOS != "windows" {
		fmt.Fprintf(s.Err, "warning: %s is readable by others (mode %04o): chmod 600 it\n", path, st.Mode().Perm())
	}
	priv, err := bundle.ParsePrivateKey(keyPEM, passphrase(s.In, s.Err, false))
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", path, err)
	}
	kp, err := bundle.NewKeypair(priv)
	if err != nil {
		return nil, nil, err
	}
	return kp, priv, nil
}

// readPublicKey reads a PEM public key file and checks it before any
// bundle is looked at: a private key or a file that is no key is one clear
// error (exit 1), not a verification failure on every bundle.
func readPublicKey(path string) ([]byte, crypto.PublicKey, error) {
	b, err := load.File(path, maxKeyBytes)
	if err != nil {
		return nil, nil, err
	}
	pub, err := bundle.ParsePublicKey(b)
	switch {
	case errors.Is(err, bundle.ErrPrivateKey):
		return nil, nil, fmt.Errorf("%s is a private key; give the public key %s", path, publicKeyName(path))
	case err != nil:
		return nil, nil, fmt.Errorf("%s is not a PEM public key (%v)", path, err)
	}
	return b, pub, nil
}

// readPublicKeys reads each file with readPublicKey.
func readPublicKeys(paths []string) ([][]byte, error) {
	var out [][]byte
	for _, p := range paths {
		b, _, err := readPublicKey(p)
		if err != nil {
			return nil, err
		}
		out = append(out, b)
	}
	return out, nil
}

// publicKeyName is the public key file `key generate` writes beside a
// private key: NAME.pub for NAME.key.
func publicKeyName(path string) string {
	if base, ok := strings.CutSuffix(path, ".key"); ok {
		return base + ".pub"
	}
	return "(its .pub)"
}

type keyResult struct {
	Algorithm  string `json:"algorithm"`
	KeyID      string `json:"keyId"`
	PrivateKey string `json:"privateKey"`
	PublicKey  string `json:"publicKey"`
}

func newKeyCmd(s *cli.Streams) *cobra.Command {
	cmd := &cobra.Command{Use: "key", Short: "Manage signing keys"}
	var (
		out   cli.OutputFlag
		alg   string
		name  string
		force bool
	)
	gen := &cobra.Command{
		Use:   "generate --algorithm ALG -o NAME",
		Short: "Generate a key pair: NAME.key (encrypted PKCS#8) and NAME.pub",
		Long: `Generate NAME.key (PKCS#8 PEM encrypted with the passphrase from
STELLA_KEY_PASSWORD, or asked on the terminal; mode 0600) and NAME.pub (PKIX
PEM). An empty STELLA_KEY_PASSWORD still encrypts, in sigstore's format (as
cosign does). The key ID is the SHA-256 of the public key's DER.`,
		Example: `  STELLA_KEY_PASSWORD= stella-oras key generate --algorithm ecdsa-p256 -o release
  stella-oras key generate --algorithm ed25519 -o ci --output json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := out.Validate(); err != nil {
				return err
			}
			if name == "" {
				return cli.Usagef("-o NAME is required")
			}
			k, err := bundle.GenerateKey(alg)
			if err != nil {
				return cli.UsageError{Err: err}
			}
			priv, pub := name+".key", name+".pub"
			if !force {
				for _, p := range []string{priv, pub} {
					if _, err := os.Stat(p); err == nil {
						return fmt.Errorf("%s exists (use --force to overwrite)", p)
					}
				}
			}
			pass, err := passphrase(s.In, s.Err, true)()
			if err != nil {
				return err
			}
			privPEM, err := bundle.MarshalPrivateKey(k, pass)
			if err != nil {
				return err
			}
			pubPEM, err := bundle.MarshalPublicKey(k.Public())
			if err != nil {
				return err
			}
			if err := atomicfile.Write(priv, privPEM, 0o600); err != nil {
				return err
			}
			if err := atomicfile.Write(pub, pubPEM, 0o644); err != nil {
				return err
			}
			id, _ := bundle.KeyID(k.Public())
			r := keyResult{Algorithm: alg, KeyID: id, PrivateKey: priv, PublicKey: pub}
			if out.JSON() {
				return cli.WriteJSON(s.Out, r)
			}
			fmt.Fprintf(s.Out, "Generated %s key %s\n  private: %s\n  public:  %s\n", alg, id, priv, pub)
			return nil
		},
	}
	gen.Flags().StringVar(&alg, "algorithm", "ecdsa-p256", "ecdsa-p256, ecdsa-p384, ed25519, rsa-3072 or rsa-4096")
	gen.Flags().StringVarP(&name, "out", "o", "", "file name prefix: NAME.key and NAME.pub")
	gen.Flags().BoolVar(&force, "force", false, "overwrite existing files")
	out.Register(gen)
	cmd.AddCommand(gen, newRevokeCmd(s), newKeyIDCmd(s))
	return cmd
}

// keyIDResult is what `key id --output json` prints.
type keyIDResult struct {
	File  string `json:"file"`
	KeyID string `json:"keyId"`
}

func newKeyIDCmd(s *cli.Streams) *cobra.Command {
	var out cli.OutputFlag
	cmd := &cobra.Command{
		Use:   "id FILE.pub",
		Short: "Print the key ID of a public key (as bundles, verify and revocation lists name it)",
		Long: `Print the key ID of a PEM public key: the SHA-256 of its PKIX DER, in hex — the
signer ID that attest, verify and verify-bundle report, and what key revoke
takes. A private key is refused: give its .pub.`,
		Example: `  stella-oras key id release.pub
  stella-oras key revoke --key admin.key -o revocations.sigstore.json "$(stella-oras key id ci-old.pub)"`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := out.Validate(); err != nil {
				return err
			}
			_, pub, err := readPublicKey(args[0])
			if err != nil {
				return err
			}
			id, err := bundle.KeyID(pub)
			if err != nil {
				return fmt.Errorf("%s: %w", args[0], err)
			}
			if out.JSON() {
				return cli.WriteJSON(s.Out, keyIDResult{File: args[0], KeyID: id})
			}
			_, err = fmt.Fprintln(s.Out, id)
			return err
		},
	}
	out.Register(cmd)
	return cmd
}

// revokeResult is what `key revoke --output json` prints.
type revokeResult struct {
	File          string   `json:"file"`
	Signer        string   `json:"signer"`
	PredicateType string   `json:"predicateType"`
	RevokedKeyIDs []string `json:"revokedKeyIds"`
}

func newRevokeCmd(s *cli.Streams) *cobra.Command {
	var (
		out     cli.OutputFlag
		keyFile string
		dest    string
	)
	cmd := &cobra.Command{
		Use:   "revoke --key SIGNER.key -o revocations.sigstore.json KEYID...",
		Short: "Sign a revocation list of key IDs (for verify and status --revocations, with --revocation-key)",
		Example: `  stella-oras key revoke --key admin.key -o revocations.sigstore.json 9f86d081884c7d65…
  stella-oras verify IMAGE@sha256:… --key ci.pub --revocations revocations.sigstore.json --revocation-key admin.pub`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, ids []string) error {
			if err := out.Validate(); err != nil {
				return err
			}
			if keyFile == "" || dest == "" {
				return cli.Usagef("--key and -o are required")
			}
			for _, id := range ids {
				if len(id) != 64 || strings.Trim(id, "0123456789abcdef") != "" {
					return cli.Usagef("%q is not a key ID (64 lowercase hex digits)", id)
				}
			}
			kp, priv, err := loadKeypair(s, keyFile)
			if err != nil {
				return err
			}
			slices.Sort(ids)
			ids = slices.Compact(ids)
			pred, err := canon.Marshal(verify.Revocations{RevokedKeyIDs: ids})
			if err != nil {
				return err
			}
			st, err := bundle.NewStatement("stella-oras-revocations", canon.ContentID(pred), verify.PredicateRevocations, pred)
			if err != nil {
				return err
			}
			b, err := bundle.SignStatement(cmd.Context(), st, kp)
			if err != nil {
				return err
			}
			if err := atomicfile.Write(dest, b, 0o644); err != nil {
				return err
			}
			signer, _ := bundle.KeyID(priv.Public())
			if out.JSON() {
				return cli.WriteJSON(s.Out, revokeResult{File: dest, Signer: signer, PredicateType: verify.PredicateRevocations, RevokedKeyIDs: ids})
			}
			fmt.Fprintf(s.Out, "Revocation list of %s written to %s\n  signer: %s (give its public key as --revocation-key)\n", cli.Plural(len(ids), "key"), dest, signer)
			return nil
		},
	}
	cmd.Flags().StringVar(&keyFile, "key", "", "private key that signs the list")
	cmd.Flags().StringVarP(&dest, "out", "o", "", "bundle file to write")
	out.Register(cmd)
	return cmd
}

// newSigner is the signer of --key. When the key's public half is beside
// it (KEY.pub for KEY.key, as key generate writes them) the private key is
// read, and its passphrase asked for, only when something is signed: a
// cache hit only verifies, and decrypting an encrypted key (scrypt) costs
// more than the whole hit. The pair is checked when the key is loaded.
func newSigner(s *cli.Streams, path string, opts bundle.SignOptions) (*evaluator.Signer, error) {
	if _, err := os.Stat(path); err != nil {
		return nil, err
	}
	if pubPath := publicKeyName(path); strings.HasSuffix(pubPath, ".pub") {
		if _, pub, err := readPublicKey(pubPath); err == nil {
			return evaluator.NewLazySigner(pub, func() (crypto.Signer, error) {
				_, priv, err := loadKeypair(s, path)
				if err != nil {
					return nil, err
				}
				if eq, ok := priv.Public().(interface{ Equal(crypto.PublicKey) bool }); !ok || !eq.Equal(pub) {
					return nil, fmt.Errorf("%s is not the public key of %s: remove it or write the right one", pubPath, path)
				}
				return priv, nil
			}, opts), nil
		}
	}
	_, priv, err := loadKeypair(s, path)
	if err != nil {
		return nil, err
	}
	return evaluator.NewSigner(priv, opts)
}
