package registry

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/content"
	"oras.land/oras-go/v2/errdef"
	orasreg "oras.land/oras-go/v2/registry"
)

// Node is one artifact in a referrer graph.
type Node struct {
	ocispec.Descriptor
	Referrers []*Node `json:"referrers,omitempty"`
}

// DiscoverOptions tune Discover.
type DiscoverOptions struct {
	// ArtifactType keeps only referrers of this type (at every level).
	ArtifactType string
	// Depth bounds recursion: 1 lists direct referrers only; 0 means
	// unlimited (cycles are impossible: a manifest names its subject by
	// digest, so a referrer cannot precede its subject).
	Depth int
}

// Discover lists the referrers of subject, recursively, sorted by
// artifact type then digest so output never depends on registry order.
func Discover(ctx context.Context, t *Target, subject ocispec.Descriptor, opts DiscoverOptions) (*Node, error) {
	root := &Node{Descriptor: subject}
	seen := map[string]bool{subject.Digest.String(): true}
	var walk func(n *Node, depth int) error
	walk = func(n *Node, depth int) error {
		if opts.Depth > 0 && depth >= opts.Depth {
			return nil
		}
		refs, err := Referrers(ctx, t, n.Descriptor, "")
		if err != nil {
			return err
		}
		for _, r := range refs {
			if seen[r.Digest.String()] {
				continue
			}
			seen[r.Digest.String()] = true
			child := &Node{Descriptor: r}
			if err := walk(child, depth+1); err != nil {
				return err
			}
			if opts.ArtifactType != "" && r.ArtifactType != opts.ArtifactType && len(child.Referrers) == 0 {
				continue
			}
			n.Referrers = append(n.Referrers, child)
		}
		return nil
	}
	if err := walk(root, 0); err != nil {
		return nil, err
	}
	return root, nil
}

// Referrers lists the direct referrers of subject, through the referrers
// API where the registry has it and the referrers tag schema where not.
// A referrers tag that holds anything but an index of referrers is an
// error, never read as an empty list.
func Referrers(ctx context.Context, t *Target, subject ocispec.Descriptor, artifactType string) ([]ocispec.Descriptor, error) {
	if t.Remote != nil {
		supported, err := referrersAPI(ctx, t, subject)
		if err != nil {
			return nil, err
		}
		if !supported {
			idx, _, err := fetchFallbackIndex(ctx, t, subject, fallbackTag(subject.Digest))
			if err != nil && !errors.Is(err, ErrNotFound) {
				return nil, err
			}
			return sortRefs(filterType(idx.Manifests, artifactType)), nil
		}
	}
	refs, err := orasreg.Referrers(ctx, t.Store, subject, artifactType)
	if err != nil {
		if errors.Is(err, errdef.ErrTooManyPages) {
			return nil, fmt.Errorf("listing referrers of %s on %s: %w", subject.Digest, t.Ref, err)
		}
		return nil, fmt.Errorf("listing referrers of %s on %s: %w", subject.Digest, t.Ref, t.annotate(err))
	}
	// Registries that ignore the artifactType filter (no
	// OCI-Filters-Applied header) are filtered here too.
	return sortRefs(filterType(refs, artifactType)), nil
}

func filterType(refs []ocispec.Descriptor, artifactType string) []ocispec.Descriptor {
	if artifactType == "" {
		return refs
	}
	return slices.DeleteFunc(slices.Clone(refs), func(d ocispec.Descriptor) bool { return d.ArtifactType != artifactType })
}

func sortRefs(refs []ocispec.Descriptor) []ocispec.Descriptor {
	slices.SortFunc(refs, func(a, b ocispec.Descriptor) int {
		if c := strings.Compare(a.ArtifactType, b.ArtifactType); c != 0 {
			return c
		}
		return strings.Compare(a.Digest.String(), b.Digest.String())
	})
	return slices.CompactFunc(refs, func(a, b ocispec.Descriptor) bool { return a.Digest == b.Digest })
}

// referrersAPI probes (once per repository object, as oras-go caches it)
// whether the registry serves the referrers API.
func referrersAPI(ctx context.Context, t *Target, subject ocispec.Descriptor) (bool, error) {
	if t.probed {
		return t.hasAPI, nil
	}
	ok, err := probeReferrersAPI(ctx, t, subject)
	if err != nil {
		return false, err
	}
	t.probed, t.hasAPI = true, ok
	t.Remote.SetReferrersCapability(ok)
	return ok, nil
}

func probeReferrersAPI(ctx context.Context, t *Target, subject ocispec.Descriptor) (bool, error) {
	r := t.Remote
	url := fmt.Sprintf("%s://%s/v2/%s/referrers/%s", scheme(r.PlainHTTP), r.Reference.Host(), r.Reference.Repository, subject.Digest)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return false, err
	}
	resp, err := r.Client.Do(req)
	if err != nil {
		return false, fmt.Errorf("probing the referrers API of %s: %w", t.Ref, err)
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, io.LimitReader(resp.Body, MaxManifestBytes))
	switch {
	case resp.StatusCode == http.StatusOK:
		ct := resp.Header.Get("Content-Type")
		return strings.HasPrefix(ct, ocispec.MediaTypeImageIndex), nil
	case resp.StatusCode == http.StatusNotFound:
		return false, nil
	case resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden:
		return false, fmt.Errorf("probing the referrers API of %s: %s (credentials tried: %s)", t.Ref, resp.Status, t.credSource)
	}
	return false, fmt.Errorf("probing the referrers API of %s: unexpected %s", t.Ref, resp.Status)
}

func scheme(plain bool) string {
	if plain {
		return "http"
	}
	return "https"
}

// fetchFallbackIndex reads the referrers tag. It refuses a tag that
// resolves to anything but an image index of referrers of subject.
func fetchFallbackIndex(ctx context.Context, t *Target, subject ocispec.Descriptor, tag string) (ocispec.Index, ocispec.Descriptor, error) {
	desc, rc, err := t.Remote.Manifests().FetchReference(ctx, tag)
	if err != nil {
		if errors.Is(err, errdef.ErrNotFound) {
			return ocispec.Index{}, ocispec.Descriptor{}, ErrNotFound
		}
		return ocispec.Index{}, ocispec.Descriptor{}, fmt.Errorf("reading referrers tag %s on %s: %w", tag, t.Ref, t.annotate(err))
	}
	defer rc.Close()
	if desc.MediaType != ocispec.MediaTypeImageIndex || desc.Digest == subject.Digest {
		return ocispec.Index{}, ocispec.Descriptor{}, fmt.Errorf("%w %s on %s: it resolves to %s %s, not an index of referrers (refusing to read it as one)", ErrFallbackIndex, tag, t.Ref, desc.MediaType, desc.Digest)
	}
	if desc.Size > MaxManifestBytes {
		return ocispec.Index{}, ocispec.Descriptor{}, fmt.Errorf("referrers tag %s on %s: %w (%d bytes)", tag, t.Ref, ErrTooLarge, desc.Size)
	}
	b, err := content.ReadAll(rc, desc)
	if err != nil {
		return ocispec.Index{}, ocispec.Descriptor{}, fmt.Errorf("reading referrers tag %s on %s: %w: %v", tag, t.Ref, ErrDigestMismatch, err)
	}
	var idx ocispec.Index
	if err := json.Unmarshal(b, &idx); err != nil {
		return ocispec.Index{}, ocispec.Descriptor{}, fmt.Errorf("%w %s on %s: %v", ErrFallbackIndex, tag, t.Ref, err)
	}
	for _, m := range idx.Manifests {
		if m.Digest == subject.Digest {
			return ocispec.Index{}, ocispec.Descriptor{}, fmt.Errorf("%w %s on %s: the index lists the subject itself", ErrFallbackIndex, tag, t.Ref)
		}
	}
	return idx, desc, nil
}
