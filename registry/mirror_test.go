package registry_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/content"
	"oras.land/oras-go/v2/registry/remote/credentials"

	"github.com/stella-ops/stella-oras/internal/regtest"
	"github.com/stella-ops/stella-oras/registry"
)

// openRef opens a reference with plain HTTP and no credentials.
func openRef(t *testing.T, ref string) *registry.Target {
	t.Helper()
	r, err := registry.ParseReference(ref)
	if err != nil {
		t.Fatal(err)
	}
	tg, err := registry.Open(context.Background(), r, registry.Options{PlainHTTP: true, Credentials: credentials.NewMemoryStore()})
	if err != nil {
		t.Fatal(err)
	}
	return tg
}

// pushIndexWithReferrers pushes a two-platform index tagged "1.0", an
// SBOM on the index, a VEX document on its first platform manifest and
// a bundle on that VEX (a referrer of a referrer). It returns the index.
func pushIndexWithReferrers(t *testing.T, tg *registry.Target) (ocispec.Descriptor, []ocispec.Descriptor) {
	t.Helper()
	ctx := context.Background()
	id, platforms := regtest.PushIndex(t, tg.Store, "1.0")
	amd, arm := platforms[0], platforms[1]
	sbom, err := registry.Attach(ctx, tg, id, []byte(`{"bomFormat":"CycloneDX","specVersion":"1.6"}`), registry.AttachOptions{ArtifactType: sbomType, MediaType: sbomType})
	if err != nil {
		t.Fatal(err)
	}
	vex, err := registry.Attach(ctx, tg, amd, []byte(`{"@context":"https://openvex.dev/ns/v0.2.0","statements":[]}`), registry.AttachOptions{ArtifactType: "application/vnd.openvex+json", MediaType: "application/vnd.openvex+json"})
	if err != nil {
		t.Fatal(err)
	}
	sig, err := registry.Attach(ctx, tg, vex, []byte(`{"mediaType":"application/vnd.dev.sigstore.bundle.v0.3+json"}`), registry.AttachOptions{ArtifactType: "application/vnd.dev.sigstore.bundle.v0.3+json", MediaType: "application/vnd.dev.sigstore.bundle.v0.3+json"})
	if err != nil {
		t.Fatal(err)
	}
	return id, []ocispec.Descriptor{amd, arm, sbom, vex, sig}
}

// referrerSet is every referrer of every node reachable from root, by
// subject: "subject -> referrer artifactType".
func referrerSet(t *testing.T, tg *registry.Target, root ocispec.Descriptor, nodes []ocispec.Descriptor) []string {
	t.Helper()
	var out []string
	for _, n := range append([]ocispec.Descriptor{root}, nodes...) {
		refs, err := registry.Referrers(context.Background(), tg, n, "")
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range refs {
			out = append(out, n.Digest.String()+" -> "+r.Digest.String()+" "+r.ArtifactType)
		}
	}
	slices.Sort(out)
	return out
}

// TestMirror: an index, its platform manifests, referrers at two levels
// and every blob reach the destination with the same digests (manifests
// byte for byte), listed as referrers there, tagged; between every kind
// of store: referrers API, tag schema, OCI layout, layout tar.
func TestMirror(t *testing.T) {
	ctx := context.Background()
	api, plain := regtest.Start(t, regtest.Referrers), regtest.Start(t, regtest.Plain)
	dir := t.TempDir()
	for _, tt := range []struct{ name, src, dst string }{
		{"api to tag schema", api + "/a", plain + "/a"},
		{"tag schema to api", plain + "/b", api + "/b"},
		{"api to layout", api + "/c", "oci:" + filepath.Join(dir, "c")},
		{"layout to tag schema", "oci:" + filepath.Join(dir, "d-src"), plain + "/d"},
		{"api to layout tar", api + "/e", "oci-archive:" + filepath.Join(dir, "e.tar")},
	} {
		t.Run(tt.name, func(t *testing.T) {
			src := openRef(t, tt.src)
			root, nodes := pushIndexWithReferrers(t, src)
			src.Close()
			src = openRef(t, tt.src+":1.0")
			dst := openRef(t, tt.dst)
			rep, err := registry.Mirror(ctx, src, dst, "1.0", registry.MirrorOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if err := dst.Close(); err != nil {
				t.Fatal(err)
			}
			if rep.Root.Digest != root.Digest || rep.Referrers != 3 || rep.Tag != "1.0" {
				t.Errorf("report: root %s, %d referrers, tag %q; want %s, 3, 1.0", rep.Root.Digest, rep.Referrers, rep.Tag, root.Digest)
			}
			// 2 platform manifests + index + 3 referrers; blobs: 2 configs,
			// 2 layers, 3 referrer layers and the empty config.
			if len(rep.Manifests) != 6 || len(rep.Blobs) != 8 {
				t.Errorf("report: %d manifests, %d blobs; want 6, 8", len(rep.Manifests), len(rep.Blobs))
			}
			got := openRef(t, tt.dst)
			defer got.Close()
			d, err := got.Resolve(ctx, "1.0")
			if err != nil || d.Digest != root.Digest {
				t.Fatalf("destination tag 1.0 = %s, %v; want %s", d.Digest, err, root.Digest)
			}
			for _, n := range append([]ocispec.Descriptor{root}, nodes...) {
				b, err := registry.FetchBlob(ctx, got, ocispec.Descriptor{MediaType: n.MediaType, Digest: n.Digest, Size: n.Size}, registry.MaxManifestBytes)
				if err != nil {
					t.Errorf("manifest %s at the destination: %v", n.Digest, err)
					continue
				}
				if content.NewDescriptorFromBytes(n.MediaType, b).Digest != n.Digest {
					t.Errorf("manifest %s was re-encoded", n.Digest)
				}
			}
			want := referrerSet(t, src, root, nodes)
			if have := referrerSet(t, got, root, nodes); !slices.Equal(have, want) {
				t.Errorf("destination referrers:\n%s\nwant\n%s", strings.Join(have, "\n"), strings.Join(want, "\n"))
			}
		})
	}
}

// uploads counts blob upload starts (POST …/blobs/uploads/) and manifest
// PUTs that reach a registry.
type uploads struct {
	mu               sync.Mutex
	posts, manifests int
	writes           int // any request but GET and HEAD
}

func (u *uploads) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u.mu.Lock()
		if r.Method == http.MethodPost && strings.Contains(r.URL.Path, "/blobs/uploads/") {
			u.posts++
		}
		if r.Method == http.MethodPut && strings.Contains(r.URL.Path, "/manifests/") {
			u.manifests++
		}
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			u.writes++
		}
		u.mu.Unlock()
		next.ServeHTTP(w, r)
	})
}

func (u *uploads) reset() (posts, manifests, writes int) {
	u.mu.Lock()
	defer u.mu.Unlock()
	posts, manifests, writes = u.posts, u.manifests, u.writes
	u.posts, u.manifests, u.writes = 0, 0, 0
	return
}

// TestMirrorRerun: a dry run writes nothing; a rerun sends no blob again
// and puts the manifests again (idempotent); a referrer attached at the
// source after the first mirror reaches the destination on the next run,
// on a registry without the referrers API too.
func TestMirrorRerun(t *testing.T) {
	ctx := context.Background()
	for _, kind := range []string{regtest.Referrers, regtest.Plain} {
		t.Run(kind, func(t *testing.T) {
			up := &uploads{}
			srcHost, dstHost := regtest.Start(t, regtest.Referrers), regtest.StartWrapped(t, kind, up.wrap)
			src := openRef(t, srcHost+"/app")
			root, nodes := pushIndexWithReferrers(t, src)
			mirror := func(o registry.MirrorOptions) *registry.MirrorReport {
				t.Helper()
				rep, err := registry.Mirror(ctx, openRef(t, srcHost+"/app:1.0"), openRef(t, dstHost+"/app"), "1.0", o)
				if err != nil {
					t.Fatal(err)
				}
				return rep
			}
			rep := mirror(registry.MirrorOptions{DryRun: true})
			if _, _, w := up.reset(); w != 0 {
				t.Errorf("dry run: %d writes reached the destination", w)
			}
			if c := rep.MirrorCounts(); c["blob planned"] != 8 || c["manifest planned"] != 6 {
				t.Errorf("dry run plan: %v", c)
			}
			mirror(registry.MirrorOptions{})
			if posts, _, _ := up.reset(); posts == 0 {
				t.Fatal("first mirror uploaded no blob")
			}
			rep = mirror(registry.MirrorOptions{})
			posts, manifests, _ := up.reset()
			if posts != 0 {
				t.Errorf("rerun: %d blob uploads, want 0", posts)
			}
			if manifests < 6 {
				t.Errorf("rerun: %d manifest puts, want every manifest (6) put again", manifests)
			}
			if c := rep.MirrorCounts(); c["blob present"] != 8 {
				t.Errorf("rerun: %v, want 8 blobs present", c)
			}
			// A VEX document attached to the index after the first mirror.
			late, err := registry.Attach(ctx, src, root, []byte(`{"@context":"https://openvex.dev/ns/v0.2.0","statements":[{}]}`), registry.AttachOptions{ArtifactType: "application/vnd.openvex+json", MediaType: "application/vnd.openvex+json"})
			if err != nil {
				t.Fatal(err)
			}
			mirror(registry.MirrorOptions{})
			if posts, _, _ := up.reset(); posts != 1 {
				t.Errorf("mirror after a new referrer: %d blob uploads, want 1 (its layer)", posts)
			}
			dst := openRef(t, dstHost+"/app")
			refs, err := registry.Referrers(ctx, dst, root, "application/vnd.openvex+json")
			if err != nil {
				t.Fatal(err)
			}
			if !slices.ContainsFunc(refs, func(d ocispec.Descriptor) bool { return d.Digest == late.Digest }) {
				t.Errorf("the VEX attached after the first mirror is not listed at the destination: %v", refs)
			}
			if want, have := referrerSet(t, src, root, nodes), referrerSet(t, dst, root, nodes); !slices.Equal(have, want) {
				t.Errorf("destination referrers:\n%s\nwant\n%s", strings.Join(have, "\n"), strings.Join(want, "\n"))
			}
		})
	}
}

// blobRequests counts a registry's blob upload requests: POSTs that carry
// the blob (single POST, ?digest=), POSTs that open a session, and PUTs
// that finish one.
type blobRequests struct {
	mu                 sync.Mutex
	whole, opens, puts int
	// only, if set, is the one digest whose single POSTs and PUTs count.
	only string
}

func (c *blobRequests) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.Contains(r.URL.Path, "/blobs/uploads/") {
			c.mu.Lock()
			dg := r.URL.Query().Get("digest")
			switch {
			case c.only != "" && dg != "" && dg != c.only:
			case r.Method == http.MethodPost && dg != "":
				c.whole++
			case r.Method == http.MethodPost:
				c.opens++
			case r.Method == http.MethodPut:
				c.puts++
			}
			c.mu.Unlock()
		}
		next.ServeHTTP(w, r)
	})
}

// TestMirrorSinglePost: into a registry that takes a blob in one POST
// (registry serve), every blob is one request; into one that does not
// (plain distribution), the first blob finds that out at no cost (its
// POST's session is the one its PUT finishes), so every blob is the usual
// two requests, as before. Every blob arrives whole either way. Before,
// every blob was two requests on both.
func TestMirrorSinglePost(t *testing.T) {
	ctx := context.Background()
	for _, kind := range []string{regtest.Referrers, regtest.Plain} {
		t.Run(kind, func(t *testing.T) {
			c := &blobRequests{}
			srcHost, dstHost := regtest.Start(t, regtest.Referrers), regtest.StartWrapped(t, kind, c.wrap)
			src := openRef(t, srcHost+"/app")
			root, _ := pushIndexWithReferrers(t, src)
			dst := openRef(t, dstHost+"/app")
			rep, err := registry.Mirror(ctx, openRef(t, srcHost+"/app:1.0"), dst, "1.0", registry.MirrorOptions{})
			if err != nil {
				t.Fatal(err)
			}
			n := len(rep.Blobs)
			if n != 8 {
				t.Fatalf("%d blobs copied, want 8", n)
			}
			switch kind {
			case regtest.Referrers:
				if c.whole != n || c.opens != 0 || c.puts != 0 {
					t.Errorf("%d blobs: %d single POSTs, %d sessions, %d PUTs; want %d, 0, 0", n, c.whole, c.opens, c.puts, n)
				}
			default:
				if c.whole < 1 || c.whole+c.opens != n || c.puts != n {
					t.Errorf("%d blobs: %d single POSTs, %d sessions, %d PUTs; want ≥ 1 single POST (the probe) and %d POSTs and PUTs in all", n, c.whole, c.opens, c.puts, n)
				}
			}
			for _, b := range rep.Blobs {
				if _, err := registry.FetchBlob(ctx, dst, b.Descriptor, 1<<20); err != nil {
					t.Errorf("blob %s at the destination: %v", b.Digest, err)
				}
			}
			if d, err := dst.Resolve(ctx, "1.0"); err != nil || d.Digest != root.Digest {
				t.Errorf("destination tag 1.0 = %s, %v; want %s", d.Digest, err, root.Digest)
			}
		})
	}
}

// TestMirrorLargeBlob: a blob too large to read whole first is streamed,
// checked on the way (aheadReader): into registry serve in one POST, into
// plain distribution as oras-go pushes (POST, PUT); a source that serves
// other bytes for it (a fake fault) fails the mirror with
// ErrDigestMismatch and the destination has neither the blob nor its
// manifest, on both; fixed, the blob arrives whole.
func TestMirrorLargeBlob(t *testing.T) {
	ctx := context.Background()
	for _, kind := range []string{regtest.Referrers, regtest.Plain} {
		t.Run(kind, func(t *testing.T) {
			c := &blobRequests{}
			bad := &corrupter{flip: func(b []byte) { b[len(b)-1] ^= 0xff }}
			srcHost, dstHost := regtest.StartWrapped(t, regtest.Referrers, bad.wrap), regtest.StartWrapped(t, kind, c.wrap)
			src := openRef(t, srcHost+"/app")
			md, ld, layer := regtest.PushBigImage(t, src.Store, 5<<20+7, 11)
			mirror := func() error {
				_, err := registry.Mirror(ctx, openRef(t, srcHost+"/app@"+md.Digest.String()), openRef(t, dstHost+"/app"), md.Digest.String(), registry.MirrorOptions{})
				return err
			}
			bad.set(ld.Digest.String())
			if err := mirror(); !errors.Is(err, registry.ErrDigestMismatch) {
				t.Fatalf("mirror of a corrupt large blob: %v, want ErrDigestMismatch", err)
			}
			dst := openRef(t, dstHost+"/app")
			for _, d := range []ocispec.Descriptor{ld, md} {
				if ok, _ := dst.Store.Exists(ctx, d); ok {
					t.Errorf("%s (%s) reached the destination", d.Digest, d.MediaType)
				}
			}
			bad.set("")
			// Only the layer's requests count from here: a write the
			// failed run had started may still land (its client gave up
			// on it, not the server).
			c.mu.Lock()
			c.whole, c.opens, c.puts, c.only = 0, 0, 0, ld.Digest.String()
			c.mu.Unlock()
			if err := mirror(); err != nil {
				t.Fatal(err)
			}
			got, err := registry.FetchBlob(ctx, dst, ld, 16<<20)
			if err != nil || !bytes.Equal(got, layer) {
				t.Fatalf("the large blob at the destination: %d bytes, %v", len(got), err)
			}
			// The config went with the first run: the layer alone now.
			switch kind {
			case regtest.Referrers:
				if c.whole != 1 || c.opens != 0 || c.puts != 0 {
					t.Errorf("the layer: %d single POSTs, %d sessions, %d PUTs; want 1, 0, 0", c.whole, c.opens, c.puts)
				}
			default:
				if c.whole > 1 || c.whole+c.opens < 1 || c.puts != 1 {
					t.Errorf("the layer: %d single POSTs, %d sessions, %d PUTs; want one POST and one PUT", c.whole, c.opens, c.puts)
				}
			}
		})
	}
}

// TestMirrorArtifactType: --artifact-type keeps only referrers of that
// type; the image is copied whole.
func TestMirrorArtifactType(t *testing.T) {
	ctx := context.Background()
	host := regtest.Start(t, regtest.Referrers)
	src := openRef(t, host+"/app")
	root, _ := pushIndexWithReferrers(t, src)
	rep, err := registry.Mirror(ctx, openRef(t, host+"/app:1.0"), openRef(t, host+"/copy"), "1.0", registry.MirrorOptions{ArtifactType: sbomType})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Referrers != 1 || len(rep.Manifests) != 4 {
		t.Errorf("%d referrers, %d manifests; want 1 (the SBOM), 4", rep.Referrers, len(rep.Manifests))
	}
	refs, err := registry.Referrers(ctx, openRef(t, host+"/copy"), root, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(refs) != 1 || refs[0].ArtifactType != sbomType {
		t.Errorf("destination referrers of the index: %v, want the SBOM alone", refs)
	}
}

// TestMirrorCorruptSource: a source that serves a blob whose bytes do not
// match its digest (a fake fault: the bytes are altered on their way out
// of a real registry) fails the mirror with ErrDigestMismatch, and the
// destination has neither that blob nor anything naming it.
func TestMirrorCorruptSource(t *testing.T) {
	ctx := context.Background()
	c := &corrupter{flip: func(b []byte) { b[0] ^= 0xff }}
	srcHost, dstHost := regtest.StartWrapped(t, regtest.Referrers, c.wrap), regtest.Start(t, regtest.Plain)
	src := openRef(t, srcHost+"/app")
	amd := regtest.PushImage(t, src.Store, "amd64")
	m, _, err := registry.FetchManifest(ctx, src, amd)
	if err != nil {
		t.Fatal(err)
	}
	layer := m.Layers[0]
	c.set(layer.Digest.String())
	// A registry, and a layout (whose blobs the mirror writes itself:
	// writeLayoutBlob).
	dir := t.TempDir()
	for _, dstRef := range []string{dstHost + "/app", "oci:" + dir} {
		_, err = registry.Mirror(ctx, openRef(t, srcHost+"/app:amd64"), openRef(t, dstRef), "amd64", registry.MirrorOptions{})
		if !errors.Is(err, registry.ErrDigestMismatch) {
			t.Fatalf("mirror of a corrupt blob to %s: %v, want ErrDigestMismatch", dstRef, err)
		}
		dst := openRef(t, dstRef)
		for _, d := range []ocispec.Descriptor{layer, amd} {
			if ok, _ := dst.Store.Exists(ctx, d); ok {
				t.Errorf("%s (%s) reached %s", d.Digest, d.MediaType, dstRef)
			}
		}
		if _, err := dst.Resolve(ctx, "amd64"); err == nil {
			t.Errorf("the tag reached %s", dstRef)
		}
	}
	// Nothing half-written is left in the layout either.
	if left, _ := os.ReadDir(filepath.Join(dir, "ingest")); len(left) != 0 {
		t.Errorf("the failed mirror left %d temporary files in the layout's ingest directory", len(left))
	}
	// Fixed, the source mirrors into the same layout, and the layout reads
	// back whole: every blob its manifest names, with its bytes.
	c.set("")
	if _, err := registry.Mirror(ctx, openRef(t, srcHost+"/app:amd64"), openRef(t, "oci:"+dir), "amd64", registry.MirrorOptions{}); err != nil {
		t.Fatal(err)
	}
	dst := openRef(t, "oci:"+dir)
	for _, d := range append([]ocispec.Descriptor{m.Config}, m.Layers...) {
		want, err := registry.FetchBlob(ctx, src, d, 1<<20)
		if err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(filepath.Join(dir, "blobs", d.Digest.Algorithm().String(), d.Digest.Encoded()))
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("blob %s in the layout: %d bytes, %v; want the source's %d", d.Digest, len(got), err, len(want))
		}
	}
	if got, err := dst.Resolve(ctx, "amd64"); err != nil || got.Digest != amd.Digest {
		t.Errorf("the layout's amd64 = %v, %v; want %s", got.Digest, err, amd.Digest)
	}
	if left, _ := os.ReadDir(filepath.Join(dir, "ingest")); len(left) != 0 {
		t.Errorf("the mirror left %d temporary files in the layout's ingest directory", len(left))
	}
}

// corrupter is a fake fault: it alters, on their way out of a real
// registry, the bytes of the blob whose digest it is set to (flip says
// how), so that what is served does not match its digest.
type corrupter struct {
	mu     sync.Mutex
	target string
	flip   func([]byte)
}

func (c *corrupter) set(d string) {
	c.mu.Lock()
	c.target = d
	c.mu.Unlock()
}

func (c *corrupter) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c.mu.Lock()
		bad := c.target != "" && r.Method == http.MethodGet && strings.HasSuffix(r.URL.Path, "/blobs/"+c.target)
		c.mu.Unlock()
		if !bad {
			next.ServeHTTP(w, r)
			return
		}
		rec := &capture{header: http.Header{}}
		next.ServeHTTP(rec, r)
		b := rec.body.Bytes()
		if len(b) > 0 {
			c.flip(b)
		}
		for k, v := range rec.header {
			w.Header()[k] = v
		}
		w.WriteHeader(rec.code)
		w.Write(b)
	})
}

// capture records a response.
type capture struct {
	header http.Header
	code   int
	body   bytes.Buffer
}

func (c *capture) Header() http.Header  { return c.header }
func (c *capture) WriteHeader(code int) { c.code = code }
func (c *capture) Write(b []byte) (int, error) {
	if c.code == 0 {
		c.code = http.StatusOK
	}
	return c.body.Write(b)
}

// sourceReads counts manifest reads (GET …/manifests/) and referrer
// listings at a source registry.
type sourceReads struct {
	mu                 sync.Mutex
	manifests, listing int
}

func (c *sourceReads) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c.mu.Lock()
		if r.Method == http.MethodGet && strings.Contains(r.URL.Path, "/manifests/") {
			c.manifests++
		}
		if strings.Contains(r.URL.Path, "/referrers/") {
			c.listing++
		}
		c.mu.Unlock()
		next.ServeHTTP(w, r)
	})
}

func (c *sourceReads) reset() (manifests, listing int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	manifests, listing = c.manifests, c.listing
	c.manifests, c.listing = 0, 0
	return
}

// TestMirrorIncremental: with a state, a rerun over an unchanged graph
// lists each node's referrers and nothing more (no manifest read at the
// source, nothing written at the destination); a referrer attached deep
// in the graph (a bundle on the VEX) since is found and copied alone; and
// an image deleted at the destination is copied again whatever the state
// says.
func TestMirrorIncremental(t *testing.T) {
	ctx := context.Background()
	reads, up := &sourceReads{}, &uploads{}
	srcHost, dstHost := regtest.StartWrapped(t, regtest.Referrers, reads.wrap), regtest.StartWrapped(t, regtest.Referrers, up.wrap)
	src := openRef(t, srcHost+"/app")
	root, nodes := pushIndexWithReferrers(t, src)
	o := registry.MirrorRunOptions{StateDir: t.TempDir(), Source: registry.Options{PlainHTTP: true}, Destination: registry.Options{PlainHTTP: true}}
	run := func() *registry.MirrorReport {
		t.Helper()
		res, err := registry.MirrorImages(ctx, []string{srcHost + "/app:1.0"}, dstHost+"/app", o)
		if err != nil || res[0].Err != nil {
			t.Fatalf("mirror: %v, %v", err, res[0].Err)
		}
		return res[0].Report
	}
	run()
	// stateFile is the one state file and its identity (a rewrite is a
	// new file renamed over it).
	stateFile := func() (string, os.FileInfo) {
		t.Helper()
		m, err := filepath.Glob(filepath.Join(o.StateDir, "*.json"))
		if err != nil || len(m) != 1 {
			t.Fatalf("state files %v, %v; want one", m, err)
		}
		fi, err := os.Stat(m[0])
		if err != nil {
			t.Fatal(err)
		}
		return m[0], fi
	}
	path, before := stateFile()
	first, _ := os.ReadFile(path)
	reads.reset()
	up.reset()
	rep := run()
	if _, after := stateFile(); !os.SameFile(before, after) {
		t.Error("unchanged rerun: the state file was written again")
	}
	manifests, listings := reads.reset()
	if _, _, writes := up.reset(); writes != 0 {
		t.Errorf("unchanged rerun: %d writes at the destination, want 0", writes)
	}
	// The index is resolved and read (its platform manifests are
	// subjects); no referrer manifest is read again.
	if manifests > 1 {
		t.Errorf("unchanged rerun: %d manifest reads at the source, want at most 1 (the index)", manifests)
	}
	// Subjects: the index, 2 platform manifests, 3 referrers.
	if listings != 6 {
		t.Errorf("unchanged rerun: %d referrer listings, want 6 (one per node)", listings)
	}
	if c := rep.MirrorCounts(); c["manifest known"] != 6 {
		t.Errorf("unchanged rerun: %v, want 6 manifests known", c)
	}
	sig2, err := registry.Attach(ctx, src, nodes[3], []byte(`{"mediaType":"application/vnd.dev.sigstore.bundle.v0.3+json","n":2}`), registry.AttachOptions{ArtifactType: "application/vnd.dev.sigstore.bundle.v0.3+json", MediaType: "application/vnd.dev.sigstore.bundle.v0.3+json"})
	if err != nil {
		t.Fatal(err)
	}
	up.reset()
	rep = run()
	if now, _ := os.ReadFile(path); bytes.Equal(now, first) {
		t.Error("after a new bundle on the VEX: the state file is unchanged")
	}
	if posts, manifests, _ := up.reset(); posts != 1 || manifests != 1 {
		t.Errorf("after a new bundle on the VEX: %d blob uploads and %d manifest puts, want 1 and 1", posts, manifests)
	}
	dst := openRef(t, dstHost+"/app")
	refs, err := registry.Referrers(ctx, dst, nodes[3], "")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(refs, func(d ocispec.Descriptor) bool { return d.Digest == sig2.Digest }) {
		t.Errorf("the new bundle is not listed on the VEX at the destination: %v", refs)
	}
	// Deleted at the destination: the state no longer holds.
	req, _ := http.NewRequest(http.MethodDelete, "http://"+dstHost+"/v2/app/manifests/"+root.Digest.String(), nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != http.StatusAccepted {
		t.Fatalf("deleting the index at the destination: %v %v", err, resp)
	}
	resp.Body.Close()
	rep = run()
	if ok, _ := dst.Store.Exists(ctx, ocispec.Descriptor{MediaType: root.MediaType, Digest: root.Digest, Size: root.Size}); !ok {
		t.Errorf("the index deleted at the destination was not copied again (report %v)", rep.MirrorCounts())
	}
}

// TestMirrorImages: --from-file: each image keeps its repository path
// under the destination prefix, results come in input order, and an
// image that cannot be mirrored fails alone.
func TestMirrorImages(t *testing.T) {
	ctx := context.Background()
	srcHost, dstHost := regtest.Start(t, regtest.Referrers), regtest.Start(t, regtest.Plain)
	for _, repo := range []string{"team/a", "team/b"} {
		pushIndexWithReferrers(t, openRef(t, srcHost+"/"+repo))
	}
	sources := []string{srcHost + "/team/b:1.0", srcHost + "/team/missing:1.0", srcHost + "/team/a:1.0"}
	res, err := registry.MirrorImages(ctx, sources, dstHost+"/mirror", registry.MirrorRunOptions{Prefix: true, Images: 2, Source: registry.Options{PlainHTTP: true}, Destination: registry.Options{PlainHTTP: true}})
	if err != nil {
		t.Fatal(err)
	}
	for i, want := range []string{dstHost + "/mirror/team/b", "", dstHost + "/mirror/team/a"} {
		if res[i].Source != sources[i] {
			t.Errorf("result %d is for %s, want %s", i, res[i].Source, sources[i])
		}
		if want == "" {
			if !errors.Is(res[i].Err, registry.ErrNotFound) {
				t.Errorf("%s: %v, want ErrNotFound", sources[i], res[i].Err)
			}
			continue
		}
		if res[i].Err != nil || res[i].Destination != want {
			t.Errorf("%s: to %q, %v; want %s", sources[i], res[i].Destination, res[i].Err, want)
			continue
		}
		if _, err := openRef(t, want).Resolve(ctx, "1.0"); err != nil {
			t.Errorf("%s:1.0 at the destination: %v", want, err)
		}
	}
}

// TestMirrorImagesShareSinglePost: the images of one run learn once
// whether their destination takes the single POST: into plain
// distribution, one image after the other with one blob at a time, one
// blob of the whole run is sent that way (and finds out); the second image
// starts knowing. Fails with the state kept per target.
func TestMirrorImagesShareSinglePost(t *testing.T) {
	ctx := context.Background()
	c := &blobRequests{}
	srcHost, dstHost := regtest.Start(t, regtest.Referrers), regtest.StartWrapped(t, regtest.Plain, c.wrap)
	for _, repo := range []string{"team/a", "team/b"} {
		pushIndexWithReferrers(t, openRef(t, srcHost+"/"+repo))
	}
	o := registry.MirrorRunOptions{Prefix: true, Images: 1, Source: registry.Options{PlainHTTP: true}, Destination: registry.Options{PlainHTTP: true}}
	o.Jobs = 1
	res, err := registry.MirrorImages(ctx, []string{srcHost + "/team/a:1.0", srcHost + "/team/b:1.0"}, dstHost+"/mirror", o)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range res {
		if r.Err != nil {
			t.Fatalf("%s: %v", r.Source, r.Err)
		}
	}
	// Both images' blobs are the same bytes, but each goes to its own
	// repository: 16 uploads.
	if c.whole != 1 || c.whole+c.opens != 16 || c.puts != 16 {
		t.Errorf("%d single POSTs, %d sessions, %d PUTs; want 1, 15, 16", c.whole, c.opens, c.puts)
	}
}

// hidingSource starts a registry with the referrers API that answers
// 404 (code) for GETs and HEADs of the path ending in kind+the digest
// last given to hide (a fake fault: a real registry with that one
// request answered as if the content were gone); hide("") stops it.
func hidingSource(t *testing.T, kind, code string) (string, func(string)) {
	var mu sync.Mutex
	var hidden string
	host := regtest.StartWrapped(t, regtest.Referrers, func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			mu.Lock()
			h := hidden
			mu.Unlock()
			if h != "" && strings.HasSuffix(r.URL.Path, kind+h) {
				http.Error(w, `{"errors":[{"code":"`+code+`"}]}`, http.StatusNotFound)
				return
			}
			next.ServeHTTP(w, r)
		})
	})
	return host, func(d string) {
		mu.Lock()
		hidden = d
		mu.Unlock()
	}
}

// TestMirrorUnservableReferrer: a source that lists a referrer whose
// manifest it then does not serve (a fake fault: a real registry with
// that one GET answered 404) fails the mirror, naming the referrer,
// before anything is written to the destination: a mirror never
// completes without part of the graph.
func TestMirrorUnservableReferrer(t *testing.T) {
	ctx := context.Background()
	srcHost, hide := hidingSource(t, "/manifests/", "MANIFEST_UNKNOWN")
	up := &uploads{}
	dstHost := regtest.StartWrapped(t, regtest.Plain, up.wrap)
	_, nodes := pushIndexWithReferrers(t, openRef(t, srcHost+"/app"))
	hide(nodes[3].Digest.String()) // the VEX
	_, err := registry.Mirror(ctx, openRef(t, srcHost+"/app:1.0"), openRef(t, dstHost+"/app"), "1.0", registry.MirrorOptions{})
	if err == nil || !strings.Contains(err.Error(), nodes[3].Digest.String()) {
		t.Fatalf("mirror with an unservable referrer: %v, want an error naming %s", err, nodes[3].Digest)
	}
	if _, _, writes := up.reset(); writes != 0 {
		t.Errorf("%d writes reached the destination", writes)
	}
}

// TestMirrorSharedBlobs: referrers copied at once share the empty config
// blob; none is put before that blob is at the destination (distribution
// refuses a manifest naming a blob it lacks: "blob unknown").
func TestMirrorSharedBlobs(t *testing.T) {
	ctx := context.Background()
	srcHost, dstHost := regtest.Start(t, regtest.Referrers), regtest.Start(t, regtest.Referrers)
	src := openRef(t, srcHost+"/app")
	img := regtest.PushImage(t, src.Store, "v1")
	for i := range 64 {
		if _, err := registry.Attach(ctx, src, img, []byte(fmt.Sprintf(`{"n":%d}`, i)), registry.AttachOptions{ArtifactType: sbomType, MediaType: sbomType}); err != nil {
			t.Fatal(err)
		}
	}
	for round := range 3 {
		rep, err := registry.Mirror(ctx, openRef(t, srcHost+"/app:v1"), openRef(t, fmt.Sprintf("%s/copy%d", dstHost, round)), "v1", registry.MirrorOptions{})
		if err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		if rep.Referrers != 64 {
			t.Fatalf("round %d: %d referrers, want 64", round, rep.Referrers)
		}
	}
}

// TestMirrorPlatforms: --platform keeps one platform of an index: the
// index is rewritten to list it alone (a new digest, tagged in the old
// one's place), the other platform's manifest and referrers stay behind,
// and the referrers of the original index are reported as invalidated;
// with KeepIndex the index is copied as it is.
func TestMirrorPlatforms(t *testing.T) {
	ctx := context.Background()
	srcHost, dstHost := regtest.Start(t, regtest.Referrers), regtest.Start(t, regtest.Referrers)
	root, nodes := pushIndexWithReferrers(t, openRef(t, srcHost+"/app"))
	amd, arm, sbom, vex := nodes[0], nodes[1], nodes[2], nodes[3]
	rep, err := registry.Mirror(ctx, openRef(t, srcHost+"/app:1.0"), openRef(t, dstHost+"/arm"), "1.0", registry.MirrorOptions{Platforms: []string{"linux/arm64"}})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Rewritten == nil || rep.Rewritten.From != root.Digest || rep.Rewritten.To == root.Digest {
		t.Fatalf("rewritten %+v, want from %s to a new digest", rep.Rewritten, root.Digest)
	}
	if len(rep.Invalidated) != 1 || rep.Invalidated[0].Digest != sbom.Digest {
		t.Errorf("invalidated %v, want the SBOM on the index (%s)", rep.Invalidated, sbom.Digest)
	}
	dst := openRef(t, dstHost+"/arm")
	d, err := dst.Resolve(ctx, "1.0")
	if err != nil || d.Digest != rep.Rewritten.To {
		t.Fatalf("tag 1.0 at the destination: %s %v, want the rewritten index %s", d.Digest, err, rep.Rewritten.To)
	}
	idx, err := registry.FetchIndex(ctx, dst, d)
	if err != nil {
		t.Fatal(err)
	}
	if len(idx.Manifests) != 1 || idx.Manifests[0].Digest != arm.Digest {
		t.Errorf("rewritten index lists %v, want the arm64 manifest alone", idx.Manifests)
	}
	for _, tt := range []struct {
		d    ocispec.Descriptor
		want bool
	}{{arm, true}, {amd, false}, {vex, false}, {sbom, false}} {
		if ok, _ := dst.Store.Exists(ctx, ocispec.Descriptor{MediaType: tt.d.MediaType, Digest: tt.d.Digest, Size: tt.d.Size}); ok != tt.want {
			t.Errorf("%s at the destination: %v, want %v", tt.d.Digest, ok, tt.want)
		}
	}
	if _, err := registry.Mirror(ctx, openRef(t, srcHost+"/app:1.0"), openRef(t, dstHost+"/none"), "1.0", registry.MirrorOptions{Platforms: []string{"windows/amd64"}}); err == nil || !strings.Contains(err.Error(), "linux/amd64, linux/arm64") {
		t.Errorf("a platform the index lacks: %v, want an error listing the index's platforms", err)
	}
	lay := openRef(t, "oci:"+filepath.Join(t.TempDir(), "keep"))
	rep, err = registry.Mirror(ctx, openRef(t, srcHost+"/app:1.0"), lay, "1.0", registry.MirrorOptions{Platforms: []string{"linux/arm64"}, KeepIndex: true})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Rewritten != nil || rep.Root.Digest != root.Digest {
		t.Errorf("KeepIndex: rewritten %+v, root %s; want the index as it is (%s)", rep.Rewritten, rep.Root.Digest, root.Digest)
	}
	if ok, _ := lay.Store.Exists(ctx, amd); ok {
		t.Error("KeepIndex copied the amd64 manifest")
	}
}

// TestArchiveReadInPlace: a layout tar opened to be read is read where
// it lies (nothing unpacked: TMPDIR stays empty while it is mirrored
// from), refuses writes, and a truncated one is refused on open.
func TestArchiveReadInPlace(t *testing.T) {
	ctx := context.Background()
	host := regtest.Start(t, regtest.Referrers)
	root, _ := pushIndexWithReferrers(t, openRef(t, host+"/app"))
	tarball := filepath.Join(t.TempDir(), "app.tar")
	dst := openRef(t, "oci-archive:"+tarball)
	if _, err := registry.Mirror(ctx, openRef(t, host+"/app:1.0"), dst, "1.0", registry.MirrorOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := dst.Close(); err != nil {
		t.Fatal(err)
	}
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	ref, _ := registry.ParseReference("oci-archive:" + tarball)
	src, err := registry.Open(ctx, ref, registry.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	rep, err := registry.Mirror(ctx, src, openRef(t, host+"/back"), "1.0", registry.MirrorOptions{})
	if err != nil || rep.Root.Digest != root.Digest || rep.Referrers != 3 {
		t.Fatalf("mirror from the tar: %v (root %v, %d referrers)", err, rep, rep.Referrers)
	}
	if left, _ := os.ReadDir(tmp); len(left) != 0 {
		t.Errorf("reading the tar unpacked %d entries into TMPDIR", len(left))
	}
	if err := src.Store.Push(ctx, ocispec.DescriptorEmptyJSON, bytes.NewReader(ocispec.DescriptorEmptyJSON.Data)); !errors.Is(err, registry.ErrReadOnly) {
		t.Errorf("push into a tar opened read-only: %v, want ErrReadOnly", err)
	}
	b, err := os.ReadFile(tarball)
	if err != nil {
		t.Fatal(err)
	}
	cut := filepath.Join(t.TempDir(), "cut.tar")
	os.WriteFile(cut, b[:len(b)/2], 0o644)
	ref, _ = registry.ParseReference("oci-archive:" + cut)
	if _, err := registry.Open(ctx, ref, registry.Options{ReadOnly: true}); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("open of a truncated tar: %v, want io.ErrUnexpectedEOF", err)
	}
}

// TestMirrorLayoutIndex: a layout destination's index.json, which a
// mirror writes once at the end (HoldIndex) rather than at every push,
// lists every manifest copied and the tag after a run that succeeded,
// and after a run that failed part-way (a referrer's blob the source
// does not serve: a fake fault, one GET answered 404) lists what was
// completed, each manifest with all its blobs, so the rerun finishes;
// and a run after one killed before it saved the index lists again the
// manifests it finds already there.
func TestMirrorLayoutIndex(t *testing.T) {
	ctx := context.Background()
	srcHost, hide := hidingSource(t, "/blobs/", "BLOB_UNKNOWN")
	root, nodes := pushIndexWithReferrers(t, openRef(t, srcHost+"/app"))
	sig := nodes[4] // the bundle on the VEX: copied last
	b, err := registry.FetchBlob(ctx, openRef(t, srcHost+"/app"), sig, registry.MaxManifestBytes)
	if err != nil {
		t.Fatal(err)
	}
	var sm ocispec.Manifest
	if err := json.Unmarshal(b, &sm); err != nil {
		t.Fatal(err)
	}
	hide(sm.Layers[0].Digest.String())
	dir := filepath.Join(t.TempDir(), "layout")
	opts := registry.MirrorRunOptions{Source: registry.Options{PlainHTTP: true}}
	res, err := registry.MirrorImages(ctx, []string{srcHost + "/app:1.0"}, "oci:"+dir, opts)
	if err != nil || res[0].Err == nil {
		t.Fatalf("mirror with an unservable blob: %v, %v; want the image's error", err, res[0].Err)
	}
	listed := func() map[string]bool {
		t.Helper()
		tg := openRef(t, "oci:"+dir)
		idx, err := registry.LayoutIndex(tg)
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]bool{}
		for _, d := range idx.Manifests {
			got[d.Digest.String()] = true
			if d.Annotations[ocispec.AnnotationRefName] == "1.0" {
				got["tag 1.0"] = true
			}
			// every blob of a listed manifest is there
			m, err := registry.FetchBlob(ctx, tg, d, registry.MaxManifestBytes)
			if err != nil {
				t.Fatalf("listed manifest %s: %v", d.Digest, err)
			}
			succ, err := content.Successors(ctx, tg.Store, ocispec.Descriptor{MediaType: d.MediaType, Digest: d.Digest, Size: int64(len(m))})
			if err != nil {
				t.Fatal(err)
			}
			for _, s := range succ {
				if ok, err := tg.Store.Exists(ctx, s); err != nil || !ok {
					t.Errorf("listed manifest %s lacks %s", d.Digest, s.Digest)
				}
			}
		}
		return got
	}
	got := listed()
	for _, n := range append([]ocispec.Descriptor{root}, nodes[:4]...) {
		if !got[n.Digest.String()] {
			t.Errorf("after the failed run the index lacks %s (copied before the fault)", n.Digest)
		}
	}
	if got[sig.Digest.String()] || got["tag 1.0"] {
		t.Errorf("after the failed run the index lists the unfinished bundle or the tag: %v", got)
	}
	hide("")
	if res, err := registry.MirrorImages(ctx, []string{srcHost + "/app:1.0"}, "oci:"+dir, opts); err != nil || res[0].Err != nil {
		t.Fatalf("rerun: %v, %v", err, res[0].Err)
	}
	got = listed()
	for _, n := range append([]ocispec.Descriptor{root}, nodes...) {
		if !got[n.Digest.String()] {
			t.Errorf("after the rerun the index lacks %s", n.Digest)
		}
	}
	if !got["tag 1.0"] {
		t.Error("after the rerun the index lacks the tag 1.0")
	}
	// A run killed before it saved the index (SIGKILL) leaves the files
	// unlisted: the next run, finding them, lists them.
	if err := os.WriteFile(filepath.Join(dir, "index.json"), []byte(`{"schemaVersion":2,"manifests":[]}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if res, err := registry.MirrorImages(ctx, []string{srcHost + "/app:1.0"}, "oci:"+dir, opts); err != nil || res[0].Err != nil {
		t.Fatalf("run after a lost index: %v, %v", err, res[0].Err)
	}
	got = listed()
	for _, n := range append([]ocispec.Descriptor{root}, nodes...) {
		if !got[n.Digest.String()] {
			t.Errorf("after a lost index and a rerun the index lacks %s", n.Digest)
		}
	}
}

// TestMirrorConcurrentTagSchema: two mirrors at once, from two sources
// that hold the same image with different referrers, into one registry
// without the referrers API: each subject's referrers tag lists the
// referrers of both (each mirror updates a subject's tag once, after
// putting its referrers; the registration protocol of attach keeps a
// stale write of one from dropping the other's entries).
func TestMirrorConcurrentTagSchema(t *testing.T) {
	ctx := context.Background()
	dstHost := regtest.Start(t, regtest.Plain)
	var (
		srcs  [2]string
		roots [2]ocispec.Descriptor
		nodes [2][]ocispec.Descriptor
	)
	for i := range srcs {
		srcs[i] = regtest.Start(t, regtest.Referrers)
		roots[i], nodes[i] = pushIndexWithReferrers(t, openRef(t, srcs[i]+"/app"))
		// Referrers only this source has, on the index and on a platform.
		for j, subj := range []ocispec.Descriptor{roots[i], nodes[i][1]} {
			if _, err := registry.Attach(ctx, openRef(t, srcs[i]+"/app"), subj, fmt.Appendf(nil, `{"src":%d,"n":%d}`, i, j), registry.AttachOptions{ArtifactType: sbomType, MediaType: sbomType}); err != nil {
				t.Fatal(err)
			}
		}
	}
	if roots[0].Digest != roots[1].Digest {
		t.Fatalf("the two sources' images differ: %s, %s", roots[0].Digest, roots[1].Digest)
	}
	for round := range 5 {
		dst := fmt.Sprintf("%s/app%d", dstHost, round)
		var wg sync.WaitGroup
		errs := make([]error, len(srcs))
		for i := range srcs {
			wg.Go(func() {
				_, errs[i] = registry.Mirror(ctx, openRef(t, srcs[i]+"/app:1.0"), openRef(t, dst), "1.0", registry.MirrorOptions{})
			})
		}
		wg.Wait()
		for _, err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
		want := append(referrerSet(t, openRef(t, srcs[0]+"/app"), roots[0], nodes[0]), referrerSet(t, openRef(t, srcs[1]+"/app"), roots[1], nodes[1])...)
		slices.Sort(want)
		want = slices.Compact(want)
		if have := referrerSet(t, openRef(t, dst), roots[0], nodes[0]); !slices.Equal(have, want) {
			t.Errorf("round %d: destination referrers:\n%s\nwant\n%s", round, strings.Join(have, "\n"), strings.Join(want, "\n"))
		}
	}
}

// TestMirrorFailedReadWritesNothing: a mirror into a layout that is not
// there yet, whose source cannot be read (a missing layout, a missing tag,
// a registry reached over the wrong scheme), leaves the disk as it was:
// no layout, no parent directories, nothing added to an existing empty
// directory. A layout that was there is left as it was.
func TestMirrorFailedReadWritesNothing(t *testing.T) {
	ctx := context.Background()
	srcHost := regtest.Start(t, regtest.Referrers)
	regtest.PushImage(t, openRef(t, srcHost+"/app").Store, "v1")
	for _, tc := range []struct {
		name, src string
		opts      registry.MirrorRunOptions
	}{
		{"missing layout", "oci:" + filepath.Join(t.TempDir(), "none") + ":v1", registry.MirrorRunOptions{}},
		{"missing tag", srcHost + "/app:nope", registry.MirrorRunOptions{Source: registry.Options{PlainHTTP: true}}},
		{"wrong scheme", srcHost + "/app:v1", registry.MirrorRunOptions{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			empty := filepath.Join(root, "empty")
			if err := os.Mkdir(empty, 0o755); err != nil {
				t.Fatal(err)
			}
			for _, dst := range []string{filepath.Join(root, "a", "b", "layout"), empty} {
				res, err := registry.MirrorImages(ctx, []string{tc.src}, "oci:"+dst, tc.opts)
				if err == nil && (len(res) != 1 || res[0].Err == nil) {
					t.Fatalf("mirror %s into %s: no error", tc.src, dst)
				}
			}
			if ents, _ := os.ReadDir(root); len(ents) != 1 || ents[0].Name() != "empty" {
				t.Errorf("after the failed mirrors %s holds %v, want only the empty directory", root, ents)
			}
			if ents, _ := os.ReadDir(empty); len(ents) != 0 {
				t.Errorf("after the failed mirror the empty directory holds %v", ents)
			}
		})
	}
	// A layout that was there keeps its files.
	dst := filepath.Join(t.TempDir(), "layout")
	if res, err := registry.MirrorImages(ctx, []string{srcHost + "/app:v1"}, "oci:"+dst, registry.MirrorRunOptions{Source: registry.Options{PlainHTTP: true}}); err != nil || res[0].Err != nil {
		t.Fatalf("mirror: %v %v", err, res[0].Err)
	}
	before, _ := os.ReadFile(filepath.Join(dst, "index.json"))
	res, err := registry.MirrorImages(ctx, []string{srcHost + "/app:nope"}, "oci:"+dst, registry.MirrorRunOptions{Source: registry.Options{PlainHTTP: true}})
	if err == nil && res[0].Err == nil {
		t.Fatal("mirror of a missing tag: no error")
	}
	if after, err := os.ReadFile(filepath.Join(dst, "index.json")); err != nil || string(after) != string(before) {
		t.Errorf("a failed mirror changed the layout's index: %v\n%s\n%s", err, before, after)
	}
}

// TestMirrorGateRefusedWritesNothing: an image the gate refuses is not an
// error of MirrorImages (the caller makes it one), but nothing of it is
// written, and a new layout made for it goes as for a failed read. Before,
// the empty layout (oci-layout, index.json, blobs) stayed.
func TestMirrorGateRefusedWritesNothing(t *testing.T) {
	ctx := context.Background()
	srcHost := regtest.Start(t, regtest.Referrers)
	regtest.PushImage(t, openRef(t, srcHost+"/app").Store, "v1")
	opts := registry.MirrorRunOptions{Source: registry.Options{PlainHTTP: true}}
	opts.Admit = func(context.Context, *registry.Target, ocispec.Descriptor, []*registry.Node) (registry.MirrorDecision, error) {
		return registry.MirrorDecision{Refuse: "no signer"}, nil
	}
	root := t.TempDir()
	empty := filepath.Join(root, "empty")
	if err := os.Mkdir(empty, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, dst := range []string{filepath.Join(root, "a", "b", "layout"), empty} {
		res, err := registry.MirrorImages(ctx, []string{srcHost + "/app:v1"}, "oci:"+dst, opts)
		if err != nil || len(res) != 1 || res[0].Report == nil || res[0].Report.Admitted {
			t.Fatalf("mirror into %s: %v %+v, want a refused report", dst, err, res)
		}
	}
	if ents, _ := os.ReadDir(root); len(ents) != 1 || ents[0].Name() != "empty" {
		t.Errorf("after the refused mirrors %s holds %v, want only the empty directory", root, ents)
	}
	if ents, _ := os.ReadDir(empty); len(ents) != 0 {
		t.Errorf("after the refused mirror the empty directory holds %v", ents)
	}
}

// TestMirrorFailedKeepsWhatItWrote: a run that failed for one image after
// mirroring another keeps the layout with what it completed, also into a
// directory that held an empty blobs directory before. Before, blobs being
// there before skipped the check of what it holds, and oci-layout and
// index.json were removed, orphaning the image mirrored.
func TestMirrorFailedKeepsWhatItWrote(t *testing.T) {
	ctx := context.Background()
	srcHost := regtest.Start(t, regtest.Referrers)
	img := regtest.PushImage(t, openRef(t, srcHost+"/app").Store, "v1")
	dst := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dst, "blobs"), 0o755); err != nil {
		t.Fatal(err)
	}
	opts := registry.MirrorRunOptions{Source: registry.Options{PlainHTTP: true}, Prefix: true}
	res, err := registry.MirrorImages(ctx, []string{srcHost + "/app:v1", srcHost + "/app:nope"}, "oci:"+dst, opts)
	if err != nil || len(res) != 2 || res[0].Err != nil || res[1].Err == nil {
		t.Fatalf("mirror: %v %+v, want the first image mirrored and the second failed", err, res)
	}
	idx, err := os.ReadFile(filepath.Join(dst, "index.json"))
	if err != nil || !strings.Contains(string(idx), img.Digest.String()) {
		t.Fatalf("index.json after the failed run (%v): %s, want it to list %s", err, idx, img.Digest)
	}
	if _, err := os.Stat(filepath.Join(dst, "oci-layout")); err != nil {
		t.Error("oci-layout removed")
	}
}

// TestMirrorLayoutRelativeThroughLink: from a working directory reached
// through a link, a mirror into oci:../out writes the whole layout in one
// directory (the one $PWD names, as oras-go's store does), and reads back
// from there. Before, its blobs went to the real directory's parent and
// its index.json to the link's, and the mirror failed ("not found").
func TestMirrorLayoutRelativeThroughLink(t *testing.T) {
	ctx := context.Background()
	srcHost := regtest.Start(t, regtest.Referrers)
	img := regtest.PushImage(t, openRef(t, srcHost+"/app").Store, "v1")
	root := t.TempDir()
	for _, d := range []string{"real/deep", "logical"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	link := filepath.Join(root, "logical", "link")
	if err := os.Symlink(filepath.Join(root, "real", "deep"), link); err != nil {
		t.Fatal(err)
	}
	t.Chdir(link)
	t.Setenv("PWD", link) // as a shell that cd'd through the link sets it
	res, err := registry.MirrorImages(ctx, []string{srcHost + "/app:v1"}, "oci:../out", registry.MirrorRunOptions{Source: registry.Options{PlainHTTP: true}})
	if err != nil || len(res) != 1 || res[0].Err != nil {
		t.Fatalf("mirror into oci:../out: %v %+v", err, res)
	}
	if _, err := os.Stat(filepath.Join(root, "real", "out")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the layout is split: %s exists (%v)", filepath.Join(root, "real", "out"), err)
	}
	got, err := openRef(t, "oci:"+filepath.Join(root, "logical", "out")).Resolve(ctx, img.Digest.String())
	if err != nil || got.Digest != img.Digest {
		t.Errorf("the image in the mirrored layout: %v %v", got.Digest, err)
	}
	// Its index, read as import and export read it, from the same
	// relative name. Before, LayoutIndex opened ../out through the real
	// directory: "no such file or directory".
	ref, err := registry.ParseReference("oci:../out")
	if err != nil {
		t.Fatal(err)
	}
	lt, err := registry.Open(ctx, ref, registry.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer lt.Discard()
	idx, err := registry.LayoutIndex(lt)
	if err != nil || !slices.ContainsFunc(idx.Manifests, func(d ocispec.Descriptor) bool { return d.Digest == img.Digest }) {
		t.Errorf("LayoutIndex of oci:../out: %v, %+v; want it to list %s", err, idx.Manifests, img.Digest)
	}
}

// TestMirrorRefusesReferrersTagAsTag: a destination tag that is the
// image's referrers tag (sha256-<hex>) is refused before anything is
// written. Before, the image's tag, written last, replaced the referrers
// index the same run had just written there, and every later attach or
// mirror of a referrer to that image was refused (the tag named no index
// of referrers).
func TestMirrorRefusesReferrersTagAsTag(t *testing.T) {
	ctx := context.Background()
	root, src, img := layoutWithReferrer(t)
	dst := filepath.Join(root, "dst")
	res, err := registry.MirrorImages(ctx, []string{src + "@" + img.Digest.String()}, "oci:"+dst+":"+registry.ReferrersTag(img.Digest), registry.MirrorRunOptions{})
	if err == nil && (len(res) != 1 || res[0].Err == nil) {
		t.Fatal("mirror to the image's referrers tag: no error")
	}
	if err == nil {
		err = res[0].Err
	}
	if !errors.Is(err, registry.ErrMirror) || !strings.Contains(err.Error(), "is the referrers tag of "+img.Digest.String()) {
		t.Errorf("mirror to the image's referrers tag: %v, want ErrMirror saying so", err)
	}
	if _, err := os.Stat(dst); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the refused mirror left %s (%v)", dst, err)
	}
}

// TestMirrorForeignLayoutTagBeforeCopy: a destination layout whose
// sha256-<hex> tag of a subject names something other than an index of
// referrers is refused before anything is copied. Before, the mirror
// copied the image and its referrers and failed only at the referrers
// tag, leaving them unlisted and the image untagged.
func TestMirrorForeignLayoutTagBeforeCopy(t *testing.T) {
	ctx := context.Background()
	root, src, img := layoutWithReferrer(t)
	dstDir := filepath.Join(root, "dst")
	dst := openRef(t, "oci:"+dstDir)
	other := regtest.PushImage(t, dst.Store, "other")
	if err := dst.Store.Tag(ctx, other, registry.ReferrersTag(img.Digest)); err != nil {
		t.Fatal(err)
	}
	before := treeState(t, dstDir)
	res, err := registry.MirrorImages(ctx, []string{src + ":v1"}, "oci:"+dstDir+":v1", registry.MirrorRunOptions{})
	if err == nil && (len(res) != 1 || res[0].Err == nil) {
		t.Fatal("mirror into a layout with a foreign referrers tag: no error")
	}
	if err == nil {
		err = res[0].Err
	}
	if !errors.Is(err, registry.ErrFallbackIndex) || !strings.Contains(err.Error(), "nothing was copied") {
		t.Errorf("mirror: %v, want ErrFallbackIndex, nothing copied", err)
	}
	if after := treeState(t, dstDir); !maps.Equal(before, after) {
		var changed []string
		for f := range maps.Keys(after) {
			if before[f] != after[f] {
				changed = append(changed, f)
			}
		}
		slices.Sort(changed)
		t.Errorf("the refused mirror changed the layout: %v", changed)
	}
}

// layoutWithReferrer is a new directory holding a layout src (its
// reference) with an image tagged v1 and one referrer of it.
func layoutWithReferrer(t *testing.T) (root, src string, img ocispec.Descriptor) {
	t.Helper()
	root = t.TempDir()
	src = "oci:" + filepath.Join(root, "src")
	img = regtest.PushImage(t, openRef(t, src).Store, "v1")
	if _, err := registry.Attach(context.Background(), openRef(t, src), img, []byte(`{"n":1}`), registry.AttachOptions{ArtifactType: sbomType, MediaType: sbomType}); err != nil {
		t.Fatal(err)
	}
	return root, src, img
}
