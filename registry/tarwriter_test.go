package registry_test

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	digest "github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/stella-ops/stella-oras/internal/regtest"
	"github.com/stella-ops/stella-oras/registry"
)

// graphOf lists every manifest and blob of the graph pushIndexWithReferrers
// pushed (the index, both platform manifests, the three referrers, their
// configs and layers), and the descriptors of the manifests.
func graphOf(t *testing.T, tg *registry.Target, root ocispec.Descriptor, nodes []ocispec.Descriptor, skipLayers bool) ([]registry.LayoutTarBlob, []ocispec.Descriptor) {
	t.Helper()
	ctx := context.Background()
	var blobs []registry.LayoutTarBlob
	ib, err := registry.FetchBlob(ctx, tg, root, registry.MaxManifestBytes)
	if err != nil {
		t.Fatal(err)
	}
	blobs = append(blobs, registry.LayoutTarBlob{Descriptor: root, Data: ib})
	manifests := []ocispec.Descriptor{root}
	for _, n := range nodes {
		n = ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: n.Digest, Size: n.Size}
		m, b, err := registry.FetchManifest(ctx, tg, n)
		if err != nil {
			t.Fatal(err)
		}
		blobs = append(blobs, registry.LayoutTarBlob{Descriptor: n, Data: b}, registry.LayoutTarBlob{Descriptor: m.Config})
		manifests = append(manifests, n)
		if m.Subject == nil && skipLayers {
			continue // an image's layers
		}
		for _, l := range m.Layers {
			blobs = append(blobs, registry.LayoutTarBlob{Descriptor: l})
		}
	}
	return blobs, manifests
}

// tarEntry is one entry of a tar, header and content.
type tarEntry struct {
	h    *tar.Header
	data []byte
}

func readTar(t *testing.T, p string) []tarEntry {
	t.Helper()
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []tarEntry
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, tarEntry{h, b})
	}
}

// TestWriteLayoutTar: a layout tar written from a registry is an OCI
// layout the archive target reads (the tag, the referrers of every node);
// its entries come in the documented order with fixed header fields and
// no PAX records; index.json is canonical; the same content from another
// kind of registry, or written again, gives the same bytes.
func TestWriteLayoutTar(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	var reports []*registry.LayoutTarReport
	var paths []string
	for i, kind := range []string{regtest.Referrers, regtest.Plain, regtest.Referrers} {
		src := openRef(t, regtest.Start(t, kind)+"/app")
		root, nodes := pushIndexWithReferrers(t, src)
		blobs, manifests := graphOf(t, src, root, nodes, false)
		idx := ocispec.Index{MediaType: ocispec.MediaTypeImageIndex, Manifests: manifests}
		idx.SchemaVersion = 2
		idx.Manifests[0].Annotations = map[string]string{ocispec.AnnotationRefName: "1.0"}
		slices.Reverse(blobs) // the order given does not matter
		p := filepath.Join(dir, "app"+string(rune('0'+i))+".tar")
		rep, err := registry.WriteLayoutTar(ctx, src, p, registry.LayoutTarOptions{
			Index: idx, Files: []registry.LayoutTarFile{{Name: "index.md", Data: []byte("# app\n")}, {Name: "trust/keys/a.pub", Data: []byte("key")}},
			Blobs: append(blobs, blobs[0]), // twice: written once
		})
		if err != nil {
			t.Fatal(err)
		}
		reports, paths = append(reports, rep), append(paths, p)

		b, _ := os.ReadFile(p)
		sum := sha256.Sum256(b)
		unique := map[digest.Digest]bool{}
		for _, bl := range blobs {
			unique[bl.Descriptor.Digest] = true
		}
		if rep.SHA256.String() != "sha256:"+hex.EncodeToString(sum[:]) || rep.Size != int64(len(b)) || rep.Blobs != len(unique) {
			t.Errorf("report %+v; file sha256:%x, %d bytes, %d blobs", rep, sum, len(b), len(unique))
		}
		entries := readTar(t, p)
		var names []string
		for _, e := range entries {
			names = append(names, e.h.Name)
			h := e.h
			if h.Typeflag != tar.TypeReg || h.Mode != 0o644 || h.Uid != 0 || h.Gid != 0 || h.Uname != "" || h.Gname != "" ||
				!h.ModTime.Equal(time.Unix(0, 0)) || !h.AccessTime.IsZero() || !h.ChangeTime.IsZero() || len(h.PAXRecords) != 0 || h.Format != tar.FormatUSTAR {
				t.Errorf("%s: header %+v; want a USTAR regular file, 0644, 0/0, no names, mtime 0, no PAX records", h.Name, h)
			}
		}
		if want := []string{"oci-layout", "index.json", "index.md", "trust/keys/a.pub"}; !slices.Equal(names[:4], want) {
			t.Errorf("first entries %v, want %v", names[:4], want)
		}
		if !slices.IsSorted(names[4:]) || !strings.HasPrefix(names[4], "blobs/sha256/") {
			t.Errorf("blob entries not in digest order: %v", names[4:])
		}
		for _, e := range entries[4:] {
			if d := digest.FromBytes(e.data); "blobs/sha256/"+d.Encoded() != e.h.Name {
				t.Errorf("%s holds content of %s", e.h.Name, d)
			}
		}
		var generic map[string]any
		if err := json.Unmarshal(entries[1].data, &generic); err != nil {
			t.Fatal(err)
		}
		if again, _ := json.Marshal(generic); !bytes.Equal(again, entries[1].data) {
			t.Errorf("index.json is not in sorted-key compact form:\n%s", entries[1].data)
		}

		// The archive target reads it: tag, referrers at both levels.
		tg := openRef(t, "oci-archive:"+p+":1.0")
		if d, err := tg.Resolve(ctx, "1.0"); err != nil || d.Digest != root.Digest {
			t.Errorf("Resolve(1.0) in the tar = %v, %v; want %s", d.Digest, err, root.Digest)
		}
		if diff := cmp.Diff(referrerSet(t, src, root, nodes), referrerSet(t, tg, root, nodes)); diff != "" {
			t.Errorf("referrers in the tar differ from the source's (-src +tar):\n%s", diff)
		}
		idxRead, err := registry.LayoutIndex(tg)
		if err != nil || len(idxRead.Manifests) != len(manifests) {
			t.Errorf("LayoutIndex = %d manifests, %v; want %d", len(idxRead.Manifests), err, len(manifests))
		}
		tg.Close()
	}
	for i := 1; i < len(reports); i++ {
		if reports[i].SHA256 != reports[0].SHA256 {
			t.Errorf("%s: sha256 %s, %s: %s; want the same bytes", paths[i], reports[i].SHA256, paths[0], reports[0].SHA256)
		}
	}
}

// TestWriteLayoutTarMismatch: a blob that does not match its digest
// fails the write with ErrDigestMismatch, and nothing is left: no file,
// no temporary file, an earlier file at the path unchanged.
func TestWriteLayoutTarMismatch(t *testing.T) {
	ctx := context.Background()
	c := &corrupter{flip: func(b []byte) { b[len(b)-1] ^= 0xff }}
	src := openRef(t, regtest.StartWrapped(t, regtest.Referrers, c.wrap)+"/app")
	root, nodes := pushIndexWithReferrers(t, src)
	blobs, manifests := graphOf(t, src, root, nodes, false)
	m, _, _ := registry.FetchManifest(ctx, src, nodes[0])
	c.set(m.Layers[0].Digest.String())
	dir := t.TempDir()
	p := filepath.Join(dir, "app.tar")
	for _, before := range [][]byte{nil, []byte("an earlier export")} {
		if before != nil {
			os.WriteFile(p, before, 0o644)
		}
		idx := ocispec.Index{MediaType: ocispec.MediaTypeImageIndex, Manifests: manifests}
		_, err := registry.WriteLayoutTar(ctx, src, p, registry.LayoutTarOptions{Index: idx, Blobs: blobs})
		if !errors.Is(err, registry.ErrDigestMismatch) {
			t.Fatalf("WriteLayoutTar with a corrupt blob = %v, want ErrDigestMismatch", err)
		}
		got, _ := os.ReadFile(p)
		if !bytes.Equal(got, before) {
			t.Errorf("after the failure %s holds %q, want %q", p, got, before)
		}
		want := []string(nil)
		if before != nil {
			want = []string{"app.tar"}
		}
		if es := dirEntries(t, dir); !slices.Equal(es, want) {
			t.Errorf("directory after the failure: %v, want %v", es, want)
		}
	}
	// A file name that climbs out, or stands for a layout file, is refused.
	for _, name := range []string{"../x", "/etc/x", "a/../../x", "index.json", "blobs/sha256/00", "a\\b"} {
		if _, err := registry.WriteLayoutTar(ctx, src, filepath.Join(dir, "n.tar"), registry.LayoutTarOptions{Files: []registry.LayoutTarFile{{Name: name}}}); err == nil {
			t.Errorf("file name %q: accepted", name)
		}
	}
}

func dirEntries(t *testing.T, dir string) []string {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range es {
		out = append(out, e.Name())
	}
	return out
}

// TestArchiveCutAtBoundary: an OCI layout tar cut at an entry's boundary
// (archive/tar reads it as complete), or with only one of the two zero
// blocks that end an archive, is refused as cut short; the whole one, and
// an empty file, open.
func TestArchiveCutAtBoundary(t *testing.T) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	var cuts []int
	for _, f := range []struct{ name, data string }{{"oci-layout", `{"imageLayoutVersion":"1.0.0"}`}, {"index.json", `{"schemaVersion":2,"manifests":[]}`}} {
		tw.WriteHeader(&tar.Header{Name: f.name, Mode: 0o644, Size: int64(len(f.data)), Typeflag: tar.TypeReg})
		tw.Write([]byte(f.data))
		tw.Flush()
		cuts = append(cuts, buf.Len())
	}
	tw.Close()
	whole := buf.Bytes()
	dir := t.TempDir()
	for _, tc := range []struct {
		name string
		data []byte
		ok   bool
	}{
		{"whole", whole, true},
		{"empty file", nil, true},
		{"cut after the first entry", whole[:cuts[0]], false},
		{"cut after the last entry", whole[:cuts[1]], false},
		{"one zero block", whole[:cuts[1]+512], false},
	} {
		p := filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "-")+".tar")
		os.WriteFile(p, tc.data, 0o644)
		ref, _ := registry.ParseReference("oci-archive:" + p)
		tg, err := registry.Open(context.Background(), ref, registry.Options{ReadOnly: true})
		if tc.ok != (err == nil) || (!tc.ok && !errors.Is(err, io.ErrUnexpectedEOF)) {
			t.Errorf("%s: Open = %v, want ok %v (else io.ErrUnexpectedEOF)", tc.name, err, tc.ok)
		}
		if tg != nil {
			tg.Discard()
		}
	}
}
