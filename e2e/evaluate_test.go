package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stella-ops/stella-oras/internal/regtest"
	"github.com/stella-ops/stella-oras/internal/testutil"
	"github.com/stella-ops/stella-oras/registry"
)

// TestEvaluateCosign: the built binary runs the main job against the
// embedded registry, and cosign v3.1.3 verifies the verdict bundle on the
// image (`cosign verify-attestation --type` the verdict predicate type);
// then stella-oras replays it under other GOMAXPROCS to the same digest.
func TestEvaluateCosign(t *testing.T) {
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
	ex := func(p string) string { return filepath.Join(testutil.RepoRoot(), "examples", p) }
	run := func(env []string, name string, args ...string) (string, int) {
		cmd := exec.Command(name, args...)
		cmd.Dir = dir
		cmd.Env = append(append(os.Environ(), "COSIGN_PASSWORD=", "STELLA_KEY_PASSWORD=", "HOME="+dir), env...)
		out, err := cmd.CombinedOutput()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		return string(out), code
	}
	must := func(name string, args ...string) string {
		out, code := run(nil, name, args...)
		if code != 0 {
			t.Fatalf("%s %s: exit %d\n%s", filepath.Base(name), strings.Join(args, " "), code, out)
		}
		return out
	}
	so := bin["native"]
	must(so, "attach", "--plain-http", subject, ex("quickstart/sbom.cdx.json"))
	must(so, "feed", "push", "--plain-http", ex("quickstart/osv"), host+"/feeds")
	must(so, "key", "generate", "-o", "ci")
	out, code := run(nil, so, "evaluate", "--plain-http", subject, "--feed", host+"/feeds", "--key", "ci.key")
	if code != 3 || !strings.Contains(out, "computed (engine runs: 1)") {
		t.Fatalf("evaluate: exit %d (want 3: the sample fails its gate)\n%s", code, out)
	}
	out = must(cosign, "verify-attestation", "--key", "ci.pub", "--type", "https://stella-ops.org/attestation/verdict/v1", "--insecure-ignore-tlog", "--allow-http-registry", subject)
	if !strings.Contains(out, "verified against the specified public key") {
		t.Errorf("cosign verify-attestation output:\n%s", out)
	}
	for _, procs := range []string{"1", "8"} {
		out, code := run([]string{"GOMAXPROCS=" + procs}, so, "replay", "--plain-http", subject)
		if code != 0 || !strings.Contains(out, "identical") {
			t.Errorf("replay under GOMAXPROCS=%s: exit %d\n%s", procs, code, out)
		}
	}
	out, code = run(nil, so, "evaluate", "--plain-http", subject, "--feed", host+"/feeds", "--key", "ci.key")
	if code != 3 || !strings.Contains(out, "cached (engine runs: 0)") {
		t.Errorf("second evaluate: exit %d, want a cache hit\n%s", code, out)
	}
}
