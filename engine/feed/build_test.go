package feed

import (
	"bytes"
	"errors"
	"fmt"
	"runtime"
	"runtime/debug"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/stella-ops/stella-oras/canon"
)

// TestBuildMaxBytes: a build succeeds exactly when its snapshot is within
// BuildOptions.MaxBytes, with the same bytes as unbounded; past the bound
// it fails with ErrTooLarge, as soon as the records alone pass it (naming
// the record) or, when only the header takes it past, at the end. So a
// snapshot that builds is always one a reader of that bound accepts.
func TestBuildMaxBytes(t *testing.T) {
	src := quickstart(t)
	want, err := Build(src, BuildOptions{})
	if err != nil {
		t.Fatal(err)
	}
	n := int64(len(want))
	for _, max := range []int64{n, n + 1, 2 * n} {
		got, err := Build(src, BuildOptions{MaxBytes: max})
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("Build(MaxBytes %d) of a %d-byte snapshot: %v, same bytes %v", max, n, err, bytes.Equal(got, want))
		}
	}
	for _, max := range []int64{n - 1, n / 2, 1} {
		if _, err := Build(src, BuildOptions{MaxBytes: max}); !errors.Is(err, ErrTooLarge) {
			t.Errorf("Build(MaxBytes %d) of a %d-byte snapshot = %v, want ErrTooLarge", max, n, err)
		}
	}
	// The records alone past the bound: refused at the record that passes
	// it, before the rest is read.
	_, err = Build(src, BuildOptions{MaxBytes: 100})
	if !errors.Is(err, ErrTooLarge) || !strings.Contains(err.Error(), ".json: ") {
		t.Errorf("records past the bound: %v, want ErrTooLarge naming the record", err)
	}
	// The default is what a reader reads.
	if b := NewBuilder(BuildOptions{}); b.max != MaxSnapshotBytes {
		t.Errorf("default bound = %d, want MaxSnapshotBytes %d", b.max, int64(MaxSnapshotBytes))
	}
}

// TestBuildMemory: what a build holds once every record is read, before
// the snapshot is assembled, is the canonical records and a little per
// record, not the records' source bytes nor their decoded form. Measured
// after a collection at the Check call that follows the last record (the
// same call before this Builder: the first in assembly), against a bound
// of 256 bytes a record besides its canonical form: about 185 here; the
// Build before the Builder held about 1,050 (a canonical buffer of the
// source's size, the decoded record, a map entry).
func TestBuildMemory(t *testing.T) {
	defer debug.SetGCPercent(debug.SetGCPercent(100))
	const n = 10_000
	srcs := synthetic(n)
	var ms runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&ms)
	base := ms.HeapAlloc
	var live uint64
	calls := 0
	at := (n+checkInterval-1)/checkInterval + 1
	snap, err := Build(srcs, BuildOptions{Epoch: time.Date(2026, 8, 21, 0, 0, 0, 0, time.UTC), Check: func() error {
		if calls++; calls == at {
			runtime.GC()
			runtime.ReadMemStats(&ms)
			live = ms.HeapAlloc - base
		}
		return nil
	}})
	if err != nil {
		t.Fatal(err)
	}
	s, err := Open(snap)
	if err != nil {
		t.Fatal(err)
	}
	recs := uint64(s.Meta().RecordsBytes)
	in := 0
	for _, src := range srcs {
		in += len(src.Data)
	}
	per := (int64(live) - int64(recs)) / n
	t.Logf("%d records: %d source bytes, %d canonical; live after reading them %d bytes: %d a record besides", n, in, recs, live, per)
	if per > 256 {
		t.Errorf("a build holds %d bytes a record besides its canonical form, want at most 256", per)
	}
}

// TestBuildManyGroups: records in many small groups (here each its own
// ecosystem, as a hostile feed may have) take about their own size, not a
// chunk each; and in a few large groups, little more.
func TestBuildManyGroups(t *testing.T) {
	for _, groups := range []int{5000, 4} {
		b := NewBuilder(BuildOptions{})
		for i := range 5000 {
			rec := fmt.Appendf(nil, `{"id":"X-%d","modified":"2026-01-01T00:00:00Z","summary":"%s","affected":[{"package":{"ecosystem":"eco%d","name":"p"}}]}`,
				i, strings.Repeat("s", i%300), i%groups)
			if err := b.Add("x.json", rec); err != nil {
				t.Fatal(err)
			}
		}
		if b.reserved > b.held+b.held/8 {
			t.Errorf("%d groups: %d bytes allocated for %d bytes of records, want at most 1/8 more", groups, b.reserved, b.held)
		}
	}
}

// TestBuiltSnapshot: the snapshot opened from a build is the one Open
// reads from the bytes it writes, and is the build's last use.
func TestBuiltSnapshot(t *testing.T) {
	want, err := Build(quickstart(t), BuildOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ws, err := Open(want)
	if err != nil {
		t.Fatal(err)
	}
	b := NewBuilder(BuildOptions{})
	for _, s := range quickstart(t) {
		if err := b.Add(s.Name, s.Data); err != nil {
			t.Fatal(err)
		}
	}
	built, err := b.Finish()
	if err != nil {
		t.Fatal(err)
	}
	if built.Size() != int64(len(want)) || !bytes.Equal(built.Index(), ws.Index()) {
		t.Fatalf("Built: size %d, index equal %v; want %d and the same index", built.Size(), bytes.Equal(built.Index(), ws.Index()), len(want))
	}
	s, err := built.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(s.Bytes(), want) || s.ContentID() != ws.ContentID() || !s.Complete() {
		t.Fatalf("Built.Snapshot() differs from Open of the built bytes")
	}
	got, err := s.Lookup("Go", "example.com/webframework")
	wantRecs, err2 := ws.Lookup("Go", "example.com/webframework")
	if err != nil || err2 != nil || !cmp.Equal(got, wantRecs) {
		t.Errorf("Lookup from Built.Snapshot() = %v (%v), want %v (%v)", got, err, wantRecs, err2)
	}
	if _, err := built.WriteTo(&bytes.Buffer{}); err == nil {
		t.Error("WriteTo after Snapshot succeeded, want an error (the records are released)")
	}
	if err := b.Add("x.json", []byte(`{"id":"Y"}`)); err == nil {
		t.Error("Add after Finish succeeded")
	}
}

// failWriter fails once more than n bytes were written.
type failWriter struct{ n int }

var errWrite = errors.New("disk full")

func (w *failWriter) Write(p []byte) (int, error) {
	if len(p) > w.n {
		k := w.n
		w.n = 0
		return k, errWrite
	}
	w.n -= len(p)
	return len(p), nil
}

// TestBuiltWriteTo: WriteTo writes Build's bytes in pieces, reports a
// writer's error, and stops at a failing Check.
func TestBuiltWriteTo(t *testing.T) {
	var srcs []Source
	for i := range 2 * checkInterval {
		srcs = append(srcs, Source{Name: fmt.Sprintf("r%d.json", i), Data: fmt.Appendf(nil,
			`{"id":"X-%d","modified":"2026-01-01T00:00:00Z","details":"%s","affected":[{"package":{"ecosystem":"npm","name":"p%d"}}]}`, i, strings.Repeat("d", 3000), i)})
	}
	want, err := Build(srcs, BuildOptions{})
	if err != nil {
		t.Fatal(err)
	}
	build := func(check func() error) *Built {
		b := NewBuilder(BuildOptions{Check: check})
		for _, s := range srcs {
			if err := b.Add(s.Name, s.Data); err != nil {
				t.Fatal(err)
			}
		}
		built, err := b.Finish()
		if err != nil {
			t.Fatal(err)
		}
		return built
	}
	var buf bytes.Buffer
	if n, err := build(nil).WriteTo(&buf); err != nil || n != int64(len(want)) || !bytes.Equal(buf.Bytes(), want) {
		t.Fatalf("WriteTo = %d, %v (same bytes %v), want %d bytes as Build", n, err, bytes.Equal(buf.Bytes(), want), len(want))
	}
	for _, at := range []int{0, 100, writeBuffer + 5, len(want) - 1} {
		if n, err := build(nil).WriteTo(&failWriter{n: at}); !errors.Is(err, errWrite) || n != int64(at) {
			t.Errorf("WriteTo a writer failing after %d bytes = %d, %v; want %d, its error", at, n, err, at)
		}
	}
	stop := errors.New("stop")
	armed := false
	built := build(func() error {
		if armed {
			return stop
		}
		return nil
	})
	armed = true
	if _, err := built.WriteTo(&bytes.Buffer{}); !errors.Is(err, stop) {
		t.Errorf("WriteTo with a failing Check = %v, want its error", err)
	}
}

// TestBuildDuplicates: of records sharing an id, the latest modified is
// kept, then the smallest content ID, whatever the order they come in;
// each such id is listed once as superseded.
func TestBuildDuplicates(t *testing.T) {
	rec := func(mod, summary string) []byte {
		return fmt.Appendf(nil, `{"id":"D-1","modified":"%s","summary":"%s","affected":[{"package":{"ecosystem":"npm","name":"a"}}]}`, mod, summary)
	}
	a, b, c := rec("2026-01-01T00:00:00Z", "old"), rec("2026-02-01T00:00:00Z", "x"), rec("2026-02-01T00:00:00Z", "y")
	ca, _ := canon.Transform(b)
	cb, _ := canon.Transform(c)
	keep := "x"
	if canon.ContentID(cb) < canon.ContentID(ca) {
		keep = "y"
	}
	other := []byte(`{"id":"E-1","modified":"2026-01-01T00:00:00Z","affected":[{"package":{"ecosystem":"npm","name":"a"}}]}`)
	var first []byte
	for oi, order := range [][][]byte{{a, b, c, other}, {c, other, b, a}, {other, b, a, c, b}} {
		var srcs []Source
		for i, d := range order {
			srcs = append(srcs, Source{Name: fmt.Sprintf("%d.json", i), Data: d})
		}
		out, err := Build(srcs, BuildOptions{})
		if err != nil {
			t.Fatal(err)
		}
		s, err := Open(out)
		if err != nil {
			t.Fatal(err)
		}
		recs, _ := s.Lookup("npm", "a")
		if len(recs) != 2 || recs[0].ID != "D-1" || recs[0].Summary != keep || !cmp.Equal(s.Meta().Superseded, []string{"D-1"}) {
			t.Errorf("order %d: %d records, kept %q, superseded %v; want 2, %q, [D-1]", oi, len(recs), recs[0].Summary, s.Meta().Superseded, keep)
		}
		if first == nil {
			first = out
		} else if !bytes.Equal(out, first) {
			t.Error("the order of duplicates changed the snapshot")
		}
	}
}
