package registry_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/content"
	"oras.land/oras-go/v2/registry/remote/credentials"

	"github.com/stella-ops/stella-oras/internal/regtest"
	"github.com/stella-ops/stella-oras/registry"
)

const sbomType = "application/vnd.cyclonedx+json"

// targets opens a fresh target of every kind: the embedded registry
// (referrers API), plain distribution (tag-schema fallback), an OCI layout.
func targets(t *testing.T) map[string]func() *registry.Target {
	t.Helper()
	ctx := context.Background()
	out := map[string]func() *registry.Target{}
	for _, kind := range []string{regtest.Referrers, regtest.Plain} {
		host := regtest.Start(t, kind)
		out[kind] = func() *registry.Target {
			ref, err := registry.ParseReference(host + "/app")
			if err != nil {
				t.Fatal(err)
			}
			tg, err := registry.Open(ctx, ref, registry.Options{PlainHTTP: true, Credentials: credentials.NewMemoryStore()})
			if err != nil {
				t.Fatal(err)
			}
			return tg
		}
	}
	dir := t.TempDir()
	out["layout"] = func() *registry.Target {
		ref, _ := registry.ParseReference("oci:" + dir)
		tg, err := registry.Open(ctx, ref, registry.Options{})
		if err != nil {
			t.Fatal(err)
		}
		return tg
	}
	return out
}

func TestAttachDiscoverPull(t *testing.T) {
	ctx := context.Background()
	for name, open := range targets(t) {
		t.Run(name, func(t *testing.T) {
			tg := open()
			img := regtest.PushImage(t, tg.Store, "v1")
			sbom := []byte(`{"bomFormat":"CycloneDX","specVersion":"1.6","components":[]}`)
			a1, err := registry.Attach(ctx, tg, img, sbom, registry.AttachOptions{ArtifactType: sbomType, MediaType: sbomType, FileName: "sbom.cdx.json"})
			if err != nil {
				t.Fatal(err)
			}
			// Deterministic: a second attach (fresh client) is the same manifest.
			tg2 := open()
			a2, err := registry.Attach(ctx, tg2, img, sbom, registry.AttachOptions{ArtifactType: sbomType, MediaType: sbomType, FileName: "sbom.cdx.json"})
			if err != nil {
				t.Fatal(err)
			}
			if a1.Digest != a2.Digest {
				t.Fatalf("attach twice: %s then %s", a1.Digest, a2.Digest)
			}
			// A signature-like referrer of the SBOM, and a VEX on the image.
			sig, err := registry.Attach(ctx, tg2, a1, []byte(`{"sig":1}`), registry.AttachOptions{ArtifactType: "application/vnd.dev.sigstore.bundle.v0.3+json", MediaType: "application/vnd.dev.sigstore.bundle.v0.3+json"})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := registry.Attach(ctx, tg2, img, []byte(`{"@context":"https://openvex.dev/ns/v0.2.0"}`), registry.AttachOptions{ArtifactType: "application/vnd.openvex+json", MediaType: "application/vnd.openvex+json", Annotations: map[string]string{"x": "y"}}); err != nil {
				t.Fatal(err)
			}

			tree, err := registry.Discover(ctx, open(), img, registry.DiscoverOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if len(tree.Referrers) != 2 {
				t.Fatalf("direct referrers = %d, want 2 (SBOM once, VEX)", len(tree.Referrers))
			}
			var sbomNode *registry.Node
			for _, n := range tree.Referrers {
				if n.ArtifactType == sbomType {
					sbomNode = n
				}
				if n.ArtifactType == "application/vnd.openvex+json" && n.Annotations["x"] != "y" {
					t.Errorf("VEX referrer lost its annotations: %+v", n.Descriptor)
				}
			}
			if sbomNode == nil || sbomNode.Digest != a1.Digest || len(sbomNode.Referrers) != 1 || sbomNode.Referrers[0].Digest != sig.Digest {
				t.Fatalf("recursive tree wrong: %+v", tree)
			}
			only, err := registry.Referrers(ctx, open(), img, "application/vnd.openvex+json")
			if err != nil || len(only) != 1 {
				t.Errorf("filtered referrers = %v (%v), want the VEX only", only, err)
			}

			out := t.TempDir()
			p, err := registry.Pull(ctx, open(), a1.Digest, out, registry.PullOptions{})
			if err != nil {
				t.Fatal(err)
			}
			got, err := os.ReadFile(filepath.Join(out, "sbom.cdx.json"))
			if err != nil || !bytes.Equal(got, sbom) || len(p.Files) != 1 {
				t.Errorf("pulled %v, %q (%v)", p.Files, got, err)
			}
			// Limits: a blob limit below the SBOM's size refuses, writes nothing.
			out2 := t.TempDir()
			if _, err := registry.Pull(ctx, open(), a1.Digest, out2, registry.PullOptions{MaxBlobBytes: 10}); !errors.Is(err, registry.ErrTooLarge) {
				t.Errorf("pull over the blob limit: %v", err)
			}
			if es, _ := os.ReadDir(out2); len(es) != 0 {
				t.Errorf("left behind: %v", es)
			}
			if _, err := registry.Pull(ctx, open(), digest.FromString("missing"), t.TempDir(), registry.PullOptions{}); !errors.Is(err, registry.ErrNotFound) {
				t.Errorf("pull of a missing digest: %v", err)
			}
		})
	}
}

// TestConcurrentAttachFallback: 50 concurrent writers attach to one image
// on a registry without the referrers API (the referrers tag is updated by
// read-modify-write, with no conditional requests), over 20 rounds, each on
// a fresh image; no round may lose an entry that its writer reported
// attached. Writers that lose their entry to a stale overwrite must detect
// and repair it before they return.
func TestConcurrentAttachFallback(t *testing.T) {
	ctx := context.Background()
	open := targets(t)[regtest.Plain]
	const writers, rounds = 50, 20
	for round := range rounds {
		img := regtest.PushImage(t, open().Store, fmt.Sprintf("base-%d", round))
		var wg sync.WaitGroup
		errs := make([]error, writers)
		for i := range errs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, errs[i] = registry.Attach(ctx, open(), img, fmt.Appendf(nil, `{"round":%d,"n":%d}`, round, i), registry.AttachOptions{ArtifactType: sbomType, MediaType: sbomType})
			}()
		}
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Errorf("round %d: attach %d: %v", round, i, err)
			}
		}
		refs, err := registry.Referrers(ctx, open(), img, "")
		if err != nil {
			t.Fatal(err)
		}
		if len(refs) != writers {
			t.Errorf("round %d: referrers tag lists %d, want %d", round, len(refs), writers)
		}
		for _, r := range refs {
			if r.ArtifactType != sbomType {
				t.Errorf("fallback entry without artifactType: %+v", r)
			}
		}
	}
}

// TestFallbackTagIsSubject: a referrers tag that resolves to the subject
// itself (as on GitLab, oras-go#1396) is refused, not read as referrers.
func TestFallbackTagIsSubject(t *testing.T) {
	ctx := context.Background()
	open := targets(t)[regtest.Plain]
	tg := open()
	img := regtest.PushImage(t, tg.Store, "gl")
	if err := tg.Store.Tag(ctx, img, img.Digest.Algorithm().String()+"-"+img.Digest.Encoded()); err != nil {
		t.Fatal(err)
	}
	if _, err := registry.Referrers(ctx, open(), img, ""); !errors.Is(err, registry.ErrFallbackIndex) {
		t.Errorf("Referrers = %v, want ErrFallbackIndex", err)
	}
	// Attach refuses before it writes anything (#11 item 8): the tag still
	// names the subject, and the referrer's blob was not uploaded. Before
	// the fix oras-go replaced the tag with an index, then attach failed.
	sbom := []byte(`{"bomFormat":"CycloneDX","specVersion":"1.6","serialNumber":"urn:gl"}`)
	if _, err := registry.Attach(ctx, open(), img, sbom, registry.AttachOptions{ArtifactType: sbomType, MediaType: sbomType}); !errors.Is(err, registry.ErrFallbackIndex) {
		t.Errorf("Attach = %v, want ErrFallbackIndex", err)
	}
	tag := img.Digest.Algorithm().String() + "-" + img.Digest.Encoded()
	if d, err := tg.Store.Resolve(ctx, tag); err != nil || d.Digest != img.Digest {
		t.Errorf("after a refused attach the tag %s resolves to %v (%v), want the subject", tag, d.Digest, err)
	}
	if ok, _ := tg.Store.Exists(ctx, content.NewDescriptorFromBytes(sbomType, sbom)); ok {
		t.Error("a refused attach uploaded its blob")
	}
}

func TestParseReference(t *testing.T) {
	for in, want := range map[string]registry.Reference{
		"localhost:5000/app@sha256:" + fmt.Sprintf("%064x", 1): {Kind: registry.KindRemote, Repository: "localhost:5000/app", Digest: digest.Digest("sha256:" + fmt.Sprintf("%064x", 1))},
		"ghcr.io/org/app:v1": {Kind: registry.KindRemote, Repository: "ghcr.io/org/app", Tag: "v1"},
		"oci:./layout:v1":    {Kind: registry.KindLayout, Repository: "./layout", Tag: "v1"},
		"oci:/tmp/x":         {Kind: registry.KindLayout, Repository: "/tmp/x"},
		"oci-archive:img.tar@sha256:" + fmt.Sprintf("%064x", 2): {Kind: registry.KindArchive, Repository: "img.tar", Digest: digest.Digest("sha256:" + fmt.Sprintf("%064x", 2))},
	} {
		got, err := registry.ParseReference(in)
		if err != nil || got != want {
			t.Errorf("ParseReference(%q) = %+v, %v, want %+v", in, got, err, want)
		}
	}
	for _, bad := range []string{"oci:", "host/app@sha256:zz", "host/App:v1", "host/app:bad tag"} {
		if _, err := registry.ParseReference(bad); !errors.Is(err, registry.ErrReference) {
			t.Errorf("ParseReference(%q) = %v, want ErrReference", bad, err)
		}
	}
	_ = ocispec.MediaTypeImageIndex
}

// TestErrorAnswersKeepConnections: a GET answered 404 (a referrers tag
// that does not exist, read by every listing on plain distribution) keeps
// its connection: oras-go closes such bodies unread, which made net/http
// drop the connection and dial anew for the next request.
func TestErrorAnswersKeepConnections(t *testing.T) {
	ctx := context.Background()
	host, conns := regtest.StartCountingConns(t, regtest.Plain)
	tg := openRemote(t, host)
	img := regtest.PushImage(t, tg.Store, "v1")
	conns.Reset()
	for range 10 {
		refs, err := registry.Referrers(ctx, tg, img, "")
		if err != nil || len(refs) != 0 {
			t.Fatalf("Referrers = %v, %v; want none", refs, err)
		}
	}
	if n := conns.Count(); n > 2 {
		t.Errorf("10 listings, each a GET answered 404, over %d connections, want at most 2", n)
	}
}
