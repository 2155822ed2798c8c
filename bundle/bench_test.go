package bundle_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/stella-ops/stella-oras/bundle"
	"github.com/stella-ops/stella-oras/verify"
)

// BenchmarkSignVerify: sign and verify a 1 MB statement, per algorithm.
func BenchmarkSignVerify(b *testing.B) {
	pred := []byte(fmt.Sprintf(`{"blob":%q}`, strings.Repeat("x", 1<<20)))
	st, err := bundle.NewStatement("x", imageDigest, bundle.PredicateVerdict, pred)
	if err != nil {
		b.Fatal(err)
	}
	for _, alg := range bundle.Algorithms() {
		k, _ := bundle.GenerateKey(alg)
		kp, _ := bundle.NewKeypair(k)
		pub, _ := bundle.MarshalPublicKey(k.Public())
		var signed []byte
		b.Run("sign/"+alg, func(b *testing.B) {
			b.SetBytes(int64(len(st)))
			for b.Loop() {
				signed, err = bundle.SignStatement(context.Background(), st, kp)
				if err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run("verify/"+alg, func(b *testing.B) {
			b.SetBytes(int64(len(st)))
			for b.Loop() {
				if _, err := verify.VerifyBundleBytes("b", signed, verify.BundleOptions{KeyPEM: pub, ArtifactDigest: imageDigest}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
