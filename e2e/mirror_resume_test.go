package e2e

import (
	"bytes"
	"context"
	"io"
	"net/http"
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
// 8 MiB of it reached the destination (a real registry; the test counts
// the upload bytes it reads); the rerun, with the same state directory,
// sends the destination only what it did not hold, and the layer there
// is whole.
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

	var sent atomic.Int64
	var mu sync.Mutex
	var kill func()
	dstHost := regtest.StartWrapped(t, regtest.Plain, func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if (r.Method == http.MethodPatch || r.Method == http.MethodPut) && strings.Contains(r.URL.Path, "/blobs/uploads/") {
				r.Body = &killingBody{ReadCloser: r.Body, sent: &sent, at: 8 << 20, kill: func() {
					mu.Lock()
					defer mu.Unlock()
					if kill != nil {
						kill()
						kill = nil
					}
				}}
			}
			next.ServeHTTP(w, r)
		})
	})
	state := t.TempDir()
	source := srcHost + "/big@" + md.Digest.String()
	mirror := exec.Command(bin["native"], "mirror", "--plain-http", "--state-dir", state, source, dstHost+"/big")
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
	x.must(bin["native"], "mirror", "--plain-http", "--state-dir", state, source, dstHost+"/big")
	second := sent.Load()
	if first < 8<<20 || second >= size || first+second < size {
		t.Errorf("sent %d bytes before the kill, %d on the rerun, of a %d-byte layer: want the rerun to send only what the destination did not hold", first, second, size)
	}
	ref, _ = registry.ParseReference(dstHost + "/big")
	dst, err := registry.Open(ctx, ref, registry.Options{PlainHTTP: true, Credentials: credentials.NewMemoryStore()})
	if err != nil {
		t.Fatal(err)
	}
	if b, err := content.FetchAll(ctx, dst.Store, ld); err != nil || !bytes.Equal(b, layer) {
		t.Fatalf("the layer at the destination after the resumed mirror: %v", err)
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
	if b.read > b.at {
		b.kill()
	}
	return n, err
}
