package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// signedLayout is an OCI layout holding a sample image with bundles
// signed by some of the keys it generated (real keys, real bundles).
type signedLayout struct {
	dir     string
	image   string // oci:DIR@sha256:…
	tagged  string // oci:DIR:v1
	pred    string
	keyPath func(name, ext string) string
}

// newSignedLayout generates keys names and attests the image with
// signers (a subset of names), a verdict-typed predicate each.
func newSignedLayout(t *testing.T, names, signers []string) *signedLayout {
	t.Helper()
	t.Setenv(passphraseEnv, "")
	dir := t.TempDir()
	l := &signedLayout{dir: dir, keyPath: func(n, ext string) string { return filepath.Join(dir, n+"."+ext) }}
	for _, n := range names {
		if r := cli(t, "", "key", "generate", "-o", filepath.Join(dir, n)); r.code != 0 {
			t.Fatalf("key generate %s: %s", n, r.stderr)
		}
	}
	base := "oci:" + filepath.Join(dir, "layout")
	r := cli(t, "", "sample-image", base+":v1", "--output", "json")
	if r.code != 0 {
		t.Fatalf("sample-image: %s", r.stderr)
	}
	var si struct{ Reference string }
	json.Unmarshal([]byte(r.stdout), &si)
	l.image, l.tagged = si.Reference, base+":v1"
	l.pred = filepath.Join(dir, "verdict.json")
	os.WriteFile(l.pred, []byte(`{"status":"pass"}`), 0o644)
	for _, n := range signers {
		if r := cli(t, "", "attest", l.image, "--predicate", l.pred, "--type", verdictType, "--key", l.keyPath(n, "key")); r.code != 0 {
			t.Fatalf("attest %s: %s", n, r.stderr)
		}
	}
	return l
}

// TestVerifyWording: the result line says how many signers verified and
// how many were required; another key's bundle says it is not signed by
// a trusted key (not sigstore-go's "Found: 0, Expected 1").
func TestVerifyWording(t *testing.T) {
	l := newSignedLayout(t, []string{"a", "b", "c"}, []string{"a", "b"})
	r := cli(t, "", "verify", l.image, "--key", l.keyPath("a", "pub"), "--key", l.keyPath("b", "pub"))
	if r.code != 0 || !strings.Contains(r.stdout, "Verification OK: 2 signers verified (1 required)") {
		t.Errorf("verify a, b: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	r = cli(t, "", "verify", l.image, "--key", l.keyPath("a", "pub"), "--output", "json")
	var rep struct {
		Bundles []struct{ Signer, Reason string }
	}
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil || r.code != 0 || len(rep.Bundles) != 2 {
		t.Fatalf("verify a --output json: exit %d %v\n%s", r.code, err, r.stdout)
	}
	for _, b := range rep.Bundles {
		if b.Signer == "" && b.Reason != "not signed by a trusted key" {
			t.Errorf("b's bundle under a's key: reason %q, want %q", b.Reason, "not signed by a trusted key")
		}
	}
	r = cli(t, "", "verify", l.image, "--key", l.keyPath("c", "pub"), "--threshold", "1")
	if r.code != ExitVerifyFailed || strings.Contains(r.stdout, "Found:") || !strings.Contains(r.stdout, "threshold not met: 0 signers verified, 1 required") {
		t.Errorf("verify c: exit %d\n%s", r.code, r.stdout)
	}
}

// TestPublicKeyFlagsChecked: a private key or a file that is no key given
// where a public key is needed is one clear line and exit 1, before any
// bundle is read, in every command that takes public keys.
func TestPublicKeyFlagsChecked(t *testing.T) {
	l := newSignedLayout(t, []string{"a"}, []string{"a"})
	priv := l.keyPath("a", "key")
	for _, args := range [][]string{
		{"verify", l.image, "--key", priv},
		{"verify-bundle", l.pred, "--key", priv, "--artifact-digest", "sha256:" + strings.Repeat("0", 64)},
		{"status", l.image, "--key", priv},
		{"evaluate", l.image, "--feed", "oci:" + l.dir + "/feeds", "--key", priv, "--vex-key", priv},
	} {
		r := cli(t, "", args...)
		want := "Error: " + priv + " is a private key; give the public key " + l.keyPath("a", "pub") + "\n"
		if r.code != ExitError || r.stderr != want {
			t.Errorf("%s with a private key: exit %d stderr %q, want %d %q", args[0], r.code, r.stderr, ExitError, want)
		}
	}
	r := cli(t, "", "verify", l.image, "--key", l.pred)
	if r.code != ExitError || !strings.Contains(r.stderr, l.pred+" is not a PEM public key") || strings.Count(r.stderr, "\n") != 1 {
		t.Errorf("verify --key with a JSON file: exit %d stderr %q", r.code, r.stderr)
	}
}
