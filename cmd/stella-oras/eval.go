package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"github.com/stella-ops/stella-oras/artifacts"
	"github.com/stella-ops/stella-oras/canon"
	"github.com/stella-ops/stella-oras/engine"
	"github.com/stella-ops/stella-oras/engine/reach"
	"github.com/stella-ops/stella-oras/engine/vex"
	"github.com/stella-ops/stella-oras/internal/load"
)

type evalOptions struct {
	out          outputFlag
	sbom         string
	feed         string
	vex          []string
	dest         string
	manifestOut  string
	failOn       string
	epoch        string
	maxSBOMBytes int64
	strict       bool
	schemas      string
	policy       string
	reach        string
	env          string
}

type evalResult struct {
	Status         string                 `json:"status"`
	VerdictDigest  string                 `json:"verdict_digest"`
	ManifestDigest string                 `json:"manifest_digest"`
	Verdict        string                 `json:"verdict_path,omitempty"`
	Manifest       string                 `json:"manifest_path,omitempty"`
	RiskScore      int64                  `json:"risk_score"`
	UnknownsCount  int                    `json:"unknowns_count"`
	Summary        artifacts.Summary      `json:"summary"`
	Gates          []artifacts.Rule       `json:"gates"`
	BudgetCheck    *artifacts.BudgetCheck `json:"budget_check"`
	Findings       []artifacts.Finding    `json:"findings"`
	Inputs         artifacts.Inputs       `json:"inputs"`
}

func newEvalCmd(s *streams) *cobra.Command {
	var o evalOptions
	cmd := &cobra.Command{
		Use:   "eval --sbom FILE --feed SNAPSHOT|DIR|ZIP [-o verdict.json]",
		Short: "Judge an SBOM against a feed snapshot and write a canonical verdict",
		Long: `Judge an SBOM (CycloneDX or SPDX JSON) against a vulnerability-feed snapshot
(or a directory or zip of OSV records, frozen in memory) under the built-in
default policy: fail on a critical or high finding, warn on a medium one and
on one whose advisory carries no severity; --vex statements are merged per finding
(a justified not_affected, or fixed at a fixed version, suppresses). The verdict and its scan manifest
are canonical JSON: the same inputs give the same bytes on every machine.

Exit status: 0 pass (and warn, unless --fail-on warn), 3 gate failed,
1 the tool could not run, 2 usage.`,
		Example: `  stella-oras eval --sbom sbom.cdx.json --feed feed.snapshot.json -o verdict.json
  stella-oras eval --sbom sbom.spdx.json --feed ./osv --epoch 2026-08-21 --output json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runEval(s, &o) },
	}
	f := cmd.Flags()
	f.StringVar(&o.sbom, "sbom", "", "SBOM file (CycloneDX 1.2–1.7 JSON, SPDX 2.2/2.3 JSON, SPDX 3.0 JSON-LD)")
	f.StringVar(&o.feed, "feed", "", "feed snapshot, or a directory or zip of OSV records")
	f.StringArrayVar(&o.vex, "vex", nil, "VEX document: OpenVEX, CycloneDX VEX or CSAF (repeatable); merged per finding")
	f.StringVarP(&o.dest, "out", "o", "", "write the verdict here (atomically)")
	f.StringVar(&o.manifestOut, "manifest-out", "", "write the scan manifest here (atomically)")
	f.StringVar(&o.failOn, "fail-on", "fail", "lowest verdict status that exits 3: fail or warn")
	f.StringVar(&o.epoch, "epoch", "", "epoch when --feed is a directory or zip (RFC 3339 or YYYY-MM-DD)")
	f.Int64Var(&o.maxSBOMBytes, "max-sbom-bytes", load.DefaultMaxSBOMBytes, "refuse SBOMs larger than this")
	f.BoolVar(&o.strict, "strict", false, "validate the SBOM against its format's JSON schema first")
	f.StringVar(&o.schemas, "schemas", os.Getenv("STELLA_SCHEMAS"), "directory of CycloneDX and SPDX JSON schemas for --strict (default $STELLA_SCHEMAS)")
	f.StringVar(&o.policy, "policy", "", "policy: YAML source or compiled IR (default: the built-in stella-default)")
	f.StringVar(&o.reach, "reachability", "", "reachability evidence: a stella reach graph or a govulncheck -json stream")
	f.StringVar(&o.env, "env", "", "environment whose unknowns budget applies (default: the policy's default environment)")
	o.out.register(cmd)
	return cmd
}

func runEval(s *streams, o *evalOptions) error {
	if err := o.out.validate(); err != nil {
		return err
	}
	if o.sbom == "" || o.feed == "" {
		return usagef("--sbom and --feed are required")
	}
	if o.failOn != artifacts.StatusFail && o.failOn != artifacts.StatusWarn {
		return usagef("--fail-on must be fail or warn, not %q", o.failOn)
	}
	ep, err := parseEpoch(o.epoch)
	if err != nil {
		return err
	}
	in, vexFiles, err := loadEvalInputs(s, o, ep)
	if err != nil {
		return err
	}
	m, v, err := engine.Evaluate(in)
	if errors.Is(err, engine.ErrEnvironment) {
		return usageError{err}
	}
	if err != nil {
		return err
	}
	noMatch := 0
	for _, n := range v.VEXUnmatched {
		if n.Reason == engine.ReasonVEXUnknownVuln {
			fmt.Fprintf(s.err, "warning: %s: statement about %s (%s): %s, the feed does not know the id\n", vexFiles[n.Source], n.Vulnerability, n.Product, n.Reason)
		} else {
			noMatch++
		}
	}
	if noMatch > 0 {
		fmt.Fprintf(s.err, "note: %d VEX statements apply to no finding (%s; listed in the verdict's vex_unmatched)\n", noMatch, engine.ReasonVEXNoMatchingFinding)
	}
	vb, vid, err := engine.MarshalVerdict(v)
	if err != nil {
		return err
	}
	mb, _, err := canon.MarshalID(m)
	if err != nil {
		return err
	}
	if o.manifestOut != "" {
		if err := load.WriteAtomic(o.manifestOut, mb, 0o644); err != nil {
			return err
		}
	}
	if o.dest != "" {
		if err := load.WriteAtomic(o.dest, vb, 0o644); err != nil {
			return err
		}
	}
	res := evalResult{
		Status: v.Status, VerdictDigest: vid, ManifestDigest: v.ManifestDigest,
		Verdict: o.dest, Manifest: o.manifestOut, RiskScore: v.RiskScore,
		UnknownsCount: v.UnknownsCount, Summary: v.Summary, Findings: v.Findings, Inputs: m.Inputs,
		Gates: v.Gates, BudgetCheck: v.BudgetCheck,
	}
	if o.out.json() {
		err = writeJSON(s.out, res)
	} else {
		err = printVerdict(s.out, &res)
	}
	if err != nil {
		return err
	}
	if v.Status == artifacts.StatusFail || (o.failOn == artifacts.StatusWarn && v.Status == artifacts.StatusWarn) {
		fmt.Fprintf(s.err, "gate failed: verdict status %s\n", v.Status)
		return errGate
	}
	return nil
}

var severityOrder = []string{engine.SeverityCritical, engine.SeverityHigh, engine.SeverityMedium, engine.SeverityLow, engine.SeverityNone, engine.SeverityUnknown}

func printVerdict(w io.Writer, r *evalResult) error {
	fmt.Fprintf(w, "Verdict: %s   risk score %d   %s, %s, %s\n", strings.ToUpper(r.Status), r.RiskScore,
		plural(r.Summary.Components, "component"), plural(r.Summary.Findings, "finding"), plural(r.UnknownsCount, "unknown"))
	var counts []string
	for _, sev := range severityOrder {
		if n := r.Summary.BySeverity[sev]; n > 0 {
			counts = append(counts, fmt.Sprintf("%s %d", sev, n))
		}
	}
	if len(counts) > 0 {
		fmt.Fprintf(w, "Severity: %s\n", strings.Join(counts, ", "))
	}
	if b := r.BudgetCheck; b != nil {
		lim := "no limit on all unknowns"
		if b.Limits.MaxUnknowns >= 0 {
			lim = fmt.Sprintf("limit %d", b.Limits.MaxUnknowns)
		}
		exceeded := ""
		if len(b.Exceeded) > 0 {
			exceeded = ", exceeded: " + strings.Join(b.Exceeded, ", ")
		}
		fmt.Fprintf(w, "Budget:   %s %s (%s, %s%s)\n", b.Environment, strings.ToUpper(b.Outcome), plural(b.Counts.Unknowns, "unknown"), lim, exceeded)
	}
	for _, g := range r.Gates {
		fmt.Fprintf(w, "Gate:     %s %s: %s\n", g.Name, strings.ToUpper(g.Outcome), g.Message)
	}
	fmt.Fprintf(w, "Manifest: %s\nVerdict:  %s\n", r.ManifestDigest, r.VerdictDigest)
	if len(r.Findings) == 0 {
		return nil
	}
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	reach := r.Inputs.Reachability != nil
	if reach {
		fmt.Fprintln(tw, "OUTCOME\tSEVERITY\tVULNERABILITY\tPACKAGE\tVERSION\tFIXED IN\tREACHABILITY\tNOTE")
	} else {
		fmt.Fprintln(tw, "OUTCOME\tSEVERITY\tVULNERABILITY\tPACKAGE\tVERSION\tFIXED IN\tNOTE")
	}
	rows := sortedForDisplay(r.Findings)
	for _, f := range rows {
		fixed := strings.Join(f.FixedVersions, ", ")
		if fixed == "" {
			fixed = "-"
		}
		sev := f.Severity
		if f.Score >= 0 {
			sev = fmt.Sprintf("%s %d.%d", f.Severity, f.Score/10, f.Score%10)
		}
		var note []string
		if f.VEX != nil && f.VEX.Applied {
			note = append(note, "VEX "+f.VEX.Status)
		}
		if f.Exception != nil {
			note = append(note, "exception "+f.Exception.ID+" "+f.Exception.Status)
		}
		for _, g := range f.Rules {
			if !strings.HasPrefix(g.Name, "severity.") {
				note = append(note, "gate "+g.Name)
			}
		}
		n := strings.Join(note, "; ")
		if n == "" {
			n = "-"
		}
		if reach {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", f.Outcome, sev, f.Vulnerability, f.Name, f.Version, fixed, f.Reachability.State, n)
		} else {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", f.Outcome, sev, f.Vulnerability, f.Name, f.Version, fixed, n)
		}
	}
	return tw.Flush()
}

// loadEvalInputs reads the inputs of an evaluation. They are independent,
// so they are read and parsed concurrently (reading was a third of eval's
// wall time); errors are reported in a fixed order — SBOM, feed, policy,
// reachability, then each VEX document in command-line order — whichever
// failed first in time.
func loadEvalInputs(s *streams, o *evalOptions, ep time.Time) (*engine.Inputs, map[string]string, error) {
	in := &engine.Inputs{Env: o.env}
	var (
		wg                             sync.WaitGroup
		sbErr, feedErr, polErr, rchErr error
		docs                           = make([]*vex.Document, len(o.vex))
		vexErr                         = make([]error, len(o.vex))
	)
	run := func(f func()) { wg.Add(1); go func() { defer wg.Done(); f() }() }
	run(func() {
		in.SBOM, in.SBOMDigest, sbErr = load.SBOM(o.sbom, load.SBOMOptions{MaxBytes: o.maxSBOMBytes, Strict: o.strict, SchemaDir: o.schemas})
	})
	run(func() { in.Feed, feedErr = load.Feed(o.feed, ep) })
	if o.policy != "" {
		run(func() { in.Policy, polErr = loadPolicy(o.policy) })
	}
	if o.reach != "" {
		run(func() {
			data, err := load.File(o.reach, load.DefaultMaxSBOMBytes)
			if err == nil {
				in.Reach, err = reach.Parse(data, o.reach)
			}
			rchErr = err
		})
	}
	run(func() {
		for i, v := range o.vex {
			data, err := load.File(v, load.DefaultMaxSBOMBytes)
			if err == nil {
				if docs[i], err = vex.Normalize(data); err != nil {
					err = fmt.Errorf("%s: %w", v, err)
				}
			}
			vexErr[i] = err
		}
	})
	wg.Wait()
	for _, err := range append([]error{sbErr, feedErr, polErr, rchErr}, vexErr...) {
		if err != nil {
			return nil, nil, err
		}
	}
	vexFiles := map[string]string{}
	for i, d := range docs {
		for _, p := range d.Problems {
			fmt.Fprintf(s.err, "warning: %s: %s: %s\n", o.vex[i], p.Path, p.Reason)
		}
		vexFiles[d.Source] = o.vex[i]
		in.VEXDocs = append(in.VEXDocs, d)
		in.VEX = append(in.VEX, artifacts.InputRef{Digest: d.Source, Format: d.Format})
	}
	return in, vexFiles, nil
}
