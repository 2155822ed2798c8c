package registry

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"sync"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/content/oci"

	"github.com/stella-ops/stella-oras/internal/atomicfile"
)

// layoutStore is the store of an OCI layout directory: oras-go's
// oci.Store, except that index.json is written here. oras-go writes it at
// every manifest push and tag with its entries in Go's map order, so that
// the same pushes gave other bytes from run to run (of six runs of
// sample-image and two attaches, four index.json files differed), and
// rewrites it in place (os.WriteFile), so that a reader, or a command
// killed mid-write, could find half an index. Here the entries are listed
// in a layout tar's order (canonicalIndex: by digest, then tag), and the
// file is replaced whole. Which entries are listed is oras-go's rule
// (oci.Store's saveIndex): each tag, with its descriptor, and, by digest,
// each manifest no tag names; a manifest whose tag moved stays listed.
//
// Only what a Target does is offered (no Delete, Untag or GC): every
// change of the index goes through Push and Tag, which keep the list.
type layoutStore struct {
	st   *oci.Store
	path string // index.json

	mu   sync.Mutex
	base ocispec.Index                 // index.json as opened, its entries aside
	refs map[string]ocispec.Descriptor // a tag, or a digest, → its descriptor (oras-go's tag resolver)
	held bool                          // HoldIndex: index.json is written by SaveIndex only
	disk []byte                        // what index.json holds: as read, or as last written
	ours bool                          // disk was written here (canonicalIndex's form)
}

// openLayoutStore opens (making it when missing) the layout at root,
// an absolute path.
func openLayoutStore(ctx context.Context, root string) (*layoutStore, error) {
	st, err := oci.NewWithContext(ctx, root)
	if err != nil {
		return nil, err
	}
	st.AutoSaveIndex = false
	s := &layoutStore{st: st, path: filepath.Join(root, ocispec.ImageIndexFile), refs: map[string]ocispec.Descriptor{}}
	// oras-go has just read the file (or written it, for a new layout):
	// it is read again here, bounded as every index is.
	if s.disk, err = readBounded(s.path, MaxManifestBytes); err != nil {
		return nil, fmt.Errorf("reading %s: %w", s.path, err)
	}
	if err := json.Unmarshal(s.disk, &s.base); err != nil {
		return nil, fmt.Errorf("reading %s: %w", s.path, err)
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

// readBounded reads the file at path, refusing one over limit bytes
// (counted as they are read).
func readBounded(path string, limit int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err == nil && int64(len(b)) > limit {
		err = fmt.Errorf("%w: over %d bytes", ErrTooLarge, limit)
	}
	return b, err
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

func (s *layoutStore) Fetch(ctx context.Context, d ocispec.Descriptor) (io.ReadCloser, error) {
	return s.st.Fetch(ctx, d)
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

// Push stores d; a manifest is listed, by digest.
func (s *layoutStore) Push(ctx context.Context, d ocispec.Descriptor, r io.Reader) error {
	if err := s.st.Push(ctx, d, r); err != nil {
		return err
	}
	if !isManifestType(d.MediaType) {
		return nil
	}
	return s.list(d, d.Digest.String())
}

// Tag points ref at d, which must be stored.
func (s *layoutStore) Tag(ctx context.Context, d ocispec.Descriptor, ref string) error {
	if err := s.st.Tag(ctx, d, ref); err != nil {
		return err
	}
	return s.list(d, ref)
}

// list records what oras-go's store recorded for the same call (its
// tag: a tag also lists d by digest) and writes the index unless held.
func (s *layoutStore) list(d ocispec.Descriptor, ref string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if dg := d.Digest.String(); ref != dg {
		s.refs[dg] = d
	}
	s.refs[ref] = d
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

// saveLocked writes index.json when what it lists changed. An index.json
// that lists the same entries in another order (another tool's) is kept
// as it is: a command that changed nothing leaves its bytes.
func (s *layoutStore) saveLocked() error {
	b, err := canonicalIndex(s.indexLocked())
	if err != nil {
		return err
	}
	if bytes.Equal(b, s.disk) || !s.ours && sameIndex(s.disk, b) {
		return nil
	}
	// Replaced whole, not synced: the layout's blobs are not synced
	// either (oras-go's store and writeLayoutBlob), and a reader or a
	// killed process finds the old index or the new one.
	if err := atomicfile.Replace(s.path, b, 0o644); err != nil {
		return err
	}
	s.disk, s.ours = b, true
	return nil
}
