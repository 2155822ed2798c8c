package vex

import (
	"encoding/json"
	"fmt"
	"strings"
)

// CycloneDX analysis states onto OpenVEX statuses.
var cdxState = map[string]string{
	"resolved":               StatusFixed,
	"resolved_with_pedigree": StatusFixed,
	"exploitable":            StatusAffected,
	"in_triage":              StatusUnderInvestigation,
	"false_positive":         StatusNotAffected,
	"not_affected":           StatusNotAffected,
}

// CycloneDX justifications onto OpenVEX justifications.
var cdxJustification = map[string]string{
	"code_not_present":                "vulnerable_code_not_present",
	"code_not_reachable":              "vulnerable_code_not_in_execute_path",
	"requires_configuration":          "vulnerable_code_cannot_be_controlled_by_adversary",
	"requires_dependency":             "component_not_present",
	"requires_environment":            "vulnerable_code_cannot_be_controlled_by_adversary",
	"protected_by_compiler":           "inline_mitigations_already_exist",
	"protected_at_runtime":            "inline_mitigations_already_exist",
	"protected_at_perimeter":          "inline_mitigations_already_exist",
	"protected_by_mitigating_control": "inline_mitigations_already_exist",
}

type cdxComp struct {
	BOMRef     string    `json:"bom-ref"`
	Purl       string    `json:"purl"`
	Components []cdxComp `json:"components"`
}

// cycloneDX reads vulnerabilities[] of a CycloneDX document (a VEX BOM or
// a BOM with a vulnerabilities section). The CycloneDX library's model is
// not used for the same reason as in package sbom: only a few members
// matter and the full model refuses some valid documents.
func cycloneDX(data []byte, d *Document) error {
	var bom struct {
		Metadata struct {
			Timestamp string   `json:"timestamp"`
			Component *cdxComp `json:"component"`
			Supplier  *struct {
				Name string `json:"name"`
			} `json:"supplier"`
			Manufacturer *struct {
				Name string `json:"name"`
			} `json:"manufacturer"`
			Authors []struct {
				Name string `json:"name"`
			} `json:"authors"`
		} `json:"metadata"`
		Components      []cdxComp `json:"components"`
		Vulnerabilities *[]struct {
			ID     string `json:"id"`
			Source *struct {
				Name string `json:"name"`
			} `json:"source"`
			References []struct {
				ID string `json:"id"`
			} `json:"references"`
			Updated  string `json:"updated"`
			Analysis *struct {
				State         string   `json:"state"`
				Justification string   `json:"justification"`
				Response      []string `json:"response"`
				Detail        string   `json:"detail"`
				LastUpdated   string   `json:"lastUpdated"`
			} `json:"analysis"`
			Affects []struct {
				Ref string `json:"ref"`
			} `json:"affects"`
		} `json:"vulnerabilities"`
	}
	if err := json.Unmarshal(data, &bom); err != nil {
		return fmt.Errorf("%w: CycloneDX: %v", ErrNotVEX, err)
	}
	if bom.Vulnerabilities == nil {
		return fmt.Errorf("%w: a CycloneDX document without vulnerabilities is an SBOM, not VEX", ErrNotVEX)
	}
	refs := map[string]string{}
	var walk func([]cdxComp)
	walk = func(cs []cdxComp) {
		for _, c := range cs {
			if c.BOMRef != "" && c.Purl != "" {
				refs[c.BOMRef] = c.Purl
			}
			walk(c.Components)
		}
	}
	walk(bom.Components)
	if bom.Metadata.Component != nil {
		walk([]cdxComp{*bom.Metadata.Component})
	}
	issuer := ""
	switch {
	case bom.Metadata.Manufacturer != nil && bom.Metadata.Manufacturer.Name != "":
		issuer = bom.Metadata.Manufacturer.Name
	case bom.Metadata.Supplier != nil && bom.Metadata.Supplier.Name != "":
		issuer = bom.Metadata.Supplier.Name
	case len(bom.Metadata.Authors) > 0:
		issuer = bom.Metadata.Authors[0].Name
	}
	for i, v := range *bom.Vulnerabilities {
		path := fmt.Sprintf("vulnerabilities[%d]", i)
		if v.ID == "" {
			d.Problems = append(d.Problems, Problem{path, "VEX_NO_VULNERABILITY"})
			continue
		}
		if len(v.Affects) == 0 {
			d.Problems = append(d.Problems, Problem{path, "VEX_NO_PRODUCT"})
			continue
		}
		// A vulnerability listed without an analysis is reported as
		// affecting: it suppresses nothing.
		status, just, detail, action, ts := StatusAffected, "", "", "", v.Updated
		if a := v.Analysis; a != nil {
			s, ok := cdxState[a.State]
			if !ok {
				d.Problems = append(d.Problems, Problem{path, "VEX_UNKNOWN_STATUS " + a.State})
				continue
			}
			status, detail = s, a.Detail
			if j, ok := cdxJustification[a.Justification]; ok {
				just = j
			} else {
				just = a.Justification
			}
			if a.State == "false_positive" && just == "" {
				just = "vulnerable_code_not_present"
			}
			action = strings.Join(a.Response, ", ")
			if a.LastUpdated != "" {
				ts = a.LastUpdated
			}
		}
		if ts == "" {
			ts = bom.Metadata.Timestamp
		}
		// UTC, whole seconds, like the other formats: the merge orders
		// statements by comparing these strings
		ts = normTime(ts)
		var aliases []string
		for _, r := range v.References {
			aliases = append(aliases, r.ID)
		}
		for _, af := range v.Affects {
			st := Statement{Vulnerability: v.ID, Aliases: aliases, Product: resolveRef(af.Ref, refs), Status: status,
				Justification: just, Issuer: issuer, Timestamp: ts}
			if status == StatusNotAffected {
				st.ImpactStatement = detail
			} else {
				st.ActionStatement = strings.TrimSpace(strings.Join([]string{action, detail}, " "))
			}
			d.Statements = append(d.Statements, st)
		}
	}
	return nil
}

// resolveRef turns an affects ref into a purl where the document says
// which: a bom-ref of a component with a purl, a BOM-Link
// (urn:cdx:serial/version#bom-ref) whose fragment is one, or a purl.
func resolveRef(ref string, refs map[string]string) string {
	if p, ok := refs[ref]; ok {
		return p
	}
	if strings.HasPrefix(ref, "urn:cdx:") {
		if _, frag, ok := strings.Cut(ref, "#"); ok {
			if p, ok := refs[frag]; ok {
				return p
			}
		}
	}
	return ref
}
