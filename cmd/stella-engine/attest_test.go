package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sigstore/sigstore/pkg/cryptoutils"
	"github.com/stella-ops/stella-oras/bundle"
	"github.com/stella-ops/stella-oras/internal/cli"
	"github.com/stella-ops/stella-oras/internal/tsatest"

	"github.com/stella-ops/stella-oras/internal/regtest"
	"github.com/stella-ops/stella-oras/registry"
)

const verdictType = "https://stella-ops.org/attestation/verdict/v1"

// TestAttestVerify: key generate, attest and verify against the embedded
// registry, plain distribution and an OCI layout; co-signing thresholds,
// wrong type, another image, duplicate signatures by one key.
func TestAttestVerify(t *testing.T) {
	t.Setenv(passphraseEnv, "")
	ctx := context.Background()
	dir := t.TempDir()
	for _, k := range []struct{ name, alg string }{{"a", "ecdsa-p256"}, {"b", "ed25519"}, {"c", "rsa-3072"}} {
		if r := stella(t, "", "key", "generate", "--algorithm", k.alg, "-o", filepath.Join(dir, k.name)); r.code != 0 {
			t.Fatalf("key generate %s: %s", k.alg, r.stderr)
		}
	}
	if st, _ := os.Stat(filepath.Join(dir, "a.key")); st.Mode().Perm() != 0o600 {
		t.Errorf("a.key mode %v, want 0600", st.Mode().Perm())
	}
	key := func(n, ext string) string { return filepath.Join(dir, n+"."+ext) }
	pred := filepath.Join(dir, "verdict.json")
	os.WriteFile(pred, []byte(`{"status":"pass","risk_score":0}`), 0o644)

	for name, base := range map[string]string{
		"embedded": regtest.Start(t, regtest.Referrers) + "/app",
		"plain":    regtest.Start(t, regtest.Plain) + "/app",
		"layout":   "oci:" + t.TempDir(),
	} {
		t.Run(name, func(t *testing.T) {
			ref, _ := registry.ParseReference(base)
			tg, err := registry.Open(ctx, ref, registry.Options{PlainHTTP: true})
			if err != nil {
				t.Fatal(err)
			}
			img := regtest.PushImage(t, tg.Store, "v1")
			other := regtest.PushImage(t, tg.Store, "v2")
			tg.Close()
			var flags []string
			if !strings.HasPrefix(base, "oci") {
				flags = []string{"--plain-http"}
			}
			subject := base + "@" + img.Digest.String()
			attest := func(k string) result {
				return stella(t, "", append([]string{"attest", subject, "--predicate", pred, "--type", verdictType, "--key", key(k, "key"), "--output", "json"}, flags...)...)
			}
			verifyWith := func(extra ...string) result {
				args := append([]string{"verify", subject, "--key", key("a", "pub"), "--key", key("b", "pub"), "--key", key("c", "pub")}, flags...)
				return stella(t, "", append(args, extra...)...)
			}
			if r := verifyWith(); r.code != cli.ExitVerifyFailed || !strings.Contains(r.stdout, "no Sigstore bundle") {
				t.Errorf("no bundles: exit %d\n%s", r.code, r.stdout)
			}
			r := attest("a")
			if r.code != 0 {
				t.Fatalf("attest: %s", r.stderr)
			}
			var ar attestResult
			json.Unmarshal([]byte(r.stdout), &ar)
			if ar.Bundle.Annotations["dev.sigstore.bundle.predicateType"] != verdictType || ar.Bundle.Annotations["dev.sigstore.bundle.content"] != "dsse-envelope" {
				t.Errorf("bundle manifest annotations: %v", ar.Bundle.Annotations)
			}
			if r := verifyWith("--type", verdictType); r.code != 0 {
				t.Errorf("one signer, threshold 1: exit %d\n%s%s", r.code, r.stdout, r.stderr)
			}
			if r := verifyWith("--type", "https://example.com/other"); r.code != cli.ExitVerifyFailed {
				t.Errorf("wrong predicate type: exit %d", r.code)
			}
			// The same key again: same payload, one signer — threshold 2 not met.
			attest("a")
			if r := verifyWith("--threshold", "2"); r.code != cli.ExitVerifyFailed || !strings.Contains(r.stdout, "threshold not met") {
				t.Errorf("duplicate signer counted twice: exit %d\n%s", r.code, r.stdout)
			}
			if r := attest("b"); r.code != 0 {
				t.Fatalf("attest b: %s", r.stderr)
			}
			if r := verifyWith("--threshold", "2", "--output", "json"); r.code != 0 {
				t.Errorf("two signers, threshold 2: exit %d\n%s", r.code, r.stdout)
			}
			if r := verifyWith("--threshold", "3"); r.code != cli.ExitVerifyFailed {
				t.Errorf("threshold 3 with two signers: exit %d", r.code)
			}
			// Revoking b: the two-signer statement no longer meets 2.
			idB := keyID(t, key("b", "pub"))
			revs := filepath.Join(t.TempDir(), "revocations.sigstore.json")
			if r := stella(t, "", "key", "revoke", "--key", key("a", "key"), "-o", revs, idB); r.code != 0 {
				t.Fatalf("key revoke: %s", r.stderr)
			}
			if r := verifyWith("--threshold", "2", "--revocations", revs); r.code != cli.ExitVerifyFailed || !strings.Contains(r.stdout, "revoked") {
				t.Errorf("revoked signer still counted: exit %d\n%s", r.code, r.stdout)
			}
			// A revocation list signed by the key it revokes is refused.
			self := filepath.Join(t.TempDir(), "self.sigstore.json")
			stella(t, "", "key", "revoke", "--key", key("b", "key"), "-o", self, idB)
			if r := verifyWith("--revocations", self); r.code != cli.ExitVerifyFailed {
				t.Errorf("self-revoking list: exit %d (%s)", r.code, r.stderr)
			}
			// Bundles for this image do not verify another image.
			r = stella(t, "", append([]string{"verify", base + "@" + other.Digest.String(), "--key", key("a", "pub")}, flags...)...)
			if r.code != cli.ExitVerifyFailed {
				t.Errorf("another image: exit %d", r.code)
			}
		})
	}
}

func keyID(t *testing.T, pubPath string) string {
	t.Helper()
	b, err := os.ReadFile(pubPath)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := cryptoutils.UnmarshalPEMToPublicKey(b)
	if err != nil {
		t.Fatal(err)
	}
	id, err := bundle.KeyID(pub)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// TestAttestTimestamp: attest --tsa-url writes a bundle whose timestamp
// verify-bundle checks against a trusted root listing the TSA.
func TestAttestTimestamp(t *testing.T) {
	t.Setenv(passphraseEnv, "")
	url, root := tsatest.Start(t)
	dir := t.TempDir()
	stella(t, "", "key", "generate", "-o", filepath.Join(dir, "k"))
	pred := filepath.Join(dir, "p.json")
	os.WriteFile(pred, []byte(`{"status":"pass"}`), 0o644)
	base := "oci:" + filepath.Join(dir, "layout")
	ref, _ := registry.ParseReference(base)
	tg, _ := registry.Open(context.Background(), ref, registry.Options{})
	img := regtest.PushImage(t, tg.Store, "v1")
	out := filepath.Join(dir, "b.json")
	if r := stella(t, "", "attest", base+"@"+img.Digest.String(), "--predicate", pred, "--type", verdictType, "--key", filepath.Join(dir, "k.key"), "--tsa-url", url, "--bundle-out", out); r.code != 0 {
		t.Fatalf("attest --tsa-url: %s", r.stderr)
	}
	if r := stella(t, "", "verify-bundle", out, "--key", filepath.Join(dir, "k.pub"), "--trusted-root", root, "--artifact-digest", img.Digest.String()); r.code != 0 {
		t.Errorf("verify-bundle of a timestamped bundle: exit %d %s", r.code, r.stderr)
	}
}

// TestServiceURLsChecked: a --tsa-url or --rekor-url that is not an
// http(s) URL is a usage error (exit 2) given before anything is read or
// written, and no error line quotes the token a URL carries; an
// unreachable service fails the command (exit 1) without the token too.
func TestServiceURLsChecked(t *testing.T) {
	l := newSignedLayout(t, []string{"a"}, nil)
	attest := []string{"attest", l.image, "--predicate", l.pred, "--type", verdictType, "--key", l.keyPath("a", "key")}
	eval := []string{"evaluate", l.image, "--feed", filepath.Join(t.TempDir(), "none.json"), "--key", l.keyPath("a", "key")}
	index := filepath.Join(l.dir, "layout", "index.json")
	before, err := os.ReadFile(index)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args []string
		code int
	}{
		{append(attest, "--tsa-url", "http://127.0.0.1:1 /x?token=s3cret"), cli.ExitUsage},
		{append(attest, "--rekor-url", "ftp://ci:s3cret@127.0.0.1/"), cli.ExitUsage},
		{append(eval, "--tsa-url", "127.0.0.1:1/x?token=s3cret"), cli.ExitUsage},
		{append(eval, "--rekor-url", "http:///?token=s3cret"), cli.ExitUsage},
		{append(attest, "--rekor-url", "http://127.0.0.1:1/?token=s3cret"), cli.ExitError},
	} {
		r := stella(t, "", tc.args...)
		if r.code != tc.code || strings.Contains(r.stderr, "s3cret") || strings.Count(r.stderr, "\n") > 2 {
			t.Errorf("%v: exit %d, want %d; stderr %q", tc.args[len(tc.args)-2:], r.code, tc.code, r.stderr)
		}
	}
	if after, err := os.ReadFile(index); err != nil || string(after) != string(before) {
		t.Errorf("the refused commands changed the layout's index (%v)", err)
	}
}
