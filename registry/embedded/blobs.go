package embedded

import (
	"encoding/json"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// blobReader answers blob GETs and HEADs from the filesystem storage
// directly, with the same answer distribution gives (status, body and
// headers: Content-Length, Content-Type, Docker-Content-Digest, ETag,
// Cache-Control, ranges and If-None-Match through http.ServeContent),
// and leaves everything else, a blob not linked into the repository
// included, to distribution.
//
// Why not distribution's own path: its blob reader puts every read
// behind a 4 MiB bufio.Reader allocated per request
// (registry/storage/filereader.go, fileReaderBufferSize). Serving the
// 800 small blobs of a mirror of 200 referrers with their bundles, those
// allocations and their zeroing were 41 % of the source registry's CPU;
// and a large blob went through that buffer instead of sendfile.
type blobReader struct {
	next  http.Handler
	store distTree
}

func (b *blobReader) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodGet || r.Method == http.MethodHead {
		// GET or HEAD /v2/<name>/blobs/<digest> or …/manifests/<digest>
		// (the front has checked the name against the spec's grammar).
		if name, d, ok := digestRoute(r.URL.Path, "blobs"); ok && b.serve(w, r, name, d) {
			return
		}
		if name, d, ok := digestRoute(r.URL.Path, "manifests"); ok && b.serveManifest(w, r, name, d) {
			return
		}
	}
	b.next.ServeHTTP(w, r)
}

// maxFastManifest bounds the manifests serveManifest reads (distribution
// accepts none larger: its PUT limit is 4 MiB).
const maxFastManifest = 4 << 20

// serveManifest answers a manifest GET or HEAD by digest from storage, as
// distribution does (registry/handlers/manifests.go, GetManifest, for a
// digest: the stored bytes, their media type, length, digest and ETag),
// and reports true; or does nothing and reports false, leaving the
// request to distribution: a manifest not in the repository, one without
// a media type of its own, an OCI manifest the Accept header does not take
// (distribution's 404), an OCI index it does not name (distribution serves
// it anyway: its check for indexes never matches), a conditional request.
//
// Why: distribution's path for this one read (the revision link, the
// blob, a full decode of the manifest, its re-encoded payload) was most
// of the registry's CPU in a discover of 1,000 referrers, which reads
// every referrer's manifest to check its subject: 0.34 ms a request.
func (b *blobReader) serveManifest(w http.ResponseWriter, r *http.Request, repo, ref string) bool {
	if len(r.Header["If-None-Match"]) > 0 {
		return false
	}
	// The repository's revision link (distribution's manifestRevisionLinkPathSpec).
	d, f, fi, ok := b.store.openLinked(repo, ref, "_manifests", "revisions")
	if !ok {
		return false
	}
	defer f.Close()
	if fi.Size() > maxFastManifest {
		return false
	}
	data, err := io.ReadAll(io.LimitReader(f, maxFastManifest+1))
	if err != nil || int64(len(data)) != fi.Size() {
		return false
	}
	var v struct {
		SchemaVersion int    `json:"schemaVersion"`
		MediaType     string `json:"mediaType"`
	}
	if json.Unmarshal(data, &v) != nil || v.SchemaVersion != 2 {
		return false
	}
	switch v.MediaType {
	case ocispec.MediaTypeImageManifest, ocispec.MediaTypeImageIndex:
		if !accepts(r, v.MediaType) {
			return false
		}
	case dockerManifest, dockerManifestList:
	default:
		return false
	}
	h := w.Header()
	h.Set("Docker-Distribution-API-Version", "registry/2.0")
	h.Set("Content-Type", v.MediaType)
	h.Set("Content-Length", strconv.Itoa(len(data)))
	h.Set("Docker-Content-Digest", d.String())
	h.Set("Etag", `"`+d.String()+`"`)
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		w.Write(data) //nolint:errcheck // the client went away
	}
	return true
}

const (
	dockerManifest     = "application/vnd.docker.distribution.manifest.v2+json"
	dockerManifestList = "application/vnd.docker.distribution.manifest.list.v2+json"
)

// accepts reports whether the request's Accept headers name mediaType, as
// distribution reads them (every comma-separated value of every Accept
// header, parameters dropped, no wildcards).
func accepts(r *http.Request, mediaType string) bool {
	for _, a := range r.Header["Accept"] {
		for v := range strings.SplitSeq(a, ",") {
			if mt, _, err := mime.ParseMediaType(v); err == nil && mt == mediaType {
				return true
			}
		}
	}
	return false
}

// serve answers from storage and reports true, or does nothing and
// reports false (distribution answers: errors, unknown algorithms,
// blobs not linked into the repository).
func (b *blobReader) serve(w http.ResponseWriter, r *http.Request, repo, ref string) bool {
	// The repository's link to the blob (distribution's layerLinkPathSpec):
	// a blob is served only to repositories it was pushed or mounted into.
	d, f, fi, ok := b.store.openLinked(repo, ref, "_layers")
	if !ok {
		return false
	}
	defer f.Close()
	h := w.Header()
	h.Set("Docker-Distribution-API-Version", "registry/2.0")
	h.Set("ETag", `"`+d.String()+`"`)
	h.Set("Cache-Control", "max-age=31536000")
	h.Set("Docker-Content-Digest", d.String())
	h.Set("Content-Type", "application/octet-stream")
	h.Set("Content-Length", strconv.FormatInt(fi.Size(), 10))
	// An *os.File body: net/http sends it with sendfile.
	// No modification time, as distribution: no Last-Modified.
	http.ServeContent(w, r, d.String(), time.Time{}, f)
	return true
}
