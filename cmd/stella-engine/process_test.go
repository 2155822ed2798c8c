package main

import (
	"archive/zip"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stella-ops/stella-oras/internal/cli"
)

// TestMain lets a test run this binary's main as a real process: with
// STELLA_ORAS_RUN_MAIN=1 the test binary is the CLI (its arguments are the
// command line), so signals, exit codes and standard streams are the real
// ones, without building the binary.
func TestMain(m *testing.M) {
	if os.Getenv("STELLA_ORAS_RUN_MAIN") == "1" {
		main()
		return // main exits
	}
	os.Exit(m.Run())
}

// cliProcess starts the CLI as a process; stdout and stderr are collected.
func cliProcess(t *testing.T, stdout *os.File, args ...string) (*exec.Cmd, *bytes.Buffer, *bytes.Buffer) {
	t.Helper()
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), "STELLA_ORAS_RUN_MAIN=1")
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if stdout != nil {
		cmd.Stdout = stdout
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	return cmd, &out, &errb
}

func exitCodeOf(t *testing.T, err error) int {
	t.Helper()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &ee):
		return ee.ExitCode()
	}
	t.Fatal(err)
	return -1
}

// bigFeedZip writes a zip of n small OSV records (stored, not deflated:
// quick to write, and reading it is all the CLI's work).
func bigFeedZip(t *testing.T, path string, n int) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	zw := zip.NewWriter(f)
	for i := range n {
		w, err := zw.CreateHeader(&zip.FileHeader{Name: fmt.Sprintf("osv/GEN-%07d.json", i), Method: zip.Store})
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(w, `{"id":"GEN-%07d","modified":"2026-01-01T00:00:00Z","affected":[{"package":{"ecosystem":"npm","name":"p%d"},"ranges":[{"type":"SEMVER","events":[{"introduced":"0"},{"fixed":"1.0.%d"}]}]}]}`, i, i%997, i)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	f.Close()
}

// TestFeedBuildInterrupted: a command whose context is cancelled (what
// SIGINT does) stops, says "interrupted", exits 1 and writes nothing.
func TestFeedBuildInterrupted(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "all.zip")
	bigFeedZip(t, src, 2000)
	out := filepath.Join(dir, "out")
	os.Mkdir(out, 0o755)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	for _, args := range [][]string{
		{"feed", "build", src, "-o", filepath.Join(out, "s.json")},
		{"eval", "--sbom", example("sbom.cdx.json"), "--feed", src, "-o", filepath.Join(out, "v.json")},
	} {
		var stdout, stderr bytes.Buffer
		code := run(ctx, args, strings.NewReader(""), &stdout, &stderr)
		if code != cli.ExitError || stderr.String() != "Error: interrupted\n" || stdout.Len() != 0 {
			t.Errorf("%s cancelled: exit %d, stderr %q, stdout %q; want %d, \"Error: interrupted\"", args[0], code, stderr.String(), stdout.String(), cli.ExitError)
		}
	}
	if left := dirEntries(t, out); len(left) != 0 {
		t.Errorf("left behind: %v", left)
	}
}

// TestFeedBuildSIGINT: `feed build` of a big feed (200,000 records) as a
// real process, sent SIGINT while it works, exits promptly with 1 and
// "interrupted", and leaves no snapshot (nor a temporary file) behind.
// Before, the signal was caught and nothing looked at it: the build ran
// to the end, wrote the snapshot and exited 0.
func TestFeedBuildSIGINT(t *testing.T) {
	if testing.Short() {
		t.Skip("writes a 200,000-record feed")
	}
	dir := t.TempDir()
	src := filepath.Join(dir, "all.zip")
	bigFeedZip(t, src, 200_000)
	out := filepath.Join(dir, "out")
	os.Mkdir(out, 0o755)

	cmd, _, stderr := cliProcess(t, nil, "feed", "build", src, "-o", filepath.Join(out, "s.json"))
	time.Sleep(500 * time.Millisecond) // started, and into the records
	took, err := signalWait(t, cmd, syscall.SIGINT, 10*time.Second)
	if code := exitCodeOf(t, err); code != cli.ExitError || !strings.Contains(stderr.String(), "interrupted") {
		t.Errorf("after SIGINT: exit %d, stderr %q; want %d and \"interrupted\"", code, stderr.String(), cli.ExitError)
	}
	if took > 2*time.Second {
		t.Errorf("exited %v after SIGINT, want under 2 s", took)
	}
	if left := dirEntries(t, out); len(left) != 0 {
		t.Errorf("left behind: %v", left)
	}
}

// signalWait sends sig to the CLI process and waits for it to exit, at
// most limit (then it is killed and the test fails); it returns the
// time it took after the signal and the process's error.
func signalWait(t *testing.T, cmd *exec.Cmd, sig os.Signal, limit time.Duration) (time.Duration, error) {
	t.Helper()
	if err := cmd.Process.Signal(sig); err != nil {
		t.Fatal(err)
	}
	sent := time.Now()
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		took := time.Since(sent)
		t.Logf("exited %v after %v", took, sig)
		return took, err
	case <-time.After(limit):
		cmd.Process.Kill()
		<-done
		t.Fatalf("still running %v after %v", limit, sig)
	}
	return 0, nil
}

// fullWriter fails every write the way /dev/full does.
type fullWriter struct{}

func (fullWriter) Write([]byte) (int, error) {
	return 0, &os.PathError{Op: "write", Path: "/dev/stdout", Err: syscall.ENOSPC}
}

// TestOutputWriteError: a result that cannot be written is reported, once,
// and exits 1, also when the gate failed (3 promises a written verdict) —
// whether the write fails while the command runs (a large result) or only
// when the buffered output is flushed at the end (a small one).
func TestOutputWriteError(t *testing.T) {
	const want = "Error: writing output: no space left on device\n"
	for _, tt := range []struct {
		name   string
		buffer int
		args   []string
		gate   bool
	}{
		{"text, flushed at the end", 64 << 10, []string{"version"}, false},
		{"json, flushed at the end, gate failed", 64 << 10, []string{"eval", "--sbom", example("sbom.cdx.json"), "--feed", example("osv"), "--output", "json"}, true},
		{"json, failed while writing, gate failed", 16, []string{"eval", "--sbom", example("sbom.cdx.json"), "--feed", example("osv"), "--output", "json"}, true},
		{"text, failed while writing, gate failed", 16, []string{"eval", "--sbom", example("sbom.cdx.json"), "--feed", example("osv")}, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var stderr bytes.Buffer
			out := cli.NewResultWriter(fullWriter{}, tt.buffer)
			code := run(context.Background(), tt.args, strings.NewReader(""), out, &stderr)
			if code != cli.ExitError || strings.Count(stderr.String(), want) != 1 {
				t.Errorf("exit %d, stderr %q; want %d and %q once", code, stderr.String(), cli.ExitError, want)
			}
			if got := strings.Contains(stderr.String(), "gate failed"); got != tt.gate {
				t.Errorf("stderr %q: says the gate failed = %v, want %v", stderr.String(), got, tt.gate)
			}
		})
	}
	// A result written in full keeps its code.
	var stdout, stderr bytes.Buffer
	out := cli.NewResultWriter(&stdout, 64<<10)
	if code := run(context.Background(), []string{"eval", "--sbom", example("sbom.cdx.json"), "--feed", example("osv"), "--output", "json"}, strings.NewReader(""), out, &stderr); code != cli.ExitGateFailed || !strings.HasPrefix(stdout.String(), "{") {
		t.Errorf("written in full: exit %d, stdout %d bytes, stderr %q", code, stdout.Len(), stderr.String())
	}
}

// TestDevFull: as a real process with its standard output on /dev/full
// (Linux), `eval --output json` with a failing gate and a plain text
// command both report the write error and exit 1. Before, the gate's 3
// hid the error entirely, and only a command that had succeeded said so.
func TestDevFull(t *testing.T) {
	full, err := os.OpenFile("/dev/full", os.O_WRONLY, 0)
	if err != nil {
		t.Skipf("no /dev/full: %v", err)
	}
	defer full.Close()
	for _, args := range [][]string{
		{"eval", "--sbom", example("sbom.cdx.json"), "--feed", example("osv"), "--output", "json"},
		{"eval", "--sbom", example("sbom.cdx.json"), "--feed", example("osv")},
		{"version"},
		{"canon", example("sbom.cdx.json")},
	} {
		cmd, _, stderr := cliProcess(t, full, args...)
		code := exitCodeOf(t, cmd.Wait())
		if code != cli.ExitError || strings.Count(stderr.String(), "Error: writing output: no space left on device\n") != 1 {
			t.Errorf("%s > /dev/full: exit %d, stderr %q; want %d and the write error once", strings.Join(args, " "), code, stderr.String(), cli.ExitError)
		}
	}
}
