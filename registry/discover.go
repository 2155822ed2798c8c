package registry

import (
	"net/url"
	"sync/atomic"

	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"

	"golang.org/x/sync/errgroup"
	"oras.land/oras-go/v2/registry/remote/auth"

	digest "github.com/opencontainers/go-digest"
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
	// Depth bounds recursion: 1 lists direct referrers only, and deeper
	// levels are not followed. 0 means "all", within DefaultMaxDepth: a
	// graph deeper than that is an error (fail closed), as is one of more
	// than MaxNodes nodes.
	Depth int
	// MaxNodes bounds the referrers listed in all; 0 means
	// DefaultMaxNodes.
	MaxNodes int
	// OnDrop, when set, is told of each listed referrer that was dropped
	// because its manifest does not name the node it was listed under as
	// its subject (a lying registry or a stale referrers tag).
	OnDrop func(parent, referrer ocispec.Descriptor, reason string)
	// Checked, when set, is asked of each node's listing (its digest: see
	// ListingDigest) whether it was seen, and its referrers checked, in
	// an earlier walk; if so their manifests are not read again to check
	// they name the node (the same digests are the same manifests). A
	// rerun over an unchanged graph then costs one request per node.
	Checked func(parent ocispec.Descriptor, listing digest.Digest) bool
	// Strict fails the walk when a listed referrer's manifest cannot be
	// read (the registry lists what it cannot serve), instead of dropping
	// it with OnDrop: a mirror must not complete without it.
	Strict bool
	// OnManifest, when set, is given each referrer manifest read to check
	// its subject (verified against its descriptor), so a caller that
	// needs it next does not read it again. Calls may be concurrent.
	OnManifest func(d ocispec.Descriptor, b []byte)
	// OnListing, when set, is told each node's listing digest once its
	// referrers have been checked and every one named the node.
	OnListing func(parent ocispec.Descriptor, listing digest.Digest)
}

// ListingDigest identifies a node's referrer listing: the SHA-256 of the
// JSON of its descriptors in Referrers' order (artifact type, digest).
// Any referrer added, removed or re-annotated changes it.
func ListingDigest(refs []ocispec.Descriptor) digest.Digest {
	b, _ := json.Marshal(refs)
	return digest.FromBytes(b)
}

// Bounds of an unbounded (Depth 0) discovery. Real graphs are a few levels
// deep (image, attestation, its signature) and hundreds of nodes.
const (
	DefaultMaxDepth = 16
	DefaultMaxNodes = 10000
	discoverJobs    = 8
)

// ErrGraphTooLarge: a referrer graph exceeds Discover's bounds.
var ErrGraphTooLarge = errors.New("referrer graph too large")

// Discover lists the referrers of subject, level by level, sorted by
// artifact type then digest so output never depends on registry order.
//
// Every listed referrer's manifest is read and must name the node it was
// listed under as its subject; one that does not is dropped (OnDrop).
// Each level is listed discoverJobs requests at a time from this
// goroutine, so neither goroutines nor memory grow with the graph beyond
// MaxNodes; a registry that invents referrers without end hits a bound
// and the walk fails saying which.
func Discover(ctx context.Context, t *Target, subject ocispec.Descriptor, opts DiscoverOptions) (*Node, error) {
	maxNodes := opts.MaxNodes
	if maxNodes <= 0 {
		maxNodes = DefaultMaxNodes
	}
	maxDepth, strict := opts.Depth, false
	if maxDepth <= 0 {
		maxDepth, strict = DefaultMaxDepth, true
	}
	root := &Node{Descriptor: subject}
	seen := map[string]bool{subject.Digest.String(): true}
	level := []*Node{root}
	nodes := 0
	var listedTotal atomic.Int64 // every descriptor listed, kept or not
	for depth := 0; len(level) > 0; depth++ {
		if depth >= maxDepth {
			if !strict {
				break
			}
			return nil, fmt.Errorf("%s: %w: deeper than %d levels (give --depth to list fewer)", t.Ref, ErrGraphTooLarge, maxDepth)
		}
		listed := make([][]*Node, len(level))
		err := forEach(ctx, len(level), discoverJobs, func(ctx context.Context, i int) error {
			refs, err := Referrers(ctx, t, level[i].Descriptor, "")
			if err != nil {
				return err
			}
			// Counted as listed, before any is checked or kept, so a
			// level of invented referrers cannot grow past the bound.
			if total := listedTotal.Add(int64(len(refs))); total > int64(maxNodes) {
				return fmt.Errorf("%s: %w: more than %d referrers in all", t.Ref, ErrGraphTooLarge, maxNodes)
			}
			kept := make([]*Node, len(refs))
			for j, r := range refs {
				kept[j] = &Node{Descriptor: r}
			}
			listed[i] = kept
			return nil
		})
		if err != nil {
			return nil, err
		}
		// Each listed referrer's manifest must name its parent: checked
		// for the whole level, discoverJobs at a time.
		dropped := make([][]string, len(level))
		listings := make([]digest.Digest, len(level))
		checked := make([]bool, len(level))
		for i, n := range level {
			dropped[i] = make([]string, len(listed[i]))
			if opts.Checked != nil || opts.OnListing != nil {
				refs := make([]ocispec.Descriptor, len(listed[i]))
				for j, c := range listed[i] {
					refs[j] = c.Descriptor
				}
				listings[i] = ListingDigest(refs)
				checked[i] = opts.Checked != nil && opts.Checked(n.Descriptor, listings[i])
			}
		}
		type pair struct{ i, j int }
		var checks []pair
		for i := range level {
			if checked[i] {
				continue
			}
			for j := range listed[i] {
				checks = append(checks, pair{i, j})
			}
		}
		err = forEach(ctx, len(checks), discoverJobs, func(ctx context.Context, k int) error {
			i, j := checks[k].i, checks[k].j
			n, c := level[i], listed[i][j]
			var b []byte
			dropped[i][j], b = namesSubject(ctx, t, c.Descriptor, n.Descriptor)
			if opts.Strict && strings.HasPrefix(dropped[i][j], unreadable) {
				return fmt.Errorf("%s: referrer %s of %s is listed but cannot be read: %s", t.Ref, c.Digest, n.Digest, strings.TrimPrefix(dropped[i][j], unreadable))
			}
			if dropped[i][j] == "" && opts.OnManifest != nil {
				opts.OnManifest(c.Descriptor, b)
			}
			return ctx.Err()
		})
		if err != nil {
			return nil, err
		}
		for i, n := range level {
			all := len(listed[i])
			kept := listed[i][:0]
			for j, c := range listed[i] {
				if why := dropped[i][j]; why != "" {
					if opts.OnDrop != nil {
						opts.OnDrop(n.Descriptor, c.Descriptor, why)
					}
					continue
				}
				kept = append(kept, c)
			}
			listed[i] = kept
			// Only a listing whose every referrer named the node counts
			// as checked: one with a dropped referrer is checked again.
			if opts.OnListing != nil && len(kept) == all {
				opts.OnListing(n.Descriptor, listings[i])
			}
		}
		var next []*Node
		for i, n := range level {
			for _, c := range listed[i] {
				if seen[c.Digest.String()] {
					continue
				}
				seen[c.Digest.String()] = true
				if nodes++; nodes > maxNodes {
					return nil, fmt.Errorf("%s: %w: more than %d referrers in all", t.Ref, ErrGraphTooLarge, maxNodes)
				}
				n.Referrers = append(n.Referrers, c)
				next = append(next, c)
			}
		}
		level = next
	}
	if opts.ArtifactType != "" {
		prune(root, opts.ArtifactType)
	}
	return root, nil
}

// forEach runs fn(ctx, i) for i in [0, n), jobs at a time, on at most
// jobs goroutines that each take the next i: a goroutine a call (errgroup's
// Go) grew a fresh stack for every HTTP request. In a mirror rerun (1,020
// listings) stack growth fell from 8.5 % of the client's CPU samples to
// 5.2 %. The first error cancels ctx for the others and is returned.
func forEach(ctx context.Context, n, jobs int, fn func(ctx context.Context, i int) error) error {
	g, gctx := errgroup.WithContext(ctx)
	var next atomic.Int64
	for range min(n, jobs) {
		g.Go(func() error {
			for {
				i := int(next.Add(1) - 1)
				if i >= n || gctx.Err() != nil {
					return gctx.Err()
				}
				if err := fn(gctx, i); err != nil {
					return err
				}
			}
		})
	}
	return g.Wait()
}

// namesSubject reads a listed referrer's manifest and says why it is not
// a referrer of parent ("" when it is).
func namesSubject(ctx context.Context, t *Target, r, parent ocispec.Descriptor) (string, []byte) {
	if why := referrerDescriptorReason(r); why != "" {
		return why, nil
	}
	rc, err := t.Store.Fetch(ctx, r)
	if err != nil {
		return unreadable + err.Error(), nil
	}
	defer rc.Close()
	b, err := content.ReadAll(rc, r)
	if err != nil {
		return unreadable + err.Error(), nil
	}
	if _, why := parseReferrer(b, parent); why != "" {
		return why, nil
	}
	return "", b
}

// referrerDescriptorReason says why a listed descriptor cannot be a
// referrer's manifest ("" when it can): not an OCI manifest or index, or
// larger than a manifest may be.
func referrerDescriptorReason(r ocispec.Descriptor) string {
	if r.MediaType != ocispec.MediaTypeImageManifest && r.MediaType != ocispec.MediaTypeImageIndex {
		return fmt.Sprintf("media type %q is not a manifest", r.MediaType)
	}
	if r.Size > MaxManifestBytes {
		return fmt.Sprintf("manifest of %d bytes", r.Size)
	}
	return ""
}

// referrerManifest is what a referrer's manifest says of itself.
type referrerManifest struct {
	ArtifactType string              `json:"artifactType"`
	Config       ocispec.Descriptor  `json:"config"`
	Subject      *ocispec.Descriptor `json:"subject"`
	Annotations  map[string]string   `json:"annotations"`
}

// parseReferrer reads a referrer's manifest and says why it is not a
// referrer of parent ("" when it is).
func parseReferrer(b []byte, parent ocispec.Descriptor) (referrerManifest, string) {
	var m referrerManifest
	if err := json.Unmarshal(b, &m); err != nil {
		return m, "not a manifest: " + err.Error()
	}
	if m.Subject == nil || m.Subject.Digest != parent.Digest {
		return m, "its manifest does not name " + parent.Digest.String() + " as its subject"
	}
	return m, ""
}

// unreadable begins namesSubject's reason for a manifest it could not read.
const unreadable = "unreadable: "

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
			// Only the same origin (scheme, host and port) is followed:
			// a page may not send the client, and its credentials, to
			// another host, nor downgrade HTTPS to HTTP.
			if from := resp.Request.URL; u.Scheme != from.Scheme || u.Host != from.Host {
				return nil, false, fmt.Errorf("listing referrers of %s on %s: %w: the next page's Link leaves %s://%s for %s://%s", subject.Digest, t.Ref, ErrCrossOrigin, from.Scheme, from.Host, u.Scheme, u.Host)
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

// errNotIndex: a referrers tag resolves to something that is no index of
// referrers (the subject itself, or not an index at all).
var errNotIndex = errors.New("not an index of referrers")

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
	if !mayBeReferrersIndex(desc, subject.Digest) {
		return ocispec.Index{}, ocispec.Descriptor{}, fmt.Errorf("%w %s on %s: it resolves to %s %s, %w", ErrFallbackIndex, tag, t.Ref, desc.MediaType, desc.Digest, errNotIndex)
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
	if listsSubject(idx, subject.Digest) {
		return ocispec.Index{}, ocispec.Descriptor{}, fmt.Errorf("%w %s on %s: the index lists the subject itself", ErrFallbackIndex, tag, t.Ref)
	}
	return idx, desc, nil
}

// mayBeReferrersIndex reports whether what subject's referrers tag names
// (desc) can be an index of its referrers: an image index, not the
// subject itself.
func mayBeReferrersIndex(desc ocispec.Descriptor, subject digest.Digest) bool {
	return desc.MediaType == ocispec.MediaTypeImageIndex && desc.Digest != subject
}

// listsSubject reports whether idx lists subject itself: then it is no
// index of subject's referrers.
func listsSubject(idx ocispec.Index, subject digest.Digest) bool {
	return slices.ContainsFunc(idx.Manifests, func(m ocispec.Descriptor) bool { return m.Digest == subject })
}
