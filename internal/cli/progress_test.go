package cli

import (
	"bytes"
	"strings"
	"testing"
	"time"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/stella-ops/stella-oras/registry"
)

// TestMirrorProgress: the progress line counts blobs and bytes against
// the plan, with a rate and an ETA, and is cleared at the end; nothing is
// drawn when stderr is not a terminal.
func TestMirrorProgress(t *testing.T) {
	if p := newMirrorProgress(new(bytes.Buffer), true); p != nil {
		t.Fatal("a progress line on a writer that is not a terminal")
	}
	var buf bytes.Buffer
	p := &mirrorProgress{w: &buf, start: time.Now().Add(-time.Second), stop: make(chan struct{})}
	var o registry.MirrorOptions
	p.hook(&o)
	o.OnPlan(4, 4<<20)
	o.OnCopied(registry.MirrorItem{Descriptor: ocispec.Descriptor{Size: 1 << 20}, Kind: "blob", State: registry.MirrorCopied})
	o.OnCopied(registry.MirrorItem{Descriptor: ocispec.Descriptor{Size: 1 << 20}, Kind: "blob", State: registry.MirrorPresent})
	o.OnCopied(registry.MirrorItem{Descriptor: ocispec.Descriptor{Size: 999}, Kind: "manifest", State: registry.MirrorCopied})
	p.draw()
	p.end()
	out := buf.String()
	for _, want := range []string{"2/4 blobs", "2.0 MiB/4.0 MiB", "/s", "ETA 2s"} {
		if !strings.Contains(out, want) {
			t.Errorf("progress line %q lacks %q", out, want)
		}
	}
	if !strings.HasSuffix(out, "\r\033[K") {
		t.Errorf("progress line %q not cleared at the end", out)
	}
}
