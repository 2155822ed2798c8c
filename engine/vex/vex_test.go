package vex

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stella-ops/stella-oras/internal/testutil"
)

// TestCorpus: every OpenVEX 0.2.0, CycloneDX VEX and CSAF example of the
// corpus normalizes; the legacy OpenVEX v0.0.1 documents are refused with
// ErrUnsupported; `{}` is not a VEX document.
func TestCorpus(t *testing.T) {
	dir := filepath.Join(testutil.Corpus(t), "vex")
	legacy := map[string]bool{"v0.0.1.json": true, "v0.0.1-noversion.json": true, "v001-1.vex.json": true}
	n, statements := 0, 0
	err := filepath.WalkDir(dir, func(p string, de os.DirEntry, err error) error {
		if err != nil || de.IsDir() || !strings.HasSuffix(p, ".json") {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		d, err := Normalize(b)
		base := filepath.Base(p)
		switch {
		case strings.Contains(p, "/negative/"):
			if !errors.Is(err, ErrNotVEX) {
				t.Errorf("%s: %v, want ErrNotVEX", p, err)
			}
		case legacy[base]:
			if !errors.Is(err, ErrUnsupported) {
				t.Errorf("%s: %v, want ErrUnsupported (OpenVEX v0.0.1)", p, err)
			}
		case strings.Contains(p, "bom-examples") && strings.HasPrefix(base, "bom"):
			// The BOMs the CycloneDX VEX guide refers to: SBOMs, not VEX.
			if err != nil && !errors.Is(err, ErrNotVEX) {
				t.Errorf("%s: %v", p, err)
			}
		case err != nil:
			t.Errorf("%s: %v", p, err)
		default:
			n++
			statements += len(d.Statements)
			for _, s := range d.Statements {
				if s.Vulnerability == "" || s.Product == "" || !validStatus(s.Status) || s.Source != d.Source {
					t.Errorf("%s: bad statement %+v", p, s)
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d VEX documents, %d statements", n, statements)
	if n < 40 {
		t.Errorf("normalized %d documents, want the corpus's ≥ 40", n)
	}
}

func TestOpenVEX(t *testing.T) {
	d, err := Normalize([]byte(`{"@context":"https://openvex.dev/ns/v0.2.0","@id":"x","author":"Vendor","timestamp":"2026-01-02T03:04:05Z","version":1,
	"statements":[
	 {"vulnerability":{"name":"CVE-2026-0001","aliases":["GHSA-aaaa"]},"products":[{"@id":"pkg:golang/example.com/a@v1.0.0","subcomponents":[{"@id":"pkg:golang/example.com/b@v2.0.0"}]}],"status":"not_affected","justification":"vulnerable_code_not_in_execute_path","impact_statement":"not called"},
	 {"vulnerability":{"name":"CVE-2026-0002"},"products":[],"status":"affected"},
	 {"vulnerability":{"name":"CVE-2026-0003"},"products":[{"@id":"pkg:npm/x@1"}],"status":"fixed","timestamp":"2026-02-01T00:00:00Z"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	if len(d.Statements) != 2 || len(d.Problems) != 1 || d.Problems[0].Reason != "VEX_NO_PRODUCT" {
		t.Fatalf("statements %+v problems %+v", d.Statements, d.Problems)
	}
	s := d.Statements[0]
	if s.Vulnerability != "CVE-2026-0001" || s.Product != "pkg:golang/example.com/a@v1.0.0" || s.Subcomponents[0] != "pkg:golang/example.com/b@v2.0.0" ||
		s.Status != StatusNotAffected || s.Justification != "vulnerable_code_not_in_execute_path" || s.Issuer != "Vendor" || s.Timestamp != "2026-01-02T03:04:05Z" {
		t.Errorf("statement %+v", s)
	}
	if d.Statements[1].Timestamp != "2026-02-01T00:00:00Z" {
		t.Errorf("statement timestamp should override the document's: %+v", d.Statements[1])
	}
}

func TestCycloneDXVEX(t *testing.T) {
	d, err := Normalize([]byte(`{"bomFormat":"CycloneDX","specVersion":"1.6","metadata":{"timestamp":"2026-01-01T00:00:00Z","manufacturer":{"name":"Acme"}},
	 "components":[{"type":"library","bom-ref":"lib","name":"lib","purl":"pkg:maven/org.acme/lib@1.0"}],
	 "vulnerabilities":[
	  {"id":"CVE-2026-1","analysis":{"state":"not_affected","justification":"code_not_reachable","detail":"dead code"},"affects":[{"ref":"lib"}]},
	  {"id":"CVE-2026-2","analysis":{"state":"resolved","response":["update"]},"affects":[{"ref":"urn:cdx:3e671687-395b-41f5-a30f-a58921a69b79/1#lib"}]},
	  {"id":"CVE-2026-3","affects":[{"ref":"pkg:npm/y@2"}]},
	  {"id":"CVE-2026-4","analysis":{"state":"bogus"},"affects":[{"ref":"lib"}]}]}`))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"CVE-2026-1": StatusNotAffected, "CVE-2026-2": StatusFixed, "CVE-2026-3": StatusAffected}
	for _, s := range d.Statements {
		if want[s.Vulnerability] != s.Status || s.Issuer != "Acme" {
			t.Errorf("%+v", s)
		}
		if s.Vulnerability != "CVE-2026-3" && s.Product != "pkg:maven/org.acme/lib@1.0" {
			t.Errorf("ref not resolved to the purl: %+v", s)
		}
		if s.Vulnerability == "CVE-2026-1" && s.Justification != "vulnerable_code_not_in_execute_path" {
			t.Errorf("justification not mapped: %+v", s)
		}
	}
	if len(d.Statements) != 3 || len(d.Problems) != 1 {
		t.Errorf("statements %d problems %+v", len(d.Statements), d.Problems)
	}
}

// TestDeterministic: the same statements in another order and key order
// normalize to the same bytes except for the source ID.
func TestDeterministic(t *testing.T) {
	a := `{"@context":"https://openvex.dev/ns/v0.2.0","@id":"x","author":"A","timestamp":"2026-01-01T00:00:00Z","statements":[{"vulnerability":{"name":"CVE-1"},"products":[{"@id":"pkg:npm/a@1"}],"status":"fixed"},{"vulnerability":{"name":"CVE-2"},"products":[{"@id":"pkg:npm/b@1"}],"status":"affected"}]}`
	b := `{"statements":[{"status":"affected","products":[{"@id":"pkg:npm/b@1"}],"vulnerability":{"name":"CVE-2"}},{"products":[{"@id":"pkg:npm/a@1"}],"vulnerability":{"name":"CVE-1"},"status":"fixed"}],"timestamp":"2026-01-01T00:00:00Z","author":"A","@id":"x","@context":"https://openvex.dev/ns/v0.2.0"}`
	da, err1 := Normalize([]byte(a))
	db, err2 := Normalize([]byte(b))
	if err1 != nil || err2 != nil {
		t.Fatal(err1, err2)
	}
	for i := range da.Statements {
		x, y := da.Statements[i], db.Statements[i]
		x.Source, y.Source = "", ""
		if compare(x, y) != 0 {
			t.Errorf("statement %d differs: %+v vs %+v", i, x, y)
		}
	}
}

func TestResolveAliases(t *testing.T) {
	d := &Document{Statements: []Statement{{Vulnerability: "CVE-1", Aliases: []string{"X-1"}}, {Vulnerability: "CVE-9"}}}
	groups := map[string][]string{"CVE-1": {"CVE-1", "GHSA-1", "GO-1"}, "X-1": {"X-1", "Y-1"}}
	d.ResolveAliases(func(id string) []string { return groups[id] })
	if got := strings.Join(d.Statements[0].Aliases, ","); got != "GHSA-1,GO-1,X-1,Y-1" {
		t.Errorf("aliases %s", got)
	}
	if d.Statements[1].Aliases != nil {
		t.Errorf("unknown id gained aliases %v", d.Statements[1].Aliases)
	}
}

// TestCycloneDXTimestampsInUTC: a CycloneDX timestamp with an offset is
// normalized to UTC, so the merge's string comparison orders instants.
func TestCycloneDXTimestampsInUTC(t *testing.T) {
	d, err := Normalize([]byte(`{"bomFormat":"CycloneDX","specVersion":"1.6","metadata":{"timestamp":"2026-03-01T10:00:00+09:00"},
	"vulnerabilities":[{"id":"CVE-1","analysis":{"state":"not_affected","justification":"code_not_present","lastUpdated":"2026-03-02T00:00:00.000-05:00"},"affects":[{"ref":"pkg:npm/a@1"}]},
	{"id":"CVE-2","analysis":{"state":"exploitable"},"affects":[{"ref":"pkg:npm/a@1"}]}]}`))
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, s := range d.Statements {
		got[s.Vulnerability] = s.Timestamp
	}
	if got["CVE-1"] != "2026-03-02T05:00:00Z" || got["CVE-2"] != "2026-03-01T01:00:00Z" {
		t.Fatalf("timestamps %v", got)
	}
}
