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

func TestHugeReferrersIndex(t *testing.T) {
	ctx := context.Background()
	huge := false
	host := faultProxy(t, func(r *http.Response) error {
		if huge && strings.Contains(r.Request.URL.Path, "/referrers/") {
			idx := ocispec.Index{MediaType: ocispec.MediaTypeImageIndex}
			idx.SchemaVersion = 2
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
	huge = true
	tree, err := registry.Discover(ctx, openRemote(t, host), img, registry.DiscoverOptions{Depth: 1})
	if err != nil {
		t.Fatal(err)
	}
	if len(tree.Referrers) != 10000 {
		t.Errorf("referrers = %d, want 10000", len(tree.Referrers))
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
