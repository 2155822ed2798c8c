package embedded

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/distribution/distribution/v3/registry/storage"
	"github.com/distribution/distribution/v3/registry/storage/driver/filesystem"
	"github.com/sirupsen/logrus"
)

// maxNameLength is the distribution spec's bound on a repository name
// (registries "MAY" reject longer ones; distribution answers them with a
// 500 that names its storage path).
const maxNameLength = 255

// purgeUndated removes, under repos (distribution's repositories
// directory), the upload directories that have no startedat file and in
// which nothing changed after cutoff. distribution's purger dates an upload
// by that file alone and keeps one without it forever; yet no such upload
// can be resumed (distribution reads startedat to resume), and every
// cancelled upload leaves one: blobWriter.Cancel removes the upload, then
// closes the writer, which saves its hash state again
// (_uploads/<id>/hashstates/sha256/0). An upload being opened has its
// directory made just before its startedat is written: its fresh mtime
// keeps it. The walk does not enter the layer and manifest links.
func purgeUndated(ctx context.Context, repos string, cutoff time.Time) error {
	err := filepath.WalkDir(repos, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil // removed meanwhile, or no repository yet
			}
			return err
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if !d.IsDir() {
			return nil
		}
		switch d.Name() {
		case "_layers", "_manifests":
			return filepath.SkipDir
		case "_uploads":
			ents, err := os.ReadDir(p)
			if err != nil {
				return nil
			}
			for _, e := range ents {
				up := filepath.Join(p, e.Name())
				if _, err := os.Lstat(filepath.Join(up, "startedat")); e.IsDir() && errors.Is(err, fs.ErrNotExist) && !changedAfter(up, cutoff) {
					os.RemoveAll(up) //nolint:errcheck // retried on the next round
				}
			}
			return filepath.SkipDir
		}
		return nil
	})
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return nil
	}
	return err
}

// changedAfter reports whether dir or anything under it was modified after
// t (or could not be read: kept, to be looked at again).
func changedAfter(dir string, t time.Time) bool {
	changed := false
	err := filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		if info.ModTime().After(t) {
			changed = true
			return filepath.SkipAll
		}
		return nil
	})
	return changed || err != nil
}

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
			cutoff := time.Now().Add(-ttl)
			if _, errs := storage.PurgeUploads(ctx, drv, cutoff, true); len(errs) > 0 {
				logrus.Warnf("purging uploads: %v", errs[0])
			}
			if err := purgeUndated(ctx, filepath.Join(root, "docker/registry/v2/repositories"), cutoff); err != nil {
				logrus.Warnf("purging uploads: %v", err)
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
