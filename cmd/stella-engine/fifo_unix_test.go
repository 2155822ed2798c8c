//go:build unix

package main

import (
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stella-ops/stella-oras/internal/cli"
	"github.com/stella-ops/stella-oras/internal/testutil"
)

// TestJSONInputsLookFirst: eval's JSON inputs (--sbom, --vex,
// --reachability) given as a pipe or device of NUL bytes (/dev/zero) are
// refused after a look at their start, with exit 1. Before, each was read
// to its bound (for the SBOM 256 MiB, about 1 GB resident while the
// buffer grew) and only then failed to parse.
func TestJSONInputsLookFirst(t *testing.T) {
	const offered = 64 << 20
	for _, flag := range []string{"--sbom", "--vex", "--reachability"} {
		t.Run(flag, func(t *testing.T) {
			p, written := testutil.Fifo(t, nil, 0, offered)
			args := map[string]string{"--sbom": example("sbom.cdx.json"), "--vex": example("vex.openvex.json"), "--reachability": example("reach-graph.json")}
			args[flag] = p
			r := stella(t, "", "eval", "--feed", example("osv"), "--epoch", "2026-08-21",
				"--sbom", args["--sbom"], "--vex", args["--vex"], "--reachability", args["--reachability"])
			if r.code != cli.ExitError || !strings.Contains(r.stderr, "not a JSON document") || strings.Count(r.stderr, "\n") != 1 || (flag == "--reachability") != strings.Contains(r.stderr, "invalid reachability input") {
				t.Errorf("%s as a pipe of NUL bytes: exit %d stderr %q, want 1 and one line saying it is not JSON", flag, r.code, r.stderr)
			}
			if n := written(); n >= offered {
				t.Errorf("%s: all %d bytes offered were read, want the read to stop after a look at the start", flag, n)
			}
		})
	}
}

// TestSIGTERMEndsBlockedCommand: a command blocked where its context does
// not reach, here opening a FIFO given as --sbom that nobody writes, ends
// after one SIGTERM (what timeout(1) sends), within cli.SignalGrace: exit
// 1 and one line saying so. Before, the signal cancelled a context nothing
// was looking at, and the process waited for a writer forever.
func TestSIGTERMEndsBlockedCommand(t *testing.T) {
	if testing.Short() {
		t.Skip("waits for the signal grace")
	}
	fifo := filepath.Join(t.TempDir(), "sbom.json")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Skipf("mkfifo: %v", err)
	}
	cmd, _, stderr := cliProcess(t, nil, "eval", "--sbom", fifo, "--feed", example("osv"))
	time.Sleep(500 * time.Millisecond) // started, and waiting in open(2)
	_, err := signalWait(t, cmd, syscall.SIGTERM, cli.SignalGrace+10*time.Second)
	if code := exitCodeOf(t, err); code != cli.ExitError || strings.Count(stderr.String(), "\n") != 1 || !strings.Contains(stderr.String(), "interrupted") {
		t.Errorf("after SIGTERM: exit %d, stderr %q; want %d and one line saying interrupted", code, stderr.String(), cli.ExitError)
	}
}
