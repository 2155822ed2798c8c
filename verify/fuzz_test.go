package verify

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	sgbundle "github.com/sigstore/sigstore-go/pkg/bundle"
	"github.com/sigstore/sigstore/pkg/cryptoutils"

	"github.com/stella-ops/stella-oras/bundle"
	"github.com/stella-ops/stella-oras/canon"
)

var update = flag.Bool("update", false, "regenerate the fuzz seed keys and bundles in testdata")

// The fuzz seeds are real bundles, signed once (go test -run FuzzLoadBundle
// -update ./verify/) by keys generated then, whose private halves were
// thrown away: the public keys are in testdata/fuzzkeys, the bundles in
// testdata/fuzz/FuzzLoadBundle/seed-*. Fixed seeds (rather than bundles
// signed afresh each run) keep the fuzzer's cached corpus meaningful from
// one run to the next and make "equal to an original" a fixed set.
var (
	seedAlgorithms = []string{"ecdsa-p256", "ed25519"}
	seedKeyDir     = filepath.Join("testdata", "fuzzkeys")
	seedCorpusDir  = filepath.Join("testdata", "fuzz", "FuzzLoadBundle")
)

// seedArtifact is the artifact the verdict seeds are about: an image
// manifest, whose digest is the statement's subject.
const seedArtifact = `{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.empty.v1+json","digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a","size":2},"layers":[]}`

func seedArtifactDigest() string {
	sum := sha256.Sum256([]byte(seedArtifact))
	return "sha256:" + hex.EncodeToString(sum[:])
}

// seedKey is a trusted public key of the seeds.
type seedKey struct {
	alg string
	pem []byte
	id  string
}

// original is one seed bundle and what verifying it gives.
type original struct {
	name    string
	key     int // index into the seed keys
	data    []byte
	content signedContent
	result  Result   // MediaType left out: the bundle's mediaType is not signed
	revoked []string // for a revocation list, the IDs it revokes
}

// signedContent is what a DSSE signature covers (the payload type and the
// payload, PAE-encoded) and the signature itself.
type signedContent struct {
	payloadType string
	payload     []byte
	sigs        [][]byte
}

func (c signedContent) equal(o signedContent) bool {
	return c.payloadType == o.payloadType && bytes.Equal(c.payload, o.payload) &&
		slices.EqualFunc(c.sigs, o.sigs, bytes.Equal)
}

// dsseContent reads the envelope out of a bundle as sigstore-go parses it
// (the parser verification uses), or ok=false.
func dsseContent(data []byte) (signedContent, bool) {
	var b sgbundle.Bundle
	if err := b.UnmarshalJSON(data); err != nil {
		return signedContent{}, false
	}
	env := b.GetDsseEnvelope()
	if env == nil {
		return signedContent{}, false
	}
	c := signedContent{payloadType: env.PayloadType, payload: env.Payload}
	for _, s := range env.Signatures {
		c.sigs = append(c.sigs, s.Sig)
	}
	return c, true
}

// FuzzLoadBundle checks what verification promises, on inputs that reach
// it: the seeds are real signed bundles, so a mutation that still parses
// goes on to the signature, subject and policy checks.
//
//   - An original verifies under its own key, with the result it had when
//     signed, and under no other key.
//   - Anything that verifies under a seed key carries exactly the signed
//     content (payload type, payload, signature bytes) of an original
//     signed by that key, and gives that original's signer, predicate type
//     and payload digest. Changes that keep that content (JSON whitespace,
//     key order, base64 spelling, the unsigned key hint) may verify;
//     nothing else may.
//   - Every refusal is ErrVerification: the options are valid, so a bad
//     bundle is never reported as bad input.
//   - LoadRevocations accepts only an original revocation list, with its
//     revoked IDs.
func FuzzLoadBundle(f *testing.F) {
	if *update {
		writeSeeds(f)
	}
	keys, origs := loadSeeds(f)
	digest := seedArtifactDigest()
	allPEMs := make([][]byte, len(keys))
	for i, k := range keys {
		allPEMs[i] = k.pem
	}
	other := "sha256:" + strings.Repeat("0", 64)
	for _, o := range origs {
		if o.result.PredicateType == PredicateRevocations {
			continue
		}
		// The seeds are bound to the artifact: another digest fails.
		if _, err := VerifyBundleBytes(o.name, o.data, BundleOptions{KeyPEM: keys[o.key].pem, ArtifactDigest: other}); !errors.Is(err, ErrVerification) {
			f.Fatalf("VerifyBundleBytes(%s, another digest) = %v, want ErrVerification", o.name, err)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var exact *original
		for i := range origs {
			if bytes.Equal(origs[i].data, data) {
				exact = &origs[i]
			}
		}
		content, parsed := dsseContent(data)
		for ki, k := range keys {
			res, err := VerifyBundleBytes("fuzz", data, BundleOptions{KeyPEM: k.pem, ArtifactDigest: digest})
			if exact != nil && exact.key == ki && exact.result.PredicateType != PredicateRevocations {
				if err != nil {
					t.Fatalf("VerifyBundleBytes(original %s) = %v, want success", exact.name, err)
				}
			}
			if err != nil {
				if !errors.Is(err, ErrVerification) {
					t.Fatalf("VerifyBundleBytes under %s = %v, want ErrVerification", k.alg, err)
				}
				continue
			}
			if !parsed {
				t.Fatalf("a bundle sigstore-go cannot parse as DSSE verified under %s", k.alg)
			}
			o := findOriginal(origs, ki, content)
			if o == nil {
				t.Fatalf("a bundle verified under %s whose signed content is no original's: payload type %q, payload %q, %d signature(s)", k.alg, content.payloadType, content.payload, len(content.sigs))
			}
			if o.result.PredicateType == PredicateRevocations {
				t.Fatalf("%s verified against the artifact digest, which its statement does not name", o.name)
			}
			got := *res
			got.MediaType = ""
			if got != o.result {
				t.Fatalf("VerifyBundleBytes = %+v, want %+v (of %s)", got, o.result, o.name)
			}
		}
		revoked, err := LoadRevocations("fuzz", data, allPEMs)
		if exact != nil && exact.result.PredicateType == PredicateRevocations && err != nil {
			t.Fatalf("LoadRevocations(original %s) = %v, want success", exact.name, err)
		}
		if err != nil {
			return
		}
		var o *original
		for ki := range keys {
			if c := findOriginal(origs, ki, content); c != nil && c.result.PredicateType == PredicateRevocations {
				o = c
			}
		}
		if !parsed || o == nil {
			t.Fatalf("LoadRevocations accepted a list that is no original's: %q", content.payload)
		}
		if got := slices.Sorted(maps.Keys(revoked)); !slices.Equal(got, o.revoked) {
			t.Fatalf("LoadRevocations = %v, want %v (of %s)", got, o.revoked, o.name)
		}
	})
}

func findOriginal(origs []original, key int, c signedContent) *original {
	for i := range origs {
		if origs[i].key == key && origs[i].content.equal(c) {
			return &origs[i]
		}
	}
	return nil
}

// loadSeeds reads the seed keys and bundles and checks that every original
// verifies under its key, and only its key.
func loadSeeds(f *testing.F) ([]seedKey, []original) {
	f.Helper()
	var keys []seedKey
	for _, alg := range seedAlgorithms {
		p, err := os.ReadFile(filepath.Join(seedKeyDir, alg+".pub"))
		if err != nil {
			f.Fatalf("%v (regenerate with -update)", err)
		}
		pub, err := cryptoutils.UnmarshalPEMToPublicKey(p)
		if err != nil {
			f.Fatal(err)
		}
		id, err := KeyID(pub)
		if err != nil {
			f.Fatal(err)
		}
		keys = append(keys, seedKey{alg: alg, pem: p, id: id})
	}
	var origs []original
	for ki, k := range keys {
		for _, kind := range []string{"verdict", "revocations"} {
			name := "seed-" + k.alg + "-" + kind
			raw, err := os.ReadFile(filepath.Join(seedCorpusDir, name))
			if err != nil {
				f.Fatalf("%v (regenerate with -update)", err)
			}
			data, err := parseCorpusEntry(raw)
			if err != nil {
				f.Fatalf("%s: %v", name, err)
			}
			c, ok := dsseContent(data)
			if !ok {
				f.Fatalf("%s: not a DSSE bundle", name)
			}
			sum := sha256.Sum256(c.payload)
			o := original{name: name, key: ki, data: data, content: c, result: Result{Signer: k.id, PayloadDigest: "sha256:" + hex.EncodeToString(sum[:])}}
			opts := BundleOptions{ArtifactDigest: seedArtifactDigest()}
			if kind == "verdict" {
				o.result.PredicateType = bundle.PredicateVerdict
				o.result.SubjectChecked = true // verified against the artifact digest
			} else {
				o.result.PredicateType = PredicateRevocations
				rev, err := LoadRevocations(name, data, [][]byte{k.pem})
				if err != nil {
					f.Fatalf("LoadRevocations(%s) = %v", name, err)
				}
				o.revoked = slices.Sorted(maps.Keys(rev))
				if len(o.revoked) == 0 {
					f.Fatalf("%s revokes nothing", name)
				}
				opts.ArtifactDigest = ""
			}
			for kj, other := range keys {
				opts.KeyPEM = other.pem
				res, err := VerifyBundleBytes(name, data, opts)
				switch {
				case kj == ki && err != nil:
					f.Fatalf("VerifyBundleBytes(%s) = %v, want success", name, err)
				case kj == ki:
					got := *res
					got.MediaType = ""
					if got != o.result {
						f.Fatalf("VerifyBundleBytes(%s) = %+v, want %+v", name, got, o.result)
					}
				case !errors.Is(err, ErrVerification):
					f.Fatalf("VerifyBundleBytes(%s) under the %s key = %v, want ErrVerification", name, other.alg, err)
				}
			}
			origs = append(origs, o)
		}
	}
	return keys, origs
}

// parseCorpusEntry reads a one-value []byte entry of Go's fuzz corpus
// format ("go test fuzz v1" then a []byte("...") line).
func parseCorpusEntry(raw []byte) ([]byte, error) {
	head, body, ok := strings.Cut(string(raw), "\n")
	body = strings.TrimSpace(body)
	if !ok || head != "go test fuzz v1" || !strings.HasPrefix(body, "[]byte(") || !strings.HasSuffix(body, ")") {
		return nil, errors.New("not a go test fuzz v1 []byte entry")
	}
	s, err := strconv.Unquote(strings.TrimSuffix(strings.TrimPrefix(body, "[]byte("), ")"))
	return []byte(s), err
}

// writeSeeds generates the seed keys and signs the seed bundles: for each
// key, a verdict statement about seedArtifact and a revocation list built
// as `stella-oras key revoke` builds it.
func writeSeeds(f *testing.F) {
	f.Helper()
	throwaway, err := bundle.GenerateKey("ecdsa-p256")
	if err != nil {
		f.Fatal(err)
	}
	revokedID, err := bundle.KeyID(throwaway.Public())
	if err != nil {
		f.Fatal(err)
	}
	pred, err := canon.Marshal(Revocations{RevokedKeyIDs: []string{revokedID}})
	if err != nil {
		f.Fatal(err)
	}
	revocations, err := bundle.NewStatement("stella-oras-revocations", canon.ContentID(pred), PredicateRevocations, pred)
	if err != nil {
		f.Fatal(err)
	}
	verdict, err := bundle.NewStatement("registry.example/app", seedArtifactDigest(), bundle.PredicateVerdict,
		[]byte(`{"kind":"stella-ops/verdict/v1","status":"fail","risk_score":98,"unknowns":0,"findings":[{"id":"sha256:`+strings.Repeat("ab", 32)+`","vulnerability":"CVE-2024-45337","purl":"pkg:golang/golang.org/x/crypto@v0.30.0","severity":"critical","outcome":"fail"}]}`))
	if err != nil {
		f.Fatal(err)
	}
	if err := os.MkdirAll(seedKeyDir, 0o755); err != nil {
		f.Fatal(err)
	}
	for _, alg := range seedAlgorithms {
		k, err := bundle.GenerateKey(alg)
		if err != nil {
			f.Fatal(err)
		}
		pub, err := bundle.MarshalPublicKey(k.Public())
		if err != nil {
			f.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(seedKeyDir, alg+".pub"), pub, 0o644); err != nil {
			f.Fatal(err)
		}
		kp, err := bundle.NewKeypair(k)
		if err != nil {
			f.Fatal(err)
		}
		for kind, st := range map[string][]byte{"verdict": verdict, "revocations": revocations} {
			b, err := bundle.SignStatement(context.Background(), st, kp)
			if err != nil {
				f.Fatal(err)
			}
			entry := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", b)
			if err := os.WriteFile(filepath.Join(seedCorpusDir, "seed-"+alg+"-"+kind), []byte(entry), 0o644); err != nil {
				f.Fatal(err)
			}
		}
	}
}
