// Package reach reads reachability evidence and answers, per finding,
// reachable / unreachable / unknown with the evidence behind the answer.
// Two inputs: this project's reach graph (nodes with a symbol and an owning
// purl, edges, entrypoints) and the JSON stream of `govulncheck -json`.
package reach

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	packageurl "github.com/package-url/packageurl-go"

	"github.com/stella-ops/stella-oras/artifacts"
	"github.com/stella-ops/stella-oras/canon"
)

// States.
const (
	Reachable   = "reachable"
	Unreachable = "unreachable"
	Unknown     = "unknown"
)

// Formats.
const (
	FormatGraph       = "stella-reach-graph"
	FormatGovulncheck = "govulncheck"
	GraphSchema       = artifacts.ReachGraphSchema
)

// Reason codes.
const (
	ReasonSymbolReached       = "REACH_SYMBOL_REACHED"
	ReasonSymbolsNotReached   = "REACH_SYMBOLS_NOT_REACHED"
	ReasonPackageReached      = "REACH_PACKAGE_REACHED"
	ReasonPackageNotReached   = "REACH_PACKAGE_NOT_REACHED"
	ReasonNotInGraph          = "REACH_COMPONENT_NOT_IN_GRAPH"
	ReasonPackageNotInGraph   = "REACH_VULNERABLE_PACKAGE_NOT_IN_GRAPH"
	ReasonNoInput             = "REACH_NO_INPUT"
	ReasonGovulncheckCalled   = "GOVULNCHECK_SYMBOL_CALLED"
	ReasonGovulncheckNotShown = "GOVULNCHECK_NOT_SHOWN_REACHABLE"
	ReasonGovulncheckAbsent   = "GOVULNCHECK_NOT_REPORTED"
	ReasonGovulncheckLevel    = "GOVULNCHECK_SCAN_LEVEL_TOO_COARSE"
	ReasonNotGo               = "GOVULNCHECK_NOT_GO"
)

// ErrReach marks reachability input that cannot be used.
var ErrReach = errors.New("invalid reachability input")

// MaxNodes bounds a reach graph.
const MaxNodes = 2_000_000

// Result is one finding's reachability.
type Result struct {
	State    string   `json:"state"`
	Source   string   `json:"source,omitempty"` // input format
	Reason   string   `json:"reason"`
	Evidence []string `json:"evidence"` // node IDs from an entrypoint, or govulncheck frames
}

// Query is what a finding asks.
type Query struct {
	Purl      string
	Ecosystem string
	Name      string // package name in the feed's naming (Go: module path)
	Version   string
	IDs       []string // vulnerability id, aliases and record ids
	Symbols   []string // vulnerable symbols (Go: package path + "." + symbol)
	Packages  []string // the packages declaring them (Go: import paths)
}

// Input is parsed reachability evidence.
type Input struct {
	Format string
	// Digest is the content ID of the normalized form (the graph as sorted
	// adjacency lists; the govulncheck findings sorted), so the same
	// evidence in another order has the same identity.
	Digest string
	// Stored is the digest of the bytes as read: what a replay fetches.
	Stored string
	graph  *graph
	vc     *vulncheck
}

// Parse reads a reach graph or a govulncheck JSON stream; file names the
// input in errors.
func Parse(data []byte, file string) (*Input, error) {
	trimmed := bytes.TrimLeft(data, " \t\r\n")
	if len(trimmed) == 0 || trimmed[0] != '{' {
		return nil, fmt.Errorf("%w: %s: not a reach graph or a govulncheck -json stream (want a JSON object)", ErrReach, file)
	}
	var probe struct {
		Schema *string          `json:"schema"`
		Config *json.RawMessage `json:"config"`
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&probe); err != nil {
		return nil, fmt.Errorf("%w: %s: offset %d: %v", ErrReach, file, dec.InputOffset(), err)
	}
	switch {
	case probe.Schema != nil:
		if *probe.Schema != GraphSchema {
			return nil, fmt.Errorf("%w: %s: schema %q, want %q", ErrReach, file, *probe.Schema, GraphSchema)
		}
		g, err := parseGraph(data, file)
		if err != nil {
			return nil, err
		}
		return &Input{Format: FormatGraph, Digest: g.digest, Stored: canon.ContentID(data), graph: g}, nil
	case probe.Config != nil:
		v, err := parseVulncheck(data, file)
		if err != nil {
			return nil, err
		}
		return &Input{Format: FormatGovulncheck, Digest: v.digest, Stored: canon.ContentID(data), vc: v}, nil
	}
	return nil, fmt.Errorf("%w: %s: neither a reach graph (no \"schema\") nor a govulncheck -json stream (first message is not \"config\")", ErrReach, file)
}

// Answer gives a finding's reachability.
func (in *Input) Answer(q *Query) Result {
	if in == nil {
		return Result{State: Unknown, Reason: ReasonNoInput, Evidence: []string{}}
	}
	var r Result
	if in.graph != nil {
		r = in.graph.answer(q)
	} else {
		r = in.vc.answer(q)
	}
	r.Source = in.Format
	if r.Evidence == nil {
		r.Evidence = []string{}
	}
	return r
}

// GoSymbols reads the vulnerable symbols of an OSV affected entry's
// ecosystem_specific (Go vulndb: imports[].path and .symbols).
func GoSymbols(ecosystemSpecific json.RawMessage) []string {
	syms, _ := GoImports(ecosystemSpecific)
	return syms
}

// GoImports reads the vulnerable symbols ("path.Symbol") and the packages
// (import paths) that declare them.
func GoImports(ecosystemSpecific json.RawMessage) (symbols, packages []string) {
	if len(ecosystemSpecific) == 0 {
		return nil, nil
	}
	var es struct {
		Imports []struct {
			Path    string   `json:"path"`
			Symbols []string `json:"symbols"`
		} `json:"imports"`
	}
	if json.Unmarshal(ecosystemSpecific, &es) != nil {
		return nil, nil
	}
	for _, im := range es.Imports {
		if len(im.Symbols) > 0 {
			packages = append(packages, im.Path)
		}
		for _, s := range im.Symbols {
			symbols = append(symbols, im.Path+"."+s)
		}
	}
	return symbols, packages
}

// purlKey is a purl without version, qualifiers and subpath, lower-cased;
// version is the purl's version.
func purlKey(p string) (key, version string, ok bool) {
	u, err := packageurl.FromString(p)
	if err != nil {
		return "", "", false
	}
	k := strings.ToLower(u.Type + "/" + u.Namespace + "/" + u.Name)
	return k, u.Version, true
}

func digestOf(v any) (string, error) {
	_, id, err := canon.MarshalID(v)
	return id, err
}

func sortedUnique(s []string) []string {
	slices.Sort(s)
	return slices.Compact(s)
}
