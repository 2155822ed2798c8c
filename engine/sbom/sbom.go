// Package sbom reads CycloneDX JSON (1.2–1.7), SPDX 2.2/2.3 JSON and SPDX
// 3.0 JSON-LD documents and reduces them to what the scan core judges: a
// sorted, de-duplicated list of components named the way OSV names packages,
// and the components it cannot judge ("unknowns"), each with a reason code.
package sbom

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/stella-ops/stella-oras/canon"
	"github.com/stella-ops/stella-oras/internal/osvname"
)

// Format families.
const (
	FormatCycloneDX = "cyclonedx"
	FormatSPDX2     = "spdx-2"
	FormatSPDX3     = "spdx-3"
)

// maxDepth bounds JSON nesting. Real SBOMs nest components a few levels deep.
const maxDepth = 1000

// ErrFormat is returned for a document that is not an SBOM this package reads.
var ErrFormat = errors.New("not a supported SBOM")

// Component is one judged package.
type Component struct {
	Purl      string   `json:"purl"`
	Ecosystem string   `json:"ecosystem"`
	Name      string   `json:"name"`
	Version   string   `json:"version"`
	BOMRefs   []string `json:"bom_refs,omitempty"`
}

// Unknown is a component the engine cannot judge, and why.
type Unknown struct {
	Reason  string `json:"reason"`
	Name    string `json:"name,omitempty"`
	Version string `json:"version,omitempty"`
	Purl    string `json:"purl,omitempty"`
	BOMRef  string `json:"bom_ref,omitempty"`
	Detail  string `json:"detail,omitempty"`
	// osv is, on a VERSION_UNPARSEABLE unknown, the package as OSV names
	// it: an advisory that lists the version verbatim still applies (see
	// VersionUnparseable). Not part of the normalized form.
	osv osvPackage
}

// osvPackage is a package in OSV's terms (comparable, so that duplicate
// unknowns still compact).
type osvPackage struct{ ecosystem, name, version string }

// Dependency is one adjacency list: From depends on each of To. Both sides
// are purls when the referenced element has one, else the element's ref.
type Dependency struct {
	From string   `json:"from"`
	To   []string `json:"to"`
}

// SBOM is the normalized form. Its canonical JSON is what the scan manifest
// hashes, so that two documents describing the same components in a
// different order or layout judge to the same verdict.
type SBOM struct {
	Format       string       `json:"format"`
	SpecVersion  string       `json:"spec_version"`
	Components   []Component  `json:"components"`
	Unknowns     []Unknown    `json:"unknowns"`
	Dependencies []Dependency `json:"dependencies"`
	// Stored is the digest of the document's bytes as read (an OCI blob
	// digest when the SBOM was attached to an image): what a replay
	// fetches. It is not part of the normalized form.
	Stored string `json:"-"`
	// Subjects are the purls of what the document describes: CycloneDX's
	// metadata.component, the packages an SPDX 2 document DESCRIBES, an
	// SPDX 3 SBOM's root elements. They are not judged (the subject of an
	// SBOM is not one of its parts) and not part of the normalized form,
	// but a VEX statement about one is about this SBOM's product.
	Subjects []string `json:"-"`
}

// Detect names the format family of a JSON document from its top-level keys.
func Detect(doc map[string]json.RawMessage) (string, error) {
	if v, ok := doc["bomFormat"]; ok {
		var s string
		if json.Unmarshal(v, &s) != nil || s != "CycloneDX" {
			return "", fmt.Errorf("%w: bomFormat is %s, want \"CycloneDX\"", ErrFormat, clip(v))
		}
		return FormatCycloneDX, nil
	}
	if v, ok := doc["spdxVersion"]; ok {
		var s string
		if json.Unmarshal(v, &s) != nil || !strings.HasPrefix(s, "SPDX-2.") {
			return "", fmt.Errorf("%w: spdxVersion is %s, want \"SPDX-2.x\"", ErrFormat, clip(v))
		}
		return FormatSPDX2, nil
	}
	if ctx, ok := doc["@context"]; ok && bytes.Contains(ctx, []byte("spdx.org/rdf/3.")) {
		return FormatSPDX3, nil
	}
	return "", fmt.Errorf("%w: no bomFormat, spdxVersion or SPDX 3 @context at the top level", ErrFormat)
}

func clip(b []byte) string {
	if len(b) > 40 {
		return string(b[:40]) + "…"
	}
	return string(b)
}

// Parse normalizes an SBOM document held in memory.
func Parse(data []byte) (*SBOM, error) {
	// Validate and canonicalize first: I-JSON violations (duplicate keys,
	// invalid UTF-8, lone surrogates) and syntax errors are reported with a
	// byte offset, and the decoders below only ever see unambiguous JSON.
	c, err := canon.Canonicalize(data, canon.Options{MaxDepth: maxDepth})
	if err != nil {
		return nil, err
	}
	var top map[string]json.RawMessage
	if err := json.Unmarshal(c, &top); err != nil {
		return nil, fmt.Errorf("%w: top level is not a JSON object", ErrFormat)
	}
	format, err := Detect(top)
	if err != nil {
		return nil, err
	}
	b := newBuilder(format)
	switch format {
	case FormatCycloneDX:
		err = b.cyclonedx(c)
	case FormatSPDX2:
		err = b.spdx2(c)
	case FormatSPDX3:
		err = b.spdx3(top)
	}
	if err != nil {
		return nil, err
	}
	s := b.finish()
	s.Stored = canon.ContentID(data)
	return s, nil
}

// builder accumulates components from any format.
type builder struct {
	s      SBOM
	byPurl map[string]int // purl -> index in s.Components
	refs   map[string]string
	deps   map[string]map[string]struct{}
}

func newBuilder(format string) *builder {
	return &builder{
		s:      SBOM{Format: format},
		byPurl: map[string]int{},
		refs:   map[string]string{},
		deps:   map[string]map[string]struct{}{},
	}
}

// add records one package as it appears in the document.
func (b *builder) add(ref, name, version, purl string) {
	if purl == "" {
		b.s.Unknowns = append(b.s.Unknowns, Unknown{Reason: ReasonNoPurl, Name: name, Version: version, BOMRef: ref})
		return
	}
	r, reason, detail := resolve(purl)
	if reason == "" {
		if why := osvname.CheckVersion(r.ecosystem, r.version); why != "" {
			reason, detail = ReasonVersionUnparseable, why
		}
	}
	if ref != "" {
		b.refs[ref] = r.purl
	}
	if reason != "" {
		u := Unknown{Reason: reason, Name: name, Version: version, Purl: r.purl, BOMRef: ref, Detail: detail}
		if reason == ReasonVersionUnparseable {
			u.osv = osvPackage{r.ecosystem, r.name, r.version}
		}
		b.s.Unknowns = append(b.s.Unknowns, u)
		return
	}
	if i, ok := b.byPurl[r.purl]; ok {
		if ref != "" {
			b.s.Components[i].BOMRefs = append(b.s.Components[i].BOMRefs, ref)
		}
		return
	}
	c := Component{Purl: r.purl, Ecosystem: r.ecosystem, Name: r.name, Version: r.version}
	if ref != "" {
		c.BOMRefs = []string{ref}
	}
	b.byPurl[r.purl] = len(b.s.Components)
	b.s.Components = append(b.s.Components, c)
}

func (b *builder) depend(from, to string) {
	m := b.deps[from]
	if m == nil {
		m = map[string]struct{}{}
		b.deps[from] = m
	}
	m[to] = struct{}{}
}

// finish sorts everything so that the result depends only on the set of
// packages, never on document order.
func (b *builder) finish() *SBOM {
	s := &b.s
	slices.SortFunc(s.Components, func(a, b Component) int { return strings.Compare(a.Purl, b.Purl) })
	for i := range s.Components {
		slices.Sort(s.Components[i].BOMRefs)
		s.Components[i].BOMRefs = slices.Compact(s.Components[i].BOMRefs)
	}
	slices.SortFunc(s.Unknowns, compareUnknown)
	s.Unknowns = slices.CompactFunc(s.Unknowns, func(a, b Unknown) bool { return a == b })
	slices.Sort(s.Subjects)
	s.Subjects = slices.Compact(s.Subjects)
	name := func(ref string) string {
		if p, ok := b.refs[ref]; ok {
			return p
		}
		return ref
	}
	merged := map[string]map[string]struct{}{}
	for from, tos := range b.deps {
		f := name(from)
		if merged[f] == nil {
			merged[f] = map[string]struct{}{}
		}
		for to := range tos {
			merged[f][name(to)] = struct{}{}
		}
	}
	s.Dependencies = make([]Dependency, 0, len(merged))
	for from, tos := range merged {
		d := Dependency{From: from, To: make([]string, 0, len(tos))}
		for to := range tos {
			d.To = append(d.To, to)
		}
		slices.Sort(d.To)
		s.Dependencies = append(s.Dependencies, d)
	}
	slices.SortFunc(s.Dependencies, func(a, b Dependency) int { return strings.Compare(a.From, b.From) })
	if s.Components == nil {
		s.Components = []Component{}
	}
	if s.Unknowns == nil {
		s.Unknowns = []Unknown{}
	}
	return s
}

// VersionUnparseable lists, sorted by purl, the components held back as
// unknowns (VERSION_UNPARSEABLE) because their version does not parse in
// their ecosystem's grammar: they cannot be placed in any range, but OSV's
// affected[].versions is an enumeration of exact version strings, so an
// advisory that lists such a version verbatim still applies. The unknowns
// stay in Unknowns; this is what the matcher checks against those lists.
func (s *SBOM) VersionUnparseable() []Component {
	var out []Component
	for _, u := range s.Unknowns { // sorted by purl
		if u.Reason != ReasonVersionUnparseable || u.osv.ecosystem == "" {
			continue
		}
		if n := len(out); n > 0 && out[n-1].Purl == u.Purl {
			if u.BOMRef != "" {
				out[n-1].BOMRefs = append(out[n-1].BOMRefs, u.BOMRef)
			}
			continue
		}
		c := Component{Purl: u.Purl, Ecosystem: u.osv.ecosystem, Name: u.osv.name, Version: u.osv.version}
		if u.BOMRef != "" {
			c.BOMRefs = []string{u.BOMRef}
		}
		out = append(out, c)
	}
	for i := range out {
		slices.Sort(out[i].BOMRefs)
		out[i].BOMRefs = slices.Compact(out[i].BOMRefs)
	}
	return out
}

func compareUnknown(a, b Unknown) int {
	for _, p := range [][2]string{{a.Purl, b.Purl}, {a.Name, b.Name}, {a.Version, b.Version}, {a.Reason, b.Reason}, {a.BOMRef, b.BOMRef}, {a.Detail, b.Detail}} {
		if c := strings.Compare(p[0], p[1]); c != 0 {
			return c
		}
	}
	return 0
}

// Digest is the content ID of the normalized SBOM's canonical JSON.
func (s *SBOM) Digest() (string, error) {
	_, id, err := canon.MarshalID(s)
	return id, err
}
