package bundle_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stella-ops/stella-oras/internal/tsatest"

	"github.com/stella-ops/stella-oras/bundle"
	"github.com/stella-ops/stella-oras/verify"
)

const imageDigest = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

func writeBundle(t *testing.T, b []byte) string {
	p := filepath.Join(t.TempDir(), "b.sigstore.json")
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestRoundTrip: for every algorithm, generate → encrypt → parse → sign →
// serialize → verify with the public key and the image digest.
func TestRoundTrip(t *testing.T) {
	st, err := bundle.NewStatement("registry.example/app", imageDigest, bundle.PredicateVerdict, []byte(`{"status":"pass","b":1,"a":2}`))
	if err != nil {
		t.Fatal(err)
	}
	for _, alg := range bundle.Algorithms() {
		t.Run(alg, func(t *testing.T) {
			k, err := bundle.GenerateKey(alg)
			if err != nil {
				t.Fatal(err)
			}
			privPEM, err := bundle.MarshalPrivateKey(k, []byte("pw"))
			if err != nil {
				t.Fatal(err)
			}
			if _, err := bundle.ParsePrivateKey(privPEM, func() ([]byte, error) { return []byte("nope"), nil }); !errors.Is(err, bundle.ErrPassphrase) {
				t.Errorf("wrong passphrase: %v", err)
			}
			k2, err := bundle.ParsePrivateKey(privPEM, func() ([]byte, error) { return []byte("pw"), nil })
			if err != nil {
				t.Fatal(err)
			}
			kp, err := bundle.NewKeypair(k2)
			if err != nil {
				t.Fatal(err)
			}
			b, err := bundle.SignStatement(context.Background(), st, kp)
			if err != nil {
				t.Fatal(err)
			}
			pub, _ := bundle.MarshalPublicKey(k.Public())
			res, err := verify.VerifyBundle(writeBundle(t, b), verify.BundleOptions{KeyPEM: pub, ArtifactDigest: imageDigest})
			if err != nil {
				t.Fatal(err)
			}
			id, _ := bundle.KeyID(k.Public())
			if res.Signer != id || res.PredicateType != bundle.PredicateVerdict {
				t.Errorf("result %+v", res)
			}
			// Negative: another image, another key, tampered payload and signature.
			other := strings.Replace(imageDigest, "0123", "ffff", 1)
			if _, err := verify.VerifyBundle(writeBundle(t, b), verify.BundleOptions{KeyPEM: pub, ArtifactDigest: other}); !errors.Is(err, verify.ErrVerification) {
				t.Errorf("other image digest verified: %v", err)
			}
			k3, _ := bundle.GenerateKey(alg)
			pub3, _ := bundle.MarshalPublicKey(k3.Public())
			// Another key's bundle says so, in the key's ID, rather than
			// sigstore-go's "accepted signatures do not match threshold,
			// Found: 0, Expected 1", which reads like a --threshold.
			id3, _ := bundle.KeyID(k3.Public())
			if _, err := verify.VerifyBundle(writeBundle(t, b), verify.BundleOptions{KeyPEM: pub3, ArtifactDigest: imageDigest}); !errors.Is(err, verify.ErrVerification) || !strings.Contains(fmt.Sprint(err), "no signature verifies under the key "+id3) || strings.Contains(fmt.Sprint(err), "Found:") {
				t.Errorf("wrong key: %v, want a verification error naming the key", err)
			}
			for _, field := range []string{"payload", "sig"} {
				if _, err := verify.VerifyBundle(writeBundle(t, tamper(t, b, field)), verify.BundleOptions{KeyPEM: pub, ArtifactDigest: imageDigest}); !errors.Is(err, verify.ErrVerification) {
					t.Errorf("tampered %s verified: %v", field, err)
				}
			}
			if _, err := verify.VerifyBundle(writeBundle(t, b[:len(b)/2]), verify.BundleOptions{KeyPEM: pub, ArtifactDigest: imageDigest}); !errors.Is(err, verify.ErrVerification) {
				t.Errorf("truncated bundle verified: %v", err)
			}
		})
	}
}

// tamper flips a byte in the envelope's payload or first signature.
func tamper(t *testing.T, b []byte, field string) []byte {
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	env := m["dsseEnvelope"].(map[string]any)
	var target map[string]any
	key := field
	if field == "sig" {
		target = env["signatures"].([]any)[0].(map[string]any)
	} else {
		target = env
	}
	raw, _ := base64.StdEncoding.DecodeString(target[key].(string))
	raw[len(raw)/2] ^= 1
	target[key] = base64.StdEncoding.EncodeToString(raw)
	out, _ := json.Marshal(m)
	return out
}

func TestParsePrivateKeyRejects(t *testing.T) {
	for name, pemText := range map[string]string{
		"not pem":     "hello",
		"public key":  "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n",
		"garbage der": "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
	} {
		if _, err := bundle.ParsePrivateKey([]byte(pemText), nil); !errors.Is(err, bundle.ErrKey) {
			t.Errorf("%s: %v, want ErrKey", name, err)
		}
	}
	k, _ := bundle.GenerateKey("ecdsa-p256")
	enc, _ := bundle.MarshalPrivateKey(k, []byte(""))
	if _, err := bundle.ParsePrivateKey(enc, nil); !errors.Is(err, bundle.ErrPassphrase) {
		t.Errorf("encrypted key without passphrase: %v", err)
	}
	// The empty passphrase is a passphrase (cosign's COSIGN_PASSWORD="").
	if _, err := bundle.ParsePrivateKey(enc, func() ([]byte, error) { return []byte{}, nil }); err != nil {
		t.Errorf("empty passphrase: %v", err)
	}
	// ...and the key it protects is really encrypted (#11: the label said
	// ENCRYPTED over a plain PKCS#8 key).
	blk, _ := pem.Decode(enc)
	if _, err := x509.ParsePKCS8PrivateKey(blk.Bytes); err == nil {
		t.Errorf("a key written with the empty passphrase (%s) is plain PKCS#8", blk.Type)
	}
	if _, err := bundle.ParsePrivateKey(enc, func() ([]byte, error) { return []byte("not empty"), nil }); !errors.Is(err, bundle.ErrPassphrase) {
		t.Errorf("empty-passphrase key under another passphrase: %v", err)
	}
	// A key encrypted with a passphrase, tried with the empty one: a
	// clean passphrase error, no ASN.1 internals.
	pw, _ := bundle.MarshalPrivateKey(k, []byte("pw"))
	if _, err := bundle.ParsePrivateKey(pw, func() ([]byte, error) { return []byte{}, nil }); !errors.Is(err, bundle.ErrPassphrase) || strings.Contains(err.Error(), "asn1") {
		t.Errorf("passphrase key with the empty passphrase: %v", err)
	}
	if _, err := bundle.GenerateKey("ecdsa-p224"); !errors.Is(err, bundle.ErrUnsupported) {
		t.Errorf("unsupported curve: %v", err)
	}
	_ = bytes.MinRead
}

// TestTimestamp: --tsa-url adds an RFC 3161 timestamp from a real TSA
// (internal/tsatest), which verification against a trusted root listing
// that TSA then requires and checks.
func TestTimestamp(t *testing.T) {
	url, root := tsatest.Start(t)
	k, _ := bundle.GenerateKey("ecdsa-p256")
	kp, _ := bundle.NewKeypair(k)
	st, _ := bundle.NewStatement("x", imageDigest, bundle.PredicateVerdict, []byte(`{}`))
	b, err := bundle.SignStatement(context.Background(), st, kp, bundle.SignOptions{TSAURL: url})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), "rfc3161Timestamps") {
		t.Fatalf("no RFC 3161 timestamp in the bundle:\n%s", b)
	}
	pub, _ := bundle.MarshalPublicKey(k.Public())
	if _, err := verify.VerifyBundleBytes("ts", b, verify.BundleOptions{KeyPEM: pub, TrustedRoot: root, ArtifactDigest: imageDigest}); err != nil {
		t.Fatalf("verify with the TSA's root: %v", err)
	}
	// A root that does not list this TSA: the timestamp cannot be verified.
	_, other := tsatest.Start(t)
	if _, err := verify.VerifyBundleBytes("ts", b, verify.BundleOptions{KeyPEM: pub, TrustedRoot: other, ArtifactDigest: imageDigest}); !errors.Is(err, verify.ErrVerification) {
		t.Errorf("timestamp from an untrusted TSA accepted: %v", err)
	}
}

// TestParseUnsupportedCurve: a P-224 key (no Sigstore algorithm) is refused.
func TestParseUnsupportedCurve(t *testing.T) {
	k, _ := ecdsa.GenerateKey(elliptic.P224(), rand.Reader)
	der, _ := x509.MarshalPKCS8PrivateKey(k)
	p := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
	if _, err := bundle.ParsePrivateKey(p, nil); !errors.Is(err, bundle.ErrUnsupported) {
		t.Errorf("P-224 key: %v, want ErrUnsupported", err)
	}
}

// TestSignErrorRedactsURL (#11 item 12): a TSA or Rekor log that cannot
// be reached, or a URL that does not parse, is an error that does not
// echo a token in the URL's query, fragment or user info.
func TestSignErrorRedactsURL(t *testing.T) {
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now
	echo := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "no service at "+r.URL.RequestURI(), http.StatusNotFound)
	}))
	defer echo.Close()
	k, _ := bundle.GenerateKey("ecdsa-p256")
	kp, _ := bundle.NewKeypair(k)
	st, _ := bundle.NewStatement("x", imageDigest, bundle.PredicateVerdict, []byte(`{}`))
	for _, o := range []bundle.SignOptions{
		{TSAURL: "http://ci:hunter2@" + addr + "/tsa?token=s3cret"},
		{TSAURL: "http://" + addr + "/tsa?token=s3cret#hunter2"},
		{RekorURL: "http://" + addr + "/?token=s3cret"},
		{RekorURL: "http://ci:hunter2@" + addr + "/log?token=s3cret&x=1"},
		{TSAURL: "http://" + addr + " /x?token=s3cret"},
		{TSAURL: "http://ci:hunter2@127.0.0.1:99999/x?token=s3cret"},
		{RekorURL: "ftp://ci:hunter2@" + addr + "/?token=s3cret"},
		{TSAURL: "//" + addr + "/?token=s3cret"},
		// A token in the path, a path parameter, a user name with an @.
		{TSAURL: "http://" + addr + "/t/s3cretPathToken/tsa"},
		{RekorURL: "http://" + addr + "/t/s3cretPathToken"},
		{TSAURL: "http://" + addr + "/tsa;jsessionid=s3cret"},
		{RekorURL: "https://alice%40corp.example:hunter2@" + addr + "/log"},
		// A service that quotes the request in its answer.
		{TSAURL: echo.URL + "/t/s3cretPathToken/tsa;sid=s3cret?token=s3cret"},
		{RekorURL: echo.URL + "/t/s3cretPathToken"},
		// A path the client rewrites before it quotes it (rekor-tiles:
		// path.Join cleans it and escapes it anew), and short ones quoted
		// alone.
		{RekorURL: "http://" + addr + "//t/s3cretPathToken"},
		{RekorURL: "http://" + addr + "/t/./s3cretPathToken"},
		{RekorURL: "http://" + addr + "/t/s3cret!Token"},
		{RekorURL: "http://" + addr + "/t/s3cret*Token"},
		{RekorURL: "http://" + addr + "/t/s3cret'Token"},
		{RekorURL: "http://" + addr + "/t/s3cret(Token)"},
		{RekorURL: "http://" + addr + "/t/s3cret/"},
		{TSAURL: echo.URL + "/s3cret"},
		{RekorURL: echo.URL + "/s3cret"},
		{TSAURL: echo.URL + "/t/s3cret!x"},
	} {
		_, err := bundle.SignStatement(context.Background(), st, kp, o)
		if err == nil {
			t.Errorf("signing with %+v succeeded", o)
			continue
		}
		msg := err.Error()
		for _, secret := range []string{"s3cret", "hunter2", "corp.example"} {
			if strings.Contains(msg, secret) {
				t.Errorf("the error echoes the credentials (%s): %s", secret, msg)
			}
		}
		// What the client appends stays readable.
		if o.RekorURL != "" && strings.Contains(msg, "/api/") && !strings.Contains(msg, "/REDACTED/api/v2/log/entries") && !strings.Contains(msg, addr+"/api/v2/log/entries") {
			t.Errorf("the Rekor path the client appended is garbled: %s", msg)
		}
	}
}

// TestAlgorithmsCopy: changing what Algorithms returns does not change
// the list.
func TestAlgorithmsCopy(t *testing.T) {
	a := bundle.Algorithms()
	a[0] = "dsa-1024"
	if got := bundle.Algorithms(); got[0] != "ecdsa-p256" {
		t.Errorf("Algorithms()[0] = %q after changing an earlier result, want ecdsa-p256", got[0])
	}
}
