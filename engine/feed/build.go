package feed

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/stella-ops/stella-oras/canon"
	"github.com/stella-ops/stella-oras/internal/osvname"
)

// Source is one OSV record file before it enters a snapshot.
type Source struct {
	Name string // file name, for error messages
	Data []byte
}

// BuildOptions tune Build and a Builder.
type BuildOptions struct {
	// Epoch is the snapshot's "as of" instant. Zero means the maximum
	// `modified` of the records; never the wall clock.
	Epoch time.Time
	// Check, when set, is called every checkInterval records while they
	// are read, while the snapshot is assembled and while it is written;
	// an error from it stops the build and is returned as is. Callers pass
	// a context's Err, so that a long build can be interrupted. It never
	// changes what is built. Nil: never stopped.
	Check func() error
	// MaxBytes bounds the snapshot: the canonical records a build holds
	// (every record added and not withdrawn, a superseded duplicate
	// included, since it is held until the end), and the snapshot file
	// with its header. Zero means MaxSnapshotBytes, what Open's callers
	// read, so that a snapshot that builds can be read back.
	MaxBytes int64
}

// checkInterval is how many records Build canonicalizes between calls to
// BuildOptions.Check: about a millisecond of work for typical records.
const checkInterval = 256

// Builder builds a snapshot from OSV records added one at a time. Of each
// record it keeps the canonical form and the few fields the header is made
// of (id, modified time, group, index keys, aliases), never the source
// bytes nor the decoded record: what a build holds is about the size of
// the snapshot it makes, which BuildOptions.MaxBytes bounds.
type Builder struct {
	opts    BuildOptions
	max     int64
	added   int
	held    int64  // canonical bytes held in the arenas
	scratch []byte // the record being added, canonical

	byID       map[string]int // id -> index in entries
	entries    []entry
	arenas     map[string]*arena // group -> its records' storage
	withdrawn  []string
	superseded []string
	maxMod     time.Time
	done       bool
}

// entry is what a Builder keeps of one record.
type entry struct {
	id      string
	group   string
	mod     time.Time // zero when `modified` does not parse
	canon   []byte    // the canonical record, in its group's arena
	keys    []string  // index keys (base ecosystem NUL name), deduplicated, in order
	aliases []string
	bad     string // when set, the error that keeping this record is
}

// NewBuilder returns an empty Builder.
func NewBuilder(opts BuildOptions) *Builder {
	max := opts.MaxBytes
	if max <= 0 {
		max = MaxSnapshotBytes
	}
	if opts.Check == nil {
		opts.Check = func() error { return nil }
	}
	return &Builder{opts: opts, max: max, byID: map[string]int{}, arenas: map[string]*arena{}}
}

// Build turns OSV records into a canonical snapshot document: a Builder
// given every source, its snapshot written to memory.
func Build(srcs []Source, opts BuildOptions) ([]byte, error) {
	b := NewBuilder(opts)
	for _, s := range srcs {
		if err := b.Add(s.Name, s.Data); err != nil {
			return nil, err
		}
	}
	built, err := b.Finish()
	if err != nil {
		return nil, err
	}
	out := make([]byte, 0, built.Size())
	w := appendWriter{&out}
	if _, err := built.WriteTo(w); err != nil {
		return nil, err
	}
	return out, nil
}

type appendWriter struct{ b *[]byte }

func (w appendWriter) Write(p []byte) (int, error) {
	*w.b = append(*w.b, p...)
	return len(p), nil
}

// Add canonicalizes and checks one record (name is for error messages).
// data is not retained: a caller may reuse it.
func (b *Builder) Add(name string, data []byte) error {
	if b.done {
		return errors.New("feed: Builder.Add after Finish")
	}
	if b.added%checkInterval == 0 {
		if err := b.opts.Check(); err != nil {
			return err
		}
	}
	b.added++
	c, err := canon.AppendCanonical(b.scratch[:0], data, canon.Options{})
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	b.scratch = c
	var r Record
	if err := json.Unmarshal(c, &r); err != nil {
		return fmt.Errorf("%s: not an OSV record: %v", name, err)
	}
	if err := r.check(); err != nil {
		return fmt.Errorf("%s: %s: %w", name, r.ID, err)
	}
	mod, modErr := time.Parse(time.RFC3339, r.Modified)
	if modErr == nil && mod.After(b.maxMod) {
		b.maxMod = mod
	}
	if r.Withdrawn != "" {
		b.withdrawn = append(b.withdrawn, r.ID)
		return nil
	}
	i, dup := b.byID[r.ID]
	if dup {
		b.superseded = append(b.superseded, r.ID)
		if old := &b.entries[i]; !newer(mod, c, old.mod, old.canon) {
			return nil // the kept record stays; this one is not held
		}
	}
	if b.held+int64(len(c)) > b.max {
		return fmt.Errorf("%s: %w: canonical records of more than %d bytes", name, ErrTooLarge, b.max)
	}
	e := entry{id: r.ID, group: group(&r), mod: mod, aliases: r.Aliases}
	seen := map[string]bool{}
	for _, a := range r.Affected {
		if a.Package.Name == "" {
			continue
		}
		if strings.ContainsAny(a.Package.Name, "\t\n") {
			// Reported only if this record is kept, as the snapshot
			// would have to index it.
			e.bad = fmt.Sprintf("%s: %s: package name %q contains a tab or newline", name, r.ID, a.Package.Name)
			break
		}
		base := osvname.BaseEcosystem(a.Package.Ecosystem)
		n := a.Package.Name
		if base == "PyPI" {
			n = osvname.PEP503(n)
		}
		k := base + "\x00" + n
		if !seen[k] {
			seen[k] = true
			e.keys = append(e.keys, k)
		}
	}
	ar := b.arenas[e.group]
	if ar == nil {
		ar = &arena{}
		b.arenas[e.group] = ar
	}
	e.canon = ar.add(c)
	b.held += int64(len(c))
	if dup {
		b.entries[i] = e
	} else {
		b.byID[r.ID] = len(b.entries)
		b.entries = append(b.entries, e)
	}
	return nil
}

// newer reports whether record a (modified ta) replaces record b: the later
// `modified`, then the smaller content ID.
func newer(ta time.Time, a []byte, tb time.Time, b []byte) bool {
	if !ta.Equal(tb) {
		return ta.After(tb)
	}
	return canon.ContentID(a) < canon.ContentID(b)
}

// Finish orders the records, computes the header and returns the built
// snapshot, ready to be written or opened. The Builder is of no further use.
func (b *Builder) Finish() (*Built, error) {
	if b.done {
		return nil, errors.New("feed: Builder.Finish called twice")
	}
	b.done = true
	b.scratch = nil
	if len(b.entries) == 0 && len(b.withdrawn) == 0 {
		return nil, ErrEmpty
	}
	epoch := b.opts.Epoch.UTC()
	if epoch.IsZero() {
		if b.maxMod.Year() <= 1 {
			return nil, fmt.Errorf("%w: no record has a `modified` time after year 1 (the Go vulnerability database's repository copies carry 0001-01-01); give the epoch explicitly with --epoch", ErrNoEpoch)
		}
		epoch = b.maxMod.UTC()
	}
	check := b.opts.Check
	if err := check(); err != nil {
		return nil, err
	}
	// A withdrawn id may have a live duplicate in the source: the live one
	// stays out too, a withdrawal is final.
	wd := make(map[string]bool, len(b.withdrawn))
	for _, id := range b.withdrawn {
		wd[id] = true
	}
	b.byID = nil
	entries := slices.DeleteFunc(b.entries, func(e entry) bool { return wd[e.id] })
	b.entries = nil
	slices.SortFunc(entries, func(a, b entry) int {
		if c := strings.Compare(a.group, b.group); c != 0 {
			return c
		}
		return strings.Compare(a.id, b.id)
	})

	h := header{
		CanonVersion: canon.Version,
		Format:       Format,
		Groups:       []Group{},
		Index:        map[string]EcosystemIndex{},
		Meta:         Meta{Ecosystems: map[string]int{}, RecordCount: len(entries)},
	}
	built := &Built{recs: make([][]byte, len(entries)), check: check}
	uf := newUnionFind()
	idx := map[string]map[string][]ref{}
	var (
		sum     = sha256.New()
		off     int // of the next record in its group
		records = int64(1)
	)
	closeGroup := func() {
		g := &h.Groups[len(h.Groups)-1]
		sum.Write([]byte{']'})
		g.Size = int64(off + 1)
		g.Digest = "sha256:" + hex.EncodeToString(sum.Sum(nil))
		if len(h.Groups) > 1 {
			records++
		}
		records += g.Size
		built.ends = append(built.ends, built.n)
	}
	for i := range entries {
		if i%checkInterval == 0 {
			if err := check(); err != nil {
				return nil, err
			}
		}
		e := &entries[i]
		if e.bad != "" {
			return nil, errors.New(e.bad)
		}
		if len(h.Groups) == 0 || e.group != h.Groups[len(h.Groups)-1].Ecosystem {
			if len(h.Groups) > 0 {
				closeGroup()
			}
			h.Groups = append(h.Groups, Group{Ecosystem: e.group})
			sum.Reset()
			sum.Write([]byte{'['})
			off = 1
		} else {
			sum.Write([]byte{','})
			off++
		}
		gi := len(h.Groups) - 1
		h.Groups[gi].Records++
		r := ref{group: gi, off: off, n: len(e.canon)}
		sum.Write(e.canon)
		off += len(e.canon)
		built.recs[built.n] = e.canon
		built.n++
		for _, k := range e.keys {
			base, name, _ := strings.Cut(k, "\x00")
			if idx[base] == nil {
				idx[base] = map[string][]ref{}
			}
			idx[base][name] = append(idx[base][name], r)
		}
		h.Meta.Ecosystems[e.group]++
		for _, a := range e.aliases {
			uf.union(e.id, a)
		}
		*e = entry{canon: e.canon}
	}
	if len(h.Groups) > 0 {
		closeGroup()
	}
	records++ // the closing bracket
	entries = nil
	for eco, pk := range idx {
		h.Index[eco] = packIndex(pk)
	}
	idx = nil
	h.Meta.RecordsBytes = int(records)
	h.Aliases = uf.groups()
	uf = nil
	h.Epoch = epoch.Format(time.RFC3339)
	slices.Sort(b.withdrawn)
	h.Meta.Withdrawn = slices.Compact(b.withdrawn)
	slices.Sort(b.superseded)
	h.Meta.Superseded = slices.Compact(b.superseded)
	if h.Meta.Withdrawn == nil {
		h.Meta.Withdrawn = []string{}
	}
	if h.Meta.Superseded == nil {
		h.Meta.Superseded = []string{}
	}
	b.withdrawn, b.superseded, b.arenas = nil, nil, nil
	hb, err := canon.Marshal(h)
	if err != nil {
		return nil, err
	}
	built.index = hb
	built.groups = h.Groups
	// The file: the header without its "}", the records member, "}".
	// Every header key sorts before "records", so the result is canonical.
	built.size = int64(len(hb)-1+len(recordsKey)) + records + 1
	if built.size > b.max {
		return nil, fmt.Errorf("%w: a snapshot of %d bytes, more than %d", ErrTooLarge, built.size, b.max)
	}
	return built, nil
}

// Built is a built snapshot: its index document and its records in order,
// written with WriteTo or opened in memory with Snapshot.
type Built struct {
	index  []byte
	groups []Group
	recs   [][]byte // canonical records in snapshot order
	n      int      // records appended to recs so far (while finishing)
	ends   []int    // group i is recs[ends[i-1]:ends[i]]
	size   int64
	check  func() error
}

// Index is the snapshot's index document (what ContentID is computed over).
func (b *Built) Index() []byte { return b.index }

// Size is the length of the snapshot file.
func (b *Built) Size() int64 { return b.size }

// errReleased is returned by a Built whose records Snapshot released.
var errReleased = errors.New("feed: built snapshot already opened (Built.Snapshot releases its records)")

// writeBuffer is how much WriteTo gathers before a write: one write per
// record would be a system call per record for a file.
const writeBuffer = 1 << 20

// WriteTo writes the snapshot file to w (io.WriterTo), calling the build's
// Check every checkInterval records; the bytes are those Build returns.
func (b *Built) WriteTo(w io.Writer) (int64, error) {
	if b.recs == nil {
		return 0, errReleased
	}
	var (
		written int64
		buf     = make([]byte, 0, min(int64(writeBuffer), b.size))
	)
	flush := func() error {
		n, err := w.Write(buf)
		written += int64(n)
		buf = buf[:0]
		return err
	}
	put := func(p []byte) error {
		if len(buf)+len(p) > cap(buf) {
			if err := flush(); err != nil {
				return err
			}
			if len(p) > cap(buf) {
				n, err := w.Write(p)
				written += int64(n)
				return err
			}
		}
		buf = append(buf, p...)
		return nil
	}
	if err := put(b.index[:len(b.index)-1]); err != nil {
		return written, err
	}
	if err := put([]byte(recordsKey + "[")); err != nil {
		return written, err
	}
	start := 0
	for gi, end := range b.ends {
		sep := []byte("[")
		if gi > 0 {
			sep = []byte(",[")
		}
		if err := put(sep); err != nil {
			return written, err
		}
		for i := start; i < end; i++ {
			if i%checkInterval == 0 {
				if err := b.check(); err != nil {
					return written, err
				}
			}
			if i > start {
				if err := put([]byte{','}); err != nil {
					return written, err
				}
			}
			if err := put(b.recs[i]); err != nil {
				return written, err
			}
		}
		if err := put([]byte{']'}); err != nil {
			return written, err
		}
		start = end
	}
	if err := put([]byte("]}")); err != nil {
		return written, err
	}
	if err := flush(); err != nil {
		return written, err
	}
	if written != b.size {
		return written, fmt.Errorf("feed: wrote %d bytes of a %d-byte snapshot", written, b.size)
	}
	return written, nil
}

// Snapshot opens the built snapshot in memory, as Open would open the
// bytes WriteTo writes. It assembles the record groups one at a time,
// releasing each group's records as it goes, so that the memory held stays
// about the snapshot's size: the Built is of no further use afterwards.
func (b *Built) Snapshot() (*Snapshot, error) {
	if b.recs == nil {
		return nil, errReleased
	}
	s, err := OpenIndex(b.index)
	if err != nil {
		return nil, err
	}
	start := 0
	for gi, end := range b.ends {
		g := make([]byte, 0, b.groups[gi].Size)
		g = append(g, '[')
		for i := start; i < end; i++ {
			if i%checkInterval == 0 {
				if err := b.check(); err != nil {
					return nil, err
				}
			}
			if i > start {
				g = append(g, ',')
			}
			g = append(g, b.recs[i]...)
			b.recs[i] = nil
		}
		g = append(g, ']')
		// The digest was computed over these very records in Finish.
		s.groups[gi] = g
		start = end
	}
	b.recs = nil
	return s, nil
}

// arena stores canonical records in chunks, so that a build makes a few
// large allocations rather than one per record, and holds little spare
// capacity (at most a quarter of a chunk is left unused when a record does
// not fit). A chunk is freed when no record in it is referenced.
type arena struct {
	cur  []byte
	size int // of the last chunk
}

// Chunk sizes: from a few records' worth, doubling, to a size that keeps
// the unused tails small next to the records held.
const (
	minChunk = 16 << 10
	maxChunk = 4 << 20
)

// add copies rec into the arena and returns the copy.
func (a *arena) add(rec []byte) []byte {
	n := len(rec)
	if n > maxChunk/4 {
		return append(make([]byte, 0, n), rec...)
	}
	if cap(a.cur)-len(a.cur) < n {
		a.size = min(max(2*a.size, minChunk), maxChunk)
		a.cur = make([]byte, 0, a.size)
	}
	start := len(a.cur)
	a.cur = append(a.cur, rec...)
	return a.cur[start:len(a.cur):len(a.cur)]
}
