//go:build unix

package load_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stella-ops/stella-oras/engine/feed"
	"github.com/stella-ops/stella-oras/internal/load"
	"github.com/stella-ops/stella-oras/internal/testutil"
)

// within runs f, failing the test when it is still running after 20 s (a
// read that hangs on a pipe).
func within(t *testing.T, name string, f func() error) error {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- f() }()
	select {
	case err := <-done:
		return err
	case <-time.After(20 * time.Second):
		t.Fatalf("%s: still reading after 20 s", name)
		return nil
	}
}

// TestFeedSpecialFiles (#11 item 4): a FIFO or a symlink to a device in a
// feed directory is refused without being opened (a FIFO hung the walk);
// a device read by path is bounded by counting bytes (the size check by
// stat let --feed /dev/zero run out of memory; a snapshot is now read so).
func TestFeedSpecialFiles(t *testing.T) {
	fifoDir := t.TempDir()
	os.WriteFile(filepath.Join(fifoDir, "a.json"), []byte(`{"id":"X-1","modified":"2026-01-01T00:00:00Z"}`), 0o644)
	if err := syscall.Mkfifo(filepath.Join(fifoDir, "p.json"), 0o644); err != nil {
		t.Skipf("mkfifo: %v", err)
	}
	if err := within(t, "FIFO", func() error {
		_, err := load.FeedSources(context.Background(), fifoDir, load.FeedOptions{})
		return err
	}); err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Errorf("feed directory with a FIFO: %v, want refused as not a regular file", err)
	}
	if _, err := os.Stat("/dev/zero"); err != nil {
		t.Skip("no /dev/zero")
	}
	linkDir := t.TempDir()
	os.Symlink("/dev/zero", filepath.Join(linkDir, "x.json"))
	if err := within(t, "symlink to /dev/zero", func() error {
		_, err := load.FeedSources(context.Background(), linkDir, load.FeedOptions{})
		return err
	}); err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Errorf("feed directory with x.json -> /dev/zero: %v, want refused", err)
	}
	// A device read by path is bounded by counting (the feed's own bound
	// is 2 GiB; the same reader with a small one here).
	if err := within(t, "/dev/zero read by path", func() error { _, err := load.File("/dev/zero", 1<<20); return err }); !errors.Is(err, load.ErrTooLarge) {
		t.Errorf("/dev/zero: %v, want ErrTooLarge", err)
	}
}

// TestFeedSnapshotFromPipe: a snapshot file is read from a pipe or a
// device by what its first bytes say. One that cannot be a snapshot (it
// does not begin with `{"`) is refused after a look at its start, not read
// to the 2 GiB snapshot bound first (eval --feed /dev/zero: 6.4 GB resident
// and 29 s before the refusal); a JSON object with whitespace is read on
// only within the SBOM bound, to name it. A snapshot given as a pipe
// (--feed /dev/stdin, --feed <(cat snapshot)) reads as the file does:
// before, the look for a zip's magic number took its first four bytes.
func TestFeedSnapshotFromPipe(t *testing.T) {
	const offered = 64 << 20
	ctx := context.Background()
	p, written := testutil.Fifo(t, nil, 0, offered)
	_, err := load.Feed(ctx, p, load.FeedOptions{})
	if !errors.Is(err, feed.ErrSnapshot) || !strings.Contains(err.Error(), "does not begin with a JSON object") {
		t.Errorf("a pipe of NUL bytes as --feed: %v, want refused as not beginning with a JSON object", err)
	}
	if n := written(); n >= offered {
		t.Errorf("the feed's reader took all %d bytes offered, want it to stop after its look at the start", n)
	}
	past := load.DefaultMaxSBOMBytes + 16<<20
	p, written = testutil.Fifo(t, []byte("{\n  "), ' ', past)
	_, err = load.Feed(ctx, p, load.FeedOptions{})
	if !errors.Is(err, feed.ErrSnapshot) || !strings.Contains(err.Error(), "does not begin as a snapshot does") {
		t.Errorf("a pipe of an indented JSON object past the SBOM bound: %v, want refused as not a snapshot", err)
	}
	if n := written(); n >= past {
		t.Errorf("the indented object's reader took all %d bytes offered, want it to stop past %d", n, load.DefaultMaxSBOMBytes)
	}

	dir := t.TempDir()
	genDir(t, filepath.Join(dir, "osv"), 50)
	b, err := load.BuildFeed(ctx, filepath.Join(dir, "osv"), load.FeedOptions{})
	if err != nil {
		t.Fatal(err)
	}
	snap := filepath.Join(dir, "feed.snapshot.json")
	if err := load.WriteFeed(snap, b, 0o644); err != nil {
		t.Fatal(err)
	}
	want, err := load.Feed(ctx, snap, load.FeedOptions{})
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(snap)
	if err != nil {
		t.Fatal(err)
	}
	p, written = testutil.Fifo(t, data, 0, len(data))
	var got *feed.Snapshot
	if err := within(t, "the snapshot through a pipe", func() (err error) {
		got, err = load.Feed(ctx, p, load.FeedOptions{})
		return err
	}); err != nil {
		t.Fatalf("the snapshot through a pipe: %v", err)
	}
	if n := written(); n != len(data) {
		t.Errorf("the pipe took %d of the snapshot's %d bytes", n, len(data))
	}
	if got.ContentID() != want.ContentID() {
		t.Errorf("the snapshot through a pipe is %s, from the file %s", got.ContentID(), want.ContentID())
	}
}

// TestJSONFileLooksFirst: an SBOM, VEX or reachability input that does not
// begin as JSON does (a pipe or device of NUL bytes: --sbom /dev/zero) is
// refused after a look at its start. Before, it was read to the 256 MiB
// SBOM bound (about 1 GB resident while the buffer grew) only to fail to
// parse. Whitespace first, and documents, read as before.
func TestJSONFileLooksFirst(t *testing.T) {
	const offered = 64 << 20
	p, written := testutil.Fifo(t, nil, 0, offered)
	if _, err := load.JSONFile(p, load.DefaultMaxSBOMBytes); err == nil || !errors.Is(err, load.ErrNotJSON) || !strings.Contains(err.Error(), "not a JSON document: it begins with byte 0x00, not { or [") {
		t.Errorf("a pipe of NUL bytes: %v, want refused as not a JSON document", err)
	}
	if n := written(); n >= offered {
		t.Errorf("the reader took all %d bytes offered, want it to stop after its look at the start", n)
	}
	p, _ = testutil.Fifo(t, []byte("\n\n\t "), ' ', 8<<10)
	if _, err := load.JSONFile(p, 1<<20); err != nil {
		t.Errorf("a pipe of whitespace: %v, want it read (the parser judges it)", err)
	}
	dir := t.TempDir()
	for name, doc := range map[string]string{"obj.json": "  {\"bomFormat\":\"CycloneDX\"}", "arr.json": "[]", "empty.json": ""} {
		f := filepath.Join(dir, name)
		os.WriteFile(f, []byte(doc), 0o600)
		if b, err := load.JSONFile(f, 1<<20); err != nil || string(b) != doc {
			t.Errorf("%s: %q, %v; want it read whole", name, b, err)
		}
	}
	bom := filepath.Join(dir, "bom.json")
	os.WriteFile(bom, []byte("\xef\xbb\xbf{}"), 0o600)
	if _, err := load.JSONFile(bom, 1<<20); !errors.Is(err, load.ErrNotJSON) || !strings.Contains(err.Error(), "UTF-8 byte order mark") {
		t.Errorf("a file with a byte order mark: %v, want refused, naming the mark", err)
	}
	yml := filepath.Join(dir, "sbom.yaml")
	os.WriteFile(yml, []byte("bomFormat: CycloneDX\n"), 0o600)
	if _, err := load.JSONFile(yml, 1<<20); !errors.Is(err, load.ErrNotJSON) || !strings.Contains(err.Error(), "it begins with 'b', not { or [") {
		t.Errorf("a YAML file: %v, want refused, quoting its first character", err)
	}
	bin := filepath.Join(dir, "sbom.gz")
	os.WriteFile(bin, []byte{0x1f, 0x8b, 8, 0}, 0o600)
	if _, err := load.JSONFile(bin, 1<<20); err == nil || !strings.Contains(err.Error(), "sbom.gz: not a JSON document") {
		t.Errorf("a gzip file: %v, want refused as not a JSON document, naming it", err)
	}
}
