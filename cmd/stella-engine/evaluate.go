package main

import (
	"fmt"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/stella-ops/stella-oras/artifacts"
	"github.com/stella-ops/stella-oras/bundle"
	"github.com/stella-ops/stella-oras/engine/delta"
	"github.com/stella-ops/stella-oras/evaluator"
	"github.com/stella-ops/stella-oras/internal/cli"
)

func newEvaluateCmd(s *cli.Streams) *cobra.Command {
	var (
		out       cli.OutputFlag
		tf        cli.TargetFlags
		o         evaluator.EvaluateOptions
		feedRef   string
		policyRef string
		keyFile   string
		vexKeys   []string
		failOn    string
		epoch     string
		signOpts  bundle.SignOptions
		cacheKeys []string
		fromFile  string
		jobs      int
	)
	cmd := &cobra.Command{
		Use:   "evaluate IMAGE|--from-file LIST --feed REF --key KEY [--policy REF] [--env E] [--baseline REF] [--fail-on GATES]",
		Short: "Judge an image from its referrers and attach the signed verdict (the main job)",
		Long: `Discover the image's SBOM, VEX and reachability referrers (plain, or as
Sigstore attestations), look for a cached verdict with the same cache key whose
bundle verifies, and otherwise evaluate, push the verdict artifact (scan
manifest, verdict, then every input blob) as a referrer of the image, and
attach its signed in-toto statement as a Sigstore bundle. An image index is
evaluated per platform.

VEX found in the registry suppresses only when a --vex-key signed it; otherwise
it is recorded (VEX_UNTRUSTED) and suppresses nothing. --vex files are the
user's own choice and always count.

--baseline IMAGE|VERDICT-REF compares each verdict with the baseline's: an
image is evaluated with the same feed, policy and environment (a cache hit when
CI evaluated it before), a verdict artifact is taken once its bundle verifies
under --key or --cache-key. The delta is pushed as a referrer of the image with
its signed statement (predicate ` + bundle.PredicateDelta + `).

--fail-on is a comma-separated list: fail or warn (the lowest verdict status
that fails), and with --baseline the delta gates new-findings, new-critical,
new-high, risk+N, unknowns+N, status-worse. Default: fail.

--from-file LIST evaluates every image named in LIST (one reference per line,
# comments), --jobs at a time; results come in the file's order.

Exit status: 0 pass (and warn, unless --fail-on warn), 3 a gate failed,
4 verification failed, 1 could not run, 2 usage. With --from-file, an image
that could not be evaluated sets the exit status (the first in file order).`,
		Example: `  stella-oras evaluate --plain-http 127.0.0.1:5000/app@sha256:… --feed 127.0.0.1:5000/feeds:2026-08-21T000000Z --key ci.key
  stella-oras evaluate oci:./layout:demo --feed oci:./feeds --policy oci:./policies --key ci.key --vex-key vendor.pub --output json
  stella-oras evaluate registry.example/app:pr-42 --baseline registry.example/app:main --feed registry.example/feeds --key ci.key --fail-on fail,new-critical
  stella-oras evaluate --from-file images.txt --jobs 4 --feed registry.example/feeds --key ci.key --output json`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := out.Validate(); err != nil {
				return err
			}
			if (len(args) == 1) == (fromFile != "") {
				return cli.Usagef("give one IMAGE or --from-file LIST")
			}
			if feedRef == "" || keyFile == "" {
				return cli.Usagef("--feed and --key are required")
			}
			statusGate, gates, err := parseFailOn(failOn)
			if err != nil {
				return err
			}
			if len(gates) > 0 && o.Baseline == "" {
				return cli.Usagef("--fail-on %s: delta gates need --baseline", failOn)
			}
			if jobs < 1 {
				return cli.Usagef("--jobs must be at least 1")
			}
			if err := signOpts.Check(); err != nil {
				return cli.UsageError{Err: err}
			}
			o.DeltaGates = gates
			var images []string
			if fromFile != "" {
				if images, err = cli.ReadImageList(fromFile, evaluator.MaxImages); err != nil {
					return err
				}
			} else {
				images = args
			}
			ep, err := parseEpoch(epoch)
			if err != nil {
				return err
			}
			// Public keys first: a mistaken one is reported before a
			// passphrase is asked for.
			if o.VEXTrust.Keys, err = readPublicKeys(vexKeys); err != nil {
				return err
			}
			if o.CacheTrust, err = readPublicKeys(cacheKeys); err != nil {
				return err
			}
			if o.Signer, err = newSigner(s, keyFile, signOpts); err != nil {
				return err
			}
			if o.Registry, err = tf.Options(); err != nil {
				return err
			}
			o.Sources.Feed, o.Sources.Policy, o.Sources.Epoch = feedRef, policyRef, ep
			if isTerminal(s.Err) {
				o.OnProgress = func(image, step string) { fmt.Fprintf(s.Err, "%s: %s\n", short(image), step) }
			}
			if fromFile == "" {
				rep, err := evaluator.Evaluate(cmd.Context(), images[0], o)
				if evaluator.IsEnvironmentError(err) {
					return cli.UsageError{Err: err}
				}
				if err != nil {
					return err
				}
				warnEvaluate(s, rep)
				if out.JSON() {
					err = cli.WriteJSON(s.Out, rep)
				} else {
					err = printEvaluate(s, rep)
				}
				// The gate is said on stderr even when the result could
				// not be written; the write error then decides the code.
				if gerr := gateEvaluate(s, rep, statusGate); err == nil {
					err = gerr
				}
				return err
			}
			items, err := evaluator.EvaluateMany(cmd.Context(), images, jobs, o)
			if evaluator.IsEnvironmentError(err) {
				return cli.UsageError{Err: err}
			}
			if err != nil {
				return err
			}
			return renderMany(s, out, items, statusGate)
		},
	}
	f := cmd.Flags()
	f.StringVar(&feedRef, "feed", "", "feed: artifact reference, snapshot file, or directory/zip of OSV records")
	f.StringVar(&policyRef, "policy", "", "policy: artifact reference, YAML source or IR (default: the built-in stella-default)")
	f.StringVar(&keyFile, "key", "", "private key that signs the verdict")
	f.StringArrayVar(&vexKeys, "vex-key", nil, "public key whose signature makes a VEX referrer count (repeatable)")
	f.StringArrayVar(&o.Sources.VEX, "vex", nil, "additional VEX document: FILE or REF (repeatable; always trusted)")
	f.StringVar(&o.Sources.SBOM, "sbom-file", "", "judge this SBOM file instead of the image's SBOM referrer")
	f.StringVar(&o.SBOMDigest, "sbom", "", "choose the SBOM referrer by manifest or layer DIGEST")
	f.StringVar(&o.Sources.Reach, "reachability", "", "reachability evidence file (default: the image's reachability referrer)")
	f.StringVar(&o.Sources.Env, "env", "", "environment whose unknowns budget applies")
	f.StringVar(&epoch, "epoch", "", "epoch when --feed is a directory or zip")
	f.StringVar(&failOn, "fail-on", "fail", "gates that exit 3: fail or warn (the lowest failing status), and with --baseline new-findings, new-critical, new-high, risk+N, unknowns+N, status-worse")
	f.StringVar(&o.Baseline, "baseline", "", "image or verdict artifact to compare with: the delta is signed and attached")
	f.StringArrayVar(&cacheKeys, "cache-key", nil, "public key whose cached (and baseline) verdicts are reused besides --key's (repeatable)")
	f.StringVar(&fromFile, "from-file", "", "evaluate every image reference in this file (one per line)")
	f.IntVar(&jobs, "jobs", 1, "images evaluated at once with --from-file")
	f.BoolVar(&o.NoCache, "no-cache", false, "evaluate even when a cached verdict matches")
	f.IntVar(&o.Jobs, "concurrency", 0, "concurrent registry requests per image (default 8)")
	f.StringVar(&signOpts.TSAURL, "tsa-url", "", "add an RFC 3161 timestamp from this TSA")
	f.StringVar(&signOpts.RekorURL, "rekor-url", "", "record the signature in this Rekor v2 log")
	tf.Register(cmd)
	out.Register(cmd)
	return cmd
}

// parseFailOn splits --fail-on into the status threshold (fail, warn, or
// "" when only delta gates are named) and the delta gates.
func parseFailOn(v string) (string, []delta.Gate, error) {
	status, rest := "", []string{}
	for g := range strings.SplitSeq(v, ",") {
		switch g = strings.TrimSpace(g); g {
		case artifacts.StatusFail, artifacts.StatusWarn:
			if status != "" && status != g {
				return "", nil, cli.Usagef("--fail-on names both fail and warn")
			}
			status = g
		case "":
		default:
			rest = append(rest, g)
		}
	}
	gates, err := delta.ParseGates(strings.Join(rest, ","))
	if err != nil {
		return "", nil, cli.UsageError{Err: err}
	}
	if status == "" && len(gates) == 0 {
		return "", nil, cli.Usagef("--fail-on %q names no gate", v)
	}
	return status, gates, nil
}

func warnEvaluate(s *cli.Streams, rep *evaluator.Report) {
	for _, im := range rep.Images {
		for _, w := range im.Warnings {
			printWarning(s.Err, w)
		}
		for _, x := range im.VEXIgnored {
			fmt.Fprintf(s.Err, "warning: %s: VEX %s suppresses nothing: %s (no --vex-key signed it)\n", im.Image, x.Stored, x.Reason)
		}
	}
}

// gateEvaluate applies the status gate and the delta gates: exit 3, with
// each reason on stderr, when one fails.
func gateEvaluate(s *cli.Streams, rep *evaluator.Report, statusGate string) error {
	var why []string
	if statusGate != "" && evaluator.Gate(rep.Status, statusGate) != nil {
		why = append(why, "verdict status "+rep.Status)
	}
	for _, im := range rep.Images {
		if im.Delta != nil {
			for _, f := range im.Delta.Fired {
				why = append(why, im.Image+": "+f)
			}
		}
	}
	if len(why) == 0 {
		return nil
	}
	fmt.Fprintf(s.Err, "gate failed: %s: %s\n", rep.Reference, strings.Join(why, "; "))
	return errGate
}

// statusError is a --from-file list's status when an image could not be
// evaluated.
const statusError = "error"

// renderMany prints every item, then exits by the first item (in input
// order) that could not be evaluated, else by the gates.
func renderMany(s *cli.Streams, out cli.OutputFlag, items []evaluator.Item, statusGate string) error {
	// The list's status is the worst of its verdicts', or "error" when an
	// image could not be evaluated: a list whose every image failed is
	// never reported as passing.
	worstStatus := artifacts.StatusPass
	failed := false
	for _, it := range items {
		failed = failed || it.Err != nil
		if it.Report != nil {
			warnEvaluate(s, it.Report)
			if evaluator.Gate(it.Report.Status, artifacts.StatusWarn) != nil && worstStatus != artifacts.StatusFail {
				worstStatus = it.Report.Status
			}
		}
	}
	if failed {
		worstStatus = statusError
	}
	var werr error // a result not written: said after the gates, and decides the code
	if out.JSON() {
		werr = cli.WriteJSON(s.Out, map[string]any{"images": items, "status": worstStatus})
	} else {
		for i, it := range items {
			if i > 0 {
				fmt.Fprintln(s.Out)
			}
			if it.Err != nil {
				fmt.Fprintf(s.Out, "%s\n  error: %s\n", it.Reference, it.Error)
				continue
			}
			if werr = printEvaluate(s, it.Report); werr != nil {
				break
			}
		}
	}
	var first error
	gated := false
	for _, it := range items {
		switch {
		case it.Err != nil:
			fmt.Fprintf(s.Err, "Error: %s\n", cli.OneLine(it.Reference+": "+it.Error))
			if first == nil {
				first = it.Err
			}
		case gateEvaluate(s, it.Report, statusGate) != nil:
			gated = true
		}
	}
	if werr != nil {
		return werr
	}
	if first != nil {
		return cli.Reported{Err: first}
	}
	if gated {
		return errGate
	}
	return nil
}

func printEvaluate(s *cli.Streams, rep *evaluator.Report) error {
	for i, im := range rep.Images {
		if i > 0 {
			fmt.Fprintln(s.Out)
		}
		head := im.Image
		if im.Platform != "" {
			head += " (" + im.Platform + ")"
		}
		fmt.Fprintf(s.Out, "%s\n", head)
		tw := tabwriter.NewWriter(s.Out, 0, 4, 2, ' ', 0)
		fmt.Fprintf(tw, "  state:\t%s (engine runs: %d)\n", im.State, im.EngineRuns)
		fmt.Fprintf(tw, "  status:\t%s   risk score %d   %s, %s, %s\n", strings.ToUpper(im.Status), im.RiskScore,
			cli.Plural(im.Summary.Components, "component"), cli.Plural(im.Summary.Findings, "finding"), cli.Plural(im.UnknownsCount, "unknown"))
		if im.SBOM != nil {
			fmt.Fprintf(tw, "  sbom:\t%s (%s)\n", im.SBOM.Referrer.Digest, im.SBOMChoice)
		}
		if len(im.VEXIgnored) > 0 {
			fmt.Fprintf(tw, "  vex ignored:\t%d untrusted\n", len(im.VEXIgnored))
		}
		if im.Feed != nil {
			fmt.Fprintf(tw, "  feed:\t%s (%d bytes pulled)\n", im.Feed.Reference, im.Feed.BytesPulled)
		}
		fmt.Fprintf(tw, "  manifest:\t%s\n  verdict:\t%s\n  cache key:\t%s\n  artifact:\t%s\n  bundle:\t%s\n",
			im.ManifestDigest, im.VerdictDigest, im.CacheKey, im.Verdict, im.Bundle)
		if d := im.Delta; d != nil {
			fmt.Fprintf(tw, "  baseline:\t%s (%s)\n", d.Baseline, d.BaselineState)
			fmt.Fprintf(tw, "  delta:\t%s   status %s   findings +%d -%d, %d changed   risk %+d   unknowns %+d\n",
				d.Digest, orSame(d.Delta.StatusChange), len(d.Delta.Added), len(d.Delta.Removed), len(d.Delta.Changed), d.Delta.RiskDelta, d.Delta.UnknownsDelta)
			fmt.Fprintf(tw, "  delta artifact:\t%s\n  delta bundle:\t%s\n", d.Artifact, d.Bundle)
			for _, a := range d.Delta.Added {
				fmt.Fprintf(tw, "    + %s %s %s (%s)\n", a.Severity, a.Vulnerability, a.Purl, a.Outcome)
			}
			for _, r := range d.Delta.Removed {
				fmt.Fprintf(tw, "    - %s %s %s\n", r.Severity, r.Vulnerability, r.Purl)
			}
			for _, c := range d.Delta.Changed {
				fmt.Fprintf(tw, "    ~ %s %s %s: %s -> %s\n", c.Vulnerability, c.Purl, c.Field, c.From, c.To)
			}
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	return nil
}

func orSame(change string) string {
	if change == "" {
		return "unchanged"
	}
	return change
}

func short(d string) string {
	if i := strings.Index(d, ":"); i >= 0 && len(d) > i+13 {
		return d[:i+13]
	}
	return d
}

// isTerminal reports whether w is a terminal (progress goes only there).
func isTerminal(w any) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}
