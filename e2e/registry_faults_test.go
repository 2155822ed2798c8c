package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stella-ops/stella-oras/internal/regtest"
	"github.com/stella-ops/stella-oras/internal/testutil"
)

// dockerRegistry is Debian's docker-registry (CNCF distribution 2.8: no
// referrers API, so the tag schema) serving a data directory over plain
// HTTP, with deletes enabled. It can be stopped, garbage-collected and
// restarted on the same address and data, read-only or not.
type dockerRegistry struct {
	t    *testing.T
	bin  string
	dir  string
	addr string
	// extra is YAML appended to the configuration: TLS under http, auth.
	extra string
	cmd   *exec.Cmd
	mu    sync.Mutex
}

func newDockerRegistry(t *testing.T) *dockerRegistry {
	r := &dockerRegistry{t: t, bin: tool(t, "docker-registry", "apt-get install docker-registry"), dir: t.TempDir(), addr: freePort(t)}
	t.Cleanup(r.stop)
	return r
}

func (r *dockerRegistry) config(readOnly bool) string {
	cfg := fmt.Sprintf(`version: 0.1
log:
  level: error
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: %s
  delete:
    enabled: true
  maintenance:
    uploadpurging:
      enabled: false
    readonly:
      enabled: %t
http:
  addr: %s
%s`, filepath.Join(r.dir, "data"), readOnly, r.addr, r.extra)
	p := filepath.Join(r.dir, "config.yml")
	os.WriteFile(p, []byte(cfg), 0o644)
	return p
}

func (r *dockerRegistry) start(readOnly bool) {
	r.t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	cmd := exec.Command(r.bin, "serve", r.config(readOnly))
	logf, _ := os.OpenFile(filepath.Join(r.dir, "registry.log"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		r.t.Fatal(err)
	}
	r.cmd = cmd
	for range 200 {
		if c, err := net.DialTimeout("tcp", r.addr, 100*time.Millisecond); err == nil {
			c.Close()
			return
		}
		time.Sleep(25 * time.Millisecond)
	}
	b, _ := os.ReadFile(filepath.Join(r.dir, "registry.log"))
	r.t.Fatalf("docker-registry did not start:\n%s", b)
}

// stop kills the registry (SIGKILL: no graceful shutdown) and waits.
func (r *dockerRegistry) stop() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.cmd != nil {
		r.cmd.Process.Kill()
		r.cmd.Wait()
		r.cmd = nil
	}
}

func (r *dockerRegistry) garbageCollect() string {
	r.t.Helper()
	out, err := exec.Command(r.bin, "garbage-collect", "--delete-untagged", r.config(false)).CombinedOutput()
	if err != nil {
		r.t.Fatalf("garbage-collect: %v\n%s", err, out)
	}
	return string(out)
}

// blobStored says whether the registry's storage holds a blob's data.
func (r *dockerRegistry) blobStored(d string) bool {
	hex := strings.TrimPrefix(d, "sha256:")
	_, err := os.Stat(filepath.Join(r.dir, "data/docker/registry/v2/blobs/sha256", hex[:2], hex, "data"))
	return err == nil
}

type runner struct {
	t   *testing.T
	dir string
}

func (x runner) run(name string, args ...string) (string, string, int) {
	x.t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = x.dir
	cmd.Env = append(os.Environ(), "STELLA_KEY_PASSWORD=", "HOME="+x.dir)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		x.t.Fatalf("%s: %v", name, err)
	}
	return out.String(), errb.String(), code
}

func (x runner) must(name string, args ...string) string {
	x.t.Helper()
	out, errs, code := x.run(name, args...)
	if code != 0 {
		x.t.Fatalf("%s %s: exit %d\n%s%s", filepath.Base(name), strings.Join(args, " "), code, out, errs)
	}
	return out
}

type evalJSON struct {
	Images []struct {
		State         string `json:"state"`
		VerdictDigest string `json:"verdict_digest"`
		Verdict       string `json:"verdict_artifact"`
		SBOM          struct {
			Referrer struct {
				Digest string `json:"digest"`
			} `json:"referrer"`
		} `json:"sbom"`
	} `json:"images"`
}

// TestEvaluateRegistryFaults: the main job on Debian's docker-registry (tag
// schema), then
//   - the repository copied with its referrers (oras cp -r) into the
//     embedded registry replays to the same verdict digest there;
//   - the SBOM's own referrer deleted and `garbage-collect
//     --delete-untagged` run: the SBOM manifest's data is gone, and the
//     verdict still replays identically (its artifact holds every input);
//   - the registry in read-only mode: evaluate exits 1 with one line and
//     pushes nothing;
//   - the registry killed just as the verdict's bundle is pushed: exit 1,
//     the bundle-less verdict is `unknown`, never valid; after a restart
//     the rerun completes it (computed, and status computed).
func TestEvaluateRegistryFaults(t *testing.T) {
	oras := tool(t, "oras", "go install oras.land/oras/cmd/oras@v1.3.6")
	reg := newDockerRegistry(t)
	reg.start(false)
	x := runner{t, t.TempDir()}
	so := bin["native"]
	ex := func(p string) string { return filepath.Join(testutil.RepoRoot(), "examples", p) }
	host := reg.addr
	newImage := func(tag, text string) string {
		out := x.must(so, "sample-image", "--plain-http", host+"/app:"+tag, "--text", text)
		i := strings.Index(out, "sha256:")
		subject := host + "/app@" + out[i:i+71]
		x.must(so, "attach", "--plain-http", subject, ex("quickstart/sbom.cdx.json"))
		return subject
	}
	subject := newImage("v1", "fault test v1")
	x.must(so, "feed", "push", "--plain-http", ex("quickstart/osv"), host+"/feeds")
	x.must(so, "key", "generate", "-o", "ci")
	evaluate := func(h, subject string, extra ...string) (evalJSON, string, int) {
		out, errs, code := x.run(so, append([]string{"evaluate", "--plain-http", strings.Replace(subject, host, h, 1), "--feed", h + "/feeds", "--key", "ci.key", "--fail-on", "new-findings", "--baseline", strings.Replace(subject, host, h, 1), "--output", "json"}, extra...)...)
		var ev evalJSON
		if code == 0 || code == 3 {
			if err := json.Unmarshal([]byte(out), &ev); err != nil {
				t.Fatalf("evaluate --output json: %v\n%s", err, out)
			}
		}
		return ev, errs, code
	}
	ev, errs, code := evaluate(host, subject)
	if code != 0 || ev.Images[0].State != "computed" {
		t.Fatalf("evaluate on docker-registry: exit %d %+v\n%s", code, ev, errs)
	}
	want := ev.Images[0].VerdictDigest

	// A copy of the repository with its referrers, in another registry.
	other := regtest.Start(t, regtest.Referrers)
	x.must(oras, "cp", "-r", "--from-plain-http", "--to-plain-http", subject, other+"/copy:v1")
	copied := strings.Replace(subject, host+"/app", other+"/copy", 1)
	out := x.must(so, "replay", "--plain-http", copied, "--output", "json")
	if !strings.Contains(out, `"outcome": "identical"`) || !strings.Contains(out, want) {
		t.Errorf("replay on the copy in another registry:\n%s\nwant identical %s", out, want)
	}

	// Delete the SBOM's own referrer and collect garbage.
	sbomManifest := ev.Images[0].SBOM.Referrer.Digest
	x.must(oras, "manifest", "delete", "--plain-http", "--force", host+"/app@"+sbomManifest)
	reg.stop()
	if !reg.blobStored(sbomManifest) {
		t.Fatalf("the SBOM manifest %s is not in storage before garbage collection", sbomManifest)
	}
	reg.garbageCollect()
	if reg.blobStored(sbomManifest) {
		t.Errorf("garbage-collect --delete-untagged left the deleted SBOM manifest's data")
	}
	reg.start(false)
	out = x.must(so, "replay", "--plain-http", subject, "--output", "json")
	if !strings.Contains(out, `"outcome": "identical"`) || !strings.Contains(out, want) {
		t.Errorf("replay after the SBOM referrer was deleted and garbage collected:\n%s", out)
	}

	// Read-only registry: refused, one line, nothing pushed.
	second := newImage("v2", "fault test v2")
	reg.stop()
	reg.start(true)
	_, errs, code = evaluate(host, second)
	if code != 1 || strings.Count(strings.TrimSpace(errs), "\n") != 0 || !strings.Contains(errs, "Error:") {
		t.Errorf("evaluate on a read-only registry: exit %d, stderr %q; want 1 and one line", code, errs)
	}
	if out := x.must(so, "discover", "--plain-http", second, "--output", "json"); strings.Contains(out, "verdict") || strings.Contains(out, "sigstore") {
		t.Errorf("a refused evaluate left referrers:\n%s", out)
	}
	reg.stop()

	// Killed as the bundle is pushed. The proxy only watches: it kills the
	// real registry process when the bundle manifest's PUT arrives, then
	// forwards the request to the dead port.
	reg.start(false)
	target, _ := url.Parse("http://" + host)
	proxy := httputil.NewSingleHostReverseProxy(target)
	var killed sync.Once
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPut && strings.Contains(r.URL.Path, "/manifests/") {
			body, _ := io.ReadAll(r.Body)
			r.Body = io.NopCloser(bytes.NewReader(body))
			if bytes.Contains(body, []byte(`"artifactType":"application/vnd.dev.sigstore.bundle`)) {
				killed.Do(reg.stop)
			}
		}
		proxy.ServeHTTP(w, r)
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	via := ln.Addr().String()
	x.must(so, "feed", "push", "--plain-http", ex("quickstart/osv"), via+"/feeds")
	_, errs, code = evaluate(via, second)
	if code != 1 || strings.Count(strings.TrimSpace(errs), "\n") != 0 {
		t.Errorf("evaluate with the registry killed mid-push: exit %d, stderr %q; want 1 and one line", code, errs)
	}
	reg.start(false)
	st := x.must(so, "status", "--plain-http", second, "--key", "ci.pub", "--output", "json")
	if strings.Contains(st, `"state": "computed"`) {
		t.Errorf("after the killed run a verdict claims to be valid:\n%s", st)
	}
	ev, errs, code = evaluate(via, second)
	if code != 0 || ev.Images[0].State != "computed" {
		t.Fatalf("rerun after the registry came back: exit %d %+v\n%s", code, ev, errs)
	}
	st = x.must(so, "status", "--plain-http", second, "--key", "ci.pub", "--output", "json")
	if !strings.Contains(st, `"state": "computed"`) || strings.Contains(st, `"state": "unknown"`) {
		t.Errorf("status after the rerun:\n%s", st)
	}
}
