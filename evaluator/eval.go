package evaluator

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/stella-ops/stella-oras/artifacts"
	"github.com/stella-ops/stella-oras/canon"
	"github.com/stella-ops/stella-oras/engine"
	"github.com/stella-ops/stella-oras/registry"
)

// EvalOptions configure Eval. Registry opens the references among the
// sources (feeds, policies, VEX artifacts); its zero value uses HTTPS and
// docker's credentials. Logger discards by default.
type EvalOptions struct {
	Sources  Sources
	Registry registry.Options
	Logger   *slog.Logger
}

// Result is one evaluation: the scan manifest and the verdict, as
// documents and as canonical bytes with their content IDs.
type Result struct {
	Manifest       *artifacts.ScanManifest
	ManifestBytes  []byte
	ManifestDigest string
	Verdict        *artifacts.Verdict
	VerdictBytes   []byte
	VerdictDigest  string
	// Gathered are the inputs as read.
	Gathered *Gathered
	// Warnings did not stop the evaluation; one line each.
	Warnings []string
}

// ErrEnvironment is an environment the policy does not budget (a usage
// error in the CLI).
var ErrEnvironment = engine.ErrEnvironment

// Eval judges local (or referenced) inputs: the `eval` flow.
func Eval(ctx context.Context, o EvalOptions) (*Result, error) {
	g, err := gather(ctx, o.Sources, gatherOptions{registry: o.Registry, log: logger(o.Logger)})
	if err != nil {
		return nil, err
	}
	return evaluate(g)
}

// evaluate runs the pure engine over gathered inputs and serializes.
func evaluate(g *Gathered) (*Result, error) {
	m, v, err := engine.Evaluate(g.Inputs)
	if err != nil {
		return nil, err
	}
	r := &Result{Manifest: m, Verdict: v, Gathered: g, Warnings: g.Warnings}
	noMatch := 0
	for _, n := range v.VEXUnmatched {
		if n.Reason == engine.ReasonVEXUnknownVuln {
			r.Warnings = append(r.Warnings, fmt.Sprintf("%s: statement about %s (%s): %s, the feed does not know the id", g.VEXNames[n.Source], n.Vulnerability, n.Product, n.Reason))
		} else {
			noMatch++
		}
	}
	if noMatch > 0 {
		r.Warnings = append(r.Warnings, fmt.Sprintf("note: %d VEX statements apply to no finding (%s; listed in the verdict's vex_unmatched)", noMatch, engine.ReasonVEXNoMatchingFinding))
	}
	if r.VerdictBytes, r.VerdictDigest, err = engine.MarshalVerdict(v); err != nil {
		return nil, err
	}
	if r.ManifestBytes, r.ManifestDigest, err = canon.MarshalID(m); err != nil {
		return nil, err
	}
	if r.ManifestDigest != v.ManifestDigest {
		return nil, fmt.Errorf("internal error: manifest %s, verdict names %s", r.ManifestDigest, v.ManifestDigest)
	}
	return r, nil
}

// Gate applies --fail-on: a verdict of fail always fails the gate, one of
// warn when failOn is "warn". The error wraps ErrGateFailed.
func Gate(status, failOn string) error {
	if failOn != artifacts.StatusFail && failOn != artifacts.StatusWarn {
		return fmt.Errorf("fail-on must be fail or warn, not %q", failOn)
	}
	if status == artifacts.StatusFail || (failOn == artifacts.StatusWarn && status == artifacts.StatusWarn) {
		return gateFailed("verdict status %s", status)
	}
	return nil
}

// IsEnvironmentError reports whether err is an unknown --env.
func IsEnvironmentError(err error) bool { return errors.Is(err, engine.ErrEnvironment) }
