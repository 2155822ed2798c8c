package embedded

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// TestBlobReaderAnswersAsDistribution: for every blob request the fast
// path serves (GET, HEAD, ranges, conditional requests) its answer —
// status, body and every header but Date — is distribution's own for
// the same request on the same storage; what it does not serve (a blob
// of another repository, an unknown or malformed digest, a deleted
// blob) reaches distribution.
func TestBlobReaderAnswersAsDistribution(t *testing.T) {
	fast, srv := newFastPath(t)
	dist := fast.next

	data := bytes.Repeat([]byte("0123456789abcdef"), 4096) // 64 KiB
	d := digest.FromBytes(data)
	upload(t, srv.URL, "app", data)
	upload(t, srv.URL, "app", []byte{})
	other := []byte("only in the other repository")
	upload(t, srv.URL, "other", other)
	doomed := []byte("deleted")
	upload(t, srv.URL, "app", doomed)
	if err := os.Remove(filepath.Join(string(fast.store), "repositories", "app", "_layers", "sha256", digest.FromBytes(doomed).Encoded(), "link")); err != nil {
		t.Fatal(err)
	}

	type req struct {
		method, path string
		header       map[string]string
		fast         bool // served by the fast path
	}
	blob := func(dg digest.Digest) string { return "/v2/app/blobs/" + dg.String() }
	reqs := []req{
		{"GET", blob(d), nil, true},
		{"HEAD", blob(d), nil, true},
		{"GET", blob(digest.FromBytes(nil)), nil, true},
		{"GET", blob(d), map[string]string{"Range": "bytes=10-99"}, true},
		{"GET", blob(d), map[string]string{"Range": "bytes=-5"}, true},
		{"GET", blob(d), map[string]string{"Range": "bytes=70000-"}, true},
		{"GET", blob(d), map[string]string{"If-None-Match": `"` + d.String() + `"`}, true},
		{"HEAD", blob(d), map[string]string{"If-None-Match": `"` + d.String() + `"`}, true},
		{"GET", blob(digest.FromBytes(other)), nil, false},
		{"GET", blob(digest.FromBytes(doomed)), nil, false},
		{"GET", blob(digest.FromString("never pushed")), nil, false},
		{"GET", "/v2/app/blobs/sha256:abc", nil, false},
		{"HEAD", "/v2/app/blobs/sha256:" + strings.Repeat("A", 64), nil, false},
	}
	for _, rq := range reqs {
		name := fmt.Sprintf("%s %s %v", rq.method, rq.path, rq.header)
		newReq := requestMaker(rq.method, rq.path, rq.header)
		if served := fast.serve(httptest.NewRecorder(), newReq(), "app", strings.TrimPrefix(rq.path, "/v2/app/blobs/")); served != rq.fast {
			t.Errorf("%s: served by the fast path %v, want %v", name, served, rq.fast)
		}
		sameAnswer(t, name, fast, dist, newReq)
	}
}

// newFastPath starts an embedded registry and returns its fast path (the
// blobReader in front of distribution) and its server.
func newFastPath(t *testing.T) (*blobReader, *httptest.Server) {
	t.Helper()
	h, err := New(context.Background(), Options{Root: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return h.(*front).next.(*referrersLayer).next.(*singlePost).next.(*blobReader), srv
}

// requestMaker makes the same request again, each call a new one.
func requestMaker(method, path string, header map[string]string) func() *http.Request {
	return func() *http.Request {
		r := httptest.NewRequest(method, path, nil)
		for k, v := range header {
			r.Header.Set(k, v)
		}
		return r
	}
}

// sameAnswer fails unless fast answers the request as dist does: status,
// body and every header but Date.
func sameAnswer(t *testing.T, name string, fast, dist http.Handler, newReq func() *http.Request) {
	t.Helper()
	got, want := httptest.NewRecorder(), httptest.NewRecorder()
	fast.ServeHTTP(got, newReq())
	dist.ServeHTTP(want, newReq())
	if got.Code != want.Code || !bytes.Equal(got.Body.Bytes(), want.Body.Bytes()) {
		t.Errorf("%s: %d with %d bytes; distribution: %d with %d bytes", name, got.Code, got.Body.Len(), want.Code, want.Body.Len())
	}
	gh, wh := got.Header().Clone(), want.Header().Clone()
	gh.Del("Date")
	wh.Del("Date")
	if g, w := headerLines(gh), headerLines(wh); !slices.Equal(g, w) {
		t.Errorf("%s: headers\n%s\ndistribution's\n%s", name, strings.Join(g, "\n"), strings.Join(w, "\n"))
	}
}

func headerLines(h http.Header) []string {
	var out []string
	for k, vs := range h {
		for _, v := range vs {
			out = append(out, k+": "+v)
		}
	}
	slices.Sort(out)
	return out
}

// upload pushes a blob into repo (POST, then PUT with the digest).
func upload(t *testing.T, base, repo string, data []byte) {
	t.Helper()
	resp, err := http.Post(base+"/v2/"+repo+"/blobs/uploads/", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	loc := resp.Header.Get("Location")
	if resp.StatusCode != http.StatusAccepted || loc == "" {
		t.Fatalf("starting an upload: %s", resp.Status)
	}
	if !strings.HasPrefix(loc, "http") {
		loc = base + loc
	}
	sep := "?"
	if strings.Contains(loc, "?") {
		sep = "&"
	}
	r, _ := http.NewRequest(http.MethodPut, loc+sep+"digest="+digest.FromBytes(data).String(), bytes.NewReader(data))
	r.Header.Set("Content-Type", "application/octet-stream")
	resp, err = http.DefaultClient.Do(r)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("finishing an upload: %s", resp.Status)
	}
}

// TestReferrersGroupCommit: referrers pushed at once to one subject
// while its index is being written (the test holds the subject's lock
// until the adds waiting for it stop growing) are written together, in
// one write of the index, and all are listed, each once.
func TestReferrersGroupCommit(t *testing.T) {
	root := t.TempDir()
	h, err := New(context.Background(), Options{Root: root})
	if err != nil {
		t.Fatal(err)
	}
	layer := h.(*front).next.(*referrersLayer)
	srv := httptest.NewServer(h)
	defer srv.Close()
	empty := []byte("{}")
	upload(t, srv.URL, "app", empty)
	subjectBody := []byte(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.empty.v1+json","digest":"` + digest.FromBytes(empty).String() + `","size":2},"layers":[]}`)
	subject := digest.FromBytes(subjectBody)
	put := func(body []byte) error {
		r, _ := http.NewRequest(http.MethodPut, srv.URL+"/v2/app/manifests/"+digest.FromBytes(body).String(), bytes.NewReader(body))
		r.Header.Set("Content-Type", "application/vnd.oci.image.manifest.v1+json")
		resp, err := http.DefaultClient.Do(r)
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusCreated {
			return fmt.Errorf("PUT: %s", resp.Status)
		}
		return nil
	}
	if err := put(subjectBody); err != nil {
		t.Fatal(err)
	}
	const n = 64
	before := layer.indexWrites.Load()
	// The subject's lock held while the PUTs arrive: every add queues.
	unlock := layer.lock("app", subject)
	errs := make(chan error, n)
	for i := range n {
		go func() {
			body := fmt.Appendf(nil, `{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","artifactType":"application/vnd.example","config":{"mediaType":"application/vnd.oci.empty.v1+json","digest":"%s","size":2},"layers":[],"subject":{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"%s","size":%d},"annotations":{"n":"%d"}}`, digest.FromBytes(empty), subject, len(subjectBody), i)
			errs <- put(body)
		}()
	}
	queued := func() int {
		layer.gmu.Lock()
		defer layer.gmu.Unlock()
		if b := layer.groups["app\x00"+subject.String()]; b != nil {
			return len(b.adds)
		}
		return 0
	}
	// PUTs whose manifests share a lock stripe (64 of them) wait behind
	// one another, so not all n adds queue: wait until the queue stops
	// growing.
	q, still := 0, 0
	for deadline := time.Now().Add(30 * time.Second); still < 20 && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
		if now := queued(); now == q && now > 1 {
			still++
		} else {
			q, still = now, 0
		}
	}
	if q < 2 {
		unlock()
		t.Fatalf("%d adds queued behind the lock: nothing to write together", q)
	}
	unlock()
	for range n {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	writes := layer.indexWrites.Load() - before
	resp, err := http.Get(srv.URL + "/v2/app/referrers/" + subject.String())
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var idx struct {
		Manifests []struct {
			Digest string `json:"digest"`
		} `json:"manifests"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&idx); err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, m := range idx.Manifests {
		seen[m.Digest] = true
	}
	if len(idx.Manifests) != n || len(seen) != n {
		t.Errorf("%d referrers listed (%d distinct), want %d", len(idx.Manifests), len(seen), n)
	}
	// The queued batch is written once; the others at most once each.
	if limit := int64(n - q + 1); writes > limit {
		t.Errorf("the index was written %d times for %d referrers, %d of them queued together: want at most %d", writes, n, q, limit)
	}
	t.Logf("%d referrers, %d queued together, %d index writes", n, q, writes)
}

// TestManifestReaderAnswersAsDistribution: for each manifest request by
// digest the fast path serves, the answer (status, body, every header but
// Date) is distribution's own for the same request on the same storage;
// what it leaves alone (a manifest of another repository or unlinked, one
// without a media type, an OCI manifest or index the Accept header does
// not take, a conditional request, a tag) reaches distribution.
func TestManifestReaderAnswersAsDistribution(t *testing.T) {
	fast, srv := newFastPath(t)
	dist := fast.next
	cfg := []byte("{}")
	upload(t, srv.URL, "app", cfg)
	upload(t, srv.URL, "other", cfg)
	put := func(repo, ref, mediaType string, body []byte) digest.Digest {
		t.Helper()
		r, _ := http.NewRequest(http.MethodPut, srv.URL+"/v2/"+repo+"/manifests/"+ref, bytes.NewReader(body))
		r.Header.Set("Content-Type", mediaType)
		resp, err := http.DefaultClient.Do(r)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusCreated {
			t.Fatalf("PUT %s %s: %s", repo, ref, resp.Status)
		}
		return digest.FromBytes(body)
	}
	cd := digest.FromBytes(cfg)
	oci := fmt.Appendf(nil, `{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.empty.v1+json","digest":"%s","size":2},"layers":[],"annotations":{"k":"v"}}`, cd)
	ociD := put("app", digest.FromBytes(oci).String(), ocispec.MediaTypeImageManifest, oci)
	bare := fmt.Appendf(nil, `{"schemaVersion":2,"config":{"mediaType":"application/vnd.oci.empty.v1+json","digest":"%s","size":2},"layers":[]}`, cd)
	bareD := put("app", digest.FromBytes(bare).String(), ocispec.MediaTypeImageManifest, bare)
	docker := fmt.Appendf(nil, `{"schemaVersion":2,"mediaType":"%s","config":{"mediaType":"application/vnd.docker.container.image.v1+json","digest":"%s","size":2},"layers":[]}`, dockerManifest, cd)
	dockerD := put("app", digest.FromBytes(docker).String(), dockerManifest, docker)
	index := fmt.Appendf(nil, `{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"%s","size":%d}]}`, ociD, len(oci))
	indexD := put("app", "v1", ocispec.MediaTypeImageIndex, index)
	list := fmt.Appendf(nil, `{"schemaVersion":2,"mediaType":"%s","manifests":[{"mediaType":"%s","digest":"%s","size":%d,"platform":{"architecture":"amd64","os":"linux"}}]}`, dockerManifestList, dockerManifest, dockerD, len(docker))
	listD := put("app", digest.FromBytes(list).String(), dockerManifestList, list)
	mine := fmt.Appendf(nil, `{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.empty.v1+json","digest":"%s","size":2},"layers":[],"annotations":{"repo":"other"}}`, cd)
	otherD := put("other", digest.FromBytes(mine).String(), ocispec.MediaTypeImageManifest, mine)
	const both = "application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json;q=0.9"
	allTypes := both + ", " + dockerManifest + ", " + dockerManifestList
	type req struct {
		method, path string
		header       map[string]string
		fast         bool
	}
	m := func(dg digest.Digest) string { return "/v2/app/manifests/" + dg.String() }
	acc := func(v string) map[string]string { return map[string]string{"Accept": v} }
	reqs := []req{
		{"GET", m(ociD), acc(both), true},
		{"HEAD", m(ociD), acc(both), true},
		{"GET", m(ociD), acc(allTypes), true},
		{"GET", m(indexD), acc(both), true},
		{"HEAD", m(indexD), acc(ocispec.MediaTypeImageIndex), true},
		{"GET", m(dockerD), acc(dockerManifest), true},
		{"GET", m(dockerD), nil, true},
		{"GET", m(listD), acc(dockerManifestList), true},
		{"GET", m(listD), nil, true},
		{"GET", m(ociD), nil, false},                 // distribution: 404, no OCI in Accept
		{"GET", m(ociD), acc(dockerManifest), false}, // the same
		{"GET", m(indexD), acc(ocispec.MediaTypeImageManifest), false},
		{"GET", m(bareD), acc(allTypes), false}, // no media type of its own
		{"GET", m(ociD), map[string]string{"Accept": both, "If-None-Match": `"` + ociD.String() + `"`}, false},
		{"GET", m(otherD), acc(allTypes), false}, // another repository's
		{"GET", m(digest.FromString("never")), acc(allTypes), false},
		{"GET", "/v2/app/manifests/v1", acc(allTypes), false}, // a tag
		{"GET", "/v2/app/manifests/sha256:abc", acc(allTypes), false},
	}
	for _, rq := range reqs {
		name := fmt.Sprintf("%s %s %v", rq.method, rq.path, rq.header)
		newReq := requestMaker(rq.method, rq.path, rq.header)
		served := false
		if name, d, ok := digestRoute(rq.path, "manifests"); ok {
			served = fast.serveManifest(httptest.NewRecorder(), newReq(), name, d)
		}
		if served != rq.fast {
			t.Errorf("%s: served by the fast path %v, want %v", name, served, rq.fast)
		}
		sameAnswer(t, name, fast, dist, newReq)
	}
	// A revision link removed (the manifest deleted): distribution answers.
	if err := os.RemoveAll(filepath.Join(string(fast.store), "repositories", "app", "_manifests", "revisions", "sha256", dockerD.Encoded())); err != nil {
		t.Fatal(err)
	}
	r := httptest.NewRequest("GET", m(dockerD), nil)
	if fast.serveManifest(httptest.NewRecorder(), r, "app", dockerD.String()) {
		t.Error("a manifest whose revision link is gone was served by the fast path")
	}
}
