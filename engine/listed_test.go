package engine_test

import (
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/stella-ops/stella-oras/artifacts"
	"github.com/stella-ops/stella-oras/canon"
	"github.com/stella-ops/stella-oras/engine"
	"github.com/stella-ops/stella-oras/engine/feed"
	"github.com/stella-ops/stella-oras/engine/sbom"
	"github.com/stella-ops/stella-oras/internal/testutil"
)

// cdx is a CycloneDX document with one library per purl (named by it).
func cdx(purls ...string) []byte {
	var cs []string
	for _, p := range purls {
		cs = append(cs, fmt.Sprintf(`{"type":"library","bom-ref":%q,"name":%q,"purl":%q}`, p, p, p))
	}
	return []byte(`{"bomFormat":"CycloneDX","specVersion":"1.5","components":[` + strings.Join(cs, ",") + `]}`)
}

func buildFeed(t testing.TB, records ...[]byte) *feed.Snapshot {
	t.Helper()
	var srcs []feed.Source
	for i, r := range records {
		srcs = append(srcs, feed.Source{Name: fmt.Sprintf("r%d.json", i), Data: r})
	}
	b, err := feed.Build(srcs, feed.BuildOptions{Epoch: time.Date(2026, 8, 21, 0, 0, 0, 0, time.UTC)})
	if err != nil {
		t.Fatal(err)
	}
	s, err := feed.Open(b)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func evalDoc(t testing.TB, doc []byte, snap *feed.Snapshot) *artifacts.Verdict {
	t.Helper()
	s, err := sbom.Parse(doc)
	if err != nil {
		t.Fatal(err)
	}
	_, v, err := engine.Evaluate(&engine.Inputs{SBOM: s, Feed: snap})
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func findingFor(v *artifacts.Verdict, purl, vuln string) *artifacts.Finding {
	for i := range v.Findings {
		if v.Findings[i].Purl == purl && v.Findings[i].Vulnerability == vuln {
			return &v.Findings[i]
		}
	}
	return nil
}

// TestListedUnparseableVersion: OSV's affected[].versions is an enumeration
// of exact version strings, so a version listed there is affected even when
// the ecosystem's grammar cannot parse it. The corpus has a real one: the
// GitHub advisory for Gradio lists "4.36.-1", not PEP 440.
func TestListedUnparseableVersion(t *testing.T) {
	ghsa, err := os.ReadFile(filepath.Join(testutil.Corpus(t), "osv/osv-schema/linter-testdata/GHSA-9v2f-6vcg-3hgv.json"))
	if err != nil {
		t.Fatal(err)
	}
	goRec := []byte(`{"id":"GO-2099-0001","modified":"2026-01-01T00:00:00Z","summary":"listed pseudo-release",
		"affected":[{"package":{"ecosystem":"Go","name":"example.com/tool"},
		"ranges":[{"type":"SEMVER","events":[{"introduced":"0"},{"fixed":"1.4.0"}]}],
		"versions":["1.3"]}]}`)
	npmRec := []byte(`{"id":"GHSA-xxxx-0000-0001","modified":"2026-01-01T00:00:00Z","summary":"listed four-part version",
		"database_specific":{"severity":"HIGH"},
		"affected":[{"package":{"ecosystem":"npm","name":"@scope/lib"},
		"ranges":[{"type":"SEMVER","events":[{"introduced":"0"},{"fixed":"2.0.0"}]}],
		"versions":["1.0.0.1"]}]}`)
	// A range-only advisory for the same npm package: it cannot place the
	// unparseable version, and does not list it.
	npmRange := []byte(`{"id":"GHSA-xxxx-0000-0002","modified":"2026-01-01T00:00:00Z",
		"affected":[{"package":{"ecosystem":"npm","name":"@scope/lib"},
		"ranges":[{"type":"SEMVER","events":[{"introduced":"0"},{"fixed":"3.0.0"}]}]}]}`)
	pyRec := []byte(`{"id":"PYSEC-2099-1","modified":"2026-01-01T00:00:00Z",
		"affected":[{"package":{"ecosystem":"PyPI","name":"Demo_Pkg"},
		"ranges":[{"type":"ECOSYSTEM","events":[{"introduced":"0"},{"fixed":"2.0.1"}]}],
		"versions":["2.0.0-custom.1","1.0.0.post1.dev-foo"]}]}`)
	snap := buildFeed(t, ghsa, goRec, npmRec, npmRange, pyRec)

	const (
		gradio    = "pkg:pypi/gradio@4.36.-1"
		gradioOK  = "pkg:pypi/gradio@4.36.1"
		goTool    = "pkg:golang/example.com/tool@v1.3"
		npmLib    = "pkg:npm/%40scope/lib@1.0.0.1"
		demo      = "pkg:pypi/demo-pkg@2.0.0-custom.1"
		demo2     = "pkg:pypi/demo-pkg@1.0.0.post1.dev-foo"
		notListed = "pkg:pypi/demo-pkg@2.0.0-custom.2"
	)
	v := evalDoc(t, cdx(gradio, gradioOK, goTool, npmLib, demo, demo2, notListed), snap)

	for _, tt := range []struct{ purl, vuln string }{
		{gradio, "GHSA-9v2f-6vcg-3hgv"},
		{gradioOK, "GHSA-9v2f-6vcg-3hgv"},
		{goTool, "GO-2099-0001"},
		{npmLib, "GHSA-xxxx-0000-0001"},
		{demo, "PYSEC-2099-1"},
		{demo2, "PYSEC-2099-1"},
	} {
		f := findingFor(v, tt.purl, tt.vuln)
		if f == nil {
			t.Errorf("no finding for %s %s; unknowns %+v", tt.purl, tt.vuln, v.Unknowns)
			continue
		}
		if !slices.Contains(f.Reasons, feed.ReasonMatchVersionList) || slices.Contains(f.Reasons, feed.ReasonMatchRange) {
			t.Errorf("%s %s: reasons %v, want %s and not %s", tt.purl, tt.vuln, f.Reasons, feed.ReasonMatchVersionList, feed.ReasonMatchRange)
		}
		parseable := tt.purl == gradioOK
		if got := slices.Contains(f.Reasons, sbom.ReasonVersionUnparseable); got != !parseable {
			t.Errorf("%s: %s in reasons = %v, want %v", tt.purl, sbom.ReasonVersionUnparseable, got, !parseable)
		}
		if !parseable && !strings.Contains(f.Explanation, "lists the version verbatim") {
			t.Errorf("%s: explanation %q does not say the advisory lists the version verbatim", tt.purl, f.Explanation)
		}
	}
	if f := findingFor(v, gradio, "GHSA-9v2f-6vcg-3hgv"); f != nil && (f.Severity != engine.SeverityCritical || f.Outcome != artifacts.StatusFail) {
		t.Errorf("gradio 4.36.-1: severity %s outcome %s, want critical fail (CVSS 9.8)", f.Severity, f.Outcome)
	}
	if f := findingFor(v, npmLib, "GHSA-xxxx-0000-0001"); f != nil && !slices.Equal(f.FixedVersions, []string{"2.0.0"}) {
		t.Errorf("npm fixed versions %v, want [2.0.0]", f.FixedVersions)
	}
	// The range-only advisory cannot place the version: no finding, and no
	// per-advisory unknown either (the component's own unknown says why).
	if f := findingFor(v, npmLib, "GHSA-xxxx-0000-0002"); f != nil {
		t.Errorf("range-only advisory matched an unparseable version: %+v", f)
	}
	if f := findingFor(v, notListed, "PYSEC-2099-1"); f != nil {
		t.Errorf("a version not listed verbatim matched: %+v", f)
	}
	// Every unparseable component stays an unknown, exactly as before:
	// its version still cannot be placed in any range.
	var unparseable []string
	for _, u := range v.Unknowns {
		if u.Vulnerability != "" {
			t.Errorf("per-advisory unknown %+v", u)
		}
		if u.Reason == sbom.ReasonVersionUnparseable {
			unparseable = append(unparseable, u.Purl)
		}
	}
	want := []string{gradio, goTool, npmLib, demo2, demo, notListed}
	slices.Sort(want)
	if !slices.Equal(unparseable, want) {
		t.Errorf("VERSION_UNPARSEABLE unknowns %v, want %v", unparseable, want)
	}
	if v.Summary.Components != 1 {
		t.Errorf("summary components = %d, want 1 (gradio 4.36.1, the only judged one)", v.Summary.Components)
	}

	// The component order changes the document's bytes (so the manifest
	// digest) and nothing else: findings and unknowns are the same bytes.
	v2 := evalDoc(t, cdx(notListed, demo2, demo, npmLib, goTool, gradioOK, gradio), snap)
	b1, _ := canon.Marshal([]any{v.Findings, v.Unknowns})
	b2, _ := canon.Marshal([]any{v2.Findings, v2.Unknowns})
	if string(b1) != string(b2) {
		t.Errorf("verdict depends on component order:\n%s\n%s", b1, b2)
	}
}

// TestListedEcosystems: a feed read per ecosystem must include the
// ecosystems of components whose only chance is a listed version.
func TestListedEcosystems(t *testing.T) {
	s, err := sbom.Parse(cdx("pkg:pypi/gradio@4.36.-1", "pkg:golang/example.com/a@v1.0.0"))
	if err != nil {
		t.Fatal(err)
	}
	if got := engine.Ecosystems(s); !slices.Equal(got, []string{"Go", "PyPI"}) {
		t.Errorf("Ecosystems = %v, want [Go PyPI]", got)
	}
}

// FuzzListedVersion: whatever the version string, a component whose
// (OSV) version an advisory lists verbatim gets a finding for it, parsed
// or not; an advisory listing only other strings, with no range, gives
// none.
func FuzzListedVersion(f *testing.F) {
	for _, s := range []string{"4.36.-1", "2.0.0-custom.1", "1.0.0.post1.dev-foo", "1.2.3", "(devel)", "1.0.0.1", "latest", "v1.2", "1!2.0"} {
		f.Add("pypi", s)
		f.Add("npm", s)
		f.Add("golang", s)
	}
	f.Fuzz(func(t *testing.T, typ, version string) {
		var purl string
		switch typ {
		case "pypi":
			purl = "pkg:pypi/demo@"
		case "npm":
			purl = "pkg:npm/demo@"
		case "golang":
			purl = "pkg:golang/example.com/demo@"
		default:
			return
		}
		s, err := sbom.Parse(cdx(purl + url.PathEscape(version)))
		if err != nil {
			return
		}
		cs := append(slices.Clone(s.Components), s.VersionUnparseable()...)
		if len(cs) != 1 || !utf8.ValidString(cs[0].Version) || !utf8.ValidString(cs[0].Name) {
			return // no purl or no version, or not a string a JSON record can hold
		}
		c := cs[0]
		rec := func(id string, versions ...string) []byte {
			// encoding/json, not canon.Marshal: the version's bytes as
			// written (canon.Marshal would NFC-normalize "\u0341").
			b, err := json.Marshal(map[string]any{"id": id, "modified": "2026-01-01T00:00:00Z",
				"affected": []any{map[string]any{"package": map[string]string{"ecosystem": c.Ecosystem, "name": c.Name}, "versions": versions}}})
			if err != nil {
				t.Fatal(err)
			}
			return b
		}
		snap := buildFeed(t, rec("X-LISTED", "0.0.0-other", c.Version), rec("X-OTHER", c.Version+"x"))
		_, v, err := engine.Evaluate(&engine.Inputs{SBOM: s, Feed: snap})
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, f := range v.Findings {
			ids = append(ids, f.Vulnerability)
		}
		if !slices.Equal(ids, []string{"X-LISTED"}) {
			t.Fatalf("version %q (OSV %s %s %q): findings %v, want [X-LISTED]", version, c.Ecosystem, c.Name, c.Version, ids)
		}
	})
}
