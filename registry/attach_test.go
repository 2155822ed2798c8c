package registry_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
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
	return proxyTo(t, regtest.Start(t, kind))
}

// proxyTo starts a recorder in front of the registry at backend (so that
// two clients' requests can be told apart and held separately).
func proxyTo(t *testing.T, backend string) (string, *recorder) {
	t.Helper()
	u, _ := url.Parse("http://" + backend)
	p := httputil.NewSingleHostReverseProxy(u)
	rec := &recorder{backend: backend}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec.mu.Lock()
		before, after := rec.before, rec.after
		entry := r.Method + " " + requestKind(r.URL.Path)
		rec.log = append(rec.log, entry)
		rec.mu.Unlock()
		if before != nil {
			before(r)
		}
		sw := &statusWriter{ResponseWriter: w, code: http.StatusOK}
		p.ServeHTTP(sw, r)
		if r.Method == http.MethodDelete && sw.code >= 300 {
			// A refused DELETE is logged with its status (wroteNothing).
			rec.mu.Lock()
			if i := slices.Index(rec.log, entry); i >= 0 {
				rec.log[i] = fmt.Sprintf("%s %d", entry, sw.code)
			}
			rec.mu.Unlock()
		}
		if after != nil {
			after(r)
		}
	}))
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://"), rec
}

type statusWriter struct {
	http.ResponseWriter
	code int
}

func (w *statusWriter) WriteHeader(code int) {
	w.code = code
	w.ResponseWriter.WriteHeader(code)
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
	case strings.HasSuffix(path, "/tags/list"):
		return "tag list"
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

// wroteNothing fails t if the logged requests of a refused attach
// changed anything: the only writes allowed are the upload session
// attach opens while it reads (POST) and its cancellation (DELETE), one
// for one.
func wroteNothing(t *testing.T, log []string) {
	t.Helper()
	opened, cancelled := 0, 0
	for _, l := range log {
		switch {
		case l == "POST upload":
			opened++
		case l == "DELETE upload":
			cancelled++
		case isWrite(strings.Fields(l)[0]):
			t.Errorf("a refused attach sent %s", l)
		}
	}
	if opened != cancelled {
		t.Errorf("a refused attach opened %d upload sessions and cancelled %d: %q", opened, cancelled, log)
	}
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
// (the subject, the referrers tag, the blobs) go out together; on plain
// distribution, where the referrers tag exists, the manifest is pushed
// once, under its registration tag, the referrers tag read among the
// first reads is written, and one page of the tag list checks that no
// concurrent writer's entry is missing
// (before: a second read of the referrers tag after a wait of two of the
// writer's read-to-write windows, which made attach there 1.3 × oras).
func TestAttachRequests(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		kind string
		want map[string]int
	}{
		{regtest.Referrers, map[string]int{"HEAD manifest": 1, "GET tag": 1, "HEAD blob": 2, "POST upload": 1, "PUT upload": 1, "PUT manifest": 1}},
		{regtest.Plain, map[string]int{"HEAD manifest": 1, "GET tag": 1, "HEAD blob": 2, "POST upload": 1, "PUT upload": 1, "PUT tag": 2, "GET tag list": 1}},
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
					// The upload session opened with the reads is not
					// the first write (see upload.go), nor a read; it is
					// held as the reads are, so that it would keep out a
					// read if it took one of their slots.
					if r.Method == http.MethodPost && !wrote {
						mu.Unlock()
						select {
						case <-all:
						case <-time.After(time.Second):
						}
						return
					}
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
			wroteNothing(t, rec.take())
		})
	}
}

// referrerDigests are the digests the image's referrers list, sorted.
func referrerDigests(t *testing.T, host string, img ocispec.Descriptor) []digest.Digest {
	t.Helper()
	refs, err := registry.Referrers(context.Background(), openRemote(t, host), img, "")
	if err != nil {
		t.Fatal(err)
	}
	var got []digest.Digest
	for _, r := range refs {
		got = append(got, r.Digest)
	}
	slices.Sort(got)
	return got
}

func sortedDigests(ds ...ocispec.Descriptor) []digest.Digest {
	var out []digest.Digest
	for _, d := range ds {
		out = append(out, d.Digest)
	}
	slices.Sort(out)
	return out
}

// isReferrersTagPath: a request for the image's referrers tag itself
// (sha256-<hex>), not a registration tag (sha256-<hex>.<hex>).
func isReferrersTagPath(path string, img ocispec.Descriptor) bool {
	return strings.HasSuffix(path, "/manifests/"+img.Digest.Algorithm().String()+"-"+img.Digest.Encoded())
}

// TestAttachRepairsStaleOverwrite: on plain distribution, two attaches
// whose updates of the referrers tag interleave as badly as they can. B
// reads the tag (listing only the first referrer) and is held; A then
// attaches from start to end; B goes on and writes back what it read
// plus its own entry, dropping A's, after A has returned. B's check (the
// tag list, which holds A's registration) finds A's entry missing and
// puts it back: all three end up listed. Before the registration
// protocol, A's entry was lost here: A had returned, and B had never seen
// it (TestConcurrentAttachFallback flaked on that, 49 of 50).
func TestAttachRepairsStaleOverwrite(t *testing.T) {
	ctx := context.Background()
	backend := regtest.Start(t, regtest.Plain)
	hostA, _ := proxyTo(t, backend)
	hostB, recB := proxyTo(t, backend)
	img := regtest.PushImage(t, openRemote(t, backend).Store, "v1")
	first, err := registry.Attach(ctx, openRemote(t, backend), img, []byte(`{"n":0}`), registry.AttachOptions{ArtifactType: sbomType, MediaType: sbomType})
	if err != nil {
		t.Fatal(err)
	}
	var (
		held    = make(chan struct{})
		release = make(chan struct{})
		once    sync.Once
	)
	recB.hooks(func(r *http.Request) {
		// B's registration (PUT of a tag with a dot): after its reads.
		if r.Method == http.MethodPut && requestKind(r.URL.Path) == "tag" && strings.Contains(r.URL.Path[strings.LastIndex(r.URL.Path, "/"):], ".") {
			once.Do(func() { close(held) })
			<-release
		}
	}, nil)
	type result struct {
		d   ocispec.Descriptor
		err error
	}
	doneB := make(chan result, 1)
	go func() {
		d, err := registry.Attach(ctx, openRemote(t, hostB), img, []byte(`{"n":"B"}`), registry.AttachOptions{ArtifactType: sbomType, MediaType: sbomType})
		doneB <- result{d, err}
	}()
	select {
	case <-held:
	case <-time.After(10 * time.Second):
		t.Fatal("B never registered")
	}
	a, err := registry.Attach(ctx, openRemote(t, hostA), img, []byte(`{"n":"A"}`), registry.AttachOptions{ArtifactType: sbomType, MediaType: sbomType})
	if err != nil {
		t.Fatal(err)
	}
	recB.take()
	close(release)
	b := <-doneB
	if b.err != nil {
		t.Fatal(b.err)
	}
	writes := 0
	for _, l := range recB.take() {
		if l == "PUT tag" {
			writes++
		}
	}
	// After its registration (logged before A ran): its stale write, then
	// its repair.
	if writes != 2 {
		t.Errorf("B wrote the referrers tag %d times, want 2 (the stale write, the repair)", writes)
	}
	if diff := cmp.Diff(sortedDigests(first, a, b.d), referrerDigests(t, backend, img)); diff != "" {
		t.Errorf("referrers after a stale overwrite (-want +got):\n%s", diff)
	}
}

// TestAttachPutsBackDroppedEntries: a writer that does not register (a
// stale write by another tool) drops entries; the next attach puts back
// every registered one, but not a detached referrer (its manifest, and so
// its registration, deleted) nor one whose registration tag names a
// manifest of another subject.
func TestAttachPutsBackDroppedEntries(t *testing.T) {
	ctx := context.Background()
	host := regtest.Start(t, regtest.Plain)
	tg := openRemote(t, host)
	img := regtest.PushImage(t, tg.Store, "v1")
	other := regtest.PushImage(t, tg.Store, "v2")
	attach := func(subject ocispec.Descriptor, doc string) ocispec.Descriptor {
		t.Helper()
		d, err := registry.Attach(ctx, openRemote(t, host), subject, []byte(doc), registry.AttachOptions{ArtifactType: sbomType, MediaType: sbomType})
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	first, second, gone := attach(img, `{"n":1}`), attach(img, `{"n":2}`), attach(img, `{"n":3}`)
	// A referrer of the other image, tagged as if registered with img.
	stray := attach(other, `{"n":4}`)
	regTag := img.Digest.Algorithm().String() + "-" + img.Digest.Encoded() + "." + stray.Digest.Encoded()[:56]
	if err := tg.Store.Tag(ctx, ocispec.Descriptor{MediaType: stray.MediaType, Digest: stray.Digest, Size: stray.Size}, regTag); err != nil {
		t.Fatal(err)
	}
	// gone is detached: deleting its manifest deletes its tags.
	if err := tg.Remote.Manifests().Delete(ctx, ocispec.Descriptor{MediaType: gone.MediaType, Digest: gone.Digest, Size: gone.Size}); err != nil {
		t.Fatal(err)
	}
	// A stale write listing none of them.
	idx, err := json.Marshal(ocispec.Index{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageIndex, Manifests: []ocispec.Descriptor{}})
	if err != nil {
		t.Fatal(err)
	}
	tag := img.Digest.Algorithm().String() + "-" + img.Digest.Encoded()
	if err := tg.Remote.Manifests().PushReference(ctx, content.NewDescriptorFromBytes(ocispec.MediaTypeImageIndex, idx), bytes.NewReader(idx), tag); err != nil {
		t.Fatal(err)
	}
	last := attach(img, `{"n":5}`)
	if diff := cmp.Diff(sortedDigests(first, second, last), referrerDigests(t, host, img)); diff != "" {
		t.Errorf("referrers after the next attach (-want +got):\n%s", diff)
	}
	refs, err := registry.Referrers(ctx, openRemote(t, host), img, "")
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range refs {
		if r.ArtifactType != sbomType {
			t.Errorf("entry %s put back without its artifactType: %+v", r.Digest, r)
		}
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
		// <ref> is cut to 64 characters (distribution-spec v1.1): so a
		// sha512 subject's tag holds 64 of its 128, and no longer form is
		// a tag at all (past the 128-character limit)
		"sha256-" + h64: true, "sha512-" + h64: true, "sha384-" + h64: true, "sha512-" + h128: false,
		"sha256-" + h64[:63]: false, "sha256-" + strings.ToUpper(h64): false, "md5-" + h64: false,
		"v1": false, "": false, "release-1.0": false, "sha256" + h64: false, "sha256-" + h64 + "-x": false,
		// registration tags (a referrer's hex, cut to the tag limit)
		"sha256-" + h64 + "." + h64[:56]: true, "sha256-" + h64 + "." + h64[:32]: true,
		"sha256-" + h64 + "." + h64[:31]: false, "sha256-" + h64 + ".sig": false, "sha256-" + h64 + "." + strings.ToUpper(h64[:56]): false,
	} {
		if got := registry.IsReferrersTag(tag); got != want {
			t.Errorf("IsReferrersTag(%q) = %v, want %v", tag, got, want)
		}
	}
}

// TestAttachByDigestLoad: the document is read while the first reads are
// in flight; when reading it fails, its error is returned and nothing is
// written.
func TestAttachByDigestLoad(t *testing.T) {
	ctx := context.Background()
	for _, kind := range []string{regtest.Referrers, regtest.Plain} {
		t.Run(kind, func(t *testing.T) {
			host, rec := startRecorder(t, kind)
			img := regtest.PushImage(t, openRemote(t, host).Store, "v1")
			rec.take()
			bad := errors.New("the document is unreadable")
			if _, _, err := registry.AttachByDigestLoad(ctx, openRemote(t, host), img.Digest, func() ([]byte, registry.AttachOptions, error) {
				return nil, registry.AttachOptions{}, bad
			}); !errors.Is(err, bad) {
				t.Errorf("AttachByDigestLoad with a failing load = %v, want its error", err)
			}
			wroteNothing(t, rec.take())
			data := []byte(`{"loaded":true}`)
			subj, m, err := registry.AttachByDigestLoad(ctx, openRemote(t, host), img.Digest, func() ([]byte, registry.AttachOptions, error) {
				return data, registry.AttachOptions{ArtifactType: sbomType, MediaType: sbomType}, nil
			})
			if err != nil {
				t.Fatal(err)
			}
			_, want, err := registry.AttachByDigest(ctx, openRemote(t, host), img.Digest, data, registry.AttachOptions{ArtifactType: sbomType, MediaType: sbomType})
			if err != nil {
				t.Fatal(err)
			}
			if subj.Digest != img.Digest || m.Digest != want.Digest {
				t.Errorf("AttachByDigestLoad = %s, %s; want %s, %s (AttachByDigest's)", subj.Digest, m.Digest, img.Digest, want.Digest)
			}
			if got := referrerDigests(t, host, img); !slices.Equal(got, []digest.Digest{m.Digest}) {
				t.Errorf("referrers = %v, want the one attached", got)
			}
		})
	}
}

// TestRegistrationsUnorderedTagList: a registry whose tag list ignores
// `last` and `n` and is in no order (a fake, of a listing real
// registries are allowed to give: the last tag first) still has every
// registration found. Tags past the registrations come first in its
// listing; a search that took the first of them for the end of the
// registrations would put none back here.
func TestRegistrationsUnorderedTagList(t *testing.T) {
	ctx := context.Background()
	host := regtest.StartWrapped(t, regtest.Plain, func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Method != http.MethodGet || !strings.HasSuffix(r.URL.Path, "/tags/list") {
				next.ServeHTTP(w, r)
				return
			}
			r.URL.RawQuery = ""
			rw := httptest.NewRecorder()
			next.ServeHTTP(rw, r)
			var page struct {
				Name string   `json:"name"`
				Tags []string `json:"tags"`
			}
			if err := json.Unmarshal(rw.Body.Bytes(), &page); err != nil {
				t.Error(err)
			}
			slices.Reverse(page.Tags)
			w.Header().Set("Content-Type", "application/json")
			json.NewEncoder(w).Encode(page) //nolint:errcheck
		})
	})
	tg := openRemote(t, host)
	img := regtest.PushImage(t, tg.Store, "v1")
	for _, tag := range []string{"zz-last", "sha256-zz", "stella-verdict-x"} {
		if err := tg.Store.Tag(ctx, img, tag); err != nil {
			t.Fatal(err)
		}
	}
	var attached []ocispec.Descriptor
	for i := range 3 {
		d, err := registry.Attach(ctx, openRemote(t, host), img, fmt.Appendf(nil, `{"n":%d}`, i), registry.AttachOptions{ArtifactType: sbomType, MediaType: sbomType})
		if err != nil {
			t.Fatal(err)
		}
		attached = append(attached, d)
	}
	// Another tool's stale write drops all three.
	idx, _ := json.Marshal(ocispec.Index{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageIndex, Manifests: []ocispec.Descriptor{}})
	tag := img.Digest.Algorithm().String() + "-" + img.Digest.Encoded()
	if err := tg.Remote.Manifests().PushReference(ctx, content.NewDescriptorFromBytes(ocispec.MediaTypeImageIndex, idx), bytes.NewReader(idx), tag); err != nil {
		t.Fatal(err)
	}
	last, err := registry.Attach(ctx, openRemote(t, host), img, []byte(`{"n":"last"}`), registry.AttachOptions{ArtifactType: sbomType, MediaType: sbomType})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(sortedDigests(append(attached, last)...), referrerDigests(t, host, img)); diff != "" {
		t.Errorf("referrers after the next attach (-want +got):\n%s", diff)
	}
}

// TestAttachAfterRawDelete: a referrer deleted without its entry (a raw
// DELETE, which leaves the referrers tag listing it) made distribution
// refuse every later write of the tag (MANIFEST_BLOB_UNKNOWN), so every
// later attach to the subject failed. The entry of the deleted manifest is
// now dropped and the write made again.
func TestAttachAfterRawDelete(t *testing.T) {
	ctx := context.Background()
	host := regtest.Start(t, regtest.Plain)
	img := regtest.PushImage(t, openRemote(t, host).Store, "v1")
	attach := func(doc string) ocispec.Descriptor {
		t.Helper()
		d, err := registry.Attach(ctx, openRemote(t, host), img, []byte(doc), registry.AttachOptions{ArtifactType: sbomType, MediaType: sbomType})
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	kept, gone := attach(`{"n":1}`), attach(`{"n":2}`)
	req, _ := http.NewRequest(http.MethodDelete, "http://"+host+"/v2/app/manifests/"+gone.Digest.String(), nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("DELETE: %s", resp.Status)
	}
	if got := referrerDigests(t, host, img); !slices.Contains(got, gone.Digest) {
		t.Fatalf("the raw DELETE also removed the entry (%v): nothing to test", got)
	}
	last := attach(`{"n":3}`)
	if diff := cmp.Diff(sortedDigests(kept, last), referrerDigests(t, host, img)); diff != "" {
		t.Errorf("referrers after an attach that follows a raw DELETE (-want +got):\n%s", diff)
	}
}

// TestAttachSHA512Subject: a subject addressed by SHA-512 (distribution
// stores none, but the spec allows them and other registries do) is
// attached to on registries with and without the referrers API. Its
// referrers tag is sha512-<the first 64 of its 128 hex>, the spec's
// limit: before, the tag was 135 characters, past the tag grammar's 128,
// and attach failed for want of a registration tag even on a registry
// with the API.
func TestAttachSHA512Subject(t *testing.T) {
	ctx := context.Background()
	body := []byte(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.empty.v1+json","digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a","size":2},"layers":[]}`)
	subj := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: digest.SHA512.FromBytes(body), Size: int64(len(body))}
	for _, kind := range []string{regtest.Referrers, regtest.Plain} {
		t.Run(kind, func(t *testing.T) {
			host := regtest.Start(t, kind)
			m, err := registry.Attach(ctx, openRemote(t, host), subj, []byte(`{"n":512}`), registry.AttachOptions{ArtifactType: sbomType, MediaType: sbomType})
			if err != nil {
				t.Fatalf("attach to a sha512 subject: %v", err)
			}
			if got := referrerDigests(t, host, subj); !slices.Equal(got, []digest.Digest{m.Digest}) {
				t.Errorf("referrers of the sha512 subject = %v, want the one attached", got)
			}
			if kind == regtest.Plain {
				tag := "sha512-" + subj.Digest.Encoded()[:64]
				if !registry.IsReferrersTag(tag) {
					t.Errorf("IsReferrersTag(%q) = false", tag)
				}
				if _, err := openRemote(t, host).Store.Resolve(ctx, tag); err != nil {
					t.Errorf("the referrers tag %s: %v", tag, err)
				}
			}
		})
	}
}

// TestAttachBadReferrersTag: a referrers tag that is an index but cannot
// be read as referrers (it lists the subject) does not matter on a
// registry with the referrers API: attach asks the API, then attaches.
// On one without, attach refuses before writing anything (before, it
// pushed the manifest, then failed on the tag).
func TestAttachBadReferrersTag(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		kind string
		ok   bool
	}{{regtest.Referrers, true}, {regtest.Plain, false}} {
		t.Run(tc.kind, func(t *testing.T) {
			host, rec := startRecorder(t, tc.kind)
			tg := openRemote(t, host)
			img := regtest.PushImage(t, tg.Store, "v1")
			b, _ := json.Marshal(ocispec.Index{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageIndex, Manifests: []ocispec.Descriptor{img}})
			if err := tg.Remote.Manifests().PushReference(ctx, content.NewDescriptorFromBytes(ocispec.MediaTypeImageIndex, b), bytes.NewReader(b), img.Digest.Algorithm().String()+"-"+img.Digest.Encoded()); err != nil {
				t.Fatal(err)
			}
			rec.take()
			_, _, err := registry.AttachByDigest(ctx, openRemote(t, host), img.Digest, []byte(`{"bad":"tag"}`), registry.AttachOptions{ArtifactType: sbomType, MediaType: sbomType})
			if tc.ok {
				if err != nil {
					t.Errorf("attach with the referrers API = %v, want success", err)
				}
				return
			}
			if !errors.Is(err, registry.ErrFallbackIndex) || !strings.Contains(err.Error(), "nothing was written") {
				t.Errorf("attach without the referrers API = %v, want ErrFallbackIndex, nothing written", err)
			}
			wroteNothing(t, rec.take())
		})
	}
}

// TestReattachRepairs: an entry a writer left out, as one killed between
// its write and its check would (registered, not listed), is put back by
// the next attach to the subject, even of a document already listed,
// which writes its own entry no more but checks all the same.
func TestReattachRepairs(t *testing.T) {
	ctx := context.Background()
	host := regtest.Start(t, regtest.Plain)
	tg := openRemote(t, host)
	img := regtest.PushImage(t, tg.Store, "v1")
	doc := []byte(`{"n":"listed"}`)
	listed, err := registry.Attach(ctx, openRemote(t, host), img, doc, registry.AttachOptions{ArtifactType: sbomType, MediaType: sbomType})
	if err != nil {
		t.Fatal(err)
	}
	// The left-out writer's referrer: its blobs pushed (an artifact
	// without a subject has the same), its manifest put under its
	// registration tag by a raw PUT (oras-go would list it), never listed.
	layer := registry.NewLayer(sbomType, []byte(`{"n":"left out"}`), "")
	if _, err := registry.PushArtifact(ctx, openRemote(t, host), registry.ArtifactOptions{ArtifactType: sbomType, Layers: []registry.Layer{layer}}); err != nil {
		t.Fatal(err)
	}
	mb, md := artifactManifest(t, registry.ArtifactOptions{ArtifactType: sbomType, Subject: &img, Layers: []registry.Layer{layer}})
	regTag := img.Digest.Algorithm().String() + "-" + img.Digest.Encoded() + "." + md.Digest.Encoded()[:56]
	req, _ := http.NewRequest(http.MethodPut, "http://"+host+"/v2/app/manifests/"+regTag, bytes.NewReader(mb))
	req.Header.Set("Content-Type", ocispec.MediaTypeImageManifest)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("PUT %s: %s", regTag, resp.Status)
	}
	if got := referrerDigests(t, host, img); slices.Contains(got, md.Digest) {
		t.Fatal("the left-out referrer is listed already: nothing to test")
	}
	if _, err := registry.Attach(ctx, openRemote(t, host), img, doc, registry.AttachOptions{ArtifactType: sbomType, MediaType: sbomType}); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(sortedDigests(listed, md), referrerDigests(t, host, img)); diff != "" {
		t.Errorf("referrers after attaching a listed document again (-want +got):\n%s", diff)
	}
}

// artifactManifest is the manifest PushArtifact makes of o: its bytes and
// descriptor.
func artifactManifest(t *testing.T, o registry.ArtifactOptions) ([]byte, ocispec.Descriptor) {
	t.Helper()
	m := ocispec.Manifest{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageManifest, ArtifactType: o.ArtifactType, Config: ocispec.DescriptorEmptyJSON, Subject: &ocispec.Descriptor{MediaType: o.Subject.MediaType, Digest: o.Subject.Digest, Size: o.Subject.Size}}
	for _, l := range o.Layers {
		m.Layers = append(m.Layers, l.Descriptor)
	}
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b, content.NewDescriptorFromBytes(ocispec.MediaTypeImageManifest, b)
}

// TestAttachUnusedUploadCancelled: attaching a document the registry has
// already leaves no upload session open: the one opened with the reads
// finds nothing to carry and is cancelled, and no blob is sent again.
func TestAttachUnusedUploadCancelled(t *testing.T) {
	ctx := context.Background()
	for _, kind := range []string{regtest.Referrers, regtest.Plain} {
		t.Run(kind, func(t *testing.T) {
			host, rec := startRecorder(t, kind)
			img := regtest.PushImage(t, openRemote(t, host).Store, "v1")
			doc := []byte(`{"same":"document"}`)
			opts := registry.AttachOptions{ArtifactType: sbomType, MediaType: sbomType}
			if _, _, err := registry.AttachByDigest(ctx, openRemote(t, host), img.Digest, doc, opts); err != nil {
				t.Fatal(err)
			}
			rec.take()
			// The cancellation is not waited for before the manifest's
			// push: the DELETE is held until the manifest arrives.
			var (
				once      sync.Once
				manifest  = make(chan struct{})
				heldAlone bool
			)
			rec.hooks(func(r *http.Request) {
				switch {
				case r.Method == http.MethodPut && !strings.Contains(r.URL.Path, "/blobs/"):
					once.Do(func() { close(manifest) })
				case r.Method == http.MethodDelete:
					select {
					case <-manifest:
					case <-time.After(2 * time.Second):
						heldAlone = true
					}
				}
			}, nil)
			if _, _, err := registry.AttachByDigest(ctx, openRemote(t, host), img.Digest, doc, opts); err != nil {
				t.Fatal(err)
			}
			rec.hooks(nil, nil)
			c := counts(rec.take())
			if c["POST upload"] != 1 || c["DELETE upload"] != 1 || c["PUT upload"] != 0 {
				t.Errorf("the second attach of one document: %v, want one session opened and cancelled, no blob sent", c)
			}
			if heldAlone {
				t.Error("the manifest was pushed only after the unused session's cancellation")
			}
		})
	}
}

// TestAttachFailedLoadCancelsSession: a document that cannot be read,
// found out while the upload session's POST is still unanswered, leaves
// no session open: the POST is not cut off, and its session is
// cancelled.
func TestAttachFailedLoadCancelsSession(t *testing.T) {
	ctx := context.Background()
	host, rec := startRecorder(t, regtest.Referrers)
	img := regtest.PushImage(t, openRemote(t, host).Store, "v1")
	rec.take()
	var once sync.Once
	posted := make(chan struct{})
	rec.hooks(func(r *http.Request) {
		if r.Method == http.MethodPost {
			once.Do(func() { close(posted) })
			time.Sleep(300 * time.Millisecond) // a slow answer
		}
	}, nil)
	bad := errors.New("the document is unreadable")
	_, _, err := registry.AttachByDigestLoad(ctx, openRemote(t, host), img.Digest, func() ([]byte, registry.AttachOptions, error) {
		select {
		case <-posted:
		case <-time.After(5 * time.Second):
		}
		return nil, registry.AttachOptions{}, bad
	})
	if !errors.Is(err, bad) {
		t.Errorf("AttachByDigestLoad with a failing load = %v, want its error", err)
	}
	rec.hooks(nil, nil)
	wroteNothing(t, rec.take())
}

// TestAttachUploadRefused: a registry that refuses the document's upload
// (a quota, here) is reported with its own words and the credentials
// tried, as oras-go reports a refused push, and the session is cancelled.
func TestAttachUploadRefused(t *testing.T) {
	ctx := context.Background()
	var refuse atomic.Bool // once the image is there
	backend := regtest.StartWrapped(t, regtest.Referrers, func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if refuse.Load() && r.Method == http.MethodPut && strings.Contains(r.URL.Path, "/blobs/uploads/") {
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(http.StatusForbidden)
				w.Write([]byte(`{"errors":[{"code":"DENIED","message":"quota exceeded for project app"}]}`))
				return
			}
			next.ServeHTTP(w, r)
		})
	})
	host, rec := proxyTo(t, backend)
	img := regtest.PushImage(t, openRemote(t, host).Store, "v1")
	// The empty config is there: the document is the one blob to send,
	// through the session.
	if err := openRemote(t, host).Store.Push(ctx, ocispec.DescriptorEmptyJSON, bytes.NewReader(ocispec.DescriptorEmptyJSON.Data)); err != nil {
		t.Fatal(err)
	}
	refuse.Store(true)
	rec.take()
	_, _, err := registry.AttachByDigest(ctx, openRemote(t, host), img.Digest, []byte(`{"n":1}`), registry.AttachOptions{ArtifactType: sbomType, MediaType: sbomType})
	if err == nil || !strings.Contains(err.Error(), "quota exceeded for project app") || !strings.Contains(err.Error(), "credentials tried") {
		t.Errorf("attach refused by the registry = %v, want its message and the credentials tried", err)
	}
	if err != nil && strings.Contains(err.Error(), "_state") {
		t.Errorf("the error names the upload's state token: %v", err)
	}
	if c := counts(rec.take()); c["POST upload"] != 1 || c["PUT upload"] != 1 || c["DELETE upload"] != 1 || c["PUT manifest"] != 0 {
		t.Errorf("requests of a refused upload: %v, want the session opened and cancelled, no manifest", c)
	}
}

// TestAttachLayoutReferrersTag: attaching to an OCI layout also lists the
// referrer in its subject's referrers tag (sha256-<hex>), as a mirror into
// a layout does: regctl (ocidir://) reads a layout's referrers from that
// tag alone. Two attaches, one tag listing both with their artifact types.
func TestAttachLayoutReferrersTag(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	img := regtest.PushImage(t, openRef(t, "oci:"+dir).Store, "v1")
	var want []digest.Digest
	for i, at := range []string{sbomType, "application/vnd.openvex+json"} {
		m, err := registry.Attach(ctx, openRef(t, "oci:"+dir), img, []byte(fmt.Sprintf(`{"n":%d}`, i)), registry.AttachOptions{ArtifactType: at, MediaType: at})
		if err != nil {
			t.Fatal(err)
		}
		want = append(want, m.Digest)
	}
	tg := openRef(t, "oci:"+dir)
	tagged, err := tg.Store.Resolve(ctx, registry.ReferrersTag(img.Digest))
	if err != nil {
		t.Fatalf("the referrers tag of the subject: %v", err)
	}
	b, err := registry.FetchBlob(ctx, tg, tagged, registry.MaxManifestBytes)
	if err != nil {
		t.Fatal(err)
	}
	var idx ocispec.Index
	if err := json.Unmarshal(b, &idx); err != nil {
		t.Fatal(err)
	}
	var got []digest.Digest
	types := map[digest.Digest]string{}
	for _, d := range idx.Manifests {
		got = append(got, d.Digest)
		types[d.Digest] = d.ArtifactType
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("the referrers tag lists %v, want the two attached %v", got, want)
	}
	for _, d := range want {
		if types[d] == "" {
			t.Errorf("the tag's entry %s has no artifactType", d)
		}
	}
}

// TestAttachLayoutKeepsForeignTag: in a layout or layout tar, as on a
// registry without the referrers API (TestAttachBadReferrersTag), a
// subject's referrers tag that names something other than an index of
// referrers (the subject itself, an index listing the subject) is refused
// before anything is written. Before, attach replaced it with a new
// referrers index: the tag's name was lost, and an image listed only
// under it was left unreferenced.
func TestAttachLayoutKeepsForeignTag(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct{ name, scheme string }{
		{"subject", "oci:"}, {"index listing the subject", "oci:"}, {"subject", "oci-archive:"},
	} {
		t.Run(tc.name+" "+tc.scheme, func(t *testing.T) {
			dir := t.TempDir()
			ref := "oci:" + filepath.Join(dir, "l")
			if tc.scheme == "oci-archive:" {
				ref = "oci-archive:" + filepath.Join(dir, "l.tar")
			}
			tg := openRef(t, ref)
			img := regtest.PushImage(t, tg.Store, "v1")
			tagged := img
			if tc.name != "subject" {
				b, _ := json.Marshal(ocispec.Index{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageIndex, Manifests: []ocispec.Descriptor{img}})
				tagged = content.NewDescriptorFromBytes(ocispec.MediaTypeImageIndex, b)
				if err := tg.Store.Push(ctx, tagged, bytes.NewReader(b)); err != nil {
					t.Fatal(err)
				}
			}
			if err := tg.Store.Tag(ctx, tagged, registry.ReferrersTag(img.Digest)); err != nil {
				t.Fatal(err)
			}
			if err := tg.Close(); err != nil {
				t.Fatal(err)
			}
			before := treeState(t, dir)
			_, _, err := registry.AttachByDigest(ctx, openRef(t, ref), img.Digest, []byte(`{"n":1}`), registry.AttachOptions{ArtifactType: sbomType, MediaType: sbomType})
			if !errors.Is(err, registry.ErrFallbackIndex) || !strings.Contains(err.Error(), "nothing was written") {
				t.Errorf("attach = %v, want ErrFallbackIndex, nothing written", err)
			}
			if diff := cmp.Diff(before, treeState(t, dir)); diff != "" {
				t.Errorf("a refused attach changed the layout (-before +after):\n%s", diff)
			}
		})
	}
}

// treeState is every file under root (or root itself) and a digest of its
// bytes, by path.
func treeState(t *testing.T, root string) map[string]digest.Digest {
	t.Helper()
	m := map[string]digest.Digest{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		m[strings.TrimPrefix(p, root)] = digest.FromBytes(b)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return m
}
