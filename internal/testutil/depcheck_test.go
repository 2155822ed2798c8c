package testutil

import (
	"bytes"
	"encoding/json"
	"errors"
	"go/ast"
	"go/parser"
	"go/token"
	"go/types"
	"io"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

const module = "github.com/stella-ops/stella-oras"

// The pure packages (DESIGN.md: evaluation is a pure function of the
// manifest's bytes) and everything of this module they import. They are
// held to allow lists, as go-containerregistry's internal/depcheck holds
// its packages: what is not listed fails the test, so a new dependency is
// a decision someone reviews, not an accident.
var pureRoots = []string{"./canon", "./engine/..."}

// pureProject are the packages of this module the pure closure may hold.
// Each is itself held to the rules below.
var pureProject = []string{
	"artifacts", // the verdict's Go types and media-type names, no I/O
	"canon",
	"engine",
	"engine/delta",
	"engine/feed",
	"engine/policy",
	"engine/reach",
	"engine/sbom",
	"engine/vex",
	"internal/osvname",
}

// pureStdImports are the standard packages a package of pureProject may
// import itself. Left out on purpose: os, syscall, net/..., os/exec,
// io/fs, path/filepath, log (I/O, environment, network), math/rand and
// crypto/rand (randomness); time is in for parsing and formatting
// instants, and TestPureCalls keeps its clock out.
var pureStdImports = []string{
	"bytes", "cmp", "crypto/sha256", "encoding/hex", "encoding/json", "errors", "fmt", "io", "maps",
	"math", "reflect", "regexp", "slices", "sort", "strconv", "strings", "sync", "sync/atomic",
	"time", "unicode/utf16", "unicode/utf8",
	"runtime",                      // engine: GOMAXPROCS bounds its workers; results are collected by index
	"unsafe",                       // canon: strconv.ParseFloat over a byte slice without a copy
	"encoding/binary", "math/bits", // canon: strings checked eight bytes at a time
}

// pureModules are the third-party modules whose packages a package of
// pureProject may import itself.
var pureModules = []string{
	"cel.dev/cel-go",                       // policy gates
	"github.com/CycloneDX/cyclonedx-go",    // SBOM and VEX
	"github.com/google/osv-scalibr",        // ecosystem version ordering
	"github.com/opencontainers/go-digest",  // digest syntax
	"github.com/openvex/go-vex",            // OpenVEX and CSAF
	"github.com/package-url/packageurl-go", // purls
	"github.com/pandatix/go-cvss",          // CVSS vectors
	"github.com/spdx/tools-golang",         // SPDX
	"go.yaml.in/yaml/v3",                   // policy source documents
	"golang.org/x/mod",                     // semver
	"golang.org/x/text",                    // NFC
	"sigs.k8s.io/yaml",                     // policy source
}

// pureIndirectModules are modules the pure closure reaches only through
// pureModules.
var pureIndirectModules = []string{
	"cel.dev/expr",
	"github.com/anchore/go-struct-converter",
	"github.com/antlr4-go/antlr/v4",
	"github.com/in-toto/attestation",
	"go.yaml.in/yaml/v2",
	"golang.org/x/exp",
	"google.golang.org/genproto/googleapis/api",
	"google.golang.org/genproto/googleapis/rpc",
	"google.golang.org/protobuf",
	"gopkg.in/yaml.v3",
}

// pureStdDeps are the standard packages the pure closure may reach at
// all, through the libraries above (the standard library's own internal
// packages aside). os, syscall, runtime/debug, log, net/url and net/netip
// are here because libraries need them (protobuf reads an environment
// variable at init, go-vex and cyclonedx-go have file loaders, antlr
// logs); pureStdImports and TestPureCalls keep them out of this module's
// code. net/http, os/exec, net and crypto/rand are not.
var pureStdDeps = append(slices.Clone(pureStdImports),
	"bufio", "compress/flate", "compress/gzip", "container/list", "context", "crypto",
	"crypto/cipher", "crypto/fips140", "crypto/subtle", "embed", "encoding", "encoding/base64",
	"encoding/binary", "encoding/gob", "encoding/xml", "go/token", "hash", "hash/crc32", "hash/fnv",
	"io/fs", "iter", "log", "log/slog", "math/big", "math/bits", "math/rand", "net/netip", "net/url",
	"os", "path", "path/filepath", "regexp/syntax", "runtime/debug", "syscall", "text/template",
	"text/template/parse", "unicode", "unique", "weak",
)

// pkg is what go list says of a package.
type pkg struct {
	ImportPath                        string
	Standard                          bool
	Module                            *struct{ Path string }
	Imports                           []string
	Dir                               string
	GoFiles, CgoFiles, IgnoredGoFiles []string
}

// listDeps runs go list -deps over patterns.
func listDeps(t *testing.T, patterns ...string) []pkg {
	t.Helper()
	args := append([]string{"list", "-deps", "-json=ImportPath,Standard,Module,Imports,Dir,GoFiles,CgoFiles,IgnoredGoFiles"}, patterns...)
	cmd := exec.Command("go", args...)
	cmd.Dir = RepoRoot()
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go %s: %v", strings.Join(args, " "), err)
	}
	var pkgs []pkg
	for dec := json.NewDecoder(bytes.NewReader(out)); ; {
		var p pkg
		if err := dec.Decode(&p); errors.Is(err, io.EOF) {
			return pkgs
		} else if err != nil {
			t.Fatal(err)
		}
		pkgs = append(pkgs, p)
	}
}

func goList(t *testing.T, args ...string) []string {
	t.Helper()
	cmd := exec.Command("go", append([]string{"list"}, args...)...)
	cmd.Dir = RepoRoot()
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list %v: %v", args, err)
	}
	return strings.Fields(string(out))
}

// stdInternal: the standard library's implementation packages, which no
// package outside it can import.
func stdInternal(path string) bool {
	return strings.HasPrefix(path, "internal/") || strings.HasPrefix(path, "vendor/") || strings.Contains(path, "/internal/") || strings.HasSuffix(path, "/internal")
}

func inModules(path string, mods []string) bool {
	return slices.ContainsFunc(mods, func(m string) bool { return path == m || strings.HasPrefix(path, m+"/") })
}

// TestDepcheck holds the pure closure to the allow lists: this module's
// packages in it are listed and import only pureStdImports, pureModules
// and each other; everything they reach is in pureStdDeps or a listed
// module.
func TestDepcheck(t *testing.T) {
	pkgs := listDeps(t, pureRoots...)
	importers := map[string][]string{}
	for _, p := range pkgs {
		for _, imp := range p.Imports {
			importers[imp] = append(importers[imp], p.ImportPath)
		}
	}
	own := 0
	for _, p := range pkgs {
		by := strings.Join(importers[p.ImportPath], ", ")
		switch {
		case p.Standard:
			if !stdInternal(p.ImportPath) && !slices.Contains(pureStdDeps, p.ImportPath) {
				t.Errorf("the pure packages reach %s (imported by %s), which is not in pureStdDeps", p.ImportPath, by)
			}
		case p.Module != nil && p.Module.Path == module:
			own++
			rel := strings.TrimPrefix(strings.TrimPrefix(p.ImportPath, module), "/")
			if !slices.Contains(pureProject, rel) {
				t.Errorf("the pure packages reach %s (imported by %s), which is not in pureProject", p.ImportPath, by)
			}
			for _, imp := range p.Imports {
				if !slices.Contains(pureStdImports, imp) && !inModules(imp, pureModules) && !slices.Contains(pureProject, strings.TrimPrefix(imp, module+"/")) {
					t.Errorf("%s imports %s, which the pure packages may not import", p.ImportPath, imp)
				}
			}
		case p.Module != nil && (inModules(p.ImportPath, pureModules) || inModules(p.ImportPath, pureIndirectModules)):
		default:
			t.Errorf("the pure packages reach %s (imported by %s), which is in no listed module", p.ImportPath, by)
		}
	}
	if own < len(pureProject) {
		t.Errorf("go list found %d of this module's packages in the pure closure, want %d (the list is stale)", own, len(pureProject))
	}
	// verify must not import a network client itself (sigstore-go, which
	// it builds on, links net/http for its online clients, which verify
	// never calls).
	for _, dep := range goList(t, "-f", `{{join .Imports "\n"}}`, "./verify") {
		if dep == "net/http" || strings.HasPrefix(dep, "oras.land/") || strings.Contains(dep, "go-containerregistry") || strings.HasPrefix(dep, module+"/registry") {
			t.Errorf("./verify imports %s", dep)
		}
	}
}

// impure are the calls and references the pure packages may not make,
// by import path: the clock and the environment (TZ among it: the local
// time zone, and zones loaded from the system's database). The imports
// rule keeps os and syscall out already; this catches the rest, and holds
// even if an import is let in.
var impure = map[string][]string{
	"time":    {"Now", "Since", "Until", "After", "AfterFunc", "NewTicker", "NewTimer", "Sleep", "Tick", "Local", "LoadLocation"},
	"os":      {"Getenv", "LookupEnv", "Environ", "ExpandEnv"},
	"syscall": {"Getenv", "Environ"},
}

// impureUses lists the uses of impure names in one package's files,
// resolved with go/types (so a renamed import counts and a local variable
// that happens to be called time does not); a dot import of one of those
// packages counts as a use. Imported packages are stood in for by empty
// ones: only which package a qualifier names matters, and type errors
// (members those have not) are ignored.
func impureUses(fset *token.FileSet, files []*ast.File) []string {
	var out []string
	info := &types.Info{Uses: map[*ast.Ident]types.Object{}}
	conf := types.Config{
		Importer: importerFunc(func(path string) (*types.Package, error) {
			p := types.NewPackage(path, filepath.Base(path))
			p.MarkComplete()
			return p, nil
		}),
		Error: func(error) {},
	}
	conf.Check("p", fset, files, info) // errors are expected: see above
	for _, f := range files {
		for _, im := range f.Imports {
			path, _ := strconv.Unquote(im.Path.Value)
			if _, ok := impure[path]; ok && im.Name != nil && im.Name.Name == "." {
				out = append(out, fset.Position(im.Pos()).String()+": dot import of "+path)
			}
		}
		ast.Inspect(f, func(n ast.Node) bool {
			sel, ok := n.(*ast.SelectorExpr)
			if !ok {
				return true
			}
			x, ok := sel.X.(*ast.Ident)
			if !ok {
				return true
			}
			if pn, ok := info.Uses[x].(*types.PkgName); ok {
				path := pn.Imported().Path()
				if slices.Contains(impure[path], sel.Sel.Name) {
					out = append(out, fset.Position(sel.Pos()).String()+": "+path+"."+sel.Sel.Name)
				}
			}
			return true
		})
		// t.Local(), a time in the local zone: the receiver's type is not
		// known here (imports are stood in for), so any call of a method
		// Local without arguments counts; the pure packages have none.
		ast.Inspect(f, func(n ast.Node) bool {
			if c, ok := n.(*ast.CallExpr); ok && len(c.Args) == 0 {
				if sel, ok := c.Fun.(*ast.SelectorExpr); ok && sel.Sel.Name == "Local" {
					if id, ok := sel.X.(*ast.Ident); !ok || info.Uses[id] == nil || !isPkgName(info.Uses[id]) {
						out = append(out, fset.Position(sel.Pos()).String()+": .Local() (the local time zone)")
					}
				}
			}
			return true
		})
	}
	return out
}

func isPkgName(o types.Object) bool {
	_, ok := o.(*types.PkgName)
	return ok
}

type importerFunc func(path string) (*types.Package, error)

func (f importerFunc) Import(path string) (*types.Package, error) { return f(path) }

// TestPureCalls: no source file of this module's pure packages reads the
// clock or the environment (every file, whatever its build constraints;
// tests aside).
func TestPureCalls(t *testing.T) {
	n := 0
	for _, p := range listDeps(t, pureRoots...) {
		if p.Module == nil || p.Module.Path != module {
			continue
		}
		fset := token.NewFileSet()
		var files []*ast.File
		for _, name := range slices.Concat(p.GoFiles, p.CgoFiles, p.IgnoredGoFiles) {
			if strings.HasSuffix(name, "_test.go") {
				continue
			}
			f, err := parser.ParseFile(fset, filepath.Join(p.Dir, name), nil, parser.SkipObjectResolution)
			if err != nil {
				t.Fatal(err)
			}
			files = append(files, f)
		}
		n += len(files)
		for _, u := range impureUses(fset, files) {
			t.Errorf("%s: a pure package reads the clock or the environment", u)
		}
	}
	if n == 0 {
		t.Fatal("no source file scanned")
	}
}

// TestImpureUses: the scanner finds what it is meant to, under any import
// name, and leaves alone what only looks like it.
func TestImpureUses(t *testing.T) {
	tests := []struct {
		name, src string
		want      int
	}{
		{"clock", `package p; import "time"; func f() time.Time { return time.Now() }`, 1},
		{"clock as a value", `package p; import "time"; var now = time.Now`, 1},
		{"renamed import", `package p; import t "time"; func f() { _ = t.Since(t.Time{}) }`, 1},
		{"environment", `package p; import "os"; func f() (string, bool) { _ = os.Getenv("A"); _ = os.Environ(); return os.LookupEnv("B") }`, 3},
		{"syscall", `package p; import "syscall"; func f() { syscall.Getenv("A") }`, 1},
		{"dot import", `package p; import . "time"; var _ = Now`, 1},
		{"parsing time is fine", `package p; import "time"; func f() { time.Parse(time.RFC3339, "") }`, 0},
		{"the local zone", `package p; import "time"; func f(t time.Time) { _ = t.In(time.Local); _, _ = time.LoadLocation("Europe/Paris"); _ = t.Local() }`, 3},
		{"UTC is fine", `package p; import "time"; func f(t time.Time) { _ = t.UTC(); _ = t.In(time.UTC) }`, 0},
		{"a local named time", `package p; type c struct{}; func (c) Now() int { return 0 }; func f() { var time c; time.Now() }`, 0},
		{"another package's Now", `package p; import "example.com/clock"; var _ = clock.Now`, 0},
	}
	for _, tt := range tests {
		fset := token.NewFileSet()
		f, err := parser.ParseFile(fset, "p.go", tt.src, parser.SkipObjectResolution)
		if err != nil {
			t.Fatal(err)
		}
		if got := impureUses(fset, []*ast.File{f}); len(got) != tt.want {
			t.Errorf("%s: impureUses() = %q, want %d use(s)", tt.name, got, tt.want)
		}
	}
}

// TestLayers: the signing side does not depend on the checking side
// (DESIGN.md: verify checks what bundle makes, so bundle sits below it).
func TestLayers(t *testing.T) {
	for _, dep := range goList(t, "-deps", "./bundle") {
		if dep == module+"/verify" {
			t.Errorf("./bundle depends on %s", dep)
		}
	}
}

// TestStartupDeps: neither binary links distribution (the embedded
// registry is the stella-registry binary) nor the JSON Schema library
// (stella-schema): both initialize heavily at program start, which every
// command paid (#11 section 2). Nor oras-go's root package, whose init
// compiles a media-type regular expression of hundreds of states; its
// GraphTarget interface is spelled out in registry instead.
func TestStartupDeps(t *testing.T) {
	for _, bin := range []string{"./cmd/stella-oras", "./cmd/stella-engine"} {
		for _, dep := range goList(t, "-deps", bin) {
			if strings.HasPrefix(dep, "github.com/distribution/distribution") || strings.HasPrefix(dep, "github.com/santhosh-tekuri/jsonschema") || dep == "oras.land/oras-go/v2" {
				t.Errorf("%s links %s", bin, dep)
			}
		}
	}
}

// frontRefused are what the front binary (cmd/stella-oras) must not link,
// by import-path prefix: the evaluation, signing, SBOM and policy stacks,
// whose package initialization cost every light command about 10 ms
// (#11 section 2). The engine binary links them; the front executes it.
var frontRefused = []string{
	"github.com/sigstore/", "github.com/go-openapi/", "github.com/asaskevich/govalidator",
	"cel.dev/", "google.golang.org/protobuf", "github.com/google/osv-scalibr",
	"github.com/CycloneDX/", "github.com/spdx/", "github.com/openvex/",
	module + "/engine", module + "/evaluator", module + "/bundle", module + "/verify",
	module + "/canon", module + "/internal/load", module + "/cmd/stella-engine",
}

// frontRefusedExact are packages the front must not link, by exact import
// path: oras-go's root package (oras.Copy and the like, which the front's
// commands do not call) compiles a regexp at initialization, about 0.5 ms
// of every command's start (#11 section 2).
var frontRefusedExact = []string{"oras.land/oras-go/v2"}

// TestFrontDeps: the front links only what its in-process commands need.
func TestFrontDeps(t *testing.T) {
	deps := goList(t, "-deps", "./cmd/stella-oras")
	if !slices.Contains(deps, module+"/internal/cli") {
		t.Fatalf("./cmd/stella-oras does not link %s/internal/cli: is it still the front?", module)
	}
	for _, dep := range deps {
		for _, p := range frontRefused {
			if strings.HasPrefix(dep, p) {
				t.Errorf("./cmd/stella-oras links %s", dep)
			}
		}
		if slices.Contains(frontRefusedExact, dep) {
			t.Errorf("./cmd/stella-oras links %s", dep)
		}
	}
}
