package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"
	"github.com/stella-ops/stella-oras/artifacts"
	"github.com/stella-ops/stella-oras/engine"
	"github.com/stella-ops/stella-oras/evaluator"
	"github.com/stella-ops/stella-oras/internal/cli"
	"github.com/stella-ops/stella-oras/internal/load"
)

type evalOptions struct {
	out          cli.OutputFlag
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

func newEvalCmd(s *cli.Streams) *cobra.Command {
	var (
		o  evalOptions
		tf cli.TargetFlags
	)
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
		RunE: func(cmd *cobra.Command, _ []string) error { return runEval(cmd.Context(), s, &o, &tf) },
	}
	f := cmd.Flags()
	f.StringVar(&o.sbom, "sbom", "", "SBOM file (CycloneDX 1.2–1.7 JSON, SPDX 2.2/2.3 JSON, SPDX 3.0 JSON-LD)")
	f.StringVar(&o.feed, "feed", "", "feed snapshot, a directory or zip of OSV records, or a feed artifact reference (REF, oci:DIR[:tag], oci-archive:FILE[:tag])")
	f.StringArrayVar(&o.vex, "vex", nil, "VEX document (file or artifact reference): OpenVEX, CycloneDX VEX or CSAF (repeatable); merged per finding")
	f.StringVarP(&o.dest, "out", "o", "", "write the verdict here (atomically)")
	f.StringVar(&o.manifestOut, "manifest-out", "", "write the scan manifest here (atomically)")
	f.StringVar(&o.failOn, "fail-on", "fail", "lowest verdict status that exits 3: fail or warn")
	f.StringVar(&o.epoch, "epoch", "", "epoch when --feed is a directory or zip (RFC 3339 or YYYY-MM-DD)")
	f.Int64Var(&o.maxSBOMBytes, "max-sbom-bytes", load.DefaultMaxSBOMBytes, "refuse SBOMs larger than this")
	f.BoolVar(&o.strict, "strict", false, "validate the SBOM against its format's JSON schema first")
	f.StringVar(&o.schemas, "schemas", os.Getenv("STELLA_SCHEMAS"), "directory of CycloneDX and SPDX JSON schemas for --strict (default $STELLA_SCHEMAS)")
	f.StringVar(&o.policy, "policy", "", "policy: YAML source, compiled IR or policy artifact reference (default: the built-in stella-default)")
	f.StringVar(&o.reach, "reachability", "", "reachability evidence: a stella reach graph or a govulncheck -json stream")
	f.StringVar(&o.env, "env", "", "environment whose unknowns budget applies (default: the policy's default environment)")
	tf.Register(cmd)
	o.out.Register(cmd)
	return cmd
}

func runEval(ctx context.Context, s *cli.Streams, o *evalOptions, tf *cli.TargetFlags) error {
	if err := o.out.Validate(); err != nil {
		return err
	}
	if o.sbom == "" || o.feed == "" {
		return cli.Usagef("--sbom and --feed are required")
	}
	if o.strict && o.schemas == "" {
		return cli.Usagef("--strict needs --schemas DIR (or STELLA_SCHEMAS): a directory holding cyclonedx/ and spdx/, the standards' JSON schema files, which this tool does not ship")
	}
	if o.failOn != artifacts.StatusFail && o.failOn != artifacts.StatusWarn {
		return cli.Usagef("--fail-on must be fail or warn, not %q", o.failOn)
	}
	ep, err := parseEpoch(o.epoch)
	if err != nil {
		return err
	}
	ropts, err := tf.Options()
	if err != nil {
		return err
	}
	r, err := evaluator.Eval(ctx, evaluator.EvalOptions{Sources: evaluator.Sources{
		SBOM: o.sbom, Feed: o.feed, Epoch: ep, Policy: o.policy, Reach: o.reach, VEX: o.vex, Env: o.env,
		MaxSBOMBytes: o.maxSBOMBytes, StrictSBOM: o.strict, SchemaDir: o.schemas,
	}, Registry: ropts})
	if evaluator.IsEnvironmentError(err) {
		return cli.UsageError{Err: err}
	}
	if err != nil {
		return err
	}
	for _, w := range r.Warnings {
		printWarning(s.Err, w)
	}
	if o.manifestOut != "" {
		if err := load.WriteAtomic(o.manifestOut, r.ManifestBytes, 0o644); err != nil {
			return err
		}
	}
	if o.dest != "" {
		if err := load.WriteAtomic(o.dest, r.VerdictBytes, 0o644); err != nil {
			return err
		}
	}
	v := r.Verdict
	res := evalResult{
		Status: v.Status, VerdictDigest: r.VerdictDigest, ManifestDigest: v.ManifestDigest,
		Verdict: o.dest, Manifest: o.manifestOut, RiskScore: v.RiskScore,
		UnknownsCount: v.UnknownsCount, Summary: v.Summary, Findings: v.Findings, Inputs: r.Manifest.Inputs,
		Gates: v.Gates, BudgetCheck: v.BudgetCheck,
	}
	if o.out.JSON() {
		err = cli.WriteJSON(s.Out, res)
	} else {
		err = printVerdict(s.Out, &res)
	}
	// The gate is said on stderr even when the result could not be
	// written; the write error then decides the code (exit 1, not 3).
	if gerr := evaluator.Gate(v.Status, o.failOn); gerr != nil {
		fmt.Fprintf(s.Err, "gate failed: verdict status %s\n", v.Status)
		if err == nil {
			err = gerr
		}
	}
	return err
}

// printWarning prints one non-fatal problem on stderr; notes keep their
// own prefix.
func printWarning(w io.Writer, msg string) {
	if strings.HasPrefix(msg, "note: ") {
		fmt.Fprintln(w, msg)
		return
	}
	fmt.Fprintf(w, "warning: %s\n", msg)
}

var severityOrder = []string{engine.SeverityCritical, engine.SeverityHigh, engine.SeverityMedium, engine.SeverityLow, engine.SeverityNone, engine.SeverityUnknown}

func printVerdict(w io.Writer, r *evalResult) error {
	fmt.Fprintf(w, "Verdict: %s   risk score %d   %s, %s, %s\n", strings.ToUpper(r.Status), r.RiskScore,
		cli.Plural(r.Summary.Components, "component"), cli.Plural(r.Summary.Findings, "finding"), cli.Plural(r.UnknownsCount, "unknown"))
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
		fmt.Fprintf(w, "Budget:   %s %s (%s, %s%s)\n", b.Environment, strings.ToUpper(b.Outcome), cli.Plural(b.Counts.Unknowns, "unknown"), lim, exceeded)
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
