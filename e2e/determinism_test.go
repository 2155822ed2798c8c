package e2e

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/stella-ops/stella-oras/internal/testutil"
)

// evalCase is one SBOM × feed whose verdict must never change.
type evalCase struct {
	name, sbom, feed, golden string
}

func cases(t *testing.T) []evalCase {
	root := testutil.RepoRoot()
	cs := []evalCase{{
		name:   "quickstart",
		sbom:   filepath.Join(root, "examples/quickstart/sbom.cdx.json"),
		feed:   filepath.Join(root, "examples/quickstart/osv"),
		golden: filepath.Join(root, "engine/testdata/golden/quickstart.verdict.json"),
	}}
	dir := testutil.CorpusDir()
	if st, err := os.Stat(dir); err == nil && st.IsDir() {
		for _, rel := range []string{
			"sbom/cyclonedx/bom-examples/proton-bridge-v1.8.0.cdx-1.2.json",
			"sbom/spdx/guac/oci-kubectl-linux-amd64-spdx-1.json",
		} {
			cs = append(cs, evalCase{
				name:   filepath.Base(rel),
				sbom:   filepath.Join(dir, rel),
				feed:   filepath.Join(dir, "osv"),
				golden: filepath.Join(root, "engine/testdata/golden/corpus", filepath.Base(rel)),
			})
		}
	} else if os.Getenv("CI") == "true" {
		t.Fatalf("corpus %s is required when CI=true", dir)
	} else {
		t.Logf("corpus %s absent: checking the project's own fixtures only", dir)
	}
	return cs
}

// evalOutput is what one eval run wrote: the verdict and scan manifest
// bytes, and its --output json report (digests, findings, inputs) without
// the paths it was given.
type evalOutput struct {
	verdict, manifest []byte
	report            map[string]any
}

// runEval runs a binary and returns the verdict bytes it wrote.
func runEval(t *testing.T, binary string, env []string, sbom, feed string) []byte {
	t.Helper()
	return runEvalAll(t, binary, env, sbom, feed).verdict
}

// runEvalAll runs a binary (under its emulator, if it has one) and returns
// everything it wrote.
func runEvalAll(t *testing.T, binary string, env []string, sbom, feed string) evalOutput {
	t.Helper()
	dir := t.TempDir()
	out, man := filepath.Join(dir, "verdict.json"), filepath.Join(dir, "manifest.json")
	e := emulator[binary]
	path := func(p string) string { return p }
	if e != nil && e.path != nil {
		path = e.path
	}
	args := []string{"eval", "--sbom", path(sbom), "--feed", path(feed), "-o", path(out), "--manifest-out", path(man), "--output", "json"}
	prog := binary
	if e != nil {
		args = slices.Concat(e.argv[1:], []string{binary}, args)
		prog = e.argv[0]
	}
	cmd := exec.Command(prog, args...)
	cmd.Env = append(os.Environ(), env...)
	if e != nil {
		cmd.Env = append(cmd.Env, e.env...)
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if ee, ok := err.(*exec.ExitError); err != nil && !(ok && ee.ExitCode() == 3) {
		t.Fatalf("%s %v: %v: %s", binary, env, err, stderr.String())
	}
	var o evalOutput
	if o.verdict, err = os.ReadFile(out); err != nil {
		t.Fatal(err)
	}
	if o.manifest, err = os.ReadFile(man); err != nil {
		t.Fatal(err)
	}
	dec := json.NewDecoder(&stdout)
	dec.UseNumber()
	if err := dec.Decode(&o.report); err != nil {
		t.Fatalf("%s: --output json: %v: %q", binary, err, stdout.Bytes())
	}
	// The paths are the ones this run was given (Z:\... under wine).
	delete(o.report, "verdict_path")
	delete(o.report, "manifest_path")
	return o
}

// TestChaos: GOMAXPROCS, TZ, LANG and input order never change the bytes.
func TestChaos(t *testing.T) {
	envs := [][]string{
		{"GOMAXPROCS=1"},
		{"GOMAXPROCS=2"},
		{"GOMAXPROCS=8"},
		{"TZ=Asia/Kathmandu", "LANG=tr_TR.UTF-8", "LC_ALL=tr_TR.UTF-8"},
		{"TZ=America/St_Johns", "LANG=ja_JP.UTF-8"},
		{"TZ=UTC", "LANG=C", "GOMAXPROCS=8", "GODEBUG=randautoseed=0"},
	}
	for _, c := range cases(t) {
		t.Run(c.name, func(t *testing.T) {
			want, err := os.ReadFile(c.golden)
			if err != nil {
				t.Fatal(err)
			}
			for _, env := range envs {
				if got := runEval(t, bin["native"], env, c.sbom, c.feed); !bytes.Equal(got, want) {
					t.Errorf("env %v: verdict differs from %s", env, c.golden)
				}
			}
			r := rand.New(rand.NewPCG(7, uint64(len(c.name))))
			for i := range 3 {
				shuffled := filepath.Join(t.TempDir(), fmt.Sprintf("shuffled-%d.json", i))
				if err := shuffleFile(c.sbom, shuffled, r); err != nil {
					t.Fatal(err)
				}
				got := runEval(t, bin["native"], []string{fmt.Sprintf("GOMAXPROCS=%d", 1+i*3)}, shuffled, c.feed)
				if !sameDecision(got, want) {
					t.Errorf("shuffled SBOM %d: verdict decisions differ from %s", i, c.golden)
				}
			}
		})
	}
}

// TestCrossBuild: builds for other platforms (386, arm64, Windows) and a
// -race build write the native build's verdict and scan manifest bytes and
// report the same digests, on the project's fixtures and the corpus. A
// build this machine cannot run natively runs under an emulator
// (qemu-user, Wine; xplat_test.go); with CI=true a missing one fails the
// test, elsewhere that variant is skipped with the reason. The variants
// are stella-engine builds, run directly (build): the stella-oras front
// executes its engine with exec(2), which fails for a foreign-architecture
// engine under qemu-user (no binfmt_misc here), and the engine is what
// computes the verdict. The native side runs through the front.
func TestCrossBuild(t *testing.T) {
	if testing.Short() {
		t.Skip("builds four more binaries; skipped with -short")
	}
	dir := t.TempDir()
	var names []string
	for _, v := range variants() {
		if v.skip != "" {
			t.Logf("%s build: skipped: %s", v.name, v.skip)
			continue
		}
		if err := build(dir, v.name, v.env, v.flags...); err != nil {
			t.Fatal(err)
		}
		how, err := v.setup(t, bin[v.name])
		if err != nil {
			if os.Getenv("CI") == "true" {
				t.Fatalf("%s build: %v", v.name, err)
			}
			t.Logf("%s build: skipped: %v", v.name, err)
			continue
		}
		t.Logf("%s build: %s", v.name, how)
		names = append(names, v.name)
	}
	for _, c := range cases(t) {
		want := runEvalAll(t, bin["native"], nil, c.sbom, c.feed)
		if got, d := want.report["verdict_digest"], digest(want.verdict); got != d {
			t.Errorf("%s: the native build reports verdict_digest %v, want its verdict's %s", c.name, got, d)
		}
		if got, d := want.report["manifest_digest"], digest(want.manifest); got != d {
			t.Errorf("%s: the native build reports manifest_digest %v, want its scan manifest's %s", c.name, got, d)
		}
		for _, n := range names {
			got := runEvalAll(t, bin[n], nil, c.sbom, c.feed)
			if !bytes.Equal(got.verdict, want.verdict) {
				t.Errorf("%s: the %s build wrote different verdict bytes: %s, want %s", c.name, n, digest(got.verdict), digest(want.verdict))
			}
			if !bytes.Equal(got.manifest, want.manifest) {
				t.Errorf("%s: the %s build wrote a different scan manifest: %s, want %s", c.name, n, digest(got.manifest), digest(want.manifest))
			}
			if d := cmp.Diff(want.report, got.report); d != "" {
				t.Errorf("%s: the %s build reported different digests or results (-native +%s):\n%s", c.name, n, n, d)
			}
		}
	}
}

// digest is the OCI digest of b.
func digest(b []byte) string {
	return fmt.Sprintf("sha256:%x", sha256.Sum256(b))
}

// shuffleFile rewrites a JSON SBOM with the order of every unordered list
// (components, packages, dependencies, relationships, @graph) shuffled,
// object keys in random order and different whitespace.
func shuffleFile(src, dst string, r *rand.Rand) error {
	b, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var doc any
	if err := dec.Decode(&doc); err != nil {
		return err
	}
	var buf bytes.Buffer
	writeShuffled(&buf, doc, "", r, 0)
	return os.WriteFile(dst, buf.Bytes(), 0o644)
}

var unordered = map[string]bool{"nodes": true, "edges": true, "entrypoints": true, "statements": true, "vulnerabilities": true, "products": true, "components": true, "packages": true, "dependencies": true, "dependsOn": true, "relationships": true, "@graph": true, "files": true}

func writeShuffled(buf *bytes.Buffer, v any, key string, r *rand.Rand, depth int) {
	indent := "\n" + strings.Repeat("\t", depth%3)
	switch x := v.(type) {
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		r.Shuffle(len(keys), func(i, j int) { keys[i], keys[j] = keys[j], keys[i] })
		buf.WriteByte('{')
		for i, k := range keys {
			if i > 0 {
				buf.WriteByte(',')
			}
			buf.WriteString(indent)
			kb, _ := json.Marshal(k)
			buf.Write(kb)
			buf.WriteString(" : ")
			writeShuffled(buf, x[k], k, r, depth+1)
		}
		buf.WriteString(indent + "}")
	case []any:
		items := append([]any(nil), x...)
		if unordered[key] {
			r.Shuffle(len(items), func(i, j int) { items[i], items[j] = items[j], items[i] })
		}
		buf.WriteByte('[')
		for i, it := range items {
			if i > 0 {
				buf.WriteString(", ")
			}
			writeShuffled(buf, it, "", r, depth+1)
		}
		buf.WriteByte(']')
	default:
		b, _ := json.Marshal(x)
		buf.Write(b)
	}
}

// sameDecision compares two verdicts except for the manifest digest they
// name. Inputs that are the same content in other bytes (a reshuffled
// SBOM) are other blobs: the scan manifest records each input's stored
// digest beside its content ID, so the manifest, and the verdict's
// manifest_digest, differ, while every decision in the verdict is the same
// byte for byte.
func sameDecision(a, b []byte) bool {
	strip := func(v []byte) []byte {
		var m map[string]json.RawMessage
		if json.Unmarshal(v, &m) != nil || m["manifest_digest"] == nil {
			return nil
		}
		delete(m, "manifest_digest")
		out, _ := json.Marshal(m)
		return out
	}
	sa, sb := strip(a), strip(b)
	return sa != nil && bytes.Equal(sa, sb)
}
