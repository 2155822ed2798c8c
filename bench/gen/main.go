// Command gen writes the benchmark inputs: a CycloneDX SBOM of N Go
// components and a directory of OSV records (the corpus Go vulnerability
// database, if present, plus generated records across ecosystems), all
// from a fixed seed so every run measures the same data.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

func main() {
	var (
		n      = flag.Int("components", 10000, "components in the SBOM")
		recs   = flag.Int("advisories", 50000, "total OSV records (corpus + generated)")
		corpus = flag.String("corpus", "", "corpus directory (its osv/go-vulndb is included when present)")
		out    = flag.String("out", "bench/out", "output directory")
		sbomN  = flag.String("sbom", "", "SBOM file name (default sbom-<N>.cdx.json)")
		goOnly = flag.Bool("go-only-osv", false, "write only Go records (for osv-scanner's Go database)")
	)
	flag.Parse()
	if err := run(*n, *recs, *corpus, *out, *sbomN, *goOnly); err != nil {
		fmt.Fprintln(os.Stderr, "gen:", err)
		os.Exit(1)
	}
}

type osv struct {
	SchemaVersion string     `json:"schema_version"`
	ID            string     `json:"id"`
	Modified      string     `json:"modified"`
	Aliases       []string   `json:"aliases,omitempty"`
	Summary       string     `json:"summary"`
	Severity      []severity `json:"severity,omitempty"`
	Affected      []affected `json:"affected"`
}
type severity struct {
	Type  string `json:"type"`
	Score string `json:"score"`
}
type affected struct {
	Package struct {
		Ecosystem string `json:"ecosystem"`
		Name      string `json:"name"`
	} `json:"package"`
	Ranges []rng `json:"ranges"`
}
type rng struct {
	Type   string              `json:"type"`
	Events []map[string]string `json:"events"`
}

var vectors = []string{
	"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H",
	"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:H",
	"CVSS:3.1/AV:N/AC:H/PR:N/UI:R/S:U/C:L/I:L/A:N",
	"CVSS:3.1/AV:L/AC:H/PR:H/UI:R/S:U/C:L/I:N/A:N",
}

func run(n, total int, corpus, out, sbomName string, goOnly bool) error {
	r := rand.New(rand.NewPCG(42, 2026))
	osvDir := filepath.Join(out, "osv")
	if err := os.MkdirAll(osvDir, 0o755); err != nil {
		return err
	}
	// Real Go modules named by the corpus advisories.
	var realModules []string
	written := 0
	if corpus != "" {
		paths, _ := filepath.Glob(filepath.Join(corpus, "osv/go-vulndb/*.json"))
		seen := map[string]bool{}
		for _, p := range paths {
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			var rec osv
			if err := json.Unmarshal(b, &rec); err != nil {
				return fmt.Errorf("%s: %w", p, err)
			}
			for _, a := range rec.Affected {
				if name := a.Package.Name; name != "stdlib" && name != "toolchain" && !seen[name] {
					seen[name] = true
					realModules = append(realModules, name)
				}
			}
			if err := os.WriteFile(filepath.Join(osvDir, filepath.Base(p)), b, 0o644); err != nil {
				return err
			}
			written++
		}
		slices.Sort(realModules)
	}
	// Generated records: a third name the SBOM's synthetic Go modules, the
	// rest other ecosystems' packages (index size, not matches).
	ecos := []string{"npm", "PyPI", "Maven", "Go"}
	for i := 0; written < total; i++ {
		rec := osv{
			SchemaVersion: "1.7.0",
			ID:            fmt.Sprintf("BENCH-%06d", i),
			Modified:      "2026-08-21T00:00:00Z",
			Summary:       fmt.Sprintf("generated advisory %d", i),
		}
		if i%5 == 0 {
			rec.Aliases = []string{fmt.Sprintf("CVE-2099-%06d", i/5)}
		}
		if i%4 != 3 {
			rec.Severity = []severity{{Type: "CVSS_V3", Score: vectors[i%len(vectors)]}}
		}
		var a affected
		eco := ecos[i%len(ecos)]
		if goOnly {
			eco = "Go"
		}
		switch {
		case i%3 == 0 || eco == "Go":
			a.Package.Ecosystem = "Go"
			a.Package.Name = fmt.Sprintf("example.com/gen/m%05d", r.IntN(40000))
		case eco == "npm":
			a.Package.Ecosystem, a.Package.Name = "npm", fmt.Sprintf("gen-pkg-%05d", r.IntN(40000))
		case eco == "PyPI":
			a.Package.Ecosystem, a.Package.Name = "PyPI", fmt.Sprintf("gen_pkg_%05d", r.IntN(40000))
		default:
			a.Package.Ecosystem, a.Package.Name = "Maven", fmt.Sprintf("org.gen:pkg%05d", r.IntN(40000))
		}
		typ := "SEMVER"
		if a.Package.Ecosystem != "Go" && a.Package.Ecosystem != "npm" {
			typ = "ECOSYSTEM"
		}
		a.Ranges = []rng{{Type: typ, Events: []map[string]string{
			{"introduced": fmt.Sprintf("1.%d.0", r.IntN(5))},
			{"fixed": fmt.Sprintf("1.%d.%d", 5+r.IntN(5), r.IntN(3))},
		}}}
		rec.Affected = []affected{a}
		b, err := json.Marshal(rec)
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(osvDir, rec.ID+".json"), b, 0o644); err != nil {
			return err
		}
		written++
	}
	// The SBOM: real vulnerable-looking modules first, then synthetic ones,
	// from its own stream so that records do not depend on N.
	r = rand.New(rand.NewPCG(7, 2026))
	type comp struct {
		Type    string `json:"type"`
		BOMRef  string `json:"bom-ref"`
		Name    string `json:"name"`
		Version string `json:"version"`
		Purl    string `json:"purl"`
	}
	comps := make([]comp, 0, n)
	for i := range n {
		var name, ver string
		if i < len(realModules) && i < n/2 {
			name, ver = realModules[i], "v0.0.0-20200101000000-000000000000"
		} else {
			name, ver = fmt.Sprintf("example.com/gen/m%05d", i), fmt.Sprintf("v1.%d.%d", r.IntN(10), r.IntN(3))
		}
		comps = append(comps, comp{"library", fmt.Sprintf("c%d", i), name, ver, "pkg:golang/" + name + "@" + ver})
	}
	doc := map[string]any{"bomFormat": "CycloneDX", "specVersion": "1.5", "version": 1, "components": comps}
	b, err := json.Marshal(doc)
	if err != nil {
		return err
	}
	if sbomName == "" {
		sbomName = fmt.Sprintf("sbom-%d.cdx.json", n)
	}
	if err := os.WriteFile(filepath.Join(out, sbomName), b, 0o644); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "gen: %d components (%d real modules), %d OSV records in %s\n", n, min(len(realModules), n/2), written, strings.TrimSuffix(osvDir, "/"))
	return nil
}
