package registry

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"

	"golang.org/x/sync/errgroup"

	"github.com/opencontainers/go-digest"
	specs "github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/content"
	"oras.land/oras-go/v2/errdef"
	"oras.land/oras-go/v2/registry/remote"
	"oras.land/oras-go/v2/registry/remote/errcode"
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
	return pushArtifact(ctx, t, o, subject, nil)
}

// AttachByDigestLoad is AttachByDigest of the document load returns,
// called while the reads that need only the subject are in flight (the
// subject, the referrers tag): reading and checking a large document then
// overlaps them. If load fails, nothing is written and its error is
// returned.
func AttachByDigestLoad(ctx context.Context, t *Target, subject digest.Digest, load func() ([]byte, AttachOptions, error)) (subj, manifest ocispec.Descriptor, err error) {
	return pushArtifact(ctx, t, ArtifactOptions{}, subject, func() (ArtifactOptions, error) {
		data, opts, err := load()
		if err != nil {
			return ArtifactOptions{}, err
		}
		return attachArtifact(data, opts)
	})
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

// pushReferrer pushes manifest d, a referrer of subject, to a registry
// and reports whether the registry has the referrers API. It is always
// pushed (it is small, and the push is idempotent), so that the referrers
// tag update that follows also repairs an attach interrupted before.
// oras-go is kept from updating the referrers tag (its repository for
// this push is told that the registry has the API): updateFallbackIndex
// does that, safely under concurrent writers. What oras-go would learn
// from the response, the OCI-Subject header (the registry indexed the
// subject: OCI distribution spec v1.1.1, "Pushing Manifests with
// Subject"), subjectHeader reads instead.
//
// On a registry without the API the manifest is also pushed under its
// registration tag (registrationTag), which updateFallbackIndex's
// writers read back. That push is the only one once the registry is known
// to lack the API, or when tagSchema says it likely does (the subject's
// referrers tag exists); should the response then show the API after
// all, the referrer is indexed and the registration tag is only a tag
// more.
func pushReferrer(ctx context.Context, t *Target, subject digest.Digest, d ocispec.Descriptor, b []byte, tagSchema bool) (api bool, err error) {
	probed, has := t.capability()
	var indexed atomic.Bool
	r := t.unindexedRepo(subjectHeader{Client: t.Remote.Client, seen: &indexed})
	push := func(tag string) error {
		var err error
		if tag == "" {
			err = r.Manifests().Push(ctx, d, bytes.NewReader(b))
		} else {
			err = r.Manifests().PushReference(ctx, d, bytes.NewReader(b), tag)
		}
		if err != nil && !errors.Is(err, errdef.ErrAlreadyExists) {
			return fmt.Errorf("pushing %s to %s: %w", d.Digest, t.Ref, t.annotate(err))
		}
		return nil
	}
	// The registration tag is needed only without the API (a sha512
	// subject has none: its referrers tag alone is past the tag limit).
	reg, regErr := registrationTag(subject, d.Digest)
	register := func() error {
		if regErr != nil {
			return fmt.Errorf("pushing %s to %s: %w", d.Digest, t.Ref, regErr)
		}
		return push(reg)
	}
	switch {
	case probed && has:
		return true, push("")
	case probed:
		return false, register()
	case tagSchema && regErr == nil:
		if err := push(reg); err != nil {
			return false, err
		}
		t.setCapability(indexed.Load())
		return indexed.Load(), nil
	}
	if err := push(""); err != nil {
		return false, err
	}
	t.setCapability(indexed.Load())
	if indexed.Load() {
		return true, nil
	}
	return false, register()
}

// repoCopy is a repository of the target's registry and name, through
// client, with none of t.Remote's learnt state.
func (t *Target) repoCopy(client remote.Client) *remote.Repository {
	return &remote.Repository{
		Client:           client,
		Reference:        t.Remote.Reference,
		PlainHTTP:        t.Remote.PlainHTTP,
		MaxMetadataBytes: t.Remote.MaxMetadataBytes,
	}
}

// unindexedRepo is repoCopy for manifest pushes that oras-go must not
// index on the client (its repository is told that the registry has the
// referrers API): pushReferrer's, which updateFallbackIndex indexes, and
// the referrers tag's own, whose index names no subject. Through
// t.Remote, oras-go would read such a manifest whole before the push and,
// after it, decode it looking for a subject, with the command waiting:
// for a 150-entry referrers tag, about half of attach's client time
// between the tag's push and the check that follows it (perf).
func (t *Target) unindexedRepo(client remote.Client) *remote.Repository {
	r := t.repoCopy(client)
	r.SkipReferrersGC = true
	r.SetReferrersCapability(true) //nolint:errcheck // a new repository: cannot fail
	return r
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

// Concurrent writers of a referrers tag, on a registry without the
// referrers API. The tag is updated by read-modify-write and distribution
// has no conditional requests, so a writer that read the index before
// another writer's entry was added can overwrite it. No writer can prevent
// that; the protocol below makes the last writer repair it, with no
// waiting and no timing assumption:
//
//  1. Register: before it writes the index, a writer pushes its referrer
//     under a registration tag, <alg>-<subject hex>.<referrer hex>
//     (registrationTag; a tag, so it also keeps the referrer through
//     garbage collection of untagged manifests).
//  2. Write: it reads the index (after registering, or writes it anyway),
//     adds what is missing of what it knows, and writes it.
//  3. Check: after each write it lists the subject's registrations (one
//     page of the tag list, from the referrers tag on: tags are listed in
//     lexical order). If one is not in what it wrote, it fetches that
//     referrer (which must name the subject), reads the index again, and
//     goes back to 2. Otherwise it is done. A writer that finds nothing to
//     add, in an index read after it registered, writes nothing (and checks
//     all the same, see below).
//
// Why no entry is lost: take the last write of the index, by writer L,
// and any writer X whose registration completed at time r. If that write
// came after r, L's check, which follows it, lists X's registration, so
// what L wrote (the final index) lists X. If it came before r, nobody
// wrote after r, X included; so X's read after r listed its entry, and
// the index has not changed since. Each round that does not end the loop
// learns one more registration, so a writer makes at most as many rounds
// as there are registrations. It assumes
//   - a registry that lists and reads back what it acknowledged, a
//     registration tag in its tag list included (distribution's storage
//     does; a registry that caches its tag list may not);
//   - writers that finish their check. One killed or failing after its
//     write may leave an entry out; any later update of the subject's tag
//     (an attach, even of a document already listed, which then writes
//     nothing but still checks) puts it back.
// A concurrent writer that does not register (another tool) can drop an
// entry too, and the next update puts it back; so is an entry another
// tool removed while its manifest and registration stay.

// registrationTag is the registration of referrer with subject: the
// subject's referrers tag (at most 71 characters), a dot, and as much of
// the referrer's hex digest as the 128-character tag limit leaves (56).
func registrationTag(subject, referrer digest.Digest) (string, error) {
	prefix := fallbackTag(subject) + "."
	n := min(len(referrer.Encoded()), maxTagLength-len(prefix))
	if n < minRegistrationHex {
		return "", fmt.Errorf("the digest %s is too long for a registration tag on a registry without the referrers API", subject)
	}
	return prefix + referrer.Encoded()[:n], nil
}

const (
	// maxTagLength: the distribution spec's tag grammar allows 128.
	maxTagLength = 128
	// minRegistrationHex: the least of a referrer's digest a registration
	// tag must name (128 bits).
	minRegistrationHex = 32
	// registrationPage: tags asked for per page of the tag list;
	// maxRegistrationPages bounds the pages read (with maxTags).
	registrationPage     = 1000
	maxRegistrationPages = 1000
	// maxRounds bounds a writer's rounds (see above: one per registration
	// learnt); past it the update fails closed.
	maxRounds = 1000
)

// maxReferrerEntries bounds the registrations a writer reads.
const maxReferrerEntries = 10000

// fallbackRead is one read of a referrers tag: the index (empty when the
// tag does not exist) and the descriptor it resolved to.
type fallbackRead struct {
	idx  ocispec.Index
	desc ocispec.Descriptor
}

func readFallback(ctx context.Context, t *Target, subject ocispec.Descriptor) (*fallbackRead, error) {
	idx, desc, err := fetchFallbackIndex(ctx, t, subject, fallbackTag(subject.Digest))
	if err != nil && !errors.Is(err, ErrNotFound) {
		return nil, err
	}
	return &fallbackRead{idx: idx, desc: desc}, nil
}

// updateFallbackIndex lists entries, referrers of subject already pushed
// by pushReferrer (so registered), in subject's referrers tag on a
// registry without the referrers API, by the protocol above. cur is a read
// of the tag made before the entries were registered, or nil.
func updateFallbackIndex(ctx context.Context, t *Target, subject ocispec.Descriptor, entries []ocispec.Descriptor, cur *fallbackRead) error {
	tag := fallbackTag(subject.Digest)
	fresh := cur == nil // read after the entries were registered
	var err error
	if fresh {
		if cur, err = readFallback(ctx, t, subject); err != nil {
			return err
		}
	}
	known := slices.Clone(entries) // what this writer puts in: its entries, then registrations it found unlisted
	skipped := map[string]bool{}   // registrations that name no referrer of subject
	for round := 0; round < maxRounds; round++ {
		merged, added := mergeEntries(cur.idx.Manifests, known)
		if !added && !fresh {
			// Read before the registration: only a read after it shows
			// that nobody dropped the entries since.
			if cur, err = readFallback(ctx, t, subject); err != nil {
				return err
			}
			fresh = true
			continue
		}
		if added {
			if merged, err = writeFallback(ctx, t, merged, tag, cur.desc); err != nil {
				return err
			}
		}
		// The check. When nothing was written it is not needed for this
		// writer's entries, but it repairs what a writer that stopped
		// before its own check (killed, or failed) may have left.
		regs, err := listRegistrations(ctx, t, subject.Digest)
		if err != nil {
			return err
		}
		listed := listedHex(merged, maxTagLength-len(tag)-1)
		var unlisted []string
		for _, reg := range regs {
			if hex := reg[len(tag)+1:]; !skipped[reg] && !listed[hex] {
				unlisted = append(unlisted, reg)
			}
		}
		if len(unlisted) == 0 {
			return nil
		}
		found, err := fetchRegistered(ctx, t, subject, unlisted, skipped)
		if err != nil {
			return err
		}
		if len(found) == 0 {
			return nil
		}
		known = append(known, found...)
		if len(known)+len(skipped) > maxReferrerEntries {
			return fmt.Errorf("attaching to %s: more than %d referrers registered with %s: %w", t.Ref, maxReferrerEntries, subject.Digest, ErrTooLarge)
		}
		if cur, err = readFallback(ctx, t, subject); err != nil {
			return err
		}
		fresh = true
	}
	return fmt.Errorf("attaching to %s: the referrers tag %s kept changing under concurrent writers for %d rounds", t.Ref, tag, maxRounds)
}

// writeFallback writes entries under the referrers tag and returns what
// it wrote. A registry that checks an index's entries (distribution
// refuses one that lists a manifest it does not have: MANIFEST_BLOB_UNKNOWN)
// refuses the whole index once a listed referrer was deleted without its
// entry (a raw DELETE): the entries whose manifests are gone are then
// dropped, and the write made once more, so that one such deletion does
// not stop every later attach to the subject.
func writeFallback(ctx context.Context, t *Target, entries []ocispec.Descriptor, tag string, old ocispec.Descriptor) ([]ocispec.Descriptor, error) {
	_, err := pushFallbackIndex(ctx, t, entries, tag, old)
	var er *errcode.ErrorResponse
	if err == nil || !errors.As(err, &er) || er.StatusCode != http.StatusBadRequest || !slices.ContainsFunc(er.Errors, func(e errcode.Error) bool { return e.Code == "MANIFEST_BLOB_UNKNOWN" }) {
		return entries, err
	}
	present := make([]bool, len(entries))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(pushJobs)
	for i, d := range entries {
		g.Go(func() error {
			ok, herr := t.Remote.Manifests().Exists(gctx, plainDesc(d))
			present[i] = ok || herr != nil // only what is known to be gone is dropped
			return nil
		})
	}
	g.Wait() //nolint:errcheck // the checks return no error
	kept := make([]ocispec.Descriptor, 0, len(entries))
	for i, d := range entries {
		if present[i] {
			kept = append(kept, d)
		}
	}
	if len(kept) == len(entries) {
		return entries, err
	}
	if _, err := pushFallbackIndex(ctx, t, kept, tag, old); err != nil {
		return nil, err
	}
	return kept, nil
}

// mergeEntries is listed with each of known it lacks, sorted and each
// entry once, and whether any was lacking.
func mergeEntries(listed, known []ocispec.Descriptor) ([]ocispec.Descriptor, bool) {
	have := make(map[digest.Digest]bool, len(listed))
	for _, d := range listed {
		have[d.Digest] = true
	}
	merged := slices.Clone(listed)
	for _, d := range known {
		if !have[d.Digest] {
			have[d.Digest] = true
			merged = append(merged, d)
		}
	}
	return merged, len(merged) > len(listed)
}

// listedHex is the hex digest of each entry cut to n characters, as a
// registration tag carries it.
func listedHex(entries []ocispec.Descriptor, n int) map[string]bool {
	m := make(map[string]bool, len(entries))
	for _, d := range entries {
		hex := d.Digest.Encoded()
		m[hex[:min(n, len(hex))]] = true
	}
	return m
}

// errListed ends a tag listing that has passed the registrations.
var errListed = errors.New("registrations listed")

// listRegistrations lists the registration tags of subject's referrers:
// the tags that begin with its referrers tag and a dot. They are asked for
// from the referrers tag on (`last`), so that on a registry that lists
// tags in lexical order one page usually holds them all; every page is
// searched whole, and one that shows order and has passed them ends the
// listing. Bounded in pages and registrations.
func listRegistrations(ctx context.Context, t *Target, subject digest.Digest) ([]string, error) {
	last := fallbackTag(subject)
	prefix := last + "."
	r := t.repoCopy(t.Remote.Client)
	r.TagListPageSize = registrationPage
	var regs []string
	pages, seen := 0, 0
	err := r.Tags(ctx, last, func(tags []string) error {
		if pages, seen = pages+1, seen+len(tags); seen > maxTags || pages > maxRegistrationPages {
			return fmt.Errorf("more than %d tags or %d pages: %w", maxTags, maxRegistrationPages, ErrTooLarge)
		}
		for _, tag := range tags {
			if strings.HasPrefix(tag, prefix) {
				if len(regs) >= maxReferrerEntries {
					return fmt.Errorf("more than %d referrers registered: %w", maxReferrerEntries, ErrTooLarge)
				}
				regs = append(regs, tag)
			}
		}
		// A page in order, after last, that ends past the registrations:
		// the next pages hold none. (A registry that ignores last, or
		// lists tags in no order, is read to the end.)
		if n := len(tags); n > 0 && slices.IsSorted(tags) && tags[0] > last && tags[n-1] > prefix && !strings.HasPrefix(tags[n-1], prefix) {
			return errListed
		}
		return nil
	})
	switch {
	case err == nil, errors.Is(err, errListed), errors.Is(err, errdef.ErrNotFound):
		return regs, nil
	}
	return nil, fmt.Errorf("listing the referrers registered with %s on %s: %w", subject, t.Ref, t.annotate(err))
}

// fetchRegistered reads the referrers that registration tags name and
// returns the entries of those that name subject. A tag that names
// nothing (its referrer deleted, so detached) or no referrer of subject
// is put in skipped.
func fetchRegistered(ctx context.Context, t *Target, subject ocispec.Descriptor, tags []string, skipped map[string]bool) ([]ocispec.Descriptor, error) {
	found := make([]*ocispec.Descriptor, len(tags))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(pushJobs)
	for i, tag := range tags {
		g.Go(func() error {
			d, err := registeredEntry(gctx, t, subject, tag)
			found[i] = d
			return err
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	var out []ocispec.Descriptor
	for i, d := range found {
		if d == nil {
			skipped[tags[i]] = true
			continue
		}
		out = append(out, *d)
	}
	return out, nil
}

// registeredEntry is the referrers-tag entry of the manifest tag names, or
// nil when it is gone or is no referrer of subject.
func registeredEntry(ctx context.Context, t *Target, subject ocispec.Descriptor, tag string) (*ocispec.Descriptor, error) {
	desc, rc, err := t.Remote.Manifests().FetchReference(ctx, tag)
	if errors.Is(err, errdef.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading registered referrer %s on %s: %w", tag, t.Ref, t.annotate(err))
	}
	defer rc.Close()
	if !strings.HasPrefix(desc.Digest.Encoded(), tag[strings.IndexByte(tag, '.')+1:]) || referrerDescriptorReason(desc) != "" {
		return nil, nil
	}
	b, err := content.ReadAll(rc, desc)
	if err != nil {
		return nil, fmt.Errorf("reading registered referrer %s: %w", tag, readError(t, desc, err))
	}
	m, why := parseReferrer(b, subject)
	if why != "" {
		return nil, nil
	}
	e := ocispec.Descriptor{MediaType: desc.MediaType, Digest: desc.Digest, Size: desc.Size, ArtifactType: m.ArtifactType, Annotations: m.Annotations}
	if e.ArtifactType == "" && desc.MediaType == ocispec.MediaTypeImageManifest {
		e.ArtifactType = m.Config.MediaType // as the referrers API lists it
	}
	return &e, nil
}

// ReferrersTag is subject d's tag in the OCI referrers tag schema:
// <alg>-<ref>, ref its encoded digest cut to 64 characters
// (distribution-spec v1.1, "Referrers Tag Schema"; so sha512-<64 hex>).
func ReferrersTag(d digest.Digest) string {
	hex := d.Encoded()
	return d.Algorithm().String() + "-" + hex[:min(len(hex), maxRefLength)]
}

// maxRefLength: the referrers tag schema's limit on <ref>.
const maxRefLength = 64

func fallbackTag(d digest.Digest) string { return ReferrersTag(d) }

// refLength is the length of <ref> in a referrers tag of algorithm alg,
// 0 for an algorithm this tool does not know.
func refLength(alg string) int {
	switch alg {
	case "sha256":
		return 64
	case "sha384", "sha512":
		return maxRefLength // cut from 96 and 128
	}
	return 0
}

// IsReferrersTag reports whether tag has the form of a referrers tag
// (the OCI tag schema, <alg>-<hex> of a valid digest: what mirror writes
// into layouts beside the image's own tag) or of a referrer's
// registration tag (<alg>-<hex>.<hex>, registrationTag): tags no image
// goes by.
func IsReferrersTag(tag string) bool {
	base, reg, dotted := strings.Cut(tag, ".")
	alg, hex, ok := strings.Cut(base, "-")
	if n := refLength(alg); !ok || n == 0 || len(hex) != n || !isLowerHex(hex) {
		return false
	}
	return !dotted || len(reg) >= minRegistrationHex && isLowerHex(reg)
}

func isLowerHex(s string) bool { return strings.Trim(s, "0123456789abcdef") == "" }

// pushFallbackIndex writes idx (sorted, each entry once) under the
// referrers tag unless it is old, and returns its digest.
func pushFallbackIndex(ctx context.Context, t *Target, entries []ocispec.Descriptor, tag string, old ocispec.Descriptor) (digest.Digest, error) {
	b, d, err := ReferrersIndex(entries)
	if err != nil {
		return "", err
	}
	if d.Digest == old.Digest {
		return d.Digest, nil
	}
	if err := t.unindexedRepo(t.Remote.Client).Manifests().PushReference(ctx, d, bytes.NewReader(b), tag); err != nil {
		return "", fmt.Errorf("updating referrers tag %s on %s: %w", tag, t.Ref, t.annotate(err))
	}
	return d.Digest, nil
}

// ReferrersIndex is the index a referrers tag holds for entries: sorted
// by digest, each once (so the same referrers give the same bytes, in a
// registry, a layout or an export).
func ReferrersIndex(entries []ocispec.Descriptor) ([]byte, ocispec.Descriptor, error) {
	m := slices.Clone(entries)
	if m == nil {
		m = []ocispec.Descriptor{}
	}
	slices.SortFunc(m, func(a, b ocispec.Descriptor) int { return strings.Compare(a.Digest.String(), b.Digest.String()) })
	m = slices.CompactFunc(m, func(a, b ocispec.Descriptor) bool { return a.Digest == b.Digest })
	b, err := json.Marshal(ocispec.Index{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageIndex, Manifests: m})
	if err != nil {
		return nil, ocispec.Descriptor{}, err
	}
	return b, content.NewDescriptorFromBytes(ocispec.MediaTypeImageIndex, b), nil
}
