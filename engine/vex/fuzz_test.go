package vex

import (
	"slices"
	"testing"
)

// FuzzNormalize: no input panics the VEX, CycloneDX VEX or CSAF readers,
// and whatever normalizes does so to sorted statements.
func FuzzNormalize(f *testing.F) {
	f.Add([]byte(`{"@context":"https://openvex.dev/ns/v0.2.0","author":"a","statements":[{"vulnerability":{"name":"CVE-1"},"products":[{"@id":"pkg:npm/a@1","subcomponents":[{"@id":"x"}]}],"status":"not_affected","justification":"component_not_present"}]}`))
	f.Add([]byte(`{"bomFormat":"CycloneDX","components":[{"bom-ref":"a","purl":"pkg:npm/a@1"}],"vulnerabilities":[{"id":"CVE-1","analysis":{"state":"false_positive"},"affects":[{"ref":"a"}]}]}`))
	f.Add([]byte(`{"document":{"csaf_version":"2.0","publisher":{"name":"p"}},"product_tree":{"branches":[{"product":{"product_id":"P1","name":"n","product_identification_helper":{"purl":"pkg:rpm/redhat/x@1"}}}],"product_groups":[{"group_id":"G","product_ids":["P1"]}]},"vulnerabilities":[{"cve":"CVE-1","product_status":{"known_not_affected":["P1","P9"]},"flags":[{"label":"component_not_present","group_ids":["G"]}]}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		d, err := Normalize(data)
		if err != nil {
			return
		}
		if !slices.IsSortedFunc(d.Statements, compare) {
			t.Fatal("statements not sorted")
		}
	})
}

// FuzzCSAF drives the CSAF reader directly, so mutations stay inside CSAF
// documents (product tree branches, groups, relationships, flags, threats)
// instead of being spent on format detection.
func FuzzCSAF(f *testing.F) {
	f.Add([]byte(`{"document":{"csaf_version":"2.0","category":"csaf_vex","publisher":{"name":"p","namespace":"https://p.example"},"tracking":{"current_release_date":"2026-01-02T00:00:00Z"}},
"product_tree":{"branches":[{"category":"vendor","name":"v","branches":[{"category":"product_name","name":"n","product":{"product_id":"P1","name":"n 1","product_identification_helper":{"purl":"pkg:rpm/redhat/x@1"}}}]}],
"relationships":[{"category":"default_component_of","product_reference":"P1","relates_to_product_reference":"P2","full_product_name":{"product_id":"P1:P2","name":"x in y"}}],
"full_product_names":[{"product_id":"P2","name":"y","product_identification_helper":{"purl":"pkg:oci/y@sha256%3Aab"}}]},
"vulnerabilities":[{"cve":"CVE-1","ids":[{"system_name":"GHSA","text":"GHSA-1"}],"product_status":{"known_not_affected":["P1:P2"],"fixed":["P2"],"known_affected":["P9"],"under_investigation":["P1"]},
"flags":[{"label":"vulnerable_code_not_in_execute_path","product_ids":["P1:P2"]}],"threats":[{"category":"impact","details":"d","product_ids":["P1:P2"]}],
"remediations":[{"category":"vendor_fix","details":"upgrade","product_ids":["P2"]}]}]}`))
	f.Add([]byte(`{"document":{"csaf_version":"2.0","publisher":{"name":"p"}},"product_tree":{"product_groups":[{"group_id":"G","product_ids":["X"]}]},"vulnerabilities":[{"cve":"CVE-2","product_status":{"known_not_affected":["X"]},"flags":[{"label":"component_not_present","group_ids":["G","H"]}]}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		d := &Document{}
		if err := csafVEX(data, d); err != nil {
			return
		}
		for _, s := range d.Statements {
			if !validStatus(s.Status) {
				t.Fatalf("status %q", s.Status)
			}
		}
	})
}
