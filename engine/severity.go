package engine

import (
	"encoding/json"
	"math"
	"strings"

	gocvss20 "github.com/pandatix/go-cvss/20"
	gocvss30 "github.com/pandatix/go-cvss/30"
	gocvss31 "github.com/pandatix/go-cvss/31"
	gocvss40 "github.com/pandatix/go-cvss/40"
	"github.com/stella-ops/stella-oras/engine/feed"
	"github.com/stella-ops/stella-oras/engine/policy"
)

// Severity levels (CVSS v3/v4 qualitative bands).
const (
	SeverityCritical = policy.SeverityCritical
	SeverityHigh     = policy.SeverityHigh
	SeverityMedium   = policy.SeverityMedium
	SeverityLow      = policy.SeverityLow
	SeverityNone     = policy.SeverityNone
	SeverityUnknown  = policy.SeverityUnknown
)

// Score sources, in the default order of preference.
const (
	SourceCVSSv4           = policy.SourceCVSSv4
	SourceCVSSv3           = policy.SourceCVSSv3
	SourceCVSSv2           = policy.SourceCVSSv2
	SourceDatabaseSpecific = policy.SourceDatabaseSpecific
	SourceNone             = "none"
)

// rating is one severity candidate.
type rating struct {
	source string
	score  int // tenths
	vector string
}

// band maps a score in tenths to its qualitative severity.
func band(score int) string {
	switch {
	case score < 0:
		return SeverityUnknown
	case score >= 90:
		return SeverityCritical
	case score >= 70:
		return SeverityHigh
	case score >= 40:
		return SeverityMedium
	case score >= 1:
		return SeverityLow
	}
	return SeverityNone
}

// tenths converts a CVSS score, defined with one decimal, to an integer.
func tenths(f float64) int { return int(math.Round(f * 10)) }

// cvssRating scores one OSV severity entry with the CVSS library; ok is
// false for an entry it cannot read (which is then ignored, not guessed).
func cvssRating(s feed.Severity) (rating, bool) {
	vec := strings.TrimSpace(s.Score)
	switch s.Type {
	case "CVSS_V4":
		c, err := gocvss40.ParseVector(vec)
		if err != nil {
			return rating{}, false
		}
		return rating{SourceCVSSv4, tenths(c.Score()), vec}, true
	case "CVSS_V3":
		switch {
		case strings.HasPrefix(vec, "CVSS:3.1/"):
			c, err := gocvss31.ParseVector(vec)
			if err != nil {
				return rating{}, false
			}
			return rating{SourceCVSSv3, tenths(c.BaseScore()), vec}, true
		case strings.HasPrefix(vec, "CVSS:3.0/"):
			c, err := gocvss30.ParseVector(vec)
			if err != nil {
				return rating{}, false
			}
			return rating{SourceCVSSv3, tenths(c.BaseScore()), vec}, true
		}
	case "CVSS_V2":
		c, err := gocvss20.ParseVector(vec)
		if err != nil {
			return rating{}, false
		}
		return rating{SourceCVSSv2, tenths(c.BaseScore()), vec}, true
	case "Ubuntu":
		if sc, ok := bandScore(vec); ok {
			return rating{SourceDatabaseSpecific, sc, ""}, true
		}
	}
	return rating{}, false
}

// bandScore maps a qualitative rating to the lower bound of its CVSS band.
func bandScore(s string) (int, bool) {
	switch strings.ToUpper(strings.TrimSpace(s)) {
	case "CRITICAL":
		return 90, true
	case "HIGH", "IMPORTANT":
		return 70, true
	case "MODERATE", "MEDIUM":
		return 40, true
	case "LOW":
		return 10, true
	case "NEGLIGIBLE", "NONE":
		return 0, true
	}
	return 0, false
}

// dbRating reads database_specific.severity (GHSA, Red Hat, …).
func dbRating(raw json.RawMessage) (rating, bool) {
	if len(raw) == 0 {
		return rating{}, false
	}
	var d struct {
		Severity any `json:"severity"`
	}
	if json.Unmarshal(raw, &d) != nil {
		return rating{}, false
	}
	s, ok := d.Severity.(string)
	if !ok {
		return rating{}, false
	}
	sc, ok := bandScore(s)
	if !ok {
		return rating{}, false
	}
	return rating{SourceDatabaseSpecific, sc, ""}, true
}

// best picks the rating from the most preferred source, and within one
// source the highest score (then the smallest vector, for a total order).
func best(cands []rating, pref []string) rating {
	r := rating{source: SourceNone, score: -1}
	rank := func(src string) int {
		for i, p := range pref {
			if p == src {
				return i
			}
		}
		return len(pref)
	}
	for _, c := range cands {
		if rank(c.source) >= len(pref) {
			continue
		}
		switch {
		case r.source == SourceNone, rank(c.source) < rank(r.source):
			r = c
		case rank(c.source) == rank(r.source) && (c.score > r.score || c.score == r.score && c.vector < r.vector):
			r = c
		}
	}
	return r
}
