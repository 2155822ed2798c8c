package registry

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"

	digest "github.com/opencontainers/go-digest"

	"github.com/stella-ops/stella-oras/internal/readfile"
)

// MirrorState is what earlier mirrors from one source repository to one
// destination copied and checked, so that a rerun does only what is new:
// it still lists every node's referrers (a referrer can be attached
// anywhere in the graph), but a node whose listing is unchanged has its
// referrers' manifests neither read again nor put again, and an image
// already copied is not walked again. An image whose manifest is missing
// at the destination (deleted or collected there since) is copied as if
// the state did not know it. The zero value knows nothing.
type MirrorState struct {
	Version int `json:"version"`
	// Listings are subjects' listing digests (ListingDigest) whose
	// referrers were all checked and copied.
	Listings map[string]string `json:"listings"`
	// Copied are manifests at the destination with everything they name.
	Copied map[string]bool `json:"copied"`
	mu     sync.Mutex
	// saved is the file's bytes as read or last written: Save writes
	// nothing when the state encodes to them (a rerun that found nothing
	// new).
	saved []byte
}

// mirrorStateVersion is the state format; another version is ignored
// (the next run copies as if it knew nothing, which is always correct).
const mirrorStateVersion = 1

// MaxMirrorStateEntries bounds a state (and so its file): far past any
// graph Discover accepts, times the images of a --from-file list.
const MaxMirrorStateEntries = 1 << 22

func (s *MirrorState) copied(d digest.Digest) bool {
	if s == nil {
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.Copied[d.String()]
}

func (s *MirrorState) markCopied(d digest.Digest) {
	if s == nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.Copied == nil {
		s.Copied = map[string]bool{}
	}
	if len(s.Copied) < MaxMirrorStateEntries {
		s.Copied[d.String()] = true
	}
}

func (s *MirrorState) listing(subject digest.Digest) string {
	if s == nil {
		return ""
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.Listings[subject.String()]
}

func (s *MirrorState) setListings(l map[string]string) {
	if s == nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.Listings == nil {
		s.Listings = map[string]string{}
	}
	for k, v := range l {
		if len(s.Listings) >= MaxMirrorStateEntries {
			break
		}
		s.Listings[k] = v
	}
}

// maxMirrorStateBytes bounds a state file as it is read: MaxMirrorStateEntries
// entries of two digests each, with room to spare.
const maxMirrorStateBytes = 512 << 20

// LoadMirrorState reads a state file; a file that does not exist is an
// empty state, as is one of another format version (the next run copies
// everything, which is always correct). A file that cannot be read or
// parsed is an error: a state is never half-trusted.
func LoadMirrorState(path string) (*MirrorState, error) {
	b, err := readfile.File(path, maxMirrorStateBytes)
	if errors.Is(err, fs.ErrNotExist) {
		return &MirrorState{Version: mirrorStateVersion}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading mirror state: %w", err)
	}
	var s MirrorState
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("mirror state %s: %v (remove it, or pass --full)", path, err)
	}
	if s.Version != mirrorStateVersion || len(s.Copied) > MaxMirrorStateEntries || len(s.Listings) > MaxMirrorStateEntries {
		return &MirrorState{Version: mirrorStateVersion}, nil
	}
	for k := range s.Copied {
		if digest.Digest(k).Validate() != nil {
			return nil, fmt.Errorf("mirror state %s: %q is not a digest (remove it, or pass --full)", path, k)
		}
	}
	s.saved = b
	return &s, nil
}

// Save writes the state to path atomically (a temporary file renamed
// over it), creating its directory.
func (s *MirrorState) Save(path string) error {
	s.mu.Lock()
	s.Version = mirrorStateVersion
	b, err := json.Marshal(s) // map keys sorted: the same state, the same bytes
	same := bytes.Equal(b, s.saved)
	s.mu.Unlock()
	if err != nil {
		return err
	}
	if same {
		return nil // the file holds it already
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("saving mirror state: %w", err)
	}
	f, err := os.CreateTemp(filepath.Dir(path), ".mirror-state-*")
	if err != nil {
		return fmt.Errorf("saving mirror state: %w", err)
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		os.Remove(f.Name())
		return fmt.Errorf("saving mirror state: %w", err)
	}
	if err := f.Close(); err != nil {
		os.Remove(f.Name())
		return fmt.Errorf("saving mirror state: %w", err)
	}
	if err := os.Rename(f.Name(), path); err != nil {
		os.Remove(f.Name())
		return fmt.Errorf("saving mirror state: %w", err)
	}
	s.mu.Lock()
	s.saved = b
	s.mu.Unlock()
	return nil
}
