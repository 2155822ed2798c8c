package verify

import (
	"bytes"
	"fmt"
	"maps"
	"runtime"
	"slices"
	"strings"
	"sync"

	"github.com/secure-systems-lab/go-securesystemslib/dsse"
	"github.com/sigstore/sigstore-go/pkg/bundle"
	"github.com/sigstore/sigstore/pkg/cryptoutils"
	"github.com/sigstore/sigstore/pkg/signature"
)

// Candidate is one bundle found for an image.
type Candidate struct {
	Name string // where it came from, e.g. the bundle manifest digest
	Data []byte
	// Err is why the bundle could not be read (e.g. an unknown layer
	// media type); the candidate then fails with that reason.
	Err error
}

// ImagePolicy is what `verify` requires of an image's bundles.
type ImagePolicy struct {
	// ImageDigest is the image's digest; every accepted statement must name
	// it as a subject.
	ImageDigest string
	// Keys are trusted PEM public keys.
	Keys [][]byte
	// Threshold is how many distinct listed keys must have signed the same
	// statement; 0 means 1.
	Threshold int
	// PredicateType, when set, is required of the statement.
	PredicateType string
	// Revoked key IDs are never counted.
	Revoked map[string]bool
	// Certificate, when its TrustedRoot is set, also accepts bundles
	// whose certificate chains to the root and matches the identity
	// (Identity or IdentityRegexp, and Issuer); the signer is then the
	// certificate's SAN.
	Certificate BundleOptions
}

// BundleReport is the outcome for one bundle.
type BundleReport struct {
	Bundle        string `json:"bundle"`
	Signer        string `json:"signer,omitempty"`
	PredicateType string `json:"predicateType,omitempty"`
	Verified      bool   `json:"verified"`
	Reason        string `json:"reason"`
	payload       string
}

// ImageReport is the outcome for an image.
type ImageReport struct {
	Image     string         `json:"image"`
	Satisfied bool           `json:"satisfied"`
	Threshold int            `json:"threshold"`
	Signers   []string       `json:"signers"`
	Bundles   []BundleReport `json:"bundles"`
	Reason    string         `json:"reason"`
}

// EvaluateImage verifies every candidate bundle against every trusted key
// and decides whether the policy holds: some statement (by payload digest)
// signed by at least Threshold distinct, unrevoked, listed keys. It is pure:
// the caller fetched the bundles.
func EvaluateImage(cands []Candidate, p ImagePolicy) (*ImageReport, error) {
	certMode := p.Certificate.TrustedRoot != ""
	if len(p.Keys) == 0 && !certMode {
		return nil, fmt.Errorf("%w: no --key and no --trusted-root with a certificate identity", ErrInput)
	}
	keys, err := distinctKeys(p.Keys)
	if err != nil {
		return nil, err
	}
	p.Keys = keys
	th := p.Threshold
	if th <= 0 {
		th = 1
	}
	if th > len(p.Keys) && !certMode {
		return nil, fmt.Errorf("%w: threshold %d exceeds the %d distinct keys given", ErrInput, th, len(p.Keys))
	}
	rep := &ImageReport{Image: p.ImageDigest, Threshold: th, Signers: []string{}, Bundles: []BundleReport{}}
	// Each bundle is checked on its own goroutine (signature checks are
	// CPU-bound); reports are collected by index, so the outcome never
	// depends on scheduling.
	reports := make([]BundleReport, len(cands))
	var wg sync.WaitGroup
	sem := make(chan struct{}, runtime.GOMAXPROCS(0))
	for i, c := range cands {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			reports[i] = checkCandidate(c, p)
		}()
	}
	wg.Wait()
	signers := map[string]map[string]bool{} // payload digest -> key IDs
	for _, br := range reports {
		if br.Verified {
			if signers[br.payload] == nil {
				signers[br.payload] = map[string]bool{}
			}
			signers[br.payload][br.Signer] = true // the same key twice counts once
		}
		rep.Bundles = append(rep.Bundles, br)
	}
	slices.SortFunc(rep.Bundles, func(a, b BundleReport) int { return strings.Compare(a.Bundle, b.Bundle) })
	// Among statements with as many signers, the one with the least
	// payload digest is reported: ranging over the map would pick one at
	// random, and the report (the JSON verify prints) must not vary.
	best := 0
	for _, payload := range slices.Sorted(maps.Keys(signers)) {
		ks := signers[payload]
		if len(ks) > best {
			best = len(ks)
			rep.Signers = rep.Signers[:0]
			for k := range ks {
				rep.Signers = append(rep.Signers, k)
			}
			slices.Sort(rep.Signers)
		}
	}
	switch {
	case len(cands) == 0:
		rep.Reason = "no Sigstore bundle refers to the image"
	case best >= th:
		rep.Satisfied = true
		rep.Reason = fmt.Sprintf("%s verified (%d required)", signerCount(best), th)
	default:
		rep.Reason = fmt.Sprintf("threshold not met: %s verified, %d required (distinct keys signing one statement)", signerCount(best), th)
	}
	return rep, nil
}

// signerCount is "1 signer" or "N signers".
func signerCount(n int) string {
	if n == 1 {
		return "1 signer"
	}
	return fmt.Sprintf("%d signers", n)
}

// distinctKeys parses the trusted keys, so that one that does not parse
// is an input error rather than a reason on every bundle, and drops a key
// listed twice (under two file names, say): the threshold counts distinct
// keys, and a duplicate would let it ask for more signers than exist.
func distinctKeys(pems [][]byte) ([][]byte, error) {
	seen := map[string]bool{}
	var out [][]byte
	for i, k := range pems {
		pub, err := cryptoutils.UnmarshalPEMToPublicKey(k)
		if err != nil {
			return nil, fmt.Errorf("%w: key %d: %v", ErrInput, i+1, err)
		}
		id, err := KeyID(pub)
		if err != nil {
			return nil, fmt.Errorf("%w: key %d: %v", ErrInput, i+1, err)
		}
		if !seen[id] {
			seen[id] = true
			out = append(out, k)
		}
	}
	return out, nil
}

// checkCandidate verifies one bundle against each key in turn.
func checkCandidate(c Candidate, p ImagePolicy) BundleReport {
	br := BundleReport{Bundle: c.Name}
	lastErr := c.Err
	attempts := make([]BundleOptions, 0, len(p.Keys)+1)
	for _, k := range p.Keys {
		attempts = append(attempts, BundleOptions{KeyPEM: k, ArtifactDigest: p.ImageDigest})
	}
	if p.Certificate.TrustedRoot != "" {
		o := p.Certificate
		o.KeyPEM, o.Artifact, o.ArtifactDigest = nil, nil, p.ImageDigest
		attempts = append(attempts, o)
	}
	for _, o := range attempts {
		if c.Err != nil {
			break
		}
		res, err := VerifyBundleBytes(c.Name, c.Data, o)
		if err != nil {
			lastErr = err
			continue
		}
		br.Signer, br.PredicateType, br.payload = res.Signer, res.PredicateType, res.PayloadDigest
		switch {
		case p.PredicateType != "" && res.PredicateType != p.PredicateType:
			br.Reason = fmt.Sprintf("predicate type %s, want %s", res.PredicateType, p.PredicateType)
		case p.Revoked[res.Signer]:
			br.Reason = "signer key " + res.Signer + " is revoked"
		case res.PayloadDigest == "":
			br.Reason = "not an in-toto attestation"
		default:
			br.Verified = true
			br.Reason = "verified"
		}
		return br
	}
	switch {
	case c.Err == nil && len(p.Keys) > 0 && !signedByAny(c.Data, p.Keys):
		// The usual case for another signer's bundle: say so, rather than
		// sigstore-go's "accepted signatures do not match threshold,
		// Found: 0, Expected 1", which reads like --threshold.
		br.Reason = ReasonUntrustedKey
		if p.Certificate.TrustedRoot != "" {
			br.Reason += " and " + reasonOf(lastErr)
		}
	case lastErr != nil:
		br.Reason = reasonOf(lastErr)
	}
	return br
}

// ReasonUntrustedKey is a bundle's reason when its signature verifies
// under none of the trusted keys.
const ReasonUntrustedKey = "not signed by a trusted key"

// signedByAny reports whether some signature of the bundle's DSSE
// envelope verifies under one of the keys. It only chooses the message for
// a bundle that sigstore-go refused: acceptance is sigstore-go's alone. A
// bundle that is not a DSSE bundle (a message signature) counts as signed:
// its refusal keeps sigstore-go's reason.
func signedByAny(data []byte, keys [][]byte) bool {
	b := &bundle.Bundle{}
	if err := b.UnmarshalJSON(data); err != nil {
		return true
	}
	env := b.GetDsseEnvelope()
	if env == nil {
		return true
	}
	pae := dsse.PAE(env.PayloadType, env.Payload)
	for _, k := range keys {
		pub, err := cryptoutils.UnmarshalPEMToPublicKey(k)
		if err != nil {
			continue
		}
		v, err := signature.LoadDefaultVerifier(pub)
		if err != nil {
			continue
		}
		for _, sig := range env.Signatures {
			if v.VerifySignature(bytes.NewReader(sig.Sig), bytes.NewReader(pae)) == nil {
				return true
			}
		}
	}
	return false
}

func reasonOf(err error) string {
	s := err.Error()
	s = strings.TrimPrefix(s, ErrVerification.Error()+": ")
	if i := strings.Index(s, "\n"); i >= 0 {
		s = s[:i]
	}
	return s
}
