package feed

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/stella-ops/stella-oras/canon"
	"github.com/stella-ops/stella-oras/internal/testutil"
)

func sources(t testing.TB, dir string) []Source {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil || len(paths) == 0 {
		t.Fatalf("no records in %s: %v", dir, err)
	}
	var out []Source
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, Source{Name: p, Data: b})
	}
	return out
}

func quickstart(t *testing.T) []Source {
	return sources(t, filepath.Join(testutil.RepoRoot(), "examples/quickstart/osv"))
}

func TestBuild(t *testing.T) {
	b, err := Build(quickstart(t), BuildOptions{})
	if err != nil {
		t.Fatal(err)
	}
	c, err := canon.Transform(b)
	if err != nil || !bytes.Equal(c, b) {
		t.Fatalf("snapshot is not canonical JSON (err %v)", err)
	}
	s, err := Open(b)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := s.Epoch(), time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC); !got.Equal(want) {
		t.Errorf("epoch = %v, want the latest modified %v", got, want)
	}
	m := s.Meta()
	if m.RecordCount != 12 || !cmp.Equal(m.Withdrawn, []string{"EX-GO-2026-0003"}) {
		t.Errorf("records %d withdrawn %v, want 12 and [EX-GO-2026-0003]", m.RecordCount, m.Withdrawn)
	}
	recs, err := s.Lookup("Go", "example.com/webframework")
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, r := range recs {
		ids = append(ids, r.ID)
	}
	// The withdrawn record is gone; records come in snapshot order.
	if want := []string{"EX-GHSA-2026-0001", "EX-GO-2026-0001", "EX-GO-2026-0004"}; !cmp.Equal(ids, want) {
		t.Errorf("Lookup = %v, want %v", ids, want)
	}
	if got := s.Aliases("EX-GO-2026-0001"); !cmp.Equal(got, []string{"EX-CVE-2026-0001", "EX-GHSA-2026-0001", "EX-GO-2026-0001"}) {
		t.Errorf("alias group = %v", got)
	}
	// PyPI lookups normalize names.
	if r, _ := s.Lookup("PyPI", "example.lib"); len(r) != 1 {
		t.Errorf("PyPI lookup by a non-normalized name found %d records, want 1", len(r))
	}
	// Release suffixes do not split the index.
	if r, _ := s.Lookup("Debian:12", "openssl-example"); len(r) != 1 {
		t.Errorf("Debian lookup found %d records, want 1", len(r))
	}
}

// TestBuildDeterministic: source order, key order and whitespace do not
// change the snapshot bytes.
func TestBuildDeterministic(t *testing.T) {
	src := quickstart(t)
	want, err := Build(src, BuildOptions{})
	if err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(1, 2))
	for i := range 20 {
		shuffled := slices.Clone(src)
		r.Shuffle(len(shuffled), func(a, b int) { shuffled[a], shuffled[b] = shuffled[b], shuffled[a] })
		if i%2 == 1 {
			for j := range shuffled {
				shuffled[j].Data = append([]byte("\n  "), shuffled[j].Data...)
			}
		}
		got, err := Build(shuffled, BuildOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("shuffle %d changed the snapshot", i)
		}
	}
}

func TestBuildErrors(t *testing.T) {
	rec := func(s string) []Source { return []Source{{Name: "r.json", Data: []byte(s)}} }
	tests := []struct {
		name string
		src  []Source
		opts BuildOptions
		want error
	}{
		{"empty", nil, BuildOptions{}, ErrEmpty},
		{"zero epoch", rec(`{"id":"GO-1","modified":"0001-01-01T00:00:00Z"}`), BuildOptions{}, ErrNoEpoch},
		{"truncated", rec(`{"id":"X","affected":[`), BuildOptions{}, canon.ErrSyntax},
		{"duplicate key", rec(`{"id":"X","id":"Y"}`), BuildOptions{}, canon.ErrDuplicateKey},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Build(tt.src, tt.opts)
			if !errors.Is(err, tt.want) {
				t.Errorf("Build() = %v, want %v", err, tt.want)
			}
		})
	}
	// An unknown range type is refused, naming the file and JSON path.
	_, err := Build(rec(`{"id":"X-1","modified":"2026-01-01T00:00:00Z","affected":[{"package":{"ecosystem":"npm","name":"a"},"ranges":[{"type":"NEWTYPE","events":[{"introduced":"0"}]}]}]}`), BuildOptions{})
	if err == nil || !bytes.Contains([]byte(err.Error()), []byte("r.json: X-1: affected[0].ranges[0].type")) {
		t.Errorf("unknown range type: error = %v", err)
	}
	// --epoch makes the zero-time records usable.
	ep := time.Date(2026, 8, 21, 0, 0, 0, 0, time.UTC)
	b, err := Build(rec(`{"id":"GO-1","modified":"0001-01-01T00:00:00Z"}`), BuildOptions{Epoch: ep})
	if err != nil {
		t.Fatal(err)
	}
	s, err := Open(b)
	if err != nil || !s.Epoch().Equal(ep) {
		t.Errorf("epoch = %v (%v), want %v", s.Epoch(), err, ep)
	}
}

func TestOpenRejects(t *testing.T) {
	good, err := Build(quickstart(t), BuildOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for name, b := range map[string][]byte{
		"empty":     nil,
		"not json":  []byte("hello"),
		"truncated": good[:len(good)-10],
		"other doc": []byte(`{"records":[]}`),
		"grown":     append(bytes.Clone(good[:len(good)-2]), []byte(`,{}]}`)...),
	} {
		if _, err := Open(b); !errors.Is(err, ErrSnapshot) {
			t.Errorf("Open(%s) = %v, want ErrSnapshot", name, err)
		}
	}
}

// TestGoVulnDB builds the whole Go vulnerability database from the corpus:
// its records carry year-0001 times, so the epoch must be given.
func TestGoVulnDB(t *testing.T) {
	dir := testutil.Corpus(t)
	src := sources(t, filepath.Join(dir, "osv/go-vulndb"))
	if _, err := Build(src, BuildOptions{}); !errors.Is(err, ErrNoEpoch) {
		t.Fatalf("Build without epoch = %v, want ErrNoEpoch", err)
	}
	b, err := Build(src, BuildOptions{Epoch: time.Date(2026, 8, 21, 0, 0, 0, 0, time.UTC)})
	if err != nil {
		t.Fatal(err)
	}
	s, err := Open(b)
	if err != nil {
		t.Fatal(err)
	}
	m := s.Meta()
	if m.RecordCount+len(m.Withdrawn) != 4291 || len(m.Withdrawn) != 17 {
		t.Errorf("records %d + withdrawn %d, want 4274 + 17", m.RecordCount, len(m.Withdrawn))
	}
	// GO-2022-0603 (gopkg.in/yaml.v3) is one group with its CVE and GHSA.
	if g := s.Aliases("GO-2022-0603"); !slices.Contains(g, "CVE-2022-28948") {
		t.Errorf("aliases of GO-2022-0603 = %v", g)
	}
}

// TestBuildCheck: BuildOptions.Check stops a build with its error, while
// the records are read or while the snapshot is assembled, and a Check that
// never fails changes nothing.
func TestBuildCheck(t *testing.T) {
	var srcs []Source
	for i := range 3 * checkInterval {
		srcs = append(srcs, Source{Name: fmt.Sprintf("r%d.json", i), Data: fmt.Appendf(nil,
			`{"id":"X-%d","modified":"2026-01-01T00:00:00Z","affected":[{"package":{"ecosystem":"npm","name":"p%d"},"versions":["1.0.0"]}]}`, i, i)})
	}
	want, err := Build(srcs, BuildOptions{})
	if err != nil {
		t.Fatal(err)
	}
	calls := 0
	got, err := Build(srcs, BuildOptions{Check: func() error { calls++; return nil }})
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("Build with a passing Check: %v, same bytes %v", err, bytes.Equal(got, want))
	}
	stop := errors.New("stop")
	for _, after := range []int{0, 1, calls / 2, calls - 1} {
		n := 0
		_, err := Build(srcs, BuildOptions{Check: func() error {
			if n == after {
				return stop
			}
			n++
			return nil
		}})
		if !errors.Is(err, stop) {
			t.Errorf("Check failing at call %d of %d: %v, want its error", after, calls, err)
		}
	}
}

// TestSnapshotAccessorsCopy: what a snapshot's accessors return is the
// caller's: changing it changes nothing the snapshot answers next (alias
// groups, a record's ranges and versions, the index and record bytes),
// so that no caller can change a later verdict from the same snapshot.
// Before, AliasGroups, Aliases, Lookup, Index and GroupData handed out
// the snapshot's own slices and cached records.
func TestSnapshotAccessorsCopy(t *testing.T) {
	b, err := Build(quickstart(t), BuildOptions{})
	if err != nil {
		t.Fatal(err)
	}
	s, err := Open(b)
	if err != nil {
		t.Fatal(err)
	}
	const id = "EX-GO-2026-0001"
	groups, aliases := s.AliasGroups(), s.Aliases(id)
	recs, err := s.Lookup("Go", "example.com/webframework")
	if err != nil || len(recs) == 0 {
		t.Fatalf("Lookup: %d records, %v", len(recs), err)
	}
	idx, g0, meta := s.Index(), s.GroupData(0), s.Meta()
	// The answers as text, taken before anything is changed.
	wantGroups, wantAliases := fmt.Sprint(groups), fmt.Sprint(aliases)
	wantRec, wantMeta := fmt.Sprintf("%+v", *recs[0]), fmt.Sprintf("%+v", meta)
	wantIdx, wantG0 := string(idx), string(g0)
	if len(meta.Withdrawn) == 0 || len(meta.Ecosystems) == 0 {
		t.Fatalf("the quickstart feed's meta has no withdrawn record or no ecosystem: %+v", meta)
	}

	for _, g := range groups {
		for i := range g {
			g[i] = "ZZ-" + g[i]
		}
	}
	for i := range aliases {
		aliases[i] = "ZZ"
	}
	for i := range recs[0].Affected {
		a := &recs[0].Affected[i]
		a.Ranges, a.Versions = nil, append(a.Versions[:0:0], "changed")
		if len(a.Severity) > 0 {
			a.Severity[0].Score = "changed"
		}
	}
	recs[0].Aliases = append(recs[0].Aliases[:0], "changed")
	for i := range idx {
		idx[i] = ' '
	}
	for i := range g0 {
		g0[i] = ' '
	}
	meta.Withdrawn[0] = "changed"
	for k := range meta.Ecosystems {
		meta.Ecosystems[k] = -1
	}

	if got := fmt.Sprint(s.AliasGroups()); got != wantGroups {
		t.Errorf("AliasGroups = %s after changing what it returned, want %s", got, wantGroups)
	}
	if got := fmt.Sprint(s.Aliases(id)); got != wantAliases {
		t.Errorf("Aliases(%s) = %v after changing what it returned, want %v", id, got, wantAliases)
	}
	again, err := s.Lookup("Go", "example.com/webframework")
	if err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprintf("%+v", *again[0]); got != wantRec {
		t.Errorf("Lookup's record changed with what it returned:\n%s\nwant\n%s", got, wantRec)
	}
	if string(s.Index()) != wantIdx || string(s.GroupData(0)) != wantG0 {
		t.Error("Index or GroupData changed with what they returned")
	}
	if got := fmt.Sprintf("%+v", s.Meta()); got != wantMeta {
		t.Errorf("Meta = %s after changing what it returned, want %s", got, wantMeta)
	}
}

// TestBuiltIndexCopy: Built.Index is the caller's copy: changing it
// changes neither a later Index nor the snapshot written. Before, it was
// the builder's own buffer.
func TestBuiltIndexCopy(t *testing.T) {
	b := NewBuilder(BuildOptions{})
	for _, src := range quickstart(t) {
		if err := b.Add(src.Name, src.Data); err != nil {
			t.Fatal(err)
		}
	}
	built, err := b.Finish()
	if err != nil {
		t.Fatal(err)
	}
	want := string(built.Index())
	idx := built.Index()
	for i := range idx {
		idx[i] = ' '
	}
	if string(built.Index()) != want {
		t.Error("Built.Index changed with what it returned")
	}
	var out bytes.Buffer
	if _, err := built.WriteTo(&out); err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(out.Bytes(), []byte(want[:len(want)-1])) {
		t.Error("the snapshot written changed with what Built.Index returned")
	}
}
