package registry

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/opencontainers/go-digest"
	"github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/content"
	"oras.land/oras-go/v2/content/oci"
	"oras.land/oras-go/v2/errdef"

	"github.com/stella-ops/stella-oras/internal/iox"
)

// archiveStore is a writable OCI layout tar, written by streaming.
//
// What the archive holds is read where it lies (oras-go's read-only store
// over the tar, as for a read-only target); nothing is unpacked. What is
// pushed is appended, as a tar entry, to a temporary file beside the
// archive as it arrives: each byte is written once, a large blob streams
// through (never whole in memory), and a blob that does not match its
// digest is cut off again (the file is truncated back to where its entry
// began). Commit then copies the archive's own entries after the new ones,
// writes the merged index.json and the end-of-archive marker, and renames
// the file over the archive; Discard removes it. The archive itself is
// never written in place: a failed or killed command leaves it as it was.
//
// Before, the whole archive was unpacked into a temporary directory when
// it was opened and packed again, each file read whole into memory, on
// Close: every blob staged twice on disk, and a 1 GiB layer held in RAM.
//
// Readers of layout tars take the last index.json entry (GNU tar, skopeo
// and this tool unpack or read in order); the one this writes is the only
// one.
type archiveStore struct {
	path string
	old  *oci.ReadOnlyStore // nil: a new (or empty) archive
	// oldIndex, oldEntries and oldBytes describe the archive as opened.
	oldIndex   ocispec.Index
	oldEntries int
	oldBytes   int64

	// opened identifies the archive as opened (size and modification
	// time): commit refuses to replace an archive another writer changed.
	opened os.FileInfo

	mu       sync.Mutex // guards what follows (never held while data moves)
	f        *os.File   // the temporary file, created by the first write
	end      int64      // where the next entry's region begins
	blobs    map[digest.Digest]archiveEntry
	pending  map[digest.Digest]*archiveWrite // regions being written
	tags     map[string]ocispec.Descriptor   // tags set since opening (a digest: listed untagged)
	pushed   []ocispec.Descriptor            // manifests pushed, in order
	preds    map[digest.Digest][]ocispec.Descriptor
	entries  int
	bytes    int64
	wrote    bool
	finished bool
	writes   sync.WaitGroup // pushes under way
}

type archiveEntry struct {
	desc      ocispec.Descriptor
	off, size int64
}

// archiveWrite is a push under way: those of the same blob wait on done.
type archiveWrite struct {
	done chan struct{}
	err  error
}

// errClosed: the store was used after Close or Discard.
var errClosed = errors.New("used after it was closed")

// voidPrefix names the entries that stand where a push failed after its
// region was reserved (their bytes are not a blob); a later commit does
// not copy them.
const voidPrefix = ".stella-void/"

func openArchiveStore(ctx context.Context, path string) (*archiveStore, error) {
	s := &archiveStore{path: path, blobs: map[digest.Digest]archiveEntry{}, pending: map[digest.Digest]*archiveWrite{}, tags: map[string]ocispec.Descriptor{}, preds: map[digest.Digest][]ocispec.Descriptor{}}
	st, err := os.Stat(path)
	s.opened = st
	if err != nil || st.Size() == 0 {
		if err != nil && !os.IsNotExist(err) {
			return nil, err
		}
		s.oldIndex = ocispec.Index{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageIndex}
		return s, nil
	}
	var idx []byte
	if err := scanArchive(path, func(h *tar.Header, name string, tr *tar.Reader) error {
		s.oldEntries++
		s.oldBytes += h.Size
		if name == ocispec.ImageIndexFile && h.Typeflag == tar.TypeReg {
			b, err := io.ReadAll(io.LimitReader(tr, MaxManifestBytes+1))
			if err != nil {
				return err
			}
			if len(b) > MaxManifestBytes {
				return fmt.Errorf("%s: index.json %w: over %d bytes", path, ErrTooLarge, MaxManifestBytes)
			}
			idx = b
		}
		return nil
	}); err != nil {
		return nil, err
	}
	if idx == nil {
		return nil, fmt.Errorf("opening OCI layout tar %s: no index.json", path)
	}
	if err := json.Unmarshal(idx, &s.oldIndex); err != nil {
		return nil, fmt.Errorf("opening OCI layout tar %s: index.json: %v", path, err)
	}
	if s.old, err = oci.NewFromTar(ctx, path); err != nil {
		return nil, fmt.Errorf("opening OCI layout tar %s: %w", path, err)
	}
	return s, nil
}

// staleTempAge: a temporary file beside an archive untouched this long
// was left by a killed command (a live one writes to it as it goes, and
// commits within the session), and is removed by the next writer.
const staleTempAge = 24 * time.Hour

// removeStaleTemps removes what killed commands left beside the archive
// at path: .NAME.tmp-* files not modified for staleTempAge (a large
// mirror's can hold gigabytes).
func removeStaleTemps(path string) {
	dir, prefix := filepath.Dir(path), "."+filepath.Base(path)+".tmp-"
	ents, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	for _, e := range ents {
		if !strings.HasPrefix(e.Name(), prefix) {
			continue
		}
		if fi, err := e.Info(); err == nil && fi.Mode().IsRegular() && time.Since(fi.ModTime()) > staleTempAge {
			os.Remove(filepath.Join(dir, e.Name()))
		}
	}
}

func blobEntryName(d digest.Digest) string {
	return ocispec.ImageBlobsDir + "/" + d.Algorithm().String() + "/" + d.Encoded()
}

// begin creates the temporary file, with the oci-layout entry, on the
// first write (a command that only reads creates nothing). s.mu is held.
func (s *archiveStore) begin() error {
	if s.finished {
		return fmt.Errorf("%s: %w", s.path, errClosed)
	}
	if s.f != nil {
		return nil
	}
	removeStaleTemps(s.path)
	f, err := os.CreateTemp(filepath.Dir(s.path), "."+filepath.Base(s.path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("writing %s: %w", s.path, err)
	}
	layout, _ := json.Marshal(ocispec.ImageLayout{Version: ocispec.ImageLayoutVersion})
	tw := tar.NewWriter(f)
	err = writeEntry(tw, ocispec.ImageLayoutFile, int64(len(layout)), bytes.NewReader(layout))
	if err == nil {
		err = tw.Flush()
	}
	if err != nil {
		f.Close()
		os.Remove(f.Name())
		return fmt.Errorf("writing %s: %w", s.path, err)
	}
	s.f = f
	s.end, err = f.Seek(0, io.SeekCurrent)
	return err
}

// Push appends a blob or manifest, checked against d's digest and size.
// Its region of the file (header, data, padding: sizes known from d) is
// reserved under the lock and written outside it, so pushes run at once
// and none waits on another's transfer (a source body left unread could
// be cut off by its idle watchdog). A push that fails leaves its region
// as a void entry (or, when it is the last, cuts it off).
func (s *archiveStore) Push(ctx context.Context, d ocispec.Descriptor, r io.Reader) error {
	if err := d.Digest.Validate(); err != nil {
		return fmt.Errorf("%w: %v", errdef.ErrInvalidDigest, err)
	}
	if d.Size < 0 {
		return fmt.Errorf("%s: %w: size %d", d.Digest, content.ErrInvalidDescriptorSize, d.Size)
	}
	for {
		if ok, err := s.Exists(ctx, d); err != nil {
			return err
		} else if ok {
			return fmt.Errorf("%s: %w", d.Digest, errdef.ErrAlreadyExists)
		}
		s.mu.Lock()
		w, busy := s.pending[d.Digest]
		if !busy {
			break // s.mu held
		}
		s.mu.Unlock()
		select {
		case <-w.done: // the same blob, pushed at once: exists now, or failed
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	// s.mu is held.
	if _, ok := s.blobs[d.Digest]; ok {
		s.mu.Unlock()
		return fmt.Errorf("%s: %w", d.Digest, errdef.ErrAlreadyExists)
	}
	fail := func(err error) error { s.mu.Unlock(); return err }
	if s.oldEntries+s.entries+len(s.pending)+1 > maxArchiveEntries {
		return fail(fmt.Errorf("%s: %w: more than %d entries", s.path, ErrTooLarge, maxArchiveEntries))
	}
	if s.oldBytes+s.bytes+d.Size > maxArchiveBytes {
		return fail(fmt.Errorf("%s: %w: entries of more than %d bytes in all", s.path, ErrTooLarge, int64(maxArchiveBytes)))
	}
	if err := s.begin(); err != nil {
		return fail(err)
	}
	var hb bytes.Buffer
	if err := tar.NewWriter(&hb).WriteHeader(archiveHeader(blobEntryName(d.Digest), d.Size)); err != nil {
		return fail(fmt.Errorf("writing %s: %w", s.path, err))
	}
	start := s.end
	off := start + int64(hb.Len())
	s.end = off + d.Size + padding(d.Size)
	w := &archiveWrite{done: make(chan struct{})}
	s.pending[d.Digest] = w
	s.bytes += d.Size // counted now, so reservations at once keep the bound
	s.writes.Add(1)
	f := s.f
	s.mu.Unlock()
	defer s.writes.Done()

	err := writeRegion(f, start, hb.Bytes(), off, d, r)
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.pending, d.Digest)
	defer close(w.done)
	if err != nil {
		w.err = err
		s.bytes -= d.Size
		if verr := s.void(start, off+d.Size+padding(d.Size)); verr != nil {
			err = fmt.Errorf("%w (and marking its place void failed: %v)", err, verr)
		}
		return err
	}
	plain := ocispec.Descriptor{MediaType: d.MediaType, Digest: d.Digest, Size: d.Size}
	s.blobs[d.Digest] = archiveEntry{desc: plain, off: off, size: d.Size}
	s.entries++
	s.wrote = true
	if isManifestType(d.MediaType) {
		data, rerr := s.read(off, d.Size)
		if rerr != nil {
			return rerr
		}
		s.pushed = append(s.pushed, plain)
		if succ, err := content.Successors(ctx, fetcherFunc(func(context.Context, ocispec.Descriptor) (io.ReadCloser, error) {
			return io.NopCloser(bytes.NewReader(data)), nil
		}), plain); err == nil {
			for _, c := range succ {
				s.preds[c.Digest] = append(s.preds[c.Digest], plain)
			}
		}
	}
	return nil
}

func padding(size int64) int64 { return (512 - size%512) % 512 }

// writeRegion writes one entry's header at start and its data, verified
// against d, at off, then its padding.
func writeRegion(f *os.File, start int64, hdr []byte, off int64, d ocispec.Descriptor, r io.Reader) error {
	if _, err := f.WriteAt(hdr, start); err != nil {
		return fmt.Errorf("writing %s: %w", f.Name(), err)
	}
	vr := content.NewVerifyReader(r, d)
	src := &errReader{r: vr}
	n, err := io.Copy(io.NewOffsetWriter(f, off), io.LimitReader(src, d.Size))
	if src.err != nil {
		return src.err
	}
	if err != nil {
		return fmt.Errorf("writing %s: %w", f.Name(), err)
	}
	if n != d.Size {
		return fmt.Errorf("%s: %w", d.Digest, io.ErrUnexpectedEOF)
	}
	if err := vr.Verify(); err != nil {
		return err
	}
	if p := padding(d.Size); p > 0 {
		if _, err := f.WriteAt(make([]byte, p), off+d.Size); err != nil {
			return fmt.Errorf("writing %s: %w", f.Name(), err)
		}
	}
	return nil
}

// void turns the region [start, end) of a failed push into an entry that
// is no blob: cut off when it is the file's last, else a regular file
// under voidPrefix spanning it (so the entries after it still line up).
// s.mu is held.
func (s *archiveStore) void(start, end int64) error {
	if end == s.end {
		s.end = start
		return s.f.Truncate(start)
	}
	var hb bytes.Buffer
	h := archiveHeader(fmt.Sprintf("%s%d", voidPrefix, start), end-start-512)
	h.Format = tar.FormatUSTAR
	if err := tar.NewWriter(&hb).WriteHeader(h); err != nil {
		return err
	}
	if hb.Len() != 512 {
		return fmt.Errorf("void header of %d bytes", hb.Len())
	}
	_, err := s.f.WriteAt(hb.Bytes(), start)
	return err
}

func (s *archiveStore) read(off, size int64) ([]byte, error) {
	b := make([]byte, size)
	_, err := s.f.ReadAt(b, off)
	return b, err
}

type fetcherFunc func(context.Context, ocispec.Descriptor) (io.ReadCloser, error)

func (f fetcherFunc) Fetch(ctx context.Context, d ocispec.Descriptor) (io.ReadCloser, error) {
	return f(ctx, d)
}

// entry is what was pushed of d, and the temporary file; an error once
// the store is closed (the archive has been replaced: its offsets, and
// the temporary file, are gone).
func (s *archiveStore) entry(d digest.Digest) (archiveEntry, *os.File, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.finished {
		return archiveEntry{}, nil, false, fmt.Errorf("%s: %w", s.path, errClosed)
	}
	e, ok := s.blobs[d]
	return e, s.f, ok, nil
}

// Fetch reads what was pushed from the temporary file, the rest from the
// archive.
func (s *archiveStore) Fetch(ctx context.Context, d ocispec.Descriptor) (io.ReadCloser, error) {
	e, f, ok, err := s.entry(d.Digest)
	if err != nil {
		return nil, err
	}
	if ok {
		return iox.ContextReadCloser(ctx, io.NopCloser(io.NewSectionReader(f, e.off, e.size))), nil
	}
	if s.old == nil {
		return nil, fmt.Errorf("%s: %w", d.Digest, errdef.ErrNotFound)
	}
	rc, err := s.old.Fetch(ctx, d)
	if err != nil {
		return nil, err
	}
	return iox.ContextReadCloser(ctx, rc), nil
}

func (s *archiveStore) Exists(ctx context.Context, d ocispec.Descriptor) (bool, error) {
	if err := d.Digest.Validate(); err != nil {
		return false, fmt.Errorf("%w: %v", errdef.ErrInvalidDigest, err)
	}
	_, _, ok, err := s.entry(d.Digest)
	if err != nil || ok {
		return ok, err
	}
	if s.old == nil {
		return false, nil
	}
	return s.old.Exists(ctx, d)
}

// Tag names d (which must be here) ref; a digest as ref lists a manifest
// untagged.
func (s *archiveStore) Tag(ctx context.Context, d ocispec.Descriptor, ref string) error {
	if ref == "" {
		return errdef.ErrMissingReference
	}
	if ok, err := s.Exists(ctx, d); err != nil {
		return err
	} else if !ok {
		return fmt.Errorf("%s: %w", d.Digest, errdef.ErrNotFound)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.begin(); err != nil {
		return err
	}
	s.tags[ref] = d
	s.wrote = true
	return nil
}

func (s *archiveStore) Resolve(ctx context.Context, ref string) (ocispec.Descriptor, error) {
	s.mu.Lock()
	d, tagged := s.tags[ref]
	e, pushed := s.blobs[digest.Digest(ref)]
	s.mu.Unlock()
	switch {
	case tagged:
		return d, nil
	case pushed && isManifestType(e.desc.MediaType):
		return e.desc, nil
	}
	if s.old != nil {
		if d, err := s.old.Resolve(ctx, ref); err == nil || !errors.Is(err, errdef.ErrNotFound) {
			return d, err
		}
	}
	if pushed {
		return e.desc, nil
	}
	return ocispec.Descriptor{}, fmt.Errorf("%s: %w", ref, errdef.ErrNotFound)
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

// archiveHeader is an entry's header: a regular file of mode 0644, owned
// by uid/gid 0, modified at the Unix epoch; USTAR, or PAX where the name
// or size does not fit (a sha512 blob's name, a blob over 8 GiB).
func archiveHeader(name string, size int64) *tar.Header {
	h := &tar.Header{Typeflag: tar.TypeReg, Name: name, Size: size, Mode: 0o644, ModTime: tarEpoch, Format: tar.FormatUSTAR}
	if len(name) > 100 || size > maxUSTARSize || !isASCII(name) {
		h.Format = tar.FormatPAX
	}
	return h
}

// Predecessors: the archive's, and those of what was pushed.
func (s *archiveStore) Predecessors(ctx context.Context, node ocispec.Descriptor) ([]ocispec.Descriptor, error) {
	var out []ocispec.Descriptor
	if s.old != nil {
		p, err := s.old.Predecessors(ctx, node)
		if err != nil {
			return nil, err
		}
		out = p
	}
	s.mu.Lock()
	out = append(out, s.preds[node.Digest]...)
	s.mu.Unlock()
	return slices.CompactFunc(out, func(a, b ocispec.Descriptor) bool { return a.Digest == b.Digest }), nil
}

// Tags lists the archive's tags and those set since, sorted.
func (s *archiveStore) Tags(ctx context.Context, last string, fn func([]string) error) error {
	seen := map[string]bool{}
	for _, m := range s.index().Manifests {
		if t := m.Annotations[ocispec.AnnotationRefName]; t != "" {
			seen[t] = true
		}
	}
	tags := make([]string, 0, len(seen))
	for t := range seen {
		if t > last {
			tags = append(tags, t)
		}
	}
	slices.Sort(tags)
	return fn(tags)
}

// index is the merged index.json: the archive's entries, less the tags
// set again since, then the new tags and every manifest pushed.
func (s *archiveStore) index() ocispec.Index {
	s.mu.Lock()
	defer s.mu.Unlock()
	idx := s.oldIndex
	idx.SchemaVersion, idx.MediaType = 2, ocispec.MediaTypeImageIndex
	// Tagged entries first: the archive's (less those whose tag was set
	// again), then this session's; then every other manifest once,
	// untagged — as oras-go's store lists a layout (a manifest whose tag
	// moved stays listed, by digest).
	tagged := map[digest.Digest]bool{}
	var out, untagged []ocispec.Descriptor
	for _, m := range s.oldIndex.Manifests {
		t := m.Annotations[ocispec.AnnotationRefName]
		if _, retagged := s.tags[t]; t != "" && !retagged {
			out = append(out, m)
			tagged[m.Digest] = true
			continue
		}
		plain := ocispec.Descriptor{MediaType: m.MediaType, Digest: m.Digest, Size: m.Size, ArtifactType: m.ArtifactType, Platform: m.Platform}
		if t == "" {
			plain = m
		}
		untagged = append(untagged, plain)
	}
	refs := make([]string, 0, len(s.tags))
	for ref := range s.tags {
		refs = append(refs, ref)
	}
	slices.Sort(refs)
	for _, ref := range refs {
		d := s.tags[ref]
		if ref == d.Digest.String() {
			untagged = append(untagged, ocispec.Descriptor{MediaType: d.MediaType, Digest: d.Digest, Size: d.Size})
			continue
		}
		e := d
		e.Annotations = map[string]string{}
		for k, v := range d.Annotations {
			e.Annotations[k] = v
		}
		e.Annotations[ocispec.AnnotationRefName] = ref
		out = append(out, e)
		tagged[d.Digest] = true
	}
	untagged = append(untagged, s.pushed...)
	for _, d := range untagged {
		if !tagged[d.Digest] {
			out = append(out, d)
			tagged[d.Digest] = true
		}
	}
	idx.Manifests = out
	return idx
}

// commit writes the archive (see archiveStore); with nothing written it
// only ends the session. It refuses to replace an archive that changed
// since it was opened (another writer's work would be lost) and an index
// larger than a reader takes.
func (s *archiveStore) commit() (err error) {
	s.writes.Wait()
	idx, err := canonicalIndex(s.index())
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.finished {
		return nil
	}
	s.finished = true
	if !s.wrote || s.f == nil {
		s.drop()
		return nil
	}
	defer func() {
		if err != nil {
			s.drop()
		}
	}()
	if len(idx) > MaxManifestBytes {
		return fmt.Errorf("%s: index.json %w: %d bytes, over the %d a reader takes (too many manifests for one archive)", s.path, ErrTooLarge, len(idx), MaxManifestBytes)
	}
	if err := s.unchanged(); err != nil {
		return err
	}
	tw := tar.NewWriter(io.NewOffsetWriter(s.f, s.end))
	if s.old != nil {
		// The archive's own entries, but its layout files and voids,
		// after the new.
		if err := scanArchive(s.path, func(h *tar.Header, name string, tr *tar.Reader) error {
			slash := filepath.ToSlash(name)
			if h.Typeflag != tar.TypeReg || slash == ocispec.ImageIndexFile || slash == ocispec.ImageLayoutFile || strings.HasPrefix(slash, voidPrefix) {
				return nil
			}
			return writeEntry(tw, slash, h.Size, io.LimitReader(tr, h.Size))
		}); err != nil {
			return fmt.Errorf("writing %s: %w", s.path, err)
		}
	}
	if err := writeEntry(tw, ocispec.ImageIndexFile, int64(len(idx)), bytes.NewReader(idx)); err != nil {
		return fmt.Errorf("writing %s: %w", s.path, err)
	}
	if err := tw.Close(); err != nil {
		return fmt.Errorf("writing %s: %w", s.path, err)
	}
	if err := s.f.Sync(); err != nil {
		return fmt.Errorf("writing %s: %w", s.path, err)
	}
	name := s.f.Name()
	if err := s.f.Close(); err != nil {
		return fmt.Errorf("writing %s: %w", s.path, err)
	}
	s.f = nil
	if err := os.Chmod(name, 0o644); err != nil {
		os.Remove(name)
		return err
	}
	if err := s.unchanged(); err != nil {
		os.Remove(name)
		return err
	}
	if err := os.Rename(name, s.path); err != nil {
		os.Remove(name)
		return fmt.Errorf("writing %s: %w", s.path, err)
	}
	return nil
}

// unchanged fails when the archive is not the file opened: created,
// removed, or written (size or modification time) since.
func (s *archiveStore) unchanged() error {
	st, err := os.Stat(s.path)
	switch {
	case s.opened == nil && err == nil && st.Size() > 0:
		return fmt.Errorf("%s was created by another writer since it was opened: not replaced", s.path)
	case s.opened == nil || (s.opened.Size() == 0 && (err != nil || st.Size() == 0)):
		return nil
	case err != nil:
		return fmt.Errorf("%s changed since it was opened (%v): not replaced", s.path, err)
	case !os.SameFile(s.opened, st) || st.Size() != s.opened.Size() || !st.ModTime().Equal(s.opened.ModTime()):
		return fmt.Errorf("%s changed since it was opened (another writer): not replaced", s.path)
	}
	return nil
}

// discard drops what was written: the archive is left as it was.
func (s *archiveStore) discard() {
	s.writes.Wait()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.finished = true
	s.drop()
}

// drop removes the temporary file. s.mu is held.
func (s *archiveStore) drop() {
	if s.f != nil {
		name := s.f.Name()
		s.f.Close()
		os.Remove(name)
		s.f = nil
	}
}
