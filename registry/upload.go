package registry

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/registry/remote/auth"
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

// uploadBase is the registry's root URL.
func (t *Target) uploadBase() *url.URL {
	scheme := "https"
	if t.Remote.PlainHTTP {
		scheme = "http"
	}
	return &url.URL{Scheme: scheme, Host: t.Remote.Reference.Host()}
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
	u := *loc
	q := u.Query()
	q.Set("digest", d.Digest.String())
	u.RawQuery = q.Encode()
	// A *bytes.Reader body can be sent again (GetBody): when the registry
	// asks for credentials first, oras-go's client sends it twice.
	req, err := http.NewRequestWithContext(t.pushScope(ctx), http.MethodPut, u.String(), bytes.NewReader(data))
	if err != nil {
		return err
	}
	req.ContentLength = int64(len(data))
	req.Header.Set("Content-Type", "application/octet-stream")
	resp, err := t.Remote.Client.Do(req)
	if err != nil {
		return fmt.Errorf("pushing %s to %s: %w", d.Digest, t.Ref, t.annotate(err))
	}
	defer drainClose(resp.Body)
	if resp.StatusCode != http.StatusCreated {
		return fmt.Errorf("pushing %s to %s: %s", d.Digest, t.Ref, resp.Status)
	}
	if got := resp.Header.Get("Docker-Content-Digest"); got != "" && got != d.Digest.String() {
		return fmt.Errorf("pushing %s to %s: %w: the registry stored it as %s", d.Digest, t.Ref, ErrDigestMismatch, digest.Digest(got))
	}
	return nil
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
