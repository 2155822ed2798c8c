package main

import (
	"fmt"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/stella-ops/stella-oras/artifacts"
	"github.com/stella-ops/stella-oras/bundle"
	"github.com/stella-ops/stella-oras/evaluator"
	"github.com/stella-ops/stella-oras/internal/load"
)

func newEvaluateCmd(s *streams) *cobra.Command {
	var (
		out       outputFlag
		tf        targetFlags
		o         evaluator.EvaluateOptions
		feedRef   string
		policyRef string
		keyFile   string
		vexKeys   []string
		failOn    string
		epoch     string
		signOpts  bundle.SignOptions
	)
	cmd := &cobra.Command{
		Use:   "evaluate IMAGE --feed REF --key KEY [--policy REF] [--env E] [--fail-on fail|warn]",
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

Exit status: 0 pass (and warn, unless --fail-on warn), 3 gate failed,
4 verification failed, 1 could not run, 2 usage.`,
		Example: `  stella-oras evaluate --plain-http 127.0.0.1:5000/app@sha256:… --feed 127.0.0.1:5000/feeds:2026-08-21T000000Z --key ci.key
  stella-oras evaluate oci:./layout:demo --feed oci:./feeds --policy oci:./policies --key ci.key --vex-key vendor.pub --output json`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := out.validate(); err != nil {
				return err
			}
			if feedRef == "" || keyFile == "" {
				return usagef("--feed and --key are required")
			}
			if failOn != artifacts.StatusFail && failOn != artifacts.StatusWarn {
				return usagef("--fail-on must be fail or warn, not %q", failOn)
			}
			ep, err := parseEpoch(epoch)
			if err != nil {
				return err
			}
			_, priv, err := loadKeypair(s, keyFile)
			if err != nil {
				return err
			}
			if o.Signer, err = evaluator.NewSigner(priv, signOpts); err != nil {
				return err
			}
			for _, k := range vexKeys {
				b, err := load.File(k, 1<<20)
				if err != nil {
					return err
				}
				o.VEXTrust.Keys = append(o.VEXTrust.Keys, b)
			}
			if o.Registry, err = tf.options(); err != nil {
				return err
			}
			o.Sources.Feed, o.Sources.Policy, o.Sources.Epoch = feedRef, policyRef, ep
			if isTerminal(s.err) {
				o.OnProgress = func(image, step string) { fmt.Fprintf(s.err, "%s: %s\n", short(image), step) }
			}
			rep, err := evaluator.Evaluate(cmd.Context(), args[0], o)
			if evaluator.IsEnvironmentError(err) {
				return usageError{err}
			}
			if err != nil {
				return err
			}
			for _, im := range rep.Images {
				for _, w := range im.Warnings {
					printWarning(s.err, w)
				}
				for _, x := range im.VEXIgnored {
					fmt.Fprintf(s.err, "warning: %s: VEX %s suppresses nothing: %s (no --vex-key signed it)\n", im.Image, x.Stored, x.Reason)
				}
			}
			if out.json() {
				err = writeJSON(s.out, rep)
			} else {
				err = printEvaluate(s, rep)
			}
			if err != nil {
				return err
			}
			if err := evaluator.Gate(rep.Status, failOn); err != nil {
				fmt.Fprintf(s.err, "gate failed: verdict status %s\n", rep.Status)
				return err
			}
			return nil
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
	f.StringVar(&failOn, "fail-on", "fail", "lowest verdict status that exits 3: fail or warn")
	f.BoolVar(&o.NoCache, "no-cache", false, "evaluate even when a cached verdict matches")
	f.IntVar(&o.Jobs, "jobs", 0, "concurrent registry requests (default 8)")
	f.StringVar(&signOpts.TSAURL, "tsa-url", "", "add an RFC 3161 timestamp from this TSA")
	f.StringVar(&signOpts.RekorURL, "rekor-url", "", "record the signature in this Rekor v2 log")
	tf.register(cmd)
	out.register(cmd)
	return cmd
}

func printEvaluate(s *streams, rep *evaluator.Report) error {
	for i, im := range rep.Images {
		if i > 0 {
			fmt.Fprintln(s.out)
		}
		head := im.Image
		if im.Platform != "" {
			head += " (" + im.Platform + ")"
		}
		fmt.Fprintf(s.out, "%s\n", head)
		tw := tabwriter.NewWriter(s.out, 0, 4, 2, ' ', 0)
		fmt.Fprintf(tw, "  state:\t%s (engine runs: %d)\n", im.State, im.EngineRuns)
		fmt.Fprintf(tw, "  status:\t%s   risk score %d   %s, %s, %s\n", strings.ToUpper(im.Status), im.RiskScore,
			plural(im.Summary.Components, "component"), plural(im.Summary.Findings, "finding"), plural(im.UnknownsCount, "unknown"))
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
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	return nil
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
