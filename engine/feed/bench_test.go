package feed

import (
	"fmt"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/stella-ops/stella-oras/internal/testutil"
)

// synthetic returns n small generated records (a few hundred bytes each,
// indented as published feeds are, one in five with an alias), across four
// ecosystems: many records per byte, so the per-record costs show.
func synthetic(n int) []Source {
	ecos := []string{"npm", "PyPI", "Maven", "Go"}
	out := make([]Source, n)
	for i := range out {
		alias := ""
		if i%5 == 0 {
			alias = fmt.Sprintf(",\n  \"aliases\": [\"CVE-2099-%06d\"]", i/5)
		}
		out[i] = Source{Name: fmt.Sprintf("SYN-%06d.json", i), Data: fmt.Appendf(nil, `{
  "schema_version": "1.7.0",
  "id": "SYN-%06d",
  "modified": "2026-08-21T00:00:00Z"%s,
  "summary": "generated advisory %d",
  "severity": [{"type": "CVSS_V3", "score": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"}],
  "affected": [
    {
      "package": {"ecosystem": "%s", "name": "gen-pkg-%05d"},
      "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "1.%d.0"}, {"fixed": "1.%d.1"}]}]
    }
  ]
}`, i, alias, i, ecos[i%len(ecos)], i%40000, i%5, 5+i%5)}
	}
	return out
}

// BenchmarkBuild measures Build against its input: the bytes it allocates
// per source byte (alloc-B/in-B), and the largest heap seen during the
// build above what was live before it, per source byte (peak-B/in-B): what
// bounds the memory of a build of a large feed. The heap is sampled at
// each Check call (every checkInterval records) and at the end.
func BenchmarkBuild(b *testing.B) {
	b.Run("go-vulndb", func(b *testing.B) {
		benchBuild(b, sources(b, filepath.Join(testutil.Corpus(b), "osv/go-vulndb")))
	})
	b.Run("synthetic-50k", func(b *testing.B) { benchBuild(b, synthetic(50_000)) })
}

func benchBuild(b *testing.B, srcs []Source) {
	in := 0
	for _, s := range srcs {
		in += len(s.Data)
	}
	var ms runtime.MemStats
	var peak, alloc, out uint64
	opts := BuildOptions{Epoch: time.Date(2026, 8, 21, 0, 0, 0, 0, time.UTC)}
	for b.Loop() {
		b.StopTimer()
		runtime.GC()
		runtime.ReadMemStats(&ms)
		base, total := ms.HeapAlloc, ms.TotalAlloc
		high := base
		sample := func() {
			runtime.ReadMemStats(&ms)
			high = max(high, ms.HeapAlloc)
		}
		opts.Check = func() error { sample(); return nil }
		b.StartTimer()
		snap, err := Build(srcs, opts)
		b.StopTimer()
		if err != nil {
			b.Fatal(err)
		}
		sample()
		peak += high - base
		alloc += ms.TotalAlloc - total
		out = uint64(len(snap))
		b.StartTimer()
	}
	b.ReportMetric(float64(alloc)/float64(b.N)/float64(in), "alloc-B/in-B")
	b.ReportMetric(float64(peak)/float64(b.N)/float64(in), "peak-B/in-B")
	b.ReportMetric(float64(out)/float64(in), "snap-B/in-B")
	b.SetBytes(int64(in))
}
