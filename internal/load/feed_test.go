package load_test

import (
	"archive/zip"
	"bytes"
	"compress/flate"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/stella-ops/stella-oras/engine/feed"
	"github.com/stella-ops/stella-oras/internal/load"
)

func osvRecord(i int) []byte {
	return fmt.Appendf(nil, `{"id":"GEN-%07d","modified":"2026-01-01T00:00:00Z","affected":[{"package":{"ecosystem":"npm","name":"p%d"},"ranges":[{"type":"SEMVER","events":[{"introduced":"0"},{"fixed":"1.0.%d"}]}]}]}`, i, i%997, i)
}

// genDir writes n small OSV records under dir (in subdirectories of 1,000).
func genDir(t testing.TB, dir string, n int) {
	t.Helper()
	for i := range n {
		sub := filepath.Join(dir, fmt.Sprintf("%03d", i/1000))
		if i%1000 == 0 {
			if err := os.MkdirAll(sub, 0o755); err != nil {
				t.Fatal(err)
			}
		}
		if err := os.WriteFile(filepath.Join(sub, fmt.Sprintf("GEN-%07d.json", i)), osvRecord(i), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// genZip writes a zip of n entries, each body(i), stored (quick to write).
func genZip(t testing.TB, path string, n int, body func(i int) []byte) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	zw := zip.NewWriter(f)
	for i := range n {
		w, err := zw.CreateHeader(&zip.FileHeader{Name: fmt.Sprintf("osv/GEN-%07d.json", i), Method: zip.Store})
		if err != nil {
			t.Fatal(err)
		}
		w.Write(body(i))
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	f.Close()
}

// TestFeedCancelled: a cancelled context stops the load of a directory or
// zip of records with context.Canceled, promptly, whether it was cancelled
// before or during the load.
func TestFeedCancelled(t *testing.T) {
	dir := t.TempDir()
	feedDir := filepath.Join(dir, "osv")
	genDir(t, feedDir, 20_000)
	zipPath := filepath.Join(dir, "all.zip")
	genZip(t, zipPath, 40_000, osvRecord)

	for _, src := range []string{feedDir, zipPath} {
		name := filepath.Base(src)
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if _, err := load.FeedSources(ctx, src, load.FeedOptions{}); !errors.Is(err, context.Canceled) {
			t.Errorf("%s: FeedSources with a cancelled context = %v, want context.Canceled", name, err)
		}
		if _, err := load.Feed(ctx, src, load.FeedOptions{}); !errors.Is(err, context.Canceled) {
			t.Errorf("%s: Feed with a cancelled context = %v, want context.Canceled", name, err)
		}

		// Cancelled during the load (the reads, or the build): it returns
		// within a short time of the cancellation, well before the end.
		start := time.Now()
		if _, err := load.Feed(context.Background(), src, load.FeedOptions{}); err != nil {
			t.Fatal(err)
		}
		full := time.Since(start)
		ctx, cancel = context.WithCancel(context.Background())
		after := full / 4
		timer := time.AfterFunc(after, cancel)
		start = time.Now()
		_, err := load.Feed(ctx, src, load.FeedOptions{})
		took := time.Since(start)
		timer.Stop()
		cancel()
		if !errors.Is(err, context.Canceled) {
			t.Errorf("%s: cancelled after %v of a %v load: %v, want context.Canceled", name, after, full, err)
		}
		if took > after+full/4+100*time.Millisecond {
			t.Errorf("%s: returned %v after the start, cancelled at %v (a full load takes %v)", name, took, after, full)
		}
		t.Logf("%s: full load %v; cancelled at %v, returned at %v", name, full, after, took)
	}
}

// TestFeedBounds: the total bounds on a feed source (records, bytes) are
// enforced and named, here lowered through FeedOptions instead of
// generating millions of records.
func TestFeedBounds(t *testing.T) {
	dir := t.TempDir()
	feedDir := filepath.Join(dir, "osv")
	genDir(t, feedDir, 50)
	zipPath := filepath.Join(dir, "all.zip")
	genZip(t, zipPath, 50, osvRecord)
	size := int64(len(osvRecord(10))) // every generated record has this size or one byte more or less

	for _, src := range []string{feedDir, zipPath} {
		name := filepath.Base(src)
		if got, err := load.FeedSources(context.Background(), src, load.FeedOptions{MaxRecords: 50, MaxBytes: 50 * (size + 2)}); err != nil || len(got) != 50 {
			t.Errorf("%s: at the bounds: %d records, %v", name, len(got), err)
		}
		_, err := load.FeedSources(context.Background(), src, load.FeedOptions{MaxRecords: 49})
		if !errors.Is(err, load.ErrTooLarge) || !strings.Contains(err.Error(), "more than 49 records") || !strings.Contains(err.Error(), name) {
			t.Errorf("%s: over the record bound: %v, want ErrTooLarge naming 49 records and the source", name, err)
		}
		_, err = load.FeedSources(context.Background(), src, load.FeedOptions{MaxBytes: 10 * size})
		if !errors.Is(err, load.ErrTooLarge) || !strings.Contains(err.Error(), fmt.Sprintf("more than %d bytes", 10*size)) {
			t.Errorf("%s: over the byte bound: %v, want ErrTooLarge naming %d bytes", name, err, 10*size)
		}
	}
	// The defaults are the documented bounds.
	if o := (load.FeedOptions{}); o.Records() != load.MaxFeedRecords || o.Bytes() != load.MaxFeedBytes {
		t.Errorf("zero FeedOptions bounds = %d records, %d bytes; want %d, %d", o.Records(), o.Bytes(), load.MaxFeedRecords, int64(load.MaxFeedBytes))
	}
}

// TestFeedZipBomb: a zip of many entries, each under the per-record limit,
// whose total uncompressed size exceeds the bound, is refused from its
// directory before a byte is decompressed: little time, little memory,
// whatever it would expand to (here 2,000 × 1 MiB = 2 GiB of zeros in a
// 2 MB file, against a bound lowered to 64 MiB).
func TestFeedZipBomb(t *testing.T) {
	const entries, each = 2000, 1 << 20
	// One deflated MiB of zeros (about 1 KB), written raw as every entry.
	zero := make([]byte, each)
	var deflated bytes.Buffer
	fw, _ := flate.NewWriter(&deflated, flate.BestCompression)
	fw.Write(zero)
	fw.Close()
	bomb := filepath.Join(t.TempDir(), "bomb.zip")
	f, err := os.Create(bomb)
	if err != nil {
		t.Fatal(err)
	}
	zw := zip.NewWriter(f)
	for i := range entries {
		w, err := zw.CreateRaw(&zip.FileHeader{Name: fmt.Sprintf("osv/Z-%d.json", i), Method: zip.Deflate,
			CRC32: crc32.ChecksumIEEE(zero), CompressedSize64: uint64(deflated.Len()), UncompressedSize64: each})
		if err != nil {
			t.Fatal(err)
		}
		w.Write(deflated.Bytes())
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	f.Close()
	// The entries are real: each expands to its MiB.
	zr, err := zip.OpenReader(bomb)
	if err != nil {
		t.Fatal(err)
	}
	rc, err := zr.File[entries-1].Open()
	if err != nil {
		t.Fatal(err)
	}
	if b, err := io.ReadAll(rc); err != nil || !bytes.Equal(b, zero) {
		t.Fatalf("last entry: %d bytes, %v", len(b), err)
	}
	rc.Close()
	zr.Close()

	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	_, err = load.FeedSources(context.Background(), bomb, load.FeedOptions{MaxBytes: 64 << 20})
	runtime.ReadMemStats(&after)
	if !errors.Is(err, load.ErrTooLarge) || !strings.Contains(err.Error(), fmt.Sprintf("more than %d bytes", 64<<20)) {
		t.Fatalf("zip bomb: %v, want ErrTooLarge naming the %d-byte bound", err, 64<<20)
	}
	alloc := after.TotalAlloc - before.TotalAlloc
	t.Logf("refused after allocating %d bytes", alloc)
	if alloc > 16<<20 {
		t.Errorf("zip bomb refused after allocating %d bytes, want under 16 MiB", alloc)
	}
	// The same, for the record count.
	if _, err := load.FeedSources(context.Background(), bomb, load.FeedOptions{MaxRecords: entries - 1}); !errors.Is(err, load.ErrTooLarge) || !strings.Contains(err.Error(), fmt.Sprintf("more than %d records", entries-1)) {
		t.Errorf("zip with too many entries: %v", err)
	}
}

// TestFeedZipLyingHeader: an entry whose header declares fewer bytes than
// it holds is an error once the declared size is read (archive/zip stops
// there), so the declared sizes the bound is checked against are an upper
// bound on what is read.
func TestFeedZipLyingHeader(t *testing.T) {
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	data := bytes.Repeat([]byte("x"), 1<<20)
	w, err := zw.CreateRaw(&zip.FileHeader{Name: "osv/X-1.json", Method: zip.Store,
		CompressedSize64: uint64(len(data)), UncompressedSize64: 10, CRC32: crc32.ChecksumIEEE(data)})
	if err != nil {
		t.Fatal(err)
	}
	w.Write(data)
	zw.Close()
	p := filepath.Join(t.TempDir(), "lie.zip")
	os.WriteFile(p, buf.Bytes(), 0o644)
	if _, err := load.FeedSources(context.Background(), p, load.FeedOptions{MaxBytes: 1000}); !errors.Is(err, zip.ErrFormat) || !strings.Contains(err.Error(), "X-1.json") {
		t.Errorf("entry larger than its header says: %v, want zip.ErrFormat naming it", err)
	}
}

// TestFeedSnapshotBound: one bound, FeedOptions.MaxSnapshotBytes, limits
// the snapshot a directory or zip builds and the snapshot file Feed reads,
// so whatever builds can be read back: a source whose snapshot is exactly
// the bound builds, is written, and reads back; one byte less and the
// build is refused (ErrTooLarge, as load's and feed's), and so is the
// reading of that file. The defaults are the same bound, feed's, and the
// source bound is twice it.
func TestFeedSnapshotBound(t *testing.T) {
	dir := t.TempDir()
	feedDir := filepath.Join(dir, "osv")
	genDir(t, feedDir, 300)
	zipPath := filepath.Join(dir, "all.zip")
	genZip(t, zipPath, 300, osvRecord)
	ctx := context.Background()
	for _, src := range []string{feedDir, zipPath} {
		name := filepath.Base(src)
		b, err := load.BuildFeed(ctx, src, load.FeedOptions{})
		if err != nil {
			t.Fatal(err)
		}
		size := b.Size()
		b, err = load.BuildFeed(ctx, src, load.FeedOptions{MaxSnapshotBytes: size})
		if err != nil {
			t.Fatalf("%s: a %d-byte snapshot with the bound at %d: %v", name, size, size, err)
		}
		snap := filepath.Join(dir, name+".snapshot.json")
		if err := load.WriteFeed(snap, b, 0o644); err != nil {
			t.Fatal(err)
		}
		if st, err := os.Stat(snap); err != nil || st.Size() != size {
			t.Fatalf("%s: written %v (%v), want %d bytes", name, st, err, size)
		}
		if _, err := load.Feed(ctx, snap, load.FeedOptions{MaxSnapshotBytes: size}); err != nil {
			t.Errorf("%s: reading back the snapshot at the bound: %v", name, err)
		}
		if _, err := load.Feed(ctx, snap, load.FeedOptions{MaxSnapshotBytes: size - 1}); !errors.Is(err, load.ErrTooLarge) {
			t.Errorf("%s: reading a snapshot over the bound = %v, want ErrTooLarge", name, err)
		}
		for _, max := range []int64{size - 1, size / 2} {
			_, err := load.BuildFeed(ctx, src, load.FeedOptions{MaxSnapshotBytes: max})
			if !errors.Is(err, load.ErrTooLarge) || !errors.Is(err, feed.ErrTooLarge) || !strings.Contains(err.Error(), name) {
				t.Errorf("%s: a %d-byte snapshot with the bound at %d: %v, want ErrTooLarge naming the source", name, size, max, err)
			}
			if _, err := load.Feed(ctx, src, load.FeedOptions{MaxSnapshotBytes: max}); !errors.Is(err, load.ErrTooLarge) {
				t.Errorf("%s: Feed with the bound at %d: %v, want ErrTooLarge", name, max, err)
			}
		}
	}
	if got := (load.FeedOptions{}).SnapshotBytes(); got != feed.MaxSnapshotBytes {
		t.Errorf("default snapshot bound = %d, want feed.MaxSnapshotBytes %d (what a snapshot file is read within)", got, int64(feed.MaxSnapshotBytes))
	}
	if load.MaxFeedBytes != 2*feed.MaxSnapshotBytes {
		t.Errorf("MaxFeedBytes = %d, want twice feed.MaxSnapshotBytes (its comment says why)", int64(load.MaxFeedBytes))
	}
}

// BenchmarkBuildFeed measures `feed build`'s path, a directory of records
// read, built and written (here to io.Discard): bytes allocated per source
// byte (alloc-B/in-B), and the largest heap sampled (every 64 context
// checks, about one a record) above what was live before, per source byte
// (peak-B/in-B). With Go's default GC the peak is about twice what is live.
// The records are about 2 KB, indented, as published feeds' are.
func BenchmarkBuildFeed(b *testing.B) {
	src := filepath.Join(b.TempDir(), "osv")
	const n = 20_000
	in := int64(0)
	for i := range n {
		sub := filepath.Join(src, fmt.Sprintf("%03d", i/1000))
		if i%1000 == 0 {
			if err := os.MkdirAll(sub, 0o755); err != nil {
				b.Fatal(err)
			}
		}
		var rec bytes.Buffer
		full := bytes.Replace(osvRecord(i), []byte(`{"id"`), fmt.Appendf(nil, `{"details":"%s","id"`, strings.Repeat(fmt.Sprintf("Details of advisory %d. ", i), 60)), 1)
		if err := json.Indent(&rec, full, "", "  "); err != nil {
			b.Fatal(err)
		}
		in += int64(rec.Len())
		if err := os.WriteFile(filepath.Join(sub, fmt.Sprintf("GEN-%07d.json", i)), rec.Bytes(), 0o644); err != nil {
			b.Fatal(err)
		}
	}
	var ms runtime.MemStats
	var peak, alloc uint64
	for b.Loop() {
		b.StopTimer()
		runtime.GC()
		runtime.ReadMemStats(&ms)
		base, total := ms.HeapAlloc, ms.TotalAlloc
		high := base
		calls := 0
		ctx := sampleCtx{context.Background(), func() {
			if calls++; calls%64 == 0 {
				runtime.ReadMemStats(&ms)
				high = max(high, ms.HeapAlloc)
			}
		}}
		b.StartTimer()
		built, err := load.BuildFeed(ctx, src, load.FeedOptions{})
		if err == nil {
			_, err = built.WriteTo(io.Discard)
		}
		b.StopTimer()
		if err != nil {
			b.Fatal(err)
		}
		runtime.ReadMemStats(&ms)
		peak += max(high, ms.HeapAlloc) - base
		alloc += ms.TotalAlloc - total
		b.StartTimer()
	}
	b.ReportMetric(float64(alloc)/float64(b.N)/float64(in), "alloc-B/in-B")
	b.ReportMetric(float64(peak)/float64(b.N)/float64(in), "peak-B/in-B")
	b.SetBytes(in)
}

// sampleCtx calls f on every Err: a build checks its context about once a
// record.
type sampleCtx struct {
	context.Context
	f func()
}

func (c sampleCtx) Err() error { c.f(); return c.Context.Err() }
