package registry_test

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/registry/remote/credentials"

	"github.com/stella-ops/stella-oras/internal/regtest"
	"github.com/stella-ops/stella-oras/registry"
)

// faultProxy is a FAKE: a reverse proxy in front of the real embedded
// registry that alters responses, for faults a real registry does not
// produce on demand (tampered content, lying sizes, huge listings).
func faultProxy(t *testing.T, alter func(*http.Response) error) string {
	t.Helper()
	backend := regtest.Start(t, regtest.Referrers)
	u, _ := url.Parse("http://" + backend)
	p := httputil.NewSingleHostReverseProxy(u)
	p.ModifyResponse = alter
	srv := httptest.NewServer(p)
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://")
}

func openRemote(t *testing.T, host string) *registry.Target {
	t.Helper()
	ref, err := registry.ParseReference(host + "/app")
	if err != nil {
		t.Fatal(err)
	}
	tg, err := registry.Open(context.Background(), ref, registry.Options{PlainHTTP: true, Credentials: credentials.NewMemoryStore()})
	if err != nil {
		t.Fatal(err)
	}
	return tg
}

func setBody(r *http.Response, b []byte) {
	r.Body = io.NopCloser(bytes.NewReader(b))
	r.ContentLength = int64(len(b))
	r.Header.Set("Content-Length", fmt.Sprint(len(b)))
}

func TestPullTampered(t *testing.T) {
	ctx := context.Background()
	tamper := false
	host := faultProxy(t, func(r *http.Response) error {
		if tamper && r.Request.Method == http.MethodGet && strings.Contains(r.Request.URL.Path, "/blobs/") {
			b, _ := io.ReadAll(r.Body)
			if len(b) > 0 {
				b[0] ^= 0xff
			}
			setBody(r, b)
		}
		return nil
	})
	tg := openRemote(t, host)
	img := regtest.PushImage(t, tg.Store, "v1")
	a, err := registry.Attach(ctx, tg, img, []byte(`{"bomFormat":"CycloneDX"}`), registry.AttachOptions{ArtifactType: sbomType, MediaType: sbomType, FileName: "sbom.json"})
	if err != nil {
		t.Fatal(err)
	}
	tamper = true
	out := t.TempDir()
	if _, err := registry.Pull(ctx, openRemote(t, host), a.Digest, out, registry.PullOptions{}); !errors.Is(err, registry.ErrDigestMismatch) {
		t.Fatalf("Pull through a tampering proxy = %v, want ErrDigestMismatch", err)
	}
	if es, _ := os.ReadDir(out); len(es) != 0 {
		t.Errorf("left behind: %v", es)
	}
}

func TestPullOversizedManifest(t *testing.T) {
	ctx := context.Background()
	lie := false
	host := faultProxy(t, func(r *http.Response) error {
		if lie && strings.Contains(r.Request.URL.Path, "/manifests/") {
			r.Header.Set("Content-Length", fmt.Sprint(100<<20))
			r.ContentLength = 100 << 20
		}
		return nil
	})
	tg := openRemote(t, host)
	img := regtest.PushImage(t, tg.Store, "v1")
	lie = true
	if _, err := registry.Pull(ctx, openRemote(t, host), img.Digest, t.TempDir(), registry.PullOptions{}); !errors.Is(err, registry.ErrTooLarge) {
		t.Fatalf("Pull of a 100 MB manifest = %v, want ErrTooLarge", err)
	}
}

// TestInventedReferrersDropped: a registry (a fake: a proxy that lies in
// front of a real one) lists 10,000 referrers that do not exist next to
// the real one; each listed referrer's manifest is read, so the invented
// ones are dropped, each reported, and the real one kept.
func TestInventedReferrersDropped(t *testing.T) {
	ctx := context.Background()
	huge := false
	host := faultProxy(t, func(r *http.Response) error {
		if huge && strings.Contains(r.Request.URL.Path, "/referrers/") {
			var idx ocispec.Index
			if err := json.NewDecoder(r.Body).Decode(&idx); err != nil {
				return err
			}
			for i := range 10000 {
				idx.Manifests = append(idx.Manifests, ocispec.Descriptor{
					MediaType: ocispec.MediaTypeImageManifest, ArtifactType: sbomType,
					Digest: digest.FromString(fmt.Sprint(i)), Size: 500,
				})
			}
			b, _ := json.Marshal(idx)
			setBody(r, b)
		}
		return nil
	})
	tg := openRemote(t, host)
	img := regtest.PushImage(t, tg.Store, "v1")
	real, err := registry.Attach(ctx, tg, img, []byte(`{"bomFormat":"CycloneDX"}`), registry.AttachOptions{ArtifactType: sbomType, MediaType: sbomType})
	if err != nil {
		t.Fatal(err)
	}
	huge = true
	var drops atomic.Int64
	tree, err := registry.Discover(ctx, openRemote(t, host), img, registry.DiscoverOptions{Depth: 1, MaxNodes: 20000,
		OnDrop: func(_, _ ocispec.Descriptor, _ string) { drops.Add(1) }})
	if err != nil {
		t.Fatal(err)
	}
	if len(tree.Referrers) != 1 || tree.Referrers[0].Digest != real.Digest || drops.Load() != 10000 {
		t.Errorf("referrers %d (want only %s), drops %d (want 10000)", len(tree.Referrers), real.Digest, drops.Load())
	}
}

// TestEndlessReferrerGraph (#11 item 1): a registry (a fake: a proxy
// inventing content in front of a real one) that answers every referrers
// listing with new referrers whose manifests it also serves, each naming
// its parent as subject, so every check passes and the graph never ends.
// Discover fails closed on a bound, saying which, instead of running out
// of memory.
func TestEndlessReferrerGraph(t *testing.T) {
	for name, tc := range map[string]struct {
		children int
		opts     registry.DiscoverOptions
		want     string
	}{
		"deep": {1, registry.DiscoverOptions{}, "levels"},
		"wide": {2000, registry.DiscoverOptions{}, "referrers in all"},
	} {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			var mu sync.Mutex
			invented := map[string][]byte{}
			var on atomic.Bool
			var listings atomic.Int64
			host := faultProxy(t, func(r *http.Response) error {
				if !on.Load() || r.Request.Method != http.MethodGet {
					return nil
				}
				path := r.Request.URL.Path
				switch {
				case strings.Contains(path, "/referrers/"):
					listings.Add(1)
					parent, err := digest.Parse(path[strings.LastIndex(path, "/")+1:])
					if err != nil {
						return err
					}
					idx := ocispec.Index{MediaType: ocispec.MediaTypeImageIndex, Manifests: []ocispec.Descriptor{}}
					idx.SchemaVersion = 2
					for i := range tc.children {
						m := fmt.Sprintf(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","artifactType":"application/x-invented","config":{"mediaType":"application/vnd.oci.empty.v1+json","digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a","size":2},"layers":[],"subject":{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"%s","size":1},"annotations":{"n":"%d"}}`, parent, i)
						d := digest.FromString(m)
						mu.Lock()
						invented[d.String()] = []byte(m)
						mu.Unlock()
						idx.Manifests = append(idx.Manifests, ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, ArtifactType: "application/x-invented", Digest: d, Size: int64(len(m))})
					}
					b, _ := json.Marshal(idx)
					r.StatusCode, r.Status = http.StatusOK, "200 OK"
					r.Header.Set("Content-Type", ocispec.MediaTypeImageIndex)
					setBody(r, b)
				case strings.Contains(path, "/manifests/"):
					mu.Lock()
					b, ok := invented[path[strings.LastIndex(path, "/")+1:]]
					mu.Unlock()
					if ok {
						r.StatusCode, r.Status = http.StatusOK, "200 OK"
						r.Header.Set("Content-Type", ocispec.MediaTypeImageManifest)
						r.Header.Set("Docker-Content-Digest", digest.FromBytes(b).String())
						setBody(r, b)
					}
				}
				return nil
			})
			tg := openRemote(t, host)
			img := regtest.PushImage(t, tg.Store, "v1")
			on.Store(true)
			_, err := registry.Discover(ctx, openRemote(t, host), img, tc.opts)
			if !errors.Is(err, registry.ErrGraphTooLarge) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Discover of an endless graph = %v, want ErrGraphTooLarge naming %q", err, tc.want)
			}
			if n := listings.Load(); n > registry.DefaultMaxNodes+1 {
				t.Errorf("%d listings before failing, more than the node bound", n)
			}
		})
	}
}

func TestAttachMissingSubject(t *testing.T) {
	tg := openRemote(t, regtest.Start(t, regtest.Referrers))
	if _, err := tg.Resolve(context.Background(), digest.FromString("nope").String()); !errors.Is(err, registry.ErrNotFound) {
		t.Errorf("Resolve of a missing subject = %v, want ErrNotFound", err)
	}
}

func TestArchiveUnsafePath(t *testing.T) {
	p := filepath.Join(t.TempDir(), "evil.tar")
	f, _ := os.Create(p)
	tw := tar.NewWriter(f)
	tw.WriteHeader(&tar.Header{Name: "../../etc/evil", Mode: 0o644, Size: 1, Typeflag: tar.TypeReg})
	tw.Write([]byte("x"))
	tw.Close()
	f.Close()
	ref, _ := registry.ParseReference("oci-archive:" + p)
	if _, err := registry.Open(context.Background(), ref, registry.Options{}); !errors.Is(err, registry.ErrUnsafePath) {
		t.Errorf("Open of a tar with ../ = %v, want ErrUnsafePath", err)
	}
}

// TestArchiveRoundTrip: attach into an OCI layout tar, then discover and
// pull from it; rewriting is atomic and reproducible.
func TestArchiveRoundTrip(t *testing.T) {
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
	tg, _ = registry.Open(ctx, ref, registry.Options{})
	a, err := registry.Attach(ctx, tg, img, []byte(`{"bomFormat":"CycloneDX"}`), registry.AttachOptions{ArtifactType: sbomType, MediaType: sbomType, FileName: "sbom.json"})
	if err != nil {
		t.Fatal(err)
	}
	if err := tg.Close(); err != nil {
		t.Fatal(err)
	}
	first, _ := os.ReadFile(p)
	tg, _ = registry.Open(ctx, ref, registry.Options{})
	refs, err := registry.Referrers(ctx, tg, img, "")
	if err != nil || len(refs) != 1 || refs[0].Digest != a.Digest {
		t.Fatalf("referrers in the tar = %v (%v)", refs, err)
	}
	out := t.TempDir()
	if _, err := registry.Pull(ctx, tg, a.Digest, out, registry.PullOptions{}); err != nil {
		t.Fatal(err)
	}
	tg.Close()
	if second, _ := os.ReadFile(p); !bytes.Equal(first, second) {
		t.Error("reading the tar rewrote it")
	}
}

// TestReferrersLinkSameOrigin (#11 item 5): a referrers page whose Link
// sends the client to another host (or scheme, or port) is refused, not
// fetched and merged. (A fake: a proxy adds the Link to a real registry's
// page; the other host also serves referrers, and must not be asked.)
func TestReferrersLinkSameOrigin(t *testing.T) {
	ctx := context.Background()
	var asked atomic.Int64
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		asked.Add(1)
		w.Header().Set("Content-Type", ocispec.MediaTypeImageIndex)
		w.Write([]byte(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[]}`))
	}))
	t.Cleanup(other.Close)
	var link atomic.Value
	link.Store("")
	host := faultProxy(t, func(r *http.Response) error {
		if l := link.Load().(string); l != "" && strings.Contains(r.Request.URL.Path, "/referrers/") {
			r.Header.Set("Link", l)
		}
		return nil
	})
	tg := openRemote(t, host)
	img := regtest.PushImage(t, tg.Store, "v1")
	if _, err := registry.Attach(ctx, tg, img, []byte(`{"bomFormat":"CycloneDX"}`), registry.AttachOptions{ArtifactType: sbomType, MediaType: sbomType}); err != nil {
		t.Fatal(err)
	}
	for _, l := range []string{
		"<" + other.URL + "/v2/app/referrers/" + img.Digest.String() + "?last=x>; rel=\"next\"",                       // another port
		"<https://" + strings.TrimPrefix(other.URL, "http://") + "/v2/app/referrers/x>; rel=\"next\"",                 // another scheme
		"<http://127.0.0.2:" + other.URL[strings.LastIndex(other.URL, ":")+1:] + "/v2/app/referrers/x>; rel=\"next\"", // another host
	} {
		link.Store(l)
		if _, err := registry.Referrers(ctx, openRemote(t, host), img, ""); !errors.Is(err, registry.ErrCrossOrigin) {
			t.Errorf("Link %s: %v, want ErrCrossOrigin", l, err)
		}
	}
	if n := asked.Load(); n != 0 {
		t.Errorf("the other origin was asked %d times", n)
	}
}

// rawTarHeader is a ustar header block, built by hand: archive/tar's
// writer will not write the PAX sparse records a hostile archive carries.
func rawTarHeader(name string, typeflag byte, size int) []byte {
	b := make([]byte, 512)
	copy(b[0:], name)
	copy(b[100:], "0000644\x00")
	copy(b[108:], "0000000\x00")
	copy(b[116:], "0000000\x00")
	copy(b[124:], fmt.Sprintf("%011o\x00", size))
	copy(b[136:], "00000000000\x00")
	copy(b[148:], "        ")
	b[156] = typeflag
	copy(b[257:], "ustar\x0000")
	sum := 0
	for _, c := range b {
		sum += int(c)
	}
	copy(b[148:], fmt.Sprintf("%06o\x00 ", sum))
	return b
}

func padBlock(b []byte) []byte { return append(b, make([]byte, (512-len(b)%512)%512)...) }

// TestArchivePAXSparse (#11 item 3): a 2 KB tar whose PAX sparse entry
// claims a 4 GiB file of holes is refused on open, before anything is
// written (Go's reader would expand the holes into 4 GiB on disk).
func TestArchivePAXSparse(t *testing.T) {
	var recs string
	for _, kv := range []string{"GNU.sparse.major=1", "GNU.sparse.minor=0", "GNU.sparse.name=blobs/sha256/aa", "GNU.sparse.realsize=4294967296"} {
		line := " " + kv + "\n"
		n := len(line) + 2
		if len(fmt.Sprint(n)+line) != n {
			n++
		}
		recs += fmt.Sprint(n) + line
	}
	var tarb []byte
	tarb = append(tarb, rawTarHeader("PaxHeaders/blob", 'x', len(recs))...)
	tarb = append(tarb, padBlock([]byte(recs))...)
	tarb = append(tarb, rawTarHeader("GNUSparseFile.0/blob", '0', 512)...)
	tarb = append(tarb, padBlock([]byte("1\n0\n0\n"))...) // the map: one empty data region, all hole
	tarb = append(tarb, make([]byte, 1024)...)
	p := filepath.Join(t.TempDir(), "sparse.tar")
	os.WriteFile(p, tarb, 0o644)
	// The crafted archive really is PAX sparse to Go's reader.
	f, _ := os.Open(p)
	h, err := tar.NewReader(f).Next()
	f.Close()
	if err != nil || h.Size != 4294967296 {
		t.Fatalf("the crafted tar reads as %+v, %v; want a 4 GiB sparse entry", h, err)
	}
	ref, _ := registry.ParseReference("oci-archive:" + p)
	if _, err := registry.Open(context.Background(), ref, registry.Options{}); !errors.Is(err, registry.ErrUnsafePath) {
		t.Errorf("Open of a PAX sparse tar = %v, want ErrUnsafePath", err)
	}
}

// TestCAFileBounded: a --ca-file is read to at most MaxCAFileBytes,
// counting bytes (a 100 MiB sparse file is refused without being read
// whole; /dev/zero would have been read until memory ran out). Before, it
// was read whole with os.ReadFile.
func TestCAFileBounded(t *testing.T) {
	p := filepath.Join(t.TempDir(), "ca.pem")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(100 << 20); err != nil {
		t.Fatal(err)
	}
	f.Close()
	ref, err := registry.ParseReference("127.0.0.1:1/app@sha256:" + strings.Repeat("0", 64))
	if err != nil {
		t.Fatal(err)
	}
	_, err = registry.Open(context.Background(), ref, registry.Options{CAFile: p, PlainHTTP: false})
	if err == nil || !strings.Contains(err.Error(), "--ca-file") || !strings.Contains(err.Error(), "exceeds") {
		t.Fatalf("a 100 MiB --ca-file: %v, want a refusal naming --ca-file and its bound", err)
	}
}
