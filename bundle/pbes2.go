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
// (16 MiB); age asks for N = 2^18 (256 MiB).
const (
	maxPBKDF2Iterations = 5_000_000
	maxScryptMemory     = 256 << 20 // 128·N·r bytes
	maxScryptParallel   = 16
)

var (
	oidPBES2  = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 5, 13}
	oidPBKDF2 = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 5, 12}
	oidScrypt = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 11591, 4, 11}
)

// checkPBES2Cost refuses an encrypted PKCS#8 key whose key derivation
// costs more than the bounds above, before it is derived. Keys it cannot
// read are left to the parser, which says why.
func checkPBES2Cost(der []byte) error {
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
		return nil
	}
	raw := params.KDF.Parameters.FullBytes
	switch {
	case params.KDF.Algorithm.Equal(oidPBKDF2):
		var p struct {
			Salt       []byte
			Iterations int64
			Rest       asn1.RawValue `asn1:"optional"`
		}
		if _, err := asn1.Unmarshal(raw, &p); err == nil && (p.Iterations < 1 || p.Iterations > maxPBKDF2Iterations) {
			return fmt.Errorf("%w: the key asks for %d PBKDF2 iterations (at most %d are taken)", ErrKey, p.Iterations, maxPBKDF2Iterations)
		}
	case params.KDF.Algorithm.Equal(oidScrypt):
		var p struct {
			Salt    []byte
			N, R, P int64
			Rest    asn1.RawValue `asn1:"optional"`
		}
		if _, err := asn1.Unmarshal(raw, &p); err == nil {
			if p.N < 1 || p.R < 1 || p.P < 1 || p.P > maxScryptParallel || p.N > maxScryptMemory/128/p.R {
				return fmt.Errorf("%w: the key asks for scrypt N=%d r=%d p=%d (at most %d MiB and p ≤ %d are taken)", ErrKey, p.N, p.R, p.P, maxScryptMemory>>20, maxScryptParallel)
			}
		}
	}
	return nil
}
