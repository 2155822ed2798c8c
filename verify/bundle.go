// Package verify checks Sigstore bundles offline: signatures, certificate
// identities, transparency-log and timestamp evidence, with sigstore-go's
// verifier and no network call (no TUF, Fulcio or Rekor).
package verify

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/sigstore/sigstore-go/pkg/bundle"
	"github.com/sigstore/sigstore-go/pkg/root"
	sgverify "github.com/sigstore/sigstore-go/pkg/verify"
	"github.com/sigstore/sigstore/pkg/cryptoutils"
	"github.com/sigstore/sigstore/pkg/signature"

	"github.com/stella-ops/stella-oras/internal/readfile"
)

// ErrVerification wraps every reason a bundle does not verify (as opposed
// to the check not being able to run: unreadable files, bad flags).
var ErrVerification = errors.New("verification failed")

// ErrUntrustedKey: no signature of the bundle verifies under the key given
// (another key's bundle, or a tampered one); a kind of ErrVerification.
var ErrUntrustedKey = errors.New("no signature verifies under the key")

// ErrInput wraps inputs the check cannot use: unreadable or malformed key,
// trusted root or artifact digest.
var ErrInput = errors.New("invalid verification input")

// MaxBundleBytes bounds a bundle file: real bundles are a few KB; a
// certificate chain and a DSSE envelope of a large statement stay far below.
const MaxBundleBytes = 16 << 20

// BundleOptions say what to verify a bundle against. One of Artifact or
// ArtifactDigest is required. KeyPEM or an identity (SAN or SAN regexp,
// with the OIDC issuer) selects key or certificate verification; both may
// be combined with a trusted root, whose transparency-log and timestamp
// authorities then still apply.
type BundleOptions struct {
	Artifact       io.Reader
	ArtifactDigest string // "sha256:hex" or "sha512:hex"
	KeyPEM         []byte
	// KeyValidFrom/KeyValidTo bound when the key may have signed (zero:
	// unbounded), checked against the bundle's verified timestamps.
	KeyValidFrom, KeyValidTo time.Time
	TrustedRoot              string // trusted_root.json path
	Identity                 string
	IdentityRegexp           string
	Issuer                   string
}

// Result describes a verified bundle.
type Result struct {
	// Signer is the key ID (SHA-256 of the public key's DER, hex) for key
	// bundles, or the certificate's SAN.
	Signer    string `json:"signer"`
	Issuer    string `json:"issuer,omitempty"`
	MediaType string `json:"mediaType"`
	// PredicateType and PayloadDigest (of the DSSE payload: the
	// statement) are set for DSSE in-toto bundles.
	PredicateType string `json:"predicateType,omitempty"`
	PayloadDigest string `json:"payloadDigest,omitempty"`
	// SubjectChecked says whether the signed content was bound to an
	// artifact (BundleOptions.Artifact or ArtifactDigest). A DSSE bundle
	// verified without one proves only who signed the statement, not
	// what it is about: the caller must check its subjects (verify does).
	SubjectChecked bool `json:"subjectChecked"`
}

// VerifyBundle verifies the bundle file at path.
func VerifyBundle(path string, o BundleOptions) (*Result, error) {
	// The bound is counted as bytes are read, not taken from stat: a
	// pipe or a device (/dev/zero) has no size, and was read to the end
	// of memory (#11 1.4).
	data, err := readfile.File(path, MaxBundleBytes)
	if errors.Is(err, readfile.ErrTooLarge) {
		return verifyBundle(path, nil, true, o)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInput, err)
	}
	return VerifyBundleBytes(path, data, o)
}

// VerifyBundleBytes verifies a bundle held in memory; name is for messages.
func VerifyBundleBytes(path string, data []byte, o BundleOptions) (*Result, error) {
	return verifyBundle(path, data, len(data) > MaxBundleBytes, o)
}

// verifyBundle is VerifyBundleBytes of data, or of a bundle over
// MaxBundleBytes (tooLarge), which fails verification once what the
// caller gives has been checked.
func verifyBundle(path string, data []byte, tooLarge bool, o BundleOptions) (*Result, error) {
	// What the caller gives (the root, the digest) is checked before the
	// bundle is looked at: a malformed one of those is ErrInput (exit 1)
	// whatever the bundle holds, not a bundle that fails verification.
	if o.ArtifactDigest != "" {
		if _, _, err := artifactDigest(o.ArtifactDigest); err != nil {
			return nil, err
		}
	}
	var tm root.TrustedMaterial = root.TrustedMaterialCollection{}
	var tr root.TrustedMaterial
	if o.TrustedRoot != "" {
		r, err := trustedRootFile(o.TrustedRoot)
		if err != nil {
			return nil, fmt.Errorf("%w: trusted root %s: %v", ErrInput, o.TrustedRoot, err)
		}
		tr, tm = r, r
	}
	if tooLarge {
		return nil, fmt.Errorf("%w: %s: bundle larger than %d bytes", ErrVerification, path, MaxBundleBytes)
	}
	b := &bundle.Bundle{}
	if err := b.UnmarshalJSON(data); err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrVerification, path, err)
	}
	var policy []sgverify.PolicyOption
	var vopts []sgverify.VerifierOption
	res := &Result{MediaType: b.MediaType, SubjectChecked: o.Artifact != nil || o.ArtifactDigest != ""}
	switch {
	case len(o.KeyPEM) > 0:
		pub, err := cryptoutils.UnmarshalPEMToPublicKey(o.KeyPEM)
		if err != nil {
			return nil, fmt.Errorf("%w: key: %v", ErrInput, err)
		}
		v, err := signature.LoadDefaultVerifier(pub)
		if err != nil {
			return nil, fmt.Errorf("%w: key: %v", ErrInput, err)
		}
		id, err := KeyID(pub)
		if err != nil {
			return nil, fmt.Errorf("%w: key: %v", ErrInput, err)
		}
		res.Signer = id
		km := root.NewTrustedPublicKeyMaterial(func(string) (root.TimeConstrainedVerifier, error) {
			return root.NewExpiringKey(v, o.KeyValidFrom, o.KeyValidTo), nil
		})
		if tr != nil {
			tm = root.TrustedMaterialCollection{km, tr}
		} else {
			tm = root.TrustedMaterialCollection{km}
		}
		policy = append(policy, sgverify.WithKey())
		if o.Identity != "" || o.IdentityRegexp != "" {
			// cosign accepts the identity flags with --key and ignores them
			// for key bundles; so does this.
		}
	case o.Identity != "" || o.IdentityRegexp != "":
		if tr == nil {
			return nil, fmt.Errorf("%w: certificate identities need --trusted-root", ErrInput)
		}
		if o.Issuer == "" {
			return nil, fmt.Errorf("%w: --certificate-oidc-issuer is required with a certificate identity", ErrInput)
		}
		ci, err := sgverify.NewShortCertificateIdentity(o.Issuer, "", o.Identity, o.IdentityRegexp)
		if err != nil {
			return nil, fmt.Errorf("%w: identity: %v", ErrInput, err)
		}
		policy = append(policy, sgverify.WithCertificateIdentity(ci))
		vopts = append(vopts, sgverify.WithSignedCertificateTimestamps(1))
	default:
		return nil, fmt.Errorf("%w: give --key or --certificate-identity[-regexp] with --certificate-oidc-issuer", ErrInput)
	}
	// Evidence requirements follow what the trusted material and the
	// bundle carry, as sigstore's conformance client does: RFC 3161
	// timestamps when both have them, the transparency log when the root
	// has logs (and its integrated time when the bundle has a promise).
	ts, err := b.Timestamps()
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrVerification, err)
	}
	if len(tm.TimestampingAuthorities()) > 0 && len(ts) > 0 {
		vopts = append(vopts, sgverify.WithSignedTimestamps(1))
	}
	if len(tm.RekorLogs()) > 0 {
		vopts = append(vopts, sgverify.WithTransparencyLog(1))
		if b.HasInclusionPromise() {
			vopts = append(vopts, sgverify.WithIntegratedTimestamps(1))
		}
	}
	hasTime := (len(tm.TimestampingAuthorities()) > 0 && len(ts) > 0) || (len(tm.RekorLogs()) > 0 && b.HasInclusionPromise())
	if !hasTime {
		if len(o.KeyPEM) == 0 {
			// A certificate is valid only for minutes: without a trusted
			// time there is nothing to check its validity against.
			return nil, fmt.Errorf("%w: %s: the bundle carries no timestamp that the trusted root can verify (a certificate needs one)", ErrVerification, path)
		}
		// A key-signed bundle without a verified time: the only time
		// there is, is now (cosign's --insecure-ignore-tlog behaviour).
		vopts = append(vopts, sgverify.WithCurrentTime())
	}
	artifact, err := artifactPolicy(o, b)
	if err != nil {
		return nil, err
	}
	v, err := sgverify.NewVerifier(tm, vopts...)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInput, err)
	}
	out, err := v.Verify(b, sgverify.NewPolicy(artifact, policy...))
	if err != nil {
		if len(o.KeyPEM) > 0 && !signedByAny(data, [][]byte{o.KeyPEM}) {
			// Another key's bundle, or a tampered one: said so, rather
			// than sigstore-go's "accepted signatures do not match
			// threshold, Found: 0, Expected 1", which reads like a
			// --threshold.
			return nil, fmt.Errorf("%w: %s: %w %s", ErrVerification, path, ErrUntrustedKey, res.Signer)
		}
		return nil, fmt.Errorf("%w: %v", ErrVerification, err)
	}
	if out.Signature != nil && out.Signature.Certificate != nil {
		res.Signer = out.Signature.Certificate.SubjectAlternativeName
		res.Issuer = out.Signature.Certificate.Issuer
	}
	if out.Statement != nil {
		res.PredicateType = out.Statement.PredicateType
	}
	if env := b.GetDsseEnvelope(); env != nil {
		sum := sha256.Sum256(env.Payload)
		res.PayloadDigest = "sha256:" + hex.EncodeToString(sum[:])
	}
	return res, nil
}

func artifactPolicy(o BundleOptions, b *bundle.Bundle) (sgverify.ArtifactPolicyOption, error) {
	switch {
	case o.Artifact != nil && o.ArtifactDigest != "":
		return nil, fmt.Errorf("%w: give --artifact or --artifact-digest, not both", ErrInput)
	case o.Artifact != nil:
		return sgverify.WithArtifact(o.Artifact), nil
	case o.ArtifactDigest != "":
		alg, d, err := artifactDigest(o.ArtifactDigest)
		if err != nil {
			return nil, err
		}
		return sgverify.WithArtifactDigest(alg, d), nil
	}
	if b.GetDsseEnvelope() != nil {
		// An attestation binds its subjects inside the statement, which
		// the caller checks (verify does, against the image digest).
		return sgverify.WithoutArtifactUnsafe(), nil
	}
	return nil, fmt.Errorf("%w: --artifact or --artifact-digest is required", ErrInput)
}

// artifactDigest parses --artifact-digest: its algorithm and bytes.
func artifactDigest(v string) (string, []byte, error) {
	alg, hexd, ok := strings.Cut(v, ":")
	d, err := hex.DecodeString(hexd)
	if !ok || err != nil || (alg != "sha256" && alg != "sha384" && alg != "sha512") {
		return "", nil, fmt.Errorf("%w: --artifact-digest %q: want sha256:<hex> or sha512:<hex>", ErrInput, v)
	}
	return alg, d, nil
}

// maxTrustedRootBytes bounds a trusted root file (the public-good root is
// about 7 KB).
const maxTrustedRootBytes = 16 << 20

// trustedRootFile is root.NewTrustedRootFromPath with the file read within
// maxTrustedRootBytes, counted as it is read (that function reads the
// whole file, whatever it is).
func trustedRootFile(path string) (*root.TrustedRoot, error) {
	b, err := readfile.File(path, maxTrustedRootBytes)
	if err != nil {
		return nil, err
	}
	return root.NewTrustedRootFromJSON(b)
}
