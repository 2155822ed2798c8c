package engine_test

import (
	"bytes"
	"path/filepath"
	"testing"

	"github.com/stella-ops/stella-oras/artifacts"
	"github.com/stella-ops/stella-oras/engine"
	"github.com/stella-ops/stella-oras/engine/feed"
	"github.com/stella-ops/stella-oras/engine/policy"
	"github.com/stella-ops/stella-oras/engine/reach"
	"github.com/stella-ops/stella-oras/engine/sbom"
	"github.com/stella-ops/stella-oras/engine/vex"
	"github.com/stella-ops/stella-oras/internal/testutil"
)

// TestManifestCoversEveryInput is the property the provenance cache rests
// on: changing any one input in a way that changes the verdict changes the
// scan manifest's digest, so one manifest digest never stands for two
// verdicts. The engine derives every identity from what it evaluates.
func TestManifestCoversEveryInput(t *testing.T) {
	root := testutil.RepoRoot()
	ex := func(p string) []byte { return mustRead(t, filepath.Join(root, "examples", p)) }
	parseSBOM := func(b []byte) *sbom.SBOM {
		s, err := sbom.Parse(b)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	parseVEX := func(b []byte) *vex.Document {
		d, err := vex.Normalize(b)
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	strict, err := policy.Load(ex("policies/strict-prod.yaml"), "strict-prod.yaml")
	if err != nil {
		t.Fatal(err)
	}
	lenient, err := policy.Load(ex("policies/lenient-dev.yaml"), "lenient-dev.yaml")
	if err != nil {
		t.Fatal(err)
	}
	graph, err := reach.Parse(ex("quickstart/reach-graph.json"), "graph")
	if err != nil {
		t.Fatal(err)
	}
	base := func() *engine.Inputs {
		return &engine.Inputs{
			SBOM: parseSBOM(ex("quickstart/sbom.cdx.json")), Feed: quickstartFeed(t),
			VEX: []*vex.Document{parseVEX(ex("quickstart/vex.openvex.json"))}, Policy: strict, Reach: graph, Env: "prod",
		}
	}
	// A feed without one record, an SBOM without one component, a second
	// VEX document that suppresses another finding.
	var srcs []feed.Source
	paths, _ := filepath.Glob(filepath.Join(root, "examples/quickstart/osv/*.json"))
	for _, p := range paths {
		if filepath.Base(p) != "EX-NPM-2026-0001.json" {
			srcs = append(srcs, feed.Source{Name: p, Data: mustRead(t, p)})
		}
	}
	fb, err := feed.Build(srcs, feed.BuildOptions{})
	if err != nil {
		t.Fatal(err)
	}
	smallFeed, err := feed.Open(fb)
	if err != nil {
		t.Fatal(err)
	}
	sbomFewer := bytes.Replace(ex("quickstart/sbom.cdx.json"), []byte(`"pkg:npm/%40example/parser@`), []byte(`"pkg:npm/%40example/parsers@`), 1)
	moreVEX := []byte(`{"@context":"https://openvex.dev/ns/v0.2.0","@id":"https://example.com/vex/2","author":"Example","timestamp":"2026-02-01T00:00:00Z","version":1,
		"statements":[{"vulnerability":{"name":"EX-NPM-2026-0001"},"products":[{"@id":"pkg:npm/%40example/parser@1.4.0"}],"status":"not_affected","justification":"vulnerable_code_not_in_execute_path"}]}`)
	variants := map[string]func(in *engine.Inputs){
		"sbom":        func(in *engine.Inputs) { in.SBOM = parseSBOM(sbomFewer) },
		"vex added":   func(in *engine.Inputs) { in.VEX = append(in.VEX, parseVEX(moreVEX)) },
		"vex removed": func(in *engine.Inputs) { in.VEX = nil },
		"vex ignored": func(in *engine.Inputs) {
			in.IgnoredVEX = []artifacts.IgnoredInput{{Stored: "sha256:" + string(bytes.Repeat([]byte("a"), 64)), Reason: engine.ReasonVEXUntrusted}}
		},
		"reach":  func(in *engine.Inputs) { in.Reach = nil },
		"feed":   func(in *engine.Inputs) { in.Feed = smallFeed },
		"policy": func(in *engine.Inputs) { in.Policy, in.Env = lenient, "" },
		"env":    func(in *engine.Inputs) { in.Env = "staging" },
	}
	m0, v0, err := engine.Evaluate(base())
	if err != nil {
		t.Fatal(err)
	}
	_, vid0, _ := engine.MarshalVerdict(v0)
	if m0.Engine.Version != engine.Version || m0.Inputs.SBOM.Stored == "" || m0.Inputs.VEX[0].Stored == "" || m0.Inputs.Reachability.Stored == "" {
		t.Fatalf("manifest lacks the engine version or stored digests: %+v", m0.Inputs)
	}
	for name, change := range variants {
		in := base()
		change(in)
		m, v, err := engine.Evaluate(in)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		_, vid, _ := engine.MarshalVerdict(v)
		if vid == vid0 {
			t.Errorf("%s: the change does not change the verdict; the variant proves nothing", name)
		}
		if v.ManifestDigest == v0.ManifestDigest {
			t.Errorf("%s: the verdict changed (%s -> %s) under the same manifest digest %s", name, vid0, vid, v.ManifestDigest)
		}
		if m.Engine != engine.Identity() {
			t.Errorf("%s: manifest engine %+v", name, m.Engine)
		}
	}
	// The stored form matters too: the same SBOM content in other bytes
	// (reformatted) is another blob to fetch, so another manifest, but the
	// same normalized identity.
	reformatted := append([]byte("\n"), ex("quickstart/sbom.cdx.json")...)
	in := base()
	in.SBOM = parseSBOM(reformatted)
	m, v, err := engine.Evaluate(in)
	if err != nil {
		t.Fatal(err)
	}
	if m.Inputs.SBOM.Digest != m0.Inputs.SBOM.Digest || m.Inputs.SBOM.Stored == m0.Inputs.SBOM.Stored || v.ManifestDigest == v0.ManifestDigest {
		t.Errorf("reformatted SBOM: content ID %s vs %s (want equal), stored %s vs %s and manifest %s vs %s (want different)",
			m.Inputs.SBOM.Digest, m0.Inputs.SBOM.Digest, m.Inputs.SBOM.Stored, m0.Inputs.SBOM.Stored, v.ManifestDigest, v0.ManifestDigest)
	}
	// And the converse: the same inputs in another order give the same
	// manifest and the same verdict bytes.
	in = base()
	in.VEX = append(in.VEX, parseVEX(moreVEX))
	_, va, _ := engine.Evaluate(in)
	in.VEX[0], in.VEX[1] = in.VEX[1], in.VEX[0]
	_, vb, _ := engine.Evaluate(in)
	ba, _, _ := engine.MarshalVerdict(va)
	bb, _, _ := engine.MarshalVerdict(vb)
	if va.ManifestDigest != vb.ManifestDigest || !bytes.Equal(ba, bb) {
		t.Error("VEX order changed the manifest or the verdict")
	}
}
