// Command gendec generates the decision inputs of the #5 benchmark from a
// verdict of the scan benchmark: N OpenVEX documents about its findings
// (statuses, justifications and issuers mixed) and a reach graph with one
// node per component plus an entrypoint, acyclic, about a third reached.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"os"
	"path/filepath"
)

func main() {
	var (
		verdict = flag.String("verdict", "bench/out/verdict-10000.json", "verdict whose findings the VEX documents name")
		sbomF   = flag.String("sbom", "bench/out/sbom-10000.cdx.json", "SBOM whose components become graph nodes")
		out     = flag.String("out", "bench/out/decisions", "output directory")
		docs    = flag.Int("docs", 200, "VEX documents")
		per     = flag.Int("statements", 50, "statements per document")
		nodes   = flag.Int("nodes", 10000, "reach graph nodes")
	)
	flag.Parse()
	var v struct {
		Findings []struct {
			Purl          string `json:"purl"`
			Vulnerability string `json:"vulnerability"`
		} `json:"findings"`
	}
	must(readJSON(*verdict, &v))
	if len(v.Findings) == 0 {
		log.Fatal("the verdict has no findings")
	}
	var sb struct {
		Components []struct {
			Purl string `json:"purl"`
		} `json:"components"`
	}
	must(readJSON(*sbomF, &sb))
	must(os.MkdirAll(filepath.Join(*out, "vex"), 0o755))
	statuses := []string{"not_affected", "affected", "fixed", "under_investigation", "not_affected"}
	justs := []string{"vulnerable_code_not_present", "", "component_not_present", "vulnerable_code_not_in_execute_path", "inline_mitigations_already_exist"}
	issuers := []string{"Example Vendor PSIRT", "Debian Security Team", "platform-team@example.com", "community-bot", "someone"}
	k := 0
	for d := range *docs {
		var stmts []map[string]any
		for range *per {
			f := v.Findings[k%len(v.Findings)]
			s := map[string]any{
				"vulnerability": map[string]string{"name": f.Vulnerability},
				"products":      []map[string]string{{"@id": f.Purl}},
				"status":        statuses[k%len(statuses)],
			}
			switch s["status"] {
			case "not_affected":
				if j := justs[(k/5)%len(justs)]; j != "" {
					s["justification"] = j
				}
			case "affected":
				s["action_statement"] = "upgrade"
			}
			stmts = append(stmts, s)
			k++
		}
		doc := map[string]any{
			"@context":   "https://openvex.dev/ns/v0.2.0",
			"@id":        fmt.Sprintf("https://example.com/vex/%d", d),
			"author":     issuers[d%len(issuers)],
			"timestamp":  fmt.Sprintf("2026-%02d-%02dT00:00:00Z", 1+d%12, 1+d%28),
			"version":    1,
			"statements": stmts,
		}
		must(writeJSON(filepath.Join(*out, "vex", fmt.Sprintf("vex-%03d.openvex.json", d)), doc))
	}
	type node struct {
		ID     string `json:"id"`
		Symbol string `json:"symbol"`
		Purl   string `json:"purl"`
	}
	type edge struct {
		From string `json:"from"`
		To   string `json:"to"`
	}
	g := struct {
		Schema      string   `json:"schema"`
		Nodes       []node   `json:"nodes"`
		Edges       []edge   `json:"edges"`
		Entrypoints []string `json:"entrypoints"`
	}{Schema: "https://stella-ops.org/reach-graph/v1", Entrypoints: []string{"n0"}}
	g.Nodes = append(g.Nodes, node{"n0", "example.com/app.main", "pkg:golang/example.com/app@v1.0.0"})
	for i := 1; i < *nodes; i++ {
		c := sb.Components[(i-1)%len(sb.Components)]
		g.Nodes = append(g.Nodes, node{fmt.Sprintf("n%d", i), fmt.Sprintf("sym%d.F", i), c.Purl})
		// edges only from lower to higher indices: acyclic; every third node
		// hangs off the entrypoint's subtree, the rest off unreached roots
		switch {
		case i%3 == 0:
			g.Edges = append(g.Edges, edge{fmt.Sprintf("n%d", i/3-i/3%3), fmt.Sprintf("n%d", i)})
		case i > 2:
			g.Edges = append(g.Edges, edge{fmt.Sprintf("n%d", i-1), fmt.Sprintf("n%d", i)})
		}
	}
	must(writeJSON(filepath.Join(*out, "reach-graph.json"), g))
	fmt.Printf("%d VEX documents (%d statements), a %d-node reach graph in %s\n", *docs, *docs**per, len(g.Nodes), *out)
}

func readJSON(path string, v any) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, v)
}

func writeJSON(path string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return os.WriteFile(path, b, 0o644)
}

func must(err error) {
	if err != nil {
		log.Fatal(err)
	}
}
