package registry_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/stella-ops/stella-oras/internal/regtest"
	"github.com/stella-ops/stella-oras/registry"
)

// layoutRun pushes, into a new layout under dir, a two-platform index
// tagged 1.0, three documents attached to it and one to its first
// platform, then mirrors the index with its referrers into a second new
// layout; it returns the bytes of both index.json files.
func layoutRun(t *testing.T, dir string) (src, dst []byte) {
	t.Helper()
	ctx := context.Background()
	srcDir, dstDir := filepath.Join(dir, "src"), filepath.Join(dir, "dst")
	tg := openRef(t, "oci:"+srcDir)
	idx, plats := regtest.PushIndex(t, tg.Store, "1.0")
	for i, subj := range []ocispec.Descriptor{idx, idx, idx, plats[0]} {
		doc := []byte(fmt.Sprintf(`{"n":%d}`, i))
		if _, err := registry.Attach(ctx, openRef(t, "oci:"+srcDir), subj, doc, registry.AttachOptions{ArtifactType: sbomType, MediaType: sbomType}); err != nil {
			t.Fatal(err)
		}
	}
	res, err := registry.MirrorImages(ctx, []string{"oci:" + srcDir + ":1.0"}, "oci:"+dstDir+":1.0", registry.MirrorRunOptions{})
	if err != nil || len(res) != 1 || res[0].Err != nil {
		t.Fatalf("mirror: %v %v", err, res)
	}
	read := func(d string) []byte {
		b, err := os.ReadFile(filepath.Join(d, "index.json"))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	return read(srcDir), read(dstDir)
}

// TestLayoutIndexReproducible: the same pushes, attaches and mirror into
// new layouts give the same index.json bytes every time, listed in one
// order (by digest, then tag), which is a layout tar's (canonicalIndex).
// Before, oras-go's store wrote its entries in Go's map order: of six runs
// of sample-image and two attaches, four index.json files differed.
func TestLayoutIndexReproducible(t *testing.T) {
	src0, dst0 := layoutRun(t, t.TempDir())
	for _, b := range [][]byte{src0, dst0} {
		var idx ocispec.Index
		if err := json.Unmarshal(b, &idx); err != nil {
			t.Fatal(err)
		}
		for i := 1; i < len(idx.Manifests); i++ {
			a, c := idx.Manifests[i-1], idx.Manifests[i]
			if a.Digest > c.Digest || a.Digest == c.Digest && a.Annotations[ocispec.AnnotationRefName] > c.Annotations[ocispec.AnnotationRefName] {
				t.Errorf("index.json entries %d and %d out of order: %s %q, %s %q", i-1, i, a.Digest, a.Annotations[ocispec.AnnotationRefName], c.Digest, c.Annotations[ocispec.AnnotationRefName])
			}
		}
		if len(idx.Manifests) < 8 {
			t.Errorf("index.json lists %d entries, want at least 8 (4 images and tags, 4 referrers, referrers tags)", len(idx.Manifests))
		}
	}
	for run := 1; run < 8; run++ {
		src, dst := layoutRun(t, t.TempDir())
		if !bytes.Equal(src, src0) {
			t.Fatalf("run %d: the written layout's index.json differs from run 0's:\n%s\n%s", run, src, src0)
		}
		if !bytes.Equal(dst, dst0) {
			t.Fatalf("run %d: the mirrored layout's index.json differs from run 0's:\n%s\n%s", run, dst, dst0)
		}
	}
}

// TestLayoutIndexReplaced: index.json is replaced (a new file renamed
// over it), never rewritten in place, so that a reader, or a command
// killed mid-write, never sees half an index. Before, oras-go's store
// truncated and rewrote the file: a second name for it (a hard link)
// showed the new index.
func TestLayoutIndexReplaced(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "layout")
	tg := openRef(t, "oci:"+dir)
	img := regtest.PushImage(t, tg.Store, "v1")
	p := filepath.Join(dir, "index.json")
	old, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "index.json.before")
	if err := os.Link(p, link); err != nil {
		t.Skipf("no hard links here: %v", err)
	}
	if _, err := registry.Attach(ctx, openRef(t, "oci:"+dir), img, []byte(`{"n":1}`), registry.AttachOptions{ArtifactType: sbomType, MediaType: sbomType}); err != nil {
		t.Fatal(err)
	}
	now, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(now, old) {
		t.Fatal("attach did not change index.json")
	}
	kept, err := os.ReadFile(link)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(kept, old) {
		t.Errorf("index.json was rewritten in place: its old file now holds\n%s", kept)
	}
}
