package canon

import (
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/gowebpki/jcs"
)

var (
	benchOnce sync.Once
	benchDoc  []byte
)

// benchSBOM builds a ~10 MB CycloneDX-shaped document with unsorted keys,
// escapes, non-ASCII text and numbers: the canon benchmark's input.
func benchSBOM() []byte {
	benchOnce.Do(func() {
		var b strings.Builder
		b.WriteString(`{"specVersion":"1.5","bomFormat":"CycloneDX","version":1,"components":[`)
		for i := 0; b.Len() < 10<<20; i++ {
			if i > 0 {
				b.WriteByte(',')
			}
			fmt.Fprintf(&b, `{"type":"library","name":"pkg-%d","version":"1.%d.%d","purl":"pkg:npm/%%40scope/pkg-%d@1.%d.%d","bom-ref":"ref-%d",`+
				`"description":"Bibliothèque \"utile\" n°%d\twith a tab","licenses":[{"license":{"id":"MIT"}}],`+
				`"hashes":[{"alg":"SHA-256","content":"%064x"}],"properties":[{"value":"%d.50","name":"score"},{"name":"weight","value":"%g"}]}`,
				i, i%50, i%7, i, i%50, i%7, i, i, i, i, float64(i)*1.25e-3)
		}
		b.WriteString(`],"metadata":{"timestamp":"2024-01-01T00:00:00Z"}}`)
		benchDoc = []byte(b.String())
	})
	return benchDoc
}

func BenchmarkCanon(b *testing.B) {
	in := benchSBOM()
	for _, bc := range []struct {
		name string
		fn   func([]byte) ([]byte, error)
	}{
		{"stella/jcs", Transform},
		{"stella/jcs+nfc", TransformNFC},
		{"gowebpki-jcs", jcs.Transform},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.SetBytes(int64(len(in)))
			for b.Loop() {
				if _, err := bc.fn(in); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func TestBenchInputAgrees(t *testing.T) {
	// The comparison is only fair if both produce the same bytes.
	in := benchSBOM()
	a, err := Transform(in)
	if err != nil {
		t.Fatal(err)
	}
	g, err := jcs.Transform(in)
	if err != nil {
		t.Fatal(err)
	}
	if string(a) != string(g) {
		t.Fatal("Transform and gowebpki/jcs disagree on the benchmark document")
	}
}
