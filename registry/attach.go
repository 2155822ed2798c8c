package registry

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"time"

	"github.com/opencontainers/go-digest"
	specs "github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/content"
	"oras.land/oras-go/v2/errdef"
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
	title := ""
	if opts.FileName != "" {
		title = filepath.Base(opts.FileName)
	}
	return ArtifactOptions{
		ArtifactType: opts.ArtifactType,
		Layers:       []Layer{NewLayer(opts.MediaType, data, title)},
		Annotations:  opts.Annotations,
		KeepTag:      opts.KeepTag,
	}, nil
}

func pushIfAbsent(ctx context.Context, t *Target, d ocispec.Descriptor, data []byte) error {
	if ok, err := t.Store.Exists(ctx, d); err == nil && ok {
		return nil
	}
	err := t.Store.Push(ctx, d, bytes.NewReader(data))
	if err != nil && !errors.Is(err, errdef.ErrAlreadyExists) {
		return fmt.Errorf("pushing %s to %s: %w", d.Digest, t.Ref, t.annotate(err))
	}
	return nil
}

// ensureInFallbackIndex makes concurrent attaches safe on registries
// without the referrers API. The referrers tag is updated by
// read-modify-write (oras-go's, then ours) and distribution has no
// conditional requests, so a writer that read the index before another
// writer's entry was added can overwrite it. No writer can prevent that;
// each one detects and repairs it before it returns:
//
//   - it keeps reading the tag until the index lists its manifest and has
//     stayed the same for several reads in a row, spaced by pauses that are
//     a multiple of the slowest round trip it measured (a racing writer's
//     read-to-write window is about one round trip, so a quiet spell longer
//     than several of them means no stale write is still in flight);
//   - it remembers every entry it has seen listed, and when one disappears
//     while its manifest still exists (a stale overwrite, not a detach), it
//     puts it back along with its own. Every writer still running thus
//     repairs the entries of writers that have already returned.
//
// It fails closed, saying so, when the tag never settles.
func ensureInFallbackIndex(ctx context.Context, t *Target, subject, mdesc ocispec.Descriptor) error {
	if t.learnFromPush() {
		return nil
	}
	const quiet, maxRounds = 3, 400
	tag := fallbackTag(subject.Digest)
	seen := map[digest.Digest]ocispec.Descriptor{mdesc.Digest: mdesc}
	gone := map[digest.Digest]bool{} // seen entries whose manifest no longer exists
	var slowest time.Duration
	stable, last := 0, digest.Digest("")
	for round := 0; round < maxRounds; round++ {
		began := time.Now()
		idx, desc, err := fetchFallbackIndex(ctx, t, subject, tag)
		if err != nil && !errors.Is(err, ErrNotFound) {
			return err
		}
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
		switch {
		case len(missing) > 0:
			stable = 0
			idx.Manifests = append(idx.Manifests, missing...)
			if err := pushFallbackIndex(ctx, t, idx, tag, desc); err != nil {
				return err
			}
		case desc.Digest == last:
			stable++
		default:
			stable = 1
		}
		last = desc.Digest
		if rtt := time.Since(began); rtt > slowest {
			slowest = rtt
		}
		if stable >= quiet {
			return nil
		}
		pause := max(20*time.Millisecond, 2*slowest)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(pause + rand.N(pause)):
		}
	}
	return fmt.Errorf("attaching to %s: the referrers tag %s kept changing under concurrent writers for %d reads", t.Ref, tag, maxRounds)
}

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

func pushFallbackIndex(ctx context.Context, t *Target, idx ocispec.Index, tag string, old ocispec.Descriptor) error {
	idx.Versioned = specs.Versioned{SchemaVersion: 2}
	idx.MediaType = ocispec.MediaTypeImageIndex
	slices.SortFunc(idx.Manifests, func(a, b ocispec.Descriptor) int { return cmpString(a.Digest.String(), b.Digest.String()) })
	idx.Manifests = slices.CompactFunc(idx.Manifests, func(a, b ocispec.Descriptor) bool { return a.Digest == b.Digest })
	b, err := json.Marshal(idx)
	if err != nil {
		return err
	}
	d := content.NewDescriptorFromBytes(ocispec.MediaTypeImageIndex, b)
	if d.Digest == old.Digest {
		return nil
	}
	if err := t.Remote.Manifests().PushReference(ctx, d, bytes.NewReader(b), tag); err != nil {
		return fmt.Errorf("updating referrers tag %s on %s: %w", tag, t.Ref, err)
	}
	return nil
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
