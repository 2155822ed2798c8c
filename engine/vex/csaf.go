package vex

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/openvex/go-vex/pkg/csaf"
)

// CSAF product_status lists onto OpenVEX statuses. first_affected,
// last_affected and recommended describe versions, not the status of the
// listed products, and are not statements.
var csafStatus = map[string]string{
	"known_affected":      StatusAffected,
	"known_not_affected":  StatusNotAffected,
	"fixed":               StatusFixed,
	"first_fixed":         StatusFixed,
	"under_investigation": StatusUnderInvestigation,
}

// csafVEX reads a CSAF 2.0 document with go-vex's CSAF model: products
// from the product tree (branches and relationships), statuses from
// product_status, justifications from flags, impact from threats and
// actions from remediations. A product id that the tree does not define
// is a problem, not an error: the rest of the document stays usable.
func csafVEX(data []byte, d *Document) error {
	var doc csaf.CSAF
	if err := json.Unmarshal(data, &doc); err != nil {
		return fmt.Errorf("%w: CSAF: %v", ErrNotVEX, err)
	}
	var extra struct {
		ProductTree struct {
			FullProductNames []csaf.Product `json:"full_product_names"`
			Groups           []struct {
				GroupID    string   `json:"group_id"`
				ProductIDs []string `json:"product_ids"`
			} `json:"product_groups"`
		} `json:"product_tree"`
		Document struct {
			Publisher struct {
				Name string `json:"name"`
			} `json:"publisher"`
			Tracking struct {
				CurrentReleaseDate string `json:"current_release_date"`
			} `json:"tracking"`
		} `json:"document"`
	}
	json.Unmarshal(data, &extra)
	names := map[string]string{} // product id -> purl or name
	add := func(p csaf.Product) {
		if p.ID == "" {
			return
		}
		id := p.Name
		if purl := p.IdentificationHelper["purl"]; purl != "" {
			id = purl
		}
		if id == "" {
			id = p.ID
		}
		names[p.ID] = id
	}
	var walk func(b csaf.ProductBranch)
	walk = func(b csaf.ProductBranch) {
		add(b.Product)
		for _, r := range b.Relationships {
			add(r.FullProductName)
		}
		for _, c := range b.Branches {
			walk(c)
		}
	}
	walk(doc.ProductTree)
	for _, p := range extra.ProductTree.FullProductNames {
		add(p)
	}
	groups := map[string][]string{}
	for _, g := range extra.ProductTree.Groups {
		groups[g.GroupID] = g.ProductIDs
	}
	issuer, ts := extra.Document.Publisher.Name, extra.Document.Tracking.CurrentReleaseDate
	for i, v := range doc.Vulnerabilities {
		path := fmt.Sprintf("vulnerabilities[%d]", i)
		vuln := v.CVE
		var aliases []string
		for _, id := range v.IDs {
			if vuln == "" {
				vuln = id.Text
			} else {
				aliases = append(aliases, id.Text)
			}
		}
		if vuln == "" {
			d.Problems = append(d.Problems, Problem{path, "VEX_NO_VULNERABILITY"})
			continue
		}
		just := map[string]string{}
		for _, f := range v.Flags {
			ids := append([]string(nil), f.ProductIDs...)
			for _, g := range f.GroupIDs {
				ids = append(ids, groups[g]...)
			}
			for _, id := range ids {
				just[id] = f.Label
			}
		}
		impact := map[string]string{}
		for _, th := range v.Threats {
			if th.Category == "impact" {
				for _, id := range th.ProductIDs {
					impact[id] = th.Details
				}
			}
		}
		action := map[string]string{}
		for _, r := range v.Remediations {
			ids := append([]string(nil), r.ProductIDs...)
			for _, g := range r.GroupIDs {
				ids = append(ids, groups[g]...)
			}
			for _, id := range ids {
				action[id] = strings.TrimSpace(r.Category + ": " + r.Details)
			}
		}
		for list, ids := range v.ProductStatus {
			status, ok := csafStatus[list]
			if !ok {
				continue
			}
			for _, id := range ids {
				product, ok := names[id]
				if !ok {
					d.Problems = append(d.Problems, Problem{fmt.Sprintf("%s.product_status.%s", path, list), "VEX_UNKNOWN_PRODUCT_ID " + id})
					continue
				}
				d.Statements = append(d.Statements, Statement{
					Vulnerability: vuln, Aliases: aliases, Product: product, Status: status,
					Justification: just[id], ImpactStatement: impact[id], ActionStatement: action[id],
					Issuer: issuer, Timestamp: normTime(ts),
				})
			}
		}
	}
	return nil
}

func normTime(s string) string {
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t.UTC().Format(time.RFC3339)
	}
	return s
}
