package sbom

import (
	"strings"

	packageurl "github.com/package-url/packageurl-go"
	"github.com/stella-ops/stella-oras/internal/osvname"
)

// Reason codes for components that cannot be judged. They are part of the
// verdict format: never rename one, only add.
const (
	ReasonNoPurl               = "NO_PURL"
	ReasonPurlInvalid          = "PURL_INVALID"
	ReasonVersionMissing       = "VERSION_MISSING"
	ReasonVersionUnparseable   = "VERSION_UNPARSEABLE"
	ReasonEcosystemUnsupported = "ECOSYSTEM_UNSUPPORTED"
)

// purlEcosystem maps a purl type to its OSV ecosystem name
// (https://ossf.github.io/osv-schema/#affectedpackage-field). deb, apk, rpm
// and golang need more than the type and are handled in resolve.
var purlEcosystem = map[string]string{
	"npm":          "npm",
	"pypi":         "PyPI",
	"maven":        "Maven",
	"cargo":        "crates.io",
	"gem":          "RubyGems",
	"nuget":        "NuGet",
	"composer":     "Packagist",
	"hex":          "Hex",
	"pub":          "Pub",
	"swift":        "SwiftURL",
	"cran":         "CRAN",
	"conan":        "ConanCenter",
	"bitnami":      "Bitnami",
	"hackage":      "Hackage",
	"julia":        "Julia",
	"bioconductor": "Bioconductor",
}

// rpmVendors maps the namespace of a pkg:rpm purl to its OSV ecosystem.
var rpmVendors = map[string]string{
	"redhat":      "Red Hat",
	"rocky":       "Rocky Linux",
	"rocky-linux": "Rocky Linux",
	"almalinux":   "AlmaLinux",
	"alma":        "AlmaLinux",
	"suse":        "SUSE",
	"sles":        "SUSE",
	"opensuse":    "openSUSE",
	"openeuler":   "openEuler",
	"mageia":      "Mageia",
}

// resolved is what a purl says about a package in OSV terms.
type resolved struct {
	purl      string // normalized purl string
	ecosystem string // OSV ecosystem, possibly with a ":release" suffix
	name      string // OSV package name
	version   string // version as the ecosystem writes it
}

// resolve parses and normalizes a purl and maps it onto OSV's naming. The
// returned reason is empty on success.
func resolve(raw string) (resolved, string, string) {
	p, err := packageurl.FromString(raw)
	if err != nil {
		return resolved{purl: raw}, ReasonPurlInvalid, err.Error()
	}
	r := resolved{purl: p.ToString(), version: p.Version}
	q := p.Qualifiers.Map()
	switch p.Type {
	case "golang":
		r.ecosystem = "Go"
		r.name = joinNS(p.Namespace, p.Name, "/")
		if r.name == "stdlib" || r.name == "go" || r.name == "toolchain" {
			r.name = "stdlib"
			r.version = strings.TrimPrefix(r.version, "go")
		}
		r.version = strings.TrimPrefix(r.version, "v")
	case "npm":
		r.ecosystem = "npm"
		r.name = joinNS(p.Namespace, p.Name, "/")
	case "pypi":
		r.ecosystem = "PyPI"
		r.name = osvname.PEP503(p.Name)
	case "maven":
		r.ecosystem = "Maven"
		r.name = joinNS(p.Namespace, p.Name, ":")
	case "composer":
		r.ecosystem = "Packagist"
		r.name = joinNS(p.Namespace, p.Name, "/")
	case "swift":
		r.ecosystem = "SwiftURL"
		r.name = joinNS(p.Namespace, p.Name, "/")
	case "deb":
		vendor, release := distro(q["distro"], p.Namespace)
		switch vendor {
		case "debian":
			r.ecosystem = withRelease("Debian", majorOnly(release))
		case "ubuntu":
			r.ecosystem = withRelease("Ubuntu", release)
		default:
			return r, ReasonEcosystemUnsupported, "deb namespace " + quoteOr(p.Namespace)
		}
		r.name = sourceName(p.Name, q["upstream"])
		r.version = withEpoch(p.Version, q["epoch"])
	case "apk", "alpine":
		vendor, release := distro(q["distro"], p.Namespace)
		switch vendor {
		case "alpine", "":
			r.ecosystem = withRelease("Alpine", alpineRelease(release))
		case "wolfi":
			r.ecosystem = "Wolfi"
		case "chainguard":
			r.ecosystem = "Chainguard"
		default:
			return r, ReasonEcosystemUnsupported, "apk namespace " + quoteOr(p.Namespace)
		}
		r.name = sourceName(p.Name, q["upstream"])
	case "rpm":
		eco, ok := rpmVendors[strings.ToLower(p.Namespace)]
		if !ok {
			return r, ReasonEcosystemUnsupported, "rpm namespace " + quoteOr(p.Namespace) + " has no OSV ecosystem"
		}
		r.ecosystem = eco
		r.name = p.Name
		r.version = withEpoch(p.Version, q["epoch"])
	default:
		eco, ok := purlEcosystem[p.Type]
		if !ok {
			return r, ReasonEcosystemUnsupported, "purl type " + quoteOr(p.Type) + " has no OSV ecosystem"
		}
		r.ecosystem = eco
		r.name = p.Name
	}
	if r.version == "" {
		return r, ReasonVersionMissing, "purl has no version"
	}
	return r, "", ""
}

func quoteOr(s string) string {
	if s == "" {
		return `""`
	}
	return s
}

func joinNS(ns, name, sep string) string {
	if ns == "" {
		return name
	}
	return ns + sep + name
}

// distro splits a purl distro qualifier ("debian-11", "alpine-3.16.2",
// "ubuntu-22.04") into vendor and release; the namespace names the vendor
// when the qualifier does not.
func distro(qual, ns string) (vendor, release string) {
	vendor = strings.ToLower(ns)
	if qual == "" {
		return vendor, ""
	}
	if i := strings.IndexByte(qual, '-'); i > 0 {
		v := strings.ToLower(qual[:i])
		if v == vendor || vendor == "" {
			return v, qual[i+1:]
		}
	}
	// A bare codename or number ("bookworm", "12").
	return vendor, qual
}

var debianCodenames = map[string]string{
	"buster": "10", "bullseye": "11", "bookworm": "12", "trixie": "13", "forky": "14",
	"stretch": "9", "jessie": "8", "wheezy": "7",
}

func majorOnly(rel string) string {
	if n, ok := debianCodenames[rel]; ok {
		return n
	}
	if i := strings.IndexByte(rel, '.'); i > 0 {
		return rel[:i]
	}
	return rel
}

func alpineRelease(rel string) string {
	rel = strings.TrimPrefix(rel, "v")
	parts := strings.SplitN(rel, ".", 3)
	if len(parts) < 2 {
		return ""
	}
	return "v" + parts[0] + "." + parts[1]
}

func withRelease(eco, rel string) string {
	if rel == "" {
		return eco
	}
	return eco + ":" + rel
}

// sourceName prefers the source package from the upstream qualifier
// ("glibc@2.36" or "glibc"), because distribution advisories name source
// packages.
func sourceName(name, upstream string) string {
	if upstream == "" {
		return name
	}
	if i := strings.IndexAny(upstream, "@ "); i > 0 {
		upstream = upstream[:i]
	}
	return upstream
}

func withEpoch(v, epoch string) string {
	if epoch == "" || epoch == "0" || v == "" || strings.Contains(v, ":") {
		return v
	}
	return epoch + ":" + v
}
