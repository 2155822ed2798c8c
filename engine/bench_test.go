package engine_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/stella-ops/stella-oras/canon"
	"github.com/stella-ops/stella-oras/engine"
	"github.com/stella-ops/stella-oras/internal/load"
	"github.com/stella-ops/stella-oras/internal/testutil"
)

// benchData generates (once per process) the bench/ inputs: N Go components
// against ≥ 50,000 OSV records, frozen into a snapshot.
func benchData(b *testing.B, n int) (sbomPath, snapPath string) {
	b.Helper()
	out := filepath.Join(b.TempDir(), "bench")
	args := []string{"run", "./bench/gen", "-components", itoa(n), "-out", out}
	if _, err := os.Stat(testutil.CorpusDir()); err == nil {
		args = append(args, "-corpus", testutil.CorpusDir())
	}
	cmd := exec.Command("go", args...)
	cmd.Dir = testutil.RepoRoot()
	if o, err := cmd.CombinedOutput(); err != nil {
		b.Fatalf("gen: %v\n%s", err, o)
	}
	snap, err := load.Feed(filepath.Join(out, "osv"), time.Time{})
	if err != nil {
		b.Fatal(err)
	}
	snapPath = filepath.Join(out, "feed.json")
	if err := os.WriteFile(snapPath, snap.Bytes(), 0o644); err != nil {
		b.Fatal(err)
	}
	return filepath.Join(out, "sbom-"+itoa(n)+".cdx.json"), snapPath
}

func itoa(n int) string { return string(appendInt(nil, n)) }
func appendInt(b []byte, n int) []byte {
	if n >= 10 {
		b = appendInt(b, n/10)
	}
	return append(b, byte('0'+n%10))
}

// BenchmarkEval measures what `stella-oras eval` does with a built snapshot:
// read and normalize the SBOM, open the snapshot, match, and serialize the
// canonical verdict.
func BenchmarkEval(b *testing.B) {
	for _, n := range []int{10000, 20000} {
		sbomPath, snapPath := benchData(b, n)
		b.Run(itoa(n), func(b *testing.B) {
			for b.Loop() {
				s, d, err := load.SBOM(sbomPath, load.SBOMOptions{})
				if err != nil {
					b.Fatal(err)
				}
				snap, err := load.FeedSnapshot(snapPath)
				if err != nil {
					b.Fatal(err)
				}
				_, v, err := engine.Evaluate(&engine.Inputs{SBOM: s, SBOMDigest: d, Feed: snap})
				if err != nil {
					b.Fatal(err)
				}
				if _, err := canon.Marshal(v); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
