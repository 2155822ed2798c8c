package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"testing"

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

// runEval runs a binary and returns the verdict bytes it wrote.
func runEval(t *testing.T, binary string, env []string, sbom, feed string) []byte {
	t.Helper()
	out := filepath.Join(t.TempDir(), "verdict.json")
	args := []string{"eval", "--sbom", sbom, "--feed", feed, "-o", out}
	if emu := emulator[binary]; emu != "" {
		args = append([]string{binary}, args...)
		binary = emu
	}
	cmd := exec.Command(binary, args...)
	cmd.Env = append(os.Environ(), env...)
	if emulator[args[0]] != "" || binary == emulator[args[0]] {
		// Go's asynchronous preemption signals crash under qemu-user.
		cmd.Env = append(cmd.Env, "GODEBUG=asyncpreemptoff=1")
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	err := cmd.Run()
	if ee, ok := err.(*exec.ExitError); err != nil && !(ok && ee.ExitCode() == 3) {
		t.Fatalf("%s %v: %v: %s", binary, env, err, stderr.String())
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	return b
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

// emulator maps a binary to the program that runs it, when it cannot run
// natively.
var emulator = map[string]string{}

// TestCrossBuild: a GOARCH=386 build and a -race build write the same bytes
// as the native build.
func TestCrossBuild(t *testing.T) {
	if testing.Short() {
		t.Skip("builds two more binaries; skipped with -short")
	}
	dir := t.TempDir()
	variants := map[string]func() error{
		"386":  func() error { return build(dir, "386", []string{"GOARCH=386", "CGO_ENABLED=0"}) },
		"race": func() error { return build(dir, "race", []string{"CGO_ENABLED=1"}, "-race") },
	}
	names := []string{"386", "race"}
	for _, n := range names {
		if n == "race" && runtime.GOARCH != "amd64" && runtime.GOARCH != "arm64" {
			t.Logf("no race detector on %s", runtime.GOARCH)
			continue
		}
		if err := variants[n](); err != nil {
			t.Fatal(err)
		}
	}
	// Kernels without 32-bit support (some sandboxes) cannot exec a 386
	// binary; qemu-user (installed by .ci/run) runs it instead.
	probe := exec.Command(bin["386"], "version")
	if err := probe.Run(); err != nil {
		q, lerr := exec.LookPath("qemu-i386")
		if lerr != nil {
			if os.Getenv("CI") == "true" {
				t.Fatalf("cannot run the 386 build (%v) and qemu-i386 is not installed", err)
			}
			t.Logf("skipping the 386 comparison: cannot run it (%v) and qemu-i386 is not installed", err)
			delete(bin, "386")
		} else {
			emulator[bin["386"]] = q
			t.Logf("running the 386 build under %s (this kernel cannot exec it: %v)", q, err)
		}
	}
	for _, c := range cases(t) {
		want := runEval(t, bin["native"], nil, c.sbom, c.feed)
		for _, n := range names {
			if bin[n] == "" {
				continue
			}
			if got := runEval(t, bin[n], nil, c.sbom, c.feed); !bytes.Equal(got, want) {
				t.Errorf("%s: the %s build wrote different verdict bytes", c.name, n)
			}
		}
	}
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
