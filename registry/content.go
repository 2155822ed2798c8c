package registry

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"

	"golang.org/x/sync/errgroup"

	"github.com/opencontainers/go-digest"
	specs "github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/content"
	"oras.land/oras-go/v2/errdef"
	orasreg "oras.land/oras-go/v2/registry"
)

// readError classifies an error from reading content against its
// descriptor: only content that does not match its digest or size is
// ErrDigestMismatch; a reset connection, a cancelled context or a short
// read keeps its own cause, so the caller can tell a lie from a failure.
func readError(t *Target, d ocispec.Descriptor, err error) error {
	if errors.Is(err, content.ErrMismatchedDigest) || errors.Is(err, content.ErrTrailingData) || errors.Is(err, content.ErrInvalidDescriptorSize) {
		return fmt.Errorf("fetching %s from %s: %w: %w", d.Digest, t.Ref, ErrDigestMismatch, err)
	}
	return fmt.Errorf("fetching %s from %s: %w", d.Digest, t.Ref, t.annotate(err))
}

// FetchBlob fetches the content d describes (a blob or a manifest) and
// checks its digest and size; content larger than maxBytes is refused
// before a byte is read.
func FetchBlob(ctx context.Context, t *Target, d ocispec.Descriptor, maxBytes int64) ([]byte, error) {
	if d.Size > maxBytes || d.Size < 0 {
		return nil, fmt.Errorf("%s: %s %w: %d bytes > %d", t.Ref, d.Digest, ErrTooLarge, d.Size, maxBytes)
	}
	return fetchVerified(ctx, t, d)
}

// FetchManifest fetches and decodes the image manifest d describes (at
// most MaxManifestBytes), every byte checked against d.
func FetchManifest(ctx context.Context, t *Target, d ocispec.Descriptor) (ocispec.Manifest, []byte, error) {
	var m ocispec.Manifest
	if d.MediaType != ocispec.MediaTypeImageManifest {
		return m, nil, fmt.Errorf("%s: %s is a %s, not an image manifest", t.Ref, d.Digest, d.MediaType)
	}
	b, err := FetchBlob(ctx, t, d, MaxManifestBytes)
	if err != nil {
		return m, nil, err
	}
	if err := json.Unmarshal(b, &m); err != nil {
		return m, nil, fmt.Errorf("%s: manifest %s: %v", t.Ref, d.Digest, err)
	}
	return m, b, nil
}

// FetchManifestRef resolves ref (a tag or digest) and fetches the image
// manifest it names, in one request on a registry (GET by reference, where
// Resolve and FetchManifest would make two): at most MaxManifestBytes,
// every byte checked against the digest the registry states (or, for a
// digest reference, the one asked for).
func FetchManifestRef(ctx context.Context, t *Target, ref string) (ocispec.Descriptor, ocispec.Manifest, []byte, error) {
	if t.Remote == nil {
		d, err := t.Resolve(ctx, ref)
		if err != nil {
			return ocispec.Descriptor{}, ocispec.Manifest{}, nil, err
		}
		m, b, err := FetchManifest(ctx, t, d)
		return d, m, b, err
	}
	d, rc, err := t.Remote.Manifests().FetchReference(ctx, ref)
	if err != nil {
		if errors.Is(err, errdef.ErrNotFound) {
			return ocispec.Descriptor{}, ocispec.Manifest{}, nil, fmt.Errorf("%s: %w", t.Ref, ErrNotFound)
		}
		return ocispec.Descriptor{}, ocispec.Manifest{}, nil, fmt.Errorf("resolving %s: %w", t.Ref, t.annotate(err))
	}
	defer rc.Close()
	var m ocispec.Manifest
	if d.MediaType != ocispec.MediaTypeImageManifest {
		return d, m, nil, fmt.Errorf("%s: %s is a %s, not an image manifest", t.Ref, d.Digest, d.MediaType)
	}
	if d.Size > MaxManifestBytes || d.Size < 0 {
		return d, m, nil, fmt.Errorf("%s: %s %w: %d bytes > %d", t.Ref, d.Digest, ErrTooLarge, d.Size, int64(MaxManifestBytes))
	}
	b, err := content.ReadAll(rc, d)
	if err != nil {
		return d, m, nil, readError(t, d, err)
	}
	if err := json.Unmarshal(b, &m); err != nil {
		return d, m, nil, fmt.Errorf("%s: manifest %s: %v", t.Ref, d.Digest, err)
	}
	return d, m, b, nil
}

// FetchIndex fetches and decodes the image index d describes.
func FetchIndex(ctx context.Context, t *Target, d ocispec.Descriptor) (ocispec.Index, error) {
	var idx ocispec.Index
	b, err := FetchBlob(ctx, t, d, MaxManifestBytes)
	if err != nil {
		return idx, err
	}
	if err := json.Unmarshal(b, &idx); err != nil {
		return idx, fmt.Errorf("%s: index %s: %v", t.Ref, d.Digest, err)
	}
	return idx, nil
}

// PushBlob pushes data under d unless the target already has it.
func PushBlob(ctx context.Context, t *Target, d ocispec.Descriptor, data []byte) error {
	return pushIfAbsent(ctx, t, d, data)
}

// Layer is one layer of an artifact to push: its descriptor (media type,
// digest, size, annotations) and its bytes. A descriptor without a digest
// gets Data's digest and size: PushArtifact computes them while its first
// reads are in flight.
type Layer struct {
	Descriptor ocispec.Descriptor
	Data       []byte
	// Present says the caller knows the target has the blob (it read it
	// from there, or pushed it in this run): it is neither checked nor
	// sent. A wrong claim fails the manifest push (blob unknown).
	Present bool
}

// NewLayer describes data as a layer of the given media type, titled
// title when that is not empty (so `oras pull` names the file).
func NewLayer(mediaType string, data []byte, title string) Layer {
	d := content.NewDescriptorFromBytes(mediaType, data)
	if title != "" {
		d.Annotations = map[string]string{ocispec.AnnotationTitle: title}
	}
	return Layer{Descriptor: d, Data: data}
}

// ArtifactOptions describe an OCI 1.1 artifact manifest to push.
type ArtifactOptions struct {
	// ArtifactType of the manifest (required).
	ArtifactType string
	// Subject, when set, makes the artifact a referrer of it.
	Subject *ocispec.Descriptor
	// Layers in order. Blobs the target already has are not sent again.
	Layers []Layer
	// Annotations on the manifest; none are added implicitly (no creation
	// time), so the same inputs give the same manifest digest.
	Annotations map[string]string
	// Tag, when set, tags the manifest after it is pushed.
	Tag string
	// KeepTag, when set on a referrer pushed to a registry without the
	// referrers API, also tags the manifest KeepTag-<alg>-<hex> (see
	// KeepTagFor): registries of that kind garbage-collect untagged
	// manifests, and distribution 2.8's `garbage-collect --delete-untagged`
	// deletes every one, referrers listed in a referrers tag included.
	KeepTag string
}

// KeepTagFor is the tag that keeps a referrer through garbage collection
// on a registry without the referrers API: prefix-<alg>-<hex>.
func KeepTagFor(prefix string, d digest.Digest) string {
	return prefix + "-" + d.Algorithm().String() + "-" + d.Encoded()
}

// PushArtifact pushes the layers, an empty config and the manifest, in
// that order (children first, so no reader sees a manifest whose blobs are
// missing), then the tag. A referrer pushed to a registry without the
// referrers API is added to the subject's referrers tag, safely under
// concurrent writers (see updateFallbackIndex).
func PushArtifact(ctx context.Context, t *Target, o ArtifactOptions) (ocispec.Descriptor, error) {
	_, m, err := pushArtifact(ctx, t, o, "", nil)
	return m, err
}

// pushJobs bounds the requests an artifact push has in flight at once:
// each is latency-bound (a HEAD, or an upload of a document), and an
// attach's reads before its first write are four (subject, referrers tag,
// document, empty config), which then take one round trip in all.
const pushJobs = 4

// pushArtifact is PushArtifact. When subject is set, o.Subject is not
// used: the subject is the manifest of that digest, resolved on t among
// the reads that precede the first write, and returned.
//
// load, when set, gives what to push (all of ArtifactOptions but Subject),
// called once the reads that need only the subject are in flight: reading
// and checking the document then overlaps them. If it fails, those reads
// are cancelled and its error returned; nothing was written.
func pushArtifact(ctx context.Context, t *Target, o ArtifactOptions, subject digest.Digest, load func() (ArtifactOptions, error)) (ocispec.Descriptor, ocispec.Descriptor, error) {
	var none ocispec.Descriptor
	if o.ArtifactType == "" && load == nil {
		return none, none, errors.New("push: an artifact type is required")
	}
	if o.Subject != nil && subject == "" {
		subject = o.Subject.Digest
	}
	parent := ctx
	ctx, cancelReads := context.WithCancel(ctx)
	defer cancelReads()
	// Everything read before the first write is read at once: the subject
	// (when given by digest), the referrers tag check and whether each blob
	// is there. Nothing is written unless all of it succeeded. The first
	// two go out before the blobs' digests are computed.
	reads, rctx := errgroup.WithContext(ctx)
	reads.SetLimit(pushJobs)
	var resolved *ocispec.Descriptor // the subject, when read here
	if o.Subject == nil && subject != "" {
		reads.Go(func() error {
			d, err := t.Resolve(rctx, subject.String())
			resolved = &d
			return err
		})
	}
	var (
		prefetched *fallbackRead
		badTag     error // a referrers tag that cannot be read as one (prefetchFallback)
	)
	if subject != "" && t.Remote != nil {
		reads.Go(func() (err error) {
			prefetched, badTag, err = prefetchFallback(rctx, t, subject)
			return err
		})
	} else if subject != "" {
		// A layout's referrers tag is rewritten after the push
		// (tagLayoutReferrers): one that names something else is refused
		// now, as on a registry.
		reads.Go(func() error {
			if _, err := layoutReferrersTag(rctx, t, subject); err != nil {
				return fmt.Errorf("%w; refusing to attach, which would replace it (nothing was written)", err)
			}
			return nil
		})
	}
	// An upload session for the document, opened with the reads (see
	// upload.go), in a goroutine of its own: it takes none of the reads'
	// slots. The first blob found absent uses it; it is cancelled if none
	// is, or if anything fails before it is used (session.end, deferred).
	var session *earlySession
	if t.Remote != nil && (load != nil || slices.ContainsFunc(o.Layers, func(l Layer) bool { return !l.Present })) {
		session = openEarly(parent, t)
		defer session.end(parent, t)
	}
	if load != nil {
		lo, err := load()
		if err == nil && lo.ArtifactType == "" {
			err = errors.New("push: an artifact type is required")
		}
		if err != nil {
			cancelReads()
			reads.Wait() //nolint:errcheck // load's error is the one to report
			return none, none, err
		}
		lo.Subject = o.Subject
		o = lo
	}
	o.Layers = slices.Clone(o.Layers)
	for i, l := range o.Layers {
		if l.Descriptor.Digest == "" {
			d := content.NewDescriptorFromBytes(l.Descriptor.MediaType, l.Data)
			o.Layers[i].Descriptor.Digest, o.Layers[i].Descriptor.Size = d.Digest, d.Size
		}
	}
	// The blobs to send: the layers and the empty config, each once.
	var blobs []Layer
	for _, l := range append(slices.Clone(o.Layers), Layer{Descriptor: ocispec.DescriptorEmptyJSON, Data: ocispec.DescriptorEmptyJSON.Data}) {
		if l.Present || slices.ContainsFunc(blobs, func(b Layer) bool { return b.Descriptor.Digest == l.Descriptor.Digest }) {
			continue
		}
		blobs = append(blobs, l)
	}
	absent := make([]bool, len(blobs))
	for i, l := range blobs {
		reads.Go(func() error {
			// A failed check is not an error: the blob is then sent.
			ok, err := t.Store.Exists(rctx, l.Descriptor)
			absent[i] = err != nil || !ok
			return nil
		})
	}
	if err := reads.Wait(); err != nil {
		return none, none, err
	}
	if resolved != nil {
		o.Subject = resolved
	}
	if badTag != nil {
		if err := fallbackUsable(ctx, t, *o.Subject, badTag); err != nil {
			return none, none, err
		}
	}
	m := ocispec.Manifest{
		Versioned:    specs.Versioned{SchemaVersion: 2},
		MediaType:    ocispec.MediaTypeImageManifest,
		ArtifactType: o.ArtifactType,
		Config:       ocispec.DescriptorEmptyJSON,
		Layers:       make([]ocispec.Descriptor, 0, len(o.Layers)),
	}
	if o.Subject != nil {
		m.Subject = &ocispec.Descriptor{MediaType: o.Subject.MediaType, Digest: o.Subject.Digest, Size: o.Subject.Size}
	}
	if len(o.Annotations) > 0 {
		m.Annotations = maps.Clone(o.Annotations)
	}
	for _, l := range o.Layers {
		m.Layers = append(m.Layers, l.Descriptor)
	}
	mb, err := json.Marshal(m) // encoding/json sorts map keys: deterministic
	if err != nil {
		return none, none, err
	}
	mdesc := content.NewDescriptorFromBytes(ocispec.MediaTypeImageManifest, mb)
	// The absent blobs are sent a few at a time; the manifest goes only
	// after all.
	var sends errgroup.Group
	sends.SetLimit(pushJobs)
	for i, l := range blobs {
		if !absent[i] {
			continue
		}
		loc := session.take()
		sends.Go(func() error {
			if loc != nil {
				return finishUpload(ctx, t, loc, l.Descriptor, l.Data)
			}
			if t.Remote != nil {
				return pushWhole(ctx, t, l.Descriptor, l.Data)
			}
			err := t.Store.Push(ctx, l.Descriptor, bytes.NewReader(l.Data))
			if err != nil && !errors.Is(err, errdef.ErrAlreadyExists) {
				return fmt.Errorf("pushing %s to %s: %w", l.Descriptor.Digest, t.Ref, t.annotate(err))
			}
			return nil
		})
	}
	// Every blob was there: the unused session is cancelled alongside
	// the manifest's push, not before it (session.end waits for it).
	session.cancelUnused(parent, t)
	if err := sends.Wait(); err != nil {
		return none, none, err
	}
	var subj ocispec.Descriptor
	if o.Subject != nil {
		subj = *o.Subject
	}
	mdesc.ArtifactType = o.ArtifactType
	mdesc.Annotations = m.Annotations
	if o.Subject != nil && t.Remote != nil {
		api, err := pushReferrer(ctx, t, subj.Digest, mdesc, mb, prefetched != nil && prefetched.desc.Digest != "")
		if err != nil {
			return none, none, err
		}
		if !api {
			if err := updateFallbackIndex(ctx, t, subj, []ocispec.Descriptor{mdesc}, prefetched); err != nil {
				return none, none, err
			}
			if o.KeepTag != "" && o.Tag == "" {
				o.Tag = KeepTagFor(o.KeepTag, mdesc.Digest)
			}
		}
	} else if err := pushManifest(ctx, t, mdesc, mb); err != nil {
		return none, none, err
	} else if o.Subject != nil {
		// A layout or layout tar: its subject's referrers tag lists the
		// referrer too, as a mirror's does, for tools that read only the
		// tag (regctl's ocidir://).
		if err := tagLayoutReferrers(ctx, t, subj.Digest, []ocispec.Descriptor{mdesc}, false); err != nil {
			return none, none, err
		}
	}
	if o.Tag != "" {
		if err := t.Store.Tag(ctx, ocispec.Descriptor{MediaType: mdesc.MediaType, Digest: mdesc.Digest, Size: mdesc.Size}, o.Tag); err != nil {
			return none, none, fmt.Errorf("tagging %s as %s on %s: %w", mdesc.Digest, o.Tag, t.Ref, t.annotate(err))
		}
	}
	return subj, mdesc, nil
}

// prefetchFallback reads, before anything is written, the referrers tag
// of subject (sha256-<hex>) for the update that follows the push on a
// registry without the referrers API; nil once the registry is known to
// have the API. A tag that exists and is not an index of referrers, e.g.
// the subject itself (GitLab, oras-go#1396), is refused: on such a
// registry it would be replaced with a new index after the manifest push,
// destroying what it named. An index that cannot be used (too large, not
// valid, listing the subject) is returned as bad: it matters only if the
// registry lacks the API, which fallbackUsable then asks. One GET, made
// along with the other reads before the first write.
func prefetchFallback(ctx context.Context, t *Target, subject digest.Digest) (r *fallbackRead, bad, err error) {
	if probed, has := t.capability(); probed && has {
		return nil, nil, nil
	}
	r, err = readFallback(ctx, t, ocispec.Descriptor{Digest: subject})
	switch {
	case errors.Is(err, errNotIndex):
		return nil, nil, fmt.Errorf("%w; refusing to attach, which would replace it (nothing was written)", err)
	case errors.Is(err, ErrFallbackIndex), errors.Is(err, ErrTooLarge):
		return nil, err, nil
	}
	return r, nil, err
}

// fallbackUsable is nil when the referrers tag prefetchFallback found bad
// does not matter, because the registry has the referrers API (asked with
// one listing, before anything is written); else the reason, and nothing
// is written.
func fallbackUsable(ctx context.Context, t *Target, subject ocispec.Descriptor, bad error) error {
	if probed, has := t.capability(); probed {
		if has {
			return nil
		}
		return fmt.Errorf("%w (nothing was written)", bad)
	}
	_, supported, err := listByAPI(ctx, t, subject, "")
	if err != nil {
		return err
	}
	t.setCapability(supported)
	if supported {
		return nil
	}
	return fmt.Errorf("%w (nothing was written)", bad)
}

// pushManifest pushes a manifest to an OCI layout (which indexes its
// subject itself), or one without a subject to a registry (pushReferrer
// pushes those with one). On a registry it is always pushed: it is small,
// and the push is idempotent.
func pushManifest(ctx context.Context, t *Target, d ocispec.Descriptor, b []byte) error {
	if t.Remote == nil {
		return pushIfAbsent(ctx, t, d, b)
	}
	if err := t.Store.Push(ctx, d, bytes.NewReader(b)); err != nil && !errors.Is(err, errdef.ErrAlreadyExists) {
		return fmt.Errorf("pushing %s to %s: %w", d.Digest, t.Ref, t.annotate(err))
	}
	return nil
}

// Tags lists the target's tags, sorted.
func Tags(ctx context.Context, t *Target) ([]string, error) {
	lister, ok := t.Store.(orasreg.TagLister)
	if !ok {
		return nil, fmt.Errorf("%s: cannot list tags", t.Ref)
	}
	var out []string
	err := lister.Tags(ctx, "", func(tags []string) error {
		out = append(out, tags...)
		if len(out) > maxTags {
			return fmt.Errorf("%s: more than %d tags: %w", t.Ref, maxTags, ErrTooLarge)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("listing tags of %s: %w", t.Ref, t.annotate(err))
	}
	slices.Sort(out)
	return out, nil
}

// maxTags bounds a tag listing: a feeds repository gains one tag a day.
const maxTags = 100000
