package registry

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"
)

// DefaultIdleTimeout is how long a request may go without progress: no
// response headers, no response bytes, or no request bytes taken.
const DefaultIdleTimeout = time.Minute

// ErrStalled: the registry sent or took nothing for the idle timeout.
var ErrStalled = errors.New("connection stalled")

// idleTransport bounds silence instead of whole requests. An overall
// timeout (http.Client.Timeout, five minutes before) caps how large a blob
// can be; a stalled connection, which sends nothing at all, is what must
// end. Each request gets a context cancelled with ErrStalled when neither
// its body nor the response's body has moved for idle; response headers
// are bounded by the transport's ResponseHeaderTimeout.
type idleTransport struct {
	next http.RoundTripper
	idle time.Duration
}

func (t *idleTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	ctx, cancel := context.WithCancelCause(req.Context())
	w := &watchdog{cancel: cancel, idle: t.idle, ctx: ctx, what: req.Method + " " + req.URL.Redacted()}
	w.timer = time.AfterFunc(t.idle, w.fire)
	req = req.WithContext(ctx)
	if req.Body != nil && req.Body != http.NoBody {
		req.Body = &idleReader{ReadCloser: req.Body, w: w}
	}
	resp, err := t.next.RoundTrip(req)
	if err != nil {
		w.stop()
		return nil, w.explain(err)
	}
	// A small error answer is read whole here: its readers (oras-go's
	// among them) close it unread, and net/http drops a connection whose
	// body was not read to its end, so every 404 of a GET cost a new dial.
	if resp.StatusCode >= 400 && resp.ContentLength >= 0 && resp.ContentLength <= maxKeptErrorBody {
		b, rerr := io.ReadAll(io.LimitReader(&idleReader{ReadCloser: resp.Body, w: w}, maxKeptErrorBody))
		resp.Body.Close()
		w.stop()
		if rerr != nil {
			return nil, w.explain(rerr)
		}
		resp.Body = io.NopCloser(bytes.NewReader(b))
		return resp, nil
	}
	resp.Body = &idleReader{ReadCloser: resp.Body, w: w, done: w.stop}
	return resp, nil
}

// maxKeptErrorBody bounds the error answers idleTransport reads whole.
const maxKeptErrorBody = 64 << 10

type watchdog struct {
	mu     sync.Mutex
	timer  *time.Timer
	cancel context.CancelCauseFunc
	ctx    context.Context
	idle   time.Duration
	what   string
}

func (w *watchdog) fire() {
	w.cancel(fmt.Errorf("%w: %s: nothing sent or received for %s", ErrStalled, w.what, w.idle))
}

func (w *watchdog) kick() {
	w.mu.Lock()
	w.timer.Reset(w.idle)
	w.mu.Unlock()
}

func (w *watchdog) stop() {
	w.mu.Lock()
	w.timer.Stop()
	w.mu.Unlock()
	w.cancel(context.Canceled)
}

// explain replaces the transport's "context canceled" by the stall.
func (w *watchdog) explain(err error) error {
	if cause := context.Cause(w.ctx); err != nil && errors.Is(cause, ErrStalled) {
		return cause
	}
	return err
}

type idleReader struct {
	io.ReadCloser
	w    *watchdog
	done func()
}

func (r *idleReader) Read(p []byte) (int, error) {
	n, err := r.ReadCloser.Read(p)
	if n > 0 {
		r.w.kick()
	}
	if err != nil && err != io.EOF {
		err = r.w.explain(err)
	}
	return n, err
}

func (r *idleReader) Close() error {
	err := r.ReadCloser.Close()
	if r.done != nil {
		r.done()
	}
	return err
}
