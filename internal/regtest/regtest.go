// Package regtest starts real registries for tests: the embedded registry
// (CNCF distribution v3 with the referrers layer) and plain distribution v3
// (no referrers API: the tag-schema fallback), in-process behind httptest.
package regtest

import (
	"bytes"
	"context"
	"encoding/json"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	specs "github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2"
	"oras.land/oras-go/v2/content"

	"github.com/stella-ops/stella-oras/registry/embedded"
)

// Kinds of server.
const (
	Referrers = "embedded" // distribution v3 + referrers layer
	Plain     = "plain"    // distribution v3 alone
)

// Start runs a registry of the given kind and returns its host:port.
func Start(t testing.TB, kind string) string {
	t.Helper()
	return StartWrapped(t, kind, nil)
}

// StartWrapped is Start with the registry's handler wrapped (nil: not),
// for tests that watch or hold requests on their way to a real registry.
func StartWrapped(t testing.TB, kind string, wrap func(http.Handler) http.Handler) string {
	t.Helper()
	h, err := embedded.New(context.Background(), embedded.Options{Root: t.TempDir(), Plain: kind == Plain})
	if err != nil {
		t.Fatal(err)
	}
	if wrap != nil {
		h = wrap(h)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://")
}

// PushImage pushes a small image (config and one layer, content varied by
// seed) and returns its manifest descriptor.
func PushImage(t testing.TB, dst oras.Target, seed string) ocispec.Descriptor {
	t.Helper()
	ctx := context.Background()
	cfg := []byte(`{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]},"seed":"` + seed + `"}`)
	layer := []byte("layer of " + seed)
	cd := content.NewDescriptorFromBytes(ocispec.MediaTypeImageConfig, cfg)
	md := pushOneLayer(t, dst, cd, cfg, layer)
	if err := dst.Tag(ctx, md, seed); err != nil {
		t.Fatal(err)
	}
	return md
}

// PushIndex pushes a two-platform image index (linux/amd64 and
// linux/arm64, each a PushImage) tagged tag, and returns the index and
// its manifests' descriptors as the index lists them (with platforms).
func PushIndex(t testing.TB, dst oras.Target, tag string) (ocispec.Descriptor, []ocispec.Descriptor) {
	t.Helper()
	amd := PushImage(t, dst, "amd64")
	arm := PushImage(t, dst, "arm64")
	amd.Platform = &ocispec.Platform{OS: "linux", Architecture: "amd64"}
	arm.Platform = &ocispec.Platform{OS: "linux", Architecture: "arm64"}
	idx := ocispec.Index{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageIndex, Manifests: []ocispec.Descriptor{amd, arm}}
	ib, err := json.Marshal(idx)
	if err != nil {
		t.Fatal(err)
	}
	id := content.NewDescriptorFromBytes(ocispec.MediaTypeImageIndex, ib)
	ctx := context.Background()
	if err := dst.Push(ctx, id, bytes.NewReader(ib)); err != nil {
		t.Fatal(err)
	}
	if err := dst.Tag(ctx, id, tag); err != nil {
		t.Fatal(err)
	}
	return id, []ocispec.Descriptor{amd, arm}
}

// Conns counts the client connections a registry started by
// StartCountingConns has served requests on.
type Conns struct {
	mu    sync.Mutex
	addrs map[string]bool
}

// StartCountingConns is Start with the connections its requests come on
// counted.
func StartCountingConns(t testing.TB, kind string) (string, *Conns) {
	t.Helper()
	c := &Conns{addrs: map[string]bool{}}
	host := StartWrapped(t, kind, func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			c.mu.Lock()
			c.addrs[r.RemoteAddr] = true
			c.mu.Unlock()
			next.ServeHTTP(w, r)
		})
	})
	return host, c
}

// Reset forgets the connections seen so far.
func (c *Conns) Reset() {
	c.mu.Lock()
	defer c.mu.Unlock()
	clear(c.addrs)
}

// Count is how many connections requests came on since the last Reset.
func (c *Conns) Count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.addrs)
}

// PushBigImage pushes an image (not tagged) whose one layer is size
// pseudo-random bytes drawn from seed, and returns its manifest, the
// layer's descriptor and the layer.
func PushBigImage(t testing.TB, dst oras.Target, size int, seed uint64) (ocispec.Descriptor, ocispec.Descriptor, []byte) {
	t.Helper()
	layer := make([]byte, size)
	r := rand.New(rand.NewPCG(seed, seed+1))
	for i := range layer {
		layer[i] = byte(r.Uint32())
	}
	cfg := []byte(`{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}`)
	md := pushOneLayer(t, dst, content.NewDescriptorFromBytes(ocispec.MediaTypeImageConfig, cfg), cfg, layer)
	return md, content.NewDescriptorFromBytes(ocispec.MediaTypeImageLayer, layer), layer
}

// pushOneLayer pushes a config, one layer and the image manifest naming
// them (what is there already is not pushed again), and returns the
// manifest.
func pushOneLayer(t testing.TB, dst oras.Target, cd ocispec.Descriptor, cfg, layer []byte) ocispec.Descriptor {
	t.Helper()
	ctx := context.Background()
	ld := content.NewDescriptorFromBytes(ocispec.MediaTypeImageLayer, layer)
	mb, err := json.Marshal(ocispec.Manifest{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageManifest, Config: cd, Layers: []ocispec.Descriptor{ld}})
	if err != nil {
		t.Fatal(err)
	}
	md := content.NewDescriptorFromBytes(ocispec.MediaTypeImageManifest, mb)
	for _, x := range []struct {
		d ocispec.Descriptor
		b []byte
	}{{cd, cfg}, {ld, layer}, {md, mb}} {
		if ok, _ := dst.Exists(ctx, x.d); ok {
			continue
		}
		if err := dst.Push(ctx, x.d, bytes.NewReader(x.b)); err != nil {
			t.Fatal(err)
		}
	}
	return md
}
