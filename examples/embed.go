// Package examples embeds the quickstart's documents (SBOM, VEX, OSV
// records, reach graph) and the example policies, so `stella-oras demo`
// runs with nothing but the binary.
package examples

import "embed"

// FS holds quickstart/ and policies/.
//
//go:embed quickstart policies
var FS embed.FS
