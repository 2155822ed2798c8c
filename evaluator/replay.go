package evaluator

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/stella-ops/stella-oras/artifacts"
	"github.com/stella-ops/stella-oras/engine"
	"github.com/stella-ops/stella-oras/engine/delta"
	"github.com/stella-ops/stella-oras/engine/feed"
	"github.com/stella-ops/stella-oras/engine/policy"
	"github.com/stella-ops/stella-oras/engine/reach"
	"github.com/stella-ops/stella-oras/engine/sbom"
	"github.com/stella-ops/stella-oras/engine/vex"
	"github.com/stella-ops/stella-oras/registry"
)

// Replay outcomes.
const (
	ReplayIdentical = "identical"
	ReplayDifferent = "different"
	// ReplayNotVerdict: a referrer of the verdict artifact type that is no
	// verdict artifact (its layers are not a scan manifest, a verdict and
	// its inputs): nothing to replay, and nothing it claims can be shown.
	ReplayNotVerdict = "not-a-verdict"
)

// ReplayOptions configure Replay. The zero value reads with the default
// registry options and discards logs.
type ReplayOptions struct {
	Registry registry.Options
	Logger   *slog.Logger
}

// ReplayResult is the outcome for one verdict artifact.
type ReplayResult struct {
	Verdict        string          `json:"verdict_artifact"`
	Subject        string          `json:"subject"`
	Outcome        string          `json:"outcome"`
	ManifestDigest string          `json:"manifest_digest"`
	VerdictDigest  string          `json:"verdict_digest"`
	Replayed       string          `json:"replayed_verdict_digest"`
	Delta          json.RawMessage `json:"delta,omitempty"`
	// Reason says why an artifact was not replayed (ReplayNotVerdict).
	Reason string `json:"reason,omitempty"`
}

// Replay re-evaluates verdicts from their artifacts alone: ref names a
// verdict artifact, an image (every verdict on it is replayed), or a scan
// manifest blob (the verdict artifact on its subject that carries it). It
// needs nothing but the registry or layout ref points at.
func Replay(ctx context.Context, ref string, o ReplayOptions) ([]ReplayResult, error) {
	ro := o.Registry
	ro.ReadOnly = true // a missing layout is an error, never created
	t, err := Open(ctx, ref, ro)
	if err != nil {
		return nil, err
	}
	defer t.Close()
	arts, err := verdictArtifacts(ctx, t)
	if err != nil {
		return nil, err
	}
	out := make([]ReplayResult, 0, len(arts))
	for _, a := range arts {
		r, err := replayOne(ctx, t, a)
		if errors.Is(err, ErrWrongArtifact) {
			// One malformed referrer (anyone who can push can attach one)
			// is reported as such; the image's other verdicts are still
			// replayed. It stopped the whole replay before.
			out = append(out, ReplayResult{Verdict: refAt(t, a.Digest.String()), Outcome: ReplayNotVerdict, Reason: err.Error()})
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("replaying %s: %w", refAt(t, a.Digest.String()), err)
		}
		out = append(out, *r)
	}
	return out, nil
}

// verdictArtifacts resolves a replay reference to verdict artifacts.
func verdictArtifacts(ctx context.Context, t *registry.Target) ([]ocispec.Descriptor, error) {
	if t.Ref.Digest != "" {
		// A scan manifest is a blob, not a manifest: try it first as
		// what it most often is, a manifest.
		d, err := t.Resolve(ctx, t.Ref.Digest.String())
		if err == nil {
			if d.MediaType == ocispec.MediaTypeImageManifest {
				m, _, err := registry.FetchManifest(ctx, t, d)
				if err != nil {
					return nil, err
				}
				if m.ArtifactType == artifacts.MediaTypeVerdict {
					d.ArtifactType, d.Annotations = m.ArtifactType, m.Annotations
					return []ocispec.Descriptor{d}, nil
				}
			}
			return verdictsOf(ctx, t, d)
		}
		if sm, serr := scanManifestBlob(ctx, t); serr == nil && sm.Subject != nil {
			// A scan-manifest digest: its subject's verdict that carries it.
			subj, rerr := t.Resolve(ctx, sm.Subject.Digest)
			if rerr != nil {
				return nil, rerr
			}
			v, ferr := FindVerdictByManifest(ctx, t, subj, t.Ref.Digest.String())
			if ferr != nil {
				return nil, ferr
			}
			return []ocispec.Descriptor{v}, nil
		}
		return nil, err
	}
	d, err := resolve(ctx, t)
	if err != nil {
		return nil, err
	}
	return verdictsOf(ctx, t, d)
}

func verdictsOf(ctx context.Context, t *registry.Target, subject ocispec.Descriptor) ([]ocispec.Descriptor, error) {
	vs, err := registry.Referrers(ctx, t, subject, artifacts.MediaTypeVerdict)
	if err != nil {
		return nil, err
	}
	if len(vs) == 0 {
		return nil, fmt.Errorf("%s: no verdict artifact refers to %s", t.Ref, subject.Digest)
	}
	return vs, nil
}

// scanManifestBlob reads the blob the reference's digest names as a scan
// manifest (registries: the blob is resolved for its size first).
func scanManifestBlob(ctx context.Context, t *registry.Target) (*artifacts.ScanManifest, error) {
	d := ocispec.Descriptor{MediaType: artifacts.MediaTypeScanManifest, Digest: t.Ref.Digest}
	if t.Remote == nil {
		return nil, fmt.Errorf("%s: not a manifest", t.Ref)
	}
	bd, err := t.Remote.Blobs().Resolve(ctx, t.Ref.Digest.String())
	if err != nil {
		return nil, err
	}
	d.Size = bd.Size
	b, err := registry.FetchBlob(ctx, t, d, 1<<20)
	if err != nil {
		return nil, err
	}
	var sm artifacts.ScanManifest
	if err := json.Unmarshal(b, &sm); err != nil || sm.Kind != artifacts.KindScanManifest {
		return nil, fmt.Errorf("%s: not a scan manifest", t.Ref)
	}
	return &sm, nil
}

// FindVerdictByManifest finds the verdict artifact on subject whose scan
// manifest has the given digest.
func FindVerdictByManifest(ctx context.Context, t *registry.Target, subject ocispec.Descriptor, manifestDigest string) (ocispec.Descriptor, error) {
	vs, err := verdictsOf(ctx, t, subject)
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	for _, v := range vs {
		if v.Annotations[artifacts.AnnotationManifestDigest] == manifestDigest {
			return v, nil
		}
	}
	return ocispec.Descriptor{}, fmt.Errorf("%s: no verdict on %s has scan manifest %s", t.Ref, subject.Digest, manifestDigest)
}

func replayOne(ctx context.Context, t *registry.Target, a ocispec.Descriptor) (*ReplayResult, error) {
	m, _, err := registry.FetchManifest(ctx, t, a)
	if err != nil {
		return nil, err
	}
	if m.ArtifactType != artifacts.MediaTypeVerdict || len(m.Layers) < 3 || m.Layers[0].MediaType != artifacts.MediaTypeScanManifest || m.Layers[1].MediaType != artifacts.MediaTypeVerdict {
		return nil, fmt.Errorf("%w: %s is not a verdict artifact", ErrWrongArtifact, a.Digest)
	}
	blobs := map[string]ocispec.Descriptor{}
	for _, l := range m.Layers[2:] {
		blobs[l.Digest.String()] = l
	}
	fetch := func(d string, limit int64) ([]byte, error) {
		l, ok := blobs[d]
		if !ok {
			return nil, fmt.Errorf("the verdict artifact does not carry input %s", d)
		}
		return registry.FetchBlob(ctx, t, l, limit)
	}
	mb, err := registry.FetchBlob(ctx, t, m.Layers[0], 1<<20)
	if err != nil {
		return nil, err
	}
	vb, err := registry.FetchBlob(ctx, t, m.Layers[1], 1<<30)
	if err != nil {
		return nil, err
	}
	var sm artifacts.ScanManifest
	if err := json.Unmarshal(mb, &sm); err != nil {
		return nil, fmt.Errorf("scan manifest: %w", err)
	}
	res := &ReplayResult{Verdict: refAt(t, a.Digest.String()), ManifestDigest: canonContentID(mb), VerdictDigest: canonContentID(vb)}
	if sm.Subject != nil {
		res.Subject = sm.Subject.Digest
	}
	if sm.Engine != engine.Identity() {
		return nil, fmt.Errorf("the verdict was made by engine %s/%s; this is %s/%s, which cannot replay it", sm.Engine.Name, sm.Engine.Version, engine.Name, engine.Version)
	}
	in := &engine.Inputs{Env: sm.Environment, Subject: sm.Subject, IgnoredVEX: sm.Inputs.VEXIgnored}
	b, err := fetch(sm.Inputs.SBOM.Stored, 1<<30)
	if err != nil {
		return nil, err
	}
	if in.SBOM, err = sbom.Parse(b); err != nil {
		return nil, err
	}
	for _, x := range sm.Inputs.VEX {
		b, err := fetch(x.Stored, MaxVEXBytes)
		if err != nil {
			return nil, err
		}
		d, err := vex.Normalize(b)
		if err != nil {
			return nil, err
		}
		in.VEX = append(in.VEX, d)
	}
	if x := sm.Inputs.Reachability; x != nil {
		b, err := fetch(x.Stored, MaxReachBytes)
		if err != nil {
			return nil, err
		}
		if in.Reach, err = reach.Parse(b, "reachability "+x.Stored); err != nil {
			return nil, err
		}
	}
	ib, err := fetch(sm.Inputs.Feed.Digest, feed.MaxSnapshotBytes)
	if err != nil {
		return nil, err
	}
	if in.Feed, err = feed.OpenIndex(ib); err != nil {
		return nil, err
	}
	groups := in.Feed.Groups()
	for _, i := range in.Feed.Needs(engine.Ecosystems(in.SBOM)) {
		gb, err := fetch(groups[i].Digest, feed.MaxSnapshotBytes)
		if err != nil {
			return nil, err
		}
		if err := in.Feed.AddGroup(i, gb); err != nil {
			return nil, err
		}
	}
	pb, err := fetch(sm.Inputs.Policy.Digest, policy.MaxSourceBytes)
	if err != nil {
		return nil, err
	}
	if in.Policy, err = policy.FromIR(pb, "policy "+sm.Inputs.Policy.Digest); err != nil {
		return nil, err
	}
	_, v, err := engine.Evaluate(in)
	if err != nil {
		return nil, err
	}
	nb, nid, err := engine.MarshalVerdict(v)
	if err != nil {
		return nil, err
	}
	res.Replayed = nid
	if nid == res.VerdictDigest {
		res.Outcome = ReplayIdentical
		return res, nil
	}
	res.Outcome = ReplayDifferent
	base, bid, err := delta.Decode(vb)
	if err != nil {
		return res, nil // the stored verdict is not one this engine reads: no delta
	}
	head, hid, err := delta.Decode(nb)
	if err == nil {
		if db, _, err := delta.MarshalID(delta.Compute(base, head, bid, hid)); err == nil {
			res.Delta = db
		}
	}
	return res, nil
}
