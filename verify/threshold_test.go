package verify

import (
	"context"
	"crypto"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/stella-ops/stella-oras/bundle"
	"github.com/stella-ops/stella-oras/canon"
)

const (
	imageA = "sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	imageB = "sha256:bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
)

// testKey is a generated signing key with its public PEM and key ID.
type testKey struct {
	priv crypto.Signer
	pem  []byte
	id   string
}

func newTestKey(t *testing.T, alg string) testKey {
	t.Helper()
	k, err := bundle.GenerateKey(alg)
	if err != nil {
		t.Fatal(err)
	}
	p, err := bundle.MarshalPublicKey(k.Public())
	if err != nil {
		t.Fatal(err)
	}
	id, err := bundle.KeyID(k.Public())
	if err != nil {
		t.Fatal(err)
	}
	return testKey{priv: k, pem: p, id: id}
}

// sign makes a Sigstore bundle of an in-toto statement about subject.
func (k testKey) sign(t *testing.T, subject, predicateType, predicate string) []byte {
	t.Helper()
	st, err := bundle.NewStatement("registry.example/app", subject, predicateType, []byte(predicate))
	if err != nil {
		t.Fatal(err)
	}
	kp, err := bundle.NewKeypair(k.priv)
	if err != nil {
		t.Fatal(err)
	}
	b, err := bundle.SignStatement(context.Background(), st, kp)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// revocationList signs a revocation list of ids as `key revoke` does.
func (k testKey) revocationList(t *testing.T, ids ...string) []byte {
	t.Helper()
	pred, err := canon.Marshal(Revocations{RevokedKeyIDs: ids})
	if err != nil {
		t.Fatal(err)
	}
	return k.sign(t, canon.ContentID(pred), PredicateRevocations, string(pred))
}

func pems(ks ...testKey) [][]byte {
	var out [][]byte
	for _, k := range ks {
		out = append(out, k.pem)
	}
	return out
}

func sortedIDs(ks ...testKey) []string {
	var out []string
	for _, k := range ks {
		out = append(out, k.id)
	}
	slices.Sort(out)
	return out
}

// TestEvaluateImageThreshold: k of n distinct listed keys must sign one
// statement about the image; the same key twice counts once; a key outside
// the trust set, a statement about another image, of another predicate
// type, or another statement of the image does not add to the count.
func TestEvaluateImageThreshold(t *testing.T) {
	k1, k2, k3 := newTestKey(t, "ecdsa-p256"), newTestKey(t, "ed25519"), newTestKey(t, "ecdsa-p256")
	outsider := newTestKey(t, "ecdsa-p256")
	const verdict = `{"status":"pass"}`
	s1, s2, s3 := k1.sign(t, imageA, bundle.PredicateVerdict, verdict), k2.sign(t, imageA, bundle.PredicateVerdict, verdict), k3.sign(t, imageA, bundle.PredicateVerdict, verdict)
	trusted := pems(k1, k2, k3)
	// Two statements of the image, one signer each: the report names the
	// signer of the one with the least payload digest.
	other := k2.sign(t, imageA, bundle.PredicateVerdict, `{"status":"fail"}`)
	tieWinner := []string{k1.id}
	if payloadDigest(t, other, k2) < payloadDigest(t, s1, k1) {
		tieWinner = []string{k2.id}
	}
	cand := func(name string, data []byte) Candidate { return Candidate{Name: name, Data: data} }
	tests := []struct {
		name      string
		cands     []Candidate
		threshold int
		predType  string
		revoked   map[string]bool
		// want
		satisfied bool
		signers   []string
		reason    string
		verified  []string // names of the bundles reported verified
	}{
		{
			name:  "1 of 3, threshold 0 means 1",
			cands: []Candidate{cand("b1", s1)}, threshold: 0,
			satisfied: true, signers: sortedIDs(k1), reason: "1 signer verified (1 required)", verified: []string{"b1"},
		},
		{
			name:  "2 of 3",
			cands: []Candidate{cand("b1", s1), cand("b2", s2)}, threshold: 2,
			satisfied: true, signers: sortedIDs(k1, k2), reason: "2 signers verified (2 required)", verified: []string{"b1", "b2"},
		},
		{
			name:  "3 of 3",
			cands: []Candidate{cand("b3", s3), cand("b1", s1), cand("b2", s2)}, threshold: 3,
			satisfied: true, signers: sortedIDs(k1, k2, k3), reason: "3 signers verified (3 required)", verified: []string{"b1", "b2", "b3"},
		},
		{
			name: "the same key twice counts once",
			// two bundles of one key over the same statement (ECDSA
			// signatures differ, the payload is the same)
			cands: []Candidate{cand("b1", s1), cand("b1-again", k1.sign(t, imageA, bundle.PredicateVerdict, verdict))}, threshold: 2,
			signers: sortedIDs(k1), reason: "threshold not met: 1 signer verified, 2 required (distinct keys signing one statement)", verified: []string{"b1", "b1-again"},
		},
		{
			name:  "a key outside the trust set is ignored",
			cands: []Candidate{cand("b1", s1), cand("outsider", outsider.sign(t, imageA, bundle.PredicateVerdict, verdict))}, threshold: 2,
			signers: sortedIDs(k1), reason: "threshold not met: 1 signer verified, 2 required (distinct keys signing one statement)", verified: []string{"b1"},
		},
		{
			name:  "signers of different statements do not add up",
			cands: []Candidate{cand("b1", s1), cand("b2", other)}, threshold: 2,
			signers: tieWinner, reason: "threshold not met: 1 signer verified, 2 required (distinct keys signing one statement)", verified: []string{"b1", "b2"},
		},
		{
			name:  "a statement about another image is not counted",
			cands: []Candidate{cand("b1", s1), cand("b2", k2.sign(t, imageB, bundle.PredicateVerdict, verdict))}, threshold: 2,
			signers: sortedIDs(k1), reason: "threshold not met: 1 signer verified, 2 required (distinct keys signing one statement)", verified: []string{"b1"},
		},
		{
			name:  "another predicate type is not counted",
			cands: []Candidate{cand("b1", s1), cand("b2", k2.sign(t, imageA, bundle.PredicateDelta, verdict))}, threshold: 1, predType: bundle.PredicateDelta,
			satisfied: true, signers: sortedIDs(k2), reason: "1 signer verified (1 required)", verified: []string{"b2"},
		},
		{
			name:  "a revoked key's bundles do not count",
			cands: []Candidate{cand("b1", s1), cand("b2", s2), cand("b3", s3)}, threshold: 3, revoked: map[string]bool{k2.id: true},
			signers: sortedIDs(k1, k3), reason: "threshold not met: 2 signers verified, 3 required (distinct keys signing one statement)", verified: []string{"b1", "b3"},
		},
		{
			name:  "an unreadable candidate fails with its reason",
			cands: []Candidate{{Name: "bad", Err: errors.New("layer media type text/plain")}, cand("b1", s1)}, threshold: 1,
			satisfied: true, signers: sortedIDs(k1), reason: "1 signer verified (1 required)", verified: []string{"b1"},
		},
		{
			name:  "not a bundle",
			cands: []Candidate{cand("junk", []byte(`{"mediaType":"x"}`))}, threshold: 1,
			reason: "threshold not met: 0 signers verified, 1 required (distinct keys signing one statement)",
		},
		{
			name: "no candidates", threshold: 1,
			reason: "no Sigstore bundle refers to the image",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rep, err := EvaluateImage(tt.cands, ImagePolicy{ImageDigest: imageA, Keys: trusted, Threshold: tt.threshold, PredicateType: tt.predType, Revoked: tt.revoked})
			if err != nil {
				t.Fatalf("EvaluateImage() error = %v", err)
			}
			if rep.Satisfied != tt.satisfied || rep.Reason != tt.reason {
				t.Errorf("EvaluateImage() = satisfied %v, %q, want %v, %q", rep.Satisfied, rep.Reason, tt.satisfied, tt.reason)
			}
			wantTh := max(tt.threshold, 1)
			if rep.Threshold != wantTh || rep.Image != imageA {
				t.Errorf("EvaluateImage() = threshold %d, image %s, want %d, %s", rep.Threshold, rep.Image, wantTh, imageA)
			}
			if diff := cmp.Diff(tt.signers, rep.Signers, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("EvaluateImage().Signers (-want +got):\n%s", diff)
			}
			var verified, names []string
			for _, b := range rep.Bundles {
				names = append(names, b.Bundle)
				if b.Verified {
					verified = append(verified, b.Bundle)
				} else if b.Reason == "" {
					t.Errorf("bundle %s is refused without a reason", b.Bundle)
				}
			}
			if diff := cmp.Diff(tt.verified, verified, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("verified bundles (-want +got):\n%s", diff)
			}
			if len(names) != len(tt.cands) || !slices.IsSorted(names) {
				t.Errorf("EvaluateImage().Bundles = %v, want every candidate, sorted by name", names)
			}
		})
	}
}

// TestEvaluateImageReasons: a refused bundle says why.
func TestEvaluateImageReasons(t *testing.T) {
	k1, k2 := newTestKey(t, "ecdsa-p256"), newTestKey(t, "ecdsa-p256")
	cands := []Candidate{
		{Name: "1-revoked", Data: k1.sign(t, imageA, bundle.PredicateVerdict, `{}`)},
		{Name: "2-type", Data: k2.sign(t, imageA, bundle.PredicateDelta, `{}`)},
		{Name: "3-unreadable", Err: errors.New("layer media type text/plain")},
	}
	rep, err := EvaluateImage(cands, ImagePolicy{ImageDigest: imageA, Keys: pems(k1, k2), PredicateType: bundle.PredicateVerdict, Revoked: map[string]bool{k1.id: true}})
	if err != nil {
		t.Fatal(err)
	}
	want := []BundleReport{
		{Bundle: "1-revoked", Signer: k1.id, PredicateType: bundle.PredicateVerdict, Reason: "signer key " + k1.id + " is revoked"},
		{Bundle: "2-type", Signer: k2.id, PredicateType: bundle.PredicateDelta, Reason: fmt.Sprintf("predicate type %s, want %s", bundle.PredicateDelta, bundle.PredicateVerdict)},
		{Bundle: "3-unreadable", Reason: "layer media type text/plain"},
	}
	if diff := cmp.Diff(want, rep.Bundles, cmp.AllowUnexported(BundleReport{}), cmp.FilterPath(func(p cmp.Path) bool { return p.Last().String() == ".payload" }, cmp.Ignore())); diff != "" {
		t.Errorf("EvaluateImage().Bundles (-want +got):\n%s", diff)
	}
	if rep.Satisfied {
		t.Error("EvaluateImage() satisfied with every bundle refused")
	}
}

// TestEvaluateImageOrderFree: the report does not depend on the order
// the candidates come in.
func TestEvaluateImageOrderFree(t *testing.T) {
	k1, k2, k3 := newTestKey(t, "ecdsa-p256"), newTestKey(t, "ecdsa-p256"), newTestKey(t, "ecdsa-p256")
	var cands []Candidate
	for i, k := range []testKey{k1, k2, k3} {
		cands = append(cands, Candidate{Name: fmt.Sprint("b", i), Data: k.sign(t, imageA, bundle.PredicateVerdict, `{}`)})
	}
	p := ImagePolicy{ImageDigest: imageA, Keys: pems(k1, k2, k3), Threshold: 2}
	first, err := EvaluateImage(cands, p)
	if err != nil {
		t.Fatal(err)
	}
	slices.Reverse(cands)
	again, err := EvaluateImage(cands, p)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(first, again, cmp.AllowUnexported(BundleReport{})); diff != "" {
		t.Errorf("reversed candidates (-first +reversed):\n%s", diff)
	}
}

// TestEvaluateImageInput: a policy that cannot be met or checked is an
// input error, not a verification failure: a threshold above the number
// of distinct keys (a key listed twice counts once), a key that does not
// parse.
func TestEvaluateImageInput(t *testing.T) {
	k1, k2 := newTestKey(t, "ecdsa-p256"), newTestKey(t, "ecdsa-p256")
	s1 := []Candidate{{Name: "b1", Data: k1.sign(t, imageA, bundle.PredicateVerdict, `{}`)}}
	for name, p := range map[string]ImagePolicy{
		"no key":                    {ImageDigest: imageA},
		"threshold above the keys":  {ImageDigest: imageA, Keys: pems(k1, k2), Threshold: 3},
		"the same key listed twice": {ImageDigest: imageA, Keys: pems(k1, k1), Threshold: 2},
		"a key that does not parse": {ImageDigest: imageA, Keys: [][]byte{k1.pem, []byte("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n")}},
	} {
		if rep, err := EvaluateImage(s1, p); !errors.Is(err, ErrInput) {
			t.Errorf("%s: EvaluateImage() = %+v, %v, want ErrInput", name, rep, err)
		}
	}
}

// TestLoadRevocations: a list signed by a trusted key gives its key IDs;
// one signed by another key, one that revokes its own signer, another
// predicate type or a tampered list is a verification failure; no trusted
// key at all is an input error.
func TestLoadRevocations(t *testing.T) {
	signer, other, revokedA, revokedB := newTestKey(t, "ecdsa-p256"), newTestKey(t, "ed25519"), newTestKey(t, "ecdsa-p256"), newTestKey(t, "ed25519")
	list := signer.revocationList(t, sortedIDs(revokedA, revokedB)...)
	got, err := LoadRevocations("list", list, pems(other, signer))
	if err != nil {
		t.Fatalf("LoadRevocations() error = %v", err)
	}
	if diff := cmp.Diff(map[string]bool{revokedA.id: true, revokedB.id: true}, got); diff != "" {
		t.Errorf("LoadRevocations() (-want +got):\n%s", diff)
	}
	tampered := []byte(strings.Replace(string(list), `"payload":"ey`, `"payload":"Ey`, 1))
	for name, c := range map[string]struct {
		data []byte
		keys [][]byte
	}{
		"signed by an untrusted key": {list, pems(other)},
		"revokes its own signer":     {signer.revocationList(t, sortedIDs(signer, revokedA)...), pems(signer)},
		"a verdict, not a list":      {signer.sign(t, imageA, bundle.PredicateVerdict, `{"revoked_key_ids":[]}`), pems(signer)},
		"tampered payload":           {tampered, pems(signer)},
		"not a bundle":               {[]byte(`{}`), pems(signer)},
	} {
		if got, err := LoadRevocations(name, c.data, c.keys); !errors.Is(err, ErrVerification) {
			t.Errorf("%s: LoadRevocations() = %v, %v, want ErrVerification", name, got, err)
		}
	}
	// Signed by none of several keys: said so, not as the last key's
	// sigstore-go threshold message.
	if _, err := LoadRevocations("list", list, pems(other, newTestKey(t, "ed25519"))); !errors.Is(err, ErrVerification) || !strings.Contains(err.Error(), "no signature verifies under any of the 2 revocation keys") {
		t.Errorf("signed by none of 2 keys: LoadRevocations() = %v, want that said", err)
	}
	if got, err := LoadRevocations("list", list, nil); !errors.Is(err, ErrInput) {
		t.Errorf("no trusted key: LoadRevocations() = %v, %v, want ErrInput", got, err)
	}
}

// TestRevocationListRevokes: keys revoked by a verified list stop
// counting towards the threshold.
func TestRevocationListRevokes(t *testing.T) {
	admin, k1, k2 := newTestKey(t, "ecdsa-p256"), newTestKey(t, "ecdsa-p256"), newTestKey(t, "ed25519")
	cands := []Candidate{
		{Name: "b1", Data: k1.sign(t, imageA, bundle.PredicateVerdict, `{}`)},
		{Name: "b2", Data: k2.sign(t, imageA, bundle.PredicateVerdict, `{}`)},
	}
	trusted := pems(admin, k1, k2)
	p := ImagePolicy{ImageDigest: imageA, Keys: trusted, Threshold: 2}
	if rep, err := EvaluateImage(cands, p); err != nil || !rep.Satisfied {
		t.Fatalf("before revocation: EvaluateImage() = %+v, %v, want satisfied", rep, err)
	}
	rev, err := LoadRevocations("list", admin.revocationList(t, k2.id), trusted)
	if err != nil {
		t.Fatal(err)
	}
	p.Revoked = rev
	rep, err := EvaluateImage(cands, p)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Satisfied || !slices.Equal(rep.Signers, []string{k1.id}) {
		t.Errorf("after revoking k2: EvaluateImage() = satisfied %v, signers %v, want unsatisfied with k1 alone", rep.Satisfied, rep.Signers)
	}
}

// TestEvaluateImageDuplicateKey: a key listed twice is one key, for
// verification as for the threshold.
func TestEvaluateImageDuplicateKey(t *testing.T) {
	k1 := newTestKey(t, "ecdsa-p256")
	rep, err := EvaluateImage([]Candidate{{Name: "b1", Data: k1.sign(t, imageA, bundle.PredicateVerdict, `{}`)}}, ImagePolicy{ImageDigest: imageA, Keys: pems(k1, k1)})
	if err != nil || !rep.Satisfied || !slices.Equal(rep.Signers, []string{k1.id}) {
		t.Errorf("EvaluateImage(k1 twice, threshold 1) = %+v, %v, want satisfied by k1", rep, err)
	}
}

func payloadDigest(t *testing.T, b []byte, k testKey) string {
	t.Helper()
	res, err := VerifyBundleBytes("b", b, BundleOptions{KeyPEM: k.pem, ArtifactDigest: imageA})
	if err != nil {
		t.Fatal(err)
	}
	return res.PayloadDigest
}

// TestEvaluateImageTie: when statements tie for the most signers, every
// evaluation reports the same one (the least payload digest), whatever
// the map order.
func TestEvaluateImageTie(t *testing.T) {
	var keys []testKey
	var cands []Candidate
	want := ""
	var wantSigner string
	for i := range 4 {
		k := newTestKey(t, "ed25519")
		keys = append(keys, k)
		b := k.sign(t, imageA, bundle.PredicateVerdict, fmt.Sprintf(`{"n":%d}`, i))
		cands = append(cands, Candidate{Name: fmt.Sprint("b", i), Data: b})
		if d := payloadDigest(t, b, k); want == "" || d < want {
			want, wantSigner = d, k.id
		}
	}
	for range 20 {
		rep, err := EvaluateImage(cands, ImagePolicy{ImageDigest: imageA, Keys: pems(keys...)})
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(rep.Signers, []string{wantSigner}) {
			t.Fatalf("EvaluateImage().Signers = %v, want [%s] (the statement %s)", rep.Signers, wantSigner, want)
		}
	}
}

// TestEvaluateImageUntrustedReason: a bundle signed by a key outside the
// trust set says so, not sigstore-go's "Found: 0, Expected 1" (which reads
// like the threshold); a trusted key's bundle that fails for another
// reason (it names another image) keeps that reason.
func TestEvaluateImageUntrustedReason(t *testing.T) {
	k1, outsider := newTestKey(t, "ecdsa-p256"), newTestKey(t, "ed25519")
	cands := []Candidate{
		{Name: "1-outsider", Data: outsider.sign(t, imageA, bundle.PredicateVerdict, `{}`)},
		{Name: "2-other-image", Data: k1.sign(t, imageB, bundle.PredicateVerdict, `{}`)},
	}
	rep, err := EvaluateImage(cands, ImagePolicy{ImageDigest: imageA, Keys: pems(k1)})
	if err != nil {
		t.Fatal(err)
	}
	if got := rep.Bundles[0].Reason; got != ReasonUntrustedKey {
		t.Errorf("outsider's bundle: reason %q, want %q", got, ReasonUntrustedKey)
	}
	if got := rep.Bundles[1].Reason; got == ReasonUntrustedKey || strings.Contains(got, "Found:") || got == "" {
		t.Errorf("trusted key, other image: reason %q, want the subject mismatch", got)
	}
}
