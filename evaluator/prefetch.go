package evaluator

import (
	"context"
	"sync"

	digest "github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/stella-ops/stella-oras/artifacts"
	"github.com/stella-ops/stella-oras/registry"
	"github.com/stella-ops/stella-oras/verify"
)

// reads fetches, at most once each, the verdict manifests and the bundles
// that a cache lookup checks, so that they can be read ahead: while
// discovery is still reading the image's documents, and each verdict's
// manifest at the same time as its bundles. A cache hit then waits for
// the slowest of those reads, not for four round trips in a row.
//
// Reading ahead changes what is fetched and when, never what is decided:
// the checks run on the same bytes in the same order whether a read was
// ahead or not. Every read goes through the same bounded, verified
// registry calls as before. The zero value is not usable: newReads.
type reads struct {
	t         *registry.Target
	wg        sync.WaitGroup // the reads ahead; wait before the target closes
	slots     chan struct{}  // bounds the reads ahead in flight
	mu        sync.Mutex
	manifests map[digest.Digest]func() manifestRead
	bundles   map[digest.Digest]func() verify.Candidate
}

type manifestRead struct {
	m   ocispec.Manifest
	err error
}

// maxReadAhead bounds the verdicts read ahead of the cache key: a subject
// with many verdicts by this engine (one per feed epoch, say) has all
// but a few of them read only if the key matches them.
const maxReadAhead = 4

func newReads(t *registry.Target, jobs int) *reads {
	return &reads{t: t, slots: make(chan struct{}, jobsOr(jobs)), manifests: map[digest.Digest]func() manifestRead{}, bundles: map[digest.Digest]func() verify.Candidate{}}
}

// manifest reads verdict artifact v's manifest (once).
func (r *reads) manifest(ctx context.Context, v ocispec.Descriptor) (ocispec.Manifest, error) {
	r.mu.Lock()
	f, ok := r.manifests[v.Digest]
	if !ok {
		f = sync.OnceValue(func() manifestRead {
			m, _, err := registry.FetchManifest(ctx, r.t, v)
			return manifestRead{m, err}
		})
		r.manifests[v.Digest] = f
	}
	r.mu.Unlock()
	res := f()
	return res.m, res.err
}

// bundle reads bundle referrer b's bundle (once).
func (r *reads) bundle(ctx context.Context, b ocispec.Descriptor) verify.Candidate {
	r.mu.Lock()
	f, ok := r.bundles[b.Digest]
	if !ok {
		f = sync.OnceValue(func() verify.Candidate {
			data, err := registry.FetchSingleLayer(ctx, r.t, b, artifacts.MediaTypeSigstoreBundle, verify.MaxBundleBytes)
			return verify.Candidate{Name: b.Digest.String(), Data: data, Err: err}
		})
		r.bundles[b.Digest] = f
	}
	r.mu.Unlock()
	return f()
}

// ahead starts reading each verdict's manifest and the bundles naming it
// (see bundlesByArtifact) in the background; it does not block.
func (r *reads) ahead(ctx context.Context, verdicts []ocispec.Descriptor, byArtifact map[string][]ocispec.Descriptor) {
	run := func(f func()) {
		r.wg.Go(func() {
			r.slots <- struct{}{}
			defer func() { <-r.slots }()
			f()
		})
	}
	for _, v := range verdicts {
		run(func() { r.manifest(ctx, v) })
		for _, b := range byArtifact[v.Digest.String()] {
			run(func() { r.bundle(ctx, b) })
		}
	}
}

// wait returns once every read ahead has ended.
func (r *reads) wait() { r.wg.Wait() }

// bundlesByArtifact groups bundle referrers by the verdict or delta
// artifact their annotation names.
func bundlesByArtifact(bundles []ocispec.Descriptor) map[string][]ocispec.Descriptor {
	by := map[string][]ocispec.Descriptor{}
	for _, b := range bundles {
		if a := b.Annotations[artifacts.AnnotationVerdictArtifact]; a != "" {
			by[a] = append(by[a], b)
		}
	}
	return by
}
