package cli

import (
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"golang.org/x/term"

	"github.com/stella-ops/stella-oras/registry"
)

// mirrorProgress draws one status line on a terminal's stderr while a
// mirror runs: blobs and bytes done of the planned total, the rate of
// bytes sent, and the time left at that rate. It draws nothing when
// stderr is not a terminal (a CI log gets the summary alone).
type mirrorProgress struct {
	w                 io.Writer
	mu                sync.Mutex
	start             time.Time
	blobs, planned    int
	done, total, sent int64
	stop              chan struct{}
	stopped           sync.WaitGroup
}

// newMirrorProgress returns nil unless err is a terminal and enabled.
func newMirrorProgress(err io.Writer, enabled bool) *mirrorProgress {
	f, ok := err.(*os.File)
	if !enabled || !ok || !term.IsTerminal(int(f.Fd())) {
		return nil
	}
	return &mirrorProgress{w: err, start: time.Now(), stop: make(chan struct{})}
}

// hook sets the mirror's progress hooks and starts drawing.
func (p *mirrorProgress) hook(o *registry.MirrorOptions) {
	if p == nil {
		return
	}
	o.OnPlan = func(blobs int, bytes int64) {
		p.mu.Lock()
		p.planned += blobs
		p.total += bytes
		p.mu.Unlock()
	}
	prev := o.OnCopied
	o.OnCopied = func(it registry.MirrorItem) {
		if prev != nil {
			prev(it)
		}
		if it.Kind != "blob" {
			return
		}
		p.mu.Lock()
		p.blobs++
		p.done += it.Size
		if it.State == registry.MirrorCopied {
			p.sent += it.Size
		}
		p.mu.Unlock()
	}
	p.stopped.Add(1)
	go func() {
		defer p.stopped.Done()
		t := time.NewTicker(200 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-p.stop:
				fmt.Fprint(p.w, "\r\033[K")
				return
			case <-t.C:
				p.draw()
			}
		}
	}()
}

func (p *mirrorProgress) draw() {
	p.mu.Lock()
	defer p.mu.Unlock()
	el := time.Since(p.start).Seconds()
	rate := float64(p.sent) / max(el, 0.001)
	line := fmt.Sprintf("mirror: %d/%d blobs, %s/%s, %s/s", p.blobs, p.planned, size(p.done), size(p.total), size(int64(rate)))
	if left := p.total - p.done; left > 0 && rate > 0 {
		line += fmt.Sprintf(", ETA %s", time.Duration(float64(left)/rate*float64(time.Second)).Round(time.Second))
	}
	fmt.Fprintf(p.w, "\r\033[K%s", line)
}

// end stops drawing and clears the line.
func (p *mirrorProgress) end() {
	if p == nil {
		return
	}
	close(p.stop)
	p.stopped.Wait()
}

func size(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}
