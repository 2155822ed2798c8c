package embedded

import (
	"context"
	"io"
	"net/http"
	"time"

	"github.com/distribution/distribution/v3/registry/storage"
	"github.com/distribution/distribution/v3/registry/storage/driver/filesystem"
	"github.com/sirupsen/logrus"
)

// maxNameLength is the distribution spec's bound on a repository name
// (registries "MAY" reject longer ones; distribution answers them with a
// 500 that names its storage path).
const maxNameLength = 255

// front is what every request passes first, in both modes: repository
// names outside the spec refused with NAME_INVALID (never a 500 that
// names a server path), and request bodies that stall cut off.
type front struct {
	next http.Handler
	idle time.Duration
}

func (f *front) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	// A route's repository name (anyRouteName): the part of the path
	// before its endpoint, in the distribution spec's grammar
	// (specNameOK). distribution itself also accepts an upper-case first
	// component (a domain), which the referrers API's routes did not: such
	// a name was stored but never got OCI-Subject or a referrers listing.
	if name, ok := anyRouteName(r.URL.Path); ok {
		if len(name) > maxNameLength || !specNameOK(name) {
			msg := "invalid repository name"
			if len(name) > maxNameLength {
				msg = "repository name longer than 255 characters"
			}
			writeError(w, http.StatusBadRequest, "NAME_INVALID", msg)
			return
		}
	}
	if f.idle > 0 && r.Body != nil && r.Body != http.NoBody {
		// On a copy of the request: net/http's server looks at its own
		// request's Body after the handler, and with a wrapper there it
		// can no longer tell a body the client was never asked for
		// (Expect: 100-continue, answered without reading it) from one
		// left unread, and waits for it: a POST that opens an upload
		// session then took the client's whole continue timeout (1 s).
		body := &idleBody{ReadCloser: r.Body, rc: http.NewResponseController(w), idle: f.idle}
		r = r.WithContext(r.Context())
		r.Body = body
	}
	f.next.ServeHTTP(w, r)
}

// idleBody moves the connection's read deadline before every read: a
// body may take as long as it needs while bytes keep arriving, and a
// client that stops sending is cut off after idle. (http.Server's
// ReadTimeout bounds the whole request, which would cap large uploads.)
type idleBody struct {
	io.ReadCloser
	rc   *http.ResponseController
	idle time.Duration
}

func (b *idleBody) Read(p []byte) (int, error) {
	// An error means the writer cannot set deadlines (a recorder in a
	// test); the read is then unbounded, as before.
	_ = b.rc.SetReadDeadline(time.Now().Add(b.idle))
	return b.ReadCloser.Read(p)
}

// purgeUploads deletes, every interval until ctx ends, blob uploads
// started more than ttl ago. distribution's own purger waits a random
// 0–60 minutes before its first run and takes its schedule from the
// configuration file; this one runs at start and on the given interval.
func purgeUploads(ctx context.Context, root string, ttl, interval time.Duration) error {
	drv, err := filesystem.FromParameters(map[string]any{"rootdirectory": root})
	if err != nil {
		return err
	}
	if interval <= 0 {
		interval = min(ttl/2, time.Hour)
	}
	go func() {
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			if _, errs := storage.PurgeUploads(ctx, drv, time.Now().Add(-ttl), true); len(errs) > 0 {
				logrus.Warnf("purging uploads: %v", errs[0])
			}
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
	return nil
}
