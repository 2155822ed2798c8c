package evaluator_test

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/stella-ops/stella-oras/artifacts"
	"github.com/stella-ops/stella-oras/engine/delta"
	"github.com/stella-ops/stella-oras/evaluator"
	"github.com/stella-ops/stella-oras/internal/regtest"
	"github.com/stella-ops/stella-oras/registry"
)

// withoutComponent writes the quickstart SBOM without the component whose
// purl contains name.
func withoutComponent(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(example("quickstart/sbom.cdx.json"))
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	var keep []any
	for _, c := range doc["components"].([]any) {
		if p, _ := c.(map[string]any)["purl"].(string); !strings.Contains(p, name) {
			keep = append(keep, c)
		}
	}
	doc["components"] = keep
	out, _ := json.Marshal(doc)
	p := filepath.Join(t.TempDir(), "base.cdx.json")
	os.WriteFile(p, out, 0o644)
	return p
}

// TestEvaluateBaseline: the head image adds a component with a critical
// finding and carries reachability evidence; against the baseline image
// the delta lists the critical as added and the reachability changes by
// vulnerability and package, is signed and attached to the head, fires
// new-critical and not what did not happen, and a rerun signs nothing new.
// A baseline given as the verdict artifact gives the same delta.
func TestEvaluateBaseline(t *testing.T) {
	for _, kind := range []string{regtest.Referrers, regtest.Plain} {
		t.Run(kind, func(t *testing.T) {
			ctx := context.Background()
			h := regtest.Start(t, kind)
			opts := registry.Options{PlainHTTP: true}
			_, headRef, feedRef, polRef := setup(t, h+"/app", h+"/feeds", h+"/policies", opts)
			head := open(t, headRef, opts)
			img, _ := head.Resolve(ctx, head.Ref.Digest.String())
			attach(t, head, img, example("quickstart/reach-graph.json"))
			bt := open(t, h+"/app:base", opts)
			base, err := registry.PushSampleImage(ctx, bt, "baseline image")
			if err != nil {
				t.Fatal(err)
			}
			attach(t, bt, base, withoutComponent(t, "example-crate"))
			baseRef := h + "/app@" + base.Digest.String()

			gates, _ := delta.ParseGates("new-critical,new-high,status-worse")
			signer := newSigner(t)
			o := evaluator.EvaluateOptions{Sources: evaluator.Sources{Feed: feedRef, Policy: polRef, Env: "prod"}, Signer: signer, Registry: opts, Baseline: baseRef, DeltaGates: gates}
			rep, err := evaluator.Evaluate(ctx, headRef, o)
			if err != nil {
				t.Fatal(err)
			}
			d := rep.Images[0].Delta
			if d == nil {
				t.Fatal("no delta with a baseline")
			}
			if d.BaselineState != evaluator.StateComputed || !strings.Contains(d.Baseline, "@sha256:") {
				t.Errorf("baseline %s (%s), want its verdict computed", d.Baseline, d.BaselineState)
			}
			added := false
			for _, a := range d.Delta.Added {
				if a.Severity == "critical" && strings.Contains(a.Purl, "example-crate") && a.Vulnerability == "EX-CARGO-2026-0001" {
					added = true
				}
			}
			if !added || len(d.Delta.Removed) != 0 {
				t.Errorf("added %+v removed %+v; want the cargo critical added, nothing removed", d.Delta.Added, d.Delta.Removed)
			}
			reach := 0
			for _, c := range d.Delta.Changed {
				if c.Vulnerability == "" || c.Purl == "" {
					t.Errorf("changed entry without vulnerability or package: %+v", c)
				}
				if c.Field == "reachability" {
					reach++
				}
			}
			if reach == 0 {
				t.Errorf("changed %+v: want the reachability changes the head's evidence makes", d.Delta.Changed)
			}
			if len(d.Fired) != 1 || !strings.HasPrefix(d.Fired[0], "new-critical") {
				t.Errorf("fired %q, want new-critical only (no new high, status fail on both sides)", d.Fired)
			}
			// Signed and attached to the head: the bundle verifies and
			// names the delta artifact.
			vr, err := evaluator.VerifyImage(ctx, head, img, evaluator.VerifyImageOptions{Trust: trustOf(t, signer), PredicateType: "https://stella-ops.org/attestation/delta/v1"})
			if err != nil || !vr.Satisfied {
				t.Fatalf("verifying the delta bundle on the head: %+v %v", vr, err)
			}
			deltas, err := registry.Referrers(ctx, head, img, artifacts.MediaTypeDelta)
			if err != nil || len(deltas) != 1 || !strings.HasSuffix(d.Artifact, deltas[0].Digest.String()) {
				t.Fatalf("delta referrers %v %v, want the one pushed (%s)", deltas, err, d.Artifact)
			}
			// A rerun: both verdicts cached, the same delta, no new bundle.
			bundles := count(t, head, img, artifacts.MediaTypeSigstoreBundle)
			again, err := evaluator.Evaluate(ctx, headRef, o)
			if err != nil {
				t.Fatal(err)
			}
			d2 := again.Images[0].Delta
			if again.Images[0].State != evaluator.StateCached || d2.BaselineState != evaluator.StateCached || d2.Digest != d.Digest || d2.Bundle != d.Bundle {
				t.Errorf("rerun: %s/%s delta %s bundle %s; want cached/cached, %s, %s", again.Images[0].State, d2.BaselineState, d2.Digest, d2.Bundle, d.Digest, d.Bundle)
			}
			if n := count(t, head, img, artifacts.MediaTypeSigstoreBundle); n != bundles {
				t.Errorf("rerun: %d bundles, was %d", n, bundles)
			}
			// The baseline's verdict artifact as the baseline.
			o.Baseline = d.Baseline
			byRef, err := evaluator.Evaluate(ctx, headRef, o)
			if err != nil {
				t.Fatal(err)
			}
			if d3 := byRef.Images[0].Delta; d3.Digest != d.Digest || d3.BaselineState != "given" {
				t.Errorf("baseline by verdict reference: delta %s (%s), want %s (given)", d3.Digest, d3.BaselineState, d.Digest)
			}
			// A verdict signed by a key not trusted is refused as a baseline.
			o.Signer = newSigner(t)
			if _, err := evaluator.Evaluate(ctx, headRef, o); !errors.Is(err, evaluator.ErrVerification) {
				t.Errorf("baseline verdict under another key: %v, want a verification failure", err)
			}
		})
	}
}

func trustOf(t *testing.T, s *evaluator.Signer) evaluator.Trust {
	pub, err := s.PublicPEM()
	if err != nil {
		t.Fatal(err)
	}
	return evaluator.Trust{Keys: [][]byte{pub}}
}

func count(t *testing.T, tg *registry.Target, subject ocispec.Descriptor, artifactType string) int {
	t.Helper()
	refs, err := registry.Referrers(context.Background(), tg, subject, artifactType)
	if err != nil {
		t.Fatal(err)
	}
	return len(refs)
}

// TestEvaluateMany: images come back in input order whatever order they
// finish in, a bad one fails alone, and the same images give the same
// verdicts with 1 job or 4.
func TestEvaluateMany(t *testing.T) {
	ctx := context.Background()
	h := regtest.Start(t, regtest.Referrers)
	opts := registry.Options{PlainHTTP: true}
	_, first, feedRef, polRef := setup(t, h+"/app", h+"/feeds", h+"/policies", opts)
	images := []string{first}
	tg := open(t, h+"/many:x", opts)
	for _, seed := range []string{"a", "b", "c", "d", "e"} {
		img, err := registry.PushSampleImage(ctx, tg, "many "+seed)
		if err != nil {
			t.Fatal(err)
		}
		attach(t, tg, img, example("quickstart/sbom.cdx.json"))
		images = append(images, h+"/many@"+img.Digest.String())
	}
	images = append(images[:3], append([]string{h + "/many:no-such-tag"}, images[3:]...)...)
	run := func(jobs int, s *evaluator.Signer) []evaluator.Item {
		items, err := evaluator.EvaluateMany(ctx, images, jobs, evaluator.EvaluateOptions{Sources: evaluator.Sources{Feed: feedRef, Policy: polRef}, Signer: s, Registry: opts, NoCache: true})
		if err != nil {
			t.Fatal(err)
		}
		return items
	}
	one, four := run(1, newSigner(t)), run(4, newSigner(t))
	for i, im := range images {
		for _, items := range [][]evaluator.Item{one, four} {
			if items[i].Reference != im {
				t.Fatalf("item %d is %s, want %s (input order)", i, items[i].Reference, im)
			}
		}
		if i == 3 {
			if one[i].Err == nil || four[i].Err == nil || one[i].Report != nil {
				t.Errorf("the missing tag: %v / %v, want an error and no report", one[i].Err, four[i].Err)
			}
			continue
		}
		if one[i].Err != nil || four[i].Err != nil {
			t.Fatalf("%s: %v / %v", im, one[i].Err, four[i].Err)
		}
		if a, b := one[i].Report.Images[0], four[i].Report.Images[0]; a.VerdictDigest != b.VerdictDigest || a.ManifestDigest != b.ManifestDigest {
			t.Errorf("%s: jobs 1 gives %s, jobs 4 gives %s", im, a.VerdictDigest, b.VerdictDigest)
		}
	}
}

// TestVerdictIndependentOfLocation: the same image judged in two OCI
// layouts in different directories and in a registry gets the
// byte-identical verdict (the verdict names the image by digest alone).
func TestVerdictIndependentOfLocation(t *testing.T) {
	ctx := context.Background()
	var digests []string
	for _, mk := range []func(t *testing.T) (string, string, string, registry.Options){stores(t)["oci-layout"], stores(t)["oci-layout"], stores(t)["referrers-api"]} {
		img, feeds, pols, opts := mk(t)
		_, ref, feedRef, polRef := setup(t, img, feeds, pols, opts)
		rep, err := evaluator.Evaluate(ctx, ref, evaluator.EvaluateOptions{Sources: evaluator.Sources{Feed: feedRef, Policy: polRef}, Signer: newSigner(t), Registry: opts})
		if err != nil {
			t.Fatal(err)
		}
		digests = append(digests, rep.Images[0].VerdictDigest+" "+rep.Images[0].CacheKey)
	}
	if digests[0] != digests[1] || digests[0] != digests[2] {
		t.Errorf("verdict and cache key by location: %q", digests)
	}
}

// TestUnsignedVEXCannotSuppressCritical: anyone who can push can attach a
// VEX saying the image's critical findings are not_affected. Unsigned, it
// is recorded as VEX_UNTRUSTED and the criticals still fail; given as the
// user's own file, the same document suppresses them.
func TestUnsignedVEXCannotSuppressCritical(t *testing.T) {
	ctx := context.Background()
	h := regtest.Start(t, regtest.Plain)
	opts := registry.Options{PlainHTTP: true}
	image, imgRef, feedRef, polRef := setup(t, h+"/app", h+"/feeds", h+"/policies", opts)
	forged := filepath.Join(t.TempDir(), "forged.openvex.json")
	os.WriteFile(forged, []byte(`{"@context":"https://openvex.dev/ns/v0.2.0","@id":"https://attacker.invalid/vex/1","author":"someone with push access","timestamp":"2026-05-03T00:00:00Z","version":1,"statements":[`+
		`{"vulnerability":{"name":"EX-CARGO-2026-0001"},"products":[{"@id":"pkg:cargo/example-crate@0.4.0"}],"status":"not_affected","justification":"component_not_present"},`+
		`{"vulnerability":{"name":"EX-GHSA-2026-0001"},"products":[{"@id":"pkg:golang/example.com/webframework@v1.5.2"}],"status":"not_affected","justification":"component_not_present"}]}`), 0o644)
	attach(t, open(t, imgRef, opts), image, forged)
	criticals := func(rep *evaluator.Report) (failing int) {
		for _, f := range rep.Images[0].VerdictDocument().Findings {
			if f.Severity == "critical" && f.Outcome == artifacts.StatusFail {
				failing++
			}
		}
		return failing
	}
	o := evaluator.EvaluateOptions{Sources: evaluator.Sources{Feed: feedRef, Policy: polRef}, Signer: newSigner(t), Registry: opts}
	rep, err := evaluator.Evaluate(ctx, imgRef, o)
	if err != nil {
		t.Fatal(err)
	}
	if n := criticals(rep); n != 2 || len(rep.Images[0].VEXIgnored) != 2 || rep.Status != artifacts.StatusFail {
		t.Errorf("unsigned VEX on the image: %d critical findings failing, %d VEX ignored, status %s; want 2, 2 (both untrusted), fail", n, len(rep.Images[0].VEXIgnored), rep.Status)
	}
	for _, x := range rep.Images[0].VEXIgnored {
		if x.Reason != "VEX_UNTRUSTED" {
			t.Errorf("ignored VEX reason %s", x.Reason)
		}
	}
	o.Sources.VEX = []string{forged}
	own, err := evaluator.Evaluate(ctx, imgRef, o)
	if err != nil {
		t.Fatal(err)
	}
	if n := criticals(own); n != 0 {
		t.Errorf("the same VEX as the user's own file: %d criticals still failing, want 0", n)
	}
}
