// Package canon implements RFC 8785 (JSON Canonicalization Scheme, JCS)
// canonical JSON, optionally with Unicode NFC normalization of every string,
// and content IDs ("sha256:<hex>" of the canonical bytes).
//
// The canonicalizer is written here rather than taken from a library
// (github.com/gowebpki/jcs, cyberphone's reference code) for three reasons
// the libraries do not meet: it must reject what I-JSON (RFC 7493) forbids
// (duplicate keys, invalid UTF-8, lone surrogates, numbers outside IEEE-754
// double range) with the byte offset of the problem; it must optionally NFC
// normalize strings (DESIGN.md); and it must be fast (a single pass over the
// input, no intermediate tree, ≥150 MB/s on a 10 MB SBOM).
//
// IsCanonical and Reader check that a document already is in canonical
// form, without writing it, so that documents written canonical (every
// document stella-oras writes) are read and hashed as they are.
//
// canon is pure: no I/O beyond the byte slices it is given, no clock, no
// environment, and its output never depends on map iteration order.
package canon
