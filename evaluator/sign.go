package evaluator

import (
	"context"
	"crypto"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"sync"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"golang.org/x/sync/errgroup"

	"github.com/stella-ops/stella-oras/artifacts"
	"github.com/stella-ops/stella-oras/bundle"
	"github.com/stella-ops/stella-oras/registry"
	"github.com/stella-ops/stella-oras/verify"
)

// Signer signs statements: a key pair, with the options of the signature
// (timestamp authority, transparency log).
type Signer struct {
	// Public is the signer's public key: what cached verdicts are checked
	// against, known without the private key.
	Public  crypto.PublicKey
	Options bundle.SignOptions

	once    sync.Once
	load    func() (crypto.Signer, error)
	keypair *bundle.Keypair
	err     error
}

// NewSigner wraps a private key.
func NewSigner(priv crypto.Signer, opts bundle.SignOptions) (*Signer, error) {
	kp, err := bundle.NewKeypair(priv)
	if err != nil {
		return nil, err
	}
	return &Signer{Public: priv.Public(), Options: opts, keypair: kp}, nil
}

// NewLazySigner is a signer whose private key is loaded only when
// something is signed: a cache hit, which only verifies, then never
// decrypts the key (an encrypted key costs its scrypt derivation, about
// 300 ms, more than the whole cache hit). load must return pub's pair
// (Attest also verifies each new bundle under pub before pushing it).
func NewLazySigner(pub crypto.PublicKey, load func() (crypto.Signer, error), opts bundle.SignOptions) *Signer {
	return &Signer{Public: pub, Options: opts, load: load}
}

// Keypair is the signing key pair, loaded on first use.
func (s *Signer) Keypair() (*bundle.Keypair, error) {
	if s.load == nil {
		return s.keypair, nil
	}
	s.once.Do(func() {
		priv, err := s.load()
		if err != nil {
			s.err = err
			return
		}
		s.keypair, s.err = bundle.NewKeypair(priv)
	})
	return s.keypair, s.err
}

// KeyID is the signer's key ID.
func (s *Signer) KeyID() string {
	id, _ := bundle.KeyID(s.Public)
	return id
}

// PublicPEM is the signer's public key in PEM.
func (s *Signer) PublicPEM() ([]byte, error) { return bundle.MarshalPublicKey(s.Public) }

// AttestOptions describe one attestation.
type AttestOptions struct {
	// PredicateType is the statement's predicate type URI (required).
	PredicateType string
	// Predicate is JSON; it is canonicalized into the statement.
	Predicate []byte
	// Signer signs (required).
	Signer *Signer
	// Annotations are added to the bundle manifest.
	Annotations map[string]string
	// KeepTag: see registry.ArtifactOptions.KeepTag.
	KeepTag string
}

// Attestation is a signed and attached statement.
type Attestation struct {
	Subject       ocispec.Descriptor `json:"subject"`
	Bundle        ocispec.Descriptor `json:"bundleManifest"`
	PredicateType string             `json:"predicateType"`
	KeyID         string             `json:"keyId"`
	// BundleJSON is the Sigstore bundle as pushed.
	BundleJSON []byte `json:"-"`
}

// Attest builds an in-toto statement about subject (named by the target's
// repository), signs it into a Sigstore bundle, verifies what it signed,
// and attaches the bundle as a referrer of subject the way cosign v3
// stores bundles.
func Attest(ctx context.Context, t *registry.Target, subject ocispec.Descriptor, o AttestOptions) (*Attestation, error) {
	ref := t.Ref
	ref.Tag, ref.Digest = "", ""
	st, err := bundle.NewStatement(ref.String(), subject.Digest.String(), o.PredicateType, o.Predicate)
	if err != nil {
		return nil, err
	}
	kp, err := o.Signer.Keypair()
	if err != nil {
		return nil, err
	}
	b, err := bundle.SignStatement(ctx, st, kp, o.Signer.Options)
	if err != nil {
		return nil, err
	}
	// Verify what was just signed before anything is pushed.
	pub, err := o.Signer.PublicPEM()
	if err != nil {
		return nil, err
	}
	if _, err := verify.VerifyBundleBytes("the new bundle", b, verify.BundleOptions{KeyPEM: pub, ArtifactDigest: subject.Digest.String()}); err != nil {
		return nil, fmt.Errorf("checking the bundle just signed: %w", err)
	}
	ann := map[string]string{
		artifacts.AnnotationBundleContent:       "dsse-envelope",
		artifacts.AnnotationBundlePredicateType: o.PredicateType,
	}
	for k, v := range o.Annotations {
		ann[k] = v
	}
	m, err := registry.Attach(ctx, t, subject, b, registry.AttachOptions{
		ArtifactType: artifacts.MediaTypeSigstoreBundle, MediaType: artifacts.MediaTypeSigstoreBundle, Annotations: ann, KeepTag: o.KeepTag,
	})
	if err != nil {
		return nil, err
	}
	return &Attestation{Subject: subject, Bundle: m, PredicateType: o.PredicateType, KeyID: o.Signer.KeyID(), BundleJSON: b}, nil
}

// Trust is what verification accepts. The zero value accepts nothing.
type Trust struct {
	// Keys are trusted PEM public keys.
	Keys [][]byte
	// Threshold is how many distinct keys must sign one statement; 0 means 1.
	Threshold int
	// Revoked key IDs are never counted.
	Revoked map[string]bool
	// Certificate, when its TrustedRoot is set, also accepts certificate
	// bundles matching the identity.
	Certificate verify.BundleOptions
}

// VerifyImageOptions configure VerifyImage.
type VerifyImageOptions struct {
	Trust Trust
	// PredicateType, when set, is required of the statement.
	PredicateType string
	// Jobs bounds concurrent bundle fetches; 0 means defaultJobs.
	Jobs int
}

// defaultJobs bounds concurrent requests to one registry: bundle and
// manifest fetches are small and latency-bound, and eight in flight keep a
// registry busy without tripping rate limits.
const defaultJobs = 8

// VerifyImage finds the Sigstore bundle referrers of subject and decides
// whether the trust holds for some statement about it. It returns the
// report whether or not the trust holds; the error is for what prevented
// the check.
func VerifyImage(ctx context.Context, t *registry.Target, subject ocispec.Descriptor, o VerifyImageOptions) (*verify.ImageReport, error) {
	refs, err := registry.Referrers(ctx, t, subject, artifacts.MediaTypeSigstoreBundle)
	if err != nil {
		return nil, err
	}
	cands := fetchBundles(ctx, t, refs, o.Jobs)
	return verify.EvaluateImage(cands, imagePolicy(subject, o.Trust, o.PredicateType))
}

func imagePolicy(subject ocispec.Descriptor, tr Trust, predType string) verify.ImagePolicy {
	return verify.ImagePolicy{
		ImageDigest: subject.Digest.String(), Keys: tr.Keys, Threshold: tr.Threshold,
		PredicateType: predType, Revoked: tr.Revoked, Certificate: tr.Certificate,
	}
}

// fetchBundles fetches bundle manifests' single layers, jobs at a time,
// results by index. One that is not a well-formed bundle manifest fails on
// its own; the others are still judged.
func fetchBundles(ctx context.Context, t *registry.Target, refs []ocispec.Descriptor, jobs int) []verify.Candidate {
	if jobs <= 0 {
		jobs = defaultJobs
	}
	cands := make([]verify.Candidate, len(refs))
	var g errgroup.Group
	g.SetLimit(jobs)
	for i, r := range refs {
		g.Go(func() error {
			data, err := registry.FetchSingleLayer(ctx, t, r, artifacts.MediaTypeSigstoreBundle, verify.MaxBundleBytes)
			cands[i] = verify.Candidate{Name: r.Digest.String(), Data: data, Err: err}
			return nil
		})
	}
	g.Wait()
	return cands
}

// statementOf decodes the in-toto statement of a (verified) DSSE bundle.
func statementOf(b []byte) (*bundle.Statement, error) {
	var env struct {
		DSSE struct {
			Payload string `json:"payload"`
		} `json:"dsseEnvelope"`
	}
	if err := json.Unmarshal(b, &env); err != nil {
		return nil, err
	}
	payload, err := base64.StdEncoding.DecodeString(env.DSSE.Payload)
	if err != nil {
		return nil, err
	}
	var st bundle.Statement
	if err := json.Unmarshal(payload, &st); err != nil {
		return nil, err
	}
	return &st, nil
}

// verifyOne verifies one bundle against the trust's keys: the first key
// that verifies it wins. It returns the statement and the signer.
func verifyOne(name string, data []byte, tr Trust, subjectDigest string) (*bundle.Statement, string, error) {
	var last error = fmt.Errorf("no trusted key")
	untrusted := 0 // keys under which no signature verifies
	for _, k := range tr.Keys {
		res, err := verify.VerifyBundleBytes(name, data, verify.BundleOptions{KeyPEM: k, ArtifactDigest: subjectDigest})
		if err != nil {
			if errors.Is(err, verify.ErrUntrustedKey) {
				untrusted++
			}
			last = err
			continue
		}
		if tr.Revoked[res.Signer] {
			return nil, res.Signer, verificationFailed(nil, "%s: signer %s is revoked", name, res.Signer)
		}
		st, err := statementOf(data)
		if err != nil {
			return nil, res.Signer, verificationFailed(err, "%s: statement", name)
		}
		named := false
		for _, s := range st.Subject {
			for alg, hex := range s.Digest {
				named = named || alg+":"+hex == subjectDigest
			}
		}
		if !named {
			return nil, res.Signer, verificationFailed(nil, "%s: the statement does not name %s", name, subjectDigest)
		}
		return st, res.Signer, nil
	}
	if untrusted > 0 && untrusted == len(tr.Keys) {
		// Another signer's bundle: said once, not as the last key's error.
		return nil, "", verificationFailed(nil, "%s: %s", name, verify.ReasonUntrustedKey)
	}
	return nil, "", verificationFailed(last, "%s", name)
}
