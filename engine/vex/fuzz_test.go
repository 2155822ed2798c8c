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
