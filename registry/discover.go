package registry

import (
	"net/url"
	"sync"

	"context"
	"encoding/json"
	"errors"
	"fmt"
	"golang.org/x/sync/errgroup"
	"io"
	"net/http"
	"oras.land/oras-go/v2/registry/remote/auth"
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
	var mu sync.Mutex
	seen := map[string]bool{subject.Digest.String(): true}
	// Children are listed concurrently: a recursive listing is one request
	// per node, and latency, not bandwidth, bounds it. At most 8 requests
	// are in flight; goroutines wait on the semaphore, not on the group,
	// so recursion cannot deadlock.
	sem := make(chan struct{}, 8)
	g, gctx := errgroup.WithContext(ctx)
	var walk func(n *Node, depth int)
	walk = func(n *Node, depth int) {
		if opts.Depth > 0 && depth >= opts.Depth {
			return
		}
		g.Go(func() error {
			select {
			case sem <- struct{}{}:
			case <-gctx.Done():
				return gctx.Err()
			}
			refs, err := Referrers(gctx, t, n.Descriptor, "")
			<-sem
			if err != nil {
				return err
			}
			var children []*Node
			mu.Lock()
			for _, r := range refs {
				if seen[r.Digest.String()] {
					continue
				}
				seen[r.Digest.String()] = true
				children = append(children, &Node{Descriptor: r})
			}
			mu.Unlock()
			n.Referrers = children // n is written by this goroutine only
			for _, c := range children {
				walk(c, depth+1)
			}
			return nil
		})
	}
	walk(root, 0)
	if err := g.Wait(); err != nil {
		return nil, err
	}
	if opts.ArtifactType != "" {
		prune(root, opts.ArtifactType)
	}
	return root, nil
}

// prune keeps referrers of the wanted type and the paths leading to them.
func prune(n *Node, artifactType string) bool {
	kept := n.Referrers[:0]
	for _, c := range n.Referrers {
		if prune(c, artifactType) || c.ArtifactType == artifactType {
			kept = append(kept, c)
		}
	}
	n.Referrers = kept
	return len(kept) > 0
}

// Referrers lists the direct referrers of subject, through the referrers
// API where the registry has it and the referrers tag schema where not.
// A referrers tag that holds anything but an index of referrers is an
// error, never read as an empty list.
func Referrers(ctx context.Context, t *Target, subject ocispec.Descriptor, artifactType string) ([]ocispec.Descriptor, error) {
	if t.Remote != nil {
		probed, hasAPI := t.capability()
		if !probed || hasAPI {
			refs, supported, err := listByAPI(ctx, t, subject, artifactType)
			if err != nil {
				return nil, err
			}
			t.setCapability(supported)
			if supported {
				return sortRefs(filterType(refs, artifactType)), nil
			}
		}
		idx, _, err := fetchFallbackIndex(ctx, t, subject, fallbackTag(subject.Digest))
		if err != nil && !errors.Is(err, ErrNotFound) {
			return nil, err
		}
		return sortRefs(filterType(idx.Manifests, artifactType)), nil
	}
	refs, err := orasreg.Referrers(ctx, t.Store, subject, artifactType)
	if err != nil {
		return nil, fmt.Errorf("listing referrers of %s on %s: %w", subject.Digest, t.Ref, err)
	}
	return sortRefs(filterType(refs, artifactType)), nil
}

// listByAPI lists referrers with the referrers API (distribution-spec
// v1.1.1), following Link pagination up to the page bound and failing
// closed beyond it. supported is false when the registry answers 404 to
// the first page: it has no referrers API. Registries that ignore the
// artifactType filter are filtered by the caller.
func listByAPI(ctx context.Context, t *Target, subject ocispec.Descriptor, artifactType string) (refs []ocispec.Descriptor, supported bool, err error) {
	r := t.Remote
	ctx = auth.AppendRepositoryScope(ctx, r.Reference, auth.ActionPull)
	next := fmt.Sprintf("%s://%s/v2/%s/referrers/%s", scheme(r.PlainHTTP), r.Reference.Host(), r.Reference.Repository, subject.Digest)
	if artifactType != "" {
		next += "?artifactType=" + url.QueryEscape(artifactType)
	}
	for page := 0; next != ""; page++ {
		if page >= r.ReferrerListMaxPages {
			return nil, false, fmt.Errorf("listing referrers of %s on %s: more than %d pages: %w", subject.Digest, t.Ref, r.ReferrerListMaxPages, ErrTooLarge)
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, next, nil)
		if err != nil {
			return nil, false, err
		}
		req.Header.Set("Accept", ocispec.MediaTypeImageIndex)
		resp, err := r.Client.Do(req)
		if err != nil {
			return nil, false, fmt.Errorf("listing referrers of %s on %s: %w", subject.Digest, t.Ref, err)
		}
		page, link, status, err := readReferrersPage(resp)
		if err != nil {
			return nil, false, fmt.Errorf("listing referrers of %s on %s: %w", subject.Digest, t.Ref, err)
		}
		switch {
		case status == http.StatusNotFound && refs == nil:
			return nil, false, nil
		case status == http.StatusUnauthorized || status == http.StatusForbidden:
			return nil, false, fmt.Errorf("listing referrers of %s on %s: %s (credentials tried: %s)", subject.Digest, t.Ref, http.StatusText(status), t.credSource)
		case status != http.StatusOK:
			return nil, false, fmt.Errorf("listing referrers of %s on %s: unexpected %d %s", subject.Digest, t.Ref, status, http.StatusText(status))
		}
		refs = append(refs, page...)
		next = ""
		if link != "" {
			u, err := resp.Request.URL.Parse(link)
			if err != nil {
				return nil, false, fmt.Errorf("listing referrers of %s on %s: bad Link %q", subject.Digest, t.Ref, link)
			}
			next = u.String()
		}
	}
	return refs, true, nil
}

// readReferrersPage reads one page (at most MaxManifestBytes) and its
// rel="next" link.
func readReferrersPage(resp *http.Response) ([]ocispec.Descriptor, string, int, error) {
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16))
		return nil, "", resp.StatusCode, nil
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, ocispec.MediaTypeImageIndex) {
		// Some registries answer unknown paths with 200 and HTML.
		return nil, "", http.StatusNotFound, nil
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, MaxManifestBytes+1))
	if err != nil {
		return nil, "", 0, err
	}
	if len(b) > MaxManifestBytes {
		return nil, "", 0, fmt.Errorf("referrers page %w (over %d bytes)", ErrTooLarge, MaxManifestBytes)
	}
	var idx ocispec.Index
	if err := json.Unmarshal(b, &idx); err != nil {
		return nil, "", 0, fmt.Errorf("referrers page: %v", err)
	}
	return idx.Manifests, nextLink(resp.Header.Get("Link")), http.StatusOK, nil
}

// nextLink extracts the URL of rel="next" from a Link header (RFC 8288).
func nextLink(h string) string {
	for part := range strings.SplitSeq(h, ",") {
		u, params, ok := strings.Cut(strings.TrimSpace(part), ";")
		if !ok || !strings.Contains(strings.ReplaceAll(params, " ", ""), `rel="next"`) {
			continue
		}
		return strings.Trim(strings.TrimSpace(u), "<>")
	}
	return ""
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
		return ocispec.Index{}, ocispec.Descriptor{}, fmt.Errorf("reading referrers tag %s: %w", tag, readError(t, desc, err))
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
