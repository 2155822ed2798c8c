// Command osvdb lays out OSV records as osv-scanner's offline database
// (DIR/osv-scalibr/<Ecosystem>/all.zip), one zip per base ecosystem, with
// an empty zip for every other ecosystem osv-scanner may ask for.
package main

import (
	"archive/zip"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

var always = []string{"Go", "npm", "PyPI", "Maven", "crates.io", "RubyGems", "NuGet", "Packagist",
	"Debian", "Ubuntu", "Alpine", "Red Hat", "Rocky Linux", "AlmaLinux", "SUSE", "openSUSE",
	"Hex", "Pub", "CRAN", "ConanCenter", "Bitnami", "Wolfi", "Chainguard", "Hackage", "SwiftURL", "Packagist"}

func main() {
	out := flag.String("out", "", "database directory to write")
	flag.Parse()
	if *out == "" || flag.NArg() == 0 {
		fmt.Fprintln(os.Stderr, "usage: osvdb -out DB OSVDIR...")
		os.Exit(2)
	}
	if err := run(*out, flag.Args()); err != nil {
		fmt.Fprintln(os.Stderr, "osvdb:", err)
		os.Exit(1)
	}
}

func run(out string, dirs []string) error {
	byEco := map[string][]string{}
	for _, e := range always {
		byEco[e] = nil
	}
	for _, dir := range dirs {
		err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
			if err != nil || d.IsDir() || !strings.HasSuffix(p, ".json") {
				return err
			}
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			var rec struct {
				Affected []struct {
					Package struct{ Ecosystem string } `json:"package"`
				} `json:"affected"`
			}
			if json.Unmarshal(b, &rec) != nil {
				return nil
			}
			seen := map[string]bool{}
			for _, a := range rec.Affected {
				eco, _, _ := strings.Cut(a.Package.Ecosystem, ":")
				if eco != "" && !seen[eco] {
					seen[eco] = true
					byEco[eco] = append(byEco[eco], p)
				}
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	for eco, files := range byEco {
		dir := filepath.Join(out, "osv-scalibr", eco)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
		f, err := os.Create(filepath.Join(dir, "all.zip"))
		if err != nil {
			return err
		}
		zw := zip.NewWriter(f)
		slices.Sort(files)
		for _, p := range files {
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			w, err := zw.Create(filepath.Base(p))
			if err != nil {
				return err
			}
			if _, err := w.Write(b); err != nil {
				return err
			}
		}
		if err := zw.Close(); err != nil {
			return err
		}
		if err := f.Close(); err != nil {
			return err
		}
	}
	return nil
}
