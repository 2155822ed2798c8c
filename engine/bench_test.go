package engine_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/stella-ops/stella-oras/artifacts"
	"github.com/stella-ops/stella-oras/canon"
	"github.com/stella-ops/stella-oras/engine"
	"github.com/stella-ops/stella-oras/engine/delta"
	"github.com/stella-ops/stella-oras/engine/policy"
	"github.com/stella-ops/stella-oras/engine/reach"
	"github.com/stella-ops/stella-oras/engine/vex"
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
	snap, err := load.Feed(context.Background(), filepath.Join(out, "osv"), load.FeedOptions{})
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

// benchInputs reads the SBOM and opens the snapshot, as eval does.
func benchInputs(b *testing.B, sbomPath, snapPath string) *engine.Inputs {
	b.Helper()
	s, err := load.SBOM(sbomPath, load.SBOMOptions{})
	if err != nil {
		b.Fatal(err)
	}
	snap, err := load.FeedSnapshot(context.Background(), snapPath)
	if err != nil {
		b.Fatal(err)
	}
	return &engine.Inputs{SBOM: s, Feed: snap}
}

// BenchmarkEval measures what `stella-oras eval` does with a built snapshot:
// read and normalize the SBOM, open the snapshot, match, and serialize the
// canonical verdict.
func BenchmarkEval(b *testing.B) {
	for _, n := range []int{10000, 20000} {
		sbomPath, snapPath := benchData(b, n)
		b.Run(itoa(n), func(b *testing.B) {
			for b.Loop() {
				in := benchInputs(b, sbomPath, snapPath)
				_, v, err := engine.Evaluate(in)
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

// BenchmarkDecisions is the #5 benchmark: the 10,000-component scan plus
// 200 VEX documents (10,000 statements), a 10,000-node reach graph and the
// strict example policy with an environment budget — everything `eval`
// does, from reading the files to the canonical verdict.
func BenchmarkDecisions(b *testing.B) {
	sbomPath, snapPath := benchData(b, 10000)
	dir := filepath.Dir(sbomPath)
	_, v, err := engine.Evaluate(benchInputs(b, sbomPath, snapPath))
	if err != nil {
		b.Fatal(err)
	}
	vb, err := canon.Marshal(v)
	if err != nil {
		b.Fatal(err)
	}
	vpath := filepath.Join(dir, "verdict.json")
	os.WriteFile(vpath, vb, 0o644)
	cmd := exec.Command("go", "run", "./bench/gendec", "-verdict", vpath, "-sbom", sbomPath, "-out", filepath.Join(dir, "dec"))
	cmd.Dir = testutil.RepoRoot()
	if o, err := cmd.CombinedOutput(); err != nil {
		b.Fatalf("gendec: %v\n%s", err, o)
	}
	vexFiles, _ := filepath.Glob(filepath.Join(dir, "dec/vex/*.json"))
	policyPath := filepath.Join(testutil.RepoRoot(), "examples/policies/strict-prod.yaml")
	for b.Loop() {
		in := benchInputs(b, sbomPath, snapPath)
		in.Env = "staging"
		var err error
		for _, f := range vexFiles {
			data, _ := os.ReadFile(f)
			doc, err := vex.Normalize(data)
			if err != nil {
				b.Fatal(err)
			}
			in.VEX = append(in.VEX, doc)
		}
		data, _ := os.ReadFile(filepath.Join(dir, "dec/reach-graph.json"))
		if in.Reach, err = reach.Parse(data, "graph"); err != nil {
			b.Fatal(err)
		}
		data, _ = os.ReadFile(policyPath)
		if in.Policy, err = policy.Load(data, policyPath); err != nil {
			b.Fatal(err)
		}
		_, v, err := engine.Evaluate(in)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := canon.Marshal(v); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDelta is the delta of #5's benchmark in-process: two verdicts
// of the 10,000-component SBOM (default policy, and strict-prod with
// reachability from a generated graph) read from files, decoded, compared
// and serialized — everything `stella-oras delta` does after process start.
func BenchmarkDelta(b *testing.B) {
	sbomPath, snapPath := benchData(b, 10000)
	dir := filepath.Dir(sbomPath)
	write := func(name string, in *engine.Inputs) string {
		_, v, err := engine.Evaluate(in)
		if err != nil {
			b.Fatal(err)
		}
		vb, _, err := engine.MarshalVerdict(v)
		if err != nil {
			b.Fatal(err)
		}
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, vb, 0o644); err != nil {
			b.Fatal(err)
		}
		return p
	}
	basePath := write("base.json", benchInputs(b, sbomPath, snapPath))
	head := benchInputs(b, sbomPath, snapPath)
	data, err := os.ReadFile(filepath.Join(testutil.RepoRoot(), "examples/policies/strict-prod.yaml"))
	if err != nil {
		b.Fatal(err)
	}
	if head.Policy, err = policy.Load(data, "strict-prod.yaml"); err != nil {
		b.Fatal(err)
	}
	headPath := write("head.json", head)
	read := func(p string) (*artifacts.Verdict, string) {
		var v *artifacts.Verdict
		var id string
		err := load.WithMapped(p, 1<<30, func(data []byte) error {
			var err error
			v, id, err = delta.Decode(data)
			return err
		})
		if err != nil {
			b.Fatal(err)
		}
		return v, id
	}
	for b.Loop() {
		bv, bd := read(basePath)
		hv, hd := read(headPath)
		d := delta.Compute(bv, hv, bd, hd)
		if _, _, err := delta.MarshalID(d); err != nil {
			b.Fatal(err)
		}
	}
}
