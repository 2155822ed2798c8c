// Package osvname holds the naming rules OSV uses for packages, shared by the
// SBOM reader and the feed index so that both sides of a match agree.
package osvname

import "strings"

// PEP503 normalizes a Python distribution name as PEP 503 does: lower case,
// runs of "-", "_" and "." become a single "-".
func PEP503(s string) string {
	var b strings.Builder
	sep := false
	for _, c := range strings.ToLower(s) {
		if c == '-' || c == '_' || c == '.' {
			sep = true
			continue
		}
		if sep && b.Len() > 0 {
			b.WriteByte('-')
		}
		sep = false
		b.WriteRune(c)
	}
	return b.String()
}

// BaseEcosystem strips the release suffix: "Debian:11" -> "Debian".
func BaseEcosystem(eco string) string {
	if i := strings.IndexByte(eco, ':'); i >= 0 {
		return eco[:i]
	}
	return eco
}

// Release is the suffix after the first ":", or "".
func Release(eco string) string {
	if i := strings.IndexByte(eco, ':'); i >= 0 {
		return eco[i+1:]
	}
	return ""
}

// Key is the index key of a package: base ecosystem and the name as the
// ecosystem compares names.
func Key(eco, name string) string {
	base := BaseEcosystem(eco)
	if base == "PyPI" {
		name = PEP503(name)
	}
	return base + "\x00" + name
}
