// Package keyid names a public key the way stella-oras reports signers: the
// SHA-256 of the key's PKIX (SubjectPublicKeyInfo) DER, in lower-case hex.
// It sits below both bundle (which signs and puts the ID in the bundle's
// key hint) and verify (which reports it as the signer), so neither needs
// the other for it.
package keyid

import (
	"crypto"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
)

// Of is the key ID of pub: hex SHA-256 of its PKIX DER.
func Of(pub crypto.PublicKey) (string, error) {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(der)
	return hex.EncodeToString(sum[:]), nil
}
