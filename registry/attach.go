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
}

// Attach pushes data unchanged as a blob and an OCI 1.1 image manifest
// (artifactType, empty config, one layer, subject) referring to subject.
// Pushing is idempotent: the manifest digest depends only on the inputs.
func Attach(ctx context.Context, t *Target, subject ocispec.Descriptor, data []byte, opts AttachOptions) (ocispec.Descriptor, error) {
	if opts.ArtifactType == "" || opts.MediaType == "" {
		return ocispec.Descriptor{}, errors.New("attach: artifact type and media type are required")
	}
	title := ""
	if opts.FileName != "" {
		title = filepath.Base(opts.FileName)
	}
	return PushArtifact(ctx, t, ArtifactOptions{
		ArtifactType: opts.ArtifactType,
		Subject:      &subject,
		Layers:       []Layer{NewLayer(opts.MediaType, data, title)},
		Annotations:  opts.Annotations,
	})
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
// read-modify-write (oras-go's, then ours), and a writer that read the index
// before this manifest was added may overwrite it. So after pushing, keep
// reading the tag until it lists this manifest and has stayed the same
// index for several reads spaced by random pauses (no writer is active any
// more); whenever the manifest is missing, add it back.
func ensureInFallbackIndex(ctx context.Context, t *Target, subject, mdesc ocispec.Descriptor) error {
	if t.learnFromPush() {
		return nil
	}
	// Identical reads in a row that end the wait, and the pause between
	// reads: short while no other writer shows up, longer once one has
	// (the pause must outlast a racing writer's read-to-write window).
	quiet, pause, spread := 2, 25, 25
	tag := fallbackTag(subject.Digest)
	stable, last := 0, ocispec.Descriptor{}
	for attempt := 0; attempt < 200 && stable < quiet; attempt++ {
		idx, desc, err := fetchFallbackIndex(ctx, t, subject, tag)
		if err != nil && !errors.Is(err, ErrNotFound) {
			return err
		}
		mine := slices.ContainsFunc(idx.Manifests, func(d ocispec.Descriptor) bool { return d.Digest == mdesc.Digest })
		switch {
		case !mine:
			stable = 0
			quiet, pause, spread = 3, 30, 60
			idx.Manifests = append(idx.Manifests, mdesc)
			if err := pushFallbackIndex(ctx, t, idx, tag, desc); err != nil {
				return err
			}
		case desc.Digest == last.Digest:
			stable++
		default:
			if last.Digest != "" {
				quiet, pause, spread = 3, 30, 60
			}
			stable = 1
		}
		last = desc
		if stable >= quiet {
			break
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Duration(pause+rand.IntN(spread)) * time.Millisecond):
		}
	}
	if stable < quiet {
		return fmt.Errorf("attaching to %s: the referrers tag %s kept changing under concurrent writers", t.Ref, tag)
	}
	return nil
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
