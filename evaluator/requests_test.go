package evaluator_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stella-ops/stella-oras/evaluator"
	"github.com/stella-ops/stella-oras/internal/regtest"
	"github.com/stella-ops/stella-oras/registry"
)

// holdUntil holds requests matching held until a request matching want
// has arrived (or a few seconds have passed), and records whether it did:
// it shows that two reads are in flight together, with no timing
// assumption when they are (the held one is released by the other's
// arrival), and fails, slowly, when they are made one after the other.
type holdUntil struct {
	mu         sync.Mutex
	held, want func(*http.Request) bool
	arrived    chan struct{}
	once       sync.Once
	overlapped bool
	heldAny    bool
	log        []string
}

func (h *holdUntil) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.mu.Lock()
		h.log = append(h.log, r.Method+" "+r.URL.Path)
		held, want := h.held != nil && h.held(r), h.want != nil && h.want(r)
		h.mu.Unlock()
		if want {
			h.once.Do(func() { close(h.arrived) })
		}
		if held {
			select {
			case <-h.arrived:
				h.mu.Lock()
				h.overlapped, h.heldAny = true, true
				h.mu.Unlock()
			case <-time.After(5 * time.Second):
				h.mu.Lock()
				h.heldAny = true
				h.mu.Unlock()
			}
		}
		next.ServeHTTP(w, r)
	})
}

func (h *holdUntil) set(held, want func(*http.Request) bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.held, h.want, h.arrived, h.once, h.overlapped, h.heldAny, h.log = held, want, make(chan struct{}), sync.Once{}, false, false, nil
}

func (h *holdUntil) result() (overlapped, heldAny bool, log []string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.overlapped, h.heldAny, append([]string(nil), h.log...)
}

func manifestGet(digest string) func(*http.Request) bool {
	return func(r *http.Request) bool {
		return r.Method == http.MethodGet && strings.HasSuffix(r.URL.Path, "/manifests/"+digest)
	}
}

// TestCacheHitReadsAhead: a cache hit does not wait for one read to end
// before it starts the next it already knows it needs (#10, cache-hit
// speed): the image's referrers are listed while the image is resolved;
// the cached verdict's manifest and its bundle are read while the SBOM
// referrer's manifest is; and the feed's manifest is read by tag in one
// request (no HEAD first).
func TestCacheHitReadsAhead(t *testing.T) {
	ctx := context.Background()
	h := &holdUntil{}
	host := regtest.StartWrapped(t, regtest.Referrers, h.wrap)
	opts := registry.Options{PlainHTTP: true}
	image, imgRef, feedRef, polRef := setup(t, host+"/app", host+"/feeds", host+"/policies", opts)
	o := evaluator.EvaluateOptions{Sources: evaluator.Sources{Feed: feedRef, Policy: polRef}, Signer: newSigner(t), Registry: opts}
	first, err := evaluator.Evaluate(ctx, imgRef, o)
	if err != nil {
		t.Fatal(err)
	}
	sbom := first.Images[0].SBOM.Referrer.Digest.String()
	verdict := first.Images[0].Verdict[strings.LastIndex(first.Images[0].Verdict, "@")+1:]
	bundleRef := first.Images[0].Bundle[strings.LastIndex(first.Images[0].Bundle, "@")+1:]

	for _, tt := range []struct {
		name       string
		held, want func(*http.Request) bool
	}{
		{"referrers listed while the image resolves",
			func(r *http.Request) bool {
				return r.Method == http.MethodHead && strings.HasSuffix(r.URL.Path, "/manifests/"+image.Digest.String())
			},
			func(r *http.Request) bool { return strings.Contains(r.URL.Path, "/referrers/"+image.Digest.String()) }},
		{"verdict manifest read with the SBOM's", manifestGet(sbom), manifestGet(verdict)},
		{"bundle read with the SBOM's manifest", manifestGet(sbom), manifestGet(bundleRef)},
		{"bundle read with the verdict manifest", manifestGet(verdict), manifestGet(bundleRef)},
	} {
		t.Run(tt.name, func(t *testing.T) {
			h.set(tt.held, tt.want)
			rep, err := evaluator.Evaluate(ctx, imgRef, o)
			if err != nil {
				t.Fatal(err)
			}
			if r := rep.Images[0]; r.State != evaluator.StateCached || r.VerdictDigest != first.Images[0].VerdictDigest {
				t.Fatalf("state %s, verdict %s; want cached %s", r.State, r.VerdictDigest, first.Images[0].VerdictDigest)
			}
			overlapped, heldAny, log := h.result()
			if !heldAny || !overlapped {
				t.Errorf("held a request: %v, and the other arrived while it was held: %v; requests:\n%s", heldAny, overlapped, strings.Join(log, "\n"))
			}
		})
	}
	h.set(nil, nil)
	if _, err := evaluator.Evaluate(ctx, imgRef, o); err != nil {
		t.Fatal(err)
	}
	_, _, log := h.result()
	for _, l := range log {
		if strings.HasPrefix(l, "HEAD ") && strings.Contains(l, "/feeds/") {
			t.Errorf("the feed was resolved with a HEAD before its manifest was read (%s); requests:\n%s", l, strings.Join(log, "\n"))
		}
	}
}

// TestConnectionsReused: the targets of one run share their HTTP client,
// so a run over several images reuses a few kept-alive connections
// instead of dialing anew for every image, feed and policy read (on a TLS
// registry each dial is a handshake, and with token auth a token
// request).
func TestConnectionsReused(t *testing.T) {
	ctx := context.Background()
	host, conns := regtest.StartCountingConns(t, regtest.Referrers)
	opts := registry.Options{PlainHTTP: true}
	_, _, feedRef, polRef := setup(t, host+"/app", host+"/feeds", host+"/policies", opts)
	var images []string
	for i := range 6 {
		tg := open(t, host+"/many:v1", opts)
		img, err := registry.PushSampleImage(ctx, tg, fmt.Sprintf("image %d", i))
		if err != nil {
			t.Fatal(err)
		}
		attach(t, tg, img, example("quickstart/sbom.cdx.json"))
		tg.Close()
		images = append(images, host+"/many@"+img.Digest.String())
	}
	conns.Reset()
	items, err := evaluator.EvaluateMany(ctx, images, 1, evaluator.EvaluateOptions{Sources: evaluator.Sources{Feed: feedRef, Policy: polRef}, Signer: newSigner(t), Registry: opts, Jobs: 2})
	if err != nil {
		t.Fatal(err)
	}
	for _, it := range items {
		if it.Err != nil {
			t.Fatalf("%s: %v", it.Reference, it.Err)
		}
	}
	// Two requests at a time per image (Jobs: 2), one image at a time,
	// and the upload session the verdict's attach opens along with its
	// reads (registry/upload.go): three connections would do; a few more
	// allow for a reader that finished before its connection went back to
	// the pool (5 in 30 runs of this test, under load too). Without reuse,
	// each image would dial anew: dozens.
	n := conns.Count()
	t.Logf("6 images over %d connections", n)
	if n > 6 {
		t.Errorf("6 images evaluated over %d connections, want at most 6", n)
	}
}
