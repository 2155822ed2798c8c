package engine_test

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stella-ops/stella-oras/engine/vex"

	"github.com/stella-ops/stella-oras/artifacts"
	"github.com/stella-ops/stella-oras/canon"
	"github.com/stella-ops/stella-oras/engine"
	"github.com/stella-ops/stella-oras/engine/feed"
	"github.com/stella-ops/stella-oras/engine/policy"
	"github.com/stella-ops/stella-oras/engine/reach"
	"github.com/stella-ops/stella-oras/internal/load"
	"github.com/stella-ops/stella-oras/internal/testutil"
)

var update = flag.Bool("update", false, "rewrite golden files")

func evaluate(t *testing.T, sbomPath string, snap *feed.Snapshot) ([]byte, []byte) {
	t.Helper()
	s, err := load.SBOM(sbomPath, load.SBOMOptions{})
	if err != nil {
		t.Fatal(err)
	}
	m, v, err := engine.Evaluate(&engine.Inputs{SBOM: s, Feed: snap})
	if err != nil {
		t.Fatal(err)
	}
	mb, err := canon.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	vb, err := canon.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return mb, vb
}

// golden compares bytes with a golden file, byte for byte.
func golden(t *testing.T, path string, got []byte) {
	t.Helper()
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./engine -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the golden file (%d vs %d bytes); rerun with -update only if the change is intended", path, len(got), len(want))
	}
}

func quickstartFeed(t *testing.T) *feed.Snapshot {
	s, err := load.Feed(context.Background(), filepath.Join(testutil.RepoRoot(), "examples/quickstart/osv"), load.FeedOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// quickstartVerdict evaluates the quickstart under the default policy.
func quickstartVerdict(t *testing.T) *artifacts.Verdict {
	t.Helper()
	s, err := load.SBOM(filepath.Join(testutil.RepoRoot(), "examples/quickstart/sbom.cdx.json"), load.SBOMOptions{})
	if err != nil {
		t.Fatal(err)
	}
	_, v, err := engine.Evaluate(&engine.Inputs{SBOM: s, Feed: quickstartFeed(t)})
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestGoldenQuickstart(t *testing.T) {
	snap := quickstartFeed(t)
	root := testutil.RepoRoot()
	m, v := evaluate(t, filepath.Join(root, "examples/quickstart/sbom.cdx.json"), snap)
	golden(t, "testdata/golden/quickstart.manifest.json", m)
	golden(t, "testdata/golden/quickstart.verdict.json", v)
	for _, name := range []string{"sbom.spdx.json", "sbom.spdx3.json"} {
		_, v := evaluate(t, filepath.Join(root, "engine/sbom/testdata", name), snap)
		golden(t, "testdata/golden/"+strings.TrimSuffix(name, ".json")+".verdict.json", v)
	}
}

// TestQuickstartVerdict checks the decisions in the golden verdict, so a
// wrong golden file cannot pass unnoticed.
func TestQuickstartVerdict(t *testing.T) {
	v := quickstartVerdict(t)
	if v.Status != artifacts.StatusFail {
		t.Errorf("status = %s, want fail", v.Status)
	}
	type want struct{ severity, outcome string }
	wants := map[string]want{
		"EX-GHSA-2026-0001":   {"critical", "fail"}, // grouped with EX-GO-2026-0001, CVSS 9.8 wins over db HIGH
		"EX-CARGO-2026-0001":  {"critical", "fail"}, // versions list, database-specific CRITICAL
		"EX-MAVEN-2026-0001":  {"high", "fail"},     // last_affected inclusive, CVSS 3.0
		"EX-GO-2026-0005":     {"high", "fail"},     // stdlib go1.21.3
		"EX-NPM-2026-0001":    {"medium", "warn"},
		"EX-PYPI-2026-0001":   {"medium", "warn"},  // database-specific MODERATE
		"EX-GO-2026-0002":     {"unknown", "warn"}, // no severity
		"EX-ALPINE-2026-0001": {"unknown", "warn"},
		"EX-DEB-2026-0001":    {"low", "pass"},
	}
	got := map[string]want{}
	var risk int64
	for _, f := range v.Findings {
		got[f.Vulnerability] = want{f.Severity, f.Outcome}
		if f.Score < 0 {
			risk += 50
		} else {
			risk += int64(f.Score)
		}
	}
	for id, w := range wants {
		if got[id] != w {
			t.Errorf("%s = %+v, want %+v", id, got[id], w)
		}
	}
	if len(got) != len(wants) {
		t.Errorf("findings = %v, want exactly %d", got, len(wants))
	}
	if v.RiskScore != risk || v.RiskScore != 98+90+81+75+53+40+50+50+37 {
		t.Errorf("risk_score = %d, want %d", v.RiskScore, risk)
	}
	if v.UnknownsCount != 4 {
		t.Errorf("unknowns_count = %d, want 4 (no purl, GIT range, oci, bad PyPI version)", v.UnknownsCount)
	}
	for _, f := range v.Findings {
		if f.Vulnerability == "EX-GHSA-2026-0001" {
			if strings.Join(f.Aliases, ",") != "EX-CVE-2026-0001,EX-GO-2026-0001" || len(f.Records) != 2 {
				t.Errorf("alias grouping: aliases %v records %v", f.Aliases, f.Records)
			}
		}
		if f.Vulnerability == "EX-GO-2026-0002" && !strings.Contains(f.Explanation, "carries no severity") {
			t.Errorf("explanation lacks the no-severity reason: %q", f.Explanation)
		}
	}
}

var corpusGolden = []string{
	"sbom/cyclonedx/bom-examples/proton-bridge-v1.8.0.cdx-1.2.json",
	"sbom/spdx/guac/oci-kubectl-linux-amd64-spdx-1.json",
	"sbom/spdx/guac/oci-kubectl-linux-amd64-spdx.json",
	"sbom/cyclonedx/guac/big-mongo-cyclonedx.json",
	"sbom/cyclonedx/trivy/happy-nested-packages-bom.json",
	"sbom/cyclonedx/guac/alpine-cyclonedx.json",
	"sbom/cyclonedx/apache-airflow/apache_airflow-sbom-2.8.0-python3.10.cdx-1.5.json",
	"sbom/cyclonedx/bom-examples/juice-shop-via_npm-flat.cdx-1.4.json",
	"sbom/spdx3/spdx-examples/software__example11__spdx3.0__sbom.spdx3.json",
	"sbom/spdx/trivy/centos-7-spdx.json",
}

var (
	corpusOnce sync.Once
	corpusSnap *feed.Snapshot
	corpusErr  error
)

func corpusFeed(t *testing.T) (string, *feed.Snapshot) {
	dir := testutil.Corpus(t)
	corpusOnce.Do(func() {
		corpusSnap, corpusErr = load.Feed(context.Background(), filepath.Join(dir, "osv"), load.FeedOptions{})
	})
	if corpusErr != nil {
		t.Fatal(corpusErr)
	}
	return dir, corpusSnap
}

// TestGoldenCorpus: real SBOMs against the whole corpus OSV set.
func TestGoldenCorpus(t *testing.T) {
	dir, snap := corpusFeed(t)
	for _, rel := range corpusGolden {
		t.Run(filepath.Base(rel), func(t *testing.T) {
			_, v := evaluate(t, filepath.Join(dir, rel), snap)
			golden(t, filepath.Join("testdata/golden/corpus", filepath.Base(rel)), v)
		})
	}
}

// TestMANIFESTFindings: the corpus MANIFEST counts 58 (module, advisory)
// findings for proton-bridge and 30 for kubectl against go-vulndb.
func TestMANIFESTFindings(t *testing.T) {
	dir := testutil.Corpus(t)
	snap, err := load.Feed(context.Background(), filepath.Join(dir, "osv/go-vulndb"), load.FeedOptions{Epoch: time.Date(2026, 8, 21, 0, 0, 0, 0, time.UTC)})
	if err != nil {
		t.Fatal(err)
	}
	for rel, want := range map[string]int{
		"sbom/cyclonedx/bom-examples/proton-bridge-v1.8.0.cdx-1.2.json": 58,
		"sbom/spdx/guac/oci-kubectl-linux-amd64-spdx-1.json":            30,
	} {
		s, err := load.SBOM(filepath.Join(dir, rel), load.SBOMOptions{})
		if err != nil {
			t.Fatal(err)
		}
		_, v, err := engine.Evaluate(&engine.Inputs{SBOM: s, Feed: snap})
		if err != nil {
			t.Fatal(err)
		}
		if len(v.Findings) != want {
			t.Errorf("%s: %d findings, want %d", rel, len(v.Findings), want)
		}
	}
}

// TestConcurrentEvaluations: evaluations sharing one snapshot (its lazy
// record cache) on many goroutines give identical bytes.
func TestConcurrentEvaluations(t *testing.T) {
	snap := quickstartFeed(t)
	path := filepath.Join(testutil.RepoRoot(), "examples/quickstart/sbom.cdx.json")
	_, want := evaluate(t, path, snap)
	var wg sync.WaitGroup
	errs := make([]string, 4*runtime.GOMAXPROCS(0))
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s, err := load.SBOM(path, load.SBOMOptions{})
			if err != nil {
				errs[i] = err.Error()
				return
			}
			_, v, err := engine.Evaluate(&engine.Inputs{SBOM: s, Feed: snap})
			if err != nil {
				errs[i] = err.Error()
				return
			}
			if b, _ := canon.Marshal(v); !bytes.Equal(b, want) {
				errs[i] = "verdict differs"
			}
		}()
	}
	wg.Wait()
	for i, e := range errs {
		if e != "" {
			t.Errorf("goroutine %d: %s", i, e)
		}
	}
}

// TestGoldenQuickstartVEX: the quickstart with its VEX document: the x/net
// finding is suppressed (justified not_affected), the framework's is not
// (not_affected without a justification), @example/parser stays under
// investigation.
func TestGoldenQuickstartVEX(t *testing.T) {
	snap := quickstartFeed(t)
	root := testutil.RepoRoot()
	s, err := load.SBOM(filepath.Join(root, "examples/quickstart/sbom.cdx.json"), load.SBOMOptions{})
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(filepath.Join(root, "examples/quickstart/vex.openvex.json"))
	if err != nil {
		t.Fatal(err)
	}
	doc, err := vex.Normalize(data)
	if err != nil {
		t.Fatal(err)
	}
	in := &engine.Inputs{SBOM: s, Feed: snap, VEX: []*vex.Document{doc}}
	_, v, err := engine.Evaluate(in)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, f := range v.Findings {
		if f.VEX != nil {
			got[f.Vulnerability] = fmt.Sprintf("%s/%v/%s", f.VEX.Status, f.VEX.Applied, f.Outcome)
		}
	}
	want := map[string]string{
		"EX-GO-2026-0002":   "not_affected/true/pass",
		"EX-GHSA-2026-0001": "not_affected/false/fail",
		"EX-NPM-2026-0001":  "under_investigation/false/warn",
	}
	for id, w := range want {
		if got[id] != w {
			t.Errorf("%s: %s, want %s", id, got[id], w)
		}
	}
	if len(got) != len(want) {
		t.Errorf("VEX decisions on %v, want exactly %d", got, len(want))
	}
	b, err := canon.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "testdata/golden/quickstart-vex.verdict.json", b)
}

// TestMarshalVerdictLarge: on a verdict large enough for the parallel path
// and carrying every member (gates, budget check, VEX decisions,
// vex_unmatched, reachability, rules: the quickstart under strict-prod in
// prod with VEX and a reach graph, its findings repeated past 1,000),
// MarshalVerdict writes canon.Marshal's bytes.
func TestMarshalVerdictLarge(t *testing.T) {
	root := testutil.RepoRoot()
	s, err := load.SBOM(filepath.Join(root, "examples/quickstart/sbom.cdx.json"), load.SBOMOptions{})
	if err != nil {
		t.Fatal(err)
	}
	in := &engine.Inputs{SBOM: s, Feed: quickstartFeed(t), Env: "prod"}
	for _, doc := range [][]byte{
		mustRead(t, filepath.Join(root, "examples/quickstart/vex.openvex.json")),
		[]byte(`{"@context":"https://openvex.dev/ns/v0.2.0","@id":"x","author":"a","timestamp":"2026-01-01T00:00:00Z","version":1,
		"statements":[{"vulnerability":{"name":"CVE-2099-0001"},"products":[{"@id":"pkg:npm/x@1"}],"status":"affected"}]}`),
	} {
		vd, err := vex.Normalize(doc)
		if err != nil {
			t.Fatal(err)
		}
		in.VEX = append(in.VEX, vd)
	}
	if in.Policy, err = policy.Load(mustRead(t, filepath.Join(root, "examples/policies/strict-prod.yaml")), "strict-prod.yaml"); err != nil {
		t.Fatal(err)
	}
	if in.Reach, err = reach.Parse(mustRead(t, filepath.Join(root, "examples/quickstart/reach-graph.json")), "graph"); err != nil {
		t.Fatal(err)
	}
	_, v, err := engine.Evaluate(in)
	if err != nil {
		t.Fatal(err)
	}
	if v.BudgetCheck == nil || len(v.VEXUnmatched) == 0 {
		t.Fatalf("the verdict lacks members the test needs: budget %v, vex_unmatched %v", v.BudgetCheck, v.VEXUnmatched)
	}
	for len(v.Findings) < 1000 {
		v.Findings = append(v.Findings, v.Findings...)
	}
	want, err := canon.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	got, id, err := engine.MarshalVerdict(v)
	if err != nil || !bytes.Equal(got, want) || id != canon.ContentID(want) {
		t.Fatalf("parallel serialization differs (%d vs %d bytes, %v)", len(got), len(want), err)
	}
}

func mustRead(t *testing.T, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestPolicyTablesCopy: the severity and reachability lists every
// verdict's summary counts are copies; changing them changes no verdict.
func TestPolicyTablesCopy(t *testing.T) {
	sb := filepath.Join(testutil.RepoRoot(), "examples/quickstart/sbom.cdx.json")
	_, before := evaluate(t, sb, quickstartFeed(t))
	sev, reach := policy.Severities(), policy.ReachabilityStates()
	slices.Reverse(sev)
	sev[0], reach[0] = "bogus", "bogus"
	_, after := evaluate(t, sb, quickstartFeed(t))
	if !bytes.Equal(before, after) {
		t.Errorf("the verdict changed after changing what policy.Severities and policy.ReachabilityStates returned")
	}
	if got := policy.Severities(); got[0] != policy.SeverityCritical || got[5] != policy.SeverityUnknown {
		t.Errorf("policy.Severities() = %v after changing an earlier result", got)
	}
}
