package registry_test

import (
	"context"
	"errors"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/stella-ops/stella-oras/internal/regtest"
	"github.com/stella-ops/stella-oras/registry"
)

// TestMirrorAllowMissingBlobs: from a layout tar that holds the image
// manifests but not their layers (an export's lite density), a mirror
// fails (ErrNotFound) unless AllowMissingBlobs; with it, a layout takes
// every manifest and the missing blobs are reported; a registry takes
// the referrers, refuses nothing, and the image manifests that name
// missing blobs are reported incomplete and not tagged — until the
// registry has the layers, when the same import puts and tags them.
func TestMirrorAllowMissingBlobs(t *testing.T) {
	ctx := context.Background()
	src := openRef(t, regtest.Start(t, regtest.Referrers)+"/app")
	root, nodes := pushIndexWithReferrers(t, src)
	blobs, manifests := graphOf(t, src, root, nodes, true)
	idx := ocispec.Index{MediaType: ocispec.MediaTypeImageIndex, Manifests: manifests}
	idx.Manifests[0].Annotations = map[string]string{ocispec.AnnotationRefName: "1.0"}
	p := filepath.Join(t.TempDir(), "lite.tar")
	if _, err := registry.WriteLayoutTar(ctx, src, p, registry.LayoutTarOptions{Index: idx, Blobs: blobs}); err != nil {
		t.Fatal(err)
	}
	open := func() *registry.Target { return openRef(t, "oci-archive:"+p+":1.0") }
	if _, err := registry.Mirror(ctx, open(), openRef(t, "oci:"+t.TempDir()), "1.0", registry.MirrorOptions{}); !errors.Is(err, registry.ErrNotFound) {
		t.Errorf("mirror of a tar without layers = %v, want ErrNotFound", err)
	}
	count := func(rep *registry.MirrorReport) map[string]int { return rep.MirrorCounts() }

	// To a layout: every manifest, the two layers missing.
	dst := openRef(t, "oci:"+t.TempDir())
	rep, err := registry.Mirror(ctx, open(), dst, "1.0", registry.MirrorOptions{AllowMissingBlobs: true})
	if err != nil {
		t.Fatal(err)
	}
	if c := count(rep); c["blob missing"] != 2 || c["manifest copied"] != 6 || rep.Tag != "1.0" {
		t.Errorf("to a layout: %v, tag %q; want 2 blobs missing, 6 manifests copied, tag 1.0", c, rep.Tag)
	}

	// To a registry: the platform manifests and the index are incomplete
	// (not put, not tagged), the referrers are there.
	host := regtest.Start(t, regtest.Referrers)
	rep, err = registry.Mirror(ctx, open(), openRef(t, host+"/app"), "1.0", registry.MirrorOptions{AllowMissingBlobs: true})
	if err != nil {
		t.Fatal(err)
	}
	if c := count(rep); c["blob missing"] != 2 || c["manifest incomplete"] != 3 || c["manifest copied"] != 3 || rep.Tag != "" {
		t.Errorf("to a registry: %v, tag %q; want 2 blobs missing, 3 manifests incomplete, 3 copied, no tag", c, rep.Tag)
	}
	reg := openRef(t, host+"/app")
	if _, err := reg.Resolve(ctx, "1.0"); err == nil {
		t.Error("an incomplete image was tagged")
	}
	if got := referrerSet(t, reg, root, nodes); len(got) != 3 {
		t.Errorf("referrers at the registry: %v, want the 3", got)
	}
	// Once the registry has the image, the same import completes it.
	if _, err := registry.Mirror(ctx, openRef(t, src.Ref.Repository+":1.0"), openRef(t, host+"/app"), "1.0", registry.MirrorOptions{}); err != nil {
		t.Fatal(err)
	}
	rep, err = registry.Mirror(ctx, open(), openRef(t, host+"/app"), "1.0", registry.MirrorOptions{AllowMissingBlobs: true})
	if err != nil {
		t.Fatal(err)
	}
	if c := count(rep); c["blob missing"] != 0 || c["manifest incomplete"] != 0 || rep.Tag != "1.0" {
		t.Errorf("into a registry that has the layers: %v, tag %q; want nothing missing, tag 1.0", c, rep.Tag)
	}
}

// TestMirrorSharedBlobWaited: two referrers of one level that share a
// layer (two verdicts carrying the same SBOM and feed) are copied at
// once; the one that does not upload the shared layer waits for it, so
// its manifest never reaches the registry before the layer (which
// distribution refuses: MANIFEST_BLOB_UNKNOWN).
func TestMirrorSharedBlobWaited(t *testing.T) {
	ctx := context.Background()
	src := openRef(t, regtest.Start(t, regtest.Referrers)+"/app")
	img := regtest.PushImage(t, src.Store, "v1")
	shared := registry.NewLayer("application/vnd.cyclonedx+json", []byte(`{"bomFormat":"CycloneDX","specVersion":"1.6"}`), "sbom.json")
	for _, own := range []string{"a", "b", "c", "d"} {
		if _, err := registry.PushArtifact(ctx, src, registry.ArtifactOptions{
			ArtifactType: "application/vnd.example.test", Subject: &img,
			Layers: []registry.Layer{shared, registry.NewLayer("text/plain", []byte(own), own)},
		}); err != nil {
			t.Fatal(err)
		}
	}
	slow := func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Method == http.MethodPut && strings.Contains(r.URL.Path, "/blobs/uploads/") && r.URL.Query().Get("digest") == shared.Descriptor.Digest.String() {
				time.Sleep(300 * time.Millisecond) // the shared layer's upload is slow to finish
			}
			next.ServeHTTP(w, r)
		})
	}
	dst := regtest.StartWrapped(t, regtest.Referrers, slow)
	rep, err := registry.Mirror(ctx, openRef(t, src.Ref.Repository+":v1"), openRef(t, dst+"/app"), "v1", registry.MirrorOptions{})
	if err != nil {
		t.Fatalf("mirror of referrers sharing a layer: %v", err)
	}
	if rep.Referrers != 4 {
		t.Errorf("%d referrers copied, want 4", rep.Referrers)
	}
}
