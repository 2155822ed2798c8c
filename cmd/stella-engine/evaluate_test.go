package main

import (
	"encoding/json"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/stella-ops/stella-oras/evaluator"
	"github.com/stella-ops/stella-oras/internal/cli"
)

// TestDemo: the README's first command runs the main job end to end on
// OCI layouts: evaluate, verify, replay identical, then a cache hit.
func TestDemo(t *testing.T) {
	r := stella(t, "", "demo", "--dir", t.TempDir())
	if r.code != 0 {
		t.Fatalf("demo: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	for _, want := range []string{"state computed (engine runs 1)", "verification: true", ": identical sha256:", "state cached (engine runs 0)", "1 untrusted VEX ignored"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("demo output lacks %q", want)
		}
	}
	// Every command it prints runs again as printed (but key generate,
	// which would not overwrite the key): the key it names is on disk.
	// Before, ci.key stayed in memory and the printed evaluate failed.
	ran := 0
	for line := range strings.Lines(r.stdout) {
		cmdline, ok := strings.CutPrefix(strings.TrimSpace(line), "$ ")
		if !ok || strings.Contains(cmdline, "key generate") {
			continue
		}
		if rest, ok := strings.CutPrefix(cmdline, "STELLA_KEY_PASSWORD= "); ok {
			t.Setenv("STELLA_KEY_PASSWORD", "")
			cmdline = rest
		}
		args := strings.Fields(strings.TrimPrefix(cmdline, "stella-oras "))
		if r := stella(t, "", args...); r.code != cli.ExitOK && r.code != cli.ExitGateFailed {
			t.Errorf("the demo's %q, run again: exit %d %s", cmdline, r.code, r.stderr)
		}
		ran++
	}
	if ran < 8 {
		t.Errorf("ran %d of the demo's printed commands, want its 8 or more", ran)
	}
}

// TestEvaluateCLI: flags map to options; usage errors exit 2; the gate
// exits 3 and --output json is one document.
func TestEvaluateCLI(t *testing.T) {
	if r := stella(t, "", "evaluate", "oci:./x:demo"); r.code != cli.ExitUsage {
		t.Errorf("evaluate without --feed/--key: exit %d, want %d", r.code, cli.ExitUsage)
	}
	if r := stella(t, "", "evaluate", "oci:./x:demo", "--feed", "f", "--key", "k", "--fail-on", "maybe"); r.code != cli.ExitUsage {
		t.Errorf("evaluate --fail-on maybe: exit %d, want %d", r.code, cli.ExitUsage)
	}
}

// TestEvaluateBaselineAndList: on the demo's layouts, --baseline with a
// delta gate exits 3 naming the gate, --output json carries the delta, and
// --from-file returns the images in file order, exiting 1 for the one that
// could not be evaluated.
func TestEvaluateBaselineAndList(t *testing.T) {
	dir, key, newImage := demoWorld(t, "", "gate")
	layout := "oci:" + filepath.Join(dir, "layout")
	// The baseline had reachability evidence that the head lacks: three
	// findings change, and the risk rises.
	base := newImage("base", "base build", example("sbom.cdx.json"), example("reach-graph.json"))
	head := newImage("head", "head build", example("sbom.cdx.json"))
	common := []string{"--feed", "oci:" + filepath.Join(dir, "feeds"), "--policy", "oci:" + filepath.Join(dir, "policies") + ":strict-prod-2.0.0", "--key", key + ".key"}

	if r := stella(t, "", append([]string{"evaluate", head, "--fail-on", "new-critical"}, common...)...); r.code != cli.ExitUsage {
		t.Errorf("a delta gate without --baseline: exit %d, want %d", r.code, cli.ExitUsage)
	}
	args := append([]string{"evaluate", head, "--baseline", base, "--fail-on", "new-critical,risk+0", "--output", "json"}, common...)
	r := stella(t, "", args...)
	var rep evaluator.Report
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
		t.Fatalf("--output json: %v\n%s\n%s", err, r.stdout, r.stderr)
	}
	d := rep.Images[0].Delta
	if d == nil || len(d.Delta.Changed) == 0 {
		t.Fatalf("delta %+v, want the reachability changes", d)
	}
	// risk+0 fires; nothing is new, so new-critical does not; and the
	// status gate is off (only delta gates were named).
	if d.Delta.RiskDelta <= 0 || r.code != cli.ExitGateFailed || !strings.Contains(r.stderr, "risk+0") || strings.Contains(r.stderr, "new-critical") || strings.Contains(r.stderr, "verdict status") {
		t.Errorf("risk delta %d: exit %d, stderr %q; want exit 3 naming risk+0 alone", d.Delta.RiskDelta, r.code, r.stderr)
	}

	list := filepath.Join(dir, "images.txt")
	os.WriteFile(list, []byte("# images\n"+head+"\n"+layout+":no-such-tag\n\n"+base+"\n"), 0o644)
	r = stella(t, "", append([]string{"evaluate", "--from-file", list, "--jobs", "2", "--output", "json", "--fail-on", "warn"}, common...)...)
	var many struct {
		Images []evaluator.Item `json:"images"`
		Status string           `json:"status"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &many); err != nil {
		t.Fatalf("--from-file --output json: %v\n%s", err, r.stdout)
	}
	if len(many.Images) != 3 || many.Images[0].Reference != head || many.Images[2].Reference != base || many.Images[1].Error == "" {
		t.Errorf("items %+v, want head, the missing tag (an error), base", many.Images)
	}
	if r.code != cli.ExitError || !strings.Contains(r.stderr, "no-such-tag") || many.Status != "error" {
		t.Errorf("--from-file with a missing image: exit %d (%q), status %q; want %d naming it, status error", r.code, r.stderr, many.Status, cli.ExitError)
	}
}

// TestCacheHitNeedsNoPrivateKey: with the key's .pub beside it, a cache
// hit verifies with the public key and never decrypts the private one (its
// scrypt derivation cost ten times the hit); a miss needs the passphrase,
// and a .pub that is not the key's pair fails the signing, saying so.
func TestCacheHitNeedsNoPrivateKey(t *testing.T) {
	dir, key, newImage := demoWorld(t, "secret", "hit")
	img := func(tag string) string { return newImage(tag, tag, example("sbom.cdx.json")) }
	a := img("a")
	args := func(ref string) []string {
		return []string{"evaluate", ref, "--feed", "oci:" + filepath.Join(dir, "feeds"), "--key", key + ".key", "--output", "json"}
	}
	if r := stella(t, "", args(a)...); r.code != 0 && r.code != cli.ExitGateFailed {
		t.Fatalf("first evaluate: exit %d %s", r.code, r.stderr)
	}
	os.Unsetenv("STELLA_KEY_PASSWORD")
	r := stella(t, "", args(a)...)
	if (r.code != 0 && r.code != cli.ExitGateFailed) || !strings.Contains(r.stdout, `"state": "cached"`) {
		t.Errorf("cache hit without the passphrase: exit %d %s", r.code, r.stderr)
	}
	if r := stella(t, "", args(img("b"))...); r.code != cli.ExitError || !strings.Contains(r.stderr, "STELLA_KEY_PASSWORD is not set") {
		t.Errorf("a miss without the passphrase: exit %d %s", r.code, r.stderr)
	}
	t.Setenv("STELLA_KEY_PASSWORD", "secret")
	if r := stella(t, "", "key", "generate", "-o", filepath.Join(dir, "other")); r.code != 0 {
		t.Fatal(r.stderr)
	}
	other, _ := os.ReadFile(filepath.Join(dir, "other.pub"))
	os.WriteFile(key+".pub", other, 0o644)
	if r := stella(t, "", args(img("c"))...); r.code != cli.ExitError || !strings.Contains(r.stderr, "is not the public key of") {
		t.Errorf("a .pub that is not the key's: exit %d %s", r.code, r.stderr)
	}
}

// demoWorld runs demo into a new directory and generates a key there under
// the passphrase; newImage pushes a sample image into its layout with the
// files attached and returns its reference by digest.
func demoWorld(t *testing.T, passphrase, keyName string) (dir, key string, newImage func(tag, text string, attach ...string) string) {
	t.Helper()
	dir = t.TempDir()
	if r := stella(t, "", "demo", "--dir", dir); r.code != 0 {
		t.Fatalf("demo: exit %d\n%s", r.code, r.stderr)
	}
	t.Setenv("STELLA_KEY_PASSWORD", passphrase)
	key = filepath.Join(dir, keyName)
	if r := stella(t, "", "key", "generate", "-o", key); r.code != 0 {
		t.Fatalf("key generate: %s", r.stderr)
	}
	layout := "oci:" + filepath.Join(dir, "layout")
	newImage = func(tag, text string, attach ...string) string {
		t.Helper()
		r := stella(t, "", "sample-image", layout+":"+tag, "--text", text)
		i := strings.Index(r.stdout, "sha256:")
		if r.code != 0 || i < 0 {
			t.Fatalf("sample-image: %s", r.stderr)
		}
		ref := layout + "@" + r.stdout[i:i+71]
		for _, f := range attach {
			if r := stella(t, "", "attach", ref, f); r.code != 0 {
				t.Fatalf("attach: %s", r.stderr)
			}
		}
		return ref
	}
	return dir, key, newImage
}

// TestVerifyRequireStatus: verify --require-status gates on the newest
// verified verdict of the image: 0 when its status is the one required, 3
// when not (said on stderr: a gate failure is not printed as an error, and
// it was said nowhere), 4 when no verdict verifies under the keys.
func TestVerifyRequireStatus(t *testing.T) {
	dir, key, newImage := demoWorld(t, "secret", "gate")
	empty := filepath.Join(dir, "empty.cdx.json")
	os.WriteFile(empty, []byte(`{"bomFormat":"CycloneDX","specVersion":"1.6","version":1,"components":[]}`), 0o644)
	status := map[string]string{}
	for tag, sbom := range map[string]string{"findings": example("sbom.cdx.json"), "clean": empty} {
		ref := newImage(tag, tag, sbom)
		r := stella(t, "", "evaluate", ref, "--feed", "oci:"+filepath.Join(dir, "feeds"), "--key", key+".key", "--output", "json")
		if r.code != 0 && r.code != cli.ExitGateFailed {
			t.Fatalf("evaluate %s: exit %d %s", tag, r.code, r.stderr)
		}
		var rep struct{ Images []struct{ Status string } }
		if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil || len(rep.Images) != 1 {
			t.Fatalf("evaluate %s --output json: %v\n%s", tag, err, r.stdout)
		}
		status[ref] = rep.Images[0].Status
	}
	for ref, st := range status {
		r := stella(t, "", "verify", ref, "--key", key+".pub", "--require-status", "pass")
		want := cli.ExitOK
		if st != "pass" {
			want = cli.ExitGateFailed
		}
		if r.code != want || (want == cli.ExitGateFailed) != strings.Contains(r.stderr, "gate failed: the verified verdict ") || !strings.Contains(r.stdout, "Verified verdict ") {
			t.Errorf("verify --require-status pass of a %s verdict: exit %d (want %d)\n%s%s", st, r.code, want, r.stdout, r.stderr)
		}
	}
	if !slices.Contains(slices.Collect(maps.Values(status)), "pass") || slices.Equal(slices.Compact(slices.Sorted(maps.Values(status))), []string{"pass"}) {
		t.Fatalf("statuses %v: want a pass and another, to test both exits", status)
	}
}

// TestReplaySkipsMalformedVerdict: a referrer of the verdict type that is
// no verdict artifact (a verdict document attached alone, one layer) is
// reported as not a verdict, and the image's real verdicts are still
// replayed; the exit is 4, as for a verdict that does not replay. Before,
// it stopped the whole replay with exit 1 and nothing listed.
func TestReplaySkipsMalformedVerdict(t *testing.T) {
	dir, key, newImage := demoWorld(t, "secret", "rk")
	ref := newImage("r", "r", example("sbom.cdx.json"))
	if r := stella(t, "", "evaluate", ref, "--feed", "oci:"+filepath.Join(dir, "feeds"), "--key", key+".key"); r.code != 0 && r.code != cli.ExitGateFailed {
		t.Fatalf("evaluate: exit %d %s", r.code, r.stderr)
	}
	v := filepath.Join(dir, "verdict.json")
	if r := stella(t, "", "eval", "--sbom", example("sbom.cdx.json"), "--feed", example("osv"), "-o", v); r.code != 0 && r.code != cli.ExitGateFailed {
		t.Fatalf("eval: exit %d %s", r.code, r.stderr)
	}
	if r := stella(t, "", "attach", ref, v); r.code != 0 || !strings.Contains(r.stdout, "application/vnd.stellaops.verdict") {
		t.Fatalf("attach of a verdict document: exit %d %s%s", r.code, r.stdout, r.stderr)
	}
	r := stella(t, "", "replay", ref, "--output", "json")
	var rs []evaluator.ReplayResult
	if err := json.Unmarshal([]byte(r.stdout), &rs); err != nil {
		t.Fatalf("replay --output json: exit %d %v\n%s%s", r.code, err, r.stdout, r.stderr)
	}
	outcomes := map[string]int{}
	for _, x := range rs {
		outcomes[x.Outcome]++
	}
	if r.code != cli.ExitVerifyFailed || outcomes[evaluator.ReplayIdentical] != 1 || outcomes[evaluator.ReplayNotVerdict] != 1 || !strings.Contains(r.stderr, "cannot be replayed") {
		t.Errorf("replay of an image with a malformed verdict referrer: exit %d, outcomes %v, stderr %q", r.code, outcomes, r.stderr)
	}
}
