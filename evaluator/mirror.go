package evaluator

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"

	digest "github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"golang.org/x/sync/errgroup"

	"github.com/stella-ops/stella-oras/artifacts"
	"github.com/stella-ops/stella-oras/bundle"
	"github.com/stella-ops/stella-oras/registry"
)

// MirrorOptions tune Mirror. The zero value mirrors as registry.MirrorImages
// does, with no gate and no receipt.
type MirrorOptions struct {
	registry.MirrorRunOptions
	// RequireVerified copies an image only when Sigstore bundles on it
	// (verdicts, deltas, any attestation) verify under Trust: a bundle on
	// the image (the index or, for an index without one, every platform
	// manifest) signed by Threshold distinct trusted keys. Bundles that do
	// not verify, anywhere in the graph, are not copied. What was refused
	// is in each report (Refused); a refused image is an error of its own
	// (ErrVerification).
	RequireVerified bool
	Trust           Trust
	// Signer, when set, signs a receipt of each image mirrored (an
	// in-toto statement about the image: see MirrorReceipt) and attaches
	// it at the destination. A rerun that copied nothing attaches none.
	Signer *Signer
}

// MirrorReceipt is the predicate of a mirror receipt
// (bundle.PredicateMirror): what one mirror copied and refused, and the
// trust it applied. It holds no time: the same mirror gives the same
// receipt.
type MirrorReceipt struct {
	Source      string                   `json:"source"`
	Destination string                   `json:"destination"`
	Image       string                   `json:"image"`
	Subjects    []string                 `json:"subjects"`
	Manifests   []string                 `json:"manifests"`
	Refused     []registry.MirrorRefusal `json:"refused"`
	Verified    bool                     `json:"require_verified"`
	Trust       ReceiptTrust             `json:"trust"`
	Engine      string                   `json:"tool"`
}

// ReceiptTrust names the trust a receipt's gate applied.
type ReceiptTrust struct {
	Keys      []string `json:"keys"`
	Threshold int      `json:"threshold"`
}

// Mirror mirrors each source image to dst (registry.MirrorImages), with
// the verified gate and the signed receipt when asked.
func Mirror(ctx context.Context, sources []string, dst string, o MirrorOptions) ([]registry.MirrorResult, error) {
	if o.RequireVerified {
		if len(o.Trust.Keys) == 0 && o.Trust.Certificate.TrustedRoot == "" {
			return nil, fmt.Errorf("mirror: --require-verified needs a trusted key")
		}
		o.Admit = func(ctx context.Context, src *registry.Target, root ocispec.Descriptor, trees []*registry.Node) (registry.MirrorDecision, error) {
			return admit(ctx, src, root, trees, o.Trust)
		}
	}
	if o.Signer != nil {
		o.After = func(ctx context.Context, src, dt *registry.Target, rep *registry.MirrorReport) error {
			return attachReceipt(ctx, src, dt, rep, o)
		}
	}
	res, err := registry.MirrorImages(ctx, sources, dst, o.MirrorRunOptions)
	for i := range res {
		if r := res[i].Report; res[i].Err == nil && r != nil && o.RequireVerified && !r.Admitted {
			reason := "refused"
			if len(r.Refused) > 0 {
				reason = r.Refused[0].Reason
			}
			res[i].Err = verificationFailed(nil, "not mirrored: %s", reason)
			res[i].Error = res[i].Err.Error()
		}
	}
	return res, err
}

// admit verifies every bundle in the graph against trust (each against the
// node it refers to) and decides: bundles that do not verify are skipped;
// the image passes when a subject that stands for it has enough signers.
func admit(ctx context.Context, src *registry.Target, root ocispec.Descriptor, trees []*registry.Node, trust Trust) (registry.MirrorDecision, error) {
	type check struct {
		parent, b ocispec.Descriptor
		signer    string
		err       error
	}
	var checks []*check
	var walk func(n *registry.Node)
	walk = func(n *registry.Node) {
		for _, c := range n.Referrers {
			if c.ArtifactType == artifacts.MediaTypeSigstoreBundle {
				checks = append(checks, &check{parent: n.Descriptor, b: c.Descriptor})
			}
			walk(c)
		}
	}
	for _, t := range trees {
		walk(t)
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(defaultJobs)
	for _, c := range checks {
		g.Go(func() error {
			data, err := registry.FetchSingleLayer(gctx, src, c.b, artifacts.MediaTypeSigstoreBundle, bundleLimit)
			if err != nil {
				c.err = err
				return gctx.Err()
			}
			_, c.signer, c.err = verifyOne(c.b.Digest.String(), data, trust, c.parent.Digest.String())
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return registry.MirrorDecision{}, err
	}
	dec := registry.MirrorDecision{Skip: map[digest.Digest]string{}}
	signers := map[digest.Digest]map[string]bool{}
	for _, c := range checks {
		if c.err != nil {
			dec.Skip[c.b.Digest] = "bundle does not verify: " + c.err.Error()
			continue
		}
		if signers[c.parent.Digest] == nil {
			signers[c.parent.Digest] = map[string]bool{}
		}
		signers[c.parent.Digest][c.signer] = true
	}
	need := max(trust.Threshold, 1)
	ok := func(d digest.Digest) bool { return len(signers[d]) >= need }
	switch {
	case ok(root.Digest):
	case len(trees) > 1 && !slices.ContainsFunc(trees[1:], func(t *registry.Node) bool { return !ok(t.Digest) }):
	default:
		dec.Refuse = fmt.Sprintf("no bundle on %s verifies under the trust (%d trusted signer(s) required)", root.Digest, need)
	}
	return dec, nil
}

// bundleLimit bounds a bundle read by the gate.
const bundleLimit = 16 << 20

// attachReceipt signs and attaches the receipt of one mirrored image,
// unless the run copied nothing.
func attachReceipt(ctx context.Context, src, dt *registry.Target, rep *registry.MirrorReport, o MirrorOptions) error {
	c := rep.MirrorCounts()
	if c["manifest copied"] == 0 && c["blob copied"] == 0 {
		return nil
	}
	s, d := src.Ref, dt.Ref
	s.Tag, s.Digest, d.Tag, d.Digest = "", "", "", ""
	rc := MirrorReceipt{
		Source: s.String(), Destination: d.String(), Image: rep.Root.Digest.String(),
		Subjects: []string{}, Manifests: []string{}, Refused: rep.Refused, Verified: o.RequireVerified,
		Trust: ReceiptTrust{Keys: []string{}, Threshold: max(o.Trust.Threshold, 1)}, Engine: "stella-oras mirror",
	}
	if rc.Refused == nil {
		rc.Refused = []registry.MirrorRefusal{}
	}
	for _, m := range rep.Manifests {
		rc.Manifests = append(rc.Manifests, m.Digest.String())
	}
	rc.Subjects = append(rc.Subjects, rep.Root.Digest.String())
	slices.Sort(rc.Manifests)
	for _, k := range o.Trust.Keys {
		if pub, err := bundle.ParsePublicKey(k); err == nil {
			if id, err := bundle.KeyID(pub); err == nil {
				rc.Trust.Keys = append(rc.Trust.Keys, id)
			}
		}
	}
	slices.Sort(rc.Trust.Keys)
	pred, err := json.Marshal(rc)
	if err != nil {
		return err
	}
	_, err = Attest(ctx, dt, rep.Root, AttestOptions{PredicateType: bundle.PredicateMirror, Predicate: pred, Signer: o.Signer})
	if err != nil {
		return fmt.Errorf("attaching the mirror receipt: %w", err)
	}
	return nil
}
