package vex

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	govex "github.com/openvex/go-vex/pkg/vex"
)

func isOpenVEX(top map[string]json.RawMessage) bool {
	var ctx string
	json.Unmarshal(top["@context"], &ctx)
	if strings.Contains(ctx, "openvex.dev/ns") {
		return true
	}
	// Some writers (guac's fixtures) leave @context empty on otherwise
	// OpenVEX documents: recognize them by their statements and author.
	_, st := top["statements"]
	_, au := top["author"]
	return st && au
}

// openVEX reads OpenVEX 0.2.0 with go-vex. The legacy v0.0.1 shape
// (products as plain strings, unversioned context) is refused with a clear
// error rather than guessed at; documents whose statements have the 0.2.0
// shape are read whatever their @context says.
func openVEX(data []byte, top map[string]json.RawMessage, d *Document) error {
	var shape struct {
		Statements []struct {
			Products []json.RawMessage `json:"products"`
		} `json:"statements"`
	}
	if err := json.Unmarshal(data, &shape); err != nil {
		return fmt.Errorf("%w: OpenVEX: %v", ErrNotVEX, err)
	}
	for i, s := range shape.Statements {
		for _, p := range s.Products {
			if len(p) > 0 && p[0] == '"' {
				return fmt.Errorf("%w: OpenVEX v0.0.1 (statements[%d].products are plain strings): convert it to 0.2.0 first (vexctl merge does)", ErrUnsupported, i)
			}
		}
	}
	doc, err := govex.Parse(data)
	if err != nil {
		return fmt.Errorf("%w: OpenVEX: %v", ErrNotVEX, err)
	}
	for i, s := range doc.Statements {
		path := fmt.Sprintf("statements[%d]", i)
		vuln := string(s.Vulnerability.Name)
		if vuln == "" {
			vuln = s.Vulnerability.ID
		}
		if vuln == "" {
			d.Problems = append(d.Problems, Problem{path, "VEX_NO_VULNERABILITY"})
			continue
		}
		if len(s.Products) == 0 {
			d.Problems = append(d.Problems, Problem{path, "VEX_NO_PRODUCT"})
			continue
		}
		ts := s.Timestamp
		if ts == nil {
			ts = doc.Timestamp
		}
		var aliases []string
		for _, a := range s.Vulnerability.Aliases {
			aliases = append(aliases, string(a))
		}
		for _, p := range s.Products {
			st := Statement{
				Vulnerability: vuln, Aliases: aliases, Product: componentID(p.Component),
				Status: string(s.Status), Justification: string(s.Justification),
				ImpactStatement: s.ImpactStatement, ActionStatement: s.ActionStatement,
				Issuer: doc.Author, Timestamp: rfc3339(ts),
			}
			for _, sc := range p.Subcomponents {
				st.Subcomponents = append(st.Subcomponents, componentID(sc.Component))
			}
			if st.Product == "" {
				d.Problems = append(d.Problems, Problem{path, "VEX_NO_PRODUCT"})
				continue
			}
			if !validStatus(st.Status) {
				d.Problems = append(d.Problems, Problem{path, "VEX_UNKNOWN_STATUS " + st.Status})
				continue
			}
			d.Statements = append(d.Statements, st)
		}
	}
	return nil
}

// componentID prefers the purl identifier, then @id.
func componentID(c govex.Component) string {
	if p := c.Identifiers[govex.PURL]; p != "" {
		return p
	}
	return c.ID
}

func validStatus(s string) bool {
	switch s {
	case StatusAffected, StatusNotAffected, StatusFixed, StatusUnderInvestigation:
		return true
	}
	return false
}

func rfc3339(t *time.Time) string {
	if t == nil || t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}
