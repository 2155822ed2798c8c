//go:build unix

package registry_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/stella-ops/stella-oras/internal/regtest"
	"github.com/stella-ops/stella-oras/registry"
)

// TestLayoutIndexNotRegular: a layout whose index.json is a FIFO or a
// device is refused at once, saying so. Before, opening it waited for a
// writer forever (a FIFO), or read without end (/dev/zero, which oras-go's
// store decoded unbounded).
func TestLayoutIndexNotRegular(t *testing.T) {
	for _, kind := range []string{"fifo", "device"} {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, "oci-layout"), []byte(`{"imageLayoutVersion":"1.0.0"}`), 0o644); err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(dir, "index.json")
		switch kind {
		case "fifo":
			if err := syscall.Mkfifo(p, 0o600); err != nil {
				t.Skipf("mkfifo: %v", err)
			}
		case "device":
			if err := os.Symlink("/dev/zero", p); err != nil {
				t.Fatal(err)
			}
		}
		refusedNotRegular(t, dir, nil, kind+" index.json")
	}
}

// TestLayoutBlobNotRegular: a blob of a layout that is a FIFO is refused
// at once: a listed manifest's when the layout is opened (oras-go's store
// reads every listed manifest then), a config's when it is read. Before,
// both waited on the FIFO for a writer forever, ignoring SIGTERM.
func TestLayoutBlobNotRegular(t *testing.T) {
	ctx := context.Background()
	for _, which := range []string{"manifest", "config"} {
		dir := filepath.Join(t.TempDir(), "layout")
		img := regtest.PushImage(t, openRef(t, "oci:"+dir).Store, "v1")
		m, _, err := registry.FetchManifest(ctx, openRef(t, "oci:"+dir), img)
		if err != nil {
			t.Fatal(err)
		}
		fifo := img
		if which == "config" {
			fifo = m.Config
		}
		p := filepath.Join(dir, "blobs", "sha256", fifo.Digest.Encoded())
		if err := os.Remove(p); err != nil {
			t.Fatal(err)
		}
		if err := syscall.Mkfifo(p, 0o600); err != nil {
			t.Skipf("mkfifo: %v", err)
		}
		refusedNotRegular(t, dir, &fifo, "a FIFO as the "+which+" blob")
	}
}

// TestLayoutChildNotRegular: a manifest index.json does not list but a
// listed index names (a platform's), whose blob is a FIFO, is refused when
// the layout is opened: oras-go's store reads it then, through its own
// storage. Found by a review of the check above, which covered listed
// manifests only.
func TestLayoutChildNotRegular(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "layout")
	idx, plats := regtest.PushIndex(t, openRef(t, "oci:"+dir).Store, "1.0")
	only := fmt.Sprintf(`{"schemaVersion":2,"manifests":[{"mediaType":%q,"digest":%q,"size":%d,"annotations":{"org.opencontainers.image.ref.name":"1.0"}}]}`, idx.MediaType, idx.Digest, idx.Size)
	if err := os.WriteFile(filepath.Join(dir, "index.json"), []byte(only), 0o644); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, "blobs", "sha256", plats[1].Digest.Encoded())
	if err := os.Remove(p); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mkfifo(p, 0o600); err != nil {
		t.Skipf("mkfifo: %v", err)
	}
	refusedNotRegular(t, dir, nil, "a FIFO as an index's child")
}

// refusedNotRegular opens the layout at dir and, when blob is set, reads
// that blob, in a goroutine: it must fail within 10 s, saying that a file
// is not a regular file (a FIFO's open would wait for a writer forever).
func refusedNotRegular(t *testing.T, dir string, blob *ocispec.Descriptor, what string) {
	t.Helper()
	ctx := context.Background()
	ref, err := registry.ParseReference("oci:" + dir)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		tg, err := registry.Open(ctx, ref, registry.Options{})
		if err == nil && blob != nil {
			_, err = registry.FetchBlob(ctx, tg, *blob, registry.MaxManifestBytes)
		}
		done <- err
	}()
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "not a regular file") {
			t.Errorf("%s: %v, want a refusal that says it is not a regular file", what, err)
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("%s: still waiting after 10 s", what)
	}
}
