package verify

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stella-ops/stella-oras/internal/testutil"
)

// TestEvaluateImageCertificate: a certificate-signed DSSE bundle from the
// corpus (public-good Fulcio certificate, Rekor entry, SLSA v0.2 statement
// v0.1) is accepted for the digest its statement names, under the identity
// and issuer of its certificate, and refused for another identity or
// another digest.
func TestEvaluateImageCertificate(t *testing.T) {
	dir := filepath.Join(testutil.Corpus(t), "sigstore/sigstore-go/testdata")
	data, err := os.ReadFile(filepath.Join(dir, "bundles/dsse.sigstore.json"))
	if err != nil {
		t.Fatal(err)
	}
	subject := "sha512:bbfd372fc9beeb777fe35d05bb10c0c70a9733d366a75fed7dd18866c7391de3ee7e88ba74dd47abf3e15c845e547fcf0e5c3da80854c751554224d3a6d4e55f"
	cert := BundleOptions{TrustedRoot: filepath.Join(dir, "trusted-roots/public-good.json"), Identity: "brian@dehamer.com", Issuer: "https://github.com/login/oauth"}
	cands := []Candidate{{Name: "dsse", Data: data}}
	rep, err := EvaluateImage(cands, ImagePolicy{ImageDigest: subject, Certificate: cert, PredicateType: "https://slsa.dev/provenance/v0.2"})
	if err != nil || !rep.Satisfied || rep.Bundles[0].Signer != "brian@dehamer.com" {
		t.Fatalf("certificate policy: %+v (%v)", rep, err)
	}
	wrong := cert
	wrong.Identity = "someone@else.example"
	if rep, _ := EvaluateImage(cands, ImagePolicy{ImageDigest: subject, Certificate: wrong}); rep.Satisfied {
		t.Error("another identity was accepted")
	}
	other := "sha512:" + subject[len("sha512:")+1:] + "0"
	if rep, _ := EvaluateImage(cands, ImagePolicy{ImageDigest: other, Certificate: cert}); rep.Satisfied {
		t.Error("another digest was accepted")
	}
}

// TestBundleInputsCheckedFirst: a malformed --artifact-digest or
// --trusted-root is ErrInput (exit 1) whatever the bundle holds. Before,
// the bundle was parsed first, so a malformed bundle with a malformed
// digest or root was a verification failure (exit 4).
func TestBundleInputsCheckedFirst(t *testing.T) {
	badRoot := filepath.Join(t.TempDir(), "root.json")
	os.WriteFile(badRoot, []byte("not a root"), 0o600)
	for name, o := range map[string]BundleOptions{
		"digest": {ArtifactDigest: "sha256:zz", Identity: "a@example.com", Issuer: "https://issuer.example"},
		"root":   {TrustedRoot: badRoot, Identity: "a@example.com", Issuer: "https://issuer.example"},
	} {
		for _, bundle := range []string{"garbage", "{}", strings.Repeat(" ", MaxBundleBytes+1)} {
			if _, err := VerifyBundleBytes("b.json", []byte(bundle), o); !errors.Is(err, ErrInput) || errors.Is(err, ErrVerification) {
				t.Errorf("malformed %s with bundle %.10q: %v, want ErrInput", name, bundle, err)
			}
		}
		big := filepath.Join(t.TempDir(), "big.json")
		os.WriteFile(big, make([]byte, MaxBundleBytes+1), 0o600)
		if _, err := VerifyBundle(big, o); !errors.Is(err, ErrInput) || errors.Is(err, ErrVerification) {
			t.Errorf("malformed %s with a bundle file over the bound: %v, want ErrInput", name, err)
		}
	}
}
