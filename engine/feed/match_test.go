package feed

import (
	"testing"
)

func rng(typ string, evs ...Event) Range { return Range{Type: typ, Events: evs} }
func intro(v string) Event               { return Event{Introduced: v} }
func fixed(v string) Event               { return Event{Fixed: v} }
func last(v string) Event                { return Event{LastAffected: v} }
func limit(v string) Event               { return Event{Limit: v} }

func affected(eco string, versions []string, ranges ...Range) *Affected {
	a := &Affected{Versions: versions, Ranges: ranges}
	a.Package.Ecosystem = eco
	a.Package.Name = "p"
	return a
}

// TestMatchAffected follows each ecosystem's own ordering rules; the cases
// are the orderings the ecosystems document (SemVer 2.0 §11, PEP 440,
// Maven ComparableVersion, Debian Policy 5.6.12, apk-tools, rpmvercmp,
// RubyGems, NuGet SemVer 2, Composer).
func TestMatchAffected(t *testing.T) {
	tests := []struct {
		name    string
		a       *Affected
		version string
		want    bool
		unsure  bool
	}{
		// Go: SemVer, pre-releases and pseudo-versions sort below releases.
		{"go fixed boundary", affected("Go", nil, rng(RangeSemver, intro("0"), fixed("1.6.0"))), "1.6.0", false, false},
		{"go below fix", affected("Go", nil, rng(RangeSemver, intro("0"), fixed("1.6.0"))), "1.5.9", true, false},
		{"go pseudo-version", affected("Go", nil, rng(RangeSemver, intro("0"), fixed("0.0.0-20210520170846-37e1c6afe023"))), "0.0.0-20210405180319-a5a99cb37ef4", true, false},
		{"go pre-release below release", affected("Go", nil, rng(RangeSemver, intro("1.22.0-0"), fixed("1.22.1"))), "1.22.0-rc.1", true, false},
		{"go second range", affected("Go", nil, rng(RangeSemver, intro("0"), fixed("1.6.0"), intro("1.7.0"), fixed("1.7.3"))), "1.7.2", true, false},
		{"go between ranges", affected("Go", nil, rng(RangeSemver, intro("0"), fixed("1.6.0"), intro("1.7.0"), fixed("1.7.3"))), "1.6.5", false, false},
		{"semver build metadata ignored", affected("npm", nil, rng(RangeSemver, intro("1.0.0"), fixed("1.0.1"))), "1.0.0+build.7", true, false},
		// npm: 2.0.0-alpha < 2.0.0.
		{"npm pre-release", affected("npm", nil, rng(RangeSemver, intro("2.0.0"), fixed("2.4.1"))), "2.0.0-alpha", false, false},
		{"npm in range", affected("npm", nil, rng(RangeSemver, intro("2.0.0"), fixed("2.4.1"))), "2.4.0", true, false},
		// last_affected is inclusive; limit bounds from above.
		{"last_affected inclusive", affected("Maven", nil, rng(RangeEcosystem, intro("1.0"), last("1.2.5"))), "1.2.5", true, false},
		{"last_affected above", affected("Maven", nil, rng(RangeEcosystem, intro("1.0"), last("1.2.5"))), "1.2.6", false, false},
		{"limit excludes", affected("npm", nil, rng(RangeSemver, intro("0"), limit("2.0.0"))), "2.0.0", false, false},
		{"limit includes", affected("npm", nil, rng(RangeSemver, intro("0"), limit("2.0.0"))), "1.9.9", true, false},
		// Maven: 1.0-alpha < 1.0 < 1.0-sp, qualifiers ordered.
		{"maven alpha", affected("Maven", nil, rng(RangeEcosystem, intro("1.0"), fixed("1.1"))), "1.0-alpha-1", false, false},
		{"maven sp", affected("Maven", nil, rng(RangeEcosystem, intro("1.0"), fixed("1.0-sp1"))), "1.0", true, false},
		{"maven RELEASE ordering", affected("Maven", nil, rng(RangeEcosystem, intro("0"), fixed("2.12.7.1"))), "2.12.7", true, false},
		// PyPI (PEP 440): 2.0.0rc1 < 2.0.0, 1.0.post1 > 1.0, 1.0.dev0 < 1.0a1.
		{"pypi rc", affected("PyPI", nil, rng(RangeEcosystem, intro("0"), fixed("2.0.0rc1"))), "2.0.0rc1", false, false},
		{"pypi dev below alpha", affected("PyPI", nil, rng(RangeEcosystem, intro("1.0a1"), fixed("1.1"))), "1.0.dev0", false, false},
		{"pypi post", affected("PyPI", nil, rng(RangeEcosystem, intro("0"), fixed("1.0.post1"))), "1.0", true, false},
		{"pypi epoch", affected("PyPI", nil, rng(RangeEcosystem, intro("0"), fixed("2.0"))), "1!1.0", false, false},
		// crates.io: SemVer.
		{"crates versions list", affected("crates.io", []string{"0.4.0"}), "0.4.0", true, false},
		{"crates not listed", affected("crates.io", []string{"0.4.0"}), "0.4.1", false, false},
		// RubyGems: 1.0.a < 1.0.
		{"rubygems prerelease", affected("RubyGems", nil, rng(RangeEcosystem, intro("1.0"), fixed("1.1"))), "1.0.a", false, false},
		{"rubygems in", affected("RubyGems", nil, rng(RangeEcosystem, intro("1.0"), fixed("1.10"))), "1.9.3", true, false},
		// NuGet: four parts; 1.0.0.1 > 1.0.0.
		{"nuget four parts", affected("NuGet", nil, rng(RangeEcosystem, intro("0"), fixed("4.3.0.1"))), "4.3.0", true, false},
		// Packagist.
		{"packagist", affected("Packagist", nil, rng(RangeEcosystem, intro("7.0.0"), fixed("7.30.3"))), "7.12.0", true, false},
		// Debian: ~ sorts before everything; epochs dominate.
		{"debian tilde", affected("Debian:12", nil, rng(RangeEcosystem, intro("0"), fixed("3.0.11-1~deb12u2"))), "3.0.11-1~deb12u1", true, false},
		{"debian tilde fixed", affected("Debian:12", nil, rng(RangeEcosystem, intro("0"), fixed("3.0.11-1~deb12u2"))), "3.0.11-1", false, false},
		{"debian epoch", affected("Debian:12", nil, rng(RangeEcosystem, intro("0"), fixed("1:1.0-1"))), "2.0-1", true, false},
		// Alpine: -rN release numbers, _rc suffixes.
		{"alpine release", affected("Alpine:v3.19", nil, rng(RangeEcosystem, intro("0"), fixed("1.3.1-r0"))), "1.3-r2", true, false},
		{"alpine rc", affected("Alpine:v3.19", nil, rng(RangeEcosystem, intro("0"), fixed("1.3.1-r0"))), "1.3.1_rc1-r0", true, false},
		{"alpine fixed", affected("Alpine:v3.19", nil, rng(RangeEcosystem, intro("0"), fixed("1.3.1-r0"))), "1.3.1-r1", false, false},
		// RPM (Red Hat): epoch and release.
		{"rpm release", affected("Red Hat", nil, rng(RangeEcosystem, intro("0"), fixed("0:1.1.1k-12.el8_9"))), "1:1.1.1k-7.el8_6", false, false},
		{"rpm older", affected("Red Hat", nil, rng(RangeEcosystem, intro("0"), fixed("1.1.1k-12.el8_9"))), "1.1.1k-7.el8_6", true, false},
		// GIT ranges cannot place a version: unknown, unless listed.
		{"git only", affected("npm", nil, rng(RangeGit, intro("0"), fixed("abc123"))), "1.0.0", false, true},
		{"git plus versions", affected("npm", []string{"1.0.0"}, rng(RangeGit, intro("0"), fixed("abc123"))), "1.0.0", true, false},
		// A range without introduced is malformed: unknown.
		{"no introduced", affected("npm", nil, rng(RangeSemver, fixed("1.0.0"))), "0.5.0", false, true},
		// An unparseable event version is malformed: unknown.
		{"bad event", affected("PyPI", nil, rng(RangeEcosystem, intro("0"), fixed("not-a-version!"))), "1.0", false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := MatchAffected(tt.a, tt.a.Package.Ecosystem, tt.version)
			if o.Affected != tt.want || o.Uncertain != tt.unsure {
				t.Errorf("MatchAffected(%s %q) = affected %v uncertain %v (%v), want %v %v", tt.a.Package.Ecosystem, tt.version, o.Affected, o.Uncertain, o.Reasons, tt.want, tt.unsure)
			}
		})
	}
}

func TestReleaseMatches(t *testing.T) {
	tests := []struct {
		adv, comp   string
		ok, unknown bool
	}{
		{"Debian:12", "Debian:12", true, false},
		{"Debian:11", "Debian:12", false, false},
		{"Debian", "Debian:12", true, false},
		{"Debian:12", "Debian", true, true},
		{"Alpine:v3.19", "Alpine:v3.19", true, false},
		{"Ubuntu:Pro:22.04:LTS", "Ubuntu:22.04", true, false},
		{"Ubuntu:20.04:LTS", "Ubuntu:22.04", false, false},
		{"npm", "PyPI", false, false},
	}
	for _, tt := range tests {
		ok, unk := ReleaseMatches(tt.adv, tt.comp)
		if ok != tt.ok || unk != tt.unknown {
			t.Errorf("ReleaseMatches(%q, %q) = %v, %v, want %v, %v", tt.adv, tt.comp, ok, unk, tt.ok, tt.unknown)
		}
	}
}

// TestMatchListed: an unparseable version is affected exactly when the
// entry lists it verbatim; ranges never decide, and nothing is uncertain.
func TestMatchListed(t *testing.T) {
	r := rng(RangeEcosystem, intro("0"), fixed("2.0.1"))
	g := Range{Type: RangeGit, Events: []Event{intro("0"), fixed("deadbeef")}}
	tests := []struct {
		name    string
		a       *Affected
		version string
		want    bool
		fixed   []string
	}{
		{"listed", affected("PyPI", []string{"4.36.1", "4.36.-1"}, r, g), "4.36.-1", true, []string{"2.0.1"}},
		{"listed, no ranges", affected("PyPI", []string{"2.0.0-custom.1"}), "2.0.0-custom.1", true, nil},
		{"exact string, not normalized", affected("PyPI", []string{"2.0.0-Custom.1"}, r), "2.0.0-custom.1", false, nil},
		{"inside a range but not listed", affected("npm", []string{"1.0.0"}, rng(RangeSemver, intro("0"))), "1.0.0.1", false, nil},
		{"no list", affected("Go", nil, rng(RangeSemver, intro("0"))), "1.3", false, nil},
	}
	for _, tt := range tests {
		o := MatchListed(tt.a, tt.version)
		if o.Affected != tt.want || o.Uncertain {
			t.Errorf("%s: MatchListed = %+v, want affected %v, not uncertain", tt.name, o, tt.want)
		}
		if tt.want && (len(o.Reasons) != 1 || o.Reasons[0] != ReasonMatchVersionList) {
			t.Errorf("%s: reasons %v, want [%s]", tt.name, o.Reasons, ReasonMatchVersionList)
		}
		if len(o.Fixed) != len(tt.fixed) || (len(o.Fixed) > 0 && o.Fixed[0] != tt.fixed[0]) {
			t.Errorf("%s: fixed %v, want %v", tt.name, o.Fixed, tt.fixed)
		}
		// The same entry matched the usual way agrees when the version is
		// listed: a listing matches whether or not the version parses.
		if tt.want && !MatchAffected(tt.a, tt.a.Package.Ecosystem, tt.version).Affected {
			t.Errorf("%s: MatchAffected disagrees with MatchListed on a listed version", tt.name)
		}
	}
}
