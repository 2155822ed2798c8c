package registry_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/opencontainers/go-digest"
	specs "github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/content"

	"github.com/stella-ops/stella-oras/internal/regtest"
	"github.com/stella-ops/stella-oras/registry"
)

// recorder is a reverse proxy in front of a real in-process registry that
// logs each request ("METHOD kind", see requestKind) and can hold or act on
// requests through its hooks.
type recorder struct {
	mu  sync.Mutex
	log []string
	// before runs ahead of each request, after once its response is
	// written (before the client has it: the response is sent when the
	// handler returns).
	before, after func(r *http.Request)
	// backend is the registry's own host:port, past the proxy.
	backend string
}

func startRecorder(t *testing.T, kind string) (string, *recorder) {
	t.Helper()
	backend := regtest.Start(t, kind)
	u, _ := url.Parse("http://" + backend)
	p := httputil.NewSingleHostReverseProxy(u)
	rec := &recorder{backend: backend}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec.mu.Lock()
		before, after := rec.before, rec.after
		rec.log = append(rec.log, r.Method+" "+requestKind(r.URL.Path))
		rec.mu.Unlock()
		if before != nil {
			before(r)
		}
		p.ServeHTTP(w, r)
		if after != nil {
			after(r)
		}
	}))
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://"), rec
}

// requestKind names what a request addresses: manifest (by digest), tag
// (a manifest by tag: the referrers tag in these tests), blob, upload,
// referrers, or the path itself.
func requestKind(path string) string {
	switch {
	case strings.Contains(path, "/manifests/sha256:"):
		return "manifest"
	case strings.Contains(path, "/manifests/"):
		return "tag"
	case strings.Contains(path, "/blobs/uploads/"):
		return "upload"
	case strings.Contains(path, "/blobs/"):
		return "blob"
	case strings.Contains(path, "/referrers/"):
		return "referrers"
	}
	return path
}

// take returns the log and starts a new one.
func (rec *recorder) take() []string {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	l := rec.log
	rec.log = nil
	return l
}

func (rec *recorder) hooks(before, after func(r *http.Request)) {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	rec.before, rec.after = before, after
}

func isWrite(method string) bool {
	return method != http.MethodGet && method != http.MethodHead
}

func counts(log []string) map[string]int {
	m := map[string]int{}
	for _, l := range log {
		m[l]++
	}
	return m
}

// TestAttachRequests: what one uncontended attach of a new document asks
// of each kind of registry, counted. The reads that precede the first write
// (the subject, the referrers tag, the blobs) are HEADs; on plain
// distribution the referrers tag is read, written, and read once more to
// check that no concurrent writer overwrote it (before: oras-go's update,
// then three reads of ours spaced by at least 20 ms).
func TestAttachRequests(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		kind string
		want map[string]int
	}{
		{regtest.Referrers, map[string]int{"HEAD manifest": 1, "HEAD tag": 1, "HEAD blob": 2, "POST upload": 1, "PUT upload": 1, "PUT manifest": 1}},
		{regtest.Plain, map[string]int{"HEAD manifest": 1, "HEAD tag": 1, "HEAD blob": 2, "POST upload": 1, "PUT upload": 1, "PUT manifest": 1, "GET tag": 2, "PUT tag": 1}},
	} {
		t.Run(tc.kind, func(t *testing.T) {
			host, rec := startRecorder(t, tc.kind)
			img := regtest.PushImage(t, openRemote(t, host).Store, "v1")
			// A first referrer: the empty config blob and the referrers
			// tag exist from now on, as they do for most attaches.
			if _, _, err := registry.AttachByDigest(ctx, openRemote(t, host), img.Digest, []byte(`{"n":0}`), registry.AttachOptions{ArtifactType: sbomType, MediaType: sbomType}); err != nil {
				t.Fatal(err)
			}
			rec.take()
			subj, _, err := registry.AttachByDigest(ctx, openRemote(t, host), img.Digest, []byte(`{"n":1}`), registry.AttachOptions{ArtifactType: sbomType, MediaType: sbomType})
			if err != nil {
				t.Fatal(err)
			}
			if subj.Digest != img.Digest || subj.MediaType != img.MediaType || subj.Size != img.Size {
				t.Errorf("AttachByDigest subject = %+v, want %+v", subj, img)
			}
			log := rec.take()
			if diff := cmp.Diff(tc.want, counts(log)); diff != "" {
				t.Errorf("requests of one attach (-want +got):\n%s\nin order: %q", diff, log)
			}
		})
	}
}

// TestAttachReadsTogether: the reads an attach makes before its first
// write (the subject, the referrers tag check, the blobs) run at the same
// time, not one round trip after another. The proxy holds each of them
// until all are in flight, or for a second: sent one after another, they
// never are.
func TestAttachReadsTogether(t *testing.T) {
	ctx := context.Background()
	for _, kind := range []string{regtest.Referrers, regtest.Plain} {
		t.Run(kind, func(t *testing.T) {
			host, rec := startRecorder(t, kind)
			img := regtest.PushImage(t, openRemote(t, host).Store, "v1")
			for _, tc := range []struct {
				name string
				want int // reads in flight at once
				run  func(data []byte) error
			}{
				{"by digest", 4, func(data []byte) error {
					_, _, err := registry.AttachByDigest(ctx, openRemote(t, host), img.Digest, data, registry.AttachOptions{ArtifactType: sbomType, MediaType: sbomType})
					return err
				}},
				{"descriptor", 3, func(data []byte) error {
					_, err := registry.Attach(ctx, openRemote(t, host), img, data, registry.AttachOptions{ArtifactType: sbomType, MediaType: sbomType})
					return err
				}},
			} {
				var (
					mu              sync.Mutex
					inFlight, most  int
					wrote           bool
					all             = make(chan struct{})
					reads, released int
				)
				rec.hooks(func(r *http.Request) {
					mu.Lock()
					if wrote || isWrite(r.Method) {
						wrote = true
						mu.Unlock()
						return
					}
					inFlight++
					reads++
					most = max(most, inFlight)
					if inFlight == tc.want && reads == tc.want {
						close(all)
					}
					mu.Unlock()
					select {
					case <-all:
					case <-time.After(time.Second):
					}
					mu.Lock()
					inFlight--
					released++
					mu.Unlock()
				}, nil)
				if err := tc.run([]byte(`{"case":"` + tc.name + `","kind":"` + kind + `"}`)); err != nil {
					t.Fatal(err)
				}
				rec.hooks(nil, nil)
				rec.take()
				if most < tc.want {
					t.Errorf("%s: at most %d of the %d reads before the first write were in flight at once, want %d", tc.name, most, reads, tc.want)
				}
			}
		})
	}
}

// TestAttachMissingSubjectWritesNothing: a subject that does not exist is
// found out before anything is written, though it is resolved while the
// other reads run.
func TestAttachMissingSubjectWritesNothing(t *testing.T) {
	ctx := context.Background()
	for _, kind := range []string{regtest.Referrers, regtest.Plain} {
		t.Run(kind, func(t *testing.T) {
			host, rec := startRecorder(t, kind)
			_, _, err := registry.AttachByDigest(ctx, openRemote(t, host), digest.FromString("no such image"), []byte(`{"n":1}`), registry.AttachOptions{ArtifactType: sbomType, MediaType: sbomType})
			if !errors.Is(err, registry.ErrNotFound) {
				t.Errorf("AttachByDigest of a missing subject = %v, want ErrNotFound", err)
			}
			for _, l := range rec.take() {
				if isWrite(strings.Fields(l)[0]) {
					t.Errorf("a refused attach sent %s", l)
				}
			}
		})
	}
}

// staleWrite prepares a stale overwrite on plain distribution: an image
// with a first referrer, another writer's referrer pushed (as writers do)
// before it read the referrers tag, which then listed only the first, and
// the index that writer would write back (sb, sd) under tag.
type staleWrite struct {
	img, first, other ocispec.Descriptor
	sd                ocispec.Descriptor
	sb                []byte
	tag               string
}

func newStaleWrite(t *testing.T, host string) staleWrite {
	t.Helper()
	ctx := context.Background()
	var w staleWrite
	w.img = regtest.PushImage(t, openRemote(t, host).Store, "v1")
	var err error
	if w.first, err = registry.Attach(ctx, openRemote(t, host), w.img, []byte(`{"n":0}`), registry.AttachOptions{ArtifactType: sbomType, MediaType: sbomType}); err != nil {
		t.Fatal(err)
	}
	layer := registry.Layer{Descriptor: content.NewDescriptorFromBytes(sbomType, []byte(`{"other":1}`)), Data: []byte(`{"other":1}`)}
	if w.other, err = registry.PushArtifact(ctx, openRemote(t, host), registry.ArtifactOptions{ArtifactType: sbomType, Layers: []registry.Layer{layer}}); err != nil {
		t.Fatal(err)
	}
	w.other.ArtifactType = sbomType
	if w.sb, err = json.Marshal(ocispec.Index{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageIndex, Manifests: []ocispec.Descriptor{w.first, w.other}}); err != nil {
		t.Fatal(err)
	}
	w.sd = content.NewDescriptorFromBytes(ocispec.MediaTypeImageIndex, w.sb)
	w.tag = w.img.Digest.Algorithm().String() + "-" + w.img.Digest.Encoded()
	return w
}

// check fails unless the image's referrers are the first, the other
// writer's and mine: the stale overwrite was repaired.
func (w staleWrite) check(t *testing.T, host string, mine ocispec.Descriptor, what string) {
	t.Helper()
	refs, err := registry.Referrers(context.Background(), openRemote(t, host), w.img, "")
	if err != nil {
		t.Fatal(err)
	}
	var got []digest.Digest
	for _, r := range refs {
		got = append(got, r.Digest)
	}
	want := []digest.Digest{w.first.Digest, mine.Digest, w.other.Digest}
	slices.Sort(got)
	slices.Sort(want)
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("referrers after %s (-want +got):\n%s", what, diff)
	}
}

// TestAttachRepairsStaleOverwrite: on plain distribution, a concurrent
// writer that read the referrers tag before this attach wrote it, and
// writes it back after (dropping this attach's entry, adding its own), is
// caught by the check read and repaired: both entries end up listed.
func TestAttachRepairsStaleOverwrite(t *testing.T) {
	ctx := context.Background()
	host, rec := startRecorder(t, regtest.Plain)
	w := newStaleWrite(t, host)
	var once sync.Once
	rec.hooks(nil, func(r *http.Request) {
		if r.Method == http.MethodPut && requestKind(r.URL.Path) == "tag" {
			// Our write has landed: the stale one lands right after it,
			// straight to the registry, before our client hears back.
			once.Do(func() {
				if err := openRemote(t, rec.backend).Remote.Manifests().PushReference(ctx, w.sd, bytes.NewReader(w.sb), w.tag); err != nil {
					t.Error(err)
				}
			})
		}
	})
	mine, err := registry.Attach(ctx, openRemote(t, host), w.img, []byte(`{"n":1}`), registry.AttachOptions{ArtifactType: sbomType, MediaType: sbomType})
	if err != nil {
		t.Fatal(err)
	}
	rec.hooks(nil, nil)
	w.check(t, host, mine, "a stale overwrite")
}

// TestAttachWaitsOutItsWindow: the check read waits at least as long as
// this writer's own read-to-write window, so that on a slow registry a
// concurrent writer as slow as we are, whose stale write lands well after
// ours, is still caught (before, the wait was 20 to 40 ms twice whatever
// the registry's pace). Here every write of the referrers tag takes 300 ms,
// or (one fast write of the tag must not shorten the wait) every push of a
// referrer's manifest does; the stale write lands 150 ms after ours.
func TestAttachWaitsOutItsWindow(t *testing.T) {
	for _, tc := range []struct {
		name string
		slow string // requestKind of the PUTs that take 300 ms
	}{
		{"slow tag writes", "tag"},
		{"slow manifest pushes", "manifest"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			host, rec := startRecorder(t, regtest.Plain)
			w := newStaleWrite(t, host)
			var (
				once  sync.Once
				stale = make(chan error, 1)
			)
			rec.hooks(func(r *http.Request) {
				if r.Method == http.MethodPut && requestKind(r.URL.Path) == tc.slow {
					time.Sleep(300 * time.Millisecond)
				}
			}, func(r *http.Request) {
				if r.Method == http.MethodPut && requestKind(r.URL.Path) == "tag" {
					once.Do(func() {
						go func() {
							time.Sleep(150 * time.Millisecond)
							stale <- openRemote(t, rec.backend).Remote.Manifests().PushReference(ctx, w.sd, bytes.NewReader(w.sb), w.tag)
						}()
					})
				}
			})
			mine, err := registry.Attach(ctx, openRemote(t, host), w.img, []byte(`{"n":1}`), registry.AttachOptions{ArtifactType: sbomType, MediaType: sbomType})
			if err != nil {
				t.Fatal(err)
			}
			if err := <-stale; err != nil {
				t.Fatal(err)
			}
			rec.hooks(nil, nil)
			w.check(t, host, mine, "a stale overwrite 150 ms after ours")
		})
	}
}

// TestPushArtifactDigestsLayers: a layer given without a digest is
// pushed under its data's digest and size, and the manifest is the one a
// layer described by NewLayer gives (Attach leaves the digest to
// PushArtifact, which computes it while its first reads are in flight).
func TestPushArtifactDigestsLayers(t *testing.T) {
	ctx := context.Background()
	for name, open := range targets(t) {
		t.Run(name, func(t *testing.T) {
			img := regtest.PushImage(t, open().Store, "v1")
			data := []byte(`{"bomFormat":"CycloneDX","specVersion":"1.6"}`)
			bare := registry.Layer{Descriptor: ocispec.Descriptor{MediaType: sbomType, Annotations: map[string]string{ocispec.AnnotationTitle: "sbom.json"}}, Data: data}
			got, err := registry.PushArtifact(ctx, open(), registry.ArtifactOptions{ArtifactType: sbomType, Subject: &img, Layers: []registry.Layer{bare}})
			if err != nil {
				t.Fatal(err)
			}
			want, err := registry.PushArtifact(ctx, open(), registry.ArtifactOptions{ArtifactType: sbomType, Subject: &img, Layers: []registry.Layer{registry.NewLayer(sbomType, data, "sbom.json")}})
			if err != nil {
				t.Fatal(err)
			}
			attached, err := registry.Attach(ctx, open(), img, data, registry.AttachOptions{ArtifactType: sbomType, MediaType: sbomType, FileName: "dir/sbom.json"})
			if err != nil {
				t.Fatal(err)
			}
			if got.Digest != want.Digest || attached.Digest != want.Digest {
				t.Errorf("manifest of a layer without a digest = %s, Attach %s, want %s (NewLayer's)", got.Digest, attached.Digest, want.Digest)
			}
			m, _, err := registry.FetchManifest(ctx, open(), ocispec.Descriptor{MediaType: got.MediaType, Digest: got.Digest, Size: got.Size})
			if err != nil {
				t.Fatal(err)
			}
			b, err := registry.FetchBlob(ctx, open(), m.Layers[0], 1<<20)
			if err != nil || !bytes.Equal(b, data) {
				t.Errorf("layer %+v = %q (%v), want the data", m.Layers[0], b, err)
			}
		})
	}
}

func TestIsReferrersTag(t *testing.T) {
	h64, h128 := strings.Repeat("ab", 32), strings.Repeat("cd", 64)
	for tag, want := range map[string]bool{
		"sha256-" + h64: true, "sha512-" + h128: true,
		"sha256-" + h64[:63]: false, "sha256-" + strings.ToUpper(h64): false, "sha512-" + h64: false,
		"v1": false, "": false, "release-1.0": false, "sha256" + h64: false, "sha256-" + h64 + "-x": false,
	} {
		if got := registry.IsReferrersTag(tag); got != want {
			t.Errorf("IsReferrersTag(%q) = %v, want %v", tag, got, want)
		}
	}
}
