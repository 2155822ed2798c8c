package registry_test

import (
	"context"
	"io"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/content"
	"oras.land/oras-go/v2/registry/remote/auth"
	"oras.land/oras-go/v2/registry/remote/credentials"

	"github.com/stella-ops/stella-oras/internal/regtest"
	"github.com/stella-ops/stella-oras/registry"
)

// pushBigImage pushes an image whose one layer is size pseudo-random
// bytes, tagged v1, and returns the manifest and the layer.
func pushBigImage(t *testing.T, tg *registry.Target, size int) (ocispec.Descriptor, ocispec.Descriptor) {
	t.Helper()
	md, ld, _ := regtest.PushBigImage(t, tg.Store, size, 1)
	if err := tg.Store.Tag(context.Background(), md, "v1"); err != nil {
		t.Fatal(err)
	}
	return md, ld
}

// patchCounter counts the body bytes of blob upload PATCHes and PUTs a
// real registry reads, and calls onByte once more than at bytes have
// gone through one request.
type patchCounter struct {
	sent   atomic.Int64
	mu     sync.Mutex
	at     int64
	onByte func()
}

func (c *patchCounter) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if (r.Method == http.MethodPatch || r.Method == http.MethodPut) && strings.Contains(r.URL.Path, "/blobs/uploads/") {
			r.Body = &countingBody{ReadCloser: r.Body, c: c}
		}
		next.ServeHTTP(w, r)
	})
}

type countingBody struct {
	io.ReadCloser
	c    *patchCounter
	read int64
}

func (b *countingBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	b.read += int64(n)
	b.c.sent.Add(int64(n))
	b.c.mu.Lock()
	if b.c.onByte != nil && b.c.at > 0 && b.read > b.c.at {
		f := b.c.onByte
		b.c.onByte = nil
		defer f()
	}
	b.c.mu.Unlock()
	return n, err
}

// TestMirrorResumesLargeBlob: a mirror stopped while a large blob is on
// its way (the connection dropped mid-PATCH: its context cancelled once
// 8 MiB of the layer reached the registry) leaves the upload at the
// destination; the rerun asks the registry how much it holds and sends
// only the rest, the whole blob's digest still checked, and the copy at
// the destination is whole. A destination that no longer knows the
// upload (a fresh registry) gets the whole blob.
func TestMirrorResumesLargeBlob(t *testing.T) {
	ctx := context.Background()
	src := regtest.Start(t, regtest.Referrers)
	counter := &patchCounter{}
	dst := regtest.StartWrapped(t, regtest.Plain, counter.wrap)
	const size = 40 << 20
	img, layer := pushBigImage(t, openRef(t, src+"/big"), size)
	state := t.TempDir()
	opts := registry.MirrorRunOptions{Source: registry.Options{PlainHTTP: true}, Destination: registry.Options{PlainHTTP: true}, StateDir: state}

	cctx, cancel := context.WithCancel(ctx)
	counter.mu.Lock()
	counter.at, counter.onByte = 8<<20, cancel
	counter.mu.Unlock()
	res, err := registry.MirrorImages(cctx, []string{src + "/big:v1"}, dst+"/big", opts)
	if err == nil && res[0].Err == nil {
		t.Fatal("the mirror stopped mid-blob reported success")
	}
	first := counter.sent.Swap(0)
	uploads, _ := filepath.Glob(filepath.Join(state, "*.uploads", "*"))
	if len(uploads) != 1 {
		t.Fatalf("remembered uploads %v, want the layer's", uploads)
	}

	res, err = registry.MirrorImages(ctx, []string{src + "/big:v1"}, dst+"/big", opts)
	if err != nil || res[0].Err != nil {
		t.Fatalf("rerun: %v %v", err, res[0].Err)
	}
	second := counter.sent.Swap(0)
	if first < 8<<20 || second >= size || first+second < size {
		t.Errorf("sent %d bytes, then %d on the rerun, of a %d-byte layer: want the rerun to send only what the first run had not", first, second, size)
	}
	got := openRef(t, dst+"/big")
	b, err := content.FetchAll(ctx, got.Store, layer)
	if err != nil || content.NewDescriptorFromBytes(layer.MediaType, b).Digest != layer.Digest {
		t.Fatalf("the layer at the destination: %v", err)
	}
	if d, err := got.Resolve(ctx, "v1"); err != nil || d.Digest != img.Digest {
		t.Errorf("v1 at the destination: %s %v", d.Digest, err)
	}
	if left, _ := filepath.Glob(filepath.Join(state, "*.uploads", "*")); len(left) != 0 {
		t.Errorf("uploads still remembered after the copy: %v", left)
	}

	// An upload the destination no longer knows (cancelled there, as a
	// purge or a wiped registry would): the blob goes whole.
	cctx, cancel = context.WithCancel(ctx)
	counter.mu.Lock()
	counter.at, counter.onByte = 8<<20, cancel
	counter.mu.Unlock()
	registry.MirrorImages(cctx, []string{src + "/big:v1"}, dst+"/again", opts)
	counter.sent.Swap(0)
	remembered, _ := filepath.Glob(filepath.Join(state, "*.uploads", "sha256-*"))
	if len(remembered) != 1 {
		t.Fatalf("remembered %v", remembered)
	}
	u, _ := os.ReadFile(remembered[0])
	// DELETE with the upload's current state token (from its status); the
	// request the cancelled run dropped may still be being written, which
	// moves the token on: asked again until the DELETE takes.
	deleted := false
	for try := 0; try < 100 && !deleted; try++ {
		st, err := http.Get(string(u))
		if err != nil || st.StatusCode != http.StatusNoContent {
			t.Fatalf("upload status: %v %v", err, st)
		}
		st.Body.Close()
		loc := st.Header.Get("Location")
		if !strings.HasPrefix(loc, "http") {
			loc = "http://" + dst + loc
		}
		req, _ := http.NewRequest(http.MethodDelete, loc, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		deleted = resp.StatusCode == http.StatusNoContent
		if !deleted {
			time.Sleep(20 * time.Millisecond)
		}
	}
	if !deleted {
		t.Fatal("the upload could not be cancelled")
	}
	if res, err := registry.MirrorImages(ctx, []string{src + "/big:v1"}, dst+"/again", opts); err != nil || res[0].Err != nil {
		t.Fatalf("mirror after the upload was cancelled: %v %v", err, res[0].Err)
	}
	if sent := counter.sent.Load(); sent < size {
		t.Errorf("sent %d bytes after the destination lost the upload, want all %d", sent, size)
	}
	if b, err := content.FetchAll(ctx, openRef(t, dst+"/again").Store, layer); err != nil || content.NewDescriptorFromBytes(layer.MediaType, b).Digest != layer.Digest {
		t.Fatalf("the layer at the destination: %v", err)
	}
}

// relativeLocation makes a registry's upload Locations relative to the
// request's path ("<uuid>?_state=…" for a POST to …/blobs/uploads/), as
// RFC 9110 allows (a fake: distribution sends absolute paths).
type relativeLocation struct {
	http.ResponseWriter
	r *http.Request
	n *atomic.Int64
}

func (w relativeLocation) WriteHeader(code int) {
	if l := w.Header().Get("Location"); strings.Contains(l, "/blobs/uploads/") {
		if i := strings.Index(l, "/v2/"); i >= 0 {
			l = l[i:]
		}
		dir := w.r.URL.Path
		if !strings.HasSuffix(dir, "/") {
			dir = path.Dir(dir) + "/"
		}
		if rel, ok := strings.CutPrefix(l, dir); ok {
			w.Header().Set("Location", rel)
			w.n.Add(1)
		}
	}
	w.ResponseWriter.WriteHeader(code)
}

// TestResumableUploadEdges: a registry answering with relative upload
// Locations is resolved against each request's URL; two images of one
// run sharing a large layer into one destination repository upload it
// once between them, neither taking over the other's upload.
func TestResumableUploadEdges(t *testing.T) {
	ctx := context.Background()
	src := regtest.Start(t, regtest.Referrers)
	var rel atomic.Int64
	dst := regtest.StartWrapped(t, regtest.Plain, func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			next.ServeHTTP(relativeLocation{w, r, &rel}, r)
		})
	})
	tg := openRef(t, src+"/app")
	md, layer := pushBigImage(t, tg, 40<<20)
	if err := tg.Store.Tag(ctx, md, "v2"); err != nil {
		t.Fatal(err)
	}
	opts := registry.MirrorRunOptions{Source: registry.Options{PlainHTTP: true}, Destination: registry.Options{PlainHTTP: true}, StateDir: t.TempDir()}
	res, err := registry.MirrorImages(ctx, []string{src + "/app:v1"}, dst+"/rel", opts)
	if err != nil || res[0].Err != nil {
		t.Fatalf("mirror to a registry with relative Locations: %v %v", err, res[0].Err)
	}
	if rel.Load() == 0 {
		t.Fatal("no Location was made relative: nothing tested")
	}
	// Two images, one layer, one destination repository, at once.
	opts.Prefix, opts.Images = true, 2
	res, err = registry.MirrorImages(ctx, []string{src + "/app:v1", src + "/app:v2"}, dst+"/both", opts)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range res {
		if r.Err != nil {
			t.Errorf("%s: %v", r.Source, r.Err)
		}
	}
	if b, err := content.FetchAll(ctx, openRef(t, dst+"/both/app").Store, layer); err != nil || content.NewDescriptorFromBytes(layer.MediaType, b).Digest != layer.Digest {
		t.Errorf("the shared layer at the destination: %v", err)
	}
}

// TestResumableUploadReauth: a registry that asks for credentials again
// in the middle of a chunked upload (a fake fault: one PATCH answered
// 401 with a Basic challenge, as when a token expires mid-transfer) gets
// the credentials, and the upload goes on from the registry's status:
// the mirror succeeds, the layer whole.
func TestResumableUploadReauth(t *testing.T) {
	ctx := context.Background()
	src := regtest.Start(t, regtest.Referrers)
	var patches, challenged atomic.Int64
	dst := regtest.StartWrapped(t, regtest.Plain, func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Method == http.MethodPatch && patches.Add(1) == 2 {
				challenged.Add(1)
				w.Header().Set("WWW-Authenticate", `Basic realm="test"`)
				http.Error(w, `{"errors":[{"code":"UNAUTHORIZED"}]}`, http.StatusUnauthorized)
				return
			}
			next.ServeHTTP(w, r)
		})
	})
	_, layer := pushBigImage(t, openRef(t, src+"/big"), 40<<20)
	creds := credentials.NewMemoryStore()
	if err := creds.Put(ctx, dst, auth.Credential{Username: "u", Password: "p"}); err != nil {
		t.Fatal(err)
	}
	opts := registry.MirrorRunOptions{Source: registry.Options{PlainHTTP: true}, Destination: registry.Options{PlainHTTP: true, Credentials: creds}, StateDir: t.TempDir()}
	res, err := registry.MirrorImages(ctx, []string{src + "/big:v1"}, dst+"/big", opts)
	if err != nil || res[0].Err != nil {
		t.Fatalf("mirror through a mid-upload credentials challenge: %v %v", err, res[0].Err)
	}
	if challenged.Load() != 1 {
		t.Fatalf("challenged %d times: nothing tested", challenged.Load())
	}
	if b, err := content.FetchAll(ctx, openRef(t, dst+"/big").Store, layer); err != nil || content.NewDescriptorFromBytes(layer.MediaType, b).Digest != layer.Digest {
		t.Fatalf("the layer at the destination: %v", err)
	}
}
