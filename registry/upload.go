package registry

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/errdef"
	"oras.land/oras-go/v2/registry/remote/auth"
	"oras.land/oras-go/v2/registry/remote/errcode"
)

// An upload session opened ahead of time: attach opens one while its
// first reads are in flight, so that the POST, which costs distribution a
// file written and synced (1.1-1.6 ms on loopback, more than each of the
// reads), is off the path that waits. oras-go's blob push opens the
// session only when it is called, after the reads; it has no way to be
// handed one, so the two requests are made here, as the distribution
// spec has them (POST, then PUT ?digest= with the whole body).
//
// The session is a write the registry may never see used: a session left
// unused (the document was there already, a read failed, the document
// could not be read) is cancelled with DELETE, so a failed attach leaves
// no upload behind either, on registries that implement the DELETE (it is
// optional; others purge abandoned uploads themselves).

// earlySession is attach's upload session, opened while the reads are in
// flight. Its methods do nothing on a nil session.
type earlySession struct {
	done chan struct{} // closed once the POST has its answer
	loc  *url.URL      // the session, until taken or cancelled
	// cancelled is closed once an unused session's DELETE is answered.
	cancelled chan struct{}
}

// openEarly starts the POST. Only ctx, the command's own context, stops
// it, not the failure of a read: a POST cut off after the registry opened
// the session would leave it open, one answered is cancelled.
func openEarly(ctx context.Context, t *Target) *earlySession {
	s := &earlySession{done: make(chan struct{})}
	go func() {
		defer close(s.done)
		s.loc, _ = startUpload(ctx, t) // a failure fails nothing: the blob then goes the usual way, which reports it
	}()
	return s
}

// take waits for the POST and returns the session, once (nil if it
// failed or was taken).
func (s *earlySession) take() *url.URL {
	if s == nil {
		return nil
	}
	<-s.done
	loc := s.loc
	s.loc = nil
	return loc
}

// cancelUnused cancels the session in the background if no blob took it.
func (s *earlySession) cancelUnused(ctx context.Context, t *Target) {
	if s == nil {
		return
	}
	if loc := s.take(); loc != nil {
		s.cancelled = make(chan struct{})
		go func() {
			defer close(s.cancelled)
			cancelUpload(ctx, t, loc)
		}()
	}
}

// end is deferred: it cancels a session nothing took (the attach failed
// before its blobs were sent) and waits for a background cancellation.
func (s *earlySession) end(ctx context.Context, t *Target) {
	if s == nil {
		return
	}
	if loc := s.take(); loc != nil {
		cancelUpload(ctx, t, loc)
	}
	if s.cancelled != nil {
		<-s.cancelled
	}
}

// uploadBase is the registry's root URL.
func (t *Target) uploadBase() *url.URL {
	return &url.URL{Scheme: scheme(t.Remote.PlainHTTP), Host: t.Remote.Reference.Host()}
}

// pushScope is ctx asking for the repository's pull and push scopes, as
// oras-go's own pushes do.
func (t *Target) pushScope(ctx context.Context) context.Context {
	return auth.AppendRepositoryScope(ctx, t.Remote.Reference, auth.ActionPull, auth.ActionPush)
}

// startUpload opens an upload session (POST) and returns its Location.
func startUpload(ctx context.Context, t *Target) (*url.URL, error) {
	u := t.uploadBase().ResolveReference(&url.URL{Path: "/v2/" + t.Remote.Reference.Repository + "/blobs/uploads/"})
	req, err := http.NewRequestWithContext(t.pushScope(ctx), http.MethodPost, u.String(), nil)
	if err != nil {
		return nil, err
	}
	resp, err := t.Remote.Client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("starting an upload to %s: %w", t.Ref, t.annotate(err))
	}
	defer drainClose(resp.Body)
	if resp.StatusCode != http.StatusAccepted {
		return nil, fmt.Errorf("starting an upload to %s: %s", t.Ref, resp.Status)
	}
	return location(resp)
}

// finishUpload sends the whole blob to an open session (PUT ?digest=),
// which the registry checks against d before it stores it.
func finishUpload(ctx context.Context, t *Target, loc *url.URL, d ocispec.Descriptor, data []byte) error {
	// A *bytes.Reader body can be sent again (GetBody): when the registry
	// asks for credentials first, oras-go's client sends it twice.
	return finishUploadFrom(ctx, t, loc, d, bytes.NewReader(data), nil)
}

// finishUploadFrom is finishUpload of a body that getBody, if not nil,
// opens again (for a request sent twice).
func finishUploadFrom(ctx context.Context, t *Target, loc *url.URL, d ocispec.Descriptor, body io.Reader, getBody func() (io.ReadCloser, error)) error {
	u := *loc
	q := u.Query()
	q.Set("digest", d.Digest.String())
	u.RawQuery = q.Encode()
	req, err := http.NewRequestWithContext(t.pushScope(ctx), http.MethodPut, u.String(), body)
	if err != nil {
		return err
	}
	if getBody != nil {
		req.GetBody = getBody
	}
	req.ContentLength = d.Size
	req.Header.Set("Content-Type", "application/octet-stream")
	resp, err := t.Remote.Client.Do(req)
	if err != nil {
		cancelUpload(ctx, t, loc)
		return fmt.Errorf("pushing %s to %s: %w", d.Digest, t.Ref, t.annotate(err))
	}
	defer drainClose(resp.Body)
	if resp.StatusCode != http.StatusCreated {
		err := errorResponse(resp)
		cancelUpload(ctx, t, loc)
		return fmt.Errorf("pushing %s to %s: %w", d.Digest, t.Ref, t.annotate(err))
	}
	return storedAs(t, d, resp)
}

// storedAs checks the digest a registry says it stored a blob under.
func storedAs(t *Target, d ocispec.Descriptor, resp *http.Response) error {
	if got := resp.Header.Get("Docker-Content-Digest"); got != "" && got != d.Digest.String() {
		return fmt.Errorf("pushing %s to %s: %w: the registry stored it as %s", d.Digest, t.Ref, ErrDigestMismatch, digest.Digest(got))
	}
	return nil
}

// singlePostRequest is the single POST of blob d with body.
func singlePostRequest(ctx context.Context, t *Target, d ocispec.Descriptor, body io.Reader) (*http.Request, error) {
	u := t.uploadBase().ResolveReference(&url.URL{Path: "/v2/" + t.Remote.Reference.Repository + "/blobs/uploads/", RawQuery: url.Values{"digest": {d.Digest.String()}}.Encode()})
	req, err := http.NewRequestWithContext(t.pushScope(ctx), http.MethodPost, u.String(), body)
	if err != nil {
		return nil, err
	}
	req.ContentLength = d.Size
	req.Header.Set("Content-Type", "application/octet-stream")
	return req, nil
}

// errorResponse is a registry's error answer as oras-go reports one
// (errcode.ErrorResponse: the method, URL, status and the registry's
// error codes and messages, from at most 64 KiB of body), so that it
// reads as the same failure of oras-go's own push would.
func errorResponse(resp *http.Response) error {
	var body struct {
		Errors errcode.Errors `json:"errors"`
	}
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	_ = json.Unmarshal(b, &body) // a body that is not the spec's: the status alone
	u := *resp.Request.URL
	u.RawQuery = "" // an upload's state token, not for error lines
	return &errcode.ErrorResponse{Method: resp.Request.Method, URL: &u, StatusCode: resp.StatusCode, Errors: body.Errors}
}

// cancelUpload ends an unused session (DELETE), best effort: its own few
// seconds, whatever became of ctx (a failed attach still cleans up).
func cancelUpload(ctx context.Context, t *Target, loc *url.URL) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(t.pushScope(ctx), http.MethodDelete, loc.String(), nil)
	if err != nil {
		return
	}
	if resp, err := t.Remote.Client.Do(req); err == nil {
		drainClose(resp.Body)
	}
}

// drainClose reads what is left of a small answer's body (bounded), so
// that the connection is reused, and closes it.
func drainClose(b io.ReadCloser) {
	io.Copy(io.Discard, io.LimitReader(b, 64<<10)) //nolint:errcheck // best effort
	b.Close()
}

const (
	// wholeMax is the largest blob a mirror reads whole (verified) before
	// it sends it, so that it can be sent in one POST, or again.
	wholeMax = 4 << 20
	// probeMax is the largest blob that finds out whether a registry takes
	// the single POST. One that does not leaves the body unread, which Go's
	// server (and others) read away only up to about 256 KiB before they
	// close the connection instead.
	probeMax = 256 << 10
)

// singlePostState is what a target's registry did with a blob sent in one
// POST: not known yet, took it, or did not (Target.singlePost). It is kept
// per target (a mirror run's destination targets share one), not per host
// for the process: a port reused by another server (tests start many) is
// never taken for the one before.
const (
	singlePostUnknown int32 = iota
	singlePostYes
	singlePostNo
)

// singlePostKnown reads the target's state: whether the registry takes
// the single POST, and whether that is known.
func (t *Target) singlePostKnown() (yes, known bool) {
	if t.singlePost == nil {
		return false, false
	}
	switch t.singlePost.Load() {
	case singlePostYes:
		return true, true
	case singlePostNo:
		return false, true
	}
	return false, false
}

func (t *Target) setSinglePost(yes bool) {
	switch {
	case t.singlePost == nil:
	case yes:
		t.singlePost.Store(singlePostYes)
	default:
		t.singlePost.Store(singlePostNo)
	}
}

// pushWhole pushes blob d, whose bytes data are, to a registry target in
// one request where the registry takes the distribution spec's single
// POST (POST /v2/<name>/blobs/uploads/?digest=, the blob as the body:
// stella-oras registry serve, zot), and in the usual two elsewhere (POST,
// then PUT to the session). Which the registry does is learned from the
// first blob small enough to try it with: a registry without it opens a
// session and answers 202, which the PUT then uses, so finding out costs
// no request. oras-go always makes the two.
func pushWhole(ctx context.Context, t *Target, d ocispec.Descriptor, data []byte) error {
	twoRequests := func() error {
		loc, err := startUpload(ctx, t)
		if err != nil {
			return err
		}
		return finishUpload(ctx, t, loc, d, data)
	}
	yes, known := t.singlePostKnown()
	if known && !yes || !known && len(data) > probeMax {
		return twoRequests()
	}
	req, err := singlePostRequest(ctx, t, d, bytes.NewReader(data))
	if err != nil {
		return err
	}
	resp, err := t.Remote.Client.Do(req)
	if err != nil {
		return fmt.Errorf("pushing %s to %s: %w", d.Digest, t.Ref, t.annotate(err))
	}
	defer drainClose(resp.Body)
	switch resp.StatusCode {
	case http.StatusCreated:
		t.setSinglePost(true)
		return storedAs(t, d, resp)
	case http.StatusAccepted:
		// No single POST here: the answer is a session, as a POST without
		// a body gets.
		t.setSinglePost(false)
		loc, err := location(resp)
		if err != nil {
			return err
		}
		return finishUpload(ctx, t, loc, d, data)
	}
	err = errorResponse(resp)
	if known {
		return fmt.Errorf("pushing %s to %s: %w", d.Digest, t.Ref, t.annotate(err))
	}
	// A registry that refuses the form itself (the spec has registries
	// answer 202, not all do): the usual two requests, whose answer is the
	// one reported.
	t.setSinglePost(false)
	return twoRequests()
}

// pushStream pushes blob d from a source to a registry target, its bytes
// read ahead and checked on the way (aheadReader, over the streams open
// opens: the source's blob, from its start each time), in one POST where
// the registry takes the single POST, as pushWhole does, and as oras-go
// pushes elsewhere (POST, then PUT). While that is not known, the POST
// asks with Expect: 100-continue: a registry that does not read the body
// answers 202 before any of it is sent, and the PUT uses its session.
// srcErr is the source's failure (its stream could not be opened or read,
// or its bytes are not d's), err the destination's.
func pushStream(ctx context.Context, t *Target, d ocispec.Descriptor, open func() (io.ReadCloser, error)) (srcErr, err error) {
	var mu sync.Mutex
	var bodies []*aheadReader
	var openErr error
	// body opens the source again; also the requests' GetBody, for a
	// registry that asks for credentials first.
	body := func() (io.ReadCloser, error) {
		rc, err := open()
		mu.Lock()
		defer mu.Unlock()
		if err != nil {
			openErr = err
			return nil, err
		}
		b := newAheadReader(rc, d)
		bodies = append(bodies, b)
		return b, nil
	}
	defer func() {
		for _, b := range bodies {
			b.Close()
		}
	}()
	sourceErr := func() error {
		mu.Lock()
		defer mu.Unlock()
		for _, b := range bodies {
			b.Close() // its goroutines done: its error, if any, is set
			if err := b.sourceErr(); err != nil {
				return err
			}
		}
		return openErr
	}
	// orasPush is oras-go's push (POST, then PUT) of a fresh stream.
	orasPush := func() (error, error) {
		b, err := body()
		if err != nil {
			return err, nil
		}
		err = t.Store.Push(ctx, d, b)
		if serr := sourceErr(); serr != nil {
			return serr, nil
		}
		if err != nil && !errors.Is(err, errdef.ErrAlreadyExists) {
			return nil, fmt.Errorf("pushing %s to %s: %w", d.Digest, t.Ref, t.annotate(err))
		}
		return nil, nil
	}

	yes, known := t.singlePostKnown()
	if known && !yes {
		return orasPush()
	}
	first, err := body()
	if err != nil {
		return err, nil
	}
	req, err := singlePostRequest(ctx, t, d, first)
	if err != nil {
		return nil, err
	}
	req.GetBody = body
	if !known {
		req.Header.Set("Expect", "100-continue")
	}
	resp, err := t.Remote.Client.Do(req)
	if serr := sourceErr(); serr != nil {
		if err == nil {
			drainClose(resp.Body)
		}
		return serr, nil
	}
	if err != nil {
		return nil, fmt.Errorf("pushing %s to %s: %w", d.Digest, t.Ref, t.annotate(err))
	}
	defer drainClose(resp.Body)
	switch resp.StatusCode {
	case http.StatusCreated:
		t.setSinglePost(true)
		return nil, storedAs(t, d, resp)
	case http.StatusAccepted:
		// No single POST here: the answer is a session. The stream the
		// POST was given may have been read from (a registry that reads
		// bodies it then ignores), so the PUT reads the source afresh.
		t.setSinglePost(false)
		loc, err := location(resp)
		if err != nil {
			return nil, err
		}
		b, err := body()
		if err != nil {
			cancelUpload(ctx, t, loc)
			return err, nil
		}
		err = finishUploadFrom(ctx, t, loc, d, b, body)
		if serr := sourceErr(); serr != nil {
			return serr, nil
		}
		return nil, err
	}
	err = errorResponse(resp)
	if known {
		return nil, fmt.Errorf("pushing %s to %s: %w", d.Digest, t.Ref, t.annotate(err))
	}
	t.setSinglePost(false) // refused as a form (see pushWhole)
	return orasPush()
}
