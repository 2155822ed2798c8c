package registry

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/content"

	"github.com/stella-ops/stella-oras/internal/atomicfile"
	"github.com/stella-ops/stella-oras/internal/readfile"
)

// Resumable uploads: a blob of at least resumeThreshold bytes is sent to a
// registry in chunks (the distribution spec's chunked upload: POST, then
// PATCH with Content-Range, then PUT with the digest), and the upload's
// URL is written to the mirror's upload directory when it starts. A rerun
// after a kill (of the mirror or of the registry) asks the registry how
// much of that upload it holds (GET on the upload URL: its Range header)
// and sends only the rest; the part already there is read from the
// source again only to be hashed, so the digest is still checked over
// every byte before the upload is completed. A registry that has lost or
// purged the upload answers 404, and the blob is sent whole.
//
// distribution v3 (the embedded registry) answers the status of any
// upload it holds, so a transfer resumes at the byte where it stopped.
// distribution 2.8 (Debian's docker-registry) answers only to the state
// token of the upload's current size, which is saved after each chunk:
// a run stopped between two chunks resumes at the chunk boundary; one
// stopped inside a chunk leaves bytes the token does not count, 2.8
// refuses the token, and the blob is sent whole.
//
// oras-go's blob push is one monolithic PUT, which a kill loses whole,
// so this one path is written here.
const (
	resumeThreshold = 32 << 20
	resumeChunk     = 16 << 20
)

// resumable reports whether d is copied by resumableCopy.
func (m *mirror) resumable(d ocispec.Descriptor) bool {
	return m.dst.Remote != nil && m.o.UploadDir != "" && d.Size >= resumeThreshold
}

func (m *mirror) uploadFile(d ocispec.Descriptor) string {
	return filepath.Join(m.o.UploadDir, d.Digest.Algorithm().String()+"-"+d.Digest.Encoded())
}

// resumableCopy copies blob d to the destination registry, resuming an
// upload an earlier run began; fetch opens the source's blob. A PATCH the
// registry refuses for its range (416: the upload grew after it was
// asked, as when the request an earlier run dropped is still being
// written) is tried again from what the registry then holds, reading the
// source again from its start: at most resumeAttempts times.
func (m *mirror) resumableCopy(ctx context.Context, d ocispec.Descriptor, fetch func() (io.ReadCloser, error)) error {
	// One upload per blob and destination in this process: two images
	// of a --from-file run that share a layer would otherwise resume the
	// same remembered upload at once. The second waits, then finds the
	// blob there.
	unlock := lockUpload(m.uploadFile(d))
	defer unlock()
	if ok, err := m.dst.Store.Exists(ctx, d); err == nil && ok {
		return nil
	}
	var err error
	for attempt := range resumeAttempts {
		err = m.resumableAttempt(ctx, d, fetch)
		if errors.Is(err, errUploadLost) {
			// The registry no longer knows the upload (committed or
			// purged): the blob may be there; if not, start afresh.
			os.Remove(m.uploadFile(d))
			if ok, xerr := m.dst.Store.Exists(ctx, d); xerr == nil && ok {
				return nil
			}
			continue
		}
		if !errors.Is(err, errRangeMoved) {
			return err
		}
		// Give the write still under way time to end.
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Duration(attempt+1) * 200 * time.Millisecond):
		}
	}
	return fmt.Errorf("uploading %s to %s: %w %d times", d.Digest, m.dst.Ref, err, resumeAttempts)
}

const resumeAttempts = 3

var (
	errRangeMoved = errors.New("the registry's upload changed size under the upload")
	errUploadLost = errors.New("the registry no longer knows the upload")
	errReauth     = errors.New("the registry asked for credentials again mid-chunk")
)

// chunkBody is a PATCH's body; closed is closed once the transport has
// closed it (net/http closes a request body when it is done with it,
// possibly after the response was returned).
type chunkBody struct {
	r      io.Reader
	once   sync.Once
	closed chan struct{}
}

func (b *chunkBody) Read(p []byte) (int, error) { return b.r.Read(p) }

func (b *chunkBody) Close() error {
	b.once.Do(func() { close(b.closed) })
	return nil
}

// uploadLocks serialize, within this process, the uploads remembered in
// one file.
var uploadLocks struct {
	mu sync.Mutex
	m  map[string]*sync.Mutex
}

func lockUpload(path string) func() {
	uploadLocks.mu.Lock()
	if uploadLocks.m == nil {
		uploadLocks.m = map[string]*sync.Mutex{}
	}
	l, ok := uploadLocks.m[path]
	if !ok {
		l = &sync.Mutex{}
		uploadLocks.m[path] = l
	}
	uploadLocks.mu.Unlock()
	l.Lock()
	return l.Unlock
}

func (m *mirror) resumableAttempt(ctx context.Context, d ocispec.Descriptor, fetch func() (io.ReadCloser, error)) error {
	ctx = m.dst.pushScope(ctx)
	loc, offset := m.resumeUpload(ctx, m.dst.uploadBase(), d)
	if loc == nil {
		var err error
		if loc, err = startUpload(ctx, m.dst); err != nil {
			return fmt.Errorf("%s: %w", d.Digest, err)
		}
		// Remembered before a byte is sent: a kill from here on resumes.
		if err := os.MkdirAll(m.o.UploadDir, 0o755); err != nil {
			return fmt.Errorf("remembering the upload of %s: %w", d.Digest, err)
		}
		if err := atomicfile.Write(m.uploadFile(d), []byte(loc.String()), 0o600); err != nil {
			return fmt.Errorf("remembering the upload of %s: %w", d.Digest, err)
		}
	}
	rc, err := fetch()
	if err != nil {
		return err
	}
	defer rc.Close()
	vr := content.NewVerifyReader(rc, d)
	src := &errReader{r: vr}
	// The part the destination holds: read, hashed, not sent again.
	if offset > 0 {
		if _, err := io.CopyN(io.Discard, src, offset); err != nil {
			return fmt.Errorf("copying %s from %s: %w", d.Digest, m.src.Ref, readError(m.src, d, err))
		}
	}
	for offset < d.Size {
		n := min(resumeChunk, d.Size-offset)
		body := &errReader{r: io.LimitReader(src, n)}
		cb := &chunkBody{r: body, closed: make(chan struct{})}
		resp, err := m.uploadRequest(ctx, http.MethodPatch, loc, cb, n, fmt.Sprintf("%d-%d", offset, offset+n-1))
		if resp != nil && err != nil {
			resp.Body.Close()
		}
		// The transport may still be reading the chunk after an early
		// answer (a 401 before the body was sent): nothing reads the
		// source again until it has let go of it.
		select {
		case <-cb.closed:
		case <-ctx.Done():
			return ctx.Err()
		}
		if errors.Is(err, errReauth) {
			return errRangeMoved // start over from the registry's status
		}
		if body.err != nil || src.err != nil {
			if resp != nil {
				resp.Body.Close()
			}
			return fmt.Errorf("copying %s from %s: %w", d.Digest, m.src.Ref, readError(m.src, d, errors.Join(body.err, src.err)))
		}
		if err != nil {
			return err
		}
		resp.Body.Close()
		switch resp.StatusCode {
		case http.StatusRequestedRangeNotSatisfiable:
			return errRangeMoved
		case http.StatusNotFound:
			return errUploadLost
		}
		if resp.StatusCode != http.StatusAccepted {
			return fmt.Errorf("uploading %s to %s: %s", d.Digest, m.dst.Ref, resp.Status)
		}
		if loc, err = location(resp); err != nil {
			return err
		}
		offset += n
		// The URL with the registry's state token for this offset:
		// distribution 2.8 answers the status of an upload only to the
		// token of its current size.
		if offset < d.Size {
			if err := atomicfile.Write(m.uploadFile(d), []byte(loc.String()), 0o600); err != nil {
				return fmt.Errorf("remembering the upload of %s: %w", d.Digest, err)
			}
		}
	}
	// Every byte hashed: only then is the upload completed.
	if _, err := io.Copy(io.Discard, src); err != nil {
		return fmt.Errorf("copying %s from %s: %w", d.Digest, m.src.Ref, readError(m.src, d, err))
	}
	if err := vr.Verify(); err != nil {
		return fmt.Errorf("copying %s from %s: %w", d.Digest, m.src.Ref, readError(m.src, d, err))
	}
	q := loc.Query()
	q.Set("digest", d.Digest.String())
	done := *loc
	done.RawQuery = q.Encode()
	resp, err := m.uploadRequest(ctx, http.MethodPut, &done, nil, 0, "")
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode == http.StatusNotFound {
		return errUploadLost
	}
	if resp.StatusCode != http.StatusCreated {
		return fmt.Errorf("completing the upload of %s to %s: %s", d.Digest, m.dst.Ref, resp.Status)
	}
	os.Remove(m.uploadFile(d))
	return nil
}

// resumeUpload asks the destination about an upload an earlier run began:
// its URL (with the registry's current state token) and how many bytes
// it holds; nil when there is none to resume (none remembered, one the
// registry no longer knows, or a remembered URL on another host).
func (m *mirror) resumeUpload(ctx context.Context, base *url.URL, d ocispec.Descriptor) (*url.URL, int64) {
	b, err := readfile.File(m.uploadFile(d), 8<<10)
	if err != nil {
		return nil, 0
	}
	u, err := url.Parse(strings.TrimSpace(string(b)))
	if err != nil || u.Scheme != base.Scheme || u.Host != base.Host {
		return nil, 0
	}
	resp, err := m.uploadRequest(ctx, http.MethodGet, u, nil, 0, "")
	if err != nil {
		return nil, 0
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		return nil, 0
	}
	// Range: 0-<last byte held>. distribution says 0-0 for an empty upload
	// as for one of one byte: that is not worth resuming.
	_, last, ok := strings.Cut(resp.Header.Get("Range"), "-")
	held, err := strconv.ParseInt(last, 10, 64)
	if !ok || err != nil || held <= 0 || held >= d.Size {
		return nil, 0
	}
	loc, err := location(resp)
	if err != nil {
		return nil, 0
	}
	return loc, held + 1
}

func (m *mirror) uploadRequest(ctx context.Context, method string, u *url.URL, body io.Reader, size int64, contentRange string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, method, u.String(), body)
	if err != nil {
		return nil, err
	}
	if body != nil {
		req.ContentLength = size
		req.Header.Set("Content-Type", "application/octet-stream")
		req.Header.Set("Content-Range", contentRange)
		// A chunk streams from the source and cannot be sent twice: when
		// the registry asks for credentials again (a token that expired
		// mid-upload), oras-go's client fetches them, then asks for the
		// body again and gets errReauth; the attempt starts over from the
		// registry's status, with the fresh token.
		req.GetBody = func() (io.ReadCloser, error) { return nil, errReauth }
	}
	resp, err := m.dst.Remote.Client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("uploading to %s: %w", m.dst.Ref, m.dst.annotate(err))
	}
	return resp, nil
}

// location is an upload response's Location, resolved against the URL
// of the request it answers (RFC 9110: a relative Location is relative
// to the request target, not to the host's root).
func location(resp *http.Response) (*url.URL, error) {
	if resp.Header.Get("Location") == "" {
		return nil, fmt.Errorf("%s %s: no Location in the registry's answer", resp.Request.Method, resp.Request.URL.Redacted())
	}
	u, err := resp.Location()
	if err != nil {
		return nil, fmt.Errorf("%s %s: Location %q: %v", resp.Request.Method, resp.Request.URL.Redacted(), resp.Header.Get("Location"), err)
	}
	return u, nil
}
