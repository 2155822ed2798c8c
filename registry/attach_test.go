package registry_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/stella-ops/stella-oras/internal/regtest"
	"github.com/stella-ops/stella-oras/registry"
)

// recorder is a reverse proxy in front of a real in-process registry that
// logs each request ("METHOD kind", see requestKind) and can hold or act on
// requests through its hooks.
type recorder struct {
	mu  sync.Mutex
	log []string
	// before runs ahead of each request, after once its response is
	// written (before the client has it: the response is sent when the
	// handler returns).
	before, after func(r *http.Request)
	// backend is the registry's own host:port, past the proxy.
	backend string
}

func startRecorder(t *testing.T, kind string) (string, *recorder) {
	t.Helper()
	backend := regtest.Start(t, kind)
	u, _ := url.Parse("http://" + backend)
	p := httputil.NewSingleHostReverseProxy(u)
	rec := &recorder{backend: backend}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec.mu.Lock()
		before, after := rec.before, rec.after
		rec.log = append(rec.log, r.Method+" "+requestKind(r.URL.Path))
		rec.mu.Unlock()
		if before != nil {
			before(r)
		}
		p.ServeHTTP(w, r)
		if after != nil {
			after(r)
		}
	}))
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://"), rec
}

// requestKind names what a request addresses: manifest (by digest), tag
// (a manifest by tag: the referrers tag in these tests), blob, upload,
// referrers, or the path itself.
func requestKind(path string) string {
	switch {
	case strings.Contains(path, "/manifests/sha256:"):
		return "manifest"
	case strings.Contains(path, "/manifests/"):
		return "tag"
	case strings.Contains(path, "/blobs/uploads/"):
		return "upload"
	case strings.Contains(path, "/blobs/"):
		return "blob"
	case strings.Contains(path, "/referrers/"):
		return "referrers"
	}
	return path
}

// take returns the log and starts a new one.
func (rec *recorder) take() []string {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	l := rec.log
	rec.log = nil
	return l
}

func (rec *recorder) hooks(before, after func(r *http.Request)) {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	rec.before, rec.after = before, after
}

func isWrite(method string) bool {
	return method != http.MethodGet && method != http.MethodHead
}

// TestAttachReadsTogether: the reads an attach makes before its first
// write (the subject, the referrers tag check, the blobs) run at the same
// time, not one round trip after another. The proxy holds each of them
// until all are in flight, or for a second: sent one after another, they
// never are.
func TestAttachReadsTogether(t *testing.T) {
	ctx := context.Background()
	for _, kind := range []string{regtest.Referrers, regtest.Plain} {
		t.Run(kind, func(t *testing.T) {
			host, rec := startRecorder(t, kind)
			img := regtest.PushImage(t, openRemote(t, host).Store, "v1")
			for _, tc := range []struct {
				name string
				want int // reads in flight at once
				run  func(data []byte) error
			}{
				{"by digest", 4, func(data []byte) error {
					_, _, err := registry.AttachByDigest(ctx, openRemote(t, host), img.Digest, data, registry.AttachOptions{ArtifactType: sbomType, MediaType: sbomType})
					return err
				}},
				{"descriptor", 3, func(data []byte) error {
					_, err := registry.Attach(ctx, openRemote(t, host), img, data, registry.AttachOptions{ArtifactType: sbomType, MediaType: sbomType})
					return err
				}},
			} {
				var (
					mu              sync.Mutex
					inFlight, most  int
					wrote           bool
					all             = make(chan struct{})
					reads, released int
				)
				rec.hooks(func(r *http.Request) {
					mu.Lock()
					if wrote || isWrite(r.Method) {
						wrote = true
						mu.Unlock()
						return
					}
					inFlight++
					reads++
					most = max(most, inFlight)
					if inFlight == tc.want && reads == tc.want {
						close(all)
					}
					mu.Unlock()
					select {
					case <-all:
					case <-time.After(time.Second):
					}
					mu.Lock()
					inFlight--
					released++
					mu.Unlock()
				}, nil)
				if err := tc.run([]byte(`{"case":"` + tc.name + `","kind":"` + kind + `"}`)); err != nil {
					t.Fatal(err)
				}
				rec.hooks(nil, nil)
				rec.take()
				if most < tc.want {
					t.Errorf("%s: at most %d of the %d reads before the first write were in flight at once, want %d", tc.name, most, reads, tc.want)
				}
			}
		})
	}
}

// TestAttachMissingSubjectWritesNothing: a subject that does not exist is
// found out before anything is written, though it is resolved while the
// other reads run.
func TestAttachMissingSubjectWritesNothing(t *testing.T) {
	ctx := context.Background()
	for _, kind := range []string{regtest.Referrers, regtest.Plain} {
		t.Run(kind, func(t *testing.T) {
			host, rec := startRecorder(t, kind)
			_, _, err := registry.AttachByDigest(ctx, openRemote(t, host), digest.FromString("no such image"), []byte(`{"n":1}`), registry.AttachOptions{ArtifactType: sbomType, MediaType: sbomType})
			if !errors.Is(err, registry.ErrNotFound) {
				t.Errorf("AttachByDigest of a missing subject = %v, want ErrNotFound", err)
			}
			for _, l := range rec.take() {
				if isWrite(strings.Fields(l)[0]) {
					t.Errorf("a refused attach sent %s", l)
				}
			}
		})
	}
}
