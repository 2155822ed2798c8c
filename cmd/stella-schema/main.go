// Command stella-schema validates a document (on stdin) against a JSON
// schema: `stella-schema DIR FILE`, FILE relative to DIR. It exits 0 when
// the document validates, 3 with the first violation on stdout when it does
// not, and 1 with the reason on stderr when it cannot check.
//
// stella-oras runs it for `eval --strict` and `evaluate --strict`: the JSON
// Schema library compiles its metaschemas when the program starts (about
// 7–10 ms), which every stella-oras command would otherwise pay.
package main

import (
	"errors"
	"fmt"
	"io"
	"math"
	"os"

	"github.com/stella-ops/stella-oras/internal/schema"
)

// maxDocument bounds the document read from stdin: 4 GiB, far above
// stella-oras's own SBOM bound (256 MiB unless --max-sbom-bytes says
// otherwise), or on a 32-bit platform the most a slice can hold (4 GiB
// does not fit its int: the command did not compile there).
const maxDocument = min(4<<30, math.MaxInt)

func main() {
	if len(os.Args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: stella-schema DIR FILE < document.json")
		os.Exit(2)
	}
	data, err := io.ReadAll(io.LimitReader(os.Stdin, maxDocument+1))
	if err == nil && len(data) > maxDocument {
		err = fmt.Errorf("document larger than %d bytes", maxDocument)
	}
	if err == nil {
		err = schema.Validate(os.Args[1], os.Args[2], data)
	}
	var inv *schema.Invalid
	switch {
	case err == nil:
		os.Exit(0)
	case errors.As(err, &inv):
		fmt.Println(inv.Problem)
		os.Exit(3)
	default:
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
