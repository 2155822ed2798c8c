package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stella-ops/stella-oras/internal/testutil"
)

// TestRegistryServe: `stella-oras registry serve` runs the stella-registry
// binary beside it, in its place (same PID), serving the referrers API;
// an image attached through it is discovered through it.
func TestRegistryServe(t *testing.T) {
	addr := freePort(t)
	cmd := exec.Command(bin["native"], "registry", "serve", "--addr", addr, "--root", filepath.Join(t.TempDir(), "reg"))
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	up := false
	for range 100 {
		if resp, err := http.Get("http://" + addr + "/v2/"); err == nil {
			resp.Body.Close()
			up = resp.StatusCode == http.StatusOK
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if !up {
		t.Fatal("registry serve did not answer /v2/")
	}
	if comm, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", cmd.Process.Pid)); err == nil && strings.TrimSpace(string(comm)) != "stella-registry" {
		t.Errorf("registry serve's process is %q, want stella-registry in its place", strings.TrimSpace(string(comm)))
	}
	x := runner{t, t.TempDir()}
	out := x.must(bin["native"], "sample-image", "--plain-http", addr+"/app:v1")
	i := strings.Index(out, "sha256:")
	subject := addr + "/app@" + out[i:i+71]
	x.must(bin["native"], "attach", "--plain-http", subject, filepath.Join(testutil.RepoRoot(), "examples", "quickstart/sbom.cdx.json"))
	resp, err := http.Get("http://" + addr + "/v2/app/referrers/" + out[i:i+71])
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "application/vnd.oci.image.index.v1+json" {
		t.Errorf("referrers API through registry serve: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
}

// TestRegistryServeJSON: `registry serve --addr 127.0.0.1:0 --output json`
// prints where it listens as one JSON line on stdout (so a script can use
// a free port), and the served registry refuses a name outside the spec
// with NAME_INVALID, not a 500 naming its storage path (#11 item 10).
func TestRegistryServeJSON(t *testing.T) {
	root := filepath.Join(t.TempDir(), "reg")
	cmd := exec.Command(bin["native"], "registry", "serve", "--addr", "127.0.0.1:0", "--root", root, "--output", "json")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	var got struct{ Address, Root string }
	if err := json.NewDecoder(stdout).Decode(&got); err != nil {
		t.Fatalf("registry serve --output json: %v", err)
	}
	if !strings.HasPrefix(got.Address, "http://127.0.0.1:") || strings.HasSuffix(got.Address, ":0") || got.Root != root {
		t.Fatalf("registry serve --output json = %+v", got)
	}
	resp, err := http.Post(got.Address+"/v2/"+strings.Repeat("a", 300)+"/blobs/uploads/", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(b), "NAME_INVALID") || strings.Contains(string(b), root) {
		t.Errorf("a 300-character name: %d %.200s", resp.StatusCode, b)
	}
}

// TestStrictThroughSchemaBinary: `eval --strict` runs the stella-schema
// binary beside stella-oras: a schema-valid SBOM is evaluated, and one
// that breaks its schema (the osv-scanner fixture whose
// metadata.component has type "") exits 1 naming the schema and the
// violation.
func TestStrictThroughSchemaBinary(t *testing.T) {
	corpus := testutil.Corpus(t)
	x := runner{t, t.TempDir()}
	feed := filepath.Join(testutil.RepoRoot(), "examples", "quickstart", "osv")
	schemas := filepath.Join(corpus, "schemas")
	if _, stderr, code := x.run(bin["native"], "eval", "--strict", "--schemas", schemas, "--sbom", filepath.Join(testutil.RepoRoot(), "examples", "quickstart", "sbom.cdx.json"), "--feed", feed, "-o", "v.json"); code != 0 && code != 3 {
		t.Fatalf("schema-valid SBOM: exit %d, %s", code, stderr)
	}
	if _, err := os.Stat(filepath.Join(x.dir, "v.json")); err != nil {
		t.Errorf("schema-valid SBOM: no verdict (%v)", err)
	}
	_, stderr, code := x.run(bin["native"], "eval", "--strict", "--schemas", schemas, "--sbom", filepath.Join(corpus, "sbom", "cyclonedx", "osv-scanner", "alpine-zlib-16.cdx.json"), "--feed", feed, "-o", "bad.json")
	if code != 1 || !strings.Contains(stderr, "schema validation failed against cyclonedx/bom-1.6.schema.json") || !strings.Contains(stderr, "/metadata/component") {
		t.Errorf("schema-invalid SBOM: exit %d, %s", code, stderr)
	}
	if _, err := os.Stat(filepath.Join(x.dir, "bad.json")); !os.IsNotExist(err) {
		t.Error("a refused SBOM left a verdict")
	}
}
