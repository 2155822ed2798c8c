package evaluator

import (
	"context"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/stella-ops/stella-oras/engine/feed"
	"github.com/stella-ops/stella-oras/engine/policy"
	"github.com/stella-ops/stella-oras/internal/load"
)

// shared holds, for the images of one EvaluateMany run, what every image
// reads the same way: the feed (per set of ecosystems its SBOM needs) and
// the policy. Each is read and parsed once, by the first image that needs
// it; snapshots and compiled policies are safe for concurrent evaluation.
// A nil *shared reads everything each time (one Evaluate).
//
// It also remembers which blobs were pushed to which repository in the
// run, so the next image's verdict does not check them again.
type shared struct {
	mu      sync.Mutex
	entries map[string]*sharedEntry
	present map[string]bool // repository + "\x00" + digest; nil: not remembered
}

// sharesFeedArtifacts says feed artifacts are read once per run (many
// images); for one image the feed is pulled while its SBOM is parsed.
func (s *shared) sharesFeedArtifacts() bool { return s != nil && s.present != nil }

type sharedEntry struct {
	once sync.Once
	v    any
	err  error
}

func newShared() *shared {
	return &shared{entries: map[string]*sharedEntry{}, present: map[string]bool{}}
}

// maxPresent bounds what the run remembers of pushed blobs.
const maxPresent = 1 << 16

func (s *shared) isPresent(repo, d string) bool {
	if s == nil {
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.present[repo+"\x00"+d] // nil map: false
}

func (s *shared) markPresent(repo, d string) {
	if s == nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.present != nil && len(s.present) < maxPresent {
		s.present[repo+"\x00"+d] = true
	}
}

// do returns f's result for key, calling f once per key.
func (s *shared) do(key string, f func() (any, error)) (any, error) {
	if s == nil {
		return f()
	}
	s.mu.Lock()
	e, ok := s.entries[key]
	if !ok {
		e = &sharedEntry{}
		s.entries[key] = e
	}
	s.mu.Unlock()
	e.once.Do(func() { e.v, e.err = f() })
	return e.v, e.err
}

type pulledFeed struct {
	snap *feed.Snapshot
	src  *FeedSource
}

// feedArtifact pulls a feed artifact's groups for these ecosystems.
func (s *shared) feedArtifact(ref string, ecosystems []string, pull func() (*feed.Snapshot, *FeedSource, error)) (*feed.Snapshot, *FeedSource, error) {
	eco := slices.Clone(ecosystems)
	slices.Sort(eco)
	v, err := s.do("feed\x00"+ref+"\x00"+strings.Join(eco, "\x00"), func() (any, error) {
		snap, src, err := pull()
		return pulledFeed{snap, src}, err
	})
	if err != nil {
		return nil, nil, err
	}
	p := v.(pulledFeed)
	return p.snap, p.src, nil
}

// feedFile reads a snapshot file, or a directory or zip of records.
func (s *shared) feedFile(ctx context.Context, path string, epoch time.Time) (*feed.Snapshot, error) {
	v, err := s.do("feed-file\x00"+path+"\x00"+epoch.UTC().Format(time.RFC3339Nano), func() (any, error) {
		return load.Feed(ctx, path, load.FeedOptions{Epoch: epoch})
	})
	if err != nil {
		return nil, err
	}
	return v.(*feed.Snapshot), nil
}

type pulledPolicy struct {
	p   *policy.Policy
	ref string
}

// policyOf reads a policy artifact or file once.
func (s *shared) policyOf(src string, read func() (*policy.Policy, string, error)) (*policy.Policy, string, error) {
	v, err := s.do("policy\x00"+src, func() (any, error) {
		p, ref, err := read()
		return pulledPolicy{p, ref}, err
	})
	if err != nil {
		return nil, "", err
	}
	pp := v.(pulledPolicy)
	return pp.p, pp.ref, nil
}
