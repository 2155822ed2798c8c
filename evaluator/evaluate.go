package evaluator

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"golang.org/x/sync/errgroup"

	"github.com/stella-ops/stella-oras/artifacts"
	"github.com/stella-ops/stella-oras/bundle"
	"github.com/stella-ops/stella-oras/canon"
	"github.com/stella-ops/stella-oras/engine"
	"github.com/stella-ops/stella-oras/engine/delta"
	"github.com/stella-ops/stella-oras/engine/policy"
	"github.com/stella-ops/stella-oras/registry"
)

// Tag prefixes that keep what evaluate pushes through garbage collection
// on registries without the referrers API (registry.KeepTagFor).
const (
	KeepTagVerdict = "stella-verdict"
	KeepTagDelta   = "stella-delta"
	KeepTagBundle  = "stella-bundle"
)

// Verdict states (README, "Verdict states").
const (
	StateComputed = "computed" // evaluated now, pushed and signed
	StateCached   = "cached"   // a verified verdict with the same cache key was reused
	StateStale    = "stale"    // the feed has a newer epoch, or the signer is revoked
	StateUnknown  = "unknown"  // no bundle, or none that verifies
)

// EvaluateOptions configure Evaluate. Sources.SBOM, Reach and VEX are
// additions to what is found on the image: Sources.Feed is required;
// Sources.Policy defaults to the built-in policy.
type EvaluateOptions struct {
	Sources Sources
	// SBOMDigest chooses the SBOM referrer (manifest or layer digest).
	SBOMDigest string
	// Signer signs the verdict (required).
	Signer *Signer
	// VEXTrust is what a VEX document found on the image must be signed
	// by to count; its zero value trusts none, so found VEX is recorded
	// and suppresses nothing. The policy's trust registry names issuers,
	// not keys, so keys come from here.
	VEXTrust Trust
	// CacheTrust are keys whose cached verdicts are reused besides the
	// signer's own.
	CacheTrust [][]byte
	// Revoked key IDs: a cached verdict they signed is a miss.
	Revoked map[string]bool
	// NoCache evaluates even when a cached verdict matches.
	NoCache bool
	// Baseline, when set, is an image or a verdict artifact reference: the
	// delta of each image's verdict against the baseline's is computed,
	// signed and attached to the image (see baselines).
	Baseline string
	// DeltaGates are checked on each delta; the ones that fire are listed
	// in DeltaResult.Fired (Evaluate itself applies no gate).
	DeltaGates []delta.Gate
	// fullVerdict makes a cache hit read the whole verdict (a baseline's).
	fullVerdict bool
	// shared reads the feed and the policy once for all the images of an
	// EvaluateMany run.
	shared *shared
	// Registry opens the image and every reference.
	Registry registry.Options
	// Jobs bounds concurrent requests; 0 means defaultJobs.
	Jobs   int
	Logger *slog.Logger
	// OnProgress, when set, is told each step ("discovering", "cache hit",
	// "evaluating", "pushing") as it starts.
	OnProgress func(image, step string)
}

// ImageResult is the outcome for one image manifest.
type ImageResult struct {
	Image    string `json:"image"`
	Platform string `json:"platform,omitempty"`
	State    string `json:"state"`
	Status   string `json:"status"`
	// EngineRuns counts evaluations done for this result: 0 on a cache
	// hit.
	EngineRuns     int                      `json:"engine_runs"`
	RiskScore      int64                    `json:"risk_score"`
	Summary        artifacts.Summary        `json:"summary"`
	UnknownsCount  int                      `json:"unknowns_count"`
	ManifestDigest string                   `json:"manifest_digest"`
	VerdictDigest  string                   `json:"verdict_digest"`
	CacheKey       string                   `json:"cache_key"`
	Verdict        string                   `json:"verdict_artifact"`
	Bundle         string                   `json:"bundle"`
	SBOM           *Candidate               `json:"sbom"`
	SBOMChoice     string                   `json:"sbom_choice"`
	VEXIgnored     []artifacts.IgnoredInput `json:"vex_ignored"`
	Feed           *FeedSource              `json:"feed,omitempty"`
	Warnings       []string                 `json:"warnings,omitempty"`
	// Delta is set when a baseline was given.
	Delta   *DeltaResult `json:"delta,omitempty"`
	verdict *artifacts.Verdict
	subject ocispec.Descriptor
}

// Report is the outcome of Evaluate: one result per image manifest (an
// index gives one per platform, in index order).
type Report struct {
	Reference string         `json:"reference"`
	Digest    string         `json:"digest"`
	Images    []*ImageResult `json:"images"`
	// Status is the worst status over the images.
	Status string `json:"status"`
}

// Evaluate is the main job: discover the image's SBOM, VEX and
// reachability, look up the provenance cache, and otherwise evaluate,
// push the verdict artifact with every input and attach its signed
// bundle. It does not apply a gate (see Gate).
func Evaluate(ctx context.Context, image string, o EvaluateOptions) (*Report, error) {
	if o.Signer == nil {
		return nil, errors.New("evaluate: a signer is required")
	}
	if o.Sources.Feed == "" {
		return nil, errors.New("evaluate: a feed is required")
	}
	// The feed's and the policy's identities are read while the image's
	// referrers are listed; both are needed before anything is pushed, so
	// a feed reference that names something else, or a policy that does
	// not compile, is refused with nothing pushed, and its error comes
	// first whatever else failed.
	// One image: a local feed file and the policy are still read once for
	// both the identities and the evaluation.
	o.shared = &shared{entries: map[string]*sharedEntry{}}
	var feedID, policyID string
	var idErr error
	done := make(chan struct{})
	go func() {
		defer close(done)
		feedID, policyID, idErr = inputIDs(ctx, o)
	}()
	ids := func() (string, string, error) {
		<-done
		return feedID, policyID, idErr
	}
	rep, err := evaluateImage(ctx, image, o, ids)
	if _, _, idErr := ids(); idErr != nil {
		return nil, idErr
	}
	return rep, err
}

// inputIdentities returns the feed's and the policy's identities (waiting
// for them when they are still being read).
type inputIdentities func() (feedID, policyID string, err error)

func evaluateImage(ctx context.Context, image string, o EvaluateOptions, ids inputIdentities) (*Report, error) {
	t, err := Open(ctx, image, o.Registry)
	if err != nil {
		return nil, err
	}
	defer t.Discard()
	// An image named by digest on a registry has its referrers listed
	// while it is resolved (one round trip fewer); the listing is used
	// when the digest is an image manifest, not an index.
	var listing func() ([]ocispec.Descriptor, error)
	if t.Remote != nil && t.Ref.Digest != "" {
		var refs []ocispec.Descriptor
		var lerr error
		listed := make(chan struct{})
		go func() {
			defer close(listed)
			refs, lerr = registry.Referrers(ctx, t, ocispec.Descriptor{Digest: t.Ref.Digest}, "")
		}()
		defer func() { <-listed }()
		listing = func() ([]ocispec.Descriptor, error) { <-listed; return refs, lerr }
	}
	root, err := resolve(ctx, t)
	if err != nil {
		return nil, err
	}
	rep := &Report{Reference: image, Digest: root.Digest.String(), Status: artifacts.StatusPass}
	subjects := []ocispec.Descriptor{root}
	platforms := []string{""}
	if root.MediaType == ocispec.MediaTypeImageIndex {
		idx, err := registry.FetchIndex(ctx, t, root)
		if err != nil {
			return nil, err
		}
		subjects, platforms = nil, nil
		for _, m := range idx.Manifests {
			if m.MediaType != ocispec.MediaTypeImageManifest || m.ArtifactType != "" {
				continue
			}
			subjects = append(subjects, m)
			platforms = append(platforms, platformString(m.Platform))
		}
		if len(subjects) == 0 {
			return nil, fmt.Errorf("%s: the index lists no image manifest", t.Ref)
		}
	}
	if root.MediaType == ocispec.MediaTypeImageIndex {
		listing = nil
	}
	for i, s := range subjects {
		r, err := evaluateOne(ctx, t, s, o, ids, listing)
		if err != nil {
			if len(subjects) > 1 {
				return nil, fmt.Errorf("platform %s (%s): %w", platforms[i], s.Digest, err)
			}
			return nil, err
		}
		r.Platform, r.subject = platforms[i], s
		rep.Images = append(rep.Images, r)
		rep.Status = worst(rep.Status, r.Status)
	}
	if o.Baseline != "" {
		bases, err := baselines(ctx, o, rep.Images)
		if err != nil {
			return nil, err
		}
		for i, r := range rep.Images {
			if r.Delta, err = attachDelta(ctx, t, r.subject, r, bases[i], o); err != nil {
				return nil, fmt.Errorf("delta of %s: %w", r.Image, err)
			}
		}
	}
	if err := t.Close(); err != nil {
		return nil, err
	}
	return rep, nil
}

func platformString(p *ocispec.Platform) string {
	if p == nil {
		return "unknown"
	}
	s := p.OS + "/" + p.Architecture
	if p.Variant != "" {
		s += "/" + p.Variant
	}
	return s
}

func worst(a, b string) string {
	rank := map[string]int{artifacts.StatusPass: 0, artifacts.StatusWarn: 1, artifacts.StatusFail: 2}
	if rank[b] > rank[a] {
		return b
	}
	return a
}

// listing, when set, waits for a listing of subject's referrers already
// under way (see discover).
func evaluateOne(ctx context.Context, t *registry.Target, subject ocispec.Descriptor, o EvaluateOptions, ids inputIdentities, listing func() ([]ocispec.Descriptor, error)) (*ImageResult, error) {
	log := logger(o.Logger)
	progress := func(step string) {
		log.Debug(step, "image", subject.Digest)
		if o.OnProgress != nil {
			o.OnProgress(subject.Digest.String(), step)
		}
	}
	ref := t.Ref
	ref.Tag, ref.Digest = "", subject.Digest
	res := &ImageResult{Image: ref.String()}

	progress("discovering")
	// The verdicts this engine signed are read ahead while the documents
	// are (their cache key is not known yet, so only a few: maxReadAhead).
	rd := newReads(t, o.Jobs)
	defer rd.wait()
	readAhead := func(verdicts, bundles []ocispec.Descriptor) {
		if o.NoCache {
			return
		}
		eng := engine.Name + "/" + engine.Version
		var mine []ocispec.Descriptor
		for _, v := range verdicts {
			if v.Annotations[artifacts.AnnotationEngine] == eng && len(mine) < maxReadAhead {
				mine = append(mine, v)
			}
		}
		rd.ahead(ctx, mine, bundlesByArtifact(bundles))
	}
	found, err := discover(ctx, t, subject, o.VEXTrust, o.Jobs, listing, readAhead)
	if err != nil {
		return nil, err
	}
	cands := found.candidates
	var sb *Candidate
	if o.Sources.SBOM == "" {
		if sb, res.SBOMChoice, err = chooseSBOM(cands, o.SBOMDigest); err != nil {
			return nil, fmt.Errorf("%s: %w", res.Image, err)
		}
		res.SBOM = sb
	} else {
		res.SBOMChoice = "given as a file"
	}
	var rc *Candidate
	if o.Sources.Reach == "" {
		if rc, err = chooseReach(cands); err != nil {
			return nil, fmt.Errorf("%s: %w", res.Image, err)
		}
	}
	trusted, ignored := splitVEX(cands)
	res.VEXIgnored = ignored
	if res.VEXIgnored == nil {
		res.VEXIgnored = []artifacts.IgnoredInput{}
	}

	// The cache key, from digests alone: the SBOM, VEX and reachability
	// blobs as attached, the feed's index and the policy's IR digest (both
	// read from small manifests), and what else enters the manifest.
	feedID, policyID, err := ids()
	if err != nil {
		return nil, err
	}
	key, err := cacheKey(subject, sb, rc, trusted, ignored, o, feedID, policyID)
	if err != nil {
		return nil, err
	}
	res.CacheKey = key
	if !o.NoCache {
		if hit, err := lookupCache(ctx, t, subject, found.verdicts, found.bundles, key, o, rd); err != nil {
			return nil, err
		} else if hit != nil {
			progress("cache hit")
			hit.Image, hit.SBOM, hit.SBOMChoice, hit.VEXIgnored, hit.CacheKey = res.Image, res.SBOM, res.SBOMChoice, res.VEXIgnored, key
			return hit, nil
		}
	}

	progress("evaluating")
	var docs errgroup.Group
	docs.SetLimit(jobsOr(o.Jobs))
	for _, c := range append([]*Candidate{sb, rc}, trusted...) {
		if c != nil {
			docs.Go(func() error { return c.fetch(ctx) })
		}
	}
	if err := docs.Wait(); err != nil {
		return nil, err
	}
	g := gatherOptions{registry: o.Registry, log: log, ignoredVEX: ignored, shared: o.shared}
	for _, c := range trusted {
		g.extraVEX = append(g.extraVEX, Blob{MediaType: c.media, Data: c.data})
	}
	if sb != nil {
		g.sbom, g.sbomType = sb.data, sb.media
	}
	if rc != nil {
		g.reach, g.reachType = rc.data, rc.media
	}
	gathered, err := gather(ctx, o.Sources, g)
	if err != nil {
		return nil, err
	}
	// The digest alone (see artifacts.Subject): where the image is stored
	// must not change its verdict, and the cache key names only the digest.
	gathered.Inputs.Subject = &artifacts.Subject{Digest: subject.Digest.String()}
	r, err := evaluate(gathered)
	if err != nil {
		return nil, err
	}
	res.EngineRuns = 1
	res.Warnings = r.Warnings
	res.Feed = gathered.Feed

	progress("pushing")
	// Blobs known to be in the image's repository: the referrers' documents
	// read from it.
	known := map[string]bool{}
	for _, c := range append([]*Candidate{sb, rc}, trusted...) {
		if c != nil && c.load != nil {
			known[c.Stored] = true
		}
	}
	va, err := pushVerdict(ctx, t, subject, r, key, o, known)
	if err != nil {
		return nil, err
	}
	att, err := Attest(ctx, t, subject, AttestOptions{
		PredicateType: bundle.PredicateVerdict,
		Predicate:     verdictPredicate(va, r, key),
		Signer:        o.Signer,
		Annotations:   map[string]string{artifacts.AnnotationVerdictArtifact: va.Digest.String()},
		KeepTag:       KeepTagBundle,
	})
	if err != nil {
		return nil, err
	}
	fillResult(res, r.Verdict, r.VerdictDigest)
	res.State = StateComputed
	res.Verdict = refAt(t, va.Digest.String())
	res.Bundle = refAt(t, att.Bundle.Digest.String())
	return res, nil
}

// VerdictDocument is the verdict: the whole document when computed; on a
// cache hit, what was read back (the whole verdict when a baseline was
// given, else the signed summary: status, risk, counts, manifest digest).
func (r *ImageResult) VerdictDocument() *artifacts.Verdict { return r.verdict }

func fillResult(res *ImageResult, v *artifacts.Verdict, vid string) {
	res.Status, res.RiskScore, res.Summary, res.UnknownsCount = v.Status, v.RiskScore, v.Summary, v.UnknownsCount
	res.ManifestDigest, res.VerdictDigest, res.verdict = v.ManifestDigest, vid, v
}

func refAt(t *registry.Target, d string) string {
	r := t.Ref
	r.Tag = ""
	r.Digest = ""
	return r.String() + "@" + d
}

// inputIDs reads the feed's and the policy's identities from their small
// manifests (or computes them from files), without pulling any records.
func inputIDs(ctx context.Context, o EvaluateOptions) (feedID, policyID string, err error) {
	if isReference(o.Sources.Feed) {
		t, err := Open(ctx, o.Sources.Feed, o.Registry)
		if err != nil {
			return "", "", err
		}
		defer t.Close()
		_, m, _, err := feedManifest(ctx, t)
		if err != nil {
			return "", "", err
		}
		feedID = m.Layers[0].Digest.String()
	} else {
		// A local feed is read to know its identity; a cache hit still
		// saves the evaluation and the pushes.
		snap, err := o.shared.feedFile(ctx, o.Sources.Feed, o.Sources.Epoch)
		if err != nil {
			return "", "", err
		}
		feedID = snap.ContentID()
	}
	p := engine.DefaultPolicy()
	if o.Sources.Policy != "" {
		if p, _, err = o.shared.policyOf(o.Sources.Policy, func() (*policy.Policy, string, error) {
			return readPolicy(ctx, o.Sources.Policy, o.Registry)
		}); err != nil {
			return "", "", err
		}
	}
	policyID, err = p.Digest()
	return feedID, policyID, err
}

// cacheKey is the provenance-cache key: the content ID of everything that
// enters the scan manifest, named by the digests known before pulling the
// SBOM or the feed, with the engine's identity and the VEX trust.
func cacheKey(subject ocispec.Descriptor, sb, rc *Candidate, trusted []*Candidate, ignored []artifacts.IgnoredInput, o EvaluateOptions, feedID, policyID string) (string, error) {
	type keyDoc struct {
		Engine     artifacts.Engine         `json:"engine"`
		Subject    string                   `json:"subject"`
		SBOM       string                   `json:"sbom"`
		VEX        []string                 `json:"vex"`
		VEXIgnored []artifacts.IgnoredInput `json:"vex_ignored"`
		Reach      string                   `json:"reachability"`
		Feed       string                   `json:"feed"`
		Policy     string                   `json:"policy"`
		Env        string                   `json:"environment"`
		Epoch      string                   `json:"epoch"`
	}
	k := keyDoc{Engine: engine.Identity(), Subject: subject.Digest.String(), Feed: feedID, Policy: policyID, Env: o.Sources.Env, VEX: []string{}, VEXIgnored: ignored}
	if k.VEXIgnored == nil {
		k.VEXIgnored = []artifacts.IgnoredInput{}
	}
	if !o.Sources.Epoch.IsZero() {
		k.Epoch = o.Sources.Epoch.UTC().Format("2006-01-02T15:04:05Z")
	}
	files := func(paths ...string) ([]string, error) {
		var out []string
		for _, p := range paths {
			data, _, err := readDocument(context.Background(), p, MaxVEXBytes, o.Registry)
			if err != nil {
				return nil, err
			}
			out = append(out, canonContentID(data))
		}
		return out, nil
	}
	switch {
	case sb != nil:
		k.SBOM = sb.Stored
	default:
		s, err := files(o.Sources.SBOM)
		if err != nil {
			return "", err
		}
		k.SBOM = s[0]
	}
	switch {
	case rc != nil:
		k.Reach = rc.Stored
	case o.Sources.Reach != "":
		s, err := files(o.Sources.Reach)
		if err != nil {
			return "", err
		}
		k.Reach = s[0]
	}
	for _, c := range trusted {
		k.VEX = append(k.VEX, c.Stored)
	}
	s, err := files(o.Sources.VEX...)
	if err != nil {
		return "", err
	}
	k.VEX = append(k.VEX, s...)
	slices.Sort(k.VEX)
	k.VEX = slices.Compact(k.VEX)
	_, id, err := canon.MarshalID(k)
	return id, err
}

// lookupCache finds a verdict artifact with the cache key and this
// engine, whose bundle verifies under the signer's key (or CacheTrust)
// and names it, and whose verdict layer matches its annotations. Anything
// less is a miss.
func lookupCache(ctx context.Context, t *registry.Target, subject ocispec.Descriptor, verdicts, bundles []ocispec.Descriptor, key string, o EvaluateOptions, rd *reads) (*ImageResult, error) {
	eng := engine.Name + "/" + engine.Version
	var matches []ocispec.Descriptor
	for _, v := range verdicts {
		if v.Annotations[artifacts.AnnotationCacheKey] == key && v.Annotations[artifacts.AnnotationEngine] == eng {
			matches = append(matches, v)
		}
	}
	if len(matches) == 0 {
		return nil, nil
	}
	trust, err := cacheTrust(o)
	if err != nil {
		return nil, err
	}
	checks, err := verdictChecks(ctx, t, subject, matches, bundles, trust, o.Baseline != "" || o.fullVerdict, rd)
	if err != nil {
		return nil, err
	}
	for _, c := range checks {
		if c.err != nil {
			logger(o.Logger).Debug("cache candidate refused", "verdict", c.artifact.Digest, "reason", c.err)
			continue
		}
		res := &ImageResult{State: StateCached, EngineRuns: 0, Verdict: refAt(t, c.artifact.Digest.String()), Bundle: refAt(t, c.bundle.String())}
		fillResult(res, c.verdict, c.verdictDigest)
		return res, nil
	}
	return nil, nil
}

// verdictCheck is one verdict artifact checked against its bundles.
type verdictCheck struct {
	artifact      ocispec.Descriptor
	bundle        digest.Digest
	signer        string
	verdict       *artifacts.Verdict
	verdictDigest string
	manifest      ocispec.Manifest
	err           error
}

// verdictChecks checks each verdict artifact: its verdict layer must be
// the one its annotation names, and some bundle on the subject must name
// the artifact, verify under trust and carry the same verdict digest.
// Results are in the order given.
//
// The verdict layer's digest is its content ID (the layer is the verdict's
// canonical bytes, and canon.ContentID is their SHA-256), so it is checked
// from the manifest. The verdict itself is fetched only when full is set,
// or when the signed predicate does not carry the summary (a verdict
// signed before it did): a cache hit on a large verdict then reads only
// small manifests and bundles, and c.verdict holds the signed summary.
//
// bundles are the subject's bundle referrers when the caller has listed
// them already; nil lists them.
//
// rd reads the manifests and bundles (nil: a fresh one); every verdict's
// are read at once, each manifest with its bundles.
func verdictChecks(ctx context.Context, t *registry.Target, subject ocispec.Descriptor, verdicts, bundles []ocispec.Descriptor, trust Trust, full bool, rd *reads) ([]verdictCheck, error) {
	if bundles == nil {
		var err error
		if bundles, err = registry.Referrers(ctx, t, subject, artifacts.MediaTypeSigstoreBundle); err != nil {
			return nil, err
		}
	}
	byArtifact := bundlesByArtifact(bundles)
	if rd == nil {
		rd = newReads(t, 0)
		defer rd.wait()
	}
	rd.ahead(ctx, verdicts, byArtifact)
	out := make([]verdictCheck, len(verdicts))
	for i, v := range verdicts {
		c := &out[i]
		c.artifact = v
		m, err := rd.manifest(ctx, v)
		if err != nil {
			c.err = err
			continue
		}
		c.manifest = m
		if len(m.Layers) < 2 || m.Layers[1].MediaType != artifacts.MediaTypeVerdict {
			c.err = fmt.Errorf("not a verdict artifact")
			continue
		}
		c.verdictDigest = m.Layers[1].Digest.String()
		if c.verdictDigest != m.Annotations[artifacts.AnnotationVerdictDigest] {
			c.err = verificationFailed(nil, "verdict layer %s is not the annotated %s", c.verdictDigest, m.Annotations[artifacts.AnnotationVerdictDigest])
			continue
		}
		named := byArtifact[v.Digest.String()]
		c.err = verificationFailed(nil, "no bundle names verdict artifact %s", v.Digest)
		var signed *VerdictPredicate
		for j, bd := range named {
			b := rd.bundle(ctx, bd)
			if b.Err != nil {
				continue
			}
			st, signer, err := verifyOne(b.Name, b.Data, trust, subject.Digest.String())
			if err != nil {
				c.err = err
				continue
			}
			p, err := decodeVerdictPredicate(st)
			if err != nil || p.VerdictArtifact.Digest != v.Digest.String() || p.VerdictDigest != c.verdictDigest {
				c.err = verificationFailed(err, "bundle %s does not name this verdict", b.Name)
				continue
			}
			c.err, c.signer, c.bundle, signed = nil, signer, named[j].Digest, p
			break
		}
		if c.err != nil {
			continue
		}
		if !full && signed.Summary != nil {
			c.verdict = &artifacts.Verdict{Status: signed.Status, RiskScore: signed.RiskScore, Summary: *signed.Summary, UnknownsCount: signed.UnknownsCount, ManifestDigest: signed.ManifestDigest}
			continue
		}
		vb, err := registry.FetchBlob(ctx, t, m.Layers[1], maxVerdictBytes)
		if err != nil {
			c.err = err
			continue
		}
		vd, id, err := delta.Decode(vb)
		if err != nil || id != c.verdictDigest {
			c.err = verificationFailed(err, "verdict layer of %s is not a canonical verdict", v.Digest)
			continue
		}
		// delta.Decode reads what a delta needs; the summary comes from
		// the signed predicate, or the layer when the predicate lacks it.
		if signed.Summary != nil {
			vd.Summary = *signed.Summary
		} else {
			var sum struct {
				Summary artifacts.Summary `json:"summary"`
			}
			if err := jsonUnmarshal(vb, &sum); err != nil {
				c.err = err
				continue
			}
			vd.Summary = sum.Summary
		}
		c.verdict = vd
	}
	return out, nil
}

// maxVerdictBytes bounds a verdict layer read back.
const maxVerdictBytes = 1 << 30

// ArtifactRef names the artifact a signed statement is about (the
// verdict or delta artifact: the statement's subject is the image).
type ArtifactRef struct {
	MediaType string `json:"mediaType"`
	Digest    string `json:"digest"`
	Size      int64  `json:"size"`
}

func artifactRef(d ocispec.Descriptor) ArtifactRef {
	return ArtifactRef{MediaType: d.MediaType, Digest: d.Digest.String(), Size: d.Size}
}

// VerdictPredicate is the predicate of a verdict statement: it names the
// verdict artifact and carries what an admission controller decides on.
type VerdictPredicate struct {
	VerdictArtifact ArtifactRef      `json:"verdict_artifact"`
	VerdictDigest   string           `json:"verdict_digest"`
	ManifestDigest  string           `json:"manifest_digest"`
	CacheKey        string           `json:"cache_key"`
	Status          string           `json:"status"`
	RiskScore       int64            `json:"risk_score"`
	Engine          artifacts.Engine `json:"engine"`
	FeedEpoch       string           `json:"feed_epoch"`
	// Summary and UnknownsCount let a cache hit answer without fetching
	// the verdict.
	Summary       *artifacts.Summary `json:"summary,omitempty"`
	UnknownsCount int                `json:"unknowns_count"`
}

func verdictPredicate(va ocispec.Descriptor, r *Result, key string) []byte {
	var p VerdictPredicate
	p.VerdictArtifact = artifactRef(va)
	p.VerdictDigest, p.ManifestDigest, p.CacheKey = r.VerdictDigest, r.ManifestDigest, key
	p.Status, p.RiskScore, p.Engine, p.FeedEpoch = r.Verdict.Status, r.Verdict.RiskScore, r.Verdict.Engine, r.Manifest.Inputs.Feed.Epoch
	p.Summary, p.UnknownsCount = &r.Verdict.Summary, r.Verdict.UnknownsCount
	b, _ := canon.Marshal(p)
	return b
}

func decodeVerdictPredicate(st *bundle.Statement) (*VerdictPredicate, error) {
	if st.PredicateType != bundle.PredicateVerdict {
		return nil, fmt.Errorf("predicate type %s", st.PredicateType)
	}
	var p VerdictPredicate
	if err := jsonUnmarshal(st.Predicate, &p); err != nil {
		return nil, err
	}
	return &p, nil
}

// pushVerdict pushes the verdict artifact: subject = the image; layers =
// the scan manifest, the verdict, then every input blob by digest (the
// SBOM as attached, VEX, reachability, the feed's index and the record
// groups used, the policy IR), so registry garbage collection cannot
// orphan an input and one manifest is a self-contained replay unit.
//
// Blobs in known, or pushed to this repository earlier in the same
// EvaluateMany run, are neither checked nor sent again.
func pushVerdict(ctx context.Context, t *registry.Target, subject ocispec.Descriptor, r *Result, key string, o EvaluateOptions, known map[string]bool) (ocispec.Descriptor, error) {
	m, v, g := r.Manifest, r.Verdict, r.Gathered
	layers := []registry.Layer{
		registry.NewLayer(artifacts.MediaTypeScanManifest, r.ManifestBytes, "scan-manifest.json"),
		registry.NewLayer(artifacts.MediaTypeVerdict, r.VerdictBytes, "verdict.json"),
	}
	add := func(stored, title string) error {
		b, ok := g.Raw[stored]
		if !ok {
			return fmt.Errorf("internal error: input %s was not kept", stored)
		}
		layers = append(layers, registry.NewLayer(b.MediaType, b.Data, title))
		return nil
	}
	if err := add(m.Inputs.SBOM.Stored, "sbom.json"); err != nil {
		return ocispec.Descriptor{}, err
	}
	for i, x := range m.Inputs.VEX {
		if err := add(x.Stored, "vex-"+strconv.Itoa(i)+".json"); err != nil {
			return ocispec.Descriptor{}, err
		}
	}
	if x := m.Inputs.Reachability; x != nil {
		if err := add(x.Stored, "reachability.json"); err != nil {
			return ocispec.Descriptor{}, err
		}
	}
	snap := g.Inputs.Feed
	layers = append(layers, registry.NewLayer(artifacts.MediaTypeFeedIndex, snap.Index(), "feed-index.json"))
	for _, i := range snap.Needs(engine.Ecosystems(g.Inputs.SBOM)) {
		l := registry.NewLayer(artifacts.MediaTypeFeedRecords, snap.GroupData(i), "records-"+safeTitle(snap.Groups()[i].Ecosystem)+".json")
		l.Descriptor.Annotations[artifacts.AnnotationFeedEcosystem] = snap.Groups()[i].Ecosystem
		layers = append(layers, l)
	}
	if err := add(m.Inputs.Policy.Digest, "policy.json"); err != nil {
		return ocispec.Descriptor{}, err
	}
	ann := map[string]string{
		ocispec.AnnotationCreated:          m.Inputs.Feed.Epoch, // deterministic: the as-of instant, not the clock
		artifacts.AnnotationManifestDigest: r.ManifestDigest,
		artifacts.AnnotationVerdictDigest:  r.VerdictDigest,
		artifacts.AnnotationCacheKey:       key,
		artifacts.AnnotationStatus:         v.Status,
		artifacts.AnnotationEngine:         engine.Name + "/" + engine.Version,
		artifacts.AnnotationEpoch:          m.Inputs.Feed.Epoch,
	}
	if g.Feed != nil {
		ann[artifacts.AnnotationFeedRef] = feedRepository(g.Feed.Reference)
	}
	repo := refAt(t, "")
	for i := range layers {
		d := layers[i].Descriptor.Digest.String()
		layers[i].Present = known[d] || o.shared.isPresent(repo, d)
	}
	va, err := registry.PushArtifact(ctx, t, registry.ArtifactOptions{
		ArtifactType: artifacts.MediaTypeVerdict, Subject: &subject, Layers: layers, Annotations: ann, KeepTag: KeepTagVerdict,
	})
	if err == nil {
		// The scan manifest and verdict are this image's own; the inputs
		// are what the next image of the run shares.
		for _, l := range layers[2:] {
			o.shared.markPresent(repo, l.Descriptor.Digest.String())
		}
	}
	return va, err
}

// feedRepository is a feed reference without its tag or digest: where to
// look for newer epochs.
func feedRepository(ref string) string {
	r, err := registry.ParseReference(ref)
	if err != nil {
		return ref
	}
	r.Tag, r.Digest = "", ""
	return r.String()
}
