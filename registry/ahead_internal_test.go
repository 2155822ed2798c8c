package registry

import (
	"bytes"
	"errors"
	"io"
	"math/rand/v2"
	"runtime"
	"testing"
	"testing/iotest"
	"time"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/content"
)

// closeCounter is a source stream that counts its Close calls.
type closeCounter struct {
	io.Reader
	closed int
}

func (c *closeCounter) Close() error { c.closed++; return nil }

func randomBytes(n int, seed uint64) []byte {
	b := make([]byte, n)
	r := rand.New(rand.NewPCG(seed, seed))
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// TestAheadReader: the bytes come through whole, by Read (in odd sizes)
// and by WriteTo, for sizes around the chunk's; a source whose bytes are
// not the descriptor's (other bytes, one byte more, one less, a read
// error) fails the last read, never hands on all of the descriptor's
// bytes, and reports the failure as the source's.
func TestAheadReader(t *testing.T) {
	for _, n := range []int{0, 1, aheadChunk - 1, aheadChunk, aheadChunk + 1, aheadChunks*aheadChunk + 5} {
		data := randomBytes(n, uint64(n))
		d := content.NewDescriptorFromBytes("application/octet-stream", data)
		src := &closeCounter{Reader: bytes.NewReader(data)}
		a := newAheadReader(src, d)
		got, err := io.ReadAll(iotest.OneByteReader(io.LimitReader(a, 3)))
		if err != nil {
			t.Fatal(err)
		}
		rest, err := io.ReadAll(a)
		if err != nil || !bytes.Equal(append(got, rest...), data) || a.sourceErr() != nil {
			t.Errorf("%d bytes by Read: got %d, %v, source error %v", n, len(got)+len(rest), err, a.sourceErr())
		}
		a.Close()
		a.Close() // twice: no effect
		if src.closed != 1 {
			t.Errorf("%d bytes: source closed %d times, want once", n, src.closed)
		}

		var buf bytes.Buffer
		a = newAheadReader(io.NopCloser(bytes.NewReader(data)), d)
		if m, err := io.Copy(&buf, a); err != nil || m != int64(n) || !bytes.Equal(buf.Bytes(), data) {
			t.Errorf("%d bytes by WriteTo: %d, %v", n, m, err)
		}
		a.Close()
	}

	data := randomBytes(3*aheadChunk+100, 7)
	d := content.NewDescriptorFromBytes("application/octet-stream", data)
	other := bytes.Clone(data)
	other[len(other)-1] ^= 1
	broken := errors.New("connection reset")
	for name, src := range map[string]io.Reader{
		"other bytes":    bytes.NewReader(other),
		"one byte more":  bytes.NewReader(append(bytes.Clone(data), 0)),
		"one byte less":  bytes.NewReader(data[:len(data)-1]),
		"a read error":   io.MultiReader(bytes.NewReader(data[:aheadChunk+10]), iotest.ErrReader(broken)),
		"more, chunk on": bytes.NewReader(append(bytes.Clone(data), make([]byte, aheadChunk)...)),
	} {
		a := newAheadReader(io.NopCloser(src), d)
		got, err := io.ReadAll(a)
		a.Close()
		switch {
		case err == nil:
			t.Errorf("%s: read without an error", name)
		case len(got) >= len(data):
			t.Errorf("%s: %d bytes handed on, want fewer than the descriptor's %d", name, len(got), len(data))
		case name == "a read error" && !errors.Is(err, broken):
			t.Errorf("%s: %v, want the source's error", name, err)
		case name != "a read error" && !errors.Is(err, ErrDigestMismatch):
			t.Errorf("%s: %v, want ErrDigestMismatch", name, err)
		case !errors.Is(a.sourceErr(), err):
			t.Errorf("%s: sourceErr %v, want %v", name, a.sourceErr(), err)
		}
	}
}

// TestAheadReaderClose: Close with the buffers full and nobody reading
// returns; Close while a read of the source is blocked returns once that
// read does, and closes the source only then (oras-go's blob reader is not
// safe for a Close beside a Read: the race detector caught it); either
// way its goroutines end, and Read after Close fails.
func TestAheadReaderClose(t *testing.T) {
	before := runtime.NumGoroutine()
	data := randomBytes(10*aheadChunk, 3)
	d := content.NewDescriptorFromBytes("application/octet-stream", data)
	// Full buffers, nothing read.
	a := newAheadReader(io.NopCloser(bytes.NewReader(data)), d)
	time.Sleep(20 * time.Millisecond)
	a.Close()
	if _, err := a.Read(make([]byte, 10)); !errors.Is(err, errBodyClosed) {
		t.Errorf("Read after Close: %v", err)
	}
	// A source whose read blocks until its writer ends it.
	pr, pw := io.Pipe()
	src := &closeCounter{Reader: pr}
	a = newAheadReader(src, ocispec.Descriptor{Digest: d.Digest, Size: d.Size})
	done := make(chan struct{})
	go func() { a.Close(); close(done) }()
	pw.Close() // the blocked read returns
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not return once the source's read did")
	}
	if src.closed != 1 {
		t.Errorf("source closed %d times, want once", src.closed)
	}
	for i := 0; i < 100 && runtime.NumGoroutine() > before; i++ {
		time.Sleep(10 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > before {
		t.Errorf("%d goroutines after Close, %d before", n, before)
	}
}
