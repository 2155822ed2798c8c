package registry

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/content"
)

// TestPutLayoutManifestChecksBytes: a manifest whose bytes are not its
// descriptor's is refused (ErrDigestMismatch) and leaves nothing in the
// layout; the right bytes are written and listed by digest.
func TestPutLayoutManifestChecksBytes(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	tg, err := Open(ctx, Reference{Kind: KindLayout, Repository: dir}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	b := []byte(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[]}`)
	d := content.NewDescriptorFromBytes(ocispec.MediaTypeImageIndex, b)
	if err := putLayoutManifest(ctx, tg, dir, d, append([]byte(" "), b...)[:len(b)]); !errors.Is(err, ErrDigestMismatch) {
		t.Errorf("other bytes: %v, want ErrDigestMismatch", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "blobs", "sha256", d.Digest.Encoded())); !os.IsNotExist(err) {
		t.Errorf("the refused manifest is in the layout (%v)", err)
	}
	if err := putLayoutManifest(ctx, tg, dir, d, b); err != nil {
		t.Fatal(err)
	}
	got, err := tg.Store.Resolve(ctx, d.Digest.String())
	if err != nil || got.Digest != d.Digest || got.MediaType != d.MediaType {
		t.Errorf("the written manifest resolves to %v, %v; want %s", got, err, d.Digest)
	}
}
