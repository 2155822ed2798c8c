package main

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// serve runs the command on root in a goroutine and returns its address
// once it listens, and a stop that ends it and returns its error.
func serve(t *testing.T, root string) (addr string, stop func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	pr, pw := io.Pipe()
	cmd := newCmd(pw, io.Discard)
	cmd.SetArgs([]string{"--addr", "127.0.0.1:0", "--root", root, "--output", "json"})
	done := make(chan error, 1)
	go func() {
		err := cmd.ExecuteContext(ctx)
		pw.CloseWithError(io.EOF)
		done <- err
	}()
	line, err := bufio.NewReader(pr).ReadString('\n')
	go io.Copy(io.Discard, pr) //nolint:errcheck // nothing more is written
	if err != nil {
		cancel()
		t.Fatalf("the server wrote no address: %v (its error: %v)", err, <-done)
	}
	var out struct{ Address string }
	if err := json.Unmarshal([]byte(line), &out); err != nil {
		t.Fatal(err)
	}
	return out.Address, func() error { cancel(); return <-done }
}

// TestOneServerPerRoot: a second server on a storage directory in use is
// refused, naming the directory and the process that has it, without
// touching it (the first still serves); once the first ends, the
// directory can be served again.
func TestOneServerPerRoot(t *testing.T) {
	root := t.TempDir()
	addr, stop := serve(t, root)

	second := newCmd(io.Discard, io.Discard)
	second.SetArgs([]string{"--addr", "127.0.0.1:0", "--root", root})
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	err := second.ExecuteContext(ctx)
	if err == nil || !strings.Contains(err.Error(), "--root "+root+" is in use") || !strings.Contains(err.Error(), "process ") {
		t.Fatalf("a second server on the same root: %v, want it refused as in use by a process", err)
	}
	resp, err := http.Get(addr + "/v2/")
	if err != nil {
		t.Fatalf("the first server after the second was refused: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("the first server after the second was refused: %s", resp.Status)
	}
	if err := stop(); err != nil {
		t.Fatalf("the first server ended with %v", err)
	}

	_, stop = serve(t, root)
	if err := stop(); err != nil {
		t.Fatalf("serving the root again after the first server ended: %v", err)
	}
	// Another root is independent of this one.
	_, stop = serve(t, root)
	_, stop2 := serve(t, t.TempDir())
	if err := stop2(); err != nil {
		t.Fatal(err)
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
}

// TestUsageExit2: a command line the registry cannot take (an --output it
// does not know, an unknown flag, an argument) exits 2 with one error line
// and a pointer to the help, as stella-oras does; before, it exited 1,
// which says the command could not run. -o is not taken: in stella-oras
// it is --out, a path (pull, delta, export), never the format.
func TestUsageExit2(t *testing.T) {
	for _, args := range [][]string{{"--output", "yaml"}, {"--bogus"}, {"extra"}, {"--upload-ttl", "soon"}, {"-o", "json"}} {
		var stderr strings.Builder
		// Bounded: a command line taken by mistake serves until cancelled.
		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
		code := run(ctx, append([]string{"--addr", "127.0.0.1:0", "--root", t.TempDir()}, args...), io.Discard, &stderr)
		cancel()
		if code != 2 || !strings.HasPrefix(stderr.String(), "Error: ") || strings.Count(stderr.String(), "\n") != 2 || !strings.Contains(stderr.String(), "--help") {
			t.Errorf("%v: exit %d stderr %q, want 2, one error line and the help pointer", args, code, stderr.String())
		}
	}
}
