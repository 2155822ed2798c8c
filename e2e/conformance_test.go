package e2e

import (
	"encoding/xml"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/stella-ops/stella-oras/internal/regtest"
)

// conformanceModule is the OCI distribution-spec conformance suite, at the
// pseudo-version of 2026-08-31 the issue names.
const conformanceModule = "github.com/opencontainers/distribution-spec/conformance@v0.0.0-20260831232431-97274622c111"

// buildConformance downloads the suite through the module proxy and builds
// it with `go test -c`.
func buildConformance(t *testing.T) string {
	t.Helper()
	out, err := exec.Command("go", "mod", "download", "-json", conformanceModule).Output()
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("go mod download %s: %v", conformanceModule, err)
		}
		t.Skipf("cannot download %s (%v): skipping the conformance suite", conformanceModule, err)
	}
	var dir string
	for _, line := range strings.Split(string(out), "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), `"Dir": "`); ok {
			dir = strings.TrimSuffix(v, `",`)
		}
	}
	if dir == "" {
		t.Fatalf("no Dir in go mod download output:\n%s", out)
	}
	bin := filepath.Join(t.TempDir(), "conformance.test")
	cmd := exec.Command("go", "test", "-c", "-o", bin, ".")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GOFLAGS=-mod=mod")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building the conformance suite: %v\n%s", err, b)
	}
	return bin
}

type junit struct {
	Cases []struct {
		Name   string `xml:"name,attr"`
		Status string `xml:"status,attr"`
	} `xml:"testsuite>testcase"`
}

// runConformance runs the suite against host and returns the names of the
// failed tests and the number of tests.
func runConformance(t *testing.T, bin, host string) ([]string, int) {
	t.Helper()
	res := t.TempDir()
	cmd := exec.Command(bin)
	cmd.Dir = res
	cmd.Env = append(os.Environ(),
		"OCI_REGISTRY="+host, "OCI_TLS=disabled",
		"OCI_REPO1=conformance/repo1", "OCI_REPO2=conformance/repo2",
		"OCI_API_PULL=1", "OCI_API_PUSH=1", "OCI_API_TAG_LIST=1", "OCI_API_REFERRER=1",
		"OCI_API_TAG_DELETE=1", "OCI_API_MANIFEST_DELETE=1", "OCI_API_BLOB_DELETE=1",
		"OCI_RESULTS_DIR="+res, "OCI_LOG=error")
	b, _ := cmd.CombinedOutput() // exits non-zero whenever a test fails
	raw, err := os.ReadFile(filepath.Join(res, "junit.xml"))
	if err != nil {
		t.Fatalf("conformance suite wrote no junit.xml: %v\n%s", err, b)
	}
	var j junit
	if err := xml.Unmarshal(raw, &j); err != nil {
		t.Fatal(err)
	}
	var failed []string
	for _, c := range j.Cases {
		if c.Status == "failure" {
			failed = append(failed, c.Name)
		}
	}
	slices.Sort(failed)
	return failed, len(j.Cases)
}

func category(name string) string {
	l := strings.ToLower(name)
	switch {
	case strings.Contains(l, "sha512"):
		return "sha512"
	case strings.Contains(l, "non-distributable"):
		return "non-distributable"
	case strings.Contains(l, "referrer") || strings.Contains(l, "subject"):
		return "referrers/subject"
	}
	return "other"
}

func summary(failed []string) string {
	n := map[string]int{}
	for _, f := range failed {
		n[category(f)]++
	}
	return fmt.Sprintf("%d failed (sha512 %d, referrers/subject %d, non-distributable %d, other %d)",
		len(failed), n["sha512"], n["referrers/subject"], n["non-distributable"], n["other"])
}

// TestConformance: the embedded registry fails none of the referrers and
// subject tests and none that plain distribution v3.1.2 passes.
func TestConformance(t *testing.T) {
	if testing.Short() {
		t.Skip("the conformance suite is skipped with -short")
	}
	bin := buildConformance(t)
	embeddedFailed, n := runConformance(t, bin, regtest.Start(t, regtest.Referrers))
	plainFailed, m := runConformance(t, bin, regtest.Start(t, regtest.Plain))
	t.Logf("embedded registry: %d test cases, %s", n, summary(embeddedFailed))
	t.Logf("plain distribution v3.1.2: %d test cases, %s", m, summary(plainFailed))
	for _, f := range embeddedFailed {
		if category(f) == "referrers/subject" {
			t.Errorf("embedded registry fails %q", f)
		}
		if _, found := slices.BinarySearch(plainFailed, f); !found {
			t.Errorf("embedded registry fails %q, which plain distribution passes", f)
		}
	}
	if len(plainFailed) <= len(embeddedFailed) {
		t.Errorf("plain distribution fails %d, embedded %d: the referrers layer should fix some", len(plainFailed), len(embeddedFailed))
	}
}
