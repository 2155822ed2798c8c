package evaluator_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/stella-ops/stella-oras/artifacts"
	"github.com/stella-ops/stella-oras/bundle"
	"github.com/stella-ops/stella-oras/engine"
	"github.com/stella-ops/stella-oras/evaluator"
	"github.com/stella-ops/stella-oras/internal/load"
	"github.com/stella-ops/stella-oras/internal/regtest"
	"github.com/stella-ops/stella-oras/internal/testutil"
	"github.com/stella-ops/stella-oras/registry"
)

// stores are the three kinds of store the flow must work on: the embedded
// registry (referrers API), plain distribution (tag schema) and an OCI
// layout. Each returns the reference prefixes of an image repository, a
// feeds repository and a policies repository.
func stores(t *testing.T) map[string]func(t *testing.T) (img, feeds, pols string, opts registry.Options) {
	return map[string]func(t *testing.T) (string, string, string, registry.Options){
		"referrers-api": func(t *testing.T) (string, string, string, registry.Options) {
			h := regtest.Start(t, regtest.Referrers)
			return h + "/app", h + "/feeds", h + "/policies", registry.Options{PlainHTTP: true}
		},
		"tag-schema": func(t *testing.T) (string, string, string, registry.Options) {
			h := regtest.Start(t, regtest.Plain)
			return h + "/app", h + "/feeds", h + "/policies", registry.Options{PlainHTTP: true}
		},
		"oci-layout": func(t *testing.T) (string, string, string, registry.Options) {
			d := t.TempDir()
			return "oci:" + filepath.Join(d, "app"), "oci:" + filepath.Join(d, "feeds"), "oci:" + filepath.Join(d, "policies"), registry.Options{}
		},
	}
}

func example(p string) string { return filepath.Join(testutil.RepoRoot(), "examples", p) }

func newSigner(t *testing.T) *evaluator.Signer {
	t.Helper()
	k, err := bundle.GenerateKey("ecdsa-p256")
	if err != nil {
		t.Fatal(err)
	}
	s, err := evaluator.NewSigner(k, bundle.SignOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// setup pushes a sample image with the quickstart SBOM and VEX attached,
// the quickstart feed and the strict policy; it returns the image
// reference by digest and the feed and policy references.
func setup(t *testing.T, img, feeds, pols string, opts registry.Options) (image ocispec.Descriptor, imgRef, feedRef, polRef string) {
	t.Helper()
	ctx := context.Background()
	tg := open(t, img+":demo", opts)
	image, err := registry.PushSampleImage(ctx, tg, "evaluator test")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"quickstart/sbom.cdx.json", "quickstart/vex.openvex.json"} {
		attach(t, tg, image, example(f))
	}
	tg.Close()
	snap, err := load.Feed(context.Background(), example("quickstart/osv"), load.FeedOptions{})
	if err != nil {
		t.Fatal(err)
	}
	fp, err := evaluator.PushFeed(ctx, snap, feeds, evaluator.PushFeedOptions{Registry: opts})
	if err != nil {
		t.Fatal(err)
	}
	pol, err := load.File(example("policies/strict-prod.yaml"), 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	p, err := policyLoad(pol)
	if err != nil {
		t.Fatal(err)
	}
	pp, err := evaluator.PushPolicy(ctx, p, pols, evaluator.PushPolicyOptions{Registry: opts})
	if err != nil {
		t.Fatal(err)
	}
	return image, img + "@" + image.Digest.String(), feeds + ":" + fp.Tag, pols + ":" + pp.Tag
}

func open(t *testing.T, ref string, opts registry.Options) *registry.Target {
	t.Helper()
	tg, err := evaluator.Open(context.Background(), ref, opts)
	if err != nil {
		t.Fatal(err)
	}
	return tg
}

func attach(t *testing.T, tg *registry.Target, subject ocispec.Descriptor, file string) ocispec.Descriptor {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	ty, ok := artifacts.Detect(data)
	if !ok {
		t.Fatalf("%s: unknown type", file)
	}
	d, err := registry.Attach(context.Background(), tg, subject, data, registry.AttachOptions{ArtifactType: ty.ArtifactType, MediaType: ty.MediaType, FileName: file})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// TestEvaluateFlow: the main job on each kind of store: computed, then a
// cache hit with the same digests and no engine run, replay identical,
// status computed, and untrusted VEX recorded without suppressing.
func TestEvaluateFlow(t *testing.T) {
	for name, mk := range stores(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			img, feeds, pols, opts := mk(t)
			_, imgRef, feedRef, polRef := setup(t, img, feeds, pols, opts)
			signer := newSigner(t)
			o := evaluator.EvaluateOptions{Sources: evaluator.Sources{Feed: feedRef, Policy: polRef, Env: "prod"}, Signer: signer, Registry: opts}
			first, err := evaluator.Evaluate(ctx, imgRef, o)
			if err != nil {
				t.Fatal(err)
			}
			r1 := first.Images[0]
			if r1.State != evaluator.StateComputed || r1.EngineRuns != 1 || r1.Status != artifacts.StatusFail {
				t.Fatalf("first evaluate: state %s, engine runs %d, status %s; want computed, 1, fail", r1.State, r1.EngineRuns, r1.Status)
			}
			if len(r1.VEXIgnored) != 1 || r1.VEXIgnored[0].Reason != engine.ReasonVEXUntrusted {
				t.Errorf("the unsigned VEX referrer: ignored %+v, want one VEX_UNTRUSTED", r1.VEXIgnored)
			}
			if r1.Feed == nil || r1.Feed.BytesPulled == 0 {
				t.Errorf("feed source %+v", r1.Feed)
			}
			second, err := evaluator.Evaluate(ctx, imgRef, o)
			if err != nil {
				t.Fatal(err)
			}
			r2 := second.Images[0]
			if r2.State != evaluator.StateCached || r2.EngineRuns != 0 || r2.VerdictDigest != r1.VerdictDigest || r2.ManifestDigest != r1.ManifestDigest || r2.Verdict != r1.Verdict {
				t.Fatalf("second evaluate: %s (%d runs) %s %s; want cached, 0 runs, the first's %s %s", r2.State, r2.EngineRuns, r2.VerdictDigest, r2.Verdict, r1.VerdictDigest, r1.Verdict)
			}
			// Another signer does not trust the first one's verdict: a miss.
			o2 := o
			o2.Signer = newSigner(t)
			third, err := evaluator.Evaluate(ctx, imgRef, o2)
			if err != nil {
				t.Fatal(err)
			}
			if r3 := third.Images[0]; r3.State != evaluator.StateComputed || r3.VerdictDigest != r1.VerdictDigest {
				t.Errorf("other signer: %s %s; want computed with the same verdict digest %s", r3.State, r3.VerdictDigest, r1.VerdictDigest)
			}
			rs, err := evaluator.Replay(ctx, imgRef, evaluator.ReplayOptions{Registry: opts})
			if err != nil {
				t.Fatal(err)
			}
			if len(rs) == 0 {
				t.Fatal("replay found no verdict")
			}
			for _, r := range rs {
				if r.Outcome != evaluator.ReplayIdentical || r.Replayed != r1.VerdictDigest {
					t.Errorf("replay %s: %s %s, want identical %s", r.Verdict, r.Outcome, r.Replayed, r1.VerdictDigest)
				}
			}
			pub, _ := signer.PublicPEM()
			st, err := evaluator.Status(ctx, imgRef, evaluator.StatusOptions{Trust: evaluator.Trust{Keys: [][]byte{pub}}, Registry: opts})
			if err != nil {
				t.Fatal(err)
			}
			states := map[string]int{}
			for _, s := range st {
				states[s.State]++
			}
			// The first signer's verdict verifies; the second signer's
			// (the same artifact, another bundle) verifies too through the
			// first bundle.
			if states[evaluator.StateComputed] != 1 || len(st) != 1 {
				t.Errorf("status under the first key: %v (%+v)", states, st)
			}
		})
	}
}

// TestEvaluateTrustedVEX: a VEX referrer signed by a --vex-key suppresses
// (the verdict changes); the same document unsigned suppresses nothing.
func TestEvaluateTrustedVEX(t *testing.T) {
	ctx := context.Background()
	h := regtest.Start(t, regtest.Referrers)
	opts := registry.Options{PlainHTTP: true}
	image, imgRef, feedRef, _ := setup(t, h+"/app", h+"/feeds", h+"/policies", opts)
	o := evaluator.EvaluateOptions{Sources: evaluator.Sources{Feed: feedRef}, Signer: newSigner(t), Registry: opts}
	untrusted, err := evaluator.Evaluate(ctx, imgRef, o)
	if err != nil {
		t.Fatal(err)
	}
	// The VEX publisher signs its VEX artifact.
	tg := open(t, imgRef, opts)
	refs, err := registry.Referrers(ctx, tg, image, "application/vnd.openvex+json")
	if err != nil || len(refs) != 1 {
		t.Fatalf("VEX referrers %v %v", refs, err)
	}
	vendor := newSigner(t)
	if _, err := evaluator.Attest(ctx, tg, refs[0], evaluator.AttestOptions{PredicateType: "https://stella-ops.org/attestation/vex-signature/v1", Predicate: []byte(`{}`), Signer: vendor}); err != nil {
		t.Fatal(err)
	}
	vpub, _ := vendor.PublicPEM()
	o.VEXTrust = evaluator.Trust{Keys: [][]byte{vpub}}
	trusted, err := evaluator.Evaluate(ctx, imgRef, o)
	if err != nil {
		t.Fatal(err)
	}
	u, tr := untrusted.Images[0], trusted.Images[0]
	if len(tr.VEXIgnored) != 0 || tr.Summary.Suppressed == 0 || u.Summary.Suppressed != 0 {
		t.Errorf("suppressed: untrusted %d (ignored %d), trusted %d (ignored %d); want 0 then >0", u.Summary.Suppressed, len(u.VEXIgnored), tr.Summary.Suppressed, len(tr.VEXIgnored))
	}
	if tr.CacheKey == u.CacheKey || tr.VerdictDigest == u.VerdictDigest || tr.State != evaluator.StateComputed {
		t.Errorf("trusting the VEX must change the cache key and the verdict: %s/%s vs %s/%s (%s)", tr.CacheKey, tr.VerdictDigest, u.CacheKey, u.VerdictDigest, tr.State)
	}
}

// TestEvaluateBadInput: each refusal is classified and pushes nothing.
func TestEvaluateBadInput(t *testing.T) {
	ctx := context.Background()
	h := regtest.Start(t, regtest.Referrers)
	opts := registry.Options{PlainHTTP: true}
	image, imgRef, feedRef, polRef := setup(t, h+"/app", h+"/feeds", h+"/policies", opts)
	signer := newSigner(t)
	tg := open(t, imgRef, opts)
	bare, err := registry.PushSampleImage(ctx, open(t, h+"/app:bare", opts), "no sbom")
	if err != nil {
		t.Fatal(err)
	}
	// A second SBOM with other content and no creation time: ambiguous.
	other := filepath.Join(t.TempDir(), "other.cdx.json")
	os.WriteFile(other, []byte(`{"bomFormat":"CycloneDX","specVersion":"1.5","components":[{"type":"library","name":"x","version":"1.0.0","purl":"pkg:npm/x@1.0.0"}]}`), 0o644)
	attach(t, tg, image, other)
	for _, tc := range []struct {
		name  string
		image string
		o     evaluator.EvaluateOptions
		want  error
	}{
		{"no SBOM", h + "/app@" + bare.Digest.String(), evaluator.EvaluateOptions{Sources: evaluator.Sources{Feed: feedRef}}, evaluator.ErrNoSBOM},
		{"ambiguous SBOMs", imgRef, evaluator.EvaluateOptions{Sources: evaluator.Sources{Feed: feedRef}}, evaluator.ErrAmbiguousSBOM},
		{"feed tag of a policy", imgRef, evaluator.EvaluateOptions{Sources: evaluator.Sources{Feed: polRef}}, evaluator.ErrWrongArtifact},
		{"policy that does not compile", imgRef, evaluator.EvaluateOptions{Sources: evaluator.Sources{Feed: feedRef, Policy: badPolicy(t)}}, errPolicy},
		{"unknown SBOM digest", imgRef, evaluator.EvaluateOptions{Sources: evaluator.Sources{Feed: feedRef}, SBOMDigest: "sha256:0000000000000000000000000000000000000000000000000000000000000000"}, evaluator.ErrNoSBOM},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.o.Signer, tc.o.Registry = signer, opts
			before := verdictCount(t, tg, image)
			_, err := evaluator.Evaluate(ctx, tc.image, tc.o)
			if !errors.Is(err, tc.want) || evaluator.Class(err) != evaluator.ErrCouldNotRun {
				t.Fatalf("Evaluate() = %v, want %v (could not run)", err, tc.want)
			}
			if after := verdictCount(t, tg, image); after != before {
				t.Errorf("a failed evaluate pushed %d verdicts", after-before)
			}
		})
	}
}

func verdictCount(t *testing.T, tg *registry.Target, image ocispec.Descriptor) int {
	refs, err := registry.Referrers(context.Background(), tg, image, artifacts.MediaTypeVerdict)
	if err != nil {
		t.Fatal(err)
	}
	return len(refs)
}

// TestCacheRefusesTampering: a cached verdict is reused only when its
// bundle verifies: a forged verdict artifact with the right cache key but
// signed by another key, and the genuine bundle with a flipped byte, are
// both misses, and the evaluation runs again.
func TestCacheRefusesTampering(t *testing.T) {
	ctx := context.Background()
	d := t.TempDir()
	img, opts := "oci:"+filepath.Join(d, "app"), registry.Options{}
	image, imgRef, feedRef, _ := setup(t, img, "oci:"+filepath.Join(d, "feeds"), "oci:"+filepath.Join(d, "policies"), opts)
	signer := newSigner(t)
	o := evaluator.EvaluateOptions{Sources: evaluator.Sources{Feed: feedRef}, Signer: signer, Registry: opts}
	first, err := evaluator.Evaluate(ctx, imgRef, o)
	if err != nil {
		t.Fatal(err)
	}
	r1 := first.Images[0]
	// Flip a byte of the genuine bundle's blob in the layout.
	tg := open(t, imgRef, opts)
	bundles, err := registry.Referrers(ctx, tg, image, artifacts.MediaTypeSigstoreBundle)
	if err != nil || len(bundles) != 1 {
		t.Fatalf("bundles %v %v", bundles, err)
	}
	m, _, err := registry.FetchManifest(ctx, tg, bundles[0])
	if err != nil {
		t.Fatal(err)
	}
	blob := filepath.Join(d, "app", "blobs", "sha256", m.Layers[0].Digest.Encoded())
	b, err := os.ReadFile(blob)
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)/2] ^= 0x20
	if err := os.WriteFile(blob, b, 0o644); err != nil {
		t.Fatal(err)
	}
	second, err := evaluator.Evaluate(ctx, imgRef, o)
	if err != nil {
		t.Fatal(err)
	}
	if r2 := second.Images[0]; r2.State != evaluator.StateComputed || r2.EngineRuns != 1 || r2.VerdictDigest != r1.VerdictDigest {
		t.Errorf("after tampering: %s (%d runs); want a recomputed verdict %s", r2.State, r2.EngineRuns, r1.VerdictDigest)
	}
	// A forged verdict for the same cache key, signed by an attacker.
	attacker := newSigner(t)
	forged := registry.NewLayer(artifacts.MediaTypeVerdict, []byte(`{"status":"pass"}`), "verdict.json")
	fa, err := registry.PushArtifact(ctx, tg, registry.ArtifactOptions{
		ArtifactType: artifacts.MediaTypeVerdict, Subject: &image,
		Layers: []registry.Layer{registry.NewLayer(artifacts.MediaTypeScanManifest, []byte(`{}`), ""), forged},
		Annotations: map[string]string{
			artifacts.AnnotationCacheKey: r1.CacheKey, artifacts.AnnotationEngine: engine.Name + "/" + engine.Version,
			artifacts.AnnotationVerdictDigest: forged.Descriptor.Digest.String(), artifacts.AnnotationEpoch: "2099-01-01T00:00:00Z",
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := evaluator.Attest(ctx, tg, image, evaluator.AttestOptions{PredicateType: bundle.PredicateVerdict, Predicate: []byte(`{"verdict_artifact":{"digest":"` + fa.Digest.String() + `"},"verdict_digest":"` + forged.Descriptor.Digest.String() + `"}`), Signer: attacker, Annotations: map[string]string{artifacts.AnnotationVerdictArtifact: fa.Digest.String()}}); err != nil {
		t.Fatal(err)
	}
	tg.Close()
	third, err := evaluator.Evaluate(ctx, imgRef, o)
	if err != nil {
		t.Fatal(err)
	}
	if r3 := third.Images[0]; r3.Status != r1.Status || r3.VerdictDigest != r1.VerdictDigest {
		t.Errorf("with a forged verdict present: %s %s %s; want the genuine %s", r3.State, r3.Status, r3.VerdictDigest, r1.VerdictDigest)
	}
}

// TestNewEpochMakesStale: a newer feed epoch in the feeds repository makes
// the verdict stale, and the next evaluate against the repository (no tag:
// its latest epoch) recomputes.
func TestNewEpochMakesStale(t *testing.T) {
	ctx := context.Background()
	h := regtest.Start(t, regtest.Referrers)
	opts := registry.Options{PlainHTTP: true}
	_, imgRef, _, _ := setup(t, h+"/app", h+"/feeds", h+"/policies", opts)
	signer := newSigner(t)
	pub, _ := signer.PublicPEM()
	o := evaluator.EvaluateOptions{Sources: evaluator.Sources{Feed: h + "/feeds"}, Signer: signer, Registry: opts}
	first, err := evaluator.Evaluate(ctx, imgRef, o)
	if err != nil {
		t.Fatal(err)
	}
	status := func() []evaluator.VerdictState {
		st, err := evaluator.Status(ctx, imgRef, evaluator.StatusOptions{Trust: evaluator.Trust{Keys: [][]byte{pub}}, Registry: opts})
		if err != nil {
			t.Fatal(err)
		}
		return st
	}
	if st := status(); len(st) != 1 || st[0].State != evaluator.StateComputed {
		t.Fatalf("status before the new epoch: %+v", st)
	}
	later, err := load.Feed(context.Background(), example("quickstart/osv"), load.FeedOptions{Epoch: time.Date(2026, 9, 1, 0, 0, 0, 0, time.UTC)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := evaluator.PushFeed(ctx, later, h+"/feeds", evaluator.PushFeedOptions{Registry: opts}); err != nil {
		t.Fatal(err)
	}
	if st := status(); len(st) != 1 || st[0].State != evaluator.StateStale || st[0].LatestEpoch != "2026-09-01T000000Z" {
		t.Fatalf("status after the new epoch: %+v", st)
	}
	second, err := evaluator.Evaluate(ctx, imgRef, o)
	if err != nil {
		t.Fatal(err)
	}
	if r := second.Images[0]; r.State != evaluator.StateComputed || r.ManifestDigest == first.Images[0].ManifestDigest {
		t.Errorf("evaluate after the new epoch: %s, manifest %s (before %s); want a new computation", r.State, r.ManifestDigest, first.Images[0].ManifestDigest)
	}
	st := status()
	if len(st) != 2 || st[0].State != evaluator.StateComputed || st[1].State != evaluator.StateStale {
		t.Errorf("status after recomputing: %+v; want the new verdict computed and the old one stale", st)
	}
}
