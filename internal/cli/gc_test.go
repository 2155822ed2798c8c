package cli

import (
	"runtime/debug"
	"testing"
)

// TestLessGC: a mirror collects less often (GOGC=400, a 512 MiB soft
// limit) unless the user chose GOGC or GOMEMLIMIT, which are then kept.
func TestLessGC(t *testing.T) {
	pct, limit := debug.SetGCPercent(100), debug.SetMemoryLimit(-1)
	t.Cleanup(func() { debug.SetGCPercent(pct); debug.SetMemoryLimit(limit) })
	for _, tc := range []struct {
		gogc, memlimit string
		pct            int
		limit          int64
	}{
		{"", "", 400, 512 << 20},
		{"100", "", 100, limit},
		{"", "1GiB", 100, limit},
	} {
		t.Setenv("GOGC", tc.gogc)
		t.Setenv("GOMEMLIMIT", tc.memlimit)
		debug.SetGCPercent(100)
		debug.SetMemoryLimit(limit)
		lessGC()
		if got := debug.SetGCPercent(100); got != tc.pct {
			t.Errorf("GOGC=%q GOMEMLIMIT=%q: GC percent %d, want %d", tc.gogc, tc.memlimit, got, tc.pct)
		}
		if got := debug.SetMemoryLimit(-1); got != tc.limit {
			t.Errorf("GOGC=%q GOMEMLIMIT=%q: memory limit %d, want %d", tc.gogc, tc.memlimit, got, tc.limit)
		}
	}
}
