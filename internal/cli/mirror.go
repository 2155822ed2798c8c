package cli

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/spf13/cobra"

	"github.com/stella-ops/stella-oras/internal/readfile"
	"github.com/stella-ops/stella-oras/registry"
)

// MirrorGate is what the engine binary adds to mirror: the gate
// (--require-verified with its trust) and the signed receipt
// (--receipt-key). The front binary's mirror has none: a command line
// that uses its flags is handed to the engine (handoff.EngineArgs), and
// every other mirror runs in the front, without the engine's start.
type MirrorGate interface {
	// Register adds the gate's flags.
	Register(cmd *cobra.Command)
	// Prepare checks the gate's flags and returns the mirror to run:
	// registry.MirrorImages with the gate's hooks (evaluator.Mirror).
	Prepare(cmd *cobra.Command, s *Streams, tf *TargetFlags) (func(ctx context.Context, sources []string, dst string, o registry.MirrorRunOptions) ([]registry.MirrorResult, error), error)
}

// NewMirrorCmd is `mirror`; gate is nil in the front.
func NewMirrorCmd(s *Streams, gate MirrorGate) *cobra.Command {
	var (
		out        OutputFlag
		tf         TargetFlags
		o          registry.MirrorRunOptions
		fromFile   string
		noState    bool
		noProgress bool
		fromPlain  bool
		toPlain    bool
		stateDirFl string
	)
	cmd := &cobra.Command{
		Use:   "mirror SRC DST | --from-file LIST DST",
		Short: "Copy an image with its whole referrer graph to another registry, OCI layout or layout tar",
		Long: `Copy an image (an index with all its platform manifests, or one
manifest), every referrer at every depth (SBOMs, VEX, verdicts, deltas and
their bundles) and every blob they name from SRC to DST. Each side is a
registry reference, oci:DIR or oci-archive:FILE.tar; SRC names the image
by tag or digest, DST a repository (its tag, when given, replaces SRC's).
With --from-file, DST is a registry prefix under which each image keeps
its repository path (or a layout that receives every image).

Manifests are copied as their exact bytes (digests that signatures and
verdicts name survive) and every byte is checked against its digest while
it streams. A rerun resumes: blobs already at DST are not sent again,
manifests are put again (children first, referrers after their subjects,
the tag last). It is also incremental: a state per destination repository
(--state-dir) remembers what was copied and each subject's referrer
listing, so a rerun lists every node but reads and copies only what is
new; referrers attached since the last run arrive. --full checks
everything again. On a registry without the referrers API the referrers
tag of each subject is written, safe with concurrent writers.

--require-verified is a gate: an image is copied only when a Sigstore
bundle on it (the index, or every platform manifest) verifies under the
--key trust, and bundles that do not verify are left behind; the report
lists what was refused. --receipt-key signs a receipt (an in-toto
statement of predicate type
https://stella-ops.org/attestation/mirror-receipt/v1 about the image: the
manifests mirrored, what was refused, the trust applied) and attaches it
at the destination.

Exit status: 0 every image mirrored, 1 one could not be (the first in
input order sets the status; the others still run), 2 usage, 4 content
that does not match its digest, or an image the gate refused.`,
		Example: `  stella-oras mirror registry.example/app:1.0 oci-archive:./app.tar
  stella-oras mirror --plain-http 127.0.0.1:5000/app@sha256:… 127.0.0.1:5001/app
  stella-oras mirror --from-file images.txt --jobs 4 registry.example airgap.example/mirror
  stella-oras mirror --dry-run --output json registry.example/app:1.0 airgap.example/app`,
		Args: func(cmd *cobra.Command, args []string) error {
			if fromFile != "" {
				return cobra.ExactArgs(1)(cmd, args)
			}
			return cobra.ExactArgs(2)(cmd, args)
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := out.Validate(); err != nil {
				return err
			}
			sources, dst := args[:1], args[len(args)-1]
			dref, err := registry.ParseReference(dst)
			if err != nil {
				return UsageError{Err: err}
			}
			if dref.Digest != "" || (fromFile != "" && dref.Tag != "") {
				return Usagef("%s: DST is a repository (with --from-file a prefix): a tag only for one image, never a digest", dst)
			}
			if fromFile != "" {
				if sources, err = ReadImageList(fromFile, registry.MaxMirrorImages); err != nil {
					return err
				}
				o.Prefix = true
			}
			opts, err := tf.Options()
			if err != nil {
				return err
			}
			o.Source, o.Destination = opts, opts
			o.Source.PlainHTTP = opts.PlainHTTP || fromPlain
			o.Destination.PlainHTTP = opts.PlainHTTP || toPlain
			if !noState {
				if o.StateDir = stateDirFl; o.StateDir == "" {
					if o.StateDir, err = defaultStateDir(); err != nil {
						return err
					}
				}
			}
			o.OnDrop = func(parent, r ocispec.Descriptor, why string) {
				fmt.Fprintf(s.Err, "Warning: %s listed under %s was not copied: %s\n", r.Digest, parent.Digest, why)
			}
			run := registry.MirrorImages
			if gate != nil {
				if run, err = gate.Prepare(cmd, s, &tf); err != nil {
					return err
				}
			}
			lessGC()
			prog := newMirrorProgress(s.Err, !noProgress)
			prog.hook(&o.MirrorOptions)
			results, err := run(cmd.Context(), sources, dst, o)
			prog.end()
			if err != nil && results == nil {
				return err
			}
			if out.JSON() {
				if werr := WriteJSON(s.Out, map[string]any{"dry_run": o.DryRun, "images": results}); werr != nil {
					return werr
				}
			} else {
				renderMirror(s, results, o.DryRun)
			}
			if err != nil {
				return err
			}
			for _, r := range results {
				if r.Err != nil {
					return Reported{Err: r.Err}
				}
			}
			return nil
		},
	}
	fl := cmd.Flags()
	if gate != nil {
		gate.Register(cmd)
	}
	fl.StringArrayVar(&o.Platforms, "platform", nil, "keep only this platform of an index (os/arch[/variant], repeatable): the index is rewritten (a new digest) and the original index's referrers are not copied")
	fl.BoolVar(&o.KeepIndex, "keep-index", false, "with --platform, copy the index as it is (only the chosen platforms' manifests behind it; a registry that checks an index may refuse it)")
	fl.StringVar(&o.ArtifactType, "artifact-type", "", "copy only referrers of this artifact type (the image is always copied)")
	fl.IntVar(&o.Jobs, "concurrency", 4, "blobs copied at once per image")
	fl.IntVar(&o.Images, "jobs", 1, "images mirrored at once with --from-file")
	fl.BoolVar(&o.DryRun, "dry-run", false, "print the plan (what would be copied, what is there) and write nothing")
	fl.StringVar(&fromFile, "from-file", "", "mirror every image reference in this file (one per line) under the DST prefix")
	fl.StringVar(&stateDirFl, "state-dir", "", "where the incremental state is kept (default: the user cache directory's stella-oras/mirror)")
	fl.BoolVar(&noState, "no-state", false, "keep no state: every run checks everything and records nothing")
	fl.BoolVar(&noProgress, "no-progress", false, "draw no progress line (it is drawn only when stderr is a terminal)")
	fl.BoolVar(&o.Full, "full", false, "check everything again (ignore the state; it is still updated)")
	fl.BoolVar(&fromPlain, "from-plain-http", false, "use HTTP for the source registry only")
	fl.BoolVar(&toPlain, "to-plain-http", false, "use HTTP for the destination registry only")
	tf.Register(cmd)
	out.Register(cmd)
	return cmd
}

// lessGC lets a mirror's heap grow to 5 × its live data between
// collections instead of 2 × (GOGC=400), unless the user set GOGC or
// GOMEMLIMIT. A mirror's live heap is small and does not grow with blob
// size (blobs stream), but it allocates per request: on a rerun of 20
// images with 50 referrers each (1,040 listings) the collector took about
// an eighth of the CPU, and `perf stat -r 8` gave 121-127 CPU-ms
// against 142-192 with the default. A soft limit of 512 MiB makes the
// collector work harder long before a large graph could take much memory.
func lessGC() {
	if os.Getenv("GOGC") != "" || os.Getenv("GOMEMLIMIT") != "" {
		return
	}
	debug.SetGCPercent(400)
	debug.SetMemoryLimit(512 << 20)
}

func defaultStateDir() (string, error) {
	d, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("no user cache directory for the mirror state (give --state-dir or --no-state): %w", err)
	}
	return filepath.Join(d, "stella-oras", "mirror"), nil
}

func renderMirror(s *Streams, results []registry.MirrorResult, dry bool) {
	verb := "Mirrored"
	if dry {
		verb = "Would mirror"
	}
	for _, r := range results {
		if r.Report != nil {
			for _, x := range r.Report.Refused {
				fmt.Fprintf(s.Err, "refused: %s: %s\n", x.Digest, OneLine(x.Reason))
			}
		}
		if r.Err != nil {
			msg := r.Err.Error()
			if !strings.HasPrefix(msg, r.Source+":") {
				msg = r.Source + ": " + msg
			}
			fmt.Fprintf(s.Err, "Error: %s%s\n", OneLine(msg), mirrorHint(msg))
			continue
		}
		rep := r.Report
		c := rep.MirrorCounts()
		name := r.Source
		if !strings.Contains(name, "@") {
			name += " (" + rep.Root.Digest.String() + ")"
		}
		fmt.Fprintf(s.Out, "%s %s to %s\n", verb, name, r.Destination)
		fmt.Fprintf(s.Out, "  manifests: %d (%d put, %d known from the state, %d present, %d planned), %d of them referrers\n",
			len(rep.Manifests), c["manifest copied"], c["manifest known"], c["manifest present"], c["manifest planned"], rep.Referrers)
		fmt.Fprintf(s.Out, "  blobs:     %d (%d copied, %d present, %d planned)\n", len(rep.Blobs), c["blob copied"], c["blob present"], c["blob planned"])
		fmt.Fprintf(s.Out, "  bytes:     %d sent, %d already there\n", rep.BytesCopied, rep.BytesPresent)
		if rep.Tag != "" {
			fmt.Fprintf(s.Out, "  tag:       %s\n", rep.Tag)
		}
		if rw := rep.Rewritten; rw != nil {
			fmt.Fprintf(s.Out, "  index:     rewritten for %s: %s (was %s)\n", strings.Join(rw.Platforms, ", "), rw.To, rw.From)
			for _, d := range rep.Invalidated {
				fmt.Fprintf(s.Out, "  not copied: %s %s (a referrer of the original index)\n", d.ArtifactType, d.Digest)
			}
		}
	}
}

// maxImageList bounds a --from-file list file.
const maxImageList = 4 << 20

// ReadImageList reads a --from-file list: one reference per line; blank
// lines and # comments are skipped; more than most references is a usage
// error.
func ReadImageList(path string, most int) ([]string, error) {
	b, err := readfile.File(path, maxImageList)
	if err != nil {
		return nil, err
	}
	var out []string
	for n, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if strings.ContainsAny(line, " \t") {
			return nil, Usagef("%s:%d: one image reference per line, not %q", path, n+1, line)
		}
		out = append(out, line)
	}
	if len(out) == 0 {
		return nil, Usagef("%s names no image", path)
	}
	if len(out) > most {
		return nil, Usagef("%s names %d images, more than %d", path, len(out), most)
	}
	return out, nil
}
