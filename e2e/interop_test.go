package e2e

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stella-ops/stella-oras/internal/regtest"
	"github.com/stella-ops/stella-oras/internal/testutil"
	"github.com/stella-ops/stella-oras/registry"
)

// tool finds a peer CLI: on PATH or in GOPATH/bin. Missing fails in CI
// (.ci/run installs it) and skips locally with the reason.
func tool(t *testing.T, name, install string) string {
	t.Helper()
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	if out, err := exec.Command("go", "env", "GOPATH").Output(); err == nil {
		p := filepath.Join(strings.TrimSpace(string(out)), "bin", name)
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s is not installed (%s)", name, install)
	}
	t.Skipf("%s is not installed (%s): skipping", name, install)
	return ""
}

func run(t *testing.T, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(name, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s %s: %v\n%s%s", filepath.Base(name), strings.Join(args, " "), err, stdout.String(), stderr.String())
	}
	return stdout.String()
}

type orasNode struct {
	Digest       string     `json:"digest"`
	ArtifactType string     `json:"artifactType"`
	Referrers    []orasNode `json:"referrers"`
}

// TestORASInterop: what `oras attach` pushes, stella-oras discovers and
// pulls; what `stella-oras attach` pushes, `oras discover` and `oras pull`
// read — on the referrers API and on the tag-schema fallback.
func TestORASInterop(t *testing.T) {
	oras := tool(t, "oras", "go install oras.land/oras/cmd/oras@v1.3.6")
	sbom := filepath.Join(testutil.RepoRoot(), "examples/quickstart/sbom.cdx.json")
	for _, kind := range []string{regtest.Referrers, regtest.Plain} {
		t.Run(kind, func(t *testing.T) {
			host := regtest.Start(t, kind)
			ref, _ := registry.ParseReference(host + "/app")
			tg, err := registry.Open(t.Context(), ref, registry.Options{PlainHTTP: true})
			if err != nil {
				t.Fatal(err)
			}
			img := regtest.PushImage(t, tg.Store, "v1")
			subject := host + "/app@" + img.Digest.String()

			// oras attach -> stella-oras discover + pull.
			dir := t.TempDir()
			vex := filepath.Join(dir, "vex.json")
			os.WriteFile(vex, []byte(`{"@context":"https://openvex.dev/ns/v0.2.0","statements":[]}`), 0o644)
			cmd := exec.Command(oras, "attach", "--plain-http", "--artifact-type", "application/vnd.openvex+json", subject, "vex.json:application/vnd.openvex+json", "--format", "json")
			cmd.Dir = dir
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("oras attach: %v\n%s", err, out)
			}
			var oa struct {
				Digest string `json:"digest"`
			}
			if err := json.Unmarshal(out, &oa); err != nil || oa.Digest == "" {
				t.Fatalf("oras attach output %q: %v", out, err)
			}
			disc := run(t, bin["native"], "discover", "--plain-http", subject, "--output", "json")
			if !strings.Contains(disc, oa.Digest) || !strings.Contains(disc, "application/vnd.openvex+json") {
				t.Errorf("stella-oras discover does not list the oras attachment %s:\n%s", oa.Digest, disc)
			}
			pulled := t.TempDir()
			run(t, bin["native"], "pull", "--plain-http", host+"/app@"+oa.Digest, "-o", pulled)
			if b, _ := os.ReadFile(filepath.Join(pulled, "vex.json")); !strings.Contains(string(b), "openvex") {
				t.Errorf("stella-oras pull of the oras attachment: %q", b)
			}

			// stella-oras attach -> oras discover + pull.
			var sa struct {
				Manifest struct {
					Digest string `json:"digest"`
				} `json:"manifest"`
			}
			if err := json.Unmarshal([]byte(run(t, bin["native"], "attach", "--plain-http", subject, sbom, "--output", "json")), &sa); err != nil {
				t.Fatal(err)
			}
			var od orasNode
			if err := json.Unmarshal([]byte(run(t, oras, "discover", "--plain-http", "--format", "json", subject)), &od); err != nil {
				t.Fatal(err)
			}
			found := false
			for _, r := range od.Referrers {
				if r.Digest == sa.Manifest.Digest && r.ArtifactType == "application/vnd.cyclonedx+json" {
					found = true
				}
			}
			if !found || len(od.Referrers) != 2 {
				t.Errorf("oras discover: %+v, want the stella-oras SBOM %s among 2 referrers", od, sa.Manifest.Digest)
			}
			opulled := t.TempDir()
			cmd = exec.Command(oras, "pull", "--plain-http", host+"/app@"+sa.Manifest.Digest)
			cmd.Dir = opulled
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("oras pull: %v\n%s", err, out)
			}
			want, _ := os.ReadFile(sbom)
			if got, _ := os.ReadFile(filepath.Join(opulled, "sbom.cdx.json")); !bytes.Equal(got, want) {
				t.Error("oras pull of the stella-oras attachment differs from the file")
			}
		})
	}
}
