// Package tsatest runs an RFC 3161 time-stamping authority for tests: a
// real TSA (digitorus/timestamp, the implementation sigstore's
// timestamp-authority is built on) behind httptest, with its own CA, and a
// Sigstore trusted_root.json that trusts it.
package tsatest

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/base64"
	"encoding/json"
	"io"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/digitorus/timestamp"
)

// Start runs the TSA and returns its URL and the path of a trusted root
// that lists it.
func Start(t testing.TB) (url, trustedRoot string) {
	t.Helper()
	now := time.Now()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "stella-oras test TSA root", Organization: []string{"stella-oras"}},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	leafTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "stella-oras test TSA", Organization: []string{"stella-oras"}},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageTimeStamping},
	}
	leafDER, err := x509.CreateCertificate(rand.Reader, leafTmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	leaf, _ := x509.ParseCertificate(leafDER)
	// The time-stamping EKU must be critical (RFC 3161 §2.3); x509 in Go
	// marks it non-critical, so re-issue with the extension made critical.
	for i, e := range leaf.Extensions {
		if e.Id.Equal(asn1.ObjectIdentifier{2, 5, 29, 37}) {
			leafTmpl.ExtraExtensions = []pkix.Extension{{Id: e.Id, Critical: true, Value: leaf.Extensions[i].Value}}
			leafTmpl.ExtKeyUsage = nil
		}
	}
	leafDER, err = x509.CreateCertificate(rand.Reader, leafTmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	leaf, _ = x509.ParseCertificate(leafDER)

	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		req, err := timestamp.ParseRequest(body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		ts := timestamp.Timestamp{
			HashAlgorithm: req.HashAlgorithm, HashedMessage: req.HashedMessage,
			Time: time.Now(), Nonce: req.Nonce, Policy: asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 57264, 2},
			Ordering: false, Accuracy: time.Second, AddTSACertificate: req.Certificates,
		}
		resp, err := ts.CreateResponseWithOpts(leaf, key, crypto.SHA256)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/timestamp-reply")
		w.Write(resp)
	}))
	t.Cleanup(srv.Close)

	tr := map[string]any{
		"mediaType": "application/vnd.dev.sigstore.trustedroot+json;version=0.1",
		"timestampAuthorities": []any{map[string]any{
			"subject": map[string]any{"organization": "stella-oras", "commonName": "stella-oras test TSA"},
			"uri":     srv.URL,
			"certChain": map[string]any{"certificates": []any{
				map[string]string{"rawBytes": base64.StdEncoding.EncodeToString(leaf.Raw)},
				map[string]string{"rawBytes": base64.StdEncoding.EncodeToString(ca.Raw)},
			}},
			"validFor": map[string]string{"start": now.Add(-time.Hour).UTC().Format(time.RFC3339)},
		}},
	}
	b, _ := json.Marshal(tr)
	trustedRoot = filepath.Join(t.TempDir(), "trusted_root.json")
	if err := os.WriteFile(trustedRoot, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return srv.URL, trustedRoot
}
