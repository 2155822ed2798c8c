package verify

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/sigstore/sigstore-go/pkg/bundle"
)

// FuzzLoadBundle: reading and verifying an arbitrary bundle never panics.
func FuzzLoadBundle(f *testing.F) {
	f.Add([]byte(`{"mediaType":"application/vnd.dev.sigstore.bundle.v0.3+json","verificationMaterial":{"publicKey":{"hint":"x"}},"dsseEnvelope":{"payload":"e30=","payloadType":"application/vnd.in-toto+json","signatures":[{"sig":"AAAA"}]}}`))
	f.Add([]byte(`{"mediaType":"application/vnd.dev.sigstore.bundle+json;version=0.1","verificationMaterial":{"x509CertificateChain":{"certificates":[{"rawBytes":"AAAA"}]}},"messageSignature":{"messageDigest":{"algorithm":"SHA2_256","digest":"AAAA"},"signature":"AAAA"}}`))
	f.Add([]byte(`{}`))
	key := []byte("-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE0ZcmqZ9ZQWdPzOX2ZnEyqU+MUb2Z\nL2ctL1JHQ1D8z6CqI0k8hVxQ0sw/4p8kVYXvbk5s3ZY6O1qo6M4u2b8z7w==\n-----END PUBLIC KEY-----\n")
	f.Fuzz(func(t *testing.T, data []byte) {
		var b bundle.Bundle
		_ = b.UnmarshalJSON(data)
		p := filepath.Join(t.TempDir(), "b.json")
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		_, _ = VerifyBundle(p, BundleOptions{KeyPEM: key, ArtifactDigest: "sha256:" + "00"})
	})
}
