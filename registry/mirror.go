package registry

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"strings"
	"sync"

	digest "github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"golang.org/x/sync/errgroup"
	"oras.land/oras-go/v2/content"
	"oras.land/oras-go/v2/errdef"
)

// MirrorOptions tune Mirror. The zero value copies the image, every
// platform manifest of an index, and every referrer at every depth
// (within Discover's bounds), four blobs at a time.
type MirrorOptions struct {
	// ArtifactType keeps only referrers of this type (at every level);
	// the image itself is always copied.
	ArtifactType string
	// Jobs is how many blobs are copied at once; 0 means 4.
	Jobs int
	// DryRun plans without writing: what would be copied, what is there.
	DryRun bool
	// MaxBlobBytes bounds each blob; 0 means DefaultMaxMirrorBlobBytes.
	MaxBlobBytes int64
	// UploadDir, when set, is where uploads of large blobs to a registry
	// are remembered, so that a rerun resumes them (resumableCopy);
	// MirrorImages sets it beside each destination's state.
	UploadDir string
	// Tag is the tag given to the image at the destination; "" means the
	// source's tag (none when the source was named by digest).
	Tag string
	// OnCopied, when set, is told of each blob or manifest once it is at
	// the destination (copied or found there). Calls may be concurrent.
	OnCopied func(MirrorItem)
	// OnDrop, when set, is told of each listed referrer that was not
	// copied because its manifest does not name its subject.
	OnDrop func(parent, referrer ocispec.Descriptor, reason string)
	// State, when set, makes the mirror incremental (see MirrorState):
	// what it records as copied is not copied again, a listing it
	// records as checked is not checked again, and it is updated with
	// what this run copied and checked.
	State *MirrorState
	// Admit, when set, is asked before anything is written whether the
	// image may be copied, given each subject's referrer graph (the root
	// first, then each platform manifest of an index): a gate on what
	// reaches the destination (the verified mirror). What it refuses is
	// in the report; a refused image is not copied at all.
	Admit func(ctx context.Context, src *Target, root ocispec.Descriptor, trees []*Node) (MirrorDecision, error)
	// Platforms, when set (os/arch or os/arch/variant), keeps only those
	// platforms of an index: the index is rewritten to list them alone,
	// so it has a new digest (tagged in its place), and the referrers of
	// the original index, which name the old digest, are not copied but
	// listed in the report (Invalidated). KeepIndex copies the index as
	// it is instead, with only the chosen platforms' manifests behind it
	// (a registry that checks an index's manifests may refuse it).
	Platforms []string
	KeepIndex bool
	// OnPlan, when set, is told before anything is copied how many blobs
	// and bytes the graph names (each blob once; what is already at the
	// destination included), for progress and ETA.
	OnPlan func(blobs int, bytes int64)
	// AllowMissingBlobs: a blob the source does not have is reported
	// (MirrorMissing) instead of failing the mirror — an export of
	// density lite or standard names layers it leaves out. A manifest
	// that names a blob neither side has is still written to a layout
	// (which then holds it without that blob, as the source does) but
	// not to a registry, which refuses it (distribution checks every
	// blob a manifest names): it is reported MirrorIncomplete, and so is
	// an index of one; an incomplete image is not tagged. Its referrers
	// are still copied (a registry takes a referrer whose subject it
	// does not have).
	AllowMissingBlobs bool
}

// MirrorRewrite says an index was rewritten to keep some platforms.
type MirrorRewrite struct {
	From      digest.Digest `json:"from"`
	To        digest.Digest `json:"to"`
	Platforms []string      `json:"platforms"`
}

// MirrorDecision is Admit's answer: Refuse, when set, says why the whole
// image is refused; Skip are referrers refused (with what refers to
// them), by digest, each with its reason.
type MirrorDecision struct {
	Refuse string
	Skip   map[digest.Digest]string
}

// MirrorRefusal is an image or referrer Admit refused.
type MirrorRefusal struct {
	Digest digest.Digest `json:"digest"`
	Reason string        `json:"reason"`
}

// DefaultMaxMirrorBlobBytes bounds a mirrored blob: image layers of tens
// of gigabytes exist (model weights); a descriptor claiming more is
// refused before anything is read. Blobs are streamed, never held whole.
const DefaultMaxMirrorBlobBytes = 64 << 30

// States of a mirrored item.
const (
	MirrorCopied  = "copied"  // sent (a manifest on a registry: put, there before or not)
	MirrorPresent = "present" // already there: not sent again
	MirrorPlanned = "planned" // dry run: would be sent
	MirrorKnown   = "known"   // copied by an earlier run (MirrorState): not checked again
	// With AllowMissingBlobs:
	MirrorMissing    = "missing"    // a blob neither side has: not copied
	MirrorIncomplete = "incomplete" // a manifest naming a missing blob: not put on a registry
)

// MirrorItem is one blob or manifest of a mirror.
type MirrorItem struct {
	ocispec.Descriptor
	Kind  string `json:"kind"` // "blob" or "manifest"
	State string `json:"state"`
}

// MirrorReport is what a mirror did (or, dry, would do). Lists are in
// the order items were written: children before parents, referrers after
// their subjects, the tag last.
type MirrorReport struct {
	Root      ocispec.Descriptor `json:"root"`
	Tag       string             `json:"tag,omitempty"`
	Manifests []MirrorItem       `json:"manifests"`
	Blobs     []MirrorItem       `json:"blobs"`
	Referrers int                `json:"referrers"`
	// BytesCopied counts blob and manifest bytes sent; BytesPresent those
	// found at the destination already.
	BytesCopied  int64 `json:"bytes_copied"`
	BytesPresent int64 `json:"bytes_present"`
	DryRun       bool  `json:"dry_run"`
	// Admitted says the gate (MirrorOptions.Admit) let the image through;
	// Refused lists what it refused. Both empty without a gate.
	Admitted bool            `json:"admitted,omitempty"`
	Refused  []MirrorRefusal `json:"refused,omitempty"`
	// Rewritten, with Platforms, is the index rewritten; Invalidated the
	// referrers of the original index, not copied (they name its digest).
	Rewritten   *MirrorRewrite       `json:"rewritten,omitempty"`
	Invalidated []ocispec.Descriptor `json:"invalidated,omitempty"`
}

// ErrMirror: a mirror could not be completed.
var ErrMirror = errors.New("mirror")

// referrerJobs is how many referrers of one level are copied at once
// (each is a few small requests: latency-bound); their subjects are all
// at the destination already, from the level before.
const referrerJobs = 16

// maxIndexDepth bounds indexes of indexes (a real image is one level).
const maxIndexDepth = 4

// Mirror copies the image that ref names in src (a tag or digest), with
// every platform manifest, every referrer of each (referrers of
// referrers too: the bundles of verdicts), and every blob they name, to
// dst.
//
// Content is never re-encoded: manifests are copied as the bytes their
// digests name, so the digests that signatures and verdicts pin survive.
// Every byte read is checked against its descriptor's digest and size
// while it streams; a blob that does not match fails the copy before the
// destination accepts it.
//
// It resumes what an earlier run left: a blob already at the destination
// is not sent again; manifests are always put again (small, idempotent;
// on a registry without the referrers API that also rewrites the
// referrers tag entry an interrupted run may have missed), children
// before their parents and referrers after their subjects, and the tag
// last, so an interrupted mirror never leaves a tag or a referrer naming
// what is missing.
//
// Why not oras.ExtendedCopy: it skips a whole sub-graph once the
// destination has its root (one HEAD), so referrers attached after a
// first mirror, and a referrers tag entry an interrupted copy missed,
// never arrive; and its referrer walk has no node or depth bound. Mirror
// walks with Discover (bounded, each referrer checked to name its
// subject) and copies each node itself.
func Mirror(ctx context.Context, src, dst *Target, ref string, o MirrorOptions) (*MirrorReport, error) {
	if ref == "" {
		return nil, fmt.Errorf("%w: %s: a tag or digest is required", ErrMirror, src.Ref)
	}
	root, err := src.Resolve(ctx, ref)
	if err != nil {
		return nil, err
	}
	m := &mirror{src: src, dst: dst, o: o, seen: map[digest.Digest]bool{}, manifests: map[digest.Digest][]byte{}, blobTasks: map[digest.Digest]*blobTask{}, incomplete: map[digest.Digest]bool{}, subjectRefs: map[digest.Digest][]ocispec.Descriptor{}, omit: map[digest.Digest]bool{}, rep: &MirrorReport{Root: root, DryRun: o.DryRun, Manifests: []MirrorItem{}, Blobs: []MirrorItem{}}}
	if m.o.Jobs <= 0 {
		m.o.Jobs = 4
	}
	if m.o.MaxBlobBytes <= 0 {
		m.o.MaxBlobBytes = DefaultMaxMirrorBlobBytes
	}
	// What the state says holds only while the image is at the
	// destination: if it is gone, everything is copied again.
	m.known = o.State
	if o.State.copied(root.Digest) {
		if ok, err := dst.Store.Exists(ctx, plainDesc(root)); err != nil || !ok {
			m.known = nil
		}
	}
	// Read first, written after: the image's manifests (the index and
	// each platform manifest are subjects: verdicts are attached per
	// platform) and each one's referrer graph.
	if len(o.Platforms) > 0 && isIndex(root.MediaType) {
		if root, err = m.platforms(ctx, root); err != nil {
			return nil, err
		}
		m.rep.Root = root
	}
	subjects, err := m.subjectsOf(ctx, root, 0)
	if err != nil {
		return nil, err
	}
	// The image's tag is written last, after the referrers tags: one named
	// as a subject's referrers tag (the OCI tag schema's sha256-<hex>)
	// would replace the index just written, and every later update of it
	// would be refused (it names no index of referrers).
	if tag := cmp.Or(o.Tag, src.Ref.Tag); tag != "" {
		for _, s := range subjects {
			if tag == fallbackTag(s.Digest) {
				return nil, fmt.Errorf("%w: tag %s on %s is the referrers tag of %s (the OCI referrers tag schema's): give the image another tag", ErrMirror, tag, dst.Ref, s.Digest)
			}
		}
	}
	listings := map[string]string{}
	var lmu sync.Mutex
	dopts := DiscoverOptions{ArtifactType: o.ArtifactType, OnDrop: o.OnDrop, OnManifest: m.keep, Strict: true}
	if o.State != nil && o.ArtifactType == "" {
		dopts.Checked = func(p ocispec.Descriptor, l digest.Digest) bool { return m.known.listing(p.Digest) == l.String() }
		dopts.OnListing = func(p ocispec.Descriptor, l digest.Digest) {
			lmu.Lock()
			listings[p.Digest.String()] = l.String()
			lmu.Unlock()
		}
	}
	trees := make([]*Node, len(subjects))
	for i, s := range subjects {
		if trees[i], err = Discover(ctx, src, s, dopts); err != nil {
			return nil, err
		}
	}
	var skip map[digest.Digest]string
	if o.Admit != nil {
		dec, err := o.Admit(ctx, src, root, trees)
		if err != nil {
			return nil, err
		}
		skip = dec.Skip
		for _, d := range slices.Sorted(maps.Keys(dec.Skip)) {
			m.rep.Refused = append(m.rep.Refused, MirrorRefusal{Digest: d, Reason: dec.Skip[d]})
		}
		if dec.Refuse != "" {
			m.rep.Refused = append([]MirrorRefusal{{Digest: root.Digest, Reason: dec.Refuse}}, m.rep.Refused...)
			m.rep.Admitted = false
			return m.rep, nil
		}
		m.rep.Admitted = true
	}
	if o.OnPlan != nil {
		o.OnPlan(m.plan(subjects, trees, skip))
	}
	// A layout's referrers tags are written last (layoutReferrerTags): one
	// that names something else than an index of referrers is refused
	// now, before anything is copied, not after.
	if m.dst.Remote == nil && !o.DryRun {
		if err := checkLayoutReferrerTags(ctx, m.dst, trees, skip); err != nil {
			return nil, err
		}
	}
	// The image: platform manifests (and their blobs) before the index.
	if _, err := m.image(ctx, root, nil, 0); err != nil {
		return nil, err
	}
	// Then each manifest's referrers, level by level: a referrer after
	// its subject, its own blobs before it; a refused one with what
	// refers to it stays behind (and its subject's listing is not
	// recorded as checked, so the next run looks at it again).
	for _, tree := range trees {
		level := []*Node{tree}
		for len(level) > 0 {
			var next []*Node
			g, gctx := errgroup.WithContext(ctx)
			g.SetLimit(referrerJobs)
			for _, n := range level {
				for _, c := range n.Referrers {
					if _, refused := skip[c.Digest]; refused {
						lmu.Lock()
						delete(listings, n.Digest.String())
						lmu.Unlock()
						continue
					}
					g.Go(func() error { return m.referrer(gctx, c.Descriptor) })
					next = append(next, c)
				}
			}
			if err := g.Wait(); err != nil {
				return nil, err
			}
			level = next
		}
	}
	if err := m.referrerTags(ctx); err != nil {
		return nil, err
	}
	// Listings count as checked once every referrer they list is copied.
	o.State.setListings(listings)
	tag := o.Tag
	if tag == "" {
		tag = src.Ref.Tag
	}
	if tag != "" && m.isIncomplete(root.Digest) {
		tag = "" // the image is not there to tag
	}
	if tag != "" {
		m.rep.Tag = tag
		// A tag already naming the image is not written again.
		if cur, err := dst.Store.Resolve(ctx, tag); !o.DryRun && (err != nil || cur.Digest != root.Digest) {
			if err := dst.Store.Tag(ctx, ocispec.Descriptor{MediaType: root.MediaType, Digest: root.Digest, Size: root.Size}, tag); err != nil {
				return nil, fmt.Errorf("tagging %s as %s on %s: %w", root.Digest, tag, dst.Ref, dst.annotate(err))
			}
		}
	}
	return m.rep, nil
}

type mirror struct {
	src, dst  *Target
	o         MirrorOptions
	mu        sync.Mutex
	seen      map[digest.Digest]bool   // manifests this run has handled
	known     *MirrorState             // what is trusted as copied (nil: nothing)
	manifests map[digest.Digest][]byte // read by the walk, for the copy (keep)
	kept      int
	// subjectRefs are the referrers put, by subject, for its referrers
	// tag (referrerTags): into a layout, or into a registry without the
	// referrers API; unlisted are the latter's, recorded as copied in
	// the state once they are listed.
	subjectRefs map[digest.Digest][]ocispec.Descriptor
	unlisted    []digest.Digest
	omit        map[digest.Digest]bool // platform manifests not copied (Platforms)
	rep         *MirrorReport
	// blobTasks: each blob is copied once; a manifest naming one that
	// another is copying waits for it, so no manifest reaches the
	// destination before its blobs.
	blobTasks  map[digest.Digest]*blobTask
	incomplete map[digest.Digest]bool // manifests not put: a blob is missing
}

// blobTask is one blob's copy: done is closed when it has ended, with err
// or with missing set (AllowMissingBlobs: neither side has it).
type blobTask struct {
	done    chan struct{}
	err     error
	missing bool
}

// image copies a manifest or index and what it names, children first,
// and returns the manifests whose referrers are to be mirrored (the index
// and each of its manifests: verdicts are attached per platform). subject
// is set for a referrer.
func (m *mirror) image(ctx context.Context, d ocispec.Descriptor, subject *ocispec.Descriptor, depth int) ([]ocispec.Descriptor, error) {
	if m.known.copied(d.Digest) && d.MediaType == ocispec.MediaTypeImageManifest {
		m.record(MirrorItem{Descriptor: plainDesc(d), Kind: "manifest", State: MirrorKnown})
		return []ocispec.Descriptor{d}, nil
	}
	b, err := m.manifestBytes(ctx, d)
	if err != nil {
		return nil, err
	}
	subjects := []ocispec.Descriptor{d}
	switch {
	case isIndex(d.MediaType):
		if depth >= maxIndexDepth {
			return nil, fmt.Errorf("%w: %s: indexes nested deeper than %d", ErrMirror, d.Digest, maxIndexDepth)
		}
		var idx ocispec.Index
		if err := json.Unmarshal(b, &idx); err != nil {
			return nil, fmt.Errorf("%w: index %s: %v", ErrMirror, d.Digest, err)
		}
		missing := false
		for _, c := range idx.Manifests {
			if m.omit[c.Digest] {
				continue
			}
			s, err := m.image(ctx, c, nil, depth+1)
			if err != nil {
				return nil, err
			}
			subjects = append(subjects, s...)
			missing = missing || m.isIncomplete(c.Digest)
		}
		if missing && m.dst.Remote != nil {
			m.markIncomplete(d)
			return subjects, nil
		}
	default:
		missing, err := m.blobs(ctx, d, b)
		if err != nil {
			return nil, err
		}
		if missing && m.dst.Remote != nil {
			m.markIncomplete(d)
			return subjects, nil
		}
	}
	if m.known.copied(d.Digest) {
		// An index copied by an earlier run: read for its manifests
		// (each a subject whose referrers may have changed), not put.
		if m.firstManifest(d.Digest) {
			m.record(MirrorItem{Descriptor: plainDesc(d), Kind: "manifest", State: MirrorKnown})
		}
		return subjects, nil
	}
	if err := m.putManifest(ctx, d, b, subject); err != nil {
		return nil, err
	}
	return subjects, nil
}

// platforms applies MirrorOptions.Platforms to an index: it returns the
// index to copy (the original with KeepIndex, else a rewritten one, whose
// bytes are kept for the copy) and marks the other platforms' manifests
// as not to be copied.
func (m *mirror) platforms(ctx context.Context, root ocispec.Descriptor) (ocispec.Descriptor, error) {
	b, err := m.manifestBytes(ctx, root)
	if err != nil {
		return root, err
	}
	var raw map[string]json.RawMessage
	var idx ocispec.Index
	if err := json.Unmarshal(b, &raw); err != nil {
		return root, fmt.Errorf("%w: index %s: %v", ErrMirror, root.Digest, err)
	}
	if err := json.Unmarshal(b, &idx); err != nil {
		return root, fmt.Errorf("%w: index %s: %v", ErrMirror, root.Digest, err)
	}
	want := map[string]bool{}
	for _, p := range m.o.Platforms {
		want[p] = true
	}
	var kept []ocispec.Descriptor
	var have []string
	for _, c := range idx.Manifests {
		p := "unknown"
		if c.Platform != nil {
			p = c.Platform.OS + "/" + c.Platform.Architecture
			if c.Platform.Variant != "" {
				p += "/" + c.Platform.Variant
			}
		}
		have = append(have, p)
		if want[p] || (c.Platform != nil && c.Platform.Variant != "" && want[c.Platform.OS+"/"+c.Platform.Architecture]) {
			kept = append(kept, c)
		} else {
			m.omit[c.Digest] = true
		}
	}
	if len(kept) == 0 {
		return root, fmt.Errorf("%w: %s: no manifest for platform %s (the index has %s)", ErrMirror, root.Digest, strings.Join(m.o.Platforms, ", "), strings.Join(have, ", "))
	}
	if m.o.KeepIndex {
		return root, nil
	}
	entries, err := json.Marshal(kept)
	if err != nil {
		return root, err
	}
	raw["manifests"] = entries
	nb, err := json.Marshal(raw)
	if err != nil {
		return root, err
	}
	nd := content.NewDescriptorFromBytes(root.MediaType, nb)
	m.mu.Lock()
	m.manifests[nd.Digest] = nb // the only copy: not subject to keep's bound
	m.mu.Unlock()
	m.rep.Rewritten = &MirrorRewrite{From: root.Digest, To: nd.Digest, Platforms: slices.Sorted(maps.Keys(want))}
	refs, err := Referrers(ctx, m.src, root, "")
	if err != nil {
		return root, err
	}
	m.rep.Invalidated = refs
	return nd, nil
}

// plan counts the blobs that the manifests read by the walk name, each
// once (a manifest past keep's bound is not counted).
func (m *mirror) plan(subjects []ocispec.Descriptor, trees []*Node, skip map[digest.Digest]string) (int, int64) {
	seen := map[digest.Digest]bool{}
	var n int
	var size int64
	count := func(d ocispec.Descriptor) {
		m.mu.Lock()
		b, ok := m.manifests[d.Digest]
		m.mu.Unlock()
		var mf ocispec.Manifest
		if !ok || isIndex(d.MediaType) || json.Unmarshal(b, &mf) != nil {
			return
		}
		for _, bd := range append([]ocispec.Descriptor{mf.Config}, mf.Layers...) {
			if bd.Digest != "" && !seen[bd.Digest] {
				seen[bd.Digest] = true
				n++
				size += bd.Size
			}
		}
	}
	var walk func(*Node)
	walk = func(nd *Node) {
		for _, c := range nd.Referrers {
			if _, refused := skip[c.Digest]; !refused {
				count(c.Descriptor)
				walk(c)
			}
		}
	}
	for _, s := range subjects {
		count(s)
	}
	for _, t := range trees {
		walk(t)
	}
	return n, size
}

// subjectsOf reads the image's manifests (kept for the copy) and returns
// the index, if any, and each image manifest: the subjects whose
// referrers are mirrored.
func (m *mirror) subjectsOf(ctx context.Context, d ocispec.Descriptor, depth int) ([]ocispec.Descriptor, error) {
	subjects := []ocispec.Descriptor{d}
	if !isIndex(d.MediaType) {
		if m.o.OnPlan != nil {
			if _, err := m.manifestBytes(ctx, d); err != nil {
				return nil, err
			}
		}
		return subjects, nil
	}
	if depth >= maxIndexDepth {
		return nil, fmt.Errorf("%w: %s: indexes nested deeper than %d", ErrMirror, d.Digest, maxIndexDepth)
	}
	b, err := m.manifestBytes(ctx, d)
	if err != nil {
		return nil, err
	}
	var idx ocispec.Index
	if err := json.Unmarshal(b, &idx); err != nil {
		return nil, fmt.Errorf("%w: index %s: %v", ErrMirror, d.Digest, err)
	}
	for _, c := range idx.Manifests {
		if m.omit[c.Digest] {
			continue
		}
		s, err := m.subjectsOf(ctx, c, depth+1)
		if err != nil {
			return nil, err
		}
		subjects = append(subjects, s...)
	}
	return subjects, nil
}

func isIndex(mediaType string) bool {
	return mediaType == ocispec.MediaTypeImageIndex || mediaType == "application/vnd.docker.distribution.manifest.list.v2+json"
}

// referrer copies one referrer (a manifest, or an index and what it
// names), then records it in its subject's referrers.
func (m *mirror) referrer(ctx context.Context, d ocispec.Descriptor) error {
	m.mu.Lock()
	m.rep.Referrers++
	m.mu.Unlock()
	if m.known.copied(d.Digest) {
		if m.firstManifest(d.Digest) {
			m.record(MirrorItem{Descriptor: plainDesc(d), Kind: "manifest", State: MirrorKnown})
		}
		return nil
	}
	b, err := m.manifestBytes(ctx, d)
	if err != nil {
		return err
	}
	var mf struct {
		Subject *ocispec.Descriptor `json:"subject"`
	}
	if err := json.Unmarshal(b, &mf); err != nil || mf.Subject == nil {
		return fmt.Errorf("%w: referrer %s: no subject", ErrMirror, d.Digest)
	}
	_, err = m.image(ctx, d, mf.Subject, 0)
	return err
}

// manifestBytes reads a manifest from the source, verified and bounded,
// and keeps it (the walk reads manifests before the copy writes them).
func (m *mirror) manifestBytes(ctx context.Context, d ocispec.Descriptor) ([]byte, error) {
	if d.Size > MaxManifestBytes || d.Size < 0 {
		return nil, fmt.Errorf("%s: manifest %s %w: %d bytes > %d", m.src.Ref, d.Digest, ErrTooLarge, d.Size, int64(MaxManifestBytes))
	}
	m.mu.Lock()
	b, ok := m.manifests[d.Digest]
	m.mu.Unlock()
	if ok {
		return b, nil
	}
	b, err := fetchVerified(ctx, m.src, d)
	if err == nil {
		m.keep(d, b)
	}
	return b, err
}

// maxKeptManifests bounds the manifest bytes a mirror keeps between the
// walk, which reads them, and the copy, which writes them: past it they
// are read again.
const maxKeptManifests = 64 << 20

// keep holds a manifest read (and verified) during the walk for the copy.
func (m *mirror) keep(d ocispec.Descriptor, b []byte) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.manifests[d.Digest]; !ok && m.kept+len(b) <= maxKeptManifests {
		m.manifests[d.Digest] = b
		m.kept += len(b)
	}
}

// blobs copies an image manifest's config and layers, Jobs at a time,
// and says whether one is missing (AllowMissingBlobs). A blob another
// manifest is copying is waited for, not copied again.
func (m *mirror) blobs(ctx context.Context, d ocispec.Descriptor, b []byte) (bool, error) {
	var mf ocispec.Manifest
	if err := json.Unmarshal(b, &mf); err != nil {
		return false, fmt.Errorf("%w: manifest %s: %v", ErrMirror, d.Digest, err)
	}
	blobs := append([]ocispec.Descriptor{mf.Config}, mf.Layers...)
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(m.o.Jobs)
	missing := make([]bool, len(blobs))
	for i, bd := range blobs {
		if bd.Digest == "" {
			continue
		}
		task, first := m.blobTask(bd.Digest)
		g.Go(func() error {
			if first {
				task.missing, task.err = m.blob(gctx, bd)
				close(task.done)
			}
			select {
			case <-task.done:
			case <-gctx.Done():
				return gctx.Err()
			}
			if task.err != nil && !first && gctx.Err() == nil && ctx.Err() == nil && (errors.Is(task.err, context.Canceled) || errors.Is(task.err, context.DeadlineExceeded)) {
				// Stopped by the failure of the manifest that ran it,
				// not of this one: copied here.
				var err error
				missing[i], err = m.blob(gctx, bd)
				return err
			}
			missing[i] = task.missing
			return task.err
		})
	}
	if err := g.Wait(); err != nil {
		return false, err
	}
	return slices.Contains(missing, true), nil
}

// blobTask returns d's copy, and whether the caller is the first to ask
// (and so runs it).
func (m *mirror) blobTask(d digest.Digest) (*blobTask, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if t, ok := m.blobTasks[d]; ok {
		return t, false
	}
	t := &blobTask{done: make(chan struct{})}
	m.blobTasks[d] = t
	return t, true
}

// markIncomplete records a manifest that is not put: a blob it names is
// missing on both sides.
func (m *mirror) markIncomplete(d ocispec.Descriptor) {
	m.mu.Lock()
	m.incomplete[d.Digest] = true
	m.mu.Unlock()
	if m.firstManifest(d.Digest) {
		m.record(MirrorItem{Descriptor: plainDesc(d), Kind: "manifest", State: MirrorIncomplete})
	}
}

func (m *mirror) isIncomplete(d digest.Digest) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.incomplete[d]
}

// firstManifest reports whether manifest d is handled for the first time
// in this run (blobs have their own once: blobTask).
func (m *mirror) firstManifest(d digest.Digest) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.seen[d] {
		return false
	}
	m.seen[d] = true
	return true
}

func (m *mirror) record(it MirrorItem) {
	m.mu.Lock()
	if it.Kind == "blob" {
		m.rep.Blobs = append(m.rep.Blobs, it)
	} else {
		m.rep.Manifests = append(m.rep.Manifests, it)
	}
	switch it.State {
	case MirrorCopied:
		m.rep.BytesCopied += it.Size
	case MirrorKnown:
	case MirrorPresent:
		m.rep.BytesPresent += it.Size
	}
	m.mu.Unlock()
	if m.o.OnCopied != nil {
		m.o.OnCopied(it)
	}
}

// blob copies one blob unless the destination has it, streaming and
// verifying: the source's bytes reach the destination only up to the
// descriptor's size, and the last read fails if the digest is not the
// descriptor's, which fails the upload. missing says the source does not
// have it either (reported, not an error, with AllowMissingBlobs).
func (m *mirror) blob(ctx context.Context, d ocispec.Descriptor) (missing bool, _ error) {
	d = ocispec.Descriptor{MediaType: d.MediaType, Digest: d.Digest, Size: d.Size}
	if d.Size > m.o.MaxBlobBytes || d.Size < 0 {
		return false, fmt.Errorf("%s: blob %s %w: %d bytes > %d", m.src.Ref, d.Digest, ErrTooLarge, d.Size, m.o.MaxBlobBytes)
	}
	if err := d.Digest.Validate(); err != nil {
		return false, fmt.Errorf("%w: blob %q: %v", ErrMirror, d.Digest, err)
	}
	ok, err := m.dst.Store.Exists(ctx, d)
	if err != nil {
		return false, fmt.Errorf("checking %s on %s: %w", d.Digest, m.dst.Ref, m.dst.annotate(err))
	}
	it := MirrorItem{Descriptor: d, Kind: "blob"}
	switch {
	case ok:
		it.State = MirrorPresent
		if m.resumable(d) && !m.o.DryRun {
			os.Remove(m.uploadFile(d)) // an upload remembered for a blob now there
		}
	case m.o.DryRun && m.o.AllowMissingBlobs:
		it.State = MirrorPlanned
		if has, err := m.src.Store.Exists(ctx, d); err != nil {
			return false, fmt.Errorf("checking %s on %s: %w", d.Digest, m.src.Ref, m.src.annotate(err))
		} else if !has {
			it.State, missing = MirrorMissing, true
		}
	case m.o.DryRun:
		it.State = MirrorPlanned
	default:
		rc, err := m.src.Store.Fetch(ctx, d)
		if err != nil {
			if errors.Is(err, errdef.ErrNotFound) {
				if m.o.AllowMissingBlobs {
					it.State = MirrorMissing
					m.record(it)
					return true, nil
				}
				return false, fmt.Errorf("%s: blob %s: %w", m.src.Ref, d.Digest, ErrNotFound)
			}
			return false, fmt.Errorf("fetching %s from %s: %w", d.Digest, m.src.Ref, m.src.annotate(err))
		}
		if m.resumable(d) {
			first := rc
			err := m.resumableCopy(ctx, d, func() (io.ReadCloser, error) {
				if first != nil {
					r := first
					first = nil
					return r, nil
				}
				r, err := m.src.Store.Fetch(ctx, d)
				if err != nil {
					return nil, fmt.Errorf("fetching %s from %s: %w", d.Digest, m.src.Ref, m.src.annotate(err))
				}
				return r, nil
			})
			if first != nil {
				first.Close()
			}
			if err != nil {
				return false, err
			}
			it.State = MirrorCopied
			break
		}
		if m.dst.Remote != nil && d.Size <= wholeMax {
			// A small blob is read whole, and checked, before a byte is
			// sent: then it can go in one request (pushWhole).
			data, rerr := io.ReadAll(&verifying{r: content.NewVerifyReader(rc, d)})
			rc.Close()
			if rerr != nil {
				return false, fmt.Errorf("copying %s from %s: %w", d.Digest, m.src.Ref, readError(m.src, d, rerr))
			}
			if err := pushWhole(ctx, m.dst, d, data); err != nil {
				return false, err
			}
			it.State = MirrorCopied
			break
		}
		if m.dst.Remote != nil {
			first := rc
			srcErr, err := pushStream(ctx, m.dst, d, func() (io.ReadCloser, error) {
				if first != nil {
					r := first
					first = nil
					return r, nil
				}
				return m.src.Store.Fetch(ctx, d)
			})
			if first != nil {
				first.Close()
			}
			if srcErr != nil {
				return false, fmt.Errorf("copying %s from %s: %w", d.Digest, m.src.Ref, readError(m.src, d, srcErr))
			}
			if err != nil {
				return false, err
			}
			it.State = MirrorCopied
			break
		}
		vr := &verifying{r: content.NewVerifyReader(rc, d)}
		if dir := m.dst.layoutDir(); dir != "" {
			err = writeLayoutBlob(dir, d, vr)
		} else {
			err = m.dst.Store.Push(ctx, d, vr)
		}
		rc.Close()
		if vr.err != nil {
			return false, fmt.Errorf("copying %s from %s: %w", d.Digest, m.src.Ref, readError(m.src, d, vr.err))
		}
		if err != nil && !errors.Is(err, errdef.ErrAlreadyExists) {
			return false, fmt.Errorf("pushing %s to %s: %w", d.Digest, m.dst.Ref, m.dst.annotate(err))
		}
		it.State = MirrorCopied
	}
	m.record(it)
	return missing, nil
}

// verifying reads through a content.VerifyReader and, at the end, checks
// the digest: the EOF the uploader waits for comes only once the bytes
// are known to be the descriptor's.
type verifying struct {
	r   *content.VerifyReader
	err error
}

func (v *verifying) Read(p []byte) (int, error) {
	n, err := v.r.Read(p)
	if errors.Is(err, io.EOF) {
		if verr := v.r.Verify(); verr != nil {
			v.err = verr
			return n, verr
		}
	} else if err != nil {
		v.err = err
	}
	return n, err
}

// putManifest puts a manifest to the destination: always on a registry
// (see Mirror), where absent in a layout. A referrer (subject set) is
// then listed in the subject's referrers on a registry without the
// referrers API, as attach does (updateFallbackIndex: safe with
// concurrent writers), once per subject at the end (referrerTags).
func (m *mirror) putManifest(ctx context.Context, d ocispec.Descriptor, b []byte, subject *ocispec.Descriptor) error {
	if !m.firstManifest(d.Digest) {
		return nil
	}
	plain := plainDesc(d)
	// On a registry the manifest is put whether or not it is there, so
	// only a dry run or a layout asks first.
	ok := false
	if m.o.DryRun || m.dst.Remote == nil {
		var err error
		if ok, err = m.dst.Store.Exists(ctx, plain); err != nil {
			return fmt.Errorf("checking %s on %s: %w", d.Digest, m.dst.Ref, m.dst.annotate(err))
		}
	}
	it := MirrorItem{Descriptor: plain, Kind: "manifest"}
	listed := true // in its subject's referrers (or no referrer)
	switch {
	case m.o.DryRun && ok:
		it.State = MirrorPresent
	case m.o.DryRun:
		it.State = MirrorPlanned
	case ok && m.dst.Remote == nil:
		if err := indexLayoutManifest(ctx, m.dst, plain); err != nil {
			return err
		}
		it.State = MirrorPresent
	default:
		entry := plain
		entry.ArtifactType, entry.Annotations = d.ArtifactType, d.Annotations
		switch {
		case subject != nil && m.dst.Remote != nil:
			// As attach does, but the referrers tag of a registry without
			// the API is updated once per subject, after all its
			// referrers are put (referrerTags).
			api, err := pushReferrer(ctx, m.dst, subject.Digest, plain, b, false)
			if err != nil {
				return err
			}
			if !api {
				m.mu.Lock()
				m.subjectRefs[subject.Digest] = append(m.subjectRefs[subject.Digest], entry)
				m.unlisted = append(m.unlisted, d.Digest)
				m.mu.Unlock()
				listed = false
			}
		default:
			var err error
			if dir := m.dst.layoutDir(); dir != "" {
				err = putLayoutManifest(ctx, m.dst, dir, plain, b)
			} else {
				err = pushManifest(ctx, m.dst, plain, b)
			}
			if err != nil {
				return err
			}
			if subject != nil {
				m.mu.Lock()
				m.subjectRefs[subject.Digest] = append(m.subjectRefs[subject.Digest], entry)
				m.mu.Unlock()
			}
		}
		it.State = MirrorCopied
	}
	m.record(it)
	if !m.o.DryRun && listed {
		m.o.State.markCopied(d.Digest)
	}
	return nil
}

// referrerTags writes each subject's referrers tag where the destination
// needs one: in a registry without the referrers API
// (registryReferrerTags), in a layout (layoutReferrerTags).
func (m *mirror) referrerTags(ctx context.Context) error {
	if m.dst.Remote != nil {
		return m.registryReferrerTags(ctx)
	}
	return m.layoutReferrerTags(ctx)
}

// registryReferrerTags adds, in a registry without the referrers API,
// each subject's referrers put by this run to its referrers tag: one
// update per subject (updateFallbackIndex: safe with concurrent writers),
// Jobs subjects at a time. Only then are they recorded as copied.
func (m *mirror) registryReferrerTags(ctx context.Context) error {
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(m.o.Jobs)
	for _, subj := range slices.Sorted(maps.Keys(m.subjectRefs)) {
		g.Go(func() error {
			return updateFallbackIndex(gctx, m.dst, ocispec.Descriptor{Digest: subj}, m.subjectRefs[subj], nil)
		})
	}
	if err := g.Wait(); err != nil {
		return err
	}
	for _, d := range m.unlisted {
		m.o.State.markCopied(d)
	}
	return nil
}

// checkLayoutReferrerTags checks, in layout dst, the referrers tag of
// every node of trees that has a referrer to copy (layoutReferrersTag).
func checkLayoutReferrerTags(ctx context.Context, dst *Target, trees []*Node, skip map[digest.Digest]string) error {
	var walk func(n *Node) error
	walk = func(n *Node) error {
		copied := false
		for _, c := range n.Referrers {
			if _, refused := skip[c.Digest]; refused {
				continue
			}
			copied = true
			if err := walk(c); err != nil {
				return err
			}
		}
		if !copied {
			return nil
		}
		if _, err := layoutReferrersTag(ctx, dst, n.Digest); err != nil {
			return fmt.Errorf("%w; refusing to mirror, which would replace it (nothing was copied)", err)
		}
		return nil
	}
	for _, t := range trees {
		if err := walk(t); err != nil {
			return err
		}
	}
	return nil
}

// layoutReferrerTags writes, in a layout destination, each subject's
// referrers tag (the OCI referrers tag schema, sha256-<hex>): an index
// of its referrers, merged with the one already there. oras-go finds a
// layout's referrers from their subject fields, but regctl (ocidir://)
// reads only this tag, so a layout with both is read by both.
func (m *mirror) layoutReferrerTags(ctx context.Context) error {
	for _, subj := range slices.Sorted(maps.Keys(m.subjectRefs)) {
		if err := tagLayoutReferrers(ctx, m.dst, subj, m.subjectRefs[subj], true); err != nil {
			return err
		}
	}
	return nil
}

// tagLayoutReferrers lists entries in subject's referrers tag in a layout
// or layout tar, with what the tag lists already. oras reads a layout's
// referrers from their subject fields, regctl (ocidir://) only from this
// tag. mirror says the caller is a mirror, which writes a layout's files
// itself (putLayoutManifest).
func tagLayoutReferrers(ctx context.Context, t *Target, subj digest.Digest, entries []ocispec.Descriptor, mirror bool) error {
	tag := fallbackTag(subj)
	listed, err := layoutReferrersTag(ctx, t, subj)
	if err != nil {
		return fmt.Errorf("%w; refusing to replace it", err)
	}
	b, d, err := ReferrersIndex(slices.Concat(entries, listed))
	if err != nil {
		return err
	}
	if dir := t.layoutDir(); mirror && dir != "" {
		if ok, err := t.Store.Exists(ctx, d); err != nil || !ok {
			if err := putLayoutManifest(ctx, t, dir, d, b); err != nil {
				return err
			}
		}
	} else if err := pushIfAbsent(ctx, t, d, b); err != nil {
		return err
	}
	if err := t.Store.Tag(ctx, d, tag); err != nil {
		return fmt.Errorf("tagging the referrers of %s in %s: %w", subj, t.Ref, err)
	}
	return nil
}

// layoutReferrersTag is what subject's referrers tag in layout t lists
// (none when there is no such tag, or its index cannot be read from the
// layout: replacing a dangling or corrupt index loses nothing). A tag that
// names anything else than an index of referrers (the subject itself, an
// index listing the subject, one over MaxManifestBytes) is an error, as on
// a registry (fetchFallbackIndex): replacing it would lose what it names.
func layoutReferrersTag(ctx context.Context, t *Target, subject digest.Digest) ([]ocispec.Descriptor, error) {
	tag := fallbackTag(subject)
	cur, err := t.Store.Resolve(ctx, tag)
	switch {
	case errors.Is(err, errdef.ErrNotFound):
		return nil, nil
	case err != nil:
		return nil, fmt.Errorf("reading referrers tag %s in %s: %w", tag, t.Ref, err)
	case !mayBeReferrersIndex(cur, subject):
		return nil, fmt.Errorf("%w %s in %s: it names %s %s, %w", ErrFallbackIndex, tag, t.Ref, cur.MediaType, cur.Digest, errNotIndex)
	case cur.Size > MaxManifestBytes:
		return nil, fmt.Errorf("%w %s in %s: %w (%d bytes)", ErrFallbackIndex, tag, t.Ref, ErrTooLarge, cur.Size)
	}
	b, err := fetchVerified(ctx, t, cur)
	if err != nil {
		return nil, nil
	}
	var idx ocispec.Index
	if json.Unmarshal(b, &idx) != nil {
		return nil, nil
	}
	if listsSubject(idx, subject) {
		return nil, fmt.Errorf("%w %s in %s: the index lists the subject itself", ErrFallbackIndex, tag, t.Ref)
	}
	return idx.Manifests, nil
}

// plainDesc is d without its listing's artifact type and annotations.
func plainDesc(d ocispec.Descriptor) ocispec.Descriptor {
	return ocispec.Descriptor{MediaType: d.MediaType, Digest: d.Digest, Size: d.Size}
}

// MirrorCounts summarizes a report: manifests and blobs by state.
func (r *MirrorReport) MirrorCounts() map[string]int {
	c := map[string]int{}
	for _, it := range slices.Concat(r.Manifests, r.Blobs) {
		c[it.Kind+" "+it.State]++
	}
	return c
}
