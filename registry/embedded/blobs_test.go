package embedded

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
)

// TestBlobReaderAnswersAsDistribution: for every blob request the fast
// path serves (GET, HEAD, ranges, conditional requests) its answer —
// status, body and every header but Date — is distribution's own for
// the same request on the same storage; what it does not serve (a blob
// of another repository, an unknown or malformed digest, a deleted
// blob) reaches distribution.
func TestBlobReaderAnswersAsDistribution(t *testing.T) {
	root := t.TempDir()
	h, err := New(context.Background(), Options{Root: root})
	if err != nil {
		t.Fatal(err)
	}
	fast := h.(*front).next.(*referrersLayer).next.(*blobReader)
	dist := fast.next
	srv := httptest.NewServer(h)
	defer srv.Close()

	data := bytes.Repeat([]byte("0123456789abcdef"), 4096) // 64 KiB
	d := digest.FromBytes(data)
	upload(t, srv.URL, "app", data)
	upload(t, srv.URL, "app", []byte{})
	other := []byte("only in the other repository")
	upload(t, srv.URL, "other", other)
	doomed := []byte("deleted")
	upload(t, srv.URL, "app", doomed)
	if err := os.Remove(filepath.Join(fast.store, "repositories", "app", "_layers", "sha256", digest.FromBytes(doomed).Encoded(), "link")); err != nil {
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
		do := func(hd http.Handler) *httptest.ResponseRecorder {
			r := httptest.NewRequest(rq.method, rq.path, nil)
			for k, v := range rq.header {
				r.Header.Set(k, v)
			}
			w := httptest.NewRecorder()
			hd.ServeHTTP(w, r)
			return w
		}
		probe := httptest.NewRecorder()
		r := httptest.NewRequest(rq.method, rq.path, nil)
		for k, v := range rq.header {
			r.Header.Set(k, v)
		}
		if served := fast.serve(probe, r, "app", strings.TrimPrefix(rq.path, "/v2/app/blobs/")); served != rq.fast {
			t.Errorf("%s: served by the fast path %v, want %v", name, served, rq.fast)
		}
		got, want := do(fast), do(dist)
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
