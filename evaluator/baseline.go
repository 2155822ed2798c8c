package evaluator

import (
	"context"
	"fmt"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/stella-ops/stella-oras/artifacts"
	"github.com/stella-ops/stella-oras/bundle"
	"github.com/stella-ops/stella-oras/canon"
	"github.com/stella-ops/stella-oras/engine/delta"
	"github.com/stella-ops/stella-oras/registry"
)

// DeltaResult is the signed delta of one image against its baseline.
type DeltaResult struct {
	// Baseline is the baseline's verdict artifact.
	Baseline string `json:"baseline_verdict_artifact"`
	// BaselineState is how the baseline's verdict was obtained: given (a
	// verdict reference), cached or computed.
	BaselineState string `json:"baseline_state"`
	Digest        string `json:"digest"`
	Artifact      string `json:"delta_artifact"`
	Bundle        string `json:"bundle"`
	// Fired are the delta gates that fired, one line each.
	Fired []string     `json:"fired"`
	Delta *delta.Delta `json:"delta"`
}

// baseVerdict is the verdict a head image is compared with.
type baseVerdict struct {
	verdict  *artifacts.Verdict
	digest   string
	artifact string
	state    string
}

// baselines finds each head image's baseline verdict. A reference to a
// verdict artifact is that verdict, once its bundle verifies under the
// signer's key or CacheTrust; it compares with a single head image. An
// image reference is evaluated with the same feed, policy, environment and
// trust (a cache hit when it was evaluated before), so that the delta
// shows what changed in the image, not in the feed; its platforms are
// matched to the head's by name.
func baselines(ctx context.Context, o EvaluateOptions, heads []*ImageResult) ([]baseVerdict, error) {
	t, err := Open(ctx, o.Baseline, o.Registry)
	if err != nil {
		return nil, fmt.Errorf("baseline: %w", err)
	}
	defer t.Close()
	root, err := resolve(ctx, t)
	if err != nil {
		return nil, fmt.Errorf("baseline: %w", err)
	}
	if root.MediaType == ocispec.MediaTypeImageManifest {
		m, _, err := registry.FetchManifest(ctx, t, root)
		if err != nil {
			return nil, fmt.Errorf("baseline: %w", err)
		}
		if m.ArtifactType == artifacts.MediaTypeVerdict {
			return givenBaseline(ctx, t, root, m, o, len(heads))
		}
	}
	bo := o
	bo.Baseline, bo.OnProgress, bo.fullVerdict = "", nil, true
	// The head's own SBOM and reachability choices are not the baseline's.
	bo.Sources.SBOM, bo.Sources.Reach, bo.SBOMDigest = "", "", ""
	brep, err := Evaluate(ctx, o.Baseline, bo)
	if err != nil {
		return nil, fmt.Errorf("baseline %s: %w", o.Baseline, err)
	}
	out := make([]baseVerdict, len(heads))
	for i, h := range heads {
		var b *ImageResult
		if len(heads) == 1 && len(brep.Images) == 1 {
			b = brep.Images[0]
		} else {
			for _, c := range brep.Images {
				if c.Platform == h.Platform {
					b = c
				}
			}
		}
		if b == nil {
			return nil, fmt.Errorf("baseline %s has no %s image to compare %s with", o.Baseline, orNone(h.Platform), h.Image)
		}
		out[i] = baseVerdict{verdict: b.verdict, digest: b.VerdictDigest, artifact: b.Verdict, state: b.State}
	}
	return out, nil
}

// givenBaseline checks a verdict artifact given as the baseline.
func givenBaseline(ctx context.Context, t *registry.Target, a ocispec.Descriptor, m ocispec.Manifest, o EvaluateOptions, heads int) ([]baseVerdict, error) {
	if m.Subject == nil {
		return nil, fmt.Errorf("baseline %s: the verdict artifact has no subject", t.Ref)
	}
	if heads != 1 {
		return nil, fmt.Errorf("baseline %s is one verdict, and the head has %d platform images: give the baseline image instead", t.Ref, heads)
	}
	trust, err := cacheTrust(o)
	if err != nil {
		return nil, err
	}
	a.ArtifactType, a.Annotations = m.ArtifactType, m.Annotations
	checks, err := verdictChecks(ctx, t, *m.Subject, []ocispec.Descriptor{a}, nil, trust, true, nil)
	if err != nil {
		return nil, fmt.Errorf("baseline: %w", err)
	}
	if c := checks[0]; c.err != nil {
		return nil, fmt.Errorf("baseline %s: %w", t.Ref, c.err)
	}
	return []baseVerdict{{verdict: checks[0].verdict, digest: checks[0].verdictDigest, artifact: refAt(t, a.Digest.String()), state: "given"}}, nil
}

// cacheTrust is whose verdicts are taken as they are: the signer's own
// and CacheTrust's, minus the revoked.
func cacheTrust(o EvaluateOptions) (Trust, error) {
	pub, err := o.Signer.PublicPEM()
	if err != nil {
		return Trust{}, err
	}
	return Trust{Keys: append([][]byte{pub}, o.CacheTrust...), Revoked: o.Revoked}, nil
}

// DeltaPredicate is the predicate of a delta statement: it names the delta
// artifact and summarizes it.
type DeltaPredicate struct {
	DeltaArtifact ArtifactRef `json:"delta_artifact"`
	DeltaDigest   string      `json:"delta_digest"`
	Base          delta.Side  `json:"base"`
	Head          delta.Side  `json:"head"`
	Added         int         `json:"added"`
	Removed       int         `json:"removed"`
	Changed       int         `json:"changed"`
	RiskDelta     int64       `json:"risk_delta"`
	UnknownsDelta int         `json:"unknowns_delta"`
	StatusChange  string      `json:"status_change"`
}

// attachDelta computes the delta of head against base, pushes it as a
// referrer of the head image, and attaches its signed statement, unless a
// bundle that verifies under the signer's key already names the same delta
// artifact (a rerun signs nothing new).
func attachDelta(ctx context.Context, t *registry.Target, subject ocispec.Descriptor, head *ImageResult, base baseVerdict, o EvaluateOptions) (*DeltaResult, error) {
	d := delta.Compute(base.verdict, head.verdict, base.digest, head.VerdictDigest)
	b, id, err := delta.MarshalID(d)
	if err != nil {
		return nil, err
	}
	da, err := registry.PushArtifact(ctx, t, registry.ArtifactOptions{
		ArtifactType: artifacts.MediaTypeDelta,
		Subject:      &subject,
		Layers:       []registry.Layer{registry.NewLayer(artifacts.MediaTypeDelta, b, "delta.json")},
		Annotations: map[string]string{
			artifacts.AnnotationDeltaDigest: id,
			artifacts.AnnotationDeltaBase:   base.digest,
			artifacts.AnnotationDeltaHead:   head.VerdictDigest,
		},
		KeepTag: KeepTagDelta,
	})
	if err != nil {
		return nil, err
	}
	res := &DeltaResult{Baseline: base.artifact, BaselineState: base.state, Digest: id, Artifact: refAt(t, da.Digest.String()), Fired: d.Fired(o.DeltaGates), Delta: d}
	if res.Fired == nil {
		res.Fired = []string{}
	}
	if bd, ok, err := signedDelta(ctx, t, subject, da, o); err != nil {
		return nil, err
	} else if ok {
		res.Bundle = refAt(t, bd)
		return res, nil
	}
	var p DeltaPredicate
	p.DeltaArtifact = artifactRef(da)
	p.DeltaDigest, p.Base, p.Head = id, d.Base, d.Head
	p.Added, p.Removed, p.Changed = len(d.Added), len(d.Removed), len(d.Changed)
	p.RiskDelta, p.UnknownsDelta, p.StatusChange = d.RiskDelta, d.UnknownsDelta, d.StatusChange
	pb, err := canon.Marshal(p)
	if err != nil {
		return nil, err
	}
	att, err := Attest(ctx, t, subject, AttestOptions{
		PredicateType: bundle.PredicateDelta,
		Predicate:     pb,
		Signer:        o.Signer,
		Annotations:   map[string]string{artifacts.AnnotationVerdictArtifact: da.Digest.String()},
		KeepTag:       KeepTagBundle,
	})
	if err != nil {
		return nil, err
	}
	res.Bundle = refAt(t, att.Bundle.Digest.String())
	return res, nil
}

// signedDelta finds a bundle on subject that names the delta artifact and
// verifies under the signer's key.
func signedDelta(ctx context.Context, t *registry.Target, subject, da ocispec.Descriptor, o EvaluateOptions) (string, bool, error) {
	bundles, err := registry.Referrers(ctx, t, subject, artifacts.MediaTypeSigstoreBundle)
	if err != nil {
		return "", false, err
	}
	var named []ocispec.Descriptor
	for _, b := range bundles {
		if b.Annotations[artifacts.AnnotationVerdictArtifact] == da.Digest.String() {
			named = append(named, b)
		}
	}
	pub, err := o.Signer.PublicPEM()
	if err != nil {
		return "", false, err
	}
	for i, c := range fetchBundles(ctx, t, named, o.Jobs) {
		if c.Err != nil {
			continue
		}
		st, _, err := verifyOne(c.Name, c.Data, Trust{Keys: [][]byte{pub}}, subject.Digest.String())
		if err != nil || st.PredicateType != bundle.PredicateDelta {
			continue
		}
		var p DeltaPredicate
		if jsonUnmarshal(st.Predicate, &p) == nil && p.DeltaArtifact.Digest == da.Digest.String() {
			return named[i].Digest.String(), true, nil
		}
	}
	return "", false, nil
}
