package feed

import (
	"errors"
	"slices"
	"strings"
	"sync"

	"github.com/google/osv-scalibr/semantic"
	"github.com/stella-ops/stella-oras/internal/osvname"
)

// Reason codes from matching, recorded on findings and unknowns.
const (
	// ReasonGitRangeOnly: the advisory describes the package only by GIT
	// commit ranges, which a package version cannot be placed in.
	ReasonGitRangeOnly = "GIT_RANGE_ONLY"
	// ReasonRangeInvalid: a range has no introduced event, or an event
	// version the ecosystem cannot parse.
	ReasonRangeInvalid = "RANGE_INVALID"
	// ReasonReleaseUnknown: the component does not say which distribution
	// release it comes from; advisories for every release were applied.
	ReasonReleaseUnknown = "DISTRO_RELEASE_UNKNOWN"
	// ReasonMatchVersionList / ReasonMatchRange say how a finding matched.
	ReasonMatchVersionList = "MATCH_VERSION_LIST"
	ReasonMatchRange       = "MATCH_RANGE"
)

// Outcome is the result of matching one affected entry against a version.
type Outcome struct {
	Affected bool
	// Reasons says how the match was made, or why it is uncertain.
	Reasons []string
	// Uncertain is set when the entry could not be evaluated (GIT-only
	// ranges, invalid ranges): the component is then an unknown for this
	// advisory unless another entry matches it.
	Uncertain bool
	Fixed     []string
}

// ReleaseMatches says whether an advisory's ecosystem (with release suffix)
// applies to a component's. A component without a release matches every
// release, flagged with ReasonReleaseUnknown.
func ReleaseMatches(advisory, component string) (ok, releaseUnknown bool) {
	if osvname.BaseEcosystem(advisory) != osvname.BaseEcosystem(component) {
		return false, false
	}
	ar, cr := osvname.Release(advisory), osvname.Release(component)
	if ar == "" {
		return true, false
	}
	if cr == "" {
		return true, true
	}
	if ar == cr {
		return true, false
	}
	// "Ubuntu:Pro:22.04:LTS", "Ubuntu:22.04:LTS" name the release among
	// other qualifiers.
	return slices.Contains(strings.Split(ar, ":"), cr), false
}

// MatchAffected evaluates one affected entry for a component version with
// OSV's semantics (https://ossf.github.io/osv-schema/#evaluation): the
// version is affected when it is listed in `versions`, or falls in any
// SEMVER or ECOSYSTEM range.
func MatchAffected(a *Affected, ecosystem, version string) Outcome {
	return matchAffected(a, ecosystem, version, nil)
}

// MatchAffected is MatchAffected with the snapshot's cache of parsed
// versions: the same event versions recur across components and records.
func (s *Snapshot) MatchAffected(a *Affected, ecosystem, version string) Outcome {
	return matchAffected(a, ecosystem, version, &s.versions)
}

// MatchListed evaluates one affected entry for a version that its
// ecosystem's grammar cannot parse. Such a version cannot be placed in any
// range, but `versions` is an enumeration of exact version strings
// (https://ossf.github.io/osv-schema/#affectedversions-field), so a version
// listed there verbatim is affected (ReasonMatchVersionList). Nothing else
// is: ranges are not consulted and nothing is uncertain here, because the
// component is already an unknown for its version. Fixed holds the fixed
// events of the entry's SEMVER and ECOSYSTEM ranges as written.
func MatchListed(a *Affected, version string) Outcome {
	var o Outcome
	if !slices.Contains(a.Versions, version) {
		return o
	}
	o.Affected = true
	o.Reasons = []string{ReasonMatchVersionList}
	for _, r := range a.Ranges {
		if r.Type == RangeGit {
			continue // commit hashes, not versions
		}
		for _, e := range r.Events {
			if e.Fixed != "" {
				o.Fixed = append(o.Fixed, e.Fixed)
			}
		}
	}
	return o
}

// versionKey identifies a parsed version.
type versionKey struct{ rangeType, ecosystem, version string }

type parsed struct {
	v   semantic.Version
	err error
}

func matchAffected(a *Affected, ecosystem, version string, cache *sync.Map) Outcome {
	var o Outcome
	if slices.Contains(a.Versions, version) {
		o.Affected = true
		o.Reasons = append(o.Reasons, ReasonMatchVersionList)
	}
	onlyGit := len(a.Ranges) > 0 && len(a.Versions) == 0
	for i := range a.Ranges {
		r := &a.Ranges[i]
		if r.Type == RangeGit {
			continue
		}
		onlyGit = false
		v, err := parseAs(version, r.Type, ecosystem, cache)
		if err != nil {
			// The component's version was checked at SBOM ingest against its
			// ecosystem; a SEMVER range may still not read it.
			o.Uncertain = o.Uncertain || !o.Affected
			o.Reasons = append(o.Reasons, ReasonRangeInvalid)
			continue
		}
		in, fixed, ok := inRange(v, r, ecosystem, cache)
		if !ok {
			o.Uncertain = o.Uncertain || !o.Affected
			o.Reasons = append(o.Reasons, ReasonRangeInvalid)
			continue
		}
		o.Fixed = append(o.Fixed, fixed...)
		if in && !o.Affected {
			o.Affected = true
			o.Reasons = append(o.Reasons, ReasonMatchRange)
		}
	}
	if onlyGit && !o.Affected {
		o.Uncertain = true
		o.Reasons = append(o.Reasons, ReasonGitRangeOnly)
	}
	if o.Affected {
		o.Uncertain = false
	}
	return o
}

type event struct {
	kind int // 0 introduced, 1 fixed, 2 last_affected, 3 limit
	raw  string
	v    semantic.Version // nil for introduced "0"
}

// inRange applies the OSV range algorithm: events sorted by version; an
// introduced event at or below v opens the range, a fixed event at or below
// v closes it, a last_affected event below v closes it; limit events bound
// the whole range from above. ok is false when the range is malformed.
func inRange(v semantic.Version, r *Range, ecosystem string, cache *sync.Map) (in bool, fixed []string, ok bool) {
	evs := make([]event, 0, len(r.Events))
	hasIntro := false
	var limits []event
	for _, e := range r.Events {
		var ev event
		switch {
		case e.Introduced != "":
			ev = event{kind: 0, raw: e.Introduced}
			hasIntro = true
		case e.Fixed != "":
			ev = event{kind: 1, raw: e.Fixed}
			fixed = append(fixed, e.Fixed)
		case e.LastAffected != "":
			ev = event{kind: 2, raw: e.LastAffected}
		case e.Limit != "":
			ev = event{kind: 3, raw: e.Limit}
		default:
			continue
		}
		if !(ev.kind == 0 && ev.raw == "0") && !(ev.kind == 3 && ev.raw == "*") {
			pv, err := parseAs(ev.raw, r.Type, ecosystem, cache)
			if err != nil {
				return false, fixed, false
			}
			ev.v = pv
		}
		if ev.kind == 3 {
			limits = append(limits, ev)
			continue
		}
		evs = append(evs, ev)
	}
	if !hasIntro {
		return false, fixed, false
	}
	slices.SortStableFunc(evs, func(a, b event) int {
		switch {
		case a.v == nil && b.v == nil:
			return 0
		case a.v == nil:
			return -1
		case b.v == nil:
			return 1
		}
		c, _ := a.v.Compare(b.v)
		return c
	})
	for _, e := range evs {
		switch e.kind {
		case 0:
			if e.v == nil || compareV(v, e.v) >= 0 {
				in = true
			}
		case 1:
			if compareV(v, e.v) >= 0 {
				in = false
			}
		case 2:
			if compareV(v, e.v) > 0 {
				in = false
			}
		}
	}
	if in && len(limits) > 0 {
		below := false
		for _, l := range limits {
			if l.v == nil || compareV(v, l.v) < 0 {
				below = true
			}
		}
		in = below
	}
	return in, fixed, true
}

func parseAs(s, rangeType, ecosystem string, cache *sync.Map) (semantic.Version, error) {
	if cache == nil {
		return parseVersion(s, rangeType, ecosystem)
	}
	if rangeType == RangeSemver {
		ecosystem = "" // one SemVer order for every ecosystem
	}
	k := versionKey{rangeType, ecosystem, s}
	if p, ok := cache.Load(k); ok {
		return p.(parsed).v, p.(parsed).err
	}
	v, err := parseVersion(s, rangeType, ecosystem)
	cache.Store(k, parsed{v, err})
	return v, err
}

func parseVersion(s, rangeType, ecosystem string) (semantic.Version, error) {
	if rangeType == RangeSemver {
		s = strings.TrimPrefix(s, "v")
		if why := osvname.CheckVersion("Go", s); why != "" {
			return nil, errors.New(why)
		}
		// SEMVER ranges compare as SemVer 2.0 whatever the ecosystem; Go's
		// ecosystem is plain semver (without the leading "v").
		return semantic.Parse(strings.TrimPrefix(s, "v"), "Go")
	}
	if why := osvname.CheckVersion(ecosystem, s); why != "" {
		return nil, errors.New(why)
	}
	return semantic.Parse(s, ecosystem)
}

func compareV(a, b semantic.Version) int {
	c, err := a.Compare(b)
	if err != nil {
		return 0
	}
	return c
}
