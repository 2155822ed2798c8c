package main

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/stella-ops/stella-oras/engine/policy"
	"github.com/stella-ops/stella-oras/evaluator"
	"github.com/stella-ops/stella-oras/internal/cli"
	"github.com/stella-ops/stella-oras/internal/load"
	"github.com/stella-ops/stella-oras/registry"
)

// loadPolicy reads a policy source (YAML/JSON) or a compiled IR.
func loadPolicy(path string) (*policy.Policy, error) {
	data, err := load.File(path, policy.MaxSourceBytes)
	if err != nil {
		return nil, err
	}
	return policy.Load(data, path)
}

type policyResult struct {
	File    string `json:"file"`
	Name    string `json:"name"`
	Version string `json:"version"`
	Digest  string `json:"digest"`
	Path    string `json:"ir_path,omitempty"`
}

func newPolicyCmd(s *cli.Streams) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "policy",
		Short: "Compile, lint and explain policy bundles",
		Long: `A policy is authored in YAML (apiVersion ` + policy.APIVersion + `) and compiled to a
canonical JSON IR whose content ID is the policy digest recorded in every
manifest and verdict. Gates are CEL expressions; lint type-checks them, refuses
non-deterministic constructs (iteration over a map, time-zone arguments) and
bounds their cost. See the README, "Policy language".`,
	}
	var out cli.OutputFlag
	var dest string
	compile := &cobra.Command{
		Use:   "compile FILE [-o policy.json]",
		Short: "Compile a policy to its canonical JSON IR and print its digest",
		Example: `  stella-oras policy compile examples/policies/strict-prod.yaml -o strict-prod.policy.json
  stella-oras policy compile policy.yaml --output json`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := out.Validate(); err != nil {
				return err
			}
			p, err := loadPolicy(args[0])
			if err != nil {
				return err
			}
			ir, err := p.IR()
			if err != nil {
				return err
			}
			d, err := p.Digest()
			if err != nil {
				return err
			}
			if dest != "" {
				if err := load.WriteAtomic(dest, ir, 0o644); err != nil {
					return err
				}
			}
			res := policyResult{File: args[0], Name: p.Name, Version: p.Version, Digest: d, Path: dest}
			switch {
			case out.JSON():
				return cli.WriteJSON(s.Out, res)
			case dest == "":
				_, err = fmt.Fprintf(s.Out, "%s\n", ir)
				fmt.Fprintf(s.Err, "%s@%s %s\n", p.Name, p.Version, d)
				return err
			}
			_, err = fmt.Fprintf(s.Out, "Compiled %s@%s to %s\nDigest: %s\n", p.Name, p.Version, dest, d)
			return err
		},
	}
	compile.Flags().StringVarP(&dest, "out", "o", "", "write the IR here (atomically); without it the IR goes to stdout")
	out.Register(compile)

	var lintOut cli.OutputFlag
	lint := &cobra.Command{
		Use:     "lint FILE...",
		Short:   "Check policies: schema, CEL types, determinism and cost",
		Example: `  stella-oras policy lint examples/policies/*.yaml`,
		Args:    cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, files []string) error {
			if err := lintOut.Validate(); err != nil {
				return err
			}
			var res []policyResult
			for _, f := range files {
				p, err := loadPolicy(f)
				if err != nil {
					return err
				}
				d, err := p.Digest()
				if err != nil {
					return err
				}
				res = append(res, policyResult{File: f, Name: p.Name, Version: p.Version, Digest: d})
			}
			if lintOut.JSON() {
				return cli.WriteJSON(s.Out, res)
			}
			for _, r := range res {
				fmt.Fprintf(s.Out, "ok  %s  %s@%s  %s\n", r.File, r.Name, r.Version, r.Digest)
			}
			return nil
		},
	}
	lintOut.Register(lint)

	var explainOut cli.OutputFlag
	var asOf string
	explain := &cobra.Command{
		Use:   "explain FILE [--as-of DATE]",
		Short: "Describe what a policy does, in words",
		Long: `Print the policy's severity table, VEX trust registry and merge order, gates,
budgets, exceptions (with their state at --as-of, e.g. a feed snapshot's epoch)
and scoring. --output json prints the IR with its digest.`,
		Example: `  stella-oras policy explain examples/policies/strict-prod.yaml --as-of 2026-08-21`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := explainOut.Validate(); err != nil {
				return err
			}
			var at time.Time
			if asOf != "" {
				t, err := parseEpoch(asOf)
				if err != nil {
					return err
				}
				at = t
			}
			p, err := loadPolicy(args[0])
			if err != nil {
				return err
			}
			d, err := p.Digest()
			if err != nil {
				return err
			}
			if explainOut.JSON() {
				return cli.WriteJSON(s.Out, map[string]any{"digest": d, "policy": p})
			}
			return explainPolicy(s.Out, p, d, at)
		},
	}
	explain.Flags().StringVar(&asOf, "as-of", "", "judge exceptions at this instant (RFC 3339 or YYYY-MM-DD), e.g. the feed's epoch")
	explainOut.Register(explain)
	cmd.AddCommand(compile, lint, explain, newPolicyPushCmd(s))
	return cmd
}

func explainPolicy(w io.Writer, p *policy.Policy, digest string, at time.Time) error {
	fmt.Fprintf(w, "Policy %s@%s\nDigest: %s\n\n", p.Name, p.Version, digest)
	fmt.Fprintf(w, "Severity comes from %s, in that order of preference.\n", strings.Join(p.SeverityPreference, ", then "))
	var tbl []string
	for _, sev := range policy.Severities() {
		tbl = append(tbl, sev+" → "+p.Outcome(sev))
	}
	fmt.Fprintf(w, "Base outcome by severity: %s.\n\n", strings.Join(tbl, ", "))
	if len(p.TrustLevels) == 0 {
		fmt.Fprintln(w, "VEX: every issuer has the same trust level.")
	} else {
		var lv []string
		for i := len(p.TrustLevels) - 1; i >= 0; i-- {
			lv = append(lv, p.TrustLevels[i])
		}
		fmt.Fprintf(w, "VEX trust levels, highest first: %s; unlisted issuers are %s.\n", strings.Join(lv, " > "), p.TrustName(p.DefaultTrust))
		for _, iss := range sortedIssuers(p) {
			fmt.Fprintf(w, "  %s: %s\n", iss, p.TrustName(p.Trust[iss]))
		}
	}
	fmt.Fprintf(w, "Statements are merged by %s, then joined (affected against a suppression is contested).\n", strings.Join(p.Merge(), ", then "))
	if p.AcceptUnjustified {
		fmt.Fprintln(w, "A not_affected statement suppresses even without a justification.")
	} else {
		fmt.Fprintln(w, "A suppression needs evidence: a justification, a fixed version the component has, or an unreachable verdict.")
	}
	fmt.Fprintln(w)
	if len(p.Gates) > 0 {
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "GATE\tSCOPE\tOUTCOME\tWHEN")
		for _, g := range p.Gates {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", g.Name, g.Scope, g.Outcome, g.When)
		}
		tw.Flush()
		fmt.Fprintln(w)
	}
	for _, env := range p.Environments() {
		b, _ := p.Budget(env)
		lim := "no limit on all unknowns"
		if b.MaxUnknowns >= 0 {
			lim = fmt.Sprintf("at most %d unknowns", b.MaxUnknowns)
		}
		for _, r := range sortedReasonKeys(b.MaxByReason) {
			lim += fmt.Sprintf(", at most %d %s", b.MaxByReason[r], r)
		}
		def := ""
		if env == p.DefaultEnv {
			def = " (default)"
		}
		fmt.Fprintf(w, "Budget %s%s: %s; exceeding it is %s.\n", env, def, lim, b.Outcome)
	}
	for _, e := range p.Exceptions {
		state := ""
		if !at.IsZero() {
			until, _ := time.Parse(time.RFC3339, e.Until)
			state = " — active at " + at.UTC().Format(time.RFC3339)
			if !at.Before(until) {
				state = " — EXPIRED at " + at.UTC().Format(time.RFC3339)
			}
		}
		var what []string
		for _, kv := range [][2]string{{"vulnerability", e.Vulnerability}, {"purl", e.Purl}, {"finding", e.Finding}} {
			if kv[1] != "" {
				what = append(what, kv[0]+" "+kv[1])
			}
		}
		fmt.Fprintf(w, "Exception %s: %s until %s%s. Reason: %s\n", e.ID, strings.Join(what, ", "), e.Until, state, e.Reason)
	}
	if sc := p.Scoring; sc != nil {
		fmt.Fprintf(w, "Scoring: points = score (tenths) × severity weight %% × reachability weight %%, rounded %s; unrated findings score %d.\n", sc.Rounding, sc.Unrated)
	} else {
		fmt.Fprintln(w, "Scoring: points = the finding's score in tenths of a CVSS point (5.0 when unrated); suppressed findings score 0.")
	}
	return nil
}

func sortedIssuers(p *policy.Policy) []string { return slices.Sorted(maps.Keys(p.Trust)) }

func sortedReasonKeys(m map[string]int) []string { return slices.Sorted(maps.Keys(m)) }

func newPolicyPushCmd(s *cli.Streams) *cobra.Command {
	var (
		out cli.OutputFlag
		tf  cli.TargetFlags
		tag string
	)
	cmd := &cobra.Command{
		Use:   "push FILE REF",
		Short: "Compile a policy and push its IR as an OCI artifact (tag: name-semver)",
		Long: `Compile FILE (YAML source or IR; refused before anything is pushed when it does
not compile) and push the canonical IR as a one-layer artifact. The IR is
canonical, so its layer digest is the policy digest that verdicts record. The
tag is name-semver (stella-strict-prod-1.0.0) unless REF names one.`,
		Example: `  stella-oras policy push examples/policies/strict-prod.yaml --plain-http 127.0.0.1:5000/policies
  stella-oras policy push policy.yaml oci:./policies --output json`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := out.Validate(); err != nil {
				return err
			}
			if _, err := registry.ParseReference(args[1]); err != nil {
				return cli.UsageError{Err: err}
			}
			p, err := loadPolicy(args[0])
			if err != nil {
				return err
			}
			ropts, err := tf.Options()
			if err != nil {
				return err
			}
			r, err := evaluator.PushPolicy(cmd.Context(), p, args[1], evaluator.PushPolicyOptions{Registry: ropts, Tag: tag})
			if err != nil {
				return err
			}
			return printPushed(s, out, "policy", r)
		},
	}
	cmd.Flags().StringVar(&tag, "tag", "", "tag instead of name-semver (\"-\": none)")
	tf.Register(cmd)
	out.Register(cmd)
	return cmd
}
