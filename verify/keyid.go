package verify

import (
	"crypto"

	"github.com/stella-ops/stella-oras/internal/keyid"
)

// KeyID is the SHA-256 of the public key's PKIX DER, in hex: the Signer a
// key-verified Result reports (bundle.KeyID gives the same ID).
func KeyID(pub crypto.PublicKey) (string, error) {
	return keyid.Of(pub)
}
