package registry

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"sync"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/content"
	"oras.land/oras-go/v2/content/oci"

	"github.com/stella-ops/stella-oras/internal/atomicfile"
	"github.com/stella-ops/stella-oras/internal/iox"
	"github.com/stella-ops/stella-oras/internal/readfile"
)

// layoutStore is the store of an OCI layout directory: oras-go's
// oci.Store, except that index.json is written here. oras-go writes it at
// every manifest push and tag with its entries in Go's map order, so that
// the same pushes gave other bytes from run to run (of six runs of
// sample-image and two attaches, four index.json files differed), and
// rewrites it in place (os.WriteFile), so that a reader, or a command
// killed mid-write, could find half an index. Here the entries are listed
// in a layout tar's order (by digest, then tag: sortEntries), the file is
// replaced whole, keeping its mode, and only when an entry changed. Which
// entries are listed is oras-go's rule (oci.Store's saveIndex): each tag,
// with its descriptor, and, by digest, each manifest no tag names; a
// manifest whose tag moved stays listed.
//
// Only what a Target does is offered (no Delete, Untag or GC): every
// change of the index goes through Push and Tag, which keep the list.
type layoutStore struct {
	st   *oci.Store
	root string
	path string // index.json

	// mu guards what follows, and is held across each tag in st with its
	// record here, so that the two agree on what a tag names.
	mu   sync.Mutex
	base ocispec.Index                 // index.json as opened, its entries aside
	refs map[string]ocispec.Descriptor // a tag, or a digest, → its descriptor (oras-go's tag resolver)
	held bool                          // HoldIndex: index.json is written by SaveIndex only
	// dirty: refs changed since index.json was read or written. Only then
	// is it written: a command that changes no entry leaves its bytes,
	// whatever another tool wrote (another order, an entry twice).
	dirty bool
}

// MaxLayoutIndexBytes bounds an OCI layout directory's index.json, read
// or written: about 200,000 entries. A layout tar's index is bounded as
// one manifest is (MaxManifestBytes: readers of tars hold it whole).
const MaxLayoutIndexBytes = 64 << 20

// artifactManifest is image-spec 1.1's release candidates' artifact
// manifest, which oras-go's store lists as a manifest.
const artifactManifest = "application/vnd.oci.artifact.manifest.v1+json"

// openLayoutStore opens (making it when missing) the layout at root,
// an absolute path.
func openLayoutStore(ctx context.Context, root string) (*layoutStore, error) {
	path := filepath.Join(root, ocispec.ImageIndexFile)
	// oras-go's store opens both files and reads them whole: a FIFO there
	// would wait for a writer forever, a device never end.
	for _, name := range []string{ocispec.ImageLayoutFile, ocispec.ImageIndexFile} {
		if fi, err := readfile.Regular(filepath.Join(root, name)); fi != nil && err != nil {
			return nil, err
		}
	}
	// Read first, bounded (oras-go's store reads it whole, unbounded);
	// a new layout's, which the store writes, after.
	// An index that does not decode is left to the store to refuse.
	s := &layoutStore{root: root, path: path, refs: map[string]ocispec.Descriptor{}}
	b, err := readfile.File(path, MaxLayoutIndexBytes)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("reading %s: %w", path, err)
	}
	decoded := b != nil && json.Unmarshal(b, &s.base) == nil
	if decoded {
		if err := walkLayout(ctx, root, s.base.Manifests); err != nil {
			return nil, err
		}
	}
	if s.st, err = oci.NewWithContext(ctx, root); err != nil {
		return nil, err
	}
	s.st.AutoSaveIndex = false
	if !decoded {
		if b, err = readfile.File(path, MaxLayoutIndexBytes); err != nil {
			return nil, fmt.Errorf("reading %s: %w", path, err)
		}
		if err := json.Unmarshal(b, &s.base); err != nil {
			return nil, fmt.Errorf("reading %s: %w", path, err)
		}
	}
	for _, d := range s.base.Manifests {
		// as oras-go's loadIndex lists them
		s.refs[d.Digest.String()] = withoutRefName(d)
		if ref := d.Annotations[ocispec.AnnotationRefName]; ref != "" {
			s.refs[ref] = d
		}
	}
	s.base.Manifests = nil
	return s, nil
}

// maxLayoutManifests bounds the manifests walkLayout reads: as many as
// the largest index.json lists entries (MaxLayoutIndexBytes); and
// maxLayoutManifestBytes their bytes in all.
const (
	maxLayoutManifests     = 200_000
	maxLayoutManifestBytes = 1 << 30
)

// walkLayout reads, before oras-go's store does, every manifest it will
// read when it opens the layout: those index.json lists and, recursively,
// the manifests they name (an index's children, a subject), which the
// store reads through its own storage. Each must be at most
// MaxManifestBytes (the store reads what the descriptor declares, whole,
// into memory: a 2 GiB blob took 8 GB) and a regular file (it would wait
// on a FIFO for a writer forever, and read a device's declared size). A
// manifest that is missing, does not match its digest or does not decode
// is left to the store, which refuses such a layout as before. The walk
// reads each manifest a second time (opening a layout of 5,000 manifests
// took about 30 % longer).
func walkLayout(ctx context.Context, root string, listed []ocispec.Descriptor) error {
	// Each manifest is queued once, and followed only when its bytes are
	// its digest's: files that are links to one file (each named by
	// another digest) cannot make the walk read or queue more than the
	// layout holds.
	queued := map[digest.Digest]bool{}
	var queue []ocispec.Descriptor
	add := func(ds []ocispec.Descriptor) error {
		for _, d := range ds {
			if (!isManifestType(d.MediaType) && d.MediaType != artifactManifest) || queued[d.Digest] || d.Digest.Validate() != nil {
				continue
			}
			if len(queued) >= maxLayoutManifests {
				return fmt.Errorf("%s: %w: more than %d manifests", root, ErrTooLarge, maxLayoutManifests)
			}
			queued[d.Digest] = true
			queue = append(queue, d)
		}
		return nil
	}
	if err := add(listed); err != nil {
		return err
	}
	var total int64
	for len(queue) > 0 {
		d := queue[0]
		queue = queue[1:]
		if err := ctx.Err(); err != nil {
			return err
		}
		p := filepath.Join(root, ocispec.ImageBlobsDir, d.Digest.Algorithm().String(), d.Digest.Encoded())
		fi, err := readfile.Regular(p)
		if fi == nil {
			continue // left to the store
		}
		if err != nil {
			return err
		}
		if d.Size > MaxManifestBytes || fi.Size() > MaxManifestBytes {
			return fmt.Errorf("manifest %s in %s: %w: %d bytes, over %d", d.Digest, root, ErrTooLarge, max(d.Size, fi.Size()), MaxManifestBytes)
		}
		if total += fi.Size(); total > maxLayoutManifestBytes {
			return fmt.Errorf("%s: %w: its manifests are over %d bytes in all", root, ErrTooLarge, maxLayoutManifestBytes)
		}
		b, err := readfile.File(p, MaxManifestBytes)
		if err != nil || d.Digest.Algorithm().FromBytes(b) != d.Digest {
			continue // the store refuses it
		}
		succ, err := content.Successors(ctx, fetcherFunc(func(context.Context, ocispec.Descriptor) (io.ReadCloser, error) {
			return io.NopCloser(bytes.NewReader(b)), nil
		}), ocispec.Descriptor{MediaType: d.MediaType, Digest: d.Digest, Size: int64(len(b))})
		if err != nil {
			continue
		}
		if err := add(succ); err != nil {
			return err
		}
	}
	return nil
}

func withoutRefName(d ocispec.Descriptor) ocispec.Descriptor {
	if _, ok := d.Annotations[ocispec.AnnotationRefName]; !ok {
		return d
	}
	d.Annotations = maps.Clone(d.Annotations)
	delete(d.Annotations, ocispec.AnnotationRefName)
	if len(d.Annotations) == 0 {
		d.Annotations = nil
	}
	return d
}

// Fetch opens the blob of d, read until ctx is done. One that is not a
// regular file (a FIFO, which open would wait on for a writer forever, or
// a device) is refused: a layout is a directory anyone may have written.
func (s *layoutStore) Fetch(ctx context.Context, d ocispec.Descriptor) (io.ReadCloser, error) {
	if d.Digest.Validate() == nil {
		p := filepath.Join(s.root, ocispec.ImageBlobsDir, d.Digest.Algorithm().String(), d.Digest.Encoded())
		if fi, err := readfile.Regular(p); fi != nil && err != nil {
			return nil, err
		}
	}
	rc, err := s.st.Fetch(ctx, d)
	if err != nil {
		return nil, err
	}
	return iox.ContextReadCloser(ctx, rc), nil
}

func (s *layoutStore) Exists(ctx context.Context, d ocispec.Descriptor) (bool, error) {
	return s.st.Exists(ctx, d)
}

func (s *layoutStore) Resolve(ctx context.Context, ref string) (ocispec.Descriptor, error) {
	return s.st.Resolve(ctx, ref)
}

func (s *layoutStore) Predecessors(ctx context.Context, d ocispec.Descriptor) ([]ocispec.Descriptor, error) {
	return s.st.Predecessors(ctx, d)
}

func (s *layoutStore) Tags(ctx context.Context, last string, fn func([]string) error) error {
	return s.st.Tags(ctx, last, fn)
}

// Push stores d; a manifest is listed, by digest. The content is written
// outside the lock (pushes of blobs run at once); a digest names one
// manifest whichever push records it.
func (s *layoutStore) Push(ctx context.Context, d ocispec.Descriptor, r io.Reader) error {
	if err := s.st.Push(ctx, d, r); err != nil {
		return err
	}
	if !isManifestType(d.MediaType) && d.MediaType != artifactManifest {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.listLocked(d, d.Digest.String())
}

// Tag points ref at d, which must be stored.
func (s *layoutStore) Tag(ctx context.Context, d ocispec.Descriptor, ref string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.st.Tag(ctx, d, ref); err != nil {
		return err
	}
	return s.listLocked(d, ref)
}

// listLocked records what oras-go's store recorded for the same call
// (its tag: a tag also lists d by digest) and writes the index unless
// held.
func (s *layoutStore) listLocked(d ocispec.Descriptor, ref string) error {
	// Compared as listed: a tag's entry carries its name whatever the
	// descriptor given.
	set := func(k string) {
		if old, ok := s.refs[k]; !ok || !reflect.DeepEqual(withoutRefName(old), withoutRefName(d)) {
			s.refs[k] = d
			s.dirty = true
		}
	}
	if dg := d.Digest.String(); ref != dg {
		set(dg)
	}
	set(ref)
	if s.held {
		return nil
	}
	return s.saveLocked()
}

func (s *layoutStore) hold() {
	s.mu.Lock()
	s.held = true
	s.mu.Unlock()
}

func (s *layoutStore) save() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.saveLocked()
}

// index is what index.json lists now.
func (s *layoutStore) index() ocispec.Index {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.indexLocked()
}

func (s *layoutStore) indexLocked() ocispec.Index {
	idx := s.base
	tagged := map[string]bool{}
	idx.Manifests = make([]ocispec.Descriptor, 0, len(s.refs))
	for ref, d := range s.refs {
		if ref == d.Digest.String() {
			continue
		}
		d.Annotations = maps.Clone(d.Annotations)
		if d.Annotations == nil {
			d.Annotations = map[string]string{}
		}
		d.Annotations[ocispec.AnnotationRefName] = ref
		idx.Manifests = append(idx.Manifests, d)
		tagged[d.Digest.String()] = true
	}
	for ref, d := range s.refs {
		if ref == d.Digest.String() && !tagged[ref] {
			idx.Manifests = append(idx.Manifests, withoutRefName(d))
		}
	}
	sortEntries(idx.Manifests)
	return idx
}

// saveLocked writes index.json when what it lists changed (dirty),
// with json.Marshal: struct fields in their order (oras-go's), map keys
// sorted, entries sorted (indexLocked).
func (s *layoutStore) saveLocked() error {
	if !s.dirty {
		return nil
	}
	b, err := json.Marshal(s.indexLocked())
	if err != nil {
		return err
	}
	if len(b) > MaxLayoutIndexBytes {
		return fmt.Errorf("%s: %w: %d bytes, over the %d a layout's index may have (too many tags and manifests for one layout)", s.path, ErrTooLarge, len(b), MaxLayoutIndexBytes)
	}
	// The file keeps its mode (a private layout stays private).
	perm := os.FileMode(0o644)
	if fi, err := os.Stat(s.path); err == nil {
		perm = fi.Mode().Perm()
	}
	// Replaced whole, not synced: the layout's blobs are not synced
	// either (oras-go's store and writeLayoutBlob), and a reader or a
	// killed process finds the old index or the new one.
	if err := atomicfile.Replace(s.path, b, perm); err != nil {
		return err
	}
	s.dirty = false
	return nil
}
