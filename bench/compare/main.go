// Command compare reports whether a stella-oras verdict and an osv-scanner
// JSON report found the same vulnerabilities: each side is reduced to the
// set of (package name, matched advisory ids) and the differences listed.
package main

import (
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"strings"
)

type verdict struct {
	Findings []struct {
		Name    string   `json:"name"`
		Records []string `json:"records"`
	} `json:"findings"`
}

type osvReport struct {
	Results []struct {
		Packages []struct {
			Package struct {
				Name string `json:"name"`
			} `json:"package"`
			Groups []struct {
				IDs []string `json:"ids"`
			} `json:"groups"`
		} `json:"packages"`
	} `json:"results"`
}

func key(name string, ids []string) string {
	ids = slices.Clone(ids)
	slices.Sort(ids)
	return name + " " + strings.Join(ids, ",")
}

func main() {
	if len(os.Args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: compare VERDICT.json OSV-SCANNER.json")
		os.Exit(2)
	}
	var v verdict
	var o osvReport
	for i, dst := range []any{&v, &o} {
		b, err := os.ReadFile(os.Args[1+i])
		if err == nil {
			err = json.Unmarshal(b, dst)
		}
		if err != nil {
			fmt.Fprintf(os.Stderr, "compare: %s: %v\n", os.Args[1+i], err)
			os.Exit(1)
		}
	}
	stella, scanner := map[string]bool{}, map[string]bool{}
	for _, f := range v.Findings {
		stella[key(f.Name, f.Records)] = true
	}
	for _, r := range o.Results {
		for _, p := range r.Packages {
			for _, g := range p.Groups {
				scanner[key(p.Package.Name, g.IDs)] = true
			}
		}
	}
	var onlyStella, onlyScanner []string
	for k := range stella {
		if !scanner[k] {
			onlyStella = append(onlyStella, k)
		}
	}
	for k := range scanner {
		if !stella[k] {
			onlyScanner = append(onlyScanner, k)
		}
	}
	slices.Sort(onlyStella)
	slices.Sort(onlyScanner)
	fmt.Printf("stella-oras %d findings, osv-scanner %d groups, only stella-oras %d, only osv-scanner %d\n", len(stella), len(scanner), len(onlyStella), len(onlyScanner))
	for _, k := range onlyStella {
		fmt.Println("  only stella-oras: ", k)
	}
	for _, k := range onlyScanner {
		fmt.Println("  only osv-scanner: ", k)
	}
	if len(onlyStella)+len(onlyScanner) > 0 {
		os.Exit(3)
	}
}
