package registry_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
	"github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/content"
	"oras.land/oras-go/v2/errdef"

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
// order (by digest, then tag), a layout tar's (sortEntries).
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

// TestLayoutIndexLarge: a layout whose index.json is over 4 MiB (20,000
// tags), written by this tool, opens again. The bound on opening a layout
// is the one on writing it (MaxLayoutIndexBytes): the first version of
// layoutStore read index.json with the 4 MiB bound of one manifest and
// could not open what it had written.
func TestLayoutIndexLarge(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "layout")
	tg := openRef(t, "oci:"+dir)
	img := regtest.PushImage(t, tg.Store, "v0")
	tg.HoldIndex()
	for i := range 20000 {
		if err := tg.Store.Tag(ctx, img, fmt.Sprintf("release-%05d-%s", i, strings.Repeat("x", 80))); err != nil {
			t.Fatal(err)
		}
	}
	if err := tg.SaveIndex(); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(filepath.Join(dir, "index.json")); err != nil || fi.Size() <= 4<<20 {
		t.Fatalf("index.json: %v, %v; want over 4 MiB", fi, err)
	}
	again := openRef(t, "oci:"+dir+":release-19999-"+strings.Repeat("x", 80))
	if d, err := again.Store.Resolve(ctx, again.Ref.Tag); err != nil || d.Digest != img.Digest {
		t.Fatalf("reopened: %v, %v; want %s", d.Digest, err, img.Digest)
	}
}

// TestLayoutIndexKeepsMode: index.json keeps its mode when rewritten (a
// private layout stays private). The first version of layoutStore wrote
// every index.json 0644.
func TestLayoutIndexKeepsMode(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "layout")
	img := regtest.PushImage(t, openRef(t, "oci:"+dir).Store, "v1")
	p := filepath.Join(dir, "index.json")
	if err := os.Chmod(p, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := registry.Attach(ctx, openRef(t, "oci:"+dir), img, []byte(`{"n":1}`), registry.AttachOptions{ArtifactType: sbomType, MediaType: sbomType}); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(p); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("index.json after attach: %v, %v; want mode 0600 kept", fi.Mode(), err)
	}
}

// TestLayoutIndexConcurrentTags: when goroutines tag different images
// with one tag at once, index.json lists the one the store resolves. The
// first version of layoutStore recorded a tag after the store did,
// outside one lock, so that in about 1 of 500 waves of four the index
// named another image than Resolve.
func TestLayoutIndexConcurrentTags(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "layout")
	tg := openRef(t, "oci:"+dir)
	imgs := []ocispec.Descriptor{}
	for _, s := range []string{"a", "b", "c", "d"} {
		imgs = append(imgs, regtest.PushImage(t, tg.Store, s))
	}
	tg.HoldIndex()
	bad := 0
	for range 20000 {
		var wg sync.WaitGroup
		for _, img := range imgs {
			wg.Go(func() {
				if err := tg.Store.Tag(ctx, img, "latest"); err != nil {
					t.Error(err)
				}
			})
		}
		wg.Wait()
		d, err := tg.Store.Resolve(ctx, "latest")
		if err != nil {
			t.Fatal(err)
		}
		idx, err := registry.LayoutIndex(tg)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range idx.Manifests {
			if e.Annotations[ocispec.AnnotationRefName] == "latest" && e.Digest != d.Digest {
				bad++
			}
		}
	}
	if bad > 0 {
		t.Errorf("%d of 20000 waves: index.json's latest is not the one Resolve gives", bad)
	}
}

// TestLayoutIndexArtifactManifest: an OCI artifact manifest
// (application/vnd.oci.artifact.manifest.v1+json, of image-spec 1.1's
// release candidates) pushed into a layout is listed, as oras-go's store
// lists it.
func TestLayoutIndexArtifactManifest(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "layout")
	tg := openRef(t, "oci:"+dir)
	b := []byte(`{"mediaType":"application/vnd.oci.artifact.manifest.v1+json","artifactType":"application/example","blobs":[]}`)
	d := content.NewDescriptorFromBytes("application/vnd.oci.artifact.manifest.v1+json", b)
	if err := tg.Store.Push(ctx, d, bytes.NewReader(b)); err != nil {
		t.Fatal(err)
	}
	idx, err := registry.LayoutIndex(openRef(t, "oci:"+dir))
	if err != nil {
		t.Fatal(err)
	}
	if len(idx.Manifests) != 1 || idx.Manifests[0].Digest != d.Digest {
		t.Errorf("index.json lists %v, want the artifact manifest %s", idx.Manifests, d.Digest)
	}
}

// TestLayoutIndexUnchangedEntries: a command that changes no entry leaves
// index.json's bytes as they were, whatever another tool wrote: here an
// index that lists one manifest twice (tagged and by digest), which
// oras-go's listing rule would write once. Pushing and tagging again what
// is listed changes nothing.
func TestLayoutIndexUnchangedEntries(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "layout")
	img := regtest.PushImage(t, openRef(t, "oci:"+dir).Store, "v1")
	p := filepath.Join(dir, "index.json")
	foreign := fmt.Sprintf(`{"schemaVersion":2,"manifests":[{"mediaType":%q,"digest":%q,"size":%d},{"mediaType":%q,"digest":%q,"size":%d,"annotations":{"org.opencontainers.image.ref.name":"v1"}}]}`,
		img.MediaType, img.Digest, img.Size, img.MediaType, img.Digest, img.Size)
	if err := os.WriteFile(p, []byte(foreign), 0o644); err != nil {
		t.Fatal(err)
	}
	tg := openRef(t, "oci:"+dir)
	b, err := registry.FetchBlob(ctx, tg, img, registry.MaxManifestBytes)
	if err != nil {
		t.Fatal(err)
	}
	if err := tg.Store.Push(ctx, img, bytes.NewReader(b)); err != nil && !errors.Is(err, errdef.ErrAlreadyExists) {
		t.Fatal(err)
	}
	if err := tg.Store.Tag(ctx, img, "v1"); err != nil {
		t.Fatal(err)
	}
	if err := tg.SaveIndex(); err != nil {
		t.Fatal(err)
	}
	if now, err := os.ReadFile(p); err != nil || string(now) != foreign {
		t.Errorf("index.json changed with no entry changed:\n%s\nwas\n%s", now, foreign)
	}
}

// TestLayoutManifestTooLarge: a manifest of a layout over MaxManifestBytes
// (a listed one declaring 5 MiB, its file as large) is refused when the
// layout is opened, before it is read. Before, oras-go's store read what
// the descriptor declared, whole, into memory (a 2 GiB blob: 8 GB
// resident) and only then found the digest wrong.
func TestLayoutManifestTooLarge(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "layout")
	regtest.PushImage(t, openRef(t, "oci:"+dir).Store, "v1")
	const size = 5 << 20
	fake := "sha256:" + strings.Repeat("ab", 32)
	f, err := os.Create(filepath.Join(dir, "blobs", "sha256", strings.Repeat("ab", 32)))
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(size); err != nil {
		t.Fatal(err)
	}
	f.Close()
	idx := fmt.Sprintf(`{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":%q,"size":%d}]}`, fake, size)
	if err := os.WriteFile(filepath.Join(dir, "index.json"), []byte(idx), 0o644); err != nil {
		t.Fatal(err)
	}
	ref, err := registry.ParseReference("oci:" + dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := registry.Open(context.Background(), ref, registry.Options{}); !errors.Is(err, registry.ErrTooLarge) {
		t.Errorf("a 5 MiB manifest: %v, want ErrTooLarge", err)
	}
}

// TestMirrorLayoutCancelMidBlob: a mirror from a layout cancelled while it
// copies a large layer (2 GiB, sparse) stops inside the blob, with the
// context's error, and leaves neither the blob nor a partial file in the
// destination. Before, a layout's blob was read with no context: the copy
// went on to the blob's end and left it copied (25 s for 4 GiB in a
// review), long past the grace a signal gives (cli.SignalGrace), which
// then ended the process with a partial file left in ingest.
func TestMirrorLayoutCancelMidBlob(t *testing.T) {
	ctx := context.Background()
	root := t.TempDir()
	src := filepath.Join(root, "src")
	tg := openRef(t, "oci:"+src)
	const size = 2 << 30
	// A real layer of zeros (its digest computed): a copy that is not
	// stopped finishes, and leaves the blob in the destination.
	h := digest.Canonical.Digester()
	if _, err := io.Copy(h.Hash(), io.LimitReader(zeros{}, size)); err != nil {
		t.Fatal(err)
	}
	layer := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageLayer, Digest: h.Digest(), Size: size}
	if err := os.MkdirAll(filepath.Join(src, "blobs", "sha256"), 0o755); err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(filepath.Join(src, "blobs", "sha256", layer.Digest.Encoded()))
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(size); err != nil {
		t.Fatal(err)
	}
	f.Close()
	cfg := []byte(`{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}`)
	cd := content.NewDescriptorFromBytes(ocispec.MediaTypeImageConfig, cfg)
	if err := tg.Store.Push(ctx, cd, bytes.NewReader(cfg)); err != nil {
		t.Fatal(err)
	}
	mb, err := json.Marshal(ocispec.Manifest{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageManifest, Config: cd, Layers: []ocispec.Descriptor{layer}})
	if err != nil {
		t.Fatal(err)
	}
	md := content.NewDescriptorFromBytes(ocispec.MediaTypeImageManifest, mb)
	if err := tg.Store.Push(ctx, md, bytes.NewReader(mb)); err != nil {
		t.Fatal(err)
	}
	if err := tg.Store.Tag(ctx, md, "big"); err != nil {
		t.Fatal(err)
	}
	dst := filepath.Join(root, "dst")
	cctx, cancel := context.WithCancel(ctx)
	time.AfterFunc(200*time.Millisecond, cancel)
	res, err := registry.MirrorImages(cctx, []string{"oci:" + src + ":big"}, "oci:"+dst+":big", registry.MirrorRunOptions{})
	if err == nil && len(res) == 1 {
		err = res[0].Err
	}
	if !errors.Is(err, context.Canceled) {
		t.Errorf("mirror cancelled mid-blob: %v, want context.Canceled", err)
	}
	filepath.WalkDir(dst, func(p string, e fs.DirEntry, err error) error {
		if err == nil && !e.IsDir() {
			if fi, ierr := e.Info(); ierr == nil && fi.Size() > 1<<20 {
				t.Errorf("left in the destination: %s, %d bytes", p, fi.Size())
			}
		}
		return nil
	})
}

// zeros reads as an endless run of NUL bytes.
type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}
