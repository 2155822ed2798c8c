package embedded

import (
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/opencontainers/go-digest"

	"github.com/stella-ops/stella-oras/internal/iox"
)

// singlePost answers the distribution spec's single-POST blob upload
// ("Pushing a blob monolithically": POST /v2/<name>/blobs/uploads/?digest=
// with the whole blob as the body): 201 Created, the blob stored and
// linked into the repository in one request. Everything else, and a POST
// that also asks to mount, goes on to the next handler.
//
// Why: distribution v3 does not implement it (it opens a session and
// leaves the body unread, 202), so every blob costs it two requests, and
// the session's own files: a POST writes and syncs its start time and a
// hash state, the PUT another hash state, the data, the link, and then
// removes the session's directory. Those were 39 % of the destination's
// CPU in a mirror of one image with 200 referrers and their bundles. This
// path writes what the blob leaves in storage and nothing else: the data
// (through a temporary file, synced, renamed into place, so a reader or
// a crash never sees a partial blob, which distribution's own
// blobStore.Put, writing in place, cannot promise) and the repository's
// link, in distribution's filesystem layout (stable since distribution
// 2.0; blobReader and the referrers index read the same files).
//
// The spec makes the single POST optional, and a client must expect a
// 202 (a session, the body ignored) from a registry that lacks it; the
// registry serve --plain mode answers so, as plain distribution does.
type singlePost struct {
	next http.Handler
	// store is <root>/docker/registry/v2, the filesystem driver's tree;
	// ingest holds the bodies being received, on the same filesystem.
	store  distTree
	ingest string
	// direct: the ingest directory takes O_DIRECT writes (direct.go).
	direct bool
}

func newSinglePost(next http.Handler, root string) (*singlePost, error) {
	s := &singlePost{next: next, store: distTreeOf(root), ingest: filepath.Join(root, "stella-ingest")}
	// What a crash left in ingest is never finished: a body is renamed
	// out of it whole or not at all.
	if err := os.RemoveAll(s.ingest); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(s.ingest, 0o755); err != nil {
		return nil, err
	}
	s.direct = directOK(s.ingest)
	return s, nil
}

func (s *singlePost) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodPost {
		if name, ok := uploadsRoute(r.URL.Path); ok {
			q := r.URL.Query()
			if dg := q.Get("digest"); dg != "" && q.Get("mount") == "" && q.Get("from") == "" {
				s.put(w, r, name, dg)
				return
			}
		}
	}
	s.next.ServeHTTP(w, r)
}

// uploadsRoute is `^/v2/(<spec name>)/blobs/uploads/$`, the route
// distribution opens sessions on.
func uploadsRoute(p string) (string, bool) {
	rest, ok := strings.CutPrefix(p, "/v2/")
	if !ok {
		return "", false
	}
	name, ok := strings.CutSuffix(rest, "/blobs/uploads/")
	if !ok || !specNameOK(name) {
		return "", false
	}
	return name, true
}

// put stores the body as blob dg of repository name.
func (s *singlePost) put(w http.ResponseWriter, r *http.Request, name, dg string) {
	d, err := digest.Parse(dg)
	if err != nil {
		writeError(w, http.StatusBadRequest, "DIGEST_INVALID", "invalid digest")
		return
	}
	f, err := os.CreateTemp(s.ingest, "post-*")
	if err != nil {
		writeError(w, http.StatusInternalServerError, "UNKNOWN", "receiving the blob failed")
		return
	}
	tmp := f.Name()
	defer os.Remove(tmp) // once renamed, nothing is there to remove
	vr := d.Verifier()
	body := &readErr{r: r.Body}
	var n int64
	if r.ContentLength >= 0 && r.ContentLength < pipelineMin {
		n, err = io.Copy(io.MultiWriter(f, vr), body)
	} else {
		n, err = s.receiveFile(f, body, vr)
	}
	if err == nil {
		err = f.Sync()
	}
	if err == nil {
		err = f.Chmod(0o644) // as distribution's own files (CreateTemp made it 0600)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	switch {
	case body.err != nil:
		// The body ended early or stalled (the front's idle cut): nothing
		// is stored.
		writeError(w, http.StatusBadRequest, "BLOB_UPLOAD_INVALID", "the blob's body could not be received whole")
		return
	case err != nil:
		// The disk refused it (full, read-only); the path is not the
		// client's business.
		writeError(w, http.StatusInternalServerError, "UNKNOWN", "storing the blob failed")
		return
	case r.ContentLength >= 0 && n != r.ContentLength:
		writeError(w, http.StatusBadRequest, "SIZE_INVALID", "the body is not Content-Length long")
		return
	case !vr.Verified():
		writeError(w, http.StatusBadRequest, "DIGEST_INVALID", "the body does not match digest "+d.String())
		return
	}
	data := s.store.data(d)
	if fi, err := os.Stat(data); err != nil || !fi.Mode().IsRegular() || fi.Size() != n {
		// Absent (or not what its digest says: replaced whole).
		if err := os.MkdirAll(filepath.Dir(data), 0o755); err != nil {
			writeError(w, http.StatusInternalServerError, "UNKNOWN", "storing the blob failed")
			return
		}
		if err := os.Rename(tmp, data); err != nil {
			writeError(w, http.StatusInternalServerError, "UNKNOWN", "storing the blob failed")
			return
		}
	}
	link := s.store.link(name, d, "_layers")
	if b, err := os.ReadFile(link); err != nil || string(b) != d.String() {
		if err := writeAtomic(link, []byte(d.String())); err != nil {
			writeError(w, http.StatusInternalServerError, "UNKNOWN", "linking the blob failed")
			return
		}
	}
	w.Header().Set("Location", "/v2/"+name+"/blobs/"+d.String())
	w.Header().Set("Docker-Content-Digest", d.String())
	w.Header().Set("Content-Length", "0")
	w.WriteHeader(http.StatusCreated)
}

// readErr remembers a reader's error, to tell a client's broken body from
// the disk's failure.
type readErr struct {
	r   io.Reader
	err error
}

func (e *readErr) Read(p []byte) (int, error) {
	n, err := e.r.Read(p)
	if err != nil && err != io.EOF {
		e.err = err
	}
	return n, err
}

const (
	// pipelineMin: bodies from this size on (or of unknown size) are
	// received by receive, the hash beside the write.
	pipelineMin = 1 << 20
	// chunkSize and chunks: receive's buffers.
	chunkSize = 1 << 20
	chunks    = 4
)

// chunkPool's buffers are aligned for O_DIRECT writes.
var chunkPool = sync.Pool{New: func() any { b := alignedBuf(chunkSize); return &b }}

// receiveFile is receive into f, through a second descriptor opened with
// O_DIRECT where the ingest directory takes it (direct.go); f's Sync
// then flushes the file's metadata.
func (s *singlePost) receiveFile(f *os.File, r io.Reader, h io.Writer) (int64, error) {
	if !s.direct {
		return receive(f, r, h)
	}
	df, err := os.OpenFile(f.Name(), os.O_WRONLY|oDirect, 0)
	if err != nil {
		return receive(f, r, h)
	}
	defer df.Close()
	dw := &directWriter{f: df}
	n, err := receive(dw, r, h)
	if err == nil && dw.tail {
		err = df.Truncate(n) // the last block's padding
	}
	return n, err
}

// receive copies r to w and through h, hashing each chunk on another
// goroutine while the next is read and written. Copying into the page
// cache and hashing each took about as long as the other (a third of the
// registry's CPU each for a large blob); done one after the other, one
// core did both while the other waited. A read error (the client's) is
// recorded by r itself (readErr); the error returned is either.
func receive(w io.Writer, r io.Reader, h io.Writer) (n int64, err error) {
	type chunk struct {
		buf *[]byte
		n   int
	}
	free := make(chan *[]byte, chunks)
	for range chunks {
		free <- chunkPool.Get().(*[]byte)
	}
	full := make(chan chunk, chunks)
	hashed := make(chan struct{})
	go func() {
		defer close(hashed)
		for c := range full {
			h.Write((*c.buf)[:c.n]) //nolint:errcheck // a hash never fails
			free <- c.buf           // reused only once hashed
		}
	}()
	defer func() {
		close(full)
		<-hashed
		for range chunks {
			chunkPool.Put(<-free)
		}
	}()
	for {
		bp := <-free
		m, rerr := iox.Fill(r, *bp)
		if m > 0 {
			if _, err := w.Write((*bp)[:m]); err != nil {
				free <- bp
				return n, err
			}
			n += int64(m)
			full <- chunk{bp, m}
		} else {
			free <- bp
		}
		if rerr == io.EOF {
			return n, nil
		}
		if rerr != nil {
			return n, rerr
		}
	}
}
