package registry_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"oras.land/oras-go/v2/registry/remote/credentials"

	"github.com/stella-ops/stella-oras/evaluator"

	"github.com/stella-ops/stella-oras/internal/regtest"
	"github.com/stella-ops/stella-oras/registry"
)

// TestPullChangesNothingOnFailure (#11 item 8): a pull that fails leaves
// the disk as it was: no file of it moved in, no -o directory created; an
// existing file is not overwritten unless Force.
func TestPullChangesNothingOnFailure(t *testing.T) {
	ctx := context.Background()
	host := regtest.Start(t, regtest.Referrers)
	tg := openRemote(t, host)
	a, err := registry.PushArtifact(ctx, tg, registry.ArtifactOptions{
		ArtifactType: "application/vnd.example",
		Layers: []registry.Layer{
			registry.NewLayer("text/plain", []byte("first"), "a.txt"),
			registry.NewLayer("text/plain", []byte("second"), "b.txt"),
		},
	})
	if err != nil {
		t.Fatal(err)
	}

	// b.txt exists as a directory: nothing is moved in, not even a.txt.
	out := t.TempDir()
	if err := os.Mkdir(filepath.Join(out, "b.txt"), 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := registry.Pull(ctx, tg, a.Digest, out, registry.PullOptions{}); err == nil {
		t.Fatal("pull over a directory succeeded")
	}
	if es, _ := os.ReadDir(out); len(es) != 1 || es[0].Name() != "b.txt" {
		t.Errorf("after a failed pull the directory holds %v", names(es))
	}

	// An existing file is refused without Force, replaced with it.
	out = t.TempDir()
	old := filepath.Join(out, "a.txt")
	os.WriteFile(old, []byte("mine"), 0o644)
	if _, err := registry.Pull(ctx, tg, a.Digest, out, registry.PullOptions{}); !errors.Is(err, registry.ErrExists) {
		t.Errorf("pull over an existing file = %v, want ErrExists", err)
	}
	if b, _ := os.ReadFile(old); string(b) != "mine" {
		t.Errorf("existing file became %q", b)
	}
	if _, err := os.Stat(filepath.Join(out, "b.txt")); !os.IsNotExist(err) {
		t.Error("a refused pull wrote b.txt")
	}
	if _, err := registry.Pull(ctx, tg, a.Digest, out, registry.PullOptions{Force: true}); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(old); string(b) != "first" {
		t.Errorf("forced pull left %q", b)
	}

	// A failing pull into a directory that does not exist creates none of
	// its path.
	base := t.TempDir()
	missing := filepath.Join(base, "x", "y")
	if _, err := registry.Pull(ctx, tg, a.Digest, missing, registry.PullOptions{MaxBlobBytes: 2}); !errors.Is(err, registry.ErrTooLarge) {
		t.Errorf("pull over the blob limit = %v", err)
	}
	if es, _ := os.ReadDir(base); len(es) != 0 {
		t.Errorf("a failed pull created %v", names(es))
	}
	if _, err := registry.Pull(ctx, tg, a.Digest, missing, registry.PullOptions{}); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(filepath.Join(missing, "b.txt")); string(b) != "second" {
		t.Errorf("pull into a new directory: %q", b)
	}
}

func names(es []os.DirEntry) []string {
	var n []string
	for _, e := range es {
		n = append(n, e.Name())
	}
	return n
}

// TestArchiveDiscard (#11 item 8): what a failed command wrote into an OCI
// layout tar is dropped (the tar keeps its bytes); Close after Discard,
// and a second Close, do nothing. Commands defer Discard and Close only
// on success; before, they deferred Close, which repacked the tar with the
// failed command's blobs.
func TestArchiveDiscard(t *testing.T) {
	ctx := context.Background()
	p := filepath.Join(t.TempDir(), "img.tar")
	ref, _ := registry.ParseReference("oci-archive:" + p)
	tg, err := registry.Open(ctx, ref, registry.Options{})
	if err != nil {
		t.Fatal(err)
	}
	img := regtest.PushImage(t, tg.Store, "v1")
	if err := tg.Close(); err != nil {
		t.Fatal(err)
	}
	if err := tg.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	before, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	tg, _ = registry.Open(ctx, ref, registry.Options{})
	if _, err := registry.Attach(ctx, tg, img, []byte(`{"bomFormat":"CycloneDX"}`), registry.AttachOptions{ArtifactType: sbomType, MediaType: sbomType}); err != nil {
		t.Fatal(err)
	}
	tg.Discard()
	if err := tg.Close(); err != nil {
		t.Fatal(err)
	}
	if after, _ := os.ReadFile(p); string(after) != string(before) {
		t.Error("a discarded attach changed the tar")
	}
	tg, _ = registry.Open(ctx, ref, registry.Options{})
	defer tg.Discard()
	if refs, err := registry.Referrers(ctx, tg, img, ""); err != nil || len(refs) != 0 {
		t.Errorf("after Discard the tar lists %d referrers (%v)", len(refs), err)
	}
}

// TestPullCutShortIsNotAMismatch (#11 item 12): a connection dropped in
// the middle of a blob, or a pull cancelled (Ctrl-C), is a failure to run
// (exit 1), not content that does not match its digest (exit 4). (A fake:
// a proxy in front of the real registry that cuts or stalls blob bodies.)
func TestPullCutShortIsNotAMismatch(t *testing.T) {
	ctx := context.Background()
	backend := regtest.Start(t, regtest.Referrers)
	tg := openRemote(t, backend)
	big := bytes.Repeat([]byte("0123456789abcdef"), 1<<16) // 1 MiB
	a, err := registry.PushArtifact(ctx, tg, registry.ArtifactOptions{ArtifactType: "application/vnd.example", Layers: []registry.Layer{registry.NewLayer("text/plain", big, "big.txt")}})
	if err != nil {
		t.Fatal(err)
	}
	var mode atomic.Value // "cut" or "stall"
	release := make(chan struct{})
	defer close(release)
	u, _ := url.Parse("http://" + backend)
	p := httputil.NewSingleHostReverseProxy(u)
	p.ModifyResponse = func(r *http.Response) error {
		if !strings.Contains(r.Request.URL.Path, "/blobs/sha256:") || r.Request.Method != http.MethodGet {
			return nil
		}
		half := io.LimitReader(r.Body, r.ContentLength/2)
		switch mode.Load() {
		case "cut":
			r.Body = io.NopCloser(io.MultiReader(half, errReader{io.ErrUnexpectedEOF}))
		case "stall":
			r.Body = io.NopCloser(io.MultiReader(half, blockReader(release)))
		}
		return nil
	}
	srv := httptest.NewServer(p)
	t.Cleanup(srv.Close) // after the deferred release of stalled bodies
	proxied := openRemote(t, strings.TrimPrefix(srv.URL, "http://"))

	mode.Store("cut")
	_, err = registry.Pull(ctx, proxied, a.Digest, t.TempDir(), registry.PullOptions{})
	if err == nil || errors.Is(err, registry.ErrDigestMismatch) || evaluator.Class(err) != evaluator.ErrCouldNotRun {
		t.Errorf("dropped connection: %v (class %v), want a could-not-run error", err, evaluator.Class(err))
	}

	mode.Store("stall")
	cctx, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
	defer cancel()
	_, err = registry.Pull(cctx, proxied, a.Digest, t.TempDir(), registry.PullOptions{})
	if !errors.Is(err, context.DeadlineExceeded) || errors.Is(err, registry.ErrDigestMismatch) || evaluator.Class(err) != evaluator.ErrCouldNotRun {
		t.Errorf("cancelled pull: %v (class %v), want the cancellation, could not run", err, evaluator.Class(err))
	}
}

// TestPullStalled (#11 item 12): a registry that stops sending in the
// middle of a blob is cut off after the idle timeout with an error that
// says so, and a large blob is not bounded by a total time. (A fake: a
// proxy that stalls blob bodies halfway.)
func TestPullStalled(t *testing.T) {
	ctx := context.Background()
	backend := regtest.Start(t, regtest.Referrers)
	tg := openRemote(t, backend)
	a, err := registry.PushArtifact(ctx, tg, registry.ArtifactOptions{ArtifactType: "application/vnd.example", Layers: []registry.Layer{registry.NewLayer("text/plain", bytes.Repeat([]byte("x"), 1<<20), "big.txt")}})
	if err != nil {
		t.Fatal(err)
	}
	release := make(chan struct{})
	defer close(release)
	u, _ := url.Parse("http://" + backend)
	p := httputil.NewSingleHostReverseProxy(u)
	p.ModifyResponse = func(r *http.Response) error {
		if strings.Contains(r.Request.URL.Path, "/blobs/sha256:") && r.Request.Method == http.MethodGet {
			r.Body = io.NopCloser(io.MultiReader(io.LimitReader(r.Body, r.ContentLength/2), blockReader(release)))
		}
		return nil
	}
	srv := httptest.NewServer(p)
	t.Cleanup(srv.Close)
	ref, _ := registry.ParseReference(strings.TrimPrefix(srv.URL, "http://") + "/app")
	proxied, err := registry.Open(ctx, ref, registry.Options{PlainHTTP: true, Credentials: credentials.NewMemoryStore(), IdleTimeout: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Now()
	_, err = registry.Pull(ctx, proxied, a.Digest, t.TempDir(), registry.PullOptions{})
	if !errors.Is(err, registry.ErrStalled) || evaluator.Class(err) != evaluator.ErrCouldNotRun {
		t.Errorf("stalled pull after %s: %v, want ErrStalled", time.Since(t0), err)
	}
}

type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) { return 0, e.err }

type blockReader chan struct{}

func (b blockReader) Read([]byte) (int, error) { <-b; return 0, io.EOF }
