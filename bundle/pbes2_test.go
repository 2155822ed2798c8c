package bundle_test

import (
	"context"
	"crypto"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/pem"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stella-ops/stella-oras/bundle"
	"github.com/stella-ops/stella-oras/verify"
)

func passphrase(p string) func() ([]byte, error) {
	return func() ([]byte, error) { return []byte(p), nil }
}

// TestOpenSSLKeys: keys openssl encrypted (PBKDF2 and scrypt, with the
// empty passphrase and with one) are read under the passphrase they were
// written with, as the key openssl says they hold, and refused under
// another with the passphrase error. Before, an openssl key encrypted
// with the empty passphrase was refused under STELLA_KEY_PASSWORD= as a
// wrong passphrase.
func TestOpenSSLKeys(t *testing.T) {
	for _, tc := range []struct{ key, pub, pass, wrong string }{
		{"openssl-p256-empty-pbkdf2.key", "openssl-p256-empty-pbkdf2.pub", "", "pw"},
		{"openssl-ed25519-empty-scrypt.key", "openssl-ed25519-empty-scrypt.pub", "", "x"},
		{"openssl-p256-pw-pbkdf2.key", "openssl-p256-empty-pbkdf2.pub", "pw", ""},
	} {
		keyPEM, err := os.ReadFile(filepath.Join("testdata", tc.key))
		if err != nil {
			t.Fatal(err)
		}
		pubPEM, _ := os.ReadFile(filepath.Join("testdata", tc.pub))
		want, err := bundle.ParsePublicKey(pubPEM)
		if err != nil {
			t.Fatal(err)
		}
		k, err := bundle.ParsePrivateKey(keyPEM, passphrase(tc.pass))
		if err != nil {
			t.Errorf("%s under %q: %v", tc.key, tc.pass, err)
		} else if !k.Public().(interface{ Equal(crypto.PublicKey) bool }).Equal(want) {
			t.Errorf("%s: read a key other than the one openssl wrote", tc.key)
		}
		if _, err := bundle.ParsePrivateKey(keyPEM, passphrase(tc.wrong)); !errors.Is(err, bundle.ErrPassphrase) {
			t.Errorf("%s under %q: %v, want the passphrase error", tc.key, tc.wrong, err)
		}
	}
}

// TestPBES2CostBounded: an encrypted PKCS#8 key whose PBKDF2 iteration
// count or scrypt cost is beyond what any tool writes is refused before
// the key is derived (youmark/pkcs8 derived with 2^40 iterations: hours).
func TestPBES2CostBounded(t *testing.T) {
	oid := func(o ...int) asn1.ObjectIdentifier { return o }
	encKey := func(kdf asn1.ObjectIdentifier, params any) []byte {
		t.Helper()
		return encryptedKey(t, kdf, params, oid(2, 16, 840, 1, 101, 3, 4, 1, 42), make([]byte, 16), make([]byte, 64))
	}
	for name, key := range map[string][]byte{
		"2^40 iterations": encKey(pbkdf2, struct {
			Salt []byte
			Iter int64
		}{make([]byte, 8), 1 << 40}),
		"0 iterations": encKey(pbkdf2, struct {
			Salt []byte
			Iter int64
		}{make([]byte, 8), 0}),
		"scrypt N=2^30": encKey(scrypt, struct {
			Salt    []byte
			N, R, P int64
		}{make([]byte, 8), 1 << 30, 8, 1}),
		"scrypt p=2^20": encKey(scrypt, struct {
			Salt    []byte
			N, R, P int64
		}{make([]byte, 8), 1 << 14, 8, 1 << 20}),
		"scrypt r=2^40": encKey(scrypt, struct {
			Salt    []byte
			N, R, P int64
		}{make([]byte, 8), 2, 1 << 40, 1}),
		// N·r is small, but the lanes' buffer, 128·r·p, is 2 GiB (2.6 GB
		// and 31 s before).
		"scrypt N=2 r=2^20 p=16": encKey(scrypt, struct {
			Salt    []byte
			N, R, P int64
		}{make([]byte, 8), 2, 1 << 20, 16}),
		// Within memory, but 16 lanes of 256 MiB each to mix.
		"scrypt N=2^18 r=7 p=16": encKey(scrypt, struct {
			Salt    []byte
			N, R, P int64
		}{make([]byte, 8), 1 << 18, 7, 16}),
	} {
		asked := false
		_, err := bundle.ParsePrivateKey(key, func() ([]byte, error) { asked = true; return []byte("pw"), nil })
		if !errors.Is(err, bundle.ErrKey) || !strings.Contains(err.Error(), "the key asks for") || asked {
			t.Errorf("%s: %v (passphrase asked: %v), want the cost refused first", name, err, asked)
		}
	}
	// Costs within the bounds reach the decryption (and fail it: the
	// ciphertext is zeros).
	if _, err := bundle.ParsePrivateKey(encKey(pbkdf2, struct {
		Salt []byte
		Iter int64
	}{make([]byte, 8), 2048}), passphrase("pw")); !errors.Is(err, bundle.ErrPassphrase) {
		t.Errorf("2,048 iterations: %v, want the passphrase error", err)
	}
}

var (
	pbkdf2 = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 5, 12}
	scrypt = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 11591, 4, 11}
	aes256 = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 1, 42}
	des3   = asn1.ObjectIdentifier{1, 2, 840, 113549, 3, 7}
)

// encryptedKey is the PEM of a PBES2-encrypted PKCS#8 key with the given
// key derivation, cipher, IV and ciphertext.
func encryptedKey(t testing.TB, kdf asn1.ObjectIdentifier, params any, cipher asn1.ObjectIdentifier, iv, data []byte) []byte {
	t.Helper()
	kp, err := asn1.Marshal(params)
	if err != nil {
		t.Fatal(err)
	}
	ivDER, _ := asn1.Marshal(iv)
	pbes2, err := asn1.Marshal(struct{ KDF, Cipher pkix.AlgorithmIdentifier }{
		pkix.AlgorithmIdentifier{Algorithm: kdf, Parameters: asn1.RawValue{FullBytes: kp}},
		pkix.AlgorithmIdentifier{Algorithm: cipher, Parameters: asn1.RawValue{FullBytes: ivDER}},
	})
	if err != nil {
		t.Fatal(err)
	}
	der, err := asn1.Marshal(struct {
		Algo pkix.AlgorithmIdentifier
		Data []byte
	}{pkix.AlgorithmIdentifier{Algorithm: asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 5, 13}, Parameters: asn1.RawValue{FullBytes: pbes2}}, data})
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "ENCRYPTED PRIVATE KEY", Bytes: der})
}

// TestPBES2CipherShape: an encrypted key whose IV is not one block of its
// cipher, or whose ciphertext is not whole blocks, is refused with the key
// error under any passphrase, the empty one included (youmark/pkcs8 hands
// them to crypto/cipher, which panicked: exit 2 with a stack trace), and
// so is one whose KDF parameters do not parse (their cost cannot be
// checked).
func TestPBES2CipherShape(t *testing.T) {
	iter := struct {
		Salt []byte
		Iter int64
	}{make([]byte, 8), 2048}
	for name, key := range map[string][]byte{
		"AES IV of 8 bytes":        encryptedKey(t, pbkdf2, iter, aes256, make([]byte, 8), make([]byte, 64)),
		"AES IV of 0 bytes":        encryptedKey(t, pbkdf2, iter, aes256, nil, make([]byte, 64)),
		"AES ciphertext 17 bytes":  encryptedKey(t, pbkdf2, iter, aes256, make([]byte, 16), make([]byte, 17)),
		"AES ciphertext empty":     encryptedKey(t, pbkdf2, iter, aes256, make([]byte, 16), nil),
		"3DES IV of 16 bytes":      encryptedKey(t, pbkdf2, iter, des3, make([]byte, 16), make([]byte, 64)),
		"3DES ciphertext 12 bytes": encryptedKey(t, pbkdf2, iter, des3, make([]byte, 8), make([]byte, 12)),
		"PBKDF2 params not DER":    encryptedKey(t, pbkdf2, asn1.RawValue{Tag: asn1.TagInteger, Bytes: []byte{1}}, aes256, make([]byte, 16), make([]byte, 64)),
		"scrypt params not DER":    encryptedKey(t, scrypt, asn1.RawValue{Tag: asn1.TagOctetString, Bytes: []byte{1}}, aes256, make([]byte, 16), make([]byte, 64)),
	} {
		for _, pass := range []string{"", "pw"} {
			_, err := bundle.ParsePrivateKey(key, passphrase(pass))
			if !errors.Is(err, bundle.ErrKey) {
				t.Errorf("%s under %q: %v, want the key error", name, pass, err)
			}
		}
	}
	// The shapes right for the cipher reach the decryption (and fail it:
	// the ciphertext is zeros).
	if _, err := bundle.ParsePrivateKey(encryptedKey(t, pbkdf2, iter, des3, make([]byte, 8), make([]byte, 64)), passphrase("pw")); !errors.Is(err, bundle.ErrPassphrase) {
		t.Errorf("3DES with an 8-byte IV: %v, want the passphrase error", err)
	}
}

// FuzzParsePrivateKey: whatever the PEM, ParsePrivateKey returns a key or
// an error of this package (ErrKey, ErrPassphrase, ErrUnsupported), never
// panics, and a key it returns signs what its public key verifies.
func FuzzParsePrivateKey(f *testing.F) {
	for _, n := range []string{"openssl-p256-empty-pbkdf2.key", "openssl-ed25519-empty-scrypt.key", "openssl-p256-pw-pbkdf2.key"} {
		b, err := os.ReadFile(filepath.Join("testdata", n))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b, "")
		f.Add(b, "pw")
	}
	// The shapes that made crypto/cipher panic (TestPBES2CipherShape).
	iter := struct {
		Salt []byte
		Iter int64
	}{make([]byte, 8), 2048}
	f.Add(encryptedKey(f, pbkdf2, iter, aes256, make([]byte, 8), make([]byte, 64)), "")
	f.Add(encryptedKey(f, pbkdf2, iter, des3, make([]byte, 8), make([]byte, 12)), "pw")
	for _, alg := range bundle.Algorithms() {
		k, err := bundle.GenerateKey(alg)
		if err != nil {
			f.Fatal(err)
		}
		for _, p := range []string{"", "pw"} {
			b, err := bundle.MarshalPrivateKey(k, []byte(p))
			if err != nil {
				f.Fatal(err)
			}
			f.Add(b, p)
		}
	}
	f.Fuzz(func(t *testing.T, keyPEM []byte, pass string) {
		k, err := bundle.ParsePrivateKey(keyPEM, passphrase(pass))
		if err != nil {
			if !errors.Is(err, bundle.ErrKey) && !errors.Is(err, bundle.ErrPassphrase) && !errors.Is(err, bundle.ErrUnsupported) {
				t.Fatalf("error of no kind: %v", err)
			}
			return
		}
		kp, err := bundle.NewKeypair(k)
		if err != nil {
			t.Fatalf("a key read is not a signing key: %v", err)
		}
		st, _ := bundle.NewStatement("x", imageDigest, bundle.PredicateVerdict, []byte(`{}`))
		b, err := bundle.SignStatement(context.Background(), st, kp)
		if err != nil {
			t.Fatalf("a key read does not sign: %v", err)
		}
		pubPEM, _ := bundle.MarshalPublicKey(k.Public())
		if _, err := verify.VerifyBundleBytes("fuzz", b, verify.BundleOptions{KeyPEM: pubPEM, ArtifactDigest: imageDigest}); err != nil {
			t.Fatalf("a bundle signed with the key read does not verify under its public key: %v", err)
		}
	})
}

// TestPBES2Unsupported: a key encrypted with a cipher, a key derivation or
// a PBKDF2 hash youmark/pkcs8 does not take is refused as such, before any
// passphrase is asked. Before, each read as a wrong passphrase ("or a
// corrupt key"), which no passphrase would fix.
func TestPBES2Unsupported(t *testing.T) {
	type pbkdf2Params struct {
		Salt      []byte
		Iter      int64
		KeyLength int64 `asn1:"optional"`
		PRF       pkix.AlgorithmIdentifier
	}
	prf := func(o ...int) pkix.AlgorithmIdentifier {
		return pkix.AlgorithmIdentifier{Algorithm: o, Parameters: asn1.NullRawValue}
	}
	plain := struct {
		Salt []byte
		Iter int64
	}{make([]byte, 8), 2048}
	for name, tc := range map[string]struct {
		key  []byte
		says string
	}{
		"RC2-CBC":        {encryptedKey(t, pbkdf2, plain, asn1.ObjectIdentifier{1, 2, 840, 113549, 3, 2}, make([]byte, 8), make([]byte, 64)), "cipher (OID 1.2.840.113549.3.2)"},
		"an unknown KDF": {encryptedKey(t, asn1.ObjectIdentifier{1, 2, 3, 4}, plain, aes256, make([]byte, 16), make([]byte, 64)), "key derivation (OID 1.2.3.4)"},
		"HMAC-SHA512":    {encryptedKey(t, pbkdf2, pbkdf2Params{make([]byte, 8), 2048, 0, prf(1, 2, 840, 113549, 2, 11)}, aes256, make([]byte, 16), make([]byte, 64)), "PBKDF2 hash (OID 1.2.840.113549.2.11)"},
	} {
		asked := false
		_, err := bundle.ParsePrivateKey(tc.key, func() ([]byte, error) { asked = true; return []byte("pw"), nil })
		if !errors.Is(err, bundle.ErrKey) || errors.Is(err, bundle.ErrPassphrase) || !strings.Contains(err.Error(), tc.says) || asked {
			t.Errorf("%s: %v (passphrase asked: %v), want the key refused for its %s", name, err, asked, tc.says)
		}
	}
	// The hashes it takes, said explicitly (openssl writes HMAC-SHA256),
	// with a key length too, reach the decryption (and fail it: zeros).
	for name, p := range map[string]any{
		"HMAC-SHA256":              pbkdf2Params{make([]byte, 8), 2048, 0, prf(1, 2, 840, 113549, 2, 9)},
		"HMAC-SHA1, key length 32": pbkdf2Params{make([]byte, 8), 2048, 32, prf(1, 2, 840, 113549, 2, 7)},
	} {
		if _, err := bundle.ParsePrivateKey(encryptedKey(t, pbkdf2, p, aes256, make([]byte, 16), make([]byte, 64)), passphrase("pw")); !errors.Is(err, bundle.ErrPassphrase) {
			t.Errorf("%s: %v, want the passphrase error", name, err)
		}
	}
}
