// Package load reads the scan core's inputs from files: the I/O that the
// pure packages (canon, engine) must not do. Every error names the file.
package load

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/stella-ops/stella-oras/artifacts"
	"github.com/stella-ops/stella-oras/engine/feed"
	"github.com/stella-ops/stella-oras/engine/sbom"
	"github.com/stella-ops/stella-oras/internal/atomicfile"
	"github.com/stella-ops/stella-oras/internal/readfile"
)

// DefaultMaxSBOMBytes is the largest SBOM read unless told otherwise. The
// whole document is held in memory, so this is the guard against a hostile
// or mistaken input (a 2 GB single-line file); the largest real SBOMs are
// tens of MB.
const DefaultMaxSBOMBytes = 256 << 20

// ErrTooLarge is returned when an input exceeds its size limit
// (readfile.ErrTooLarge, which File returns).
var ErrTooLarge = readfile.ErrTooLarge

// File reads a whole file of at most limit bytes (readfile.File).
func File(path string, limit int64) ([]byte, error) { return readfile.File(path, limit) }

// ErrNotJSON: a JSONFile input that does not begin as JSON does.
var ErrNotJSON = errors.New("not a JSON document")

// JSONFile is File of a JSON document (an SBOM, VEX, reachability): one
// whose first bytes are neither whitespace nor the start of an object or
// array is refused from them, before the rest is read. /dev/zero or a
// binary file given as --sbom was otherwise read to its bound (256 MiB,
// about four times that in memory while it grew) only to fail to parse.
func JSONFile(path string, limit int64) ([]byte, error) {
	return readfile.Sniffed(context.Background(), path, limit, func(head []byte) (int64, error) {
		t := bytes.TrimLeft(head, " \t\r\n")
		if len(t) == 0 || t[0] == '{' || t[0] == '[' {
			return limit, nil // empty, or a document: the parser judges it
		}
		if bytes.HasPrefix(t, []byte("\xef\xbb\xbf")) {
			return 0, fmt.Errorf("%s: %w: it begins with a UTF-8 byte order mark, which JSON does not allow (save it without one)", path, ErrNotJSON)
		}
		if t[0] < 0x20 || t[0] > 0x7e {
			return 0, fmt.Errorf("%s: %w: it begins with byte 0x%02x, not { or [", path, ErrNotJSON, t[0])
		}
		return 0, fmt.Errorf("%s: %w: it begins with %q, not { or [", path, ErrNotJSON, t[0])
	})
}

// FileOrStdin is File, or standard input for "-" (readfile.FileOrStdin).
func FileOrStdin(path string, limit int64, stdin io.Reader) ([]byte, error) {
	return readfile.FileOrStdin(path, limit, stdin)
}

// SBOMOptions tune SBOM reading. The zero value reads up to
// DefaultMaxSBOMBytes without schema validation.
type SBOMOptions struct {
	MaxBytes int64
	// Strict validates the document against its format's JSON schema from
	// SchemaDir before reading it.
	Strict    bool
	SchemaDir string
}

// SBOM reads and normalizes an SBOM file.
func SBOM(path string, opts SBOMOptions) (*sbom.SBOM, error) {
	limit := opts.MaxBytes
	if limit <= 0 {
		limit = DefaultMaxSBOMBytes
	}
	data, err := File(path, limit)
	if err != nil {
		return nil, err
	}
	if opts.Strict {
		if err := ValidateSBOM(path, data, opts.SchemaDir); err != nil {
			return nil, err
		}
	}
	s, err := sbom.Parse(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return s, nil
}

// Bounds of a directory or zip of OSV records: the records in all, and
// their bytes uncompressed (counted as read; a zip is also refused from its
// directory, before anything is decompressed, when its entries declare more
// — archive/zip never reads an entry past its declared size).
//
// They bound the work of reading a source; the memory of building its
// snapshot is bounded by the snapshot's size. Each record is canonicalized
// as it is read and its source bytes dropped, so a build holds the
// canonical records, at most FeedOptions.SnapshotBytes (by default
// feed.MaxSnapshotBytes, the size a snapshot file is read back within),
// and under 200 bytes a record besides (a directory's file names too, while
// it is walked). The heap peaks at about twice what is live (Go's default
// GOGC=100): about 2.3× the snapshot for records of about 2 KB (a zip of
// 600,000 of them, 1.25 GB: an 841 MB snapshot, 1.9 GB resident), and
// about 5 GiB at these bounds (see feed.MaxSnapshotBytes).
//
// MaxFeedBytes is twice feed.MaxSnapshotBytes. Canonical form drops the
// indentation of published records, about a third of their bytes (the Go
// vulnerability database: 8.1 MB of records, 5.6 MB canonical), far from
// half: a larger source could only make a snapshot too large to read back,
// and is refused before the work rather than after it. MaxFeedRecords is
// twice the whole of OSV (under a million records); at 200 bytes a record
// it adds 400 MB to what a build holds.
const (
	MaxFeedRecords = 2_000_000
	MaxFeedBytes   = 2 * feed.MaxSnapshotBytes
)

// FeedOptions tune reading a feed. The zero value reads a snapshot file,
// or builds one from a directory or zip of records with the epoch derived
// from the records, within MaxFeedRecords, MaxFeedBytes and
// feed.MaxSnapshotBytes.
type FeedOptions struct {
	// Epoch is the as-of instant of a snapshot built from records (zero:
	// the latest `modified`; see feed.BuildOptions). A snapshot file has
	// its own.
	Epoch time.Time
	// MaxRecords and MaxBytes bound a directory or zip of records; zero
	// means MaxFeedRecords and MaxFeedBytes.
	MaxRecords int64
	MaxBytes   int64
	// MaxSnapshotBytes bounds a snapshot: the one built from records
	// (feed.BuildOptions.MaxBytes) and a snapshot file read by Feed, the
	// same bound, so that what builds can be read back. Zero means
	// feed.MaxSnapshotBytes.
	MaxSnapshotBytes int64
}

// Records is the record bound in effect.
func (o FeedOptions) Records() int64 {
	if o.MaxRecords > 0 {
		return o.MaxRecords
	}
	return MaxFeedRecords
}

// Bytes is the byte bound in effect.
func (o FeedOptions) Bytes() int64 {
	if o.MaxBytes > 0 {
		return o.MaxBytes
	}
	return MaxFeedBytes
}

// SnapshotBytes is the snapshot bound in effect.
func (o FeedOptions) SnapshotBytes() int64 {
	if o.MaxSnapshotBytes > 0 {
		return o.MaxSnapshotBytes
	}
	return feed.MaxSnapshotBytes
}

// feedBudget counts what a feed source has read against the bounds.
type feedBudget struct {
	path                 string
	records, bytes       int64
	maxRecords, maxBytes int64
}

func newFeedBudget(path string, o FeedOptions) *feedBudget {
	return &feedBudget{path: path, maxRecords: o.Records(), maxBytes: o.Bytes()}
}

func (b *feedBudget) add(n int64) error {
	b.records++
	b.bytes += n
	return b.check()
}

func (b *feedBudget) check() error {
	switch {
	case b.records > b.maxRecords:
		return fmt.Errorf("%s: %w: more than %d records", b.path, ErrTooLarge, b.maxRecords)
	case b.bytes > b.maxBytes:
		return fmt.Errorf("%s: %w: records of more than %d bytes in all", b.path, ErrTooLarge, b.maxBytes)
	}
	return nil
}

// FeedSources loads every *.json record under a directory (recursively) or
// inside a zip file, in a deterministic order, within the bounds of opts.
// It holds every record's bytes: a build reads the records one at a time
// instead (BuildFeed).
func FeedSources(ctx context.Context, path string, opts FeedOptions) ([]feed.Source, error) {
	var out []feed.Source
	err := eachRecord(ctx, path, opts, func(name string, data []byte) error {
		out = append(out, feed.Source{Name: name, Data: data})
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// eachRecord calls f with every *.json record under a directory
// (recursively) or inside a zip file, in a deterministic order, and stops
// at f's first error. In a directory, only regular files (or symlinks to
// them) are read: a FIFO or a device named x.json is an error, never
// opened. It stops with ctx's error when ctx is done (checked before every
// entry and between chunks of a read).
func eachRecord(ctx context.Context, path string, opts FeedOptions, f func(name string, data []byte) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	st, err := os.Stat(path)
	if err != nil {
		return err
	}
	if !st.IsDir() {
		return eachZipRecord(ctx, path, opts, f)
	}
	budget := newFeedBudget(path, opts)
	return filepath.WalkDir(path, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if d.IsDir() || !strings.HasSuffix(p, ".json") {
			return nil
		}
		if _, err := readfile.Regular(p); err != nil { // follows a symlink to what it names
			return err
		}
		b, err := readfile.Context(ctx, p, feed.MaxRecordBytes)
		if err != nil {
			return err
		}
		if err := budget.add(int64(len(b))); err != nil {
			return err
		}
		return f(p, b)
	})
}

func eachZipRecord(ctx context.Context, path string, opts FeedOptions, fn func(name string, data []byte) error) error {
	zr, err := zip.OpenReader(path)
	if err != nil {
		return fmt.Errorf("%s: not a directory or zip of OSV records: %w", path, err)
	}
	defer zr.Close()
	isRecord := func(f *zip.File) bool { return !f.FileInfo().IsDir() && strings.HasSuffix(f.Name, ".json") }
	// What the directory declares, before decompressing anything: a zip
	// bomb of many entries, each under the record limit, is refused here.
	declared := newFeedBudget(path, opts)
	for _, f := range zr.File {
		if !isRecord(f) {
			continue
		}
		if err := declared.add(int64(min(f.UncompressedSize64, feed.MaxRecordBytes+1))); err != nil {
			return fmt.Errorf("%w (as the zip's directory declares)", err)
		}
	}
	budget := newFeedBudget(path, opts)
	for i, f := range zr.File {
		if err := ctx.Err(); err != nil {
			return err
		}
		// Done with the entry once it is read: the directory holds about
		// 230 bytes an entry, half a gigabyte at MaxFeedRecords, which
		// would otherwise stay live to the end of the build, alongside
		// all its records.
		zr.File[i] = nil
		if !isRecord(f) {
			continue
		}
		name := path + "!" + f.Name
		if f.UncompressedSize64 > feed.MaxRecordBytes {
			return fmt.Errorf("%s: record larger than %d bytes", name, feed.MaxRecordBytes)
		}
		rc, err := f.Open()
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		b, err := readfile.All(ctx, rc, feed.MaxRecordBytes+1)
		rc.Close()
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		if len(b) > feed.MaxRecordBytes {
			return fmt.Errorf("%s: record larger than %d bytes", name, feed.MaxRecordBytes)
		}
		if err := budget.add(int64(len(b))); err != nil {
			return err
		}
		if err := fn(name, b); err != nil {
			return err
		}
	}
	return nil
}

// FeedSnapshot reads a snapshot file, stopping with ctx's error when ctx is
// done (checked between chunks of the read).
func FeedSnapshot(ctx context.Context, path string) (*feed.Snapshot, error) {
	return feedSnapshot(ctx, path, feed.MaxSnapshotBytes)
}

// feedSnapshot is FeedSnapshot of a file of at most limit bytes.
func feedSnapshot(ctx context.Context, path string, limit int64) (*feed.Snapshot, error) {
	named := false // read only to name what it is, within the SBOM bound
	b, err := readfile.Sniffed(ctx, path, limit, func(head []byte) (bound int64, err error) {
		bound, named, err = snapshotStart(path, head, limit)
		return bound, err
	}) // counted: a device or pipe has no size
	if err != nil {
		if named && errors.Is(err, readfile.ErrTooLarge) {
			return nil, fmt.Errorf("%s: %w: it does not begin as a snapshot does, with %s", path, feed.ErrSnapshot, "`{\"`")
		}
		return nil, err
	}
	s, err := feed.Open(b)
	if err != nil {
		if what := notAFeed(b); what != "" {
			return nil, fmt.Errorf("%s: %w: this is %s, not a feed (a directory or zip of OSV records, or a feed snapshot)", path, feed.ErrSnapshot, what)
		}
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return s, nil
}

// snapshotStart is feedSnapshot's look at the first bytes of a file: a
// snapshot is canonical JSON, so it begins with `{"`. One that begins any
// other way is refused before it is read on (eval --feed /dev/zero was read
// to the 2 GiB snapshot bound first), except that a JSON object written
// with whitespace is read on within the SBOM bound, so that notAFeed can
// name it (an SBOM given as --feed); named reports that.
func snapshotStart(path string, head []byte, limit int64) (bound int64, named bool, err error) {
	if bytes.HasPrefix(head, []byte(`{"`)) {
		return limit, false, nil
	}
	if t := bytes.TrimLeft(head, " \t\r\n"); len(head) > 0 && (len(t) == 0 || t[0] == '{') {
		return min(limit, DefaultMaxSBOMBytes), true, nil
	}
	if len(head) == 0 {
		return 0, false, fmt.Errorf("%s: %w: the file is empty", path, feed.ErrSnapshot)
	}
	return 0, false, fmt.Errorf("%s: %w: it does not begin with a JSON object (first byte %q)", path, feed.ErrSnapshot, head[0])
}

// notAFeed names what a file given as a feed is instead, when its
// content says ("" when it does not): an SBOM given as --feed was
// reported as "not a JSON object".
func notAFeed(b []byte) string {
	if t, ok := artifacts.Detect(b); ok && t.Name != "feed" {
		return t.Title
	}
	var rec struct {
		ID       string          `json:"id"`
		Modified string          `json:"modified"`
		Affected json.RawMessage `json:"affected"`
	}
	if json.Unmarshal(b, &rec) == nil && rec.ID != "" && rec.Modified != "" {
		return "a single OSV record (" + rec.ID + ")"
	}
	return ""
}

// Feed returns the snapshot at path, building one in memory when path is a
// directory or zip of OSV records (epoch as in feed.Build). A file that is
// not a snapshot is read as a zip of records. It stops with ctx's error
// when ctx is done: between records while reading and while building.
func Feed(ctx context.Context, path string, opts FeedOptions) (*feed.Snapshot, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	// Only a regular file can be a zip (archive/zip reads at offsets), and
	// only a regular file can be opened twice: isZip's look at a pipe
	// (--feed <(cat snapshot), --feed /dev/stdin) took the first four bytes
	// of the snapshot, which then did not begin as a snapshot does.
	if !st.IsDir() && !(st.Mode().IsRegular() && isZip(path)) {
		return feedSnapshot(ctx, path, opts.SnapshotBytes())
	}
	b, err := BuildFeed(ctx, path, opts)
	if err != nil {
		return nil, err
	}
	return b.Snapshot()
}

// BuildFeed reads a directory or zip of OSV records and builds their
// snapshot (feed.Builder), interruptible through ctx: each record is
// canonicalized as it is read and its bytes dropped, so the memory a build
// holds is bounded by the snapshot's (FeedOptions.SnapshotBytes), not by
// the source's.
func BuildFeed(ctx context.Context, path string, opts FeedOptions) (*feed.Built, error) {
	b := feed.NewBuilder(feed.BuildOptions{Epoch: opts.Epoch, Check: ctx.Err, MaxBytes: opts.SnapshotBytes()})
	buildErr := func(err error) error {
		if errors.Is(err, feed.ErrTooLarge) {
			return fmt.Errorf("%s: %w: %w", path, ErrTooLarge, err)
		}
		return fmt.Errorf("%s: %w", path, err)
	}
	err := eachRecord(ctx, path, opts, func(name string, data []byte) error {
		if err := b.Add(name, data); err != nil {
			return buildErr(err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	built, err := b.Finish()
	if err != nil {
		return nil, buildErr(err)
	}
	return built, nil
}

// WriteFeed writes a built snapshot to path atomically (WriteAtomic),
// streamed from the build, never whole in memory. It stops with the
// build's ctx error when that ctx is done (BuildFeed's ctx); a write that
// fails or is interrupted leaves nothing behind.
func WriteFeed(path string, b *feed.Built, perm os.FileMode) error {
	return atomicfile.WriteFrom(path, perm, func(w io.Writer) error {
		_, err := b.WriteTo(w)
		return err
	})
}

// isZip sniffs the zip magic number.
func isZip(path string) bool {
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	var magic [4]byte
	_, err = io.ReadFull(f, magic[:])
	return err == nil && string(magic[:]) == "PK\x03\x04"
}
