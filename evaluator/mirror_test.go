package evaluator_test

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/content"

	"github.com/stella-ops/stella-oras/artifacts"
	"github.com/stella-ops/stella-oras/bundle"
	"github.com/stella-ops/stella-oras/evaluator"
	"github.com/stella-ops/stella-oras/internal/regtest"
	"github.com/stella-ops/stella-oras/registry"
)

// TestMirrorRequireVerified: the verified mirror copies an image whose
// bundle verifies under the trust, leaves behind a bundle that does not,
// and attaches a signed receipt naming what it refused; an image with no
// bundle the trust accepts is refused whole (ErrVerificationFailed) and
// nothing of it reaches the destination.
func TestMirrorRequireVerified(t *testing.T) {
	ctx := context.Background()
	srcHost, dstHost := regtest.Start(t, regtest.Referrers), regtest.Start(t, regtest.Plain)
	opts := registry.Options{PlainHTTP: true}
	tg := open(t, srcHost+"/app:v1", opts)
	img, err := registry.PushSampleImage(ctx, tg, "verified mirror")
	if err != nil {
		t.Fatal(err)
	}
	attach(t, tg, img, example("quickstart/sbom.cdx.json"))
	signer, receipts, stranger := newSigner(t), newSigner(t), newSigner(t)
	good, err := evaluator.Attest(ctx, tg, img, evaluator.AttestOptions{PredicateType: "https://example.com/test/v1", Predicate: []byte(`{"ok":true}`), Signer: signer})
	if err != nil {
		t.Fatal(err)
	}
	junkData := []byte(`{"mediaType":"application/vnd.dev.sigstore.bundle.v0.3+json"}`)
	junk, err := registry.Attach(ctx, tg, img, junkData, registry.AttachOptions{ArtifactType: artifacts.MediaTypeSigstoreBundle, MediaType: artifacts.MediaTypeSigstoreBundle})
	if err != nil {
		t.Fatal(err)
	}
	tg.Close()
	pub, _ := signer.PublicPEM()
	src := srcHost + "/app@" + img.Digest.String()
	run := func(dst string, trust evaluator.Trust) registry.MirrorResult {
		t.Helper()
		res, err := evaluator.Mirror(ctx, []string{src}, dst, evaluator.MirrorOptions{
			MirrorRunOptions: registry.MirrorRunOptions{Source: opts, Destination: opts},
			RequireVerified:  true, Trust: trust, Signer: receipts,
		})
		if err != nil {
			t.Fatal(err)
		}
		return res[0]
	}

	r := run(dstHost+"/ok", evaluator.Trust{Keys: [][]byte{pub}})
	if r.Err != nil {
		t.Fatal(r.Err)
	}
	if !r.Report.Admitted || len(r.Report.Refused) != 1 || r.Report.Refused[0].Digest != junk.Digest {
		t.Errorf("admitted %v, refused %v; want admitted, the junk bundle %s refused", r.Report.Admitted, r.Report.Refused, junk.Digest)
	}
	dt := open(t, dstHost+"/ok", opts)
	refs, err := registry.Referrers(ctx, dt, img, artifacts.MediaTypeSigstoreBundle)
	if err != nil {
		t.Fatal(err)
	}
	has := func(d ocispec.Descriptor) bool {
		return slices.ContainsFunc(refs, func(x ocispec.Descriptor) bool { return x.Digest == d.Digest })
	}
	if !has(good.Bundle) || has(junk) {
		t.Errorf("destination bundles %v: want the verified %s and not the junk %s", refs, good.Bundle.Digest, junk.Digest)
	}
	// Nothing of a refused referrer is copied, its blob neither: the gate
	// decides before anything is written.
	if ok, _ := dt.Store.Exists(ctx, content.NewDescriptorFromBytes(artifacts.MediaTypeSigstoreBundle, junkData)); ok {
		t.Error("the refused bundle's blob reached the destination")
	}
	// The receipt: verifies under the receipt key and names the refusal.
	rpub, _ := receipts.PublicPEM()
	vr, err := evaluator.VerifyImage(ctx, dt, img, evaluator.VerifyImageOptions{Trust: evaluator.Trust{Keys: [][]byte{rpub}}, PredicateType: bundle.PredicateMirror})
	if err != nil {
		t.Fatal(err)
	}
	if !vr.Satisfied {
		t.Fatalf("the receipt does not verify at the destination: %+v", vr)
	}
	var rc evaluator.MirrorReceipt
	for _, b := range refs2(t, dt, img) {
		if b.Annotations[artifacts.AnnotationBundlePredicateType] != bundle.PredicateMirror {
			continue
		}
		data, err := registry.FetchSingleLayer(ctx, dt, b, artifacts.MediaTypeSigstoreBundle, 1<<20)
		if err != nil {
			t.Fatal(err)
		}
		var env struct {
			DSSE struct {
				Payload []byte `json:"payload"`
			} `json:"dsseEnvelope"`
		}
		var st struct {
			Predicate evaluator.MirrorReceipt `json:"predicate"`
		}
		if err := json.Unmarshal(data, &env); err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(env.DSSE.Payload, &st); err != nil {
			t.Fatal(err)
		}
		rc = st.Predicate
	}
	if len(rc.Refused) != 1 || rc.Refused[0].Digest != junk.Digest || !rc.Verified || rc.Image != img.Digest.String() {
		t.Errorf("receipt %+v: want the image, require_verified and the junk bundle refused", rc)
	}

	r = run(dstHost+"/refused", evaluator.Trust{Keys: [][]byte{mustPub(t, stranger)}})
	if !errors.Is(r.Err, evaluator.ErrVerification) || r.Report == nil || r.Report.Admitted {
		t.Fatalf("untrusted image: %v, want ErrVerificationFailed and not admitted", r.Err)
	}
	// Another signer's bundle is refused as that, once, not with
	// sigstore-go's threshold message under "verification failed" twice.
	for _, rf := range r.Report.Refused {
		if rf.Digest == good.Bundle.Digest && (!strings.Contains(rf.Reason, "not signed by a trusted key") || strings.Count(rf.Reason, "verification failed") > 1 || strings.Contains(rf.Reason, "Found:")) {
			t.Errorf("the other signer's bundle refused as %q, want it said once that it is not signed by a trusted key", rf.Reason)
		}
	}
	if !slices.ContainsFunc(r.Report.Refused, func(rf registry.MirrorRefusal) bool { return rf.Digest == good.Bundle.Digest }) {
		t.Errorf("refused %v: want the other signer's bundle %s among them", r.Report.Refused, good.Bundle.Digest)
	}
	if ok, _ := open(t, dstHost+"/refused", opts).Store.Exists(ctx, img); ok {
		t.Error("the refused image reached the destination")
	}
}

func refs2(t *testing.T, tg *registry.Target, img ocispec.Descriptor) []ocispec.Descriptor {
	t.Helper()
	refs, err := registry.Referrers(context.Background(), tg, img, artifacts.MediaTypeSigstoreBundle)
	if err != nil {
		t.Fatal(err)
	}
	return refs
}

func mustPub(t *testing.T, s *evaluator.Signer) []byte {
	t.Helper()
	p, err := s.PublicPEM()
	if err != nil {
		t.Fatal(err)
	}
	return p
}
