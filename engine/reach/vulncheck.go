package reach

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
)

// The govulncheck -json protocol (golang.org/x/vuln, protocol v1.0.0): a
// stream of JSON objects, each with one of config, progress, SBOM, osv or
// finding. Only the fields read here are declared. golang.org/x/vuln keeps
// these types internal, so they are restated.
type vcMessage struct {
	Config *struct {
		ProtocolVersion string `json:"protocol_version"`
		ScannerVersion  string `json:"scanner_version"`
		ScanLevel       string `json:"scan_level"`
	} `json:"config"`
	Finding *struct {
		OSV          string    `json:"osv"`
		FixedVersion string    `json:"fixed_version"`
		Trace        []vcFrame `json:"trace"`
	} `json:"finding"`
}

type vcFrame struct {
	Module   string `json:"module"`
	Version  string `json:"version"`
	Package  string `json:"package"`
	Function string `json:"function"`
	Receiver string `json:"receiver"`
}

// vcFinding is one normalized govulncheck finding.
type vcFinding struct {
	OSV     string   `json:"osv"`
	Module  string   `json:"module"`
	Version string   `json:"version"`
	Level   string   `json:"level"` // symbol, package, module
	Trace   []string `json:"trace"` // entry first
}

type vulncheck struct {
	scanLevel string
	byOSV     map[string][]vcFinding
	digest    string
}

func (f vcFrame) String() string {
	switch {
	case f.Function != "" && f.Receiver != "":
		return f.Package + "." + strings.TrimPrefix(f.Receiver, "*") + "." + f.Function
	case f.Function != "":
		return f.Package + "." + f.Function
	case f.Package != "":
		return f.Package
	}
	return f.Module
}

// parseVulncheck reads a govulncheck -json stream. The stream must start
// with its config message; a stream cut inside a message is refused.
func parseVulncheck(data []byte, file string) (*vulncheck, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	v := &vulncheck{byOSV: map[string][]vcFinding{}}
	var all []vcFinding
	for i := 0; ; i++ {
		var m vcMessage
		off := dec.InputOffset()
		err := dec.Decode(&m)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			if errors.Is(err, io.ErrUnexpectedEOF) {
				return nil, fmt.Errorf("%w: %s: message %d at offset %d: the stream is cut short", ErrReach, file, i, off)
			}
			return nil, fmt.Errorf("%w: %s: message %d at offset %d: %v", ErrReach, file, i, off, err)
		}
		if i == 0 {
			if m.Config == nil {
				return nil, fmt.Errorf("%w: %s: message 0: not a config message", ErrReach, file)
			}
			if !strings.HasPrefix(m.Config.ProtocolVersion, "v1.") {
				return nil, fmt.Errorf("%w: %s: config.protocol_version %q, want v1.x", ErrReach, file, m.Config.ProtocolVersion)
			}
			v.scanLevel = m.Config.ScanLevel
			if v.scanLevel == "" {
				v.scanLevel = "symbol" // the default of every protocol v1 scanner
			}
			continue
		}
		f := m.Finding
		if f == nil {
			continue
		}
		if f.OSV == "" || len(f.Trace) == 0 || f.Trace[0].Module == "" {
			return nil, fmt.Errorf("%w: %s: message %d at offset %d: finding without an osv id or a trace", ErrReach, file, i, off)
		}
		n := vcFinding{OSV: f.OSV, Module: f.Trace[0].Module, Version: f.Trace[0].Version, Level: "module"}
		switch {
		case f.Trace[0].Function != "":
			n.Level = "symbol"
		case f.Trace[0].Package != "":
			n.Level = "package"
		}
		for j := len(f.Trace) - 1; j >= 0; j-- {
			n.Trace = append(n.Trace, f.Trace[j].String())
		}
		all = append(all, n)
	}
	if v.scanLevel != "symbol" && v.scanLevel != "package" && v.scanLevel != "module" {
		return nil, fmt.Errorf("%w: %s: config.scan_level %q, want symbol, package or module", ErrReach, file, v.scanLevel)
	}
	slices.SortFunc(all, compareVC)
	all = slices.CompactFunc(all, func(a, b vcFinding) bool { return compareVC(a, b) == 0 })
	for _, f := range all {
		v.byOSV[f.OSV] = append(v.byOSV[f.OSV], f)
	}
	d, err := digestOf(map[string]any{"format": FormatGovulncheck, "scan_level": v.scanLevel, "findings": all})
	if err != nil {
		return nil, err
	}
	v.digest = d
	return v, nil
}

// compareVC orders findings: symbol level first, then shorter traces, then
// by text, so the evidence chosen for a finding is a function of the set.
func compareVC(a, b vcFinding) int {
	rank := map[string]int{"symbol": 0, "package": 1, "module": 2}
	if c := rank[a.Level] - rank[b.Level]; c != 0 {
		return c
	}
	for _, p := range [][2]string{{a.OSV, b.OSV}, {a.Module, b.Module}, {a.Version, b.Version}} {
		if c := strings.Compare(p[0], p[1]); c != 0 {
			return c
		}
	}
	if c := len(a.Trace) - len(b.Trace); c != 0 {
		return c
	}
	return slices.Compare(a.Trace, b.Trace)
}

func (v *vulncheck) answer(q *Query) Result {
	if q.Ecosystem != "Go" {
		return Result{State: Unknown, Reason: ReasonNotGo}
	}
	var hits []vcFinding
	for _, id := range q.IDs {
		for _, f := range v.byOSV[id] {
			if f.Module == q.Name && (f.Version == "" || strings.TrimPrefix(f.Version, "v") == strings.TrimPrefix(q.Version, "v")) {
				hits = append(hits, f)
			}
		}
	}
	if len(hits) == 0 {
		return Result{State: Unknown, Reason: ReasonGovulncheckAbsent}
	}
	slices.SortFunc(hits, compareVC)
	h := hits[0]
	switch {
	case h.Level == "symbol":
		return Result{State: Reachable, Reason: ReasonGovulncheckCalled, Evidence: h.Trace}
	case v.scanLevel != "symbol":
		// a package- or module-level scan never looks at calls: no answer
		return Result{State: Unknown, Reason: ReasonGovulncheckLevel, Evidence: h.Trace}
	}
	return Result{State: Unreachable, Reason: ReasonGovulncheckNotShown, Evidence: h.Trace}
}
