package keyid

import (
	"crypto/x509"
	"encoding/pem"
	"testing"
)

// TestOf pins the ID of a fixed P-256 key to the value openssl gives
// (openssl pkey -pubin -outform DER | sha256sum), and refuses a key type
// PKIX cannot encode.
func TestOf(t *testing.T) {
	const pubPEM = `-----BEGIN PUBLIC KEY-----
MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAExRRST79+PsrRBnGAI4cMu6Omz2Jh
fwlMW+gIutNKVRaMyS4rQKvgngc5p8UbLj55pVHhIoAxi/SRgURZI0J3Xw==
-----END PUBLIC KEY-----
`
	blk, _ := pem.Decode([]byte(pubPEM))
	pub, err := x509.ParsePKIXPublicKey(blk.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	const want = "4cb32c4837c6dda8cfb1681efb3fef5f94ffce5b979e6bdb9139302c857af139"
	if got, err := Of(pub); err != nil || got != want {
		t.Errorf("Of(P-256 key) = %q, %v, want %q", got, err, want)
	}
	if _, err := Of("not a key"); err == nil {
		t.Error(`Of("not a key") succeeded, want an error`)
	}
}
