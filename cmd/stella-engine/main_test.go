package main

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stella-ops/stella-oras/canon"
	"github.com/stella-ops/stella-oras/engine"
	"github.com/stella-ops/stella-oras/internal/cli"
	"github.com/stella-ops/stella-oras/internal/testutil"
)

type result struct {
	code           int
	stdout, stderr string
}

// stella runs one command line on a fresh root.
func stella(t *testing.T, stdin string, args ...string) result {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(context.Background(), args, strings.NewReader(stdin), &out, &errb)
	return result{code, out.String(), errb.String()}
}

func example(p string) string { return filepath.Join(testutil.RepoRoot(), "examples/quickstart", p) }

// dirEntries lists a directory, to prove nothing was left behind.
func dirEntries(t *testing.T, dir string) []string {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range es {
		names = append(names, e.Name())
	}
	return names
}

func TestVersion(t *testing.T) {
	r := stella(t, "", "version", "--output", "json")
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	var v cli.VersionInfo
	if err := json.Unmarshal([]byte(r.stdout), &v); err != nil {
		t.Fatal(err)
	}
	if v.Name != "stella-oras" || v.Engine != "stella-oras/"+engine.Version || !strings.HasPrefix(v.Go, "go1.") {
		t.Errorf("version = %+v", v)
	}
	if r := stella(t, "", "version"); !strings.Contains(r.stdout, "engine:") {
		t.Errorf("text version = %q", r.stdout)
	}
}

func TestUsageErrors(t *testing.T) {
	for _, args := range [][]string{
		{"nosuchcommand"},
		{"version", "--bogus"},
		{"canon"},
		{"eval", "--sbom", "x"},
		{"eval", "--sbom", "x", "--feed", "y", "--fail-on", "never"},
		{"version", "--output", "yaml"},
		{"feed", "build", "dir"},
		{"feed", "build", "dir", "-o", "x", "--epoch", "yesterday"},
	} {
		if r := stella(t, "", args...); r.code != cli.ExitUsage || r.stdout != "" {
			t.Errorf("%v: exit %d stdout %q, want %d and nothing on stdout", args, r.code, r.stdout, cli.ExitUsage)
		}
	}
}

func TestCanon(t *testing.T) {
	r := stella(t, `{"b":1,"a":[1.0,"\u00e9"]}`, "canon", "-")
	if r.code != 0 || r.stdout != `{"a":[1,"é"],"b":1}` {
		t.Errorf("canon = %d %q %q", r.code, r.stdout, r.stderr)
	}
	r = stella(t, `{"a":1}`, "canon", "--digest", "-")
	if r.stdout != canon.ContentID([]byte(`{"a":1}`))+"\n" {
		t.Errorf("digest = %q", r.stdout)
	}
	r = stella(t, `{"a":1,"a":2}`, "canon", "-")
	if r.code != cli.ExitError || !strings.Contains(r.stderr, "<stdin>: byte offset 7: invalid JSON: duplicate object key") || strings.Count(r.stderr, "\n") != 1 {
		t.Errorf("duplicate key: exit %d stderr %q", r.code, r.stderr)
	}
}

// TestCanonCorpus: `stella-oras canon` reproduces every corpus JCS vector.
func TestCanonCorpus(t *testing.T) {
	dir := filepath.Join(testutil.Corpus(t), "jcs")
	inputs, _ := filepath.Glob(filepath.Join(dir, "*", "input", "*.json"))
	if len(inputs) == 0 {
		inputs, _ = filepath.Glob(filepath.Join(dir, "input", "*.json"))
	}
	if len(inputs) == 0 {
		t.Fatalf("no JCS vectors under %s", dir)
	}
	compared := 0
	defer func() {
		if compared < 6 {
			t.Errorf("compared %d JCS vectors, want all 6", compared)
		}
	}()
	for _, in := range inputs {
		want, err := os.ReadFile(filepath.Join(filepath.Dir(filepath.Dir(in)), "output", filepath.Base(in)))
		if err != nil {
			t.Fatal(err)
		}
		compared++
		r := stella(t, "", "canon", in)
		if r.code != 0 || r.stdout != string(want) {
			t.Errorf("%s: exit %d, output %q, want %q", in, r.code, r.stdout, want)
		}
	}
}

func TestFeedBuildAndEval(t *testing.T) {
	dir := t.TempDir()
	snap := filepath.Join(dir, "feed.json")
	r := stella(t, "", "feed", "build", example("osv"), "-o", snap, "--output", "json")
	if r.code != 0 {
		t.Fatalf("feed build: %d %s", r.code, r.stderr)
	}
	var fr feedResult
	if err := json.Unmarshal([]byte(r.stdout), &fr); err != nil || fr.Records != 12 || fr.Withdrawn != 1 {
		t.Fatalf("feed build result %+v (%v)", fr, err)
	}
	// The feed's identity is the content ID of its index: the snapshot
	// without its trailing records member.
	b, _ := os.ReadFile(snap)
	var doc map[string]json.RawMessage
	if err := json.Unmarshal(b, &doc); err != nil || doc["records"] == nil {
		t.Fatalf("snapshot: %v", err)
	}
	delete(doc, "records")
	if _, id, err := canon.MarshalID(doc); err != nil || id != fr.Digest {
		t.Errorf("printed digest %s is not the content ID of the snapshot without its records, %s (%v)", fr.Digest, id, err)
	}

	verdict, manifest := filepath.Join(dir, "v.json"), filepath.Join(dir, "m.json")
	r = stella(t, "", "eval", "--sbom", example("sbom.cdx.json"), "--feed", snap, "-o", verdict, "--manifest-out", manifest)
	if r.code != cli.ExitGateFailed {
		t.Fatalf("eval exit %d, want %d (critical findings); stderr %s", r.code, cli.ExitGateFailed, r.stderr)
	}
	if !strings.HasPrefix(r.stdout, "Verdict: FAIL") || !strings.Contains(r.stdout, "EX-GHSA-2026-0001") {
		t.Errorf("summary:\n%s", r.stdout)
	}
	vb, err := os.ReadFile(verdict)
	if err != nil {
		t.Fatal(err)
	}
	if c, err := canon.Transform(vb); err != nil || !bytes.Equal(c, vb) {
		t.Error("verdict.json is not canonical")
	}
	mb, _ := os.ReadFile(manifest)
	var v struct {
		ManifestDigest string `json:"manifest_digest"`
	}
	json.Unmarshal(vb, &v)
	if v.ManifestDigest != canon.ContentID(mb) {
		t.Errorf("manifest_digest %s != content ID of the manifest %s", v.ManifestDigest, canon.ContentID(mb))
	}
	// The directory form gives the same verdict as the built snapshot.
	v2 := filepath.Join(dir, "v2.json")
	stella(t, "", "eval", "--sbom", example("sbom.cdx.json"), "--feed", example("osv"), "-o", v2)
	if b2, _ := os.ReadFile(v2); !bytes.Equal(b2, vb) {
		t.Error("eval --feed DIR differs from eval --feed SNAPSHOT")
	}
	// So does a zip of the records (osv.dev's all.zip layout).
	zipPath := filepath.Join(dir, "all.zip")
	writeZip(t, zipPath, example("osv"))
	v3 := filepath.Join(dir, "v3.json")
	stella(t, "", "eval", "--sbom", example("sbom.cdx.json"), "--feed", zipPath, "-o", v3)
	if b3, _ := os.ReadFile(v3); !bytes.Equal(b3, vb) {
		t.Error("eval --feed ZIP differs from eval --feed SNAPSHOT")
	}
	// JSON output parses and agrees.
	r = stella(t, "", "eval", "--sbom", example("sbom.cdx.json"), "--feed", snap, "--output", "json")
	var er evalResult
	if err := json.Unmarshal([]byte(r.stdout), &er); err != nil || er.Status != "fail" || er.VerdictDigest != canon.ContentID(vb) {
		t.Errorf("json output: %v %+v", err, er.Status)
	}
}

func TestEvalWarnExitCodes(t *testing.T) {
	dir := t.TempDir()
	sb := filepath.Join(dir, "warn.cdx.json")
	os.WriteFile(sb, []byte(`{"bomFormat":"CycloneDX","specVersion":"1.5","components":[
		{"type":"library","name":"golang.example/x/net","purl":"pkg:golang/golang.example/x/net@v0.15.0"}]}`), 0o644)
	if r := stella(t, "", "eval", "--sbom", sb, "--feed", example("osv")); r.code != 0 || !strings.HasPrefix(r.stdout, "Verdict: WARN") {
		t.Errorf("warn verdict: exit %d, stdout %q", r.code, r.stdout)
	}
	if r := stella(t, "", "eval", "--sbom", sb, "--feed", example("osv"), "--fail-on", "warn"); r.code != cli.ExitGateFailed {
		t.Errorf("--fail-on warn: exit %d, want %d", r.code, cli.ExitGateFailed)
	}
	os.WriteFile(sb, []byte(`{"bomFormat":"CycloneDX","specVersion":"1.5","components":[
		{"type":"library","name":"example.com/safe","purl":"pkg:golang/example.com/safe@v1.0.0"}]}`), 0o644)
	if r := stella(t, "", "eval", "--sbom", sb, "--feed", example("osv"), "--fail-on", "warn"); r.code != 0 || !strings.HasPrefix(r.stdout, "Verdict: PASS") {
		t.Errorf("pass verdict: exit %d, stdout %q", r.code, r.stdout)
	}
}

// TestBadInput: one line naming the file and the offset or path, exit 1,
// and no output file left behind.
func TestBadInput(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	huge := filepath.Join(dir, "huge.json")
	f, err := os.Create(huge)
	if err != nil {
		t.Fatal(err)
	}
	f.Truncate(2 << 30) // a sparse 2 GiB file: one enormous line
	f.Close()
	emptyFeed := filepath.Join(dir, "emptyfeed")
	os.Mkdir(emptyFeed, 0o755)
	badRange := filepath.Join(dir, "badrange")
	os.Mkdir(badRange, 0o755)
	os.WriteFile(filepath.Join(badRange, "X-1.json"), []byte(`{"id":"X-1","modified":"2026-01-01T00:00:00Z","affected":[{"package":{"ecosystem":"npm","name":"a"},"ranges":[{"type":"CALVER","events":[{"introduced":"0"}]}]}]}`), 0o644)
	zeroTime := filepath.Join(dir, "zerotime")
	os.Mkdir(zeroTime, 0o755)
	os.WriteFile(filepath.Join(zeroTime, "GO-1.json"), []byte(`{"id":"GO-1","modified":"0001-01-01T00:00:00Z"}`), 0o644)

	goodSBOM, goodFeed := example("sbom.cdx.json"), example("osv")
	tests := []struct {
		name     string
		sbom     string
		feed     string
		contains []string
	}{
		{"truncated sbom", write("trunc.json", `{"bomFormat":"CycloneDX","components":[{"name":`), goodFeed, []string{"trunc.json", "byte offset"}},
		{"hostile sbom", write("hostile.json", "{\"bomFormat\":\"CycloneDX\",\"x\":\"\xff\"}"), goodFeed, []string{"hostile.json", "byte offset", "UTF-8"}},
		{"deep nesting", write("deep.json", strings.Repeat("[", 1_000_000)+strings.Repeat("]", 1_000_000)), goodFeed, []string{"deep.json", "byte offset"}},
		{"2 GB line", huge, goodFeed, []string{"huge.json", "size limit"}},
		{"wrong format", write("spdx1.json", `{"SPDXVersion":"SPDX-1.2"}`), goodFeed, []string{"spdx1.json", "not a supported SBOM"}},
		{"wrong field type", write("type.json", `{"bomFormat":"CycloneDX","specVersion":"1.5","serialNumber":7}`), goodFeed, []string{"type.json", "serialNumber", "byte offset"}},
		{"missing sbom", filepath.Join(dir, "nope.json"), goodFeed, []string{"nope.json"}},
		{"empty feed", goodSBOM, emptyFeed, []string{"emptyfeed", "no OSV records"}},
		{"unknown range type", goodSBOM, badRange, []string{"X-1.json", "affected[0].ranges[0].type", "CALVER"}},
		{"zero-time feed", goodSBOM, zeroTime, []string{"zerotime", "--epoch"}},
		{"not a snapshot", goodSBOM, goodSBOM, []string{"sbom.cdx.json", "not a valid feed snapshot"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out := filepath.Join(dir, "out", tt.name)
			os.MkdirAll(out, 0o755)
			r := stella(t, "", "eval", "--sbom", tt.sbom, "--feed", tt.feed, "-o", filepath.Join(out, "verdict.json"), "--manifest-out", filepath.Join(out, "manifest.json"))
			if r.code != cli.ExitError {
				t.Errorf("exit %d, want %d", r.code, cli.ExitError)
			}
			if strings.Count(r.stderr, "\n") != 1 || r.stdout != "" {
				t.Errorf("want one line on stderr and nothing on stdout; got stderr %q stdout %q", r.stderr, r.stdout)
			}
			for _, s := range tt.contains {
				if !strings.Contains(r.stderr, s) {
					t.Errorf("stderr %q lacks %q", r.stderr, s)
				}
			}
			if left := dirEntries(t, out); len(left) != 0 {
				t.Errorf("left behind: %v", left)
			}
		})
	}
	// feed build leaves nothing behind either.
	out := filepath.Join(dir, "feedout")
	os.Mkdir(out, 0o755)
	if r := stella(t, "", "feed", "build", badRange, "-o", filepath.Join(out, "s.json")); r.code != cli.ExitError || len(dirEntries(t, out)) != 0 {
		t.Errorf("feed build of a bad record: exit %d, left %v", r.code, dirEntries(t, out))
	}
}

func writeZip(t *testing.T, dst, dir string) {
	t.Helper()
	f, err := os.Create(dst)
	if err != nil {
		t.Fatal(err)
	}
	zw := zip.NewWriter(f)
	paths, _ := filepath.Glob(filepath.Join(dir, "*.json"))
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		w, _ := zw.Create(filepath.Base(p))
		w.Write(b)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	f.Close()
}
