package delta

import (
	"os"
	"testing"

	"github.com/stella-ops/stella-oras/artifacts"
)

// BenchmarkDelta is `stella-oras delta` of the two bench verdicts after
// the files are read (bench/out/base-10000.json and dec-10000.json, made by
// `RUNS=1 bench/decisions.sh`), by step: decode both (scan, check the
// canonical form, hash), compare, serialize; and all three. The whole
// process adds start-up, mapping the files and writing the result.
func BenchmarkDelta(b *testing.B) {
	var docs [2][]byte
	for i, p := range []string{"../../bench/out/base-10000.json", "../../bench/out/dec-10000.json"} {
		var err error
		if docs[i], err = os.ReadFile(p); err != nil {
			b.Skipf("%v (RUNS=1 bench/decisions.sh makes it)", err)
		}
	}
	decode := func(b *testing.B) (vs [2]*artifacts.Verdict, ids [2]string) {
		for i, doc := range docs {
			var err error
			if vs[i], ids[i], err = Decode(doc); err != nil {
				b.Fatal(err)
			}
		}
		return vs, ids
	}
	vs, ids := decode(b)
	d := Compute(vs[0], vs[1], ids[0], ids[1])
	b.Run("decode", func(b *testing.B) {
		b.SetBytes(int64(len(docs[0]) + len(docs[1])))
		for b.Loop() {
			decode(b)
		}
	})
	b.Run("compute", func(b *testing.B) {
		for b.Loop() {
			Compute(vs[0], vs[1], ids[0], ids[1])
		}
	})
	b.Run("marshal", func(b *testing.B) {
		for b.Loop() {
			if _, _, err := MarshalID(d); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("all", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			vs, ids := decode(b)
			if _, _, err := MarshalID(Compute(vs[0], vs[1], ids[0], ids[1])); err != nil {
				b.Fatal(err)
			}
		}
	})
}
