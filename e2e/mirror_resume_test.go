package e2e

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"oras.land/oras-go/v2/content"
	"oras.land/oras-go/v2/registry/remote/credentials"

	"github.com/stella-ops/stella-oras/internal/regtest"
	"github.com/stella-ops/stella-oras/registry"
)

// TestMirrorResumeAfterKill (#12, resumable inside a blob): the mirror
// process is killed (SIGKILL) while a 40 MiB layer is on its way, once
// 8 MiB of it reached the destination (the embedded registry:
// distribution v3 resumes at any byte), or as its second 16 MiB chunk is
// sent (Debian's docker-registry, distribution 2.8, behind a reverse
// proxy: it resumes only at a chunk boundary); the rerun, with the same
// state directory, sends the destination only what it did not hold, and
// the layer there is whole. The test counts the upload bytes each
// registry reads.
func TestMirrorResumeAfterKill(t *testing.T) {
	ctx := context.Background()
	srcHost := regtest.Start(t, regtest.Referrers)
	ref, _ := registry.ParseReference(srcHost + "/big")
	src, err := registry.Open(ctx, ref, registry.Options{PlainHTTP: true, Credentials: credentials.NewMemoryStore()})
	if err != nil {
		t.Fatal(err)
	}
	const size = 40 << 20
	md, ld, layer := regtest.PushBigImage(t, src.Store, size, 3)
	source := srcHost + "/big@" + md.Digest.String()

	for _, tc := range []struct {
		name string
		// between: killed as the second chunk's PATCH arrives (it is not
		// passed on); otherwise once 8 MiB of a PATCH has gone through.
		between bool
		// start returns the destination as the mirror sees it, with wrap
		// in front, and the registry's own address.
		start func(t *testing.T, wrap func(http.Handler) http.Handler) (via, direct string)
	}{
		{"embedded registry, inside a chunk", false, func(t *testing.T, wrap func(http.Handler) http.Handler) (string, string) {
			h := regtest.StartWrapped(t, regtest.Plain, wrap)
			return h, h
		}},
		{"docker-registry, between chunks", true, func(t *testing.T, wrap func(http.Handler) http.Handler) (string, string) {
			reg := newDockerRegistry(t)
			reg.start(false)
			target, _ := url.Parse("http://" + reg.addr)
			proxy := httptest.NewServer(wrap(httputil.NewSingleHostReverseProxy(target)))
			t.Cleanup(proxy.Close)
			return strings.TrimPrefix(proxy.URL, "http://"), reg.addr
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var sent atomic.Int64
			var mu sync.Mutex
			var kill func()
			killOnce := func() {
				mu.Lock()
				defer mu.Unlock()
				if kill != nil {
					kill()
					kill = nil
				}
			}
			patches := 0
			via, direct := tc.start(t, func(next http.Handler) http.Handler {
				return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					if (r.Method == http.MethodPatch || r.Method == http.MethodPut) && strings.Contains(r.URL.Path, "/blobs/uploads/") {
						mu.Lock()
						armed := kill != nil
						if r.Method == http.MethodPatch {
							patches++
						}
						second := patches == 2
						mu.Unlock()
						if tc.between && armed && second {
							killOnce()
							http.Error(w, "killed", http.StatusServiceUnavailable)
							return
						}
						at := int64(8 << 20)
						if tc.between {
							at = 0 // count only
						}
						r.Body = &killingBody{ReadCloser: r.Body, sent: &sent, at: at, kill: killOnce}
					}
					next.ServeHTTP(w, r)
				})
			})
			state := t.TempDir()
			mirror := exec.Command(bin["native"], "mirror", "--plain-http", "--state-dir", state, source, via+"/big")
			if err := mirror.Start(); err != nil {
				t.Fatal(err)
			}
			mu.Lock()
			kill = func() { mirror.Process.Kill() }
			mu.Unlock()
			mirror.Wait()
			if mirror.ProcessState.ExitCode() == 0 {
				t.Fatal("the mirror finished before it was killed: nothing tested")
			}
			first := sent.Swap(0)
			x := runner{t, t.TempDir()}
			x.must(bin["native"], "mirror", "--plain-http", "--state-dir", state, source, via+"/big")
			second := sent.Load()
			if first < 8<<20 || second >= size || first+second < size {
				t.Errorf("sent %d bytes before the kill, %d on the rerun, of a %d-byte layer: want the rerun to send only what the destination did not hold", first, second, size)
			}
			ref, _ := registry.ParseReference(direct + "/big")
			dst, err := registry.Open(ctx, ref, registry.Options{PlainHTTP: true, Credentials: credentials.NewMemoryStore()})
			if err != nil {
				t.Fatal(err)
			}
			if b, err := content.FetchAll(ctx, dst.Store, ld); err != nil || !bytes.Equal(b, layer) {
				t.Fatalf("the layer at the destination after the resumed mirror: %v", err)
			}
		})
	}
}

// killingBody counts the bytes a registry reads of an upload and, once
// more than at went through one request, kills the client.
type killingBody struct {
	io.ReadCloser
	sent *atomic.Int64
	read int64
	at   int64
	kill func()
}

func (b *killingBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	b.read += int64(n)
	b.sent.Add(int64(n))
	if b.at > 0 && b.read > b.at {
		b.kill()
	}
	return n, err
}
