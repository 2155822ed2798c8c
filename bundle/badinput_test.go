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
