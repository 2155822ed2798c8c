package bundle

import (
	"crypto/x509/pkix"
	"encoding/asn1"
	"fmt"
)

// The key-derivation cost an encrypted PKCS#8 key may ask for. The file
// sets it, and youmark/pkcs8 derives with whatever it says: an iteration
// count of 2^31 held a key load for minutes, an scrypt cost of 2^24 asked
// for 16 GiB. openssl writes 2,048 PBKDF2 iterations (OWASP advises
// 600,000 for SHA-256, 1.3 million for SHA-1) and scrypt N = 2^14, r = 8
// (16 MiB); cosign N = 2^15, r = 8; age asks for N = 2^18 (256 MiB).
// scrypt (golang.org/x/crypto/scrypt) allocates 128·r·N bytes for the
// table and 128·r·(p + 2) for the lanes and mixing, and works 128·N·r
// bytes per lane, p lanes: all three are bounded, not N·r alone (N = 2,
// r = 2^20, p = 16 passed that and took 2.6 GB for 31 s). The table's
// bound is age's cost exactly (N = 2^18, r = 8: 256 MiB), which loads.
const (
	maxPBKDF2Iterations = 5_000_000
	maxScryptTable      = 256 << 20 // 128·r·N bytes
	maxScryptLanes      = 16 << 20  // 128·r·(p + 2) bytes
	maxScryptWork       = 1 << 30   // 128·N·r·p bytes mixed
	maxScryptParallel   = 16
)

var (
	oidPBES2  = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 5, 13}
	oidPBKDF2 = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 5, 12}
	oidScrypt = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 11591, 4, 11}
	// The PBKDF2 hashes youmark/pkcs8 derives with (none said: SHA-1).
	oidHMACSHA1   = asn1.ObjectIdentifier{1, 2, 840, 113549, 2, 7}
	oidHMACSHA256 = asn1.ObjectIdentifier{1, 2, 840, 113549, 2, 9}
)

// pbes2BlockSize is the block size, and so the IV size, of each cipher
// youmark/pkcs8 decrypts (all in CBC mode: it runs its "GCM" OIDs as CBC
// too), by OID.
var pbes2BlockSize = map[string]int{
	"2.16.840.1.101.3.4.1.2":  16, // AES-128-CBC
	"2.16.840.1.101.3.4.1.6":  16, // AES-128-GCM
	"2.16.840.1.101.3.4.1.22": 16, // AES-192-CBC
	"2.16.840.1.101.3.4.1.26": 16, // AES-192-GCM
	"2.16.840.1.101.3.4.1.42": 16, // AES-256-CBC
	"2.16.840.1.101.3.4.1.46": 16, // AES-256-GCM
	"1.2.840.113549.3.7":      8,  // DES-EDE3-CBC
}

// checkPBES2 refuses, before anything is derived, an encrypted PKCS#8 key
// whose key derivation costs more than the bounds above, or whose cipher
// input youmark/pkcs8 would hand to crypto/cipher unchecked: an IV that is
// not one block, or a ciphertext that is not whole blocks (crypto/cipher
// panics on both). A PBES2 key whose KDF parameters do not parse is
// refused too (the bound cannot be checked); other schemes and ciphers,
// which youmark/pkcs8 does not read, are left to it to say so.
func checkPBES2(der []byte) error {
	var info struct {
		Algo pkix.AlgorithmIdentifier
		Data []byte
	}
	if _, err := asn1.Unmarshal(der, &info); err != nil || !info.Algo.Algorithm.Equal(oidPBES2) {
		return nil
	}
	var params struct {
		KDF, Cipher pkix.AlgorithmIdentifier
	}
	if _, err := asn1.Unmarshal(info.Algo.Parameters.FullBytes, &params); err != nil {
		return fmt.Errorf("%w: the key's PBES2 parameters do not parse: %v", ErrKey, err)
	}
	if err := checkKDF(params.KDF); err != nil {
		return err
	}
	bs, ok := pbes2BlockSize[params.Cipher.Algorithm.String()]
	if !ok {
		return fmt.Errorf("%w: the key's cipher (OID %s) is not one this tool decrypts (AES-CBC, DES-EDE3-CBC): re-encrypt it, e.g. openssl pkcs8 -topk8 -v2 aes-256-cbc", ErrKey, params.Cipher.Algorithm)
	}
	var iv []byte
	if _, err := asn1.Unmarshal(params.Cipher.Parameters.FullBytes, &iv); err != nil || len(iv) != bs {
		return fmt.Errorf("%w: the key's cipher IV is not one %d-byte block", ErrKey, bs)
	}
	if len(info.Data) == 0 || len(info.Data)%bs != 0 {
		return fmt.Errorf("%w: the key's ciphertext (%d bytes) is not whole %d-byte blocks", ErrKey, len(info.Data), bs)
	}
	return nil
}

// checkKDF is checkPBES2's bound on the key derivation.
func checkKDF(kdf pkix.AlgorithmIdentifier) error {
	raw := kdf.Parameters.FullBytes
	switch {
	case kdf.Algorithm.Equal(oidPBKDF2):
		var p struct {
			Salt       []byte
			Iterations int64
			KeyLength  int64                    `asn1:"optional"`
			PRF        pkix.AlgorithmIdentifier `asn1:"optional"`
		}
		if _, err := asn1.Unmarshal(raw, &p); err != nil {
			return fmt.Errorf("%w: the key's PBKDF2 parameters do not parse: %v", ErrKey, err)
		}
		if p.Iterations < 1 || p.Iterations > maxPBKDF2Iterations {
			return fmt.Errorf("%w: the key asks for %d PBKDF2 iterations (at most %d are taken)", ErrKey, p.Iterations, maxPBKDF2Iterations)
		}
		if prf := p.PRF.Algorithm; len(prf) > 0 && !prf.Equal(oidHMACSHA1) && !prf.Equal(oidHMACSHA256) {
			return fmt.Errorf("%w: the key's PBKDF2 hash (OID %s) is not one this tool derives with (HMAC-SHA1, HMAC-SHA256): re-encrypt it, e.g. openssl pkcs8 -topk8 -v2 aes-256-cbc -v2prf hmacWithSHA256", ErrKey, prf)
		}
	case kdf.Algorithm.Equal(oidScrypt):
		var p struct {
			Salt    []byte
			N, R, P int64
			Rest    asn1.RawValue `asn1:"optional"`
		}
		if _, err := asn1.Unmarshal(raw, &p); err != nil {
			return fmt.Errorf("%w: the key's scrypt parameters do not parse: %v", ErrKey, err)
		}
		if !scryptWithin(p.N, p.R, p.P) {
			return fmt.Errorf("%w: the key asks for scrypt N=%d r=%d p=%d (at most %d MiB of table, %d MiB of lanes, %d MiB mixed and p ≤ %d are taken)", ErrKey, p.N, p.R, p.P, maxScryptTable>>20, maxScryptLanes>>20, maxScryptWork>>20, maxScryptParallel)
		}
	default:
		return fmt.Errorf("%w: the key's key derivation (OID %s) is not one this tool takes (PBKDF2, scrypt)", ErrKey, kdf.Algorithm)
	}
	return nil
}

// scryptWithin reports whether scrypt with n, r, p stays within the
// bounds, computed without overflow: each factor is bounded before the
// products are formed (p ≤ 16, r and n ≤ 2^21, so every product < 2^63).
func scryptWithin(n, r, p int64) bool {
	const most = maxScryptTable / 128 // the bound on r·N
	if n < 1 || r < 1 || p < 1 || p > maxScryptParallel || r > most || n > most {
		return false
	}
	return r*n <= most && 128*r*(p+2) <= maxScryptLanes && 128*n*r*p <= maxScryptWork
}
