package main

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/stella-ops/stella-oras/engine/feed"
	"github.com/stella-ops/stella-oras/evaluator"
	"github.com/stella-ops/stella-oras/internal/cli"
	"github.com/stella-ops/stella-oras/internal/load"
	"github.com/stella-ops/stella-oras/registry"
)

func newFeedCmd(s *cli.Streams) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "feed",
		Short: "Build vulnerability-feed snapshots and push them as OCI artifacts",
	}
	cmd.AddCommand(newFeedBuildCmd(s), newFeedPushCmd(s))
	return cmd
}

// parseEpoch reads --epoch: RFC 3339 or a plain date (midnight UTC).
func parseEpoch(v string) (time.Time, error) {
	if v == "" {
		return time.Time{}, nil
	}
	for _, layout := range []string{time.RFC3339, "2006-01-02"} {
		if t, err := time.Parse(layout, v); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, cli.Usagef("--epoch %q: want RFC 3339 (2026-08-21T00:00:00Z) or a date (2026-08-21)", v)
}

type feedResult struct {
	Digest     string         `json:"digest"`
	Path       string         `json:"path"`
	Epoch      string         `json:"epoch"`
	Records    int            `json:"records"`
	Ecosystems map[string]int `json:"ecosystems"`
	Withdrawn  int            `json:"withdrawn"`
	Superseded []string       `json:"superseded"`
	Aliases    int            `json:"alias_groups"`
	Size       int            `json:"size"`
}

func newFeedBuildCmd(s *cli.Streams) *cobra.Command {
	var (
		out   cli.OutputFlag
		dest  string
		epoch string
	)
	cmd := &cobra.Command{
		Use:   "build DIR|ZIP -o SNAPSHOT",
		Short: "Freeze a directory or zip of OSV records into a canonical snapshot",
		Long: `Freeze a directory or zip of OSV JSON records into a canonical feed snapshot:
records grouped by ecosystem and sorted by id, withdrawn records left out, an
alias index, an epoch (--epoch, or the latest "modified" of the records), and
a content ID. The Go vulnerability database's repository copies carry
0001-01-01 timestamps: give --epoch for them.`,
		Example: `  stella-oras feed build ./osv --epoch 2026-08-21 -o feed.snapshot.json
  stella-oras feed build all.zip -o feed.snapshot.json --output json`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := out.Validate(); err != nil {
				return err
			}
			if dest == "" {
				return cli.Usagef("-o SNAPSHOT is required")
			}
			ep, err := parseEpoch(epoch)
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			b, err := load.BuildFeed(ctx, args[0], load.FeedOptions{Epoch: ep})
			if err != nil {
				return err
			}
			snap, err := feed.OpenIndex(b.Index())
			if err != nil {
				return err
			}
			// Interrupted by now, or while writing: write nothing (the
			// temporary file is removed).
			if err := ctx.Err(); err != nil {
				return err
			}
			if err := load.WriteFeed(dest, b, 0o644); err != nil {
				return err
			}
			m := snap.Meta()
			r := feedResult{
				Digest: snap.ContentID(), Path: dest, Epoch: snap.Epoch().Format(time.RFC3339),
				Records: m.RecordCount, Ecosystems: m.Ecosystems, Withdrawn: len(m.Withdrawn),
				Superseded: m.Superseded, Aliases: len(snapAliases(snap)), Size: int(b.Size()),
			}
			if out.JSON() {
				return cli.WriteJSON(s.Out, r)
			}
			ecos := make([]string, 0, len(m.Ecosystems))
			for e, n := range m.Ecosystems {
				if e == "" {
					e = "(none)"
				}
				ecos = append(ecos, fmt.Sprintf("%s %d", e, n))
			}
			slices.Sort(ecos)
			fmt.Fprintf(s.Out, "Snapshot %s\n  written:    %s (%d bytes)\n  epoch:      %s\n  records:    %d (%s)\n  withdrawn:  %d left out\n",
				r.Digest, dest, r.Size, r.Epoch, r.Records, strings.Join(ecos, ", "), r.Withdrawn)
			if len(r.Superseded) > 0 {
				fmt.Fprintf(s.Out, "  duplicates: %s (latest modified kept)\n", strings.Join(r.Superseded, ", "))
			}
			return nil
		},
	}
	cmd.Flags().StringVarP(&dest, "out", "o", "", "snapshot file to write (atomically)")
	cmd.Flags().StringVar(&epoch, "epoch", "", "the snapshot's as-of instant (RFC 3339 or YYYY-MM-DD); default: latest record modified time")
	out.Register(cmd)
	return cmd
}

func snapAliases(s *feed.Snapshot) [][]string { return s.AliasGroups() }

func newFeedPushCmd(s *cli.Streams) *cobra.Command {
	var (
		out   cli.OutputFlag
		tf    cli.TargetFlags
		epoch string
		tag   string
	)
	cmd := &cobra.Command{
		Use:   "push SNAPSHOT|DIR|ZIP REF",
		Short: "Push a feed snapshot as an OCI artifact, one layer per ecosystem",
		Long: `Push a feed snapshot (or a directory or zip of OSV records, frozen first) as
an artifact: the feed's index as the first layer (alias groups, epoch, and the
digest of every record group), then one layer per record group, so an
evaluator fetches only what its SBOM's ecosystems need. The manifest's
creation time is the epoch: the same records always give the same manifest
digest. The tag is the epoch (2026-08-21T000000Z) unless REF names one.`,
		Example: `  stella-oras feed push feed.snapshot.json --plain-http 127.0.0.1:5000/feeds
  stella-oras feed push ./osv --epoch 2026-08-21 oci:./feeds --output json`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := out.Validate(); err != nil {
				return err
			}
			ep, err := parseEpoch(epoch)
			if err != nil {
				return err
			}
			if _, err := registry.ParseReference(args[1]); err != nil {
				return cli.UsageError{Err: err}
			}
			snap, err := load.Feed(cmd.Context(), args[0], load.FeedOptions{Epoch: ep})
			if err != nil {
				return err
			}
			ropts, err := tf.Options()
			if err != nil {
				return err
			}
			r, err := evaluator.PushFeed(cmd.Context(), snap, args[1], evaluator.PushFeedOptions{Registry: ropts, Tag: tag})
			if err != nil {
				return err
			}
			return printPushed(s, out, "feed", r)
		},
	}
	cmd.Flags().StringVar(&epoch, "epoch", "", "epoch when the source is a directory or zip (RFC 3339 or YYYY-MM-DD)")
	cmd.Flags().StringVar(&tag, "tag", "", "tag instead of the epoch (\"-\": none)")
	tf.Register(cmd)
	out.Register(cmd)
	return cmd
}

// printPushed renders a pushed feed or policy artifact.
func printPushed(s *cli.Streams, out cli.OutputFlag, what string, r *evaluator.PushedArtifact) error {
	if out.JSON() {
		return cli.WriteJSON(s.Out, r)
	}
	fmt.Fprintf(s.Out, "Pushed %s %s\n  artifact: %s\n  tag:      %s\n  layers:   %d (%d bytes)\n", what, r.Digest, r.Reference, orDash(r.Tag), r.Layers, r.Bytes)
	return nil
}
