package main

import (
	"fmt"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/stella-ops/stella-oras/evaluator"
	"github.com/stella-ops/stella-oras/internal/cli"
)

func newReplayCmd(s *cli.Streams) *cobra.Command {
	var (
		out cli.OutputFlag
		tf  cli.TargetFlags
	)
	cmd := &cobra.Command{
		Use:   "replay REF",
		Short: "Re-evaluate verdicts from their artifacts alone and compare digests",
		Long: `Fetch every input a verdict artifact carries (SBOM as attached, VEX,
reachability, feed index and record groups, policy IR), re-evaluate, and report
identical (the same verdict digest) or different (with the delta). REF is a
verdict artifact, an image (every verdict on it), or a scan-manifest digest in
the image's repository. Nothing but the registry or layout REF points at is
read.

Exit status: 0 every replay is identical, 4 one differs, 1 could not run.`,
		Example: `  stella-oras replay --plain-http 127.0.0.1:5000/app@sha256:…   # an image, or its verdict artifact
  stella-oras replay oci:./layout:demo --output json`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := out.Validate(); err != nil {
				return err
			}
			ropts, err := tf.Options()
			if err != nil {
				return err
			}
			rs, err := evaluator.Replay(cmd.Context(), args[0], evaluator.ReplayOptions{Registry: ropts})
			if err != nil {
				return err
			}
			if out.JSON() {
				err = cli.WriteJSON(s.Out, rs)
			} else {
				tw := tabwriter.NewWriter(s.Out, 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "VERDICT ARTIFACT\tOUTCOME\tVERDICT DIGEST")
				for _, r := range rs {
					fmt.Fprintf(tw, "%s\t%s\t%s\n", r.Verdict, r.Outcome, r.Replayed)
				}
				err = tw.Flush()
			}
			if err != nil {
				return err
			}
			for _, r := range rs {
				switch r.Outcome {
				case evaluator.ReplayIdentical:
				case evaluator.ReplayNotVerdict:
					return fmt.Errorf("%w: %s cannot be replayed: %s", errVerify, r.Verdict, r.Reason)
				default:
					return fmt.Errorf("%w: %s replays to %s, not %s", errVerify, r.Verdict, r.Replayed, r.VerdictDigest)
				}
			}
			return nil
		},
	}
	tf.Register(cmd)
	out.Register(cmd)
	return cmd
}

func newStatusCmd(s *cli.Streams) *cobra.Command {
	var (
		out  cli.OutputFlag
		tf   cli.TargetFlags
		keys []string
		rev  revocationFlags
	)
	cmd := &cobra.Command{
		Use:   "status IMAGE --key PUB…",
		Short: "List an image's verdicts: computed, stale or unknown",
		Long: `List the verdict artifacts on an image with their state: computed (the bundle
verifies under --key and nothing newer applies), stale (the feed repository has
a newer epoch, or the signer is on the --revocations list), unknown (no bundle,
or none that verifies). A new epoch or a revocation makes the next evaluate
recompute.`,
		Example: `  stella-oras status --plain-http 127.0.0.1:5000/app@sha256:… --key ci.pub
  stella-oras status oci:./layout:demo --key ci.pub --output json`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := out.Validate(); err != nil {
				return err
			}
			if len(keys) == 0 {
				return cli.Usagef("--key is required")
			}
			if err := rev.validate(len(keys)); err != nil {
				return err
			}
			var o evaluator.StatusOptions
			var err error
			if o.Trust.Keys, err = readPublicKeys(keys); err != nil {
				return err
			}
			if o.Trust.Revoked, err = rev.load(cmd, s, &tf, o.Trust.Keys); err != nil {
				return err
			}
			if o.Registry, err = tf.Options(); err != nil {
				return err
			}
			st, err := evaluator.Status(cmd.Context(), args[0], o)
			if err != nil {
				return err
			}
			if out.JSON() {
				return cli.WriteJSON(s.Out, st)
			}
			tw := tabwriter.NewWriter(s.Out, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "VERDICT ARTIFACT\tSTATE\tSTATUS\tFEED EPOCH\tREASON")
			for _, v := range st {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", v.Verdict, v.State, orDash(v.Status), orDash(v.FeedEpoch), v.Reason)
			}
			return tw.Flush()
		},
	}
	cmd.Flags().StringArrayVar(&keys, "key", nil, "trusted PEM public key (repeatable)")
	rev.register(cmd)
	tf.Register(cmd)
	out.Register(cmd)
	return cmd
}
