package embedded_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/registry/remote/credentials"

	"github.com/stella-ops/stella-oras/internal/regtest"
	"github.com/stella-ops/stella-oras/registry"
	"github.com/stella-ops/stella-oras/registry/embedded"
)

func serve(t *testing.T, root string) (string, func()) {
	h, err := embedded.New(context.Background(), embedded.Options{Root: root})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	return strings.TrimPrefix(srv.URL, "http://"), srv.Close
}

func open(t *testing.T, host string) *registry.Target {
	ref, _ := registry.ParseReference(host + "/app")
	tg, err := registry.Open(context.Background(), ref, registry.Options{PlainHTTP: true, Credentials: credentials.NewMemoryStore()})
	if err != nil {
		t.Fatal(err)
	}
	return tg
}

func referrers(t *testing.T, host, subject, query string) (ocispec.Index, http.Header) {
	resp, err := http.Get("http://" + host + "/v2/app/referrers/" + subject + query)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("referrers: %s", resp.Status)
	}
	var idx ocispec.Index
	if err := json.NewDecoder(resp.Body).Decode(&idx); err != nil {
		t.Fatal(err)
	}
	return idx, resp.Header
}

// TestReferrersSurviveRestart: the index is on disk; a new server on the
// same root lists the same referrers, and a manifest DELETE removes one.
func TestReferrersSurviveRestart(t *testing.T) {
	ctx := context.Background()
	root := t.TempDir()
	host, stop := serve(t, root)
	tg := open(t, host)
	img := regtest.PushImage(t, tg.Store, "v1")
	a, err := registry.Attach(ctx, tg, img, []byte(`{"bomFormat":"CycloneDX"}`), registry.AttachOptions{ArtifactType: "application/vnd.cyclonedx+json", MediaType: "application/vnd.cyclonedx+json", Annotations: map[string]string{"k": "v"}})
	if err != nil {
		t.Fatal(err)
	}
	b, err := registry.Attach(ctx, tg, img, []byte(`{"x":1}`), registry.AttachOptions{ArtifactType: "application/vnd.openvex+json", MediaType: "application/vnd.openvex+json"})
	if err != nil {
		t.Fatal(err)
	}
	stop()

	host, stop = serve(t, root)
	defer stop()
	idx, _ := referrers(t, host, img.Digest.String(), "")
	if len(idx.Manifests) != 2 || idx.MediaType != ocispec.MediaTypeImageIndex {
		t.Fatalf("after restart: %+v", idx)
	}
	for _, m := range idx.Manifests {
		if m.Digest == a.Digest && (m.ArtifactType != "application/vnd.cyclonedx+json" || m.Annotations["k"] != "v") {
			t.Errorf("descriptor lost artifactType or annotations: %+v", m)
		}
	}
	idx, hdr := referrers(t, host, img.Digest.String(), "?artifactType=application/vnd.openvex%2Bjson")
	if len(idx.Manifests) != 1 || idx.Manifests[0].Digest != b.Digest || hdr.Get("OCI-Filters-Applied") != "artifactType" {
		t.Errorf("filtered: %+v, header %q", idx.Manifests, hdr.Get("OCI-Filters-Applied"))
	}
	if err := open(t, host).Remote.Delete(ctx, b); err != nil {
		t.Fatal(err)
	}
	if idx, _ := referrers(t, host, img.Digest.String(), ""); len(idx.Manifests) != 1 || idx.Manifests[0].Digest != a.Digest {
		t.Errorf("after DELETE: %+v", idx.Manifests)
	}
	// An invalid digest is a 400, not a listing.
	resp, _ := http.Get("http://" + host + "/v2/app/referrers/sha256:nothex")
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("invalid digest: %s", resp.Status)
	}
	resp.Body.Close()
}

// TestPagination: 25 referrers on pages of 10 are all listed by following
// Link headers; a client bound of 2 pages fails closed.
func TestPagination(t *testing.T) {
	ctx := context.Background()
	h, err := embedded.New(ctx, embedded.Options{Root: t.TempDir(), PageSize: 10})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	defer srv.Close()
	host := strings.TrimPrefix(srv.URL, "http://")
	tg := open(t, host)
	img := regtest.PushImage(t, tg.Store, "v1")
	for i := range 25 {
		if _, err := registry.Attach(ctx, tg, img, []byte(fmt.Sprintf(`{"n":%d}`, i)), registry.AttachOptions{ArtifactType: "application/vnd.example", MediaType: "application/vnd.example"}); err != nil {
			t.Fatal(err)
		}
	}
	refs, err := registry.Referrers(ctx, open(t, host), img, "")
	if err != nil || len(refs) != 25 {
		t.Fatalf("paged listing: %d referrers (%v), want 25", len(refs), err)
	}
	ref, _ := registry.ParseReference(host + "/app")
	bounded, _ := registry.Open(ctx, ref, registry.Options{PlainHTTP: true, Credentials: credentials.NewMemoryStore(), MaxReferrerPages: 2})
	if _, err := registry.Referrers(ctx, bounded, img, ""); !errors.Is(err, registry.ErrTooLarge) {
		t.Errorf("listing beyond the page bound = %v, want ErrTooLarge", err)
	}
}
