// Package vex reads VEX documents — OpenVEX 0.2.0 (openvex/go-vex),
// CycloneDX VEX (vulnerabilities[].analysis, standalone or in a BOM) and
// CSAF 2.0 VEX (product_status, flags, threats, remediations) — into one
// normalized statement form, sorted, with the source document's content ID.
package vex

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/stella-ops/stella-oras/canon"
)

// Statuses (OpenVEX vocabulary; the other formats map onto it).
const (
	StatusAffected           = "affected"
	StatusNotAffected        = "not_affected"
	StatusFixed              = "fixed"
	StatusUnderInvestigation = "under_investigation"
)

// ErrNotVEX is returned for a document that is not a VEX document this
// package reads.
var ErrNotVEX = errors.New("not a VEX document")

// ErrUnsupported is returned for VEX formats deliberately not read.
var ErrUnsupported = errors.New("unsupported VEX format")

// Statement is one normalized VEX statement.
type Statement struct {
	Vulnerability   string   `json:"vulnerability"`
	Aliases         []string `json:"aliases,omitempty"`
	Product         string   `json:"product"`
	Subcomponents   []string `json:"subcomponents,omitempty"`
	Status          string   `json:"status"`
	Justification   string   `json:"justification,omitempty"`
	ImpactStatement string   `json:"impact_statement,omitempty"`
	ActionStatement string   `json:"action_statement,omitempty"`
	Issuer          string   `json:"issuer,omitempty"`
	Timestamp       string   `json:"timestamp,omitempty"`
	Format          string   `json:"format"`
	Source          string   `json:"source,omitempty"`
}

// Problem is a part of a document that could not become a statement.
type Problem struct {
	Path   string `json:"path"`
	Reason string `json:"reason"`
}

// Document is a normalized VEX document.
type Document struct {
	Format string `json:"format"`
	// Source is the content ID of the normalized document (computed with
	// Source empty everywhere).
	Source     string      `json:"source,omitempty"`
	Statements []Statement `json:"statements"`
	Problems   []Problem   `json:"problems"`
	// Stored is the digest of the document's bytes as read: what a replay
	// fetches. It is not part of the normalized form.
	Stored string `json:"-"`
}

// Normalize reads a VEX document in any supported format.
func Normalize(data []byte) (*Document, error) {
	c, err := canon.Transform(data)
	if err != nil {
		return nil, err
	}
	var top map[string]json.RawMessage
	if json.Unmarshal(c, &top) != nil {
		return nil, fmt.Errorf("%w: top level is not a JSON object", ErrNotVEX)
	}
	d := &Document{}
	switch {
	case isOpenVEX(top):
		d.Format = "openvex"
		err = openVEX(c, top, d)
	case string(top["bomFormat"]) == `"CycloneDX"`:
		d.Format = "cyclonedx"
		err = cycloneDX(c, d)
	case top["document"] != nil && strings.Contains(string(top["document"]), `"csaf_version"`):
		d.Format = "csaf"
		err = csafVEX(c, d)
	default:
		return nil, fmt.Errorf("%w: no OpenVEX @context, CycloneDX bomFormat or CSAF document", ErrNotVEX)
	}
	if err != nil {
		return nil, err
	}
	for i := range d.Statements {
		d.Statements[i].Format = d.Format
		slices.Sort(d.Statements[i].Aliases)
		d.Statements[i].Aliases = slices.Compact(d.Statements[i].Aliases)
		slices.Sort(d.Statements[i].Subcomponents)
		d.Statements[i].Subcomponents = slices.Compact(d.Statements[i].Subcomponents)
	}
	slices.SortFunc(d.Statements, compare)
	d.Statements = slices.CompactFunc(d.Statements, func(a, b Statement) bool { return compare(a, b) == 0 })
	slices.SortFunc(d.Problems, func(a, b Problem) int { return strings.Compare(a.Path+a.Reason, b.Path+b.Reason) })
	if d.Statements == nil {
		d.Statements = []Statement{}
	}
	if d.Problems == nil {
		d.Problems = []Problem{}
	}
	// The document's identity is the content ID of its normalized form, so
	// that statement order and key order — meaningless in VEX — do not
	// change it (nor any verdict that cites it).
	_, id, err := canon.MarshalID(d)
	if err != nil {
		return nil, err
	}
	d.Source = id
	for i := range d.Statements {
		d.Statements[i].Source = id
	}
	d.Stored = canon.ContentID(data)
	return d, nil
}

func compare(a, b Statement) int {
	for _, p := range [][2]string{
		{a.Vulnerability, b.Vulnerability}, {a.Product, b.Product}, {a.Status, b.Status},
		{strings.Join(a.Subcomponents, " "), strings.Join(b.Subcomponents, " ")},
		{a.Justification, b.Justification}, {a.Timestamp, b.Timestamp}, {a.Issuer, b.Issuer},
		{a.ImpactStatement, b.ImpactStatement}, {a.ActionStatement, b.ActionStatement},
	} {
		if c := strings.Compare(p[0], p[1]); c != 0 {
			return c
		}
	}
	return 0
}

// ResolveAliases adds to each statement's aliases the alias group of its
// vulnerability id (and of its aliases) from a feed's alias index.
func (d *Document) ResolveAliases(group func(id string) []string) {
	for i := range d.Statements {
		s := &d.Statements[i]
		set := map[string]bool{}
		for _, id := range append([]string{s.Vulnerability}, s.Aliases...) {
			set[id] = true
			for _, a := range group(id) {
				set[a] = true
			}
		}
		delete(set, s.Vulnerability)
		s.Aliases = s.Aliases[:0]
		for a := range set {
			s.Aliases = append(s.Aliases, a)
		}
		slices.Sort(s.Aliases)
		if len(s.Aliases) == 0 {
			s.Aliases = nil
		}
	}
}
