package embedded_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/stella-ops/stella-oras/registry/embedded"
)

// singlePost sends blob as the body of POST …/blobs/uploads/?digest=d.
func singlePost(t *testing.T, host, repo string, d digest.Digest, blob []byte, extra string) (int, http.Header, []byte) {
	t.Helper()
	return do(t, http.MethodPost, "http://"+host+"/v2/"+repo+"/blobs/uploads/?digest="+d.String()+extra, blob, "application/octet-stream")
}

// noFiles fails if dir holds a file (a body kept from a refused upload).
func noFiles(t *testing.T, dir string) {
	t.Helper()
	filepath.WalkDir(dir, func(p string, e os.DirEntry, err error) error {
		if err == nil && !e.IsDir() {
			t.Errorf("%s left behind", p)
		}
		return nil
	})
}

// TestSinglePost: the registry takes a blob in one POST (the distribution
// spec's single-POST upload): 201 with the blob's Location and digest, the
// blob then served, linked into that repository alone, and seen by
// distribution's own checks (a manifest naming it is accepted). A body that
// does not match its digest, or ends early, stores nothing and leaves
// nothing behind; a POST that mounts goes to distribution as before; plain
// distribution (--plain) answers with a session, as the spec lets a
// registry without it. Before, every such POST got a session (202).
func TestSinglePost(t *testing.T) {
	root := t.TempDir()
	host := start(t, embedded.Options{Root: root})
	blob := []byte("a layer sent in one request")
	d := digest.FromBytes(blob)

	code, hdr, b := singlePost(t, host, "app", d, blob, "")
	if code != http.StatusCreated {
		t.Fatalf("single POST: %d %s, want 201", code, b)
	}
	if hdr.Get("Location") != "/v2/app/blobs/"+d.String() || hdr.Get("Docker-Content-Digest") != d.String() {
		t.Errorf("single POST answered Location %q, Docker-Content-Digest %q", hdr.Get("Location"), hdr.Get("Docker-Content-Digest"))
	}
	if code, _, got := do(t, http.MethodGet, "http://"+host+"/v2/app/blobs/"+d.String(), nil, ""); code != http.StatusOK || !bytes.Equal(got, blob) {
		t.Errorf("GET of the posted blob: %d %q", code, got)
	}
	if code, _, _ := do(t, http.MethodHead, "http://"+host+"/v2/other/blobs/"+d.String(), nil, ""); code != http.StatusNotFound {
		t.Errorf("the blob is linked into another repository: HEAD %d", code)
	}
	if fi, err := os.Stat(filepath.Join(root, "docker", "registry", "v2", "blobs", "sha256", d.Encoded()[:2], d.Encoded(), "data")); err != nil || fi.Mode().Perm() != 0o644 {
		t.Errorf("stored blob: %v, %v; want mode 0644, as distribution's", fi, err)
	}
	// The same bytes into a second repository: linked there too.
	if code, _, b := singlePost(t, host, "other", d, blob, ""); code != http.StatusCreated {
		t.Errorf("single POST of a stored blob into another repository: %d %s", code, b)
	}
	if code, _, _ := do(t, http.MethodHead, "http://"+host+"/v2/other/blobs/"+d.String(), nil, ""); code != http.StatusOK {
		t.Errorf("HEAD in the second repository: %d", code)
	}

	// distribution checks a manifest's blobs through its own storage code.
	cfg := ocispec.DescriptorEmptyJSON
	if code, _, b := singlePost(t, host, "app", cfg.Digest, cfg.Data, ""); code != http.StatusCreated {
		t.Fatalf("single POST of the config: %d %s", code, b)
	}
	m, _ := json.Marshal(ocispec.Manifest{
		Versioned: ocispec.Manifest{}.Versioned, MediaType: ocispec.MediaTypeImageManifest,
		Config: ocispec.Descriptor{MediaType: cfg.MediaType, Digest: cfg.Digest, Size: cfg.Size},
		Layers: []ocispec.Descriptor{{MediaType: ocispec.MediaTypeImageLayer, Digest: d, Size: int64(len(blob))}},
	})
	m = bytes.Replace(m, []byte(`"schemaVersion":0`), []byte(`"schemaVersion":2`), 1)
	if code, _, b := do(t, http.MethodPut, "http://"+host+"/v2/app/manifests/v1", m, ocispec.MediaTypeImageManifest); code != http.StatusCreated {
		t.Errorf("distribution refused a manifest of single-posted blobs: %d %s", code, b)
	}

	// A body that is not its digest's.
	bad := []byte("other bytes")
	if code, _, b := singlePost(t, host, "app", digest.FromString("not these"), bad, ""); code != http.StatusBadRequest || !bytes.Contains(b, []byte("DIGEST_INVALID")) {
		t.Errorf("mismatched body: %d %s, want 400 DIGEST_INVALID", code, b)
	}
	if code, _, _ := do(t, http.MethodGet, "http://"+host+"/v2/app/blobs/"+digest.FromString("not these").String(), nil, ""); code != http.StatusNotFound {
		t.Errorf("a mismatched body was stored: GET %d", code)
	}
	if _, err := os.Stat(filepath.Join(root, "docker", "registry", "v2", "blobs", "sha256", digest.FromBytes(bad).Encoded()[:2])); !os.IsNotExist(err) {
		t.Errorf("a mismatched body's bytes were stored (%v)", err)
	}

	// A body that ends early: Content-Length 1000, 10 bytes, then the
	// connection is closed.
	short := digest.FromString("never finished")
	conn, err := net.Dial("tcp", host)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(conn, "POST /v2/app/blobs/uploads/?digest=%s HTTP/1.1\r\nHost: %s\r\nContent-Length: 1000\r\n\r\n0123456789", short, host)
	time.Sleep(100 * time.Millisecond) // the handler is reading the body
	conn.Close()
	ingest := filepath.Join(root, "stella-ingest")
	for i := 0; i < 100; i++ { // the handler sees the end of the body, then removes what it received
		if n, _ := os.ReadDir(ingest); len(n) == 0 {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	noFiles(t, ingest)
	if code, _, _ := do(t, http.MethodHead, "http://"+host+"/v2/app/blobs/"+short.String(), nil, ""); code != http.StatusNotFound {
		t.Errorf("a body that ended early was stored: HEAD %d", code)
	}

	// A POST that mounts is distribution's (the digest names what to mount).
	if code, _, b := singlePost(t, host, "mounted", d, nil, "&mount="+d.String()+"&from=app"); code != http.StatusCreated {
		t.Errorf("mount: %d %s, want distribution's 201", code, b)
	}

	// Plain distribution has no single POST: a session, nothing stored.
	plain := start(t, embedded.Options{Plain: true})
	code, hdr, b = singlePost(t, plain, "app", d, blob, "")
	if code != http.StatusAccepted || hdr.Get("Location") == "" {
		t.Errorf("plain: single POST answered %d %s, want 202 and a session", code, b)
	}
	if code, _, _ := do(t, http.MethodHead, "http://"+plain+"/v2/app/blobs/"+d.String(), nil, ""); code != http.StatusNotFound {
		t.Errorf("plain: the ignored body was stored: HEAD %d", code)
	}
}

// TestSinglePostLarge: bodies around and past the sizes at which the
// registry pipelines the hash and writes with O_DIRECT in whole blocks
// (the last padded, then cut) arrive whole: the stored blob is the body,
// to the byte, and only it.
func TestSinglePostLarge(t *testing.T) {
	host := start(t, embedded.Options{})
	const mib = 1 << 20
	for _, n := range []int{mib - 1, mib, mib + 1, 3*mib + 4095, 4 * mib, 5*mib + 123} {
		blob := make([]byte, n)
		for i := range blob {
			blob[i] = byte(i*7 + n)
		}
		d := digest.FromBytes(blob)
		if code, _, b := singlePost(t, host, "big", d, blob, ""); code != http.StatusCreated {
			t.Fatalf("single POST of %d bytes: %d %s", n, code, b)
		}
		resp, err := http.Get("http://" + host + "/v2/big/blobs/" + d.String())
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || !bytes.Equal(got, blob) {
			t.Errorf("%d bytes posted: served %d bytes (%v), not the same", n, len(got), err)
		}
	}
}
