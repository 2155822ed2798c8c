package embedded_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/stella-ops/stella-oras/internal/regtest"
	"github.com/stella-ops/stella-oras/registry"
	"github.com/stella-ops/stella-oras/registry/embedded"
)

func start(t *testing.T, opts embedded.Options) string {
	t.Helper()
	if opts.Root == "" {
		opts.Root = t.TempDir()
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	h, err := embedded.New(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://")
}

// referrerManifest is an artifact manifest referring to subject, varied by
// seed, with the given annotations.
func referrerManifest(t *testing.T, subject ocispec.Descriptor, seed string, ann map[string]string) []byte {
	t.Helper()
	m := map[string]any{
		"schemaVersion": 2,
		"mediaType":     ocispec.MediaTypeImageManifest,
		"artifactType":  "application/vnd.example+" + seed,
		"config":        ocispec.DescriptorEmptyJSON,
		"layers":        []ocispec.Descriptor{ocispec.DescriptorEmptyJSON},
		"subject":       subject,
	}
	if ann != nil {
		m["annotations"] = ann
	}
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func do(t *testing.T, method, url string, body []byte, ct string) (int, http.Header, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if ct != "" {
		req.Header.Set("Content-Type", ct)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, b
}

// openUpload starts a blob upload in app and returns its location.
func openUpload(t *testing.T, host string) string {
	t.Helper()
	code, hdr, _ := do(t, http.MethodPost, "http://"+host+"/v2/app/blobs/uploads/", nil, "")
	if code != http.StatusAccepted {
		t.Fatalf("upload start: %d", code)
	}
	loc := hdr.Get("Location")
	if !strings.HasPrefix(loc, "http") {
		loc = "http://" + host + loc
	}
	return loc
}

func pushEmptyBlob(t *testing.T, host string) {
	t.Helper()
	loc := openUpload(t, host)
	sep := "?"
	if strings.Contains(loc, "?") {
		sep = "&"
	}
	if code, _, b := do(t, http.MethodPut, loc+sep+"digest="+ocispec.DescriptorEmptyJSON.Digest.String(), ocispec.DescriptorEmptyJSON.Data, "application/octet-stream"); code != http.StatusCreated {
		t.Fatalf("upload: %d %s", code, b)
	}
}

// TestReferrersIndexUnderPutDelete (#11 item 7): a PUT and a DELETE of the
// same referrer racing each other leave the index as storage is: the
// referrer, deleted after it was stored, is not listed. Before the fix the
// PUT's index update could land after the DELETE's, and the deleted
// referrer stayed listed forever.
func TestReferrersIndexUnderPutDelete(t *testing.T) {
	host := start(t, embedded.Options{})
	tg := open(t, host)
	img := regtest.PushImage(t, tg.Store, "v1")
	pushEmptyBlob(t, host)
	const rounds = 150
	for i := range rounds {
		body := referrerManifest(t, img, fmt.Sprint(i), nil)
		d := digest.FromBytes(body)
		url := "http://" + host + "/v2/app/manifests/" + d.String()
		var wg sync.WaitGroup
		wg.Add(2)
		go func() {
			defer wg.Done()
			if code, _, b := do(t, http.MethodPut, url, body, ocispec.MediaTypeImageManifest); code != http.StatusCreated {
				t.Errorf("PUT: %d %s", code, b)
			}
		}()
		go func() {
			defer wg.Done()
			for range 10000 {
				if code, _, _ := do(t, http.MethodDelete, url, nil, ""); code == http.StatusAccepted {
					return
				}
			}
			t.Error("DELETE never succeeded")
		}()
		wg.Wait()
	}
	idx, _ := referrers(t, host, img.Digest.String(), "")
	if len(idx.Manifests) != 0 {
		t.Errorf("%d of %d deleted referrers still listed", len(idx.Manifests), rounds)
	}
}

// TestReferrersIndexRepairs: an index entry whose manifest is gone from
// storage (an index written before a crash, or storage changed behind the
// registry's back) is dropped on the next listing.
func TestReferrersIndexRepairs(t *testing.T) {
	root := t.TempDir()
	host := start(t, embedded.Options{Root: root})
	tg := open(t, host)
	img := regtest.PushImage(t, tg.Store, "v1")
	keep, err := registry.Attach(context.Background(), tg, img, []byte(`{"a":1}`), registry.AttachOptions{ArtifactType: "application/vnd.a", MediaType: "application/vnd.a"})
	if err != nil {
		t.Fatal(err)
	}
	gone, err := registry.Attach(context.Background(), tg, img, []byte(`{"b":1}`), registry.AttachOptions{ArtifactType: "application/vnd.b", MediaType: "application/vnd.b"})
	if err != nil {
		t.Fatal(err)
	}
	// Delete through plain distribution on the same storage: the referrers
	// layer does not see it.
	plain, err := embedded.New(context.Background(), embedded.Options{Root: root, Plain: true})
	if err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	plain.ServeHTTP(rec, httptest.NewRequest(http.MethodDelete, "/v2/app/manifests/"+gone.Digest.String(), nil))
	if rec.Code != http.StatusAccepted {
		t.Fatalf("delete behind the layer: %d", rec.Code)
	}
	idx, _ := referrers(t, host, img.Digest.String(), "")
	if len(idx.Manifests) != 1 || idx.Manifests[0].Digest != keep.Digest {
		t.Fatalf("listing after storage lost a referrer: %+v", idx.Manifests)
	}
}

// TestReferrersPageBytes (#11 item 6): a referrer with a huge annotation
// does not push a page past the client's 4 MiB bound; annotations copied
// into descriptors are bounded (and say so), and pages are cut by bytes as
// well as by count, so every referrer is listed.
func TestReferrersPageBytes(t *testing.T) {
	host := start(t, embedded.Options{})
	tg := open(t, host)
	img := regtest.PushImage(t, tg.Store, "v1")
	pushEmptyBlob(t, host)
	put := func(body []byte) {
		t.Helper()
		d := digest.FromBytes(body)
		if code, _, b := do(t, http.MethodPut, "http://"+host+"/v2/app/manifests/"+d.String(), body, ocispec.MediaTypeImageManifest); code != http.StatusCreated {
			t.Fatalf("PUT: %d %.200s", code, b)
		}
	}
	put(referrerManifest(t, img, "huge", map[string]string{"big": strings.Repeat("x", 4<<20-2048), "small": "kept"}))
	const n = 80
	for i := range n {
		put(referrerManifest(t, img, fmt.Sprint(i), map[string]string{"note": strings.Repeat("y", 60<<10)}))
	}
	// Every page stays far below 4 MiB, and the listing is complete.
	url := "http://" + host + "/v2/app/referrers/" + img.Digest.String()
	pages, total := 0, 0
	for url != "" {
		code, hdr, b := do(t, http.MethodGet, url, nil, "")
		if code != http.StatusOK {
			t.Fatalf("GET %s: %d", url, code)
		}
		if len(b) > 2<<20 {
			t.Errorf("page %d is %d bytes", pages, len(b))
		}
		var idx ocispec.Index
		if err := json.Unmarshal(b, &idx); err != nil {
			t.Fatal(err)
		}
		for _, m := range idx.Manifests {
			if m.ArtifactType == "application/vnd.example+huge" {
				if _, ok := m.Annotations["big"]; ok {
					t.Error("a 4 MiB annotation was copied into the descriptor")
				}
				if m.Annotations["small"] != "kept" || m.Annotations["org.stellaops.referrers.annotations-truncated"] != "true" {
					t.Errorf("bounded annotations: %d kept, small=%q truncated=%q", len(m.Annotations), m.Annotations["small"], m.Annotations["org.stellaops.referrers.annotations-truncated"])
				}
			}
		}
		total += len(idx.Manifests)
		pages++
		url = ""
		if l := hdr.Get("Link"); l != "" {
			url = "http://" + host + strings.TrimSuffix(strings.TrimPrefix(strings.Split(l, ";")[0], "<"), ">")
		}
	}
	if total != n+1 || pages < 2 {
		t.Errorf("%d referrers on %d pages, want %d on more than one", total, pages, n+1)
	}
	refs, err := registry.Referrers(context.Background(), open(t, host), img, "")
	if err != nil || len(refs) != n+1 {
		t.Errorf("client listing: %d (%v)", len(refs), err)
	}
}

// TestRepositoryNames (#11 item 10): names the distribution spec does not
// allow are refused with NAME_INVALID, never a 500 naming a server path,
// and never served past the referrers layer.
func TestRepositoryNames(t *testing.T) {
	root := t.TempDir()
	host := start(t, embedded.Options{Root: root})
	for _, name := range []string{strings.Repeat("a", 256), strings.Repeat("abcdefgh/", 40) + "x", "Example.com/app", "app/UPPER"} {
		for _, path := range []string{"/manifests/latest", "/blobs/uploads/", "/tags/list", "/referrers/" + ocispec.DescriptorEmptyJSON.Digest.String()} {
			method := http.MethodGet
			if strings.HasPrefix(path, "/blobs/uploads") {
				method = http.MethodPost
			}
			code, _, b := do(t, method, "http://"+host+"/v2/"+name+path, nil, "")
			if code != http.StatusBadRequest || !bytes.Contains(b, []byte("NAME_INVALID")) || bytes.Contains(b, []byte(root)) {
				t.Errorf("%s %.40s…%s: %d %.300s", method, name, path, code, b)
			}
		}
	}
	// A valid name of 255 characters works.
	name := strings.Repeat("a", 251) + "/app"
	if code, _, b := do(t, http.MethodPost, "http://"+host+"/v2/"+name+"/blobs/uploads/", nil, ""); code != http.StatusAccepted {
		t.Errorf("255-character name: %d %s", code, b)
	}
}

// TestBodyIdleTimeout (#11 item 10): a request body that stops arriving
// is cut off after the idle timeout, not held open.
func TestBodyIdleTimeout(t *testing.T) {
	host := start(t, embedded.Options{BodyIdleTimeout: 300 * time.Millisecond})
	code, hdr, _ := do(t, http.MethodPost, "http://"+host+"/v2/app/blobs/uploads/", nil, "")
	if code != http.StatusAccepted {
		t.Fatalf("upload start: %d", code)
	}
	loc := strings.TrimPrefix(hdr.Get("Location"), "http://"+host)
	c, err := net.Dial("tcp", host)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	fmt.Fprintf(c, "PATCH %s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/octet-stream\r\nContent-Length: 1000000\r\n\r\n0123456789", loc, host)
	c.SetReadDeadline(time.Now().Add(20 * time.Second))
	t0 := time.Now()
	_, err = io.ReadAll(bufio.NewReader(c))
	if err != nil {
		t.Fatalf("connection still open after %s: %v", time.Since(t0), err)
	}
}

// TestUploadPurge (#11 item 10): an upload abandoned for longer than the
// upload TTL is purged, and so is what a cancelled one leaves: distribution
// saves the hash state again after it removed the upload (blobWriter.Cancel
// closes the writer last), a directory without the startedat file its
// purger dates uploads by, which it therefore never removed. Every refused
// attach (its early session is cancelled) left one.
func TestUploadPurge(t *testing.T) {
	root := t.TempDir()
	host := start(t, embedded.Options{Root: root, UploadTTL: time.Second, PurgeInterval: 200 * time.Millisecond})
	loc := openUpload(t, host)
	if code, _, _ := do(t, http.MethodDelete, openUpload(t, host), nil, ""); code != http.StatusNoContent {
		t.Fatalf("upload cancel: %d", code)
	}
	uploads := filepath.Join(root, "docker/registry/v2/repositories/app/_uploads")
	if ents, _ := os.ReadDir(uploads); len(ents) != 2 {
		t.Fatalf("%d uploads on disk, want 2 (one abandoned, one cancelled)", len(ents))
	}
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		if ents, _ := os.ReadDir(uploads); len(ents) == 0 {
			if code, _, _ := do(t, http.MethodGet, loc, nil, ""); code != http.StatusNotFound {
				t.Errorf("purged upload answers %d", code)
			}
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	ents, _ := os.ReadDir(uploads)
	t.Errorf("never purged: %d of the 2 uploads are still on disk", len(ents))
}

// TestExpectContinueUnread: a request with Expect: 100-continue that the
// registry answers without reading its body (a POST opening an upload
// session) is answered at once, the body never asked for, and the
// connection closed, on both modes. Before, the server waited for the body
// the client had not been asked to send (the front had wrapped the
// request's Body in place): a client that waits, as this one does, never
// got an answer; curl and Go's client waited out their continue timeout.
func TestExpectContinueUnread(t *testing.T) {
	for _, plain := range []bool{false, true} {
		host := start(t, embedded.Options{Plain: plain})
		conn, err := net.Dial("tcp", host)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		fmt.Fprintf(conn, "POST /v2/app/blobs/uploads/ HTTP/1.1\r\nHost: %s\r\nExpect: 100-continue\r\nContent-Length: 5000000\r\nContent-Type: application/octet-stream\r\n\r\n", host)
		conn.SetReadDeadline(time.Now().Add(20 * time.Second)) // a bound on a hang, not a timing
		resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err != nil {
			t.Fatalf("plain %v: no answer without the body: %v", plain, err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusAccepted || !resp.Close {
			t.Errorf("plain %v: %d, close %v; want 202 and the connection closed", plain, resp.StatusCode, resp.Close)
		}
	}
}

// TestDeleteDropsFromIndex: a referrer's DELETE takes it out of its
// subject's index file itself (not only the next listing's repair), with
// its subject read from the stored manifest; no reverse entry is written
// per referrer any more, and one an earlier version wrote is removed with
// its referrer.
func TestDeleteDropsFromIndex(t *testing.T) {
	root := t.TempDir()
	host := start(t, embedded.Options{Root: root})
	tg := open(t, host)
	img := regtest.PushImage(t, tg.Store, "v1")
	pushEmptyBlob(t, host)
	put := func(seed string) digest.Digest {
		t.Helper()
		body := referrerManifest(t, img, seed, nil)
		d := digest.FromBytes(body)
		if code, _, b := do(t, http.MethodPut, "http://"+host+"/v2/app/manifests/"+d.String(), body, ocispec.MediaTypeImageManifest); code != http.StatusCreated {
			t.Fatalf("PUT: %d %s", code, b)
		}
		return d
	}
	keep, gone, old := put("keep"), put("gone"), put("old")
	dir := filepath.Join(root, "stella-referrers", "app")
	if _, err := os.Stat(filepath.Join(dir, "_referrers")); !os.IsNotExist(err) {
		t.Errorf("reverse entries written (%v)", err)
	}
	// An earlier version's reverse entry for one referrer.
	legacy := filepath.Join(dir, "_referrers", "sha256", old.Encoded())
	if err := os.MkdirAll(filepath.Dir(legacy), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(legacy, []byte(img.Digest.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, d := range []digest.Digest{gone, old} {
		if code, _, b := do(t, http.MethodDelete, "http://"+host+"/v2/app/manifests/"+d.String(), nil, ""); code != http.StatusAccepted {
			t.Fatalf("DELETE: %d %s", code, b)
		}
	}
	b, err := os.ReadFile(filepath.Join(dir, "_subjects", "sha256", img.Digest.Encoded()+".json"))
	if err != nil {
		t.Fatal(err)
	}
	var listed []ocispec.Descriptor
	if err := json.Unmarshal(b, &listed); err != nil {
		t.Fatal(err)
	}
	if len(listed) != 1 || listed[0].Digest != keep {
		t.Errorf("index file after the DELETEs: %v, want %s alone", listed, keep)
	}
	if _, err := os.Stat(legacy); !os.IsNotExist(err) {
		t.Errorf("the earlier version's reverse entry is still there (%v)", err)
	}
}
