package main

import (
	"fmt"
	"os"
	"runtime/debug"
	"strings"
	"sync"

	"github.com/spf13/cobra"

	"github.com/stella-ops/stella-oras/artifacts"
	"github.com/stella-ops/stella-oras/engine/delta"
	"github.com/stella-ops/stella-oras/internal/atomicfile"
	"github.com/stella-ops/stella-oras/internal/cli"
	"github.com/stella-ops/stella-oras/internal/load"
)

// maxVerdictBytes bounds a verdict read by delta.
const maxVerdictBytes = 512 << 20

// readVerdict maps the file (Decode copies what it keeps) and decodes it.
func readVerdict(path string) (v *artifacts.Verdict, id string, err error) {
	err = load.WithMapped(path, maxVerdictBytes, func(b []byte) error {
		var derr error
		if v, id, derr = delta.Decode(b); derr != nil {
			return fmt.Errorf("%s: %w", path, derr)
		}
		return nil
	})
	return v, id, err
}

// collectLate puts off garbage collection for a delta of the verdict
// files paths. Nearly all of a delta's heap stays live until the process
// exits (the two decoded verdicts, then the delta), so collecting while it
// grew marked the same findings again at each step: a third of the CPU
// time of a delta of the two bench verdicts (~150 -> ~100 ms). The
// collector still runs once the heap nears 64 MiB plus twice the size of
// the files (that delta allocates 23 MB in all, for 22 MB of verdicts).
// GOGC or GOMEMLIMIT in the environment take precedence. The returned func
// restores the collector's settings, once the last of concurrent deltas
// ends (for a process that runs more than one command, as tests do).
func collectLate(paths []string) (restore func()) {
	if os.Getenv("GOGC") != "" || os.Getenv("GOMEMLIMIT") != "" {
		return func() {}
	}
	limit := int64(64 << 20)
	for _, p := range paths {
		st, err := os.Stat(p)
		if err != nil {
			return func() {} // the read reports it
		}
		limit += 2 * min(st.Size(), maxVerdictBytes)
	}
	late.Lock()
	defer late.Unlock()
	if late.n++; late.n == 1 {
		late.limit = debug.SetMemoryLimit(limit)
		late.percent = debug.SetGCPercent(-1)
	}
	return func() {
		late.Lock()
		defer late.Unlock()
		if late.n--; late.n == 0 {
			debug.SetGCPercent(late.percent)
			debug.SetMemoryLimit(late.limit)
		}
	}
}

// late is the collector's settings before the running deltas changed them.
var late struct {
	sync.Mutex
	n       int // deltas running
	limit   int64
	percent int
}

func newDeltaCmd(s *cli.Streams) *cobra.Command {
	var (
		out    cli.OutputFlag
		dest   string
		failOn string
	)
	cmd := &cobra.Command{
		Use:   "delta BASE.json HEAD.json [-o delta.json] [--fail-on GATES]",
		Short: "Compare two verdicts and gate on what changed",
		Long: `Compare a base and a head verdict: added and removed findings, severity, VEX
status and outcome changes (the policy's effects), risk-score and unknowns
deltas, the status change, and both verdict and manifest digests. The delta is
canonical JSON with a content ID. --fail-on is a comma-separated list of gates:
new-findings, new-critical, new-high, risk+N, unknowns+N, status-worse; exit 3
when one fires, 0 otherwise.`,
		Example: `  stella-oras delta release-1.4.verdict.json release-1.5.verdict.json -o delta.json
  stella-oras delta base.json head.json --fail-on new-critical,risk+100,status-worse`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := out.Validate(); err != nil {
				return err
			}
			gates, err := delta.ParseGates(failOn)
			if err != nil {
				return cli.UsageError{Err: err}
			}
			defer collectLate(args)()
			// The two verdicts are read in parallel: reading them is the work.
			var (
				base, head *artifacts.Verdict
				bd, hd     string
				berr       error
				wg         sync.WaitGroup
			)
			wg.Add(1)
			go func() { defer wg.Done(); base, bd, berr = readVerdict(args[0]) }()
			head, hd, err = readVerdict(args[1])
			wg.Wait()
			if berr != nil {
				return berr
			}
			if err != nil {
				return err
			}
			d := delta.Compute(base, head, bd, hd)
			b, id, err := delta.MarshalID(d)
			if err != nil {
				return err
			}
			if dest != "" {
				if err := atomicfile.Write(dest, b, 0o644); err != nil {
					return err
				}
			}
			fired := d.Fired(gates)
			var werr error // a result not written decides the code, after the gate is said
			if out.JSON() {
				werr = cli.WriteJSON(s.Out, map[string]any{"digest": id, "delta": d, "fired": fired})
			} else {
				fmt.Fprintf(s.Out, "Delta %s\n  status:    %s -> %s\n  findings:  +%d -%d, %d changed\n  risk:      %+d\n  unknowns:  %+d\n",
					id, d.Base.Status, d.Head.Status, len(d.Added), len(d.Removed), len(d.Changed), d.RiskDelta, d.UnknownsDelta)
				for _, a := range d.Added {
					fmt.Fprintf(s.Out, "  + %s %s %s (%s)\n", a.Severity, a.Vulnerability, a.Purl, a.Outcome)
				}
				for _, r := range d.Removed {
					fmt.Fprintf(s.Out, "  - %s %s %s\n", r.Severity, r.Vulnerability, r.Purl)
				}
			}
			if len(fired) > 0 {
				fmt.Fprintf(s.Err, "gate failed: %s\n", strings.Join(fired, "; "))
				if werr == nil {
					werr = errGate
				}
			}
			return werr
		},
	}
	cmd.Flags().StringVarP(&dest, "out", "o", "", "write the delta here (atomically)")
	cmd.Flags().StringVar(&failOn, "fail-on", "", "gates: new-findings, new-critical, new-high, risk+N, unknowns+N, status-worse")
	out.Register(cmd)
	return cmd
}
