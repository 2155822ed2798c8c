package e2e

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/stella-ops/stella-oras/internal/regtest"
	"github.com/stella-ops/stella-oras/internal/testutil"
	"github.com/stella-ops/stella-oras/registry"
	"oras.land/oras-go/v2/registry/remote/credentials"
)

// testPKI writes a CA and a server certificate for 127.0.0.1.
func testPKI(t *testing.T, dir string) (caFile, certFile, keyFile string) {
	t.Helper()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "stella-oras test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		KeyUsage: x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	kb, _ := x509.MarshalECPrivateKey(key)
	caFile, certFile, keyFile = filepath.Join(dir, "ca.pem"), filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}), 0o644)
	os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644)
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600)
	return caFile, certFile, keyFile
}

func freePort(t *testing.T) string {
	return freePorts(t, 1)[0]
}

// freePorts returns n distinct free loopback addresses: each listener is
// held open until all n are taken (closed one by one, the kernel could
// hand out the same port twice: TestRekorV2 once got 42757 for two of
// its three).
func freePorts(t *testing.T, n int) []string {
	t.Helper()
	out := make([]string, n)
	for i := range out {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		out[i] = l.Addr().String()
	}
	return out
}

// TestDockerRegistry: the built binary against Debian's docker-registry
// (CNCF distribution 2.8: no referrers API) with htpasswd basic auth, TLS
// from a test CA, and credentials from a docker config.json.
func TestDockerRegistry(t *testing.T) {
	reg := newDockerRegistry(t)
	dir := reg.dir
	caFile, certFile, keyFile := testPKI(t, dir)
	hash, _ := bcrypt.GenerateFromPassword([]byte("s3cret"), bcrypt.DefaultCost)
	os.WriteFile(filepath.Join(dir, "htpasswd"), []byte("ci:"+string(hash)+"\n"), 0o600)
	addr := reg.addr
	reg.extra = fmt.Sprintf(`  tls:
    certificate: %s
    key: %s
auth:
  htpasswd:
    realm: stella-test
    path: %s
`, certFile, keyFile, filepath.Join(dir, "htpasswd"))
	reg.start(false)

	writeConfig := func(pass string) string {
		p := filepath.Join(t.TempDir(), "config.json")
		auth := base64.StdEncoding.EncodeToString([]byte("ci:" + pass))
		b, _ := json.Marshal(map[string]any{"auths": map[string]any{addr: map[string]string{"auth": auth}}})
		os.WriteFile(p, b, 0o600)
		return p
	}
	good := writeConfig("s3cret")
	store, err := credentials.NewStore(good, credentials.StoreOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ref, _ := registry.ParseReference(addr + "/app")
	tg, err := registry.Open(t.Context(), ref, registry.Options{CAFile: caFile, Credentials: store})
	if err != nil {
		t.Fatal(err)
	}
	img := regtest.PushImage(t, tg.Store, "v1")
	subject := addr + "/app@" + img.Digest.String()
	flags := []string{"--ca-file", caFile, "--registry-config", good}
	sbom := filepath.Join(testutil.RepoRoot(), "examples/quickstart/sbom.cdx.json")

	var res struct {
		Manifest struct {
			Digest string `json:"digest"`
		} `json:"manifest"`
	}
	out := run(t, bin["native"], append([]string{"attach", subject, sbom, "--output", "json"}, flags...)...)
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatal(err)
	}
	disc := run(t, bin["native"], append([]string{"discover", subject}, flags...)...)
	if !strings.Contains(disc, res.Manifest.Digest) {
		t.Errorf("discover on docker-registry misses %s:\n%s", res.Manifest.Digest, disc)
	}
	pulled := t.TempDir()
	run(t, bin["native"], append([]string{"pull", addr + "/app@" + res.Manifest.Digest, "-o", pulled}, flags...)...)
	if _, err := os.Stat(filepath.Join(pulled, "sbom.cdx.json")); err != nil {
		t.Error(err)
	}

	// Wrong password: exit 1, one line naming the credential source.
	bad := writeConfig("wrong")
	c := exec.Command(bin["native"], "discover", subject, "--ca-file", caFile, "--registry-config", bad)
	stderr, _ := c.CombinedOutput()
	if c.ProcessState.ExitCode() != 1 || !strings.Contains(string(stderr), bad) || strings.Count(string(stderr), "\n") != 1 {
		t.Errorf("wrong password: exit %d, %q", c.ProcessState.ExitCode(), stderr)
	}
	// Without the CA: a TLS error, exit 1.
	c = exec.Command(bin["native"], "discover", subject, "--registry-config", good)
	if stderr, _ := c.CombinedOutput(); c.ProcessState.ExitCode() != 1 || !strings.Contains(string(stderr), "certificate") {
		t.Errorf("untrusted certificate: exit %d, %q", c.ProcessState.ExitCode(), stderr)
	}
	_ = http.StatusOK
}
