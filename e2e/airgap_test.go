package e2e

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/stella-ops/stella-oras/internal/testutil"
)

// servedRegistry is `stella-oras registry serve` as a process, which the
// test can stop (SIGKILL) and start again on the same storage.
type servedRegistry struct {
	t          *testing.T
	addr, root string
	cmd        *exec.Cmd
}

func (r *servedRegistry) start() {
	r.t.Helper()
	r.cmd = exec.Command(bin["native"], "registry", "serve", "--addr", r.addr, "--root", r.root)
	if err := r.cmd.Start(); err != nil {
		r.t.Fatal(err)
	}
	for range 200 {
		if resp, err := http.Get("http://" + r.addr + "/v2/"); err == nil {
			resp.Body.Close()
			return
		}
		time.Sleep(25 * time.Millisecond)
	}
	r.t.Fatal("registry serve did not start")
}

func (r *servedRegistry) stop() {
	if r.cmd != nil {
		r.cmd.Process.Kill()
		r.cmd.Wait()
		r.cmd = nil
	}
}

// TestAirGap is the air-gap story (#12): registry A (the embedded one:
// referrers API) holds an image with its SBOM, a verdict and its bundle;
// `mirror` carries it into an OCI layout tar; with A stopped, the tar is
// mirrored into registry B (Debian's docker-registry: no referrers API,
// TLS and basic auth), where `verify` and `replay` give what they gave on
// A. Then a VEX document is attached on A, both legs are run again, and
// the VEX reaches B (the incremental state sends nothing else).
func TestAirGap(t *testing.T) {
	x := runner{t, t.TempDir()}
	dir := t.TempDir()
	examples := filepath.Join(testutil.RepoRoot(), "examples", "quickstart")
	env := []string{"STELLA_KEY_PASSWORD="}

	a := &servedRegistry{t: t, addr: freePort(t), root: filepath.Join(dir, "a")}
	a.start()
	t.Cleanup(a.stop)
	out := x.must(bin["native"], "sample-image", "--plain-http", a.addr+"/app:v1")
	i := strings.Index(out, "sha256:")
	dgst := out[i : i+71]
	onA := a.addr + "/app@" + dgst
	x.must(bin["native"], "attach", "--plain-http", onA, filepath.Join(examples, "sbom.cdx.json"))
	x.must(bin["native"], "feed", "push", "--plain-http", filepath.Join(examples, "osv"), a.addr+"/feeds")
	key := filepath.Join(dir, "ci")
	if _, stderr, code := runCode(t, env, "", bin["native"], "key", "generate", "-o", key); code != 0 {
		t.Fatal(stderr)
	}
	if _, stderr, code := runCode(t, env, "", bin["native"], "evaluate", "--plain-http", onA, "--feed", a.addr+"/feeds", "--key", key+".key"); code != 0 && code != 3 {
		t.Fatalf("evaluate on A: exit %d: %s", code, stderr)
	}
	verifyA := x.must(bin["native"], "verify", "--plain-http", onA, "--key", key+".pub", "--output", "json")
	replayA := x.must(bin["native"], "replay", "--plain-http", onA, "--output", "json")

	tarball := filepath.Join(dir, "air.tar")
	stateA, stateB := filepath.Join(dir, "state-a"), filepath.Join(dir, "state-b")
	x.must(bin["native"], "mirror", "--plain-http", "--state-dir", stateA, onA, "oci-archive:"+tarball)
	a.stop()

	// B: docker-registry with TLS and basic auth.
	b := newDockerRegistry(t)
	caFile, certFile, keyFile := testPKI(t, b.dir)
	hash, _ := bcrypt.GenerateFromPassword([]byte("s3cret"), bcrypt.DefaultCost)
	os.WriteFile(filepath.Join(b.dir, "htpasswd"), []byte("ci:"+string(hash)+"\n"), 0o600)
	b.extra = fmt.Sprintf("  tls:\n    certificate: %s\n    key: %s\nauth:\n  htpasswd:\n    realm: stella-test\n    path: %s\n", certFile, keyFile, filepath.Join(b.dir, "htpasswd"))
	b.start(false)
	cfg := filepath.Join(dir, "config.json")
	auth := base64.StdEncoding.EncodeToString([]byte("ci:s3cret"))
	cb, _ := json.Marshal(map[string]any{"auths": map[string]any{b.addr: map[string]string{"auth": auth}}})
	os.WriteFile(cfg, cb, 0o600)
	bflags := []string{"--ca-file", caFile, "--registry-config", cfg}
	onB := b.addr + "/app@" + dgst
	x.must(bin["native"], append([]string{"mirror", "--state-dir", stateB, "oci-archive:" + tarball + "@" + dgst, b.addr + "/app"}, bflags...)...)

	if got := x.must(bin["native"], append([]string{"verify", onB, "--key", key + ".pub", "--output", "json"}, bflags...)...); sameVerify(t, got) != sameVerify(t, verifyA) {
		t.Errorf("verify on B differs from A:\n%s\nwant\n%s", got, verifyA)
	}
	if got := x.must(bin["native"], append([]string{"replay", onB, "--output", "json"}, bflags...)...); replayDigests(t, got) != replayDigests(t, replayA) || !strings.Contains(got, `"identical"`) {
		t.Errorf("replay on B:\n%s\nwant the digests of A's:\n%s", got, replayA)
	}

	// A VEX attached on A after the first mirror reaches B on the next.
	a.start()
	vex := filepath.Join(examples, "vex.openvex.json")
	att := x.must(bin["native"], "attach", "--plain-http", "--output", "json", onA, vex)
	var vexRes struct {
		Manifest struct {
			Digest string `json:"digest"`
		} `json:"manifest"`
	}
	if err := json.Unmarshal([]byte(att), &vexRes); err != nil {
		t.Fatal(err)
	}
	x.must(bin["native"], "mirror", "--plain-http", "--state-dir", stateA, onA, "oci-archive:"+tarball)
	a.stop()
	second := x.must(bin["native"], append([]string{"mirror", "--output", "json", "--state-dir", stateB, "oci-archive:" + tarball + "@" + dgst, b.addr + "/app"}, bflags...)...)
	disc := x.must(bin["native"], append([]string{"discover", onB}, bflags...)...)
	if !strings.Contains(disc, vexRes.Manifest.Digest) {
		t.Errorf("the VEX %s attached on A after the first mirror is not on B:\n%s", vexRes.Manifest.Digest, disc)
	}
	var rep struct {
		Images []struct {
			Report struct {
				Blobs []struct {
					State string `json:"state"`
				} `json:"blobs"`
			} `json:"report"`
		} `json:"images"`
	}
	if err := json.Unmarshal([]byte(second), &rep); err != nil {
		t.Fatal(err)
	}
	copied := 0
	for _, bl := range rep.Images[0].Report.Blobs {
		if bl.State == "copied" {
			copied++
		}
	}
	if copied != 1 {
		t.Errorf("second mirror into B copied %d blobs, want 1 (the VEX document)", copied)
	}
}

// sameVerify is what must agree between two verify outputs: the verdict
// bundles' digests, signers and results (not the references, which name
// different registries).
func sameVerify(t *testing.T, out string) string {
	t.Helper()
	var v struct {
		Satisfied bool `json:"satisfied"`
		Bundles   []struct {
			Bundle   string `json:"bundle"`
			Signer   string `json:"signer"`
			Verified bool   `json:"verified"`
		} `json:"bundles"`
	}
	if err := json.Unmarshal([]byte(out), &v); err != nil {
		t.Fatalf("verify output: %v\n%s", err, out)
	}
	if !v.Satisfied || len(v.Bundles) == 0 {
		t.Errorf("verify did not verify a bundle:\n%s", out)
	}
	b, _ := json.Marshal(v)
	return string(b)
}

// replayDigests are a replay output's outcomes and verdict digests.
func replayDigests(t *testing.T, out string) string {
	t.Helper()
	var v []struct {
		Outcome  string `json:"outcome"`
		Verdict  string `json:"verdict_digest"`
		Replayed string `json:"replayed_verdict_digest"`
	}
	if err := json.Unmarshal([]byte(out), &v); err != nil {
		t.Fatalf("replay output: %v\n%s", err, out)
	}
	if len(v) == 0 || v[0].Replayed == "" || v[0].Replayed != v[0].Verdict {
		t.Errorf("replay did not replay a verdict to its digest:\n%s", out)
	}
	b, _ := json.Marshal(v)
	return string(b)
}
