package e2e

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stella-ops/stella-oras/internal/regtest"
	"github.com/stella-ops/stella-oras/registry"
)

// rekorRoot writes a trusted root listing a Rekor v2 log at baseURL with
// the given ECDSA key (log ID: SHA-256 of the key's DER, as Rekor computes
// it for ECDSA keys).
func rekorRoot(t *testing.T, baseURL string, pub *ecdsa.PublicKey) string {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	id := sha256.Sum256(der)
	root := map[string]any{
		"mediaType": "application/vnd.dev.sigstore.trustedroot+json;version=0.1",
		"tlogs": []any{map[string]any{
			"baseUrl":       baseURL,
			"hashAlgorithm": "SHA2_256",
			"publicKey": map[string]any{
				"rawBytes":   base64.StdEncoding.EncodeToString(der),
				"keyDetails": "PKIX_ECDSA_P256_SHA_256",
				"validFor":   map[string]string{"start": time.Now().Add(-time.Hour).UTC().Format(time.RFC3339)},
			},
			"logId": map[string]string{"keyId": base64.StdEncoding.EncodeToString(id[:])},
		}},
	}
	b, _ := json.Marshal(root)
	p := filepath.Join(t.TempDir(), "trusted_root.json")
	os.WriteFile(p, b, 0o644)
	return p
}

// TestRekorV2: `attest --rekor-url` records the signature in a real Rekor
// v2 log (rekor-tiles, POSIX storage, on loopback) and verify-bundle checks
// the entry's inclusion proof and signed checkpoint against a trusted root
// listing that log — and refuses a root with another log key.
func TestRekorV2(t *testing.T) {
	server := tool(t, "posix", "go install github.com/sigstore/rekor-tiles/v2/cmd/rekor-server/posix@v2.3.0")
	dir := t.TempDir()
	logKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	kb, _ := x509.MarshalPKCS8PrivateKey(logKey)
	os.WriteFile(filepath.Join(dir, "log.pem"), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kb}), 0o600)
	ports := freePorts(t, 3)
	httpAddr, grpcAddr, metricsAddr := ports[0], ports[1], ports[2]
	port := func(a string) string { _, p, _ := net.SplitHostPort(a); return p }
	cmd := exec.Command(server, "serve", "--storage-dir", filepath.Join(dir, "log"), "--signer-filepath", filepath.Join(dir, "log.pem"),
		"--hostname", "127.0.0.1", "--http-port", port(httpAddr), "--grpc-port", port(grpcAddr), "--http-metrics-port", port(metricsAddr),
		"--checkpoint-interval", "300ms", "--batch-max-age", "50ms")
	logf, _ := os.Create(filepath.Join(dir, "rekor.log"))
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	base := "http://" + httpAddr
	for i := 0; ; i++ {
		if resp, err := http.Get(base + "/healthz"); err == nil {
			resp.Body.Close()
			break
		}
		if i > 300 { // 30 s: a cold start of the large server binary can be slow
			b, _ := os.ReadFile(filepath.Join(dir, "rekor.log"))
			t.Fatalf("rekor (%s %v) did not start:\n%s", server, cmd.Args, b)
		}
		time.Sleep(100 * time.Millisecond)
	}

	layout := "oci:" + filepath.Join(dir, "layout")
	ref, _ := registry.ParseReference(layout)
	tg, _ := registry.Open(t.Context(), ref, registry.Options{})
	img := regtest.PushImage(t, tg.Store, "v1")
	env := append(os.Environ(), "STELLA_KEY_PASSWORD=")
	runEnv := func(args ...string) (string, int) {
		c := exec.Command(bin["native"], args...)
		c.Env, c.Dir = env, dir
		out, _ := c.CombinedOutput()
		return string(out), c.ProcessState.ExitCode()
	}
	runEnv("key", "generate", "-o", "k")
	os.WriteFile(filepath.Join(dir, "p.json"), []byte(`{"status":"pass"}`), 0o644)
	if out, code := runEnv("attest", layout+"@"+img.Digest.String(), "--predicate", "p.json", "--type", "https://stella-ops.org/attestation/verdict/v1",
		"--key", "k.key", "--rekor-url", base, "--bundle-out", "b.json"); code != 0 {
		t.Fatalf("attest --rekor-url: %s", out)
	}
	b, _ := os.ReadFile(filepath.Join(dir, "b.json"))
	if !strings.Contains(string(b), "inclusionProof") {
		t.Fatalf("no transparency-log entry in the bundle:\n%s", b)
	}
	good := rekorRoot(t, base, &logKey.PublicKey)
	if out, code := runEnv("verify-bundle", "b.json", "--key", "k.pub", "--trusted-root", good, "--artifact-digest", img.Digest.String()); code != 0 {
		t.Errorf("verify-bundle with the log's root: exit %d\n%s", code, out)
	}
	otherKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if out, code := runEnv("verify-bundle", "b.json", "--key", "k.pub", "--trusted-root", rekorRoot(t, base, &otherKey.PublicKey), "--artifact-digest", img.Digest.String()); code != 4 {
		t.Errorf("verify-bundle with another log key: exit %d, want 4\n%s", code, out)
	}
}
