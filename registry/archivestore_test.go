package registry_test

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/content"

	"github.com/stella-ops/stella-oras/internal/regtest"
	"github.com/stella-ops/stella-oras/registry"
)

// tarNames lists a tar's entry names in order.
func tarNames(t *testing.T, p string) []string {
	t.Helper()
	var out []string
	for _, e := range readTar(t, p) {
		out = append(out, e.h.Name)
	}
	return out
}

// tempFiles lists what is in dir besides names.
func tempFiles(t *testing.T, dir string, names ...string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range ents {
		if !slices.Contains(names, e.Name()) {
			out = append(out, e.Name())
		}
	}
	return out
}

// TestArchiveAppend: writing to an existing layout tar keeps every entry
// it had (its blobs, its other files, its tags but one set again), adds
// what was pushed, and lists both in the one index.json it ends with;
// what was pushed reads back before Close, referrers included; Discard
// leaves the archive byte for byte as it was, with no file beside it.
func TestArchiveAppend(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	p := filepath.Join(dir, "a.tar")
	first := openRef(t, "oci-archive:"+p)
	img := regtest.PushImage(t, first.Store, "first")
	if err := first.Store.Tag(ctx, img, "v1"); err != nil {
		t.Fatal(err)
	}
	if err := first.Store.Tag(ctx, img, "keep"); err != nil {
		t.Fatal(err)
	}
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}
	// A file beside the layout (as export writes index.html).
	withFile := filepath.Join(dir, "with-file.tar")
	appendFile(t, p, withFile, "readme.md", "# kept\n")
	before, _ := os.ReadFile(withFile)

	tg := openRef(t, "oci-archive:"+withFile)
	second := regtest.PushImage(t, tg.Store, "second")
	if err := tg.Store.Tag(ctx, second, "v1"); err != nil {
		t.Fatal(err)
	}
	sbom, err := registry.Attach(ctx, tg, second, []byte(`{"bomFormat":"CycloneDX","specVersion":"1.6"}`), registry.AttachOptions{ArtifactType: sbomType, MediaType: sbomType})
	if err != nil {
		t.Fatal(err)
	}
	// Read back before Close: the tag, the new manifest, its referrer.
	if d, err := tg.Resolve(ctx, "v1"); err != nil || d.Digest != second.Digest {
		t.Fatalf("v1 before Close = %s, %v; want %s", d.Digest, err, second.Digest)
	}
	if refs, err := registry.Referrers(ctx, tg, second, ""); err != nil || len(refs) != 1 || refs[0].Digest != sbom.Digest {
		t.Fatalf("referrers before Close: %v, %v; want the SBOM", refs, err)
	}
	if err := tg.Close(); err != nil {
		t.Fatal(err)
	}
	names := tarNames(t, withFile)
	if n := strings.Count(strings.Join(names, "\n"), ocispec.ImageIndexFile); n != 1 || !slices.Contains(names, "readme.md") || names[0] != ocispec.ImageLayoutFile {
		t.Errorf("entries %v: want oci-layout first, one index.json, readme.md kept", names)
	}
	got := openRef(t, "oci-archive:"+withFile)
	defer got.Close()
	for tag, want := range map[string]digest.Digest{"v1": second.Digest, "keep": img.Digest} {
		if d, err := got.Resolve(ctx, tag); err != nil || d.Digest != want {
			t.Errorf("%s = %s, %v; want %s", tag, d.Digest, err, want)
		}
	}
	for _, d := range []ocispec.Descriptor{img, second, sbom} {
		if b, err := registry.FetchBlob(ctx, got, d, registry.MaxManifestBytes); err != nil || digest.FromBytes(b) != d.Digest {
			t.Errorf("%s after Close: %v", d.Digest, err)
		}
	}
	if refs, err := registry.Referrers(ctx, got, second, ""); err != nil || len(refs) != 1 {
		t.Errorf("referrers after Close: %v, %v", refs, err)
	}
	if left := tempFiles(t, dir, "a.tar", "with-file.tar"); len(left) != 0 {
		t.Errorf("left beside the archive: %v", left)
	}

	// Discard: nothing changes.
	now, _ := os.ReadFile(withFile)
	tg = openRef(t, "oci-archive:"+withFile)
	regtest.PushImage(t, tg.Store, "third")
	tg.Discard()
	if after, _ := os.ReadFile(withFile); !bytes.Equal(after, now) || bytes.Equal(now, before) {
		t.Error("Discard changed the archive (or the write before it did not)")
	}
	if left := tempFiles(t, dir, "a.tar", "with-file.tar"); len(left) != 0 {
		t.Errorf("left beside the archive after Discard: %v", left)
	}
}

// appendFile copies the tar at src to dst with one more regular file
// before its end.
func appendFile(t *testing.T, src, dst, name, body string) {
	t.Helper()
	in, err := os.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	tr := tar.NewReader(in)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		tw.WriteHeader(h)
		io.Copy(tw, tr)
	}
	tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(body)), Typeflag: tar.TypeReg})
	tw.Write([]byte(body))
	tw.Close()
	if err := os.WriteFile(dst, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestArchiveStreams: a large blob is written to the archive's temporary
// file as it is read (the reader finds part of it there before it has
// given all of it), never held whole; one that does not match its digest
// is cut off again, and what was pushed before and after it is intact.
func TestArchiveStreams(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	p := filepath.Join(dir, "s.tar")
	tg := openRef(t, "oci-archive:"+p)
	small := []byte("before")
	if err := tg.Store.Push(ctx, content.NewDescriptorFromBytes("application/octet-stream", small), bytes.NewReader(small)); err != nil {
		t.Fatal(err)
	}
	const size = 8 << 20
	big := bytes.Repeat([]byte("0123456789abcdef"), size/16)
	d := content.NewDescriptorFromBytes("application/octet-stream", big)
	r := &probeReader{r: bytes.NewReader(big), at: size / 2, probe: func() int64 {
		var n int64
		for _, name := range tempFiles(t, dir) {
			if fi, err := os.Stat(filepath.Join(dir, name)); err == nil {
				n += fi.Size()
			}
		}
		return n
	}}
	if err := tg.Store.Push(ctx, d, r); err != nil {
		t.Fatal(err)
	}
	if r.seen < size/4 {
		t.Errorf("halfway through the read, %d bytes were in the temporary file: the blob was not streamed", r.seen)
	}
	// A blob whose bytes are not its digest's: refused, cut off.
	bad := bytes.Repeat([]byte("x"), 3<<20)
	lie := ocispec.Descriptor{MediaType: "application/octet-stream", Digest: digest.FromString("something else"), Size: int64(len(bad))}
	if err := tg.Store.Push(ctx, lie, bytes.NewReader(bad)); err == nil {
		t.Fatal("a blob that does not match its digest was accepted")
	}
	after := []byte("after")
	if err := tg.Store.Push(ctx, content.NewDescriptorFromBytes("application/octet-stream", after), bytes.NewReader(after)); err != nil {
		t.Fatal(err)
	}
	if err := tg.Close(); err != nil {
		t.Fatal(err)
	}
	st, _ := os.Stat(p)
	if st.Size() > size+1<<20 {
		t.Errorf("the archive is %d bytes: the refused blob's entry was kept", st.Size())
	}
	got := openRef(t, "oci-archive:"+p)
	defer got.Close()
	for _, b := range [][]byte{small, big, after} {
		d := content.NewDescriptorFromBytes("application/octet-stream", b)
		rc, err := got.Store.Fetch(ctx, d)
		if err != nil {
			t.Fatalf("%s: %v", d.Digest, err)
		}
		h := sha256.New()
		io.Copy(h, rc)
		rc.Close()
		if fmt.Sprintf("sha256:%x", h.Sum(nil)) != d.Digest.String() {
			t.Errorf("%s reads back wrong", d.Digest)
		}
	}
	if ok, _ := got.Store.Exists(ctx, lie); ok {
		t.Error("the refused blob is in the archive")
	}
}

type probeReader struct {
	r     io.Reader
	read  int64
	at    int64
	probe func() int64
	seen  int64
	done  bool
}

func (p *probeReader) Read(b []byte) (int, error) {
	if !p.done && p.read >= p.at {
		p.seen, p.done = p.probe(), true
	}
	n, err := p.r.Read(b)
	p.read += int64(n)
	return n, err
}

// TestArchiveConcurrentPushes: blobs small and large pushed at once all
// reach the archive intact (run with -race).
func TestArchiveConcurrentPushes(t *testing.T) {
	ctx := context.Background()
	p := filepath.Join(t.TempDir(), "c.tar")
	tg := openRef(t, "oci-archive:"+p)
	var blobs [][]byte
	for i := range 24 {
		n := 100 + i
		if i%6 == 0 {
			n = 2<<20 + i // over the in-memory size: streamed under the lock
		}
		blobs = append(blobs, bytes.Repeat([]byte{byte('a' + i)}, n))
	}
	var wg sync.WaitGroup
	errs := make([]error, len(blobs))
	for i, b := range blobs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = tg.Store.Push(ctx, content.NewDescriptorFromBytes("application/octet-stream", b), bytes.NewReader(b))
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	if err := tg.Close(); err != nil {
		t.Fatal(err)
	}
	got := openRef(t, "oci-archive:"+p)
	defer got.Close()
	for _, b := range blobs {
		d := content.NewDescriptorFromBytes("application/octet-stream", b)
		if data, err := content.FetchAll(ctx, got.Store, d); err != nil || !bytes.Equal(data, b) {
			t.Errorf("%s: %v", d.Digest, err)
		}
	}
}

// TestArchiveIndexMerge: a tag moved in a later session leaves the
// manifest it named listed, untagged (as oras-go's layout store keeps
// it), and a manifest listed untagged that is tagged later is listed
// once.
func TestArchiveIndexMerge(t *testing.T) {
	ctx := context.Background()
	p := filepath.Join(t.TempDir(), "m.tar")
	s1 := openRef(t, "oci-archive:"+p)
	a, _, _ := regtest.PushBigImage(t, s1.Store, 100, 1)
	b, _, _ := regtest.PushBigImage(t, s1.Store, 100, 2)
	if err := s1.Store.Tag(ctx, a, "v1"); err != nil {
		t.Fatal(err)
	}
	if err := s1.Close(); err != nil {
		t.Fatal(err)
	}
	s2 := openRef(t, "oci-archive:"+p)
	if err := s2.Store.Tag(ctx, b, "v1"); err != nil {
		t.Fatal(err)
	}
	if err := s2.Store.Tag(ctx, b, "v2"); err != nil {
		t.Fatal(err)
	}
	if err := s2.Close(); err != nil {
		t.Fatal(err)
	}
	got := openRef(t, "oci-archive:"+p)
	defer got.Close()
	idx, err := registry.LayoutIndex(got)
	if err != nil {
		t.Fatal(err)
	}
	count := map[digest.Digest][]string{}
	for _, m := range idx.Manifests {
		count[m.Digest] = append(count[m.Digest], m.Annotations[ocispec.AnnotationRefName])
	}
	if tags := count[a.Digest]; len(tags) != 1 || tags[0] != "" {
		t.Errorf("the manifest v1 named before: listed as %q, want once, untagged", tags)
	}
	if tags := count[b.Digest]; len(tags) != 2 || slices.Contains(tags, "") {
		t.Errorf("the manifest tagged v1 and v2: listed as %q, want under both tags and not untagged", tags)
	}
	if d, err := got.Store.Resolve(ctx, a.Digest.String()); err != nil || d.MediaType != ocispec.MediaTypeImageManifest {
		t.Errorf("the old manifest resolves as %q, %v; want a manifest", d.MediaType, err)
	}
}

// TestArchiveCommitRefuses: Close leaves the archive as another writer
// left it when that writer replaced it after this one opened it, and
// refuses an index.json larger than a reader takes; after Close the
// store answers nothing (its offsets are gone with the old archive).
func TestArchiveCommitRefuses(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	p := filepath.Join(dir, "a.tar")
	base := openRef(t, "oci-archive:"+p)
	regtest.PushImage(t, base.Store, "base")
	if err := base.Close(); err != nil {
		t.Fatal(err)
	}
	mine, theirs := openRef(t, "oci-archive:"+p), openRef(t, "oci-archive:"+p)
	regtest.PushImage(t, theirs.Store, "theirs")
	if err := theirs.Close(); err != nil {
		t.Fatal(err)
	}
	after, _ := os.ReadFile(p)
	regtest.PushImage(t, mine.Store, "mine")
	if err := mine.Close(); err == nil || !strings.Contains(err.Error(), "changed since it was opened") {
		t.Errorf("Close over another writer's archive: %v, want a refusal", err)
	}
	if now, _ := os.ReadFile(p); !bytes.Equal(now, after) {
		t.Error("the other writer's archive was replaced")
	}
	if _, err := mine.Store.Fetch(ctx, ocispec.DescriptorEmptyJSON); err == nil {
		t.Error("Fetch after Close answered")
	}
	if left := tempFiles(t, dir, "a.tar"); len(left) != 0 {
		t.Errorf("left beside the archive: %v", left)
	}

	big := openRef(t, "oci-archive:"+filepath.Join(dir, "big.tar"))
	for i := range 36000 {
		b := fmt.Appendf(nil, `{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[],"annotations":{"n":"%d"}}`, i)
		if err := big.Store.Push(ctx, content.NewDescriptorFromBytes(ocispec.MediaTypeImageIndex, b), bytes.NewReader(b)); err != nil {
			t.Fatal(err)
		}
	}
	if err := big.Close(); err == nil || !errors.Is(err, registry.ErrTooLarge) {
		t.Errorf("Close with an index.json over the bound: %v, want ErrTooLarge", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "big.tar")); err == nil {
		t.Error("an archive with an unreadable index.json was written")
	}
}

// TestArchivePushesDoNotWait: a push whose source stalls holds up no
// other push, nor Exists; a push that fails with others after it leaves
// a void entry that a later session does not copy; an entry name USTAR
// cannot hold (non-ASCII) is copied as PAX.
func TestArchivePushesDoNotWait(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	p := filepath.Join(dir, "w.tar")
	seed := openRef(t, "oci-archive:"+filepath.Join(dir, "seed.tar"))
	regtest.PushImage(t, seed.Store, "seed")
	if err := seed.Close(); err != nil {
		t.Fatal(err)
	}
	appendFile(t, filepath.Join(dir, "seed.tar"), p, "notes-é.md", "ü\n")
	tg := openRef(t, "oci-archive:"+p)
	big := bytes.Repeat([]byte("z"), 3<<20)
	release := make(chan struct{})
	stalled := &stallReader{r: bytes.NewReader(big), after: 1 << 20, release: release, reached: make(chan struct{})}
	bad := ocispec.Descriptor{MediaType: "application/octet-stream", Digest: digest.FromString("not these bytes"), Size: int64(len(big))}
	done := make(chan error, 1)
	go func() { done <- tg.Store.Push(ctx, bad, stalled) }()
	<-stalled.reached
	small := []byte("small")
	sd := content.NewDescriptorFromBytes("application/octet-stream", small)
	pushed := make(chan error, 1)
	go func() { pushed <- tg.Store.Push(ctx, sd, bytes.NewReader(small)) }()
	select {
	case err := <-pushed:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a push waited on another's stalled transfer")
	}
	if ok, err := tg.Store.Exists(ctx, sd); err != nil || !ok {
		t.Fatalf("Exists during a stalled push: %v %v", ok, err)
	}
	close(release)
	if err := <-done; err == nil {
		t.Fatal("a blob that does not match its digest was accepted")
	}
	if err := tg.Close(); err != nil {
		t.Fatal(err)
	}
	names := tarNames(t, p)
	if !slices.ContainsFunc(names, func(n string) bool { return strings.HasPrefix(n, ".stella-void/") }) || !slices.Contains(names, "notes-é.md") {
		t.Fatalf("entries %v: want the failed push's void and the non-ASCII file", names)
	}
	got := openRef(t, "oci-archive:"+p)
	if data, err := content.FetchAll(ctx, got.Store, sd); err != nil || !bytes.Equal(data, small) {
		t.Fatalf("the blob pushed after the void: %v", err)
	}
	regtest.PushImage(t, got.Store, "again")
	if err := got.Close(); err != nil {
		t.Fatal(err)
	}
	if slices.ContainsFunc(tarNames(t, p), func(n string) bool { return strings.HasPrefix(n, ".stella-void/") }) {
		t.Error("a later session copied the void entry")
	}
}

// stallReader gives after bytes, says so on reached, then waits for
// release before the rest.
type stallReader struct {
	r       io.Reader
	after   int
	n       int
	release chan struct{}
	reached chan struct{}
}

func (s *stallReader) Read(p []byte) (int, error) {
	if s.n >= s.after {
		select {
		case <-s.reached:
		default:
			close(s.reached)
		}
		<-s.release
	}
	if s.n < s.after && len(p) > s.after-s.n {
		p = p[:s.after-s.n]
	}
	n, err := s.r.Read(p)
	s.n += n
	return n, err
}

// TestArchiveStaleTemps: the next write to an archive removes the
// temporary files killed commands left beside it a day or more ago, and
// leaves a recent one (a writer at work) and other files alone.
func TestArchiveStaleTemps(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "a.tar")
	old, recent, other := filepath.Join(dir, ".a.tar.tmp-111"), filepath.Join(dir, ".a.tar.tmp-222"), filepath.Join(dir, ".b.tar.tmp-333")
	for _, f := range []string{old, recent, other} {
		if err := os.WriteFile(f, []byte("left by a kill"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	day := time.Now().Add(-25 * time.Hour)
	for _, f := range []string{old, other} {
		if err := os.Chtimes(f, day, day); err != nil {
			t.Fatal(err)
		}
	}
	tg := openRef(t, "oci-archive:"+p)
	regtest.PushImage(t, tg.Store, "v1")
	if err := tg.Close(); err != nil {
		t.Fatal(err)
	}
	for f, want := range map[string]bool{old: false, recent: true, other: true} {
		if _, err := os.Stat(f); (err == nil) != want {
			t.Errorf("%s there: %v, want %v", filepath.Base(f), err == nil, want)
		}
	}
}
