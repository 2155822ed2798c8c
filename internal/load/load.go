// Package load reads the scan core's inputs from files: the I/O that the
// pure packages (canon, engine) must not do. Every error names the file.
package load

import (
	"archive/zip"
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
)

// DefaultMaxSBOMBytes is the largest SBOM read unless told otherwise. The
// whole document is held in memory, so this is the guard against a hostile
// or mistaken input (a 2 GB single-line file); the largest real SBOMs are
// tens of MB.
const DefaultMaxSBOMBytes = 256 << 20

// ErrTooLarge is returned when an input exceeds its size limit.
var ErrTooLarge = errors.New("input exceeds size limit")

// File reads a whole file of at most limit bytes.
func File(path string, limit int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	// Refuse an oversized regular file before reading a byte of it.
	st, err := f.Stat()
	if err == nil && st.Mode().IsRegular() && st.Size() > limit {
		return nil, fmt.Errorf("%s: %w of %d bytes (file has %d)", path, ErrTooLarge, limit, st.Size())
	}
	if err == nil && st.Mode().IsRegular() && st.Size() > 0 {
		// One allocation of the right size: io.ReadAll's doubling buffer
		// cost more than parsing for files of tens of megabytes. A file
		// that grew meanwhile is read on, within the limit.
		buf := make([]byte, st.Size(), st.Size()+512)
		if _, err := io.ReadFull(f, buf); err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		rest, err := readLimited(f, path, limit-int64(len(buf)))
		if err != nil {
			return nil, err
		}
		return append(buf, rest...), nil
	}
	return readLimited(f, path, limit)
}

// Stdin-or-file: "-" reads standard input.
func FileOrStdin(path string, limit int64, stdin io.Reader) ([]byte, error) {
	if path == "-" {
		return readLimited(stdin, "<stdin>", limit)
	}
	return File(path, limit)
}

func readLimited(r io.Reader, name string, limit int64) ([]byte, error) {
	data, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("%s: %w of %d bytes", name, ErrTooLarge, limit)
	}
	return data, nil
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
// their bytes uncompressed (counted as read: a zip's header can lie). The
// largest real feed, every OSV ecosystem, is under a million records and a
// few gigabytes.
const (
	MaxFeedRecords = 2_000_000
	MaxFeedBytes   = 8 << 30
)

// feedBudget counts what a feed source has read against the bounds.
type feedBudget struct {
	path           string
	records, bytes int64
}

func (b *feedBudget) add(n int) error {
	b.records++
	b.bytes += int64(n)
	switch {
	case b.records > MaxFeedRecords:
		return fmt.Errorf("%s: %w: more than %d records", b.path, ErrTooLarge, MaxFeedRecords)
	case b.bytes > MaxFeedBytes:
		return fmt.Errorf("%s: %w: records of more than %d bytes in all", b.path, ErrTooLarge, int64(MaxFeedBytes))
	}
	return nil
}

// FeedSources loads every *.json record under a directory (recursively) or
// inside a zip file, in a deterministic order. In a directory, only
// regular files (or symlinks to them) are read: a FIFO or a device named
// x.json is an error, never opened.
func FeedSources(path string) ([]feed.Source, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if !st.IsDir() {
		return readZip(path)
	}
	var out []feed.Source
	budget := &feedBudget{path: path}
	err = filepath.WalkDir(path, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() || !strings.HasSuffix(p, ".json") {
			return nil
		}
		info, err := os.Stat(p) // follows a symlink to what it names
		if err != nil {
			return err
		}
		if !info.Mode().IsRegular() {
			return fmt.Errorf("%s: not a regular file (%s): not read", p, info.Mode().Type())
		}
		b, err := File(p, feed.MaxRecordBytes)
		if err != nil {
			return err
		}
		if err := budget.add(len(b)); err != nil {
			return err
		}
		out = append(out, feed.Source{Name: p, Data: b})
		return nil
	})
	return out, err
}

func readZip(path string) ([]feed.Source, error) {
	zr, err := zip.OpenReader(path)
	if err != nil {
		return nil, fmt.Errorf("%s: not a directory or zip of OSV records: %w", path, err)
	}
	defer zr.Close()
	var out []feed.Source
	budget := &feedBudget{path: path}
	for _, f := range zr.File {
		if f.FileInfo().IsDir() || !strings.HasSuffix(f.Name, ".json") {
			continue
		}
		name := path + "!" + f.Name
		if f.UncompressedSize64 > feed.MaxRecordBytes {
			return nil, fmt.Errorf("%s: record larger than %d bytes", name, feed.MaxRecordBytes)
		}
		rc, err := f.Open()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		b, err := io.ReadAll(io.LimitReader(rc, feed.MaxRecordBytes+1))
		rc.Close()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		if len(b) > feed.MaxRecordBytes {
			return nil, fmt.Errorf("%s: record larger than %d bytes", name, feed.MaxRecordBytes)
		}
		if err := budget.add(len(b)); err != nil {
			return nil, err
		}
		out = append(out, feed.Source{Name: name, Data: b})
	}
	return out, nil
}

// OpenFile opens a snapshot file.
func FeedSnapshot(path string) (*feed.Snapshot, error) {
	b, err := File(path, feed.MaxSnapshotBytes) // counted: a device or pipe has no size
	if err != nil {
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

// Load returns the snapshot at path, building one in memory when path is a
// directory or zip of OSV records (epoch as in Build). A file that is not a
// snapshot is read as a zip of records.
func Feed(path string, epoch time.Time) (*feed.Snapshot, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if !st.IsDir() && !isZip(path) {
		return FeedSnapshot(path)
	}
	srcs, err := FeedSources(path)
	if err != nil {
		return nil, err
	}
	b, err := feed.Build(srcs, feed.BuildOptions{Epoch: epoch})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return feed.Open(b)
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
