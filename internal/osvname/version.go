package osvname

import (
	"fmt"
	"regexp"
	"strings"
	"sync"

	"golang.org/x/mod/semver"

	"github.com/google/osv-scalibr/semantic"
)

// Version validity. osv-scalibr's semantic parsers are built to compare and
// accept almost any string ("junk" is a valid Maven version, "abc" a valid
// Debian one), so they cannot tell a component whose version is garbage.
// These patterns are each ecosystem's own grammar, written here because no
// maintained Go library validates all of them; comparison stays with
// semantic. Each is compiled on first use: a process that checks no
// version (the cache-hit evaluate, `version`) does not pay for it.
var versionGrammar = map[string]func() *regexp.Regexp{
	// PEP 440 appendix B, VERSION_PATTERN (case-insensitive).
	"PyPI": lazyRegexp(`(?i)^v?(?:(?:[0-9]+)!)?(?:[0-9]+(?:\.[0-9]+)*)(?:[-_\.]?(?:a|b|c|rc|alpha|beta|pre|preview)[-_\.]?(?:[0-9]+)?)?(?:(?:-(?:[0-9]+))|(?:[-_\.]?(?:post|rev|r)[-_\.]?(?:[0-9]+)?))?(?:[-_\.]?(?:dev)[-_\.]?(?:[0-9]+)?)?(?:\+(?:[a-z0-9]+(?:[-_\.][a-z0-9]+)*))?$`),
	// Debian Policy 5.6.12: [epoch:]upstream_version[-debian_revision];
	// upstream starts with a digit.
	"Debian": lazyRegexp(`^(?:[0-9]+:)?[0-9][A-Za-z0-9.+~:-]*$`),
	// apk-tools version grammar: digits and dots, optional letter, suffixes,
	// optional ~hash, optional -rN.
	"Alpine": lazyRegexp(`^[0-9]+(?:\.[0-9]+)*[a-z]?(?:_(?:alpha|beta|pre|rc|cvs|svn|git|hg|p)[0-9]*)*(?:~[0-9a-f]+)?(?:-r[0-9]+)?$`),
	// RPM: [epoch:]version[-release], version and release from
	// alphanumerics and . _ + ~ ^.
	"RPM": lazyRegexp(`^(?:[0-9]+:)?[A-Za-z0-9._+~^]+(?:-[A-Za-z0-9._+~^]+)?$`),
	// Gem::Version::VERSION_PATTERN.
	"RubyGems": lazyRegexp(`^[0-9]+(?:\.[0-9a-zA-Z]+)*(?:-[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*)?$`),
	// NuGet: up to four numeric parts, SemVer 2 pre-release and metadata.
	"NuGet": lazyRegexp(`^[0-9]+(?:\.[0-9]+){0,3}(?:-[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*)?(?:\+[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*)?$`),
	// Composer's version parser: numeric versions with stability suffixes,
	// or dev-<branch>.
	"Packagist": lazyRegexp(`(?i)^(?:v?[0-9]+(?:\.[0-9]+){0,3}(?:[-.]?(?:stable|beta|b|rc|alpha|a|patch|pl|p|dev)(?:[.-]?[0-9]+)*)?(?:-dev)?|dev-\S+)$`),
	// Maven accepts any token; only whitespace and emptiness are refused.
	"Maven": lazyRegexp(`^\S+$`),
}

// lazyRegexp compiles pattern once, when first asked.
func lazyRegexp(pattern string) func() *regexp.Regexp {
	return sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(pattern) })
}

var grammarOf = map[string]string{
	"Go": "semver", "npm": "semver", "crates.io": "semver", "Hex": "semver", "Pub": "semver",
	"SwiftURL": "semver", "Bitnami": "semver",
	"PyPI": "PyPI", "Debian": "Debian", "Ubuntu": "Debian",
	"Alpine": "Alpine", "Wolfi": "Alpine", "Chainguard": "Alpine",
	"Red Hat": "RPM", "Rocky Linux": "RPM", "AlmaLinux": "RPM", "SUSE": "RPM", "openSUSE": "RPM",
	"openEuler": "RPM", "Mageia": "RPM",
	"RubyGems": "RubyGems", "NuGet": "NuGet", "Packagist": "Packagist", "Maven": "Maven",
}

// IsSemVer reports whether v is a full SemVer 2.0.0 version (no "v", all
// three numbers), with golang.org/x/mod/semver doing the parsing: it is
// strict about numbers and pre-release identifiers and much faster than a
// regular expression, but accepts "v1.2" shorthands, refused here.
func IsSemVer(v string) bool {
	if v == "" || v[0] == 'v' {
		return false
	}
	c := semver.Canonical("v" + v) // strips +build, expands shorthands
	if c == "" {
		return false
	}
	rest, ok := strings.CutPrefix("v"+v, c)
	return ok && (rest == "" || rest[0] == '+')
}

// CheckVersion reports why a version is not valid in its ecosystem, or "".
func CheckVersion(ecosystem, v string) string {
	base := BaseEcosystem(ecosystem)
	if g, ok := grammarOf[base]; ok {
		if g == "semver" {
			if !IsSemVer(v) {
				return fmt.Sprintf("%q is not a valid %s version", v, base)
			}
		} else if !versionGrammar[g]().MatchString(v) {
			return fmt.Sprintf("%q is not a valid %s version", v, base)
		}
	} else if strings.TrimSpace(v) != v || v == "" {
		return fmt.Sprintf("%q is not a valid %s version", v, base)
	}
	if _, err := semantic.Parse(v, ecosystem); err != nil {
		return fmt.Sprintf("%s version %q: %v", base, v, err)
	}
	return ""
}
