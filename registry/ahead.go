package registry

import (
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/stella-ops/stella-oras/internal/iox"
)

const (
	// aheadChunk and aheadChunks: an aheadReader's buffers (4 MiB a blob
	// in flight, whatever its size).
	aheadChunk  = 1 << 20
	aheadChunks = 4
)

// errBodyClosed is what Read returns after Close.
var errBodyClosed = errors.New("blob stream closed")

// aheadReader is a blob on its way from a source to a destination: read
// from the source ahead of its consumer, in chunks, and hashed on a
// goroutine of its own, so that the source's reads, the hash and the
// sends to the destination run at once, on as many cores. A reader that
// hashes in Read (content.VerifyReader) does all three on one, one after
// the other: in a mirror of a 1 GiB layer, one core hashed while the
// other waited.
//
// A chunk reaches the consumer only once hashed, and the last one only
// once the whole blob has been checked against its descriptor (size and
// digest): a blob that is not what its descriptor says fails the last
// Read with ErrDigestMismatch (or the source's own read error) before its
// last bytes are handed on, so a destination never receives all of it.
type aheadReader struct {
	src   io.ReadCloser
	ready chan aheadPart // hashed chunks, in order; the last carries the end
	free  chan []byte    // buffers to read into (all of them fit: never blocks)
	stop  chan struct{}
	// produced is closed once the producer's last read of src returned:
	// only then may src be closed (oras-go's blob reader is not safe for
	// a Close beside a Read).
	produced chan struct{}
	once     sync.Once
	wg       sync.WaitGroup

	// The consumer's side.
	cur []byte // what is left to read of the current chunk
	buf []byte // the current chunk's buffer, back to free once read
	end error  // once set, what comes after cur: io.EOF or the failure

	mu     sync.Mutex
	srcErr error // the source's failure, reported as the source's
}

type aheadPart struct {
	buf []byte // nil when only the end is carried
	n   int
	err error // io.EOF (the blob checked), a failure, or nil
}

// newAheadReader starts reading src, the bytes of d; Close stops it and
// closes src.
func newAheadReader(src io.ReadCloser, d ocispec.Descriptor) *aheadReader {
	a := &aheadReader{
		src:   src,
		ready: make(chan aheadPart, aheadChunks),
		free:  make(chan []byte, aheadChunks),
		stop:  make(chan struct{}),

		produced: make(chan struct{}),
	}
	for range aheadChunks {
		a.free <- make([]byte, aheadChunk)
	}
	read := make(chan aheadPart, aheadChunks)
	a.wg.Add(2)
	go a.produce(read, d.Size)
	go a.hash(read, d)
	return a
}

// produce reads the source into free buffers, at most one byte past the
// descriptor's size (which shows trailing bytes).
func (a *aheadReader) produce(out chan<- aheadPart, size int64) {
	defer a.wg.Done()
	defer close(out)
	defer close(a.produced)
	r := io.LimitReader(a.src, size+1)
	for {
		var buf []byte
		select {
		case buf = <-a.free:
		case <-a.stop:
			return
		}
		n, err := iox.Fill(r, buf)
		select {
		case out <- aheadPart{buf: buf, n: n, err: err}:
		case <-a.stop:
			return
		}
		if err != nil {
			return
		}
	}
}

// hash hashes the chunks in order, checks the end against d, and hands
// them on.
func (a *aheadReader) hash(in <-chan aheadPart, d ocispec.Descriptor) {
	defer a.wg.Done()
	h := d.Digest.Algorithm().Hash()
	var total int64
	for p := range in {
		h.Write(p.buf[:p.n]) //nolint:errcheck // a hash never fails
		total += int64(p.n)
		switch {
		case total > d.Size:
			p.err = fmt.Errorf("%w: more than the descriptor's %d bytes", ErrDigestMismatch, d.Size)
		case p.err == io.EOF && total != d.Size:
			p.err = fmt.Errorf("%w: %d bytes, the descriptor says %d", ErrDigestMismatch, total, d.Size)
		case p.err == io.EOF && digest.NewDigest(d.Digest.Algorithm(), h) != d.Digest:
			p.err = fmt.Errorf("%w: the bytes are not %s", ErrDigestMismatch, d.Digest)
		}
		if p.err != nil && p.err != io.EOF {
			select {
			case <-a.stop:
				// Stopped by its consumer: nothing is reported.
				return
			default:
			}
			// Withheld: a blob that failed does not reach the
			// destination whole.
			a.mu.Lock()
			a.srcErr = p.err
			a.mu.Unlock()
			a.free <- p.buf
			p.buf, p.n = nil, 0
		}
		select {
		case a.ready <- p:
		case <-a.stop:
			return
		}
		if p.err != nil {
			return
		}
	}
}

// sourceErr is the source's failure, if it failed.
func (a *aheadReader) sourceErr() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.srcErr
}

// advance makes cur the next chunk once the current one is read; false
// once there is none (end says why).
func (a *aheadReader) advance() bool {
	select {
	case <-a.stop: // closed: what was read ahead is not handed on
		a.cur, a.end = nil, errBodyClosed
		return false
	default:
	}
	for len(a.cur) == 0 {
		if a.buf != nil {
			a.free <- a.buf
			a.buf = nil
		}
		if a.end != nil {
			return false
		}
		select {
		case p, ok := <-a.ready:
			if !ok {
				a.end = errBodyClosed
				continue
			}
			if p.buf != nil {
				a.buf, a.cur = p.buf, p.buf[:p.n]
			}
			a.end = p.err
		case <-a.stop:
			a.end = errBodyClosed
		}
	}
	return true
}

func (a *aheadReader) Read(p []byte) (int, error) {
	if !a.advance() {
		return 0, a.end
	}
	n := copy(p, a.cur)
	a.cur = a.cur[n:]
	return n, nil
}

// WriteTo hands each chunk to w whole (io.Copy prefers it to Read: no
// copy through its buffer).
func (a *aheadReader) WriteTo(w io.Writer) (int64, error) {
	var total int64
	for a.advance() {
		n, err := w.Write(a.cur)
		total += int64(n)
		a.cur = a.cur[n:]
		if err != nil {
			return total, err
		}
	}
	if a.end == io.EOF {
		return total, nil
	}
	return total, a.end
}

// Close stops the reading and closes the source; safe to call more than
// once, and alongside a Read (an HTTP transport may). It waits for a read
// of the source in progress to return (a stalled source is cut off by the
// client's idle timeout), then closes the source.
func (a *aheadReader) Close() error {
	a.once.Do(func() {
		close(a.stop)
		<-a.produced
		a.src.Close()
		a.wg.Wait()
	})
	return nil
}
