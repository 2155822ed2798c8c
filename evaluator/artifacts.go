package evaluator

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/stella-ops/stella-oras/artifacts"
	"github.com/stella-ops/stella-oras/canon"
	"github.com/stella-ops/stella-oras/engine/feed"
	"github.com/stella-ops/stella-oras/engine/policy"
	"github.com/stella-ops/stella-oras/internal/load"
	"github.com/stella-ops/stella-oras/registry"
)

func canonContentID(b []byte) string { return canon.ContentID(b) }

// Open parses a reference and opens its target: the one place references
// become targets, so every operation opens them alike.
func Open(ctx context.Context, ref string, opts registry.Options) (*registry.Target, error) {
	r, err := registry.ParseReference(ref)
	if err != nil {
		return nil, err
	}
	return registry.Open(ctx, r, opts)
}

// resolve returns the descriptor the target's reference names (its digest,
// else its tag).
func resolve(ctx context.Context, t *registry.Target) (ocispec.Descriptor, error) {
	if t.Ref.Ref() == "" {
		return ocispec.Descriptor{}, fmt.Errorf("%s: a tag or digest is required", t.Ref)
	}
	return t.Resolve(ctx, t.Ref.Ref())
}

// EpochTag is the tag convention of a feed artifact: its epoch in UTC,
// in a form a tag can hold ("2026-08-21T000000Z").
func EpochTag(epoch time.Time) string { return epoch.UTC().Format(epochTagLayout) }

const epochTagLayout = "2006-01-02T150405Z"

// PolicyTag is the tag convention of a policy artifact: name-semver.
func PolicyTag(p *policy.Policy) string { return p.Name + "-" + p.Version }

// PushedArtifact describes an artifact that was pushed.
type PushedArtifact struct {
	Reference string             `json:"reference"`
	Manifest  ocispec.Descriptor `json:"manifest"`
	Tag       string             `json:"tag"`
	Digest    string             `json:"digest"` // the content's identity (feed or policy digest)
	Layers    int                `json:"layers"`
	Bytes     int64              `json:"bytes"`
}

// PushFeedOptions tune PushFeed. The zero value tags the artifact with its
// epoch (EpochTag).
type PushFeedOptions struct {
	Registry registry.Options
	// Tag overrides the epoch tag; "-" pushes untagged.
	Tag string
}

// PushFeed pushes a complete feed snapshot as an artifact: the index
// layer, then one layer per record group, so an evaluator fetches only the
// groups its SBOM's ecosystems need. The manifest depends only on the
// records (its creation time is the epoch), so the same records always give
// the same manifest digest.
func PushFeed(ctx context.Context, snap *feed.Snapshot, ref string, o PushFeedOptions) (*PushedArtifact, error) {
	if !snap.Complete() {
		return nil, fmt.Errorf("%w: the feed snapshot is missing record groups", ErrCouldNotRun)
	}
	t, err := Open(ctx, ref, o.Registry)
	if err != nil {
		return nil, err
	}
	defer t.Discard()
	layers := []registry.Layer{registry.NewLayer(artifacts.MediaTypeFeedIndex, snap.Index(), "feed-index.json")}
	var total int64 = int64(len(snap.Index()))
	for i, g := range snap.Groups() {
		l := registry.NewLayer(artifacts.MediaTypeFeedRecords, snap.GroupData(i), "records-"+safeTitle(g.Ecosystem)+".json")
		l.Descriptor.Annotations[artifacts.AnnotationFeedEcosystem] = g.Ecosystem
		layers = append(layers, l)
		total += g.Size
	}
	epoch := snap.Epoch().UTC().Format(time.RFC3339)
	tag := o.Tag
	switch {
	case tag == "" && t.Ref.Tag != "":
		tag = t.Ref.Tag
	case tag == "":
		tag = EpochTag(snap.Epoch())
	case tag == "-":
		tag = ""
	}
	m, err := registry.PushArtifact(ctx, t, registry.ArtifactOptions{
		ArtifactType: artifacts.MediaTypeFeedSnapshot,
		Layers:       layers,
		Annotations: map[string]string{
			ocispec.AnnotationCreated:  epoch,
			artifacts.AnnotationEpoch:  epoch,
			artifacts.AnnotationDigest: snap.ContentID(),
		},
		Tag: tag,
	})
	if err != nil {
		return nil, err
	}
	if err := t.Close(); err != nil {
		return nil, err
	}
	return &PushedArtifact{Reference: refAt(t, m.Digest.String()), Manifest: m, Tag: tag, Digest: snap.ContentID(), Layers: len(layers), Bytes: total}, nil
}

func safeTitle(s string) string {
	if s == "" {
		return "none"
	}
	return strings.Map(func(r rune) rune {
		if r == '/' || r == '\\' || r == ':' || r == ' ' {
			return '_'
		}
		return r
	}, s)
}

// PullFeed reads a feed artifact: its manifest (which must be a feed),
// its index, and only the record groups the ecosystems need. ecosystems is
// called once the index is read; it returns false when the evaluation was
// abandoned (the SBOM failed), and nothing more is fetched.
func PullFeed(ctx context.Context, ref string, opts registry.Options, ecosystems func() ([]string, bool)) (*feed.Snapshot, *FeedSource, error) {
	t, err := Open(ctx, ref, opts)
	if err != nil {
		return nil, nil, err
	}
	defer t.Close()
	d, m, mb, err := feedManifest(ctx, t)
	if err != nil {
		return nil, nil, err
	}
	src := &FeedSource{Reference: t.Ref.String(), Manifest: d, Index: m.Layers[0], BytesPulled: int64(len(mb))}
	ib, err := registry.FetchBlob(ctx, t, m.Layers[0], feed.MaxSnapshotBytes)
	if err != nil {
		return nil, nil, fmt.Errorf("feed %s: %w", t.Ref, err)
	}
	src.BytesPulled += int64(len(ib))
	snap, err := feed.OpenIndex(ib)
	if err != nil {
		return nil, nil, fmt.Errorf("feed %s: %w", t.Ref, err)
	}
	groups := snap.Groups()
	if len(m.Layers) != len(groups)+1 {
		return nil, nil, fmt.Errorf("feed %s: %w: %d record layers for %d groups", t.Ref, feed.ErrSnapshot, len(m.Layers)-1, len(groups))
	}
	for i, g := range groups {
		l := m.Layers[i+1]
		if l.Digest.String() != g.Digest || l.Size != g.Size || l.MediaType != artifacts.MediaTypeFeedRecords {
			return nil, nil, fmt.Errorf("feed %s: %w: layer %d is %s, the index names %s", t.Ref, feed.ErrSnapshot, i+1, l.Digest, g.Digest)
		}
	}
	ecos, ok := ecosystems()
	if !ok {
		return nil, nil, fmt.Errorf("feed %s: abandoned", t.Ref)
	}
	for _, i := range snap.Needs(ecos) {
		l := m.Layers[i+1]
		b, err := registry.FetchBlob(ctx, t, l, feed.MaxSnapshotBytes)
		if err != nil {
			return nil, nil, fmt.Errorf("feed %s: %w", t.Ref, err)
		}
		if err := snap.AddGroup(i, b); err != nil {
			return nil, nil, fmt.Errorf("feed %s: %w", t.Ref, err)
		}
		src.BytesPulled += l.Size
		src.Used = append(src.Used, l)
	}
	return snap, src, nil
}

// feedManifest resolves a feed reference (no tag: the latest epoch) and
// reads its manifest, refusing anything but a feed artifact.
func feedManifest(ctx context.Context, t *registry.Target) (ocispec.Descriptor, ocispec.Manifest, []byte, error) {
	if err := latestFeed(ctx, t); err != nil {
		return ocispec.Descriptor{}, ocispec.Manifest{}, nil, err
	}
	d, m, mb, err := registry.FetchManifestRef(ctx, t, t.Ref.Ref())
	if err != nil {
		return ocispec.Descriptor{}, ocispec.Manifest{}, nil, fmt.Errorf("feed %s: %w", t.Ref, err)
	}
	if m.ArtifactType != artifacts.MediaTypeFeedSnapshot || len(m.Layers) == 0 || m.Layers[0].MediaType != artifacts.MediaTypeFeedIndex {
		return ocispec.Descriptor{}, ocispec.Manifest{}, nil, fmt.Errorf("feed %s: %w: it is %s, not a feed artifact (%s)", t.Ref, ErrWrongArtifact, orNone(m.ArtifactType), artifacts.MediaTypeFeedSnapshot)
	}
	return d, m, mb, nil
}

func orNone(s string) string {
	if s == "" {
		return "an artifact without artifactType"
	}
	return s
}

// PushPolicyOptions tune PushPolicy. The zero value tags the artifact
// name-semver (PolicyTag).
type PushPolicyOptions struct {
	Registry registry.Options
	// Tag overrides the name-semver tag; "-" pushes untagged.
	Tag string
}

// PushPolicy pushes a policy's compiled IR as an artifact of one layer.
// The IR is canonical, so the layer digest is the policy digest.
func PushPolicy(ctx context.Context, p *policy.Policy, ref string, o PushPolicyOptions) (*PushedArtifact, error) {
	ir, err := p.IR()
	if err != nil {
		return nil, err
	}
	t, err := Open(ctx, ref, o.Registry)
	if err != nil {
		return nil, err
	}
	defer t.Discard()
	tag := o.Tag
	switch {
	case tag == "" && t.Ref.Tag != "":
		tag = t.Ref.Tag
	case tag == "":
		tag = PolicyTag(p)
	case tag == "-":
		tag = ""
	}
	pid := canon.ContentID(ir)
	m, err := registry.PushArtifact(ctx, t, registry.ArtifactOptions{
		ArtifactType: artifacts.MediaTypePolicy,
		Layers:       []registry.Layer{registry.NewLayer(artifacts.MediaTypePolicy, ir, PolicyTag(p)+".policy.json")},
		Annotations: map[string]string{
			artifacts.AnnotationDigest:        pid,
			artifacts.AnnotationPolicyName:    p.Name,
			artifacts.AnnotationPolicyVersion: p.Version,
		},
		Tag: tag,
	})
	if err != nil {
		return nil, err
	}
	if err := t.Close(); err != nil {
		return nil, err
	}
	return &PushedArtifact{Reference: refAt(t, m.Digest.String()), Manifest: m, Tag: tag, Digest: pid, Layers: 1, Bytes: int64(len(ir))}, nil
}

// PullPolicy reads a policy artifact and loads its IR (linted as strictly
// as a source). It returns the policy and the artifact's reference by
// digest.
func PullPolicy(ctx context.Context, ref string, opts registry.Options) (*policy.Policy, string, error) {
	t, err := Open(ctx, ref, opts)
	if err != nil {
		return nil, "", err
	}
	defer t.Close()
	d, _, b, err := singleLayer(ctx, t, artifacts.MediaTypePolicy, policy.MaxSourceBytes)
	if err != nil {
		return nil, "", fmt.Errorf("policy %s: %w", t.Ref, err)
	}
	p, err := policy.FromIR(b, t.Ref.String())
	if err != nil {
		return nil, "", err
	}
	return p, refAt(t, d.Digest.String()), nil
}

// readDocument reads a document from a file or, when no such file exists,
// from the single layer of the artifact a reference names.
func readDocument(ctx context.Context, src string, limit int64, opts registry.Options) ([]byte, string, error) {
	if !isReference(src) {
		data, err := load.JSONFile(src, limit)
		if err != nil {
			return nil, "", err
		}
		return data, detectMediaType(data), nil
	}
	t, err := Open(ctx, src, opts)
	if err != nil {
		return nil, "", err
	}
	defer t.Close()
	_, m, b, err := singleLayer(ctx, t, "", limit)
	if err != nil {
		return nil, "", fmt.Errorf("%s: %w", t.Ref, err)
	}
	return b, m.Layers[0].MediaType, nil
}

// singleLayer resolves the target's reference and reads an artifact of
// one layer (of artifact type want, unless want is ""), at most limit
// bytes of it.
func singleLayer(ctx context.Context, t *registry.Target, want string, limit int64) (ocispec.Descriptor, ocispec.Manifest, []byte, error) {
	if t.Ref.Ref() == "" {
		return ocispec.Descriptor{}, ocispec.Manifest{}, nil, fmt.Errorf("%s: a tag or digest is required", t.Ref)
	}
	d, m, _, err := registry.FetchManifestRef(ctx, t, t.Ref.Ref())
	if err != nil {
		return ocispec.Descriptor{}, ocispec.Manifest{}, nil, err
	}
	if want != "" && m.ArtifactType != want {
		return ocispec.Descriptor{}, ocispec.Manifest{}, nil, fmt.Errorf("%w: it is %s, not %s", ErrWrongArtifact, orNone(m.ArtifactType), want)
	}
	if len(m.Layers) != 1 {
		return ocispec.Descriptor{}, ocispec.Manifest{}, nil, fmt.Errorf("%w: want one layer, the artifact has %d", ErrWrongArtifact, len(m.Layers))
	}
	b, err := registry.FetchBlob(ctx, t, m.Layers[0], limit)
	if err != nil {
		return ocispec.Descriptor{}, ocispec.Manifest{}, nil, err
	}
	return d, m, b, nil
}

// detectMediaType is the layer media type a document is pushed under.
func detectMediaType(data []byte) string {
	if ty, ok := artifacts.Detect(data); ok {
		return ty.MediaType
	}
	return "application/json"
}

func sbomMediaType(data []byte) string  { return detectMediaType(data) }
func reachMediaType(data []byte) string { return detectMediaType(data) }

// sortedKeys returns the keys of m, sorted.
func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
