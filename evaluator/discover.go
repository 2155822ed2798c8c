package evaluator

import (
	"context"
	"fmt"
	"slices"
	"strings"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"golang.org/x/sync/errgroup"

	"github.com/stella-ops/stella-oras/artifacts"
	"github.com/stella-ops/stella-oras/engine"
	"github.com/stella-ops/stella-oras/registry"
	"github.com/stella-ops/stella-oras/verify"
)

// Document kinds found on an image.
const (
	kindSBOM  = "sbom"
	kindVEX   = "vex"
	kindReach = "reach"
)

// kindOf classifies a referrer's artifact type.
func kindOf(artifactType string) string {
	switch artifactType {
	case "application/vnd.cyclonedx+json", "application/spdx+json", "text/spdx+json", "application/vnd.spdx+json":
		return kindSBOM
	case "application/vnd.openvex+json", "application/vnd.cyclonedx.vex+json", "application/csaf+json":
		return kindVEX
	case "application/vnd.stellaops.reach-graph.v1+json", "application/vnd.stellaops.govulncheck-stream.v1+json":
		return kindReach
	}
	return ""
}

// kindOfPredicate classifies an attestation's predicate type: cosign
// attest --type cyclonedx|spdxjson|openvex and their URIs.
func kindOfPredicate(pt string) string {
	switch {
	case strings.HasPrefix(pt, "https://cyclonedx.org/bom"), strings.HasPrefix(pt, "https://spdx.dev/Document"):
		return kindSBOM
	case strings.HasPrefix(pt, "https://openvex.dev/ns"):
		return kindVEX
	}
	return ""
}

// Candidate is one document found on the image.
type Candidate struct {
	Kind string `json:"kind"`
	// Referrer is the artifact (or attestation bundle) manifest.
	Referrer ocispec.Descriptor `json:"referrer"`
	// Layer is the document's blob (for an attestation: the bundle's).
	Layer ocispec.Descriptor `json:"layer"`
	// Stored is the digest of the document's bytes.
	Stored string `json:"stored"`
	// Signed says a trusted key signed the document (an attestation that
	// verifies, or a bundle referring to the artifact); SignedBy names it.
	Signed   bool   `json:"signed"`
	SignedBy string `json:"signed_by,omitempty"`
	// Created is the manifest's org.opencontainers.image.created, if any.
	Created string `json:"created,omitempty"`
	data    []byte
	media   string
	// load reads data for a plain referrer: documents are fetched only
	// once they are needed (on a cache miss), never for a cache hit.
	load func(context.Context) ([]byte, error)
}

// fetch reads the document's bytes unless discovery already has them.
func (c *Candidate) fetch(ctx context.Context) error {
	if c.data != nil || c.load == nil {
		return nil
	}
	data, err := c.load(ctx)
	if err != nil {
		return err
	}
	c.data = data
	return nil
}

// maxReferrers bounds how many referrers of one image are examined: an
// image with more is refused rather than walked without end.
const maxReferrers = 1000

// discover lists the image's referrers and reads the documents the
// evaluation can use: SBOMs, VEX and reachability, plain or as
// attestations, each marked signed when a bundle under trust covers it.
// Results are sorted by referrer digest: nothing depends on listing order.
//
// listing, when set, waits for a listing of subject's referrers already
// under way; listed, when set, is told the verdicts and bundles listed
// before the documents are read.
func discover(ctx context.Context, t *registry.Target, subject ocispec.Descriptor, trust Trust, jobs int, listing func() ([]ocispec.Descriptor, error), listed func(verdicts, bundles []ocispec.Descriptor)) (*discovered, error) {
	if listing == nil {
		listing = func() ([]ocispec.Descriptor, error) { return registry.Referrers(ctx, t, subject, "") }
	}
	refs, err := listing()
	if err != nil {
		return nil, err
	}
	if len(refs) > maxReferrers {
		return nil, fmt.Errorf("%s: %d referrers, more than the %d examined: %w", t.Ref, len(refs), maxReferrers, registry.ErrTooLarge)
	}
	var docs, bundles, verdicts []ocispec.Descriptor
	for _, r := range refs {
		switch {
		case kindOf(r.ArtifactType) != "":
			docs = append(docs, r)
		case r.ArtifactType == artifacts.MediaTypeSigstoreBundle:
			bundles = append(bundles, r)
		case r.ArtifactType == artifacts.MediaTypeVerdict:
			verdicts = append(verdicts, r)
		}
	}
	if listed != nil {
		listed(verdicts, bundles)
	}
	out := make([]*Candidate, len(docs)+len(bundles))
	var g errgroup.Group
	g.SetLimit(jobsOr(jobs))
	for i, r := range docs {
		g.Go(func() error {
			c, err := plainCandidate(ctx, t, subject, r, trust)
			out[i] = c
			return err
		})
	}
	for i, r := range bundles {
		g.Go(func() error {
			out[len(docs)+i] = attestedCandidate(ctx, t, subject, r, trust)
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	cands := slices.DeleteFunc(out, func(c *Candidate) bool { return c == nil })
	slices.SortFunc(cands, func(a, b *Candidate) int {
		return strings.Compare(a.Referrer.Digest.String(), b.Referrer.Digest.String())
	})
	if bundles == nil {
		bundles = []ocispec.Descriptor{} // listed: none (nil would list again)
	}
	return &discovered{candidates: cands, verdicts: verdicts, bundles: bundles}, nil
}

// discovered is what one listing of an image's referrers gives.
type discovered struct {
	candidates []*Candidate
	verdicts   []ocispec.Descriptor
	bundles    []ocispec.Descriptor
}

// jobsOr is n, or defaultJobs when n is not positive.
func jobsOr(n int) int {
	if n <= 0 {
		return defaultJobs
	}
	return n
}

// plainCandidate reads a plain document referrer: one layer. It is signed
// when a Sigstore bundle referring to the artifact verifies under trust.
func plainCandidate(ctx context.Context, t *registry.Target, subject, r ocispec.Descriptor, trust Trust) (*Candidate, error) {
	m, _, err := registry.FetchManifest(ctx, t, r)
	if err != nil {
		return nil, err
	}
	if m.Subject == nil || m.Subject.Digest != subject.Digest {
		return nil, nil // listed, but not a referrer of this image: not read
	}
	if len(m.Layers) != 1 {
		return nil, nil // not a single-document artifact: not ours to read
	}
	l := m.Layers[0]
	kind := kindOf(r.ArtifactType)
	if l.Size > load64(kind) {
		return nil, fmt.Errorf("%s referrer %s: layer of %d bytes: %w", kind, r.Digest, l.Size, registry.ErrTooLarge)
	}
	c := &Candidate{Kind: kind, Referrer: r, Layer: l, Stored: l.Digest.String(), Created: m.Annotations[ocispec.AnnotationCreated], media: l.MediaType,
		load: func(ctx context.Context) ([]byte, error) { return registry.FetchBlob(ctx, t, l, load64(kind)) }}
	if len(trust.Keys) > 0 {
		sigs, err := registry.Referrers(ctx, t, r, artifacts.MediaTypeSigstoreBundle)
		if err != nil {
			return nil, err
		}
		for _, b := range fetchBundles(ctx, t, sigs, 1) {
			if b.Err != nil {
				continue
			}
			if _, signer, err := verifyOne(b.Name, b.Data, trust, r.Digest.String()); err == nil {
				c.Signed, c.SignedBy = true, signer
				break
			}
		}
	}
	return c, nil
}

// attestedCandidate reads an attestation bundle on the image whose
// predicate is an SBOM or VEX document. It counts only when it verifies
// under trust; an unverifiable one is listed unsigned (its predicate is
// not trusted, but an SBOM still describes the image).
func attestedCandidate(ctx context.Context, t *registry.Target, subject, r ocispec.Descriptor, trust Trust) *Candidate {
	kind := kindOfPredicate(r.Annotations[artifacts.AnnotationBundlePredicateType])
	if kind == "" {
		return nil
	}
	m, _, err := registry.FetchManifest(ctx, t, r)
	if err != nil || len(m.Layers) != 1 || m.Subject == nil || m.Subject.Digest != subject.Digest {
		return nil
	}
	data, err := registry.FetchBlob(ctx, t, m.Layers[0], verify.MaxBundleBytes)
	if err != nil {
		return nil
	}
	st, err := statementOf(data)
	if err != nil || kindOfPredicate(st.PredicateType) != kind {
		return nil
	}
	doc := []byte(st.Predicate)
	c := &Candidate{Kind: kind, Referrer: r, Layer: m.Layers[0], Stored: canonContentID(doc), data: doc, media: detectMediaType(doc)}
	if _, signer, err := verifyOne(r.Digest.String(), data, trust, subject.Digest.String()); err == nil {
		c.Signed, c.SignedBy = true, signer
	}
	return c
}

func load64(kind string) int64 {
	if kind == kindReach {
		return MaxReachBytes
	}
	return MaxVEXBytes
}

// chooseSBOM applies the SBOM choice rule (README, "Which SBOM"):
//  1. an explicit digest (the referrer manifest's, or its layer's) wins;
//  2. otherwise signed SBOMs beat unsigned ones;
//  3. then the latest org.opencontainers.image.created, when every
//     remaining candidate has one and one is strictly latest;
//  4. then candidates whose bytes are identical count as one.
//
// Anything still tied is ambiguous: the error lists the candidates.
func chooseSBOM(cands []*Candidate, want string) (*Candidate, string, error) {
	var sboms []*Candidate
	for _, c := range cands {
		if c.Kind == kindSBOM {
			sboms = append(sboms, c)
		}
	}
	if want != "" {
		for _, c := range sboms {
			if c.Referrer.Digest.String() == want || c.Stored == want {
				return c, "given by digest", nil
			}
		}
		return nil, "", fmt.Errorf("%w: no SBOM referrer or layer has digest %s (found %s)", ErrNoSBOM, want, listCandidates(sboms))
	}
	switch len(sboms) {
	case 0:
		return nil, "", fmt.Errorf("%w: the image has no SBOM referrer (CycloneDX or SPDX, plain or attested)", ErrNoSBOM)
	case 1:
		return sboms[0], "the only SBOM", nil
	}
	rest, why := sboms, ""
	if signed := filter(rest, func(c *Candidate) bool { return c.Signed }); len(signed) > 0 && len(signed) < len(rest) {
		rest, why = signed, "signed"
	}
	if len(rest) > 1 && !slices.ContainsFunc(rest, func(c *Candidate) bool { return c.Created == "" }) {
		latest := slices.MaxFunc(rest, func(a, b *Candidate) int { return strings.Compare(a.Created, b.Created) })
		if n := len(filter(rest, func(c *Candidate) bool { return c.Created == latest.Created })); n == 1 {
			rest, why = []*Candidate{latest}, joinWhy(why, "latest created")
		}
	}
	if len(rest) > 1 && !slices.ContainsFunc(rest, func(c *Candidate) bool { return c.Stored != rest[0].Stored }) {
		rest, why = rest[:1], joinWhy(why, "identical copies")
	}
	if len(rest) == 1 {
		return rest[0], why, nil
	}
	return nil, "", fmt.Errorf("%w: %d SBOMs and no rule settles it (%s); choose one with --sbom DIGEST", ErrAmbiguousSBOM, len(rest), listCandidates(rest))
}

func joinWhy(a, b string) string {
	if a == "" {
		return b
	}
	return a + ", " + b
}

func filter(cs []*Candidate, keep func(*Candidate) bool) []*Candidate {
	var out []*Candidate
	for _, c := range cs {
		if keep(c) {
			out = append(out, c)
		}
	}
	return out
}

func listCandidates(cs []*Candidate) string {
	if len(cs) == 0 {
		return "none"
	}
	var s []string
	for _, c := range cs {
		x := c.Referrer.Digest.String()
		if c.Signed {
			x += " signed"
		}
		if c.Created != "" {
			x += " created " + c.Created
		}
		s = append(s, x)
	}
	return strings.Join(s, "; ")
}

// splitVEX separates the VEX found on the image into trusted documents
// (signed under trust; read later, on a cache miss) and ignored ones
// (recorded with a reason).
func splitVEX(cands []*Candidate) (trusted []*Candidate, ignored []artifacts.IgnoredInput) {
	seen := map[string]bool{}
	for _, c := range cands {
		if c.Kind != kindVEX || seen[c.Stored] {
			continue
		}
		seen[c.Stored] = true
		if c.Signed {
			trusted = append(trusted, c)
		} else {
			ignored = append(ignored, artifacts.IgnoredInput{Stored: c.Stored, Reason: engine.ReasonVEXUntrusted})
		}
	}
	return trusted, ignored
}

// chooseReach picks the image's reachability evidence: the signed one if
// only one is signed, else the only one; several unsigned are ambiguous.
func chooseReach(cands []*Candidate) (*Candidate, error) {
	rs := filter(cands, func(c *Candidate) bool { return c.Kind == kindReach })
	if signed := filter(rs, func(c *Candidate) bool { return c.Signed }); len(signed) == 1 {
		return signed[0], nil
	}
	rs = slices.CompactFunc(rs, func(a, b *Candidate) bool { return a.Stored == b.Stored })
	switch len(rs) {
	case 0:
		return nil, nil
	case 1:
		return rs[0], nil
	}
	return nil, fmt.Errorf("%d reachability referrers (%s); give one with --reachability", len(rs), listCandidates(rs))
}
