package feed

import (
	"encoding/json"
	"fmt"
	"github.com/stella-ops/stella-oras/internal/osvname"
)

// Record is the part of an OSV record (https://ossf.github.io/osv-schema/)
// that matching and the verdict read. The snapshot stores the whole record
// (canonical JSON); this struct is decoded lazily, only for records indexed
// under a package the SBOM contains.
type Record struct {
	ID               string          `json:"id"`
	Modified         string          `json:"modified"`
	Published        string          `json:"published,omitempty"`
	Withdrawn        string          `json:"withdrawn,omitempty"`
	Aliases          []string        `json:"aliases,omitempty"`
	Summary          string          `json:"summary,omitempty"`
	Severity         []Severity      `json:"severity,omitempty"`
	Affected         []Affected      `json:"affected,omitempty"`
	DatabaseSpecific json.RawMessage `json:"database_specific,omitempty"`
}

// Severity is an OSV severity entry (CVSS_V2, CVSS_V3, CVSS_V4, Ubuntu).
type Severity struct {
	Type  string `json:"type"`
	Score string `json:"score"`
}

// Affected is one affected package of a record.
type Affected struct {
	Package struct {
		Ecosystem string `json:"ecosystem"`
		Name      string `json:"name"`
		Purl      string `json:"purl,omitempty"`
	} `json:"package"`
	Severity          []Severity      `json:"severity,omitempty"`
	Ranges            []Range         `json:"ranges,omitempty"`
	Versions          []string        `json:"versions,omitempty"`
	EcosystemSpecific json.RawMessage `json:"ecosystem_specific,omitempty"`
	DatabaseSpecific  json.RawMessage `json:"database_specific,omitempty"`
}

// Range is an OSV range of events.
type Range struct {
	Type   string  `json:"type"`
	Repo   string  `json:"repo,omitempty"`
	Events []Event `json:"events"`
}

// Event is one OSV range event; exactly one field is set.
type Event struct {
	Introduced   string `json:"introduced,omitempty"`
	Fixed        string `json:"fixed,omitempty"`
	LastAffected string `json:"last_affected,omitempty"`
	Limit        string `json:"limit,omitempty"`
}

// Range types.
const (
	RangeSemver    = "SEMVER"
	RangeEcosystem = "ECOSYSTEM"
	RangeGit       = "GIT"
)

// check rejects what the matcher cannot interpret: an unknown range type
// would otherwise be silently ignored and hide a vulnerability.
func (r *Record) check() error {
	if r.ID == "" {
		return fmt.Errorf("id: missing")
	}
	for i, a := range r.Affected {
		for j, rg := range a.Ranges {
			switch rg.Type {
			case RangeSemver, RangeEcosystem, RangeGit:
			default:
				return fmt.Errorf("affected[%d].ranges[%d].type: unknown range type %q (want SEMVER, ECOSYSTEM or GIT)", i, j, rg.Type)
			}
		}
	}
	return nil
}

// PackageKey is the index key of a package: base ecosystem and the name as
// the ecosystem compares names.
func PackageKey(eco, name string) string { return osvname.Key(eco, name) }

// PackageKeyOf is PackageKey of an affected entry's package.
func PackageKeyOf(a *Affected) string { return osvname.Key(a.Package.Ecosystem, a.Package.Name) }
