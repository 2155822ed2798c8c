// Package bundle makes and reads what stella-oras signs: keys, in-toto
// statements, DSSE envelopes inside Sigstore bundles (built with
// sigstore-go), and cosign's OCI storage convention for them.
package bundle

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/secure-systems-lab/go-securesystemslib/encrypted"
	"github.com/sigstore/sigstore/pkg/cryptoutils"
	"github.com/youmark/pkcs8"

	"github.com/stella-ops/stella-oras/internal/keyid"
)

// Sentinel errors for keys.
var (
	ErrKey         = errors.New("invalid key")
	ErrPassphrase  = errors.New("wrong passphrase")
	ErrUnsupported = errors.New("unsupported key algorithm")
	// ErrPrivateKey: a private key was given where a public key is needed
	// (verify --key release.key); it wraps ErrKey.
	ErrPrivateKey = fmt.Errorf("%w: a private key, not a public key", ErrKey)
)

// algorithms are the names GenerateKey accepts.
var algorithms = []string{"ecdsa-p256", "ecdsa-p384", "ed25519", "rsa-3072", "rsa-4096"}

// Algorithms lists the algorithms `key generate` accepts (a copy).
func Algorithms() []string { return slices.Clone(algorithms) }

// GenerateKey makes a private key of the named algorithm.
func GenerateKey(alg string) (crypto.Signer, error) {
	switch alg {
	case "ecdsa-p256":
		return ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case "ecdsa-p384":
		return ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	case "ed25519":
		_, k, err := ed25519.GenerateKey(rand.Reader)
		return k, err
	case "rsa-3072":
		return rsa.GenerateKey(rand.Reader, 3072)
	case "rsa-4096":
		return rsa.GenerateKey(rand.Reader, 4096)
	}
	return nil, fmt.Errorf("%w %q (want one of %s)", ErrUnsupported, alg, strings.Join(algorithms, ", "))
}

// MarshalPrivateKey encodes a key encrypted under the passphrase:
// PKCS#8 PEM ("ENCRYPTED PRIVATE KEY", PBES2 with PBKDF2-SHA256 and
// AES-256-CBC, readable by openssl and by sigstore's cryptoutils). The
// empty passphrase still encrypts, as cosign does with an empty
// COSIGN_PASSWORD: PBES2 libraries treat an empty password as "no
// encryption" (youmark/pkcs8 then writes a plain key), so that key is
// written in sigstore's format ("ENCRYPTED SIGSTORE PRIVATE KEY", scrypt
// and NaCl secretbox, the one cosign writes), never a plain key under a
// label that says encrypted.
func MarshalPrivateKey(k crypto.Signer, passphrase []byte) ([]byte, error) {
	if len(passphrase) == 0 {
		der, err := x509.MarshalPKCS8PrivateKey(k)
		if err != nil {
			return nil, err
		}
		enc, err := encrypted.Encrypt(der, []byte{})
		if err != nil {
			return nil, err
		}
		return pem.EncodeToMemory(&pem.Block{Type: "ENCRYPTED SIGSTORE PRIVATE KEY", Bytes: enc}), nil
	}
	der, err := pkcs8.MarshalPrivateKey(k, passphrase, nil)
	if err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "ENCRYPTED PRIVATE KEY", Bytes: der}), nil
}

// MarshalPublicKey encodes the public key as PKIX PEM.
func MarshalPublicKey(pub crypto.PublicKey) ([]byte, error) {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), nil
}

// KeyID is the SHA-256 of the public key's PKIX DER, in hex (the same ID
// verify reports for a signer).
func KeyID(pub crypto.PublicKey) (string, error) {
	id, err := keyid.Of(pub)
	if err != nil {
		return "", fmt.Errorf("%w: %v", ErrKey, err)
	}
	return id, nil
}

// ParsePublicKey reads a PEM public key (PKIX, PKCS#1 RSA, or a
// certificate's), as verifiers do. A private key is ErrPrivateKey; anything
// else that is not a public key is ErrKey.
func ParsePublicKey(pemBytes []byte) (crypto.PublicKey, error) {
	block, _ := pem.Decode(pemBytes)
	if block == nil {
		return nil, fmt.Errorf("%w: no PEM block", ErrKey)
	}
	if strings.Contains(block.Type, "PRIVATE KEY") {
		return nil, ErrPrivateKey
	}
	pub, err := cryptoutils.UnmarshalPEMToPublicKey(pemBytes)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrKey, err)
	}
	return pub, nil
}

// ParsePrivateKey reads a private key PEM: encrypted PKCS#8, cosign's
// encrypted format (from `cosign generate-key-pair`), or unencrypted
// PKCS#8, SEC1 or PKCS#1. passphrase is asked for only when the key is
// encrypted.
func ParsePrivateKey(pemBytes []byte, passphrase func() ([]byte, error)) (crypto.Signer, error) {
	block, rest := pem.Decode(pemBytes)
	if block == nil {
		return nil, fmt.Errorf("%w: no PEM block", ErrKey)
	}
	if len(strings.TrimSpace(string(rest))) > 0 {
		return nil, fmt.Errorf("%w: more than one PEM block", ErrKey)
	}
	pass := func() ([]byte, error) {
		if passphrase == nil {
			return nil, fmt.Errorf("%w: the key is encrypted and no passphrase was given", ErrPassphrase)
		}
		return passphrase()
	}
	var key any
	var err error
	switch block.Type {
	case "ENCRYPTED PRIVATE KEY":
		if err := checkPBES2(block.Bytes); err != nil {
			return nil, err
		}
		p, perr := pass()
		if perr != nil {
			return nil, perr
		}
		if len(p) == 0 {
			// Versions up to 0.3 wrote plain PKCS#8 under this label for
			// the empty passphrase: read it.
			if key, err = x509.ParsePKCS8PrivateKey(block.Bytes); err == nil {
				break
			}
			// A key encrypted with the empty passphrase (openssl pkcs8
			// -topk8 -passout pass:): youmark/pkcs8 reads an empty
			// password as "not encrypted", so it is given one NUL byte,
			// which derives the same key: PBKDF2 and scrypt key HMAC
			// with the password, and HMAC pads a short key with zeros.
			if key, err = parseEncryptedPKCS8(block.Bytes, []byte{0}); errors.Is(err, ErrKey) {
				return nil, err
			} else if err != nil {
				return nil, fmt.Errorf("%w: the key is encrypted with a passphrase, and the passphrase given is empty", ErrPassphrase)
			}
			break
		}
		key, err = parseEncryptedPKCS8(block.Bytes, p)
		if errors.Is(err, ErrKey) {
			return nil, err
		} else if err != nil {
			return nil, fmt.Errorf("%w (or a corrupt key)", ErrPassphrase)
		}
	case "ENCRYPTED SIGSTORE PRIVATE KEY", "ENCRYPTED COSIGN PRIVATE KEY":
		p, perr := pass()
		if perr != nil {
			return nil, perr
		}
		der, derr := encrypted.Decrypt(block.Bytes, p)
		if derr != nil {
			return nil, fmt.Errorf("%w: %v", ErrPassphrase, derr)
		}
		key, err = x509.ParsePKCS8PrivateKey(der)
	case "PRIVATE KEY":
		key, err = x509.ParsePKCS8PrivateKey(block.Bytes)
	case "EC PRIVATE KEY":
		key, err = x509.ParseECPrivateKey(block.Bytes)
	case "RSA PRIVATE KEY":
		key, err = x509.ParsePKCS1PrivateKey(block.Bytes)
	default:
		return nil, fmt.Errorf("%w: PEM block %q is not a private key", ErrKey, block.Type)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrKey, err)
	}
	return checkSigner(key)
}

// parseEncryptedPKCS8 is youmark/pkcs8's parse of an encrypted key, with
// a panic in it returned as ErrKey: it hands the file's IV and ciphertext
// to crypto/cipher, which panics on a bad length. checkPBES2 refuses the
// shapes known to do that; this is for any it does not foresee, since a
// key file is input, and bad input gets an error.
func parseEncryptedPKCS8(der, password []byte) (key any, err error) {
	defer func() {
		if r := recover(); r != nil {
			key, err = nil, fmt.Errorf("%w: the encrypted key is corrupt (%v)", ErrKey, r)
		}
	}()
	return pkcs8.ParsePKCS8PrivateKey(der, password)
}

// checkSigner accepts the key types and sizes Sigstore defines algorithms
// for: ECDSA P-256/P-384/P-521, Ed25519, RSA ≥ 2048.
func checkSigner(key any) (crypto.Signer, error) {
	switch k := key.(type) {
	case *ecdsa.PrivateKey:
		switch k.Curve {
		case elliptic.P256(), elliptic.P384(), elliptic.P521():
			return k, nil
		}
		return nil, fmt.Errorf("%w: ECDSA curve %s", ErrUnsupported, k.Curve.Params().Name)
	case ed25519.PrivateKey:
		return k, nil
	case *rsa.PrivateKey:
		if k.N.BitLen() < 2048 {
			return nil, fmt.Errorf("%w: RSA key of %d bits (want ≥ 2048)", ErrUnsupported, k.N.BitLen())
		}
		return k, nil
	}
	return nil, fmt.Errorf("%w: %T", ErrUnsupported, key)
}
