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
	"sync"

	"github.com/opencontainers/go-digest"
	"github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/content"
	"oras.land/oras-go/v2/content/oci"
	"oras.land/oras-go/v2/errdef"
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

	mu       sync.Mutex // guards what follows; held while an entry is written
	f        *os.File   // the temporary file, created by the first write
	end      int64      // where the next entry goes
	blobs    map[digest.Digest]archiveEntry
	tags     map[string]ocispec.Descriptor // tags set since opening (a digest: listed untagged)
	pushed   []ocispec.Descriptor          // manifests pushed, in order
	preds    map[digest.Digest][]ocispec.Descriptor
	entries  int
	bytes    int64
	wrote    bool
	finished bool
}

type archiveEntry struct {
	desc      ocispec.Descriptor
	off, size int64
}

// archiveBufferBytes: a blob up to this size is read (and verified) into
// memory before the file is locked, so small blobs pushed at once do not
// wait on each other's transfer; a larger one streams under the lock.
const archiveBufferBytes = 1 << 20

func openArchiveStore(ctx context.Context, path string) (*archiveStore, error) {
	s := &archiveStore{path: path, blobs: map[digest.Digest]archiveEntry{}, tags: map[string]ocispec.Descriptor{}, preds: map[digest.Digest][]ocispec.Descriptor{}}
	st, err := os.Stat(path)
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

func blobEntryName(d digest.Digest) string {
	return ocispec.ImageBlobsDir + "/" + d.Algorithm().String() + "/" + d.Encoded()
}

// begin creates the temporary file, with the oci-layout entry, on the
// first write (a command that only reads creates nothing). s.mu is held.
func (s *archiveStore) begin() error {
	if s.finished {
		return fmt.Errorf("%s: written after it was closed", s.path)
	}
	if s.f != nil {
		return nil
	}
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
func (s *archiveStore) Push(ctx context.Context, d ocispec.Descriptor, r io.Reader) error {
	if err := d.Digest.Validate(); err != nil {
		return fmt.Errorf("%w: %v", errdef.ErrInvalidDigest, err)
	}
	if ok, err := s.Exists(ctx, d); err != nil {
		return err
	} else if ok {
		return fmt.Errorf("%s: %w", d.Digest, errdef.ErrAlreadyExists)
	}
	var data []byte
	if d.Size <= archiveBufferBytes {
		var err error
		if data, err = content.ReadAll(r, d); err != nil {
			return err
		}
		r = bytes.NewReader(data)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.blobs[d.Digest]; ok {
		return fmt.Errorf("%s: %w", d.Digest, errdef.ErrAlreadyExists)
	}
	if s.oldEntries+s.entries+1 > maxArchiveEntries {
		return fmt.Errorf("%s: %w: more than %d entries", s.path, ErrTooLarge, maxArchiveEntries)
	}
	if s.oldBytes+s.bytes+d.Size > maxArchiveBytes {
		return fmt.Errorf("%s: %w: entries of more than %d bytes in all", s.path, ErrTooLarge, int64(maxArchiveBytes))
	}
	if err := s.begin(); err != nil {
		return err
	}
	start := s.end
	off, err := s.append(blobEntryName(d.Digest), d, r)
	if err != nil {
		// Cut the partial entry off: the file ends where it began.
		if terr := s.f.Truncate(start); terr != nil {
			return fmt.Errorf("%w (and cutting it off failed: %v)", err, terr)
		}
		if _, serr := s.f.Seek(start, io.SeekStart); serr != nil {
			return serr
		}
		return err
	}
	plain := ocispec.Descriptor{MediaType: d.MediaType, Digest: d.Digest, Size: d.Size}
	s.blobs[d.Digest] = archiveEntry{desc: plain, off: off, size: d.Size}
	s.entries++
	s.bytes += d.Size
	s.wrote = true
	if isManifestType(d.MediaType) {
		if data == nil {
			if data, err = s.read(off, d.Size); err != nil {
				return err
			}
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

// append writes one entry at s.end from r, verified against d, and
// returns where its data begins. s.mu is held.
func (s *archiveStore) append(name string, d ocispec.Descriptor, r io.Reader) (int64, error) {
	tw := tar.NewWriter(s.f)
	if err := tw.WriteHeader(archiveHeader(name, d.Size)); err != nil {
		return 0, fmt.Errorf("writing %s: %w", s.path, err)
	}
	off, err := s.f.Seek(0, io.SeekCurrent)
	if err != nil {
		return 0, err
	}
	vr := content.NewVerifyReader(r, d)
	src := &errReader{r: vr}
	if _, err := io.Copy(tw, src); err != nil {
		if src.err != nil {
			return 0, src.err
		}
		return 0, fmt.Errorf("writing %s: %w", s.path, err)
	}
	if err := vr.Verify(); err != nil {
		return 0, err
	}
	if err := tw.Flush(); err != nil {
		return 0, fmt.Errorf("writing %s: %w", s.path, err)
	}
	if s.end, err = s.f.Seek(0, io.SeekCurrent); err != nil {
		return 0, err
	}
	return off, nil
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

func (s *archiveStore) entry(d digest.Digest) (archiveEntry, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.blobs[d]
	return e, ok
}

// Fetch reads what was pushed from the temporary file, the rest from the
// archive.
func (s *archiveStore) Fetch(ctx context.Context, d ocispec.Descriptor) (io.ReadCloser, error) {
	if e, ok := s.entry(d.Digest); ok {
		return io.NopCloser(io.NewSectionReader(s.f, e.off, e.size)), nil
	}
	if s.old == nil {
		return nil, fmt.Errorf("%s: %w", d.Digest, errdef.ErrNotFound)
	}
	return s.old.Fetch(ctx, d)
}

func (s *archiveStore) Exists(ctx context.Context, d ocispec.Descriptor) (bool, error) {
	if _, ok := s.entry(d.Digest); ok {
		return true, nil
	}
	if s.old == nil {
		return false, nil
	}
	return s.old.Exists(ctx, d)
}

// Tag names d (which must be here) ref; a digest as ref lists a manifest
// untagged.
func (s *archiveStore) Tag(ctx context.Context, d ocispec.Descriptor, ref string) error {
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

// archiveHeader is an entry's header: a regular file of mode 0644, owned
// by uid/gid 0, modified at the Unix epoch; USTAR, or PAX where the name
// or size does not fit (a sha512 blob's name, a blob over 8 GiB).
func archiveHeader(name string, size int64) *tar.Header {
	h := &tar.Header{Typeflag: tar.TypeReg, Name: name, Size: size, Mode: 0o644, ModTime: tarEpoch, Format: tar.FormatUSTAR}
	if len(name) > 100 || size > maxUSTARSize {
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
	listed := map[digest.Digest]bool{}
	var out []ocispec.Descriptor
	for _, m := range s.oldIndex.Manifests {
		if t := m.Annotations[ocispec.AnnotationRefName]; t != "" {
			if _, retagged := s.tags[t]; retagged {
				continue
			}
		}
		out = append(out, m)
		listed[m.Digest] = true
	}
	for ref, d := range s.tags {
		if ref == d.Digest.String() {
			continue
		}
		e := d
		e.Annotations = map[string]string{}
		for k, v := range d.Annotations {
			e.Annotations[k] = v
		}
		e.Annotations[ocispec.AnnotationRefName] = ref
		out = append(out, e)
		listed[d.Digest] = true
	}
	untagged := slices.Clone(s.pushed)
	for ref, d := range s.tags {
		if ref == d.Digest.String() {
			untagged = append(untagged, ocispec.Descriptor{MediaType: d.MediaType, Digest: d.Digest, Size: d.Size})
		}
	}
	for _, d := range untagged {
		if !listed[d.Digest] {
			out = append(out, d)
			listed[d.Digest] = true
		}
	}
	idx.Manifests = out
	return idx
}

// commit writes the archive (see archiveStore); with nothing written it
// only ends the session.
func (s *archiveStore) commit() (err error) {
	idx, err := canonicalIndex(s.index())
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
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
	if _, err := s.f.Seek(s.end, io.SeekStart); err != nil {
		return err
	}
	tw := tar.NewWriter(s.f)
	if s.old != nil {
		// The archive's own entries, but its layout files, after the new.
		if err := scanArchive(s.path, func(h *tar.Header, name string, tr *tar.Reader) error {
			slash := filepath.ToSlash(name)
			if h.Typeflag != tar.TypeReg || slash == ocispec.ImageIndexFile || slash == ocispec.ImageLayoutFile {
				return nil
			}
			if err := tw.WriteHeader(archiveHeader(slash, h.Size)); err != nil {
				return err
			}
			if n, err := io.Copy(tw, io.LimitReader(tr, h.Size)); err != nil || n != h.Size {
				return fmt.Errorf("%s: %w", slash, errors.Join(err, io.ErrUnexpectedEOF))
			}
			return nil
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
	if err := os.Rename(name, s.path); err != nil {
		os.Remove(name)
		return fmt.Errorf("writing %s: %w", s.path, err)
	}
	return nil
}

// discard drops what was written: the archive is left as it was.
func (s *archiveStore) discard() {
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
