package verify

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"slices"
)

// PredicateRevocations is the predicate type of a revocation list: an
// in-toto statement whose predicate is {"revoked_key_ids": [...]}, signed
// into a Sigstore bundle like any attestation.
const PredicateRevocations = "https://stella-ops.org/attestation/revocations/v1"

// Revocations is a revocation list's predicate.
type Revocations struct {
	RevokedKeyIDs []string `json:"revoked_key_ids"`
}

// LoadRevocations verifies a revocation-list bundle against the trusted
// keys and returns the revoked key IDs. The list must be signed by a
// listed key that it does not itself revoke.
func LoadRevocations(name string, data []byte, keys [][]byte) (map[string]bool, error) {
	if len(keys) == 0 {
		return nil, fmt.Errorf("%w: revocation list %s: no trusted key to check its signature against", ErrInput, name)
	}
	var lastErr error
	for _, k := range keys {
		res, err := VerifyBundleBytes(name, data, BundleOptions{KeyPEM: k})
		if err != nil {
			lastErr = err
			continue
		}
		if res.PredicateType != PredicateRevocations {
			return nil, fmt.Errorf("%w: %s: predicate type %q is not a revocation list", ErrVerification, name, res.PredicateType)
		}
		var env struct {
			DSSE struct {
				Payload string `json:"payload"`
			} `json:"dsseEnvelope"`
		}
		if err := json.Unmarshal(data, &env); err != nil {
			return nil, fmt.Errorf("%w: %s: %v", ErrVerification, name, err)
		}
		payload, err := base64.StdEncoding.DecodeString(env.DSSE.Payload)
		if err != nil {
			return nil, fmt.Errorf("%w: %s: payload: %v", ErrVerification, name, err)
		}
		var st struct {
			Predicate Revocations `json:"predicate"`
		}
		if err := json.Unmarshal(payload, &st); err != nil {
			return nil, fmt.Errorf("%w: %s: predicate: %v", ErrVerification, name, err)
		}
		if slices.Contains(st.Predicate.RevokedKeyIDs, res.Signer) {
			return nil, fmt.Errorf("%w: %s: signed by a key it revokes (%s)", ErrVerification, name, res.Signer)
		}
		out := map[string]bool{}
		for _, id := range st.Predicate.RevokedKeyIDs {
			out[id] = true
		}
		return out, nil
	}
	if len(keys) > 1 && !signedByAny(data, keys) {
		return nil, fmt.Errorf("%w: revocation list %s: no signature verifies under any of the %d revocation keys", ErrVerification, name, len(keys))
	}
	return nil, fmt.Errorf("revocation list %s: %w", name, lastErr)
}
