package registry

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/opencontainers/go-digest"
	specs "github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/content"
	"oras.land/oras-go/v2/errdef"
	"oras.land/oras-go/v2/registry/remote"
)

// AttachOptions describe one document to attach.
type AttachOptions struct {
	// ArtifactType of the artifact manifest (e.g. application/vnd.cyclonedx+json).
	ArtifactType string
	// MediaType of the layer holding the document.
	MediaType string
	// FileName becomes the layer's org.opencontainers.image.title, so
	// `oras pull` writes the file under that name. Empty means none.
	FileName string
	// Annotations on the manifest. None are added implicitly: no creation
	// time, so the same document attached twice is the same manifest.
	Annotations map[string]string
	// KeepTag: see ArtifactOptions.KeepTag.
	KeepTag string
}

// Attach pushes data unchanged as a blob and an OCI 1.1 image manifest
// (artifactType, empty config, one layer, subject) referring to subject.
// Pushing is idempotent: the manifest digest depends only on the inputs.
func Attach(ctx context.Context, t *Target, subject ocispec.Descriptor, data []byte, opts AttachOptions) (ocispec.Descriptor, error) {
	o, err := attachArtifact(data, opts)
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	o.Subject = &subject
	return PushArtifact(ctx, t, o)
}

// AttachByDigest is Attach to the manifest of digest subject, whose media
// type and size it reads from t while it makes its other reads before the
// first write (one round trip fewer than resolving the subject first). It
// returns the subject's descriptor and the new manifest's. A subject that
// does not exist is ErrNotFound, and nothing is written.
func AttachByDigest(ctx context.Context, t *Target, subject digest.Digest, data []byte, opts AttachOptions) (subj, manifest ocispec.Descriptor, err error) {
	o, err := attachArtifact(data, opts)
	if err != nil {
		return subj, manifest, err
	}
	return pushArtifact(ctx, t, o, subject)
}

func attachArtifact(data []byte, opts AttachOptions) (ArtifactOptions, error) {
	if opts.ArtifactType == "" || opts.MediaType == "" {
		return ArtifactOptions{}, errors.New("attach: artifact type and media type are required")
	}
	layer := Layer{Descriptor: ocispec.Descriptor{MediaType: opts.MediaType}, Data: data} // digested by pushArtifact
	if opts.FileName != "" {
		layer.Descriptor.Annotations = map[string]string{ocispec.AnnotationTitle: filepath.Base(opts.FileName)}
	}
	return ArtifactOptions{
		ArtifactType: opts.ArtifactType,
		Layers:       []Layer{layer},
		Annotations:  opts.Annotations,
		KeepTag:      opts.KeepTag,
	}, nil
}

func pushIfAbsent(ctx context.Context, t *Target, d ocispec.Descriptor, data []byte) error {
	if ok, err := t.Store.Exists(ctx, d); err == nil && ok {
		return indexLayoutManifest(ctx, t, d)
	}
	err := t.Store.Push(ctx, d, bytes.NewReader(data))
	if err != nil && !errors.Is(err, errdef.ErrAlreadyExists) {
		return fmt.Errorf("pushing %s to %s: %w", d.Digest, t.Ref, t.annotate(err))
	}
	return nil
}

// indexLayoutManifest lists manifest d, whose file is in layout t, in
// the layout's index.json if it is not there yet: a run killed between
// writing a manifest and saving the index (HoldIndex) leaves the file
// unlisted, and a rerun that found the file and went on would never list
// it (oras-go's store checks files, not the index, for Exists). Blobs and
// registry targets: nothing to do.
func indexLayoutManifest(ctx context.Context, t *Target, d ocispec.Descriptor) error {
	if t.Remote != nil || !isManifestType(d.MediaType) {
		return nil
	}
	// A listed manifest resolves with its media type; an unlisted file
	// resolves as a blob, application/octet-stream.
	if cur, err := t.Store.Resolve(ctx, d.Digest.String()); err == nil && cur.MediaType == d.MediaType {
		return nil
	}
	if err := t.Store.Tag(ctx, plainDesc(d), d.Digest.String()); err != nil {
		return fmt.Errorf("listing %s in %s: %w", d.Digest, t.Ref, err)
	}
	return nil
}

// IsManifestType reports whether mediaType is an image manifest or index,
// OCI or Docker.
func IsManifestType(mediaType string) bool { return isManifestType(mediaType) }

func isManifestType(mediaType string) bool {
	switch mediaType {
	case ocispec.MediaTypeImageManifest, ocispec.MediaTypeImageIndex,
		"application/vnd.docker.distribution.manifest.v2+json",
		"application/vnd.docker.distribution.manifest.list.v2+json":
		return true
	}
	return false
}

// pushReferrer pushes manifest d, which has a subject, to a registry and
// reports whether the registry has the referrers API, and how long the
// push took. It is always pushed (it is small, and the push is
// idempotent), so that the referrers tag update that follows also repairs
// an attach interrupted before. oras-go is kept from updating the
// referrers tag (its repository for this push is told that the registry
// has the API): ensureInFallbackIndex does that, in one timed read and
// write. What oras-go would learn from the response, the OCI-Subject
// header (the registry indexed the subject: OCI distribution spec v1.1.1,
// "Pushing Manifests with Subject"), subjectHeader reads instead.
func pushReferrer(ctx context.Context, t *Target, d ocispec.Descriptor, b []byte) (api bool, took time.Duration, err error) {
	probed, has := t.capability()
	var indexed atomic.Bool
	r := &remote.Repository{
		Client:           subjectHeader{Client: t.Remote.Client, seen: &indexed},
		Reference:        t.Remote.Reference,
		PlainHTTP:        t.Remote.PlainHTTP,
		MaxMetadataBytes: t.Remote.MaxMetadataBytes,
		SkipReferrersGC:  true,
	}
	r.SetReferrersCapability(true) //nolint:errcheck // a new repository: cannot fail
	began := time.Now()
	if err := r.Manifests().Push(ctx, d, bytes.NewReader(b)); err != nil && !errors.Is(err, errdef.ErrAlreadyExists) {
		return false, 0, fmt.Errorf("pushing %s to %s: %w", d.Digest, t.Ref, t.annotate(err))
	}
	took = time.Since(began)
	if probed {
		return has, took, nil
	}
	t.setCapability(indexed.Load())
	return indexed.Load(), took, nil
}

// subjectHeader notes a manifest push whose response has the OCI-Subject
// header.
type subjectHeader struct {
	remote.Client
	seen *atomic.Bool
}

func (c subjectHeader) Do(req *http.Request) (*http.Response, error) {
	resp, err := c.Client.Do(req)
	if err == nil && req.Method == http.MethodPut && resp.Header.Get("OCI-Subject") != "" {
		c.seen.Store(true)
	}
	return resp, err
}

// ensureInFallbackIndex adds mdesc to the referrers tag of subject on a
// registry without the referrers API, and makes concurrent attaches safe
// there. The tag is updated by read-modify-write and distribution has no
// conditional requests, so a writer that read the index before another
// writer's entry was added can overwrite it. No writer can prevent that;
// each one detects and repairs it before it returns:
//
//   - it times its window, from sending its read of the tag to having
//     written it, and takes it to be at least its read plus pushCost, the
//     time its manifest push took (a second sample of what a write costs
//     here, so that one lucky fast write does not shorten the wait). A
//     racing writer of the same kind takes about as long between its read
//     and its write, under the same load, so a stale write lands within
//     about one window of ours;
//   - it reads the tag again quietWindows windows later. When the tag is
//     still what it wrote, nobody wrote meanwhile, and a writer that had
//     read it before our write would have by then: done, in one read (the
//     usual, uncontended case);
//   - when the tag changed, other writers are at work. It remembers every
//     entry it has seen listed, and when one disappears while its manifest
//     still exists (a stale overwrite, not a detach), it puts it back along
//     with its own; it returns only once the tag has stayed the same for
//     quietReads reads in a row, spaced by contendedWindows of the longest
//     window it measured and up to as much again at random, so that writers
//     do not read in step. Every writer still running thus repairs the
//     entries of writers that have already returned.
//
// It fails closed, saying so, when the tag never settles.
func ensureInFallbackIndex(ctx context.Context, t *Target, subject, mdesc ocispec.Descriptor, pushCost time.Duration) error {
	tag := fallbackTag(subject.Digest)
	seen := map[digest.Digest]ocispec.Descriptor{mdesc.Digest: mdesc}
	gone := map[digest.Digest]bool{} // seen entries whose manifest no longer exists
	var window time.Duration
	contended, stable := false, 0
	var last digest.Digest // the index the tag held when last read or written
	for round := 0; round < maxRounds; round++ {
		began := time.Now()
		idx, desc, err := fetchFallbackIndex(ctx, t, subject, tag)
		if err != nil && !errors.Is(err, ErrNotFound) {
			return err
		}
		read := time.Since(began)
		listed := make(map[digest.Digest]bool, len(idx.Manifests))
		for _, d := range idx.Manifests {
			listed[d.Digest] = true
			if _, ok := seen[d.Digest]; !ok && len(seen) < maxReferrerEntries {
				seen[d.Digest] = d
			}
		}
		missing, err := missingEntries(ctx, t, seen, listed, gone, mdesc.Digest)
		if err != nil {
			return err
		}
		changed := round > 0 && desc.Digest != last
		now := desc.Digest
		window = max(window, read+pushCost)
		if len(missing) > 0 {
			idx.Manifests = append(idx.Manifests, missing...)
			if now, err = pushFallbackIndex(ctx, t, idx, tag, desc); err != nil {
				return err
			}
			window = max(window, time.Since(began))
		}
		switch {
		case round == 0: // the update
		case changed || len(missing) > 0:
			contended, stable = true, 0
		default:
			stable++
		}
		if (stable > 0 && !contended) || stable >= quietReads {
			return nil
		}
		last = now
		pause := time.Duration(quietWindows * float64(window))
		if contended {
			pause = time.Duration(contendedWindows * float64(window))
			pause += rand.N(pause)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(pause):
		}
	}
	return fmt.Errorf("attaching to %s: the referrers tag %s kept changing under concurrent writers for %d reads", t.Ref, tag, maxRounds)
}

// Parameters of ensureInFallbackIndex, in windows (see there).
//   - quietWindows: the wait before the check read of an uncontended
//     attach. A racing writer of the same kind takes about one window; the
//     second covers its jitter (a slower round trip, a pause of its
//     process) beyond ours.
//   - contendedWindows, quietReads: once writers are seen at work, the tag
//     must stay the same for quietReads reads spaced by contendedWindows
//     (or up to twice that): at least two windows in all after the last
//     change, as with a single writer, read within the spell and not only
//     at its end, so that a dropped entry is put back sooner.
//   - maxRounds: reads before giving up (50 writers at once settle within
//     about a dozen).
const (
	quietWindows     = 2.0
	contendedWindows = 1.0
	quietReads       = 3
	maxRounds        = 400
)

// maxReferrerEntries bounds how many entries a writer remembers.
const maxReferrerEntries = 10000

// missingEntries are the remembered entries the index no longer lists: the
// writer's own always, another writer's only while its manifest still
// exists (one that was deleted was detached on purpose: not put back).
func missingEntries(ctx context.Context, t *Target, seen map[digest.Digest]ocispec.Descriptor, listed, gone map[digest.Digest]bool, mine digest.Digest) ([]ocispec.Descriptor, error) {
	var missing []ocispec.Descriptor
	for dg, d := range seen {
		if listed[dg] || gone[dg] {
			continue
		}
		if dg != mine {
			ok, err := t.Remote.Manifests().Exists(ctx, ocispec.Descriptor{MediaType: d.MediaType, Digest: d.Digest, Size: d.Size})
			if err != nil {
				return nil, fmt.Errorf("checking referrer %s on %s: %w", dg, t.Ref, t.annotate(err))
			}
			if !ok {
				gone[dg] = true
				continue
			}
		}
		missing = append(missing, d)
	}
	return missing, nil
}

// fallbackTag is the OCI referrers tag schema: <alg>-<hex>.
func fallbackTag(d digest.Digest) string {
	return d.Algorithm().String() + "-" + d.Encoded()
}

// IsReferrersTag reports whether tag has the form of a referrers tag
// (the OCI tag schema, <alg>-<hex> of a valid digest): what mirror writes
// into layouts beside the image's own tag, and what no image goes by.
func IsReferrersTag(tag string) bool {
	alg, hex, ok := strings.Cut(tag, "-")
	return ok && digest.Digest(alg+":"+hex).Validate() == nil
}

// pushFallbackIndex writes idx (sorted, each entry once) under the
// referrers tag unless it is old, and returns its digest.
func pushFallbackIndex(ctx context.Context, t *Target, idx ocispec.Index, tag string, old ocispec.Descriptor) (digest.Digest, error) {
	idx.Versioned = specs.Versioned{SchemaVersion: 2}
	idx.MediaType = ocispec.MediaTypeImageIndex
	slices.SortFunc(idx.Manifests, func(a, b ocispec.Descriptor) int { return cmpString(a.Digest.String(), b.Digest.String()) })
	idx.Manifests = slices.CompactFunc(idx.Manifests, func(a, b ocispec.Descriptor) bool { return a.Digest == b.Digest })
	b, err := json.Marshal(idx)
	if err != nil {
		return "", err
	}
	d := content.NewDescriptorFromBytes(ocispec.MediaTypeImageIndex, b)
	if d.Digest == old.Digest {
		return d.Digest, nil
	}
	if err := t.Remote.Manifests().PushReference(ctx, d, bytes.NewReader(b), tag); err != nil {
		return "", fmt.Errorf("updating referrers tag %s on %s: %w", tag, t.Ref, t.annotate(err))
	}
	return d.Digest, nil
}

func cmpString(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
