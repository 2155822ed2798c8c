package canon_test

import (
	"fmt"

	"github.com/stella-ops/stella-oras/canon"
)

// A Reader reads the members it needs and skips the rest, checking the
// canonical form of the whole document in the same pass.
func ExampleReader() {
	for _, doc := range []string{`{"kind":"verdict","n":[1,2.5,"x"]}`, `{"n":[1,2.50],"kind":"verdict"}`} {
		in := []byte(doc)
		r := canon.NewReader(in, canon.Options{})
		kind := ""
		end, ok := r.Object(0, func(key []byte, _ bool, v int) (int, bool) {
			if string(key) == "kind" {
				end, _, ok := r.String(v)
				if ok {
					kind = string(in[v+1 : end-1])
				}
				return end, ok
			}
			return r.Skip(v)
		})
		fmt.Printf("%s: canonical %v, kind %q\n", doc, ok && end == len(in), kind)
	}
	// Output:
	// {"kind":"verdict","n":[1,2.5,"x"]}: canonical true, kind "verdict"
	// {"n":[1,2.50],"kind":"verdict"}: canonical false, kind ""
}
