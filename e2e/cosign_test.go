package e2e

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stella-ops/stella-oras/internal/regtest"
	"github.com/stella-ops/stella-oras/registry"
)

// TestCosignInterop: cosign v3.1.3 verifies what `stella-oras attest`
// pushes; `stella-oras verify` verifies what `cosign attest` and
// `cosign sign` push (offline signing: no signing config, no tlog upload);
// `stella-oras attest` signs with a cosign-generated key.
func TestCosignInterop(t *testing.T) {
	cosign := tool(t, "cosign", "go install github.com/sigstore/cosign/v3/cmd/cosign@v3.1.3")
	host := regtest.Start(t, regtest.Referrers)
	ref, _ := registry.ParseReference(host + "/app")
	tg, err := registry.Open(t.Context(), ref, registry.Options{PlainHTTP: true})
	if err != nil {
		t.Fatal(err)
	}
	img := regtest.PushImage(t, tg.Store, "v1")
	subject := host + "/app@" + img.Digest.String()
	dir := t.TempDir()
	env := append(os.Environ(), "COSIGN_PASSWORD=", "STELLA_KEY_PASSWORD=", "HOME="+dir)
	runIn := func(name string, args ...string) (string, error) {
		cmd := exec.Command(name, args...)
		cmd.Dir, cmd.Env = dir, env
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	must := func(name string, args ...string) string {
		out, err := runIn(name, args...)
		if err != nil {
			t.Fatalf("%s %s: %v\n%s", filepath.Base(name), strings.Join(args, " "), err, out)
		}
		return out
	}
	const ours = "https://stella-ops.org/attestation/verdict/v1"
	os.WriteFile(filepath.Join(dir, "verdict.json"), []byte(`{"status":"pass"}`), 0o644)
	os.WriteFile(filepath.Join(dir, "prov.json"), []byte(`{"builder":{"id":"ci"}}`), 0o644)
	must(bin["native"], "key", "generate", "-o", "stella")
	must(cosign, "generate-key-pair")

	// stella-oras attest -> cosign verify-attestation.
	must(bin["native"], "attest", "--plain-http", subject, "--predicate", "verdict.json", "--type", ours, "--key", "stella.key")
	out := must(cosign, "verify-attestation", "--key", "stella.pub", "--type", ours, "--insecure-ignore-tlog", "--allow-http-registry", subject)
	if !strings.Contains(out, "verified against the specified public key") {
		t.Errorf("cosign verify-attestation output:\n%s", out)
	}
	// A stella-oras attestation signed with a cosign key.
	must(bin["native"], "attest", "--plain-http", subject, "--predicate", "verdict.json", "--type", ours, "--key", "cosign.key")

	// cosign attest and cosign sign -> stella-oras verify.
	must(cosign, "attest", "--key", "cosign.key", "--use-signing-config=false", "--tlog-upload=false", "--allow-http-registry",
		"--type", "https://slsa.dev/provenance/v1", "--predicate", "prov.json", "-y", subject)
	must(cosign, "sign", "--key", "cosign.key", "--use-signing-config=false", "--tlog-upload=false", "--allow-http-registry", "-y", subject)
	for _, typ := range []string{"https://slsa.dev/provenance/v1", "https://sigstore.dev/cosign/sign/v1", ours} {
		out := must(bin["native"], "verify", "--plain-http", subject, "--key", "cosign.pub", "--type", typ, "--output", "json")
		var rep struct {
			Satisfied bool `json:"satisfied"`
		}
		if err := json.Unmarshal([]byte(out), &rep); err != nil || !rep.Satisfied {
			t.Errorf("stella-oras verify --type %s of cosign's bundles: %s", typ, out)
		}
	}
	// Both keys signed the same verdict statement? No: payloads differ only
	// if the statements differ; ours are identical, so threshold 2 holds.
	must(bin["native"], "verify", "--plain-http", subject, "--key", "cosign.pub", "--key", "stella.pub", "--threshold", "2", "--type", ours)
}
