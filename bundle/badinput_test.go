package bundle_test

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stella-ops/stella-oras/bundle"
	"github.com/stella-ops/stella-oras/verify"
)

// TestHostileBundles: an envelope with 10,000 signatures and a 50 MB bundle
// are refused as verification failures, quickly and without panicking.
func TestHostileBundles(t *testing.T) {
	k, _ := bundle.GenerateKey("ecdsa-p256")
	kp, _ := bundle.NewKeypair(k)
	st, _ := bundle.NewStatement("x", imageDigest, bundle.PredicateVerdict, []byte(`{}`))
	b, err := bundle.SignStatement(context.Background(), st, kp)
	if err != nil {
		t.Fatal(err)
	}
	pub, _ := bundle.MarshalPublicKey(k.Public())
	var m map[string]any
	json.Unmarshal(b, &m)
	env := m["dsseEnvelope"].(map[string]any)
	sig := env["signatures"].([]any)[0]
	many := make([]any, 10000)
	for i := range many {
		many[i] = sig
	}
	env["signatures"] = many
	big, _ := json.Marshal(m)
	if _, err := verify.VerifyBundleBytes("many", big, verify.BundleOptions{KeyPEM: pub, ArtifactDigest: imageDigest}); !errors.Is(err, verify.ErrVerification) {
		t.Errorf("10,000 signatures: %v", err)
	}
	p := filepath.Join(t.TempDir(), "huge.json")
	f, _ := os.Create(p)
	f.Truncate(50 << 20)
	f.Close()
	if _, err := verify.VerifyBundle(p, verify.BundleOptions{KeyPEM: pub, ArtifactDigest: imageDigest}); !errors.Is(err, verify.ErrVerification) || !strings.Contains(err.Error(), "larger than") {
		t.Errorf("50 MB bundle: %v", err)
	}
	if _, err := verify.VerifyBundleBytes("media", []byte(strings.Replace(string(b), "bundle.v0.3+json", "bundle.v9+json", 1)), verify.BundleOptions{KeyPEM: pub, ArtifactDigest: imageDigest}); !errors.Is(err, verify.ErrVerification) {
		t.Errorf("unknown bundle media type: %v", err)
	}
}

// TestParsePublicKey: a public key parses to the key whose ID KeyID gives;
// a private key (encrypted or not) is ErrPrivateKey; other text is ErrKey.
func TestParsePublicKey(t *testing.T) {
	k, _ := bundle.GenerateKey("ed25519")
	pub, _ := bundle.MarshalPublicKey(k.Public())
	got, err := bundle.ParsePublicKey(pub)
	if err != nil {
		t.Fatalf("ParsePublicKey(public) error = %v", err)
	}
	if a, b := mustKeyID(t, got), mustKeyID(t, k.Public()); a != b {
		t.Errorf("ParsePublicKey(public) = key %s, want %s", a, b)
	}
	enc, _ := bundle.MarshalPrivateKey(k, []byte("pw"))
	empty, _ := bundle.MarshalPrivateKey(k, nil)
	for name, p := range map[string][]byte{"encrypted": enc, "sigstore": empty} {
		if _, err := bundle.ParsePublicKey(p); !errors.Is(err, bundle.ErrPrivateKey) || !errors.Is(err, bundle.ErrKey) {
			t.Errorf("ParsePublicKey(%s private key) error = %v, want ErrPrivateKey (an ErrKey)", name, err)
		}
	}
	for _, junk := range []string{`{"status":"pass"}`, "-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n"} {
		if _, err := bundle.ParsePublicKey([]byte(junk)); !errors.Is(err, bundle.ErrKey) || errors.Is(err, bundle.ErrPrivateKey) {
			t.Errorf("ParsePublicKey(%.20q) error = %v, want ErrKey", junk, err)
		}
	}
}

func mustKeyID(t *testing.T, pub any) string {
	t.Helper()
	id, err := bundle.KeyID(pub)
	if err != nil {
		t.Fatal(err)
	}
	return id
}
