package feed

import (
	"cmp"
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
// of (id, group, index keys, aliases), never the source bytes nor the
// decoded record: what a build holds is about the size of the snapshot it
// makes, which BuildOptions.MaxBytes bounds, plus under 200 bytes a record.
type Builder struct {
	opts     BuildOptions
	max      int64
	added    int
	held     int64  // canonical bytes of the records held
	reserved int64  // bytes the arenas allocated to hold them
	scratch  []byte // the record being added, canonical

	entries   []entry           // in the order added
	groups    []string          // group names, indexed by entry.group
	groupOf   map[string]uint32 // group name -> index in groups
	arenas    []arena           // the records' storage, by group
	withdrawn []string
	maxMod    time.Time
	done      bool
}

// entry is what a Builder keeps of one record.
type entry struct {
	id    string
	canon []byte // the canonical record, in its group's arena
	// strs are the record's index keys (base ecosystem NUL name,
	// deduplicated, in order), then its aliases. nkeys < 0 marks a record
	// that cannot be indexed: strs[0] is the error to report if it is kept.
	strs  []string
	nkeys int32
	group uint32
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
	return &Builder{opts: opts, max: max, groupOf: map[string]uint32{}}
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
// data is not retained: a caller may reuse it. A record that would take
// the storage of the records past BuildOptions.MaxBytes is refused with
// ErrTooLarge; duplicates count, as each is held until Finish.
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
	if m, err := time.Parse(time.RFC3339, r.Modified); err == nil && m.After(b.maxMod) {
		b.maxMod = m
	}
	if r.Withdrawn != "" {
		b.withdrawn = append(b.withdrawn, r.ID)
		return nil
	}
	e := entry{id: r.ID}
	keys, bad := indexKeys(&r)
	if bad != "" {
		// Reported only if this record is kept, as the snapshot would
		// have to index it.
		e.strs, e.nkeys = []string{fmt.Sprintf("%s: %s: package name %q contains a tab or newline", name, r.ID, bad)}, -1
	} else if len(keys)+len(r.Aliases) > 0 {
		e.strs = append(append(make([]string, 0, len(keys)+len(r.Aliases)), keys...), r.Aliases...)
		e.nkeys = int32(len(keys))
	}
	g := group(&r)
	gi, ok := b.groupOf[g]
	if !ok {
		gi = uint32(len(b.groups))
		b.groupOf[g] = gi
		b.groups = append(b.groups, g)
		b.arenas = append(b.arenas, arena{})
	}
	e.group = gi
	ar := &b.arenas[gi]
	grow := ar.grow(len(c))
	// The records past the bound, or (only for pathological sizes: the
	// arenas' spare capacity is normally a few percent) their storage
	// past it by a quarter.
	if b.held+int64(len(c)) > b.max || b.reserved+int64(grow) > b.max+b.max/4 {
		return fmt.Errorf("%s: %w: canonical records of more than %d bytes", name, ErrTooLarge, b.max)
	}
	b.held += int64(len(c))
	b.reserved += int64(grow)
	e.canon = ar.add(c, grow)
	b.entries = append(b.entries, e)
	return nil
}

// indexKeys returns the index keys of a record's affected packages (base
// ecosystem NUL name as the index compares it), deduplicated, in order; or
// the first package name the packed index cannot hold (a tab or newline).
func indexKeys(r *Record) (keys []string, bad string) {
	var seen map[string]bool // only for records of many packages
	for _, a := range r.Affected {
		if a.Package.Name == "" {
			continue
		}
		if strings.ContainsAny(a.Package.Name, "\t\n") {
			return nil, a.Package.Name
		}
		base := osvname.BaseEcosystem(a.Package.Ecosystem)
		n := a.Package.Name
		if base == "PyPI" {
			n = osvname.PEP503(n)
		}
		k := base + "\x00" + n
		if seen == nil && len(keys) >= 8 {
			seen = make(map[string]bool, len(r.Affected))
			for _, k := range keys {
				seen[k] = true
			}
		}
		if seen != nil {
			if seen[k] {
				continue
			}
			seen[k] = true
		} else if slices.Contains(keys, k) {
			continue
		}
		keys = append(keys, k)
	}
	return keys, ""
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
	entries, superseded := dedupe(b.entries)
	b.entries = nil
	// A withdrawn id may have a live duplicate in the source: the live one
	// stays out too, a withdrawal is final.
	wd := make(map[string]bool, len(b.withdrawn))
	for _, id := range b.withdrawn {
		wd[id] = true
	}
	entries = slices.DeleteFunc(entries, func(e entry) bool { return wd[e.id] })
	wd = nil
	// Snapshot order: by group name, then id.
	rank := make([]uint32, len(b.groups))
	byName := make([]uint32, len(b.groups))
	for i := range byName {
		byName[i] = uint32(i)
	}
	slices.SortFunc(byName, func(x, y uint32) int { return strings.Compare(b.groups[x], b.groups[y]) })
	for r, g := range byName {
		rank[g] = uint32(r)
	}
	slices.SortFunc(entries, func(x, y entry) int {
		if c := cmp.Compare(rank[x.group], rank[y.group]); c != 0 {
			return c
		}
		return strings.Compare(x.id, y.id)
	})

	h := header{
		CanonVersion: canon.Version,
		Format:       Format,
		Groups:       []Group{},
		Index:        map[string]EcosystemIndex{},
		Meta:         Meta{Ecosystems: map[string]int{}, RecordCount: len(entries)},
	}
	built := &Built{recs: make([][]byte, 0, len(entries)), check: check}
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
		built.ends = append(built.ends, len(built.recs))
	}
	for i := range entries {
		if i%checkInterval == 0 {
			if err := check(); err != nil {
				return nil, err
			}
		}
		e := &entries[i]
		if e.nkeys < 0 {
			return nil, errors.New(e.strs[0])
		}
		group := b.groups[e.group]
		if len(h.Groups) == 0 || group != h.Groups[len(h.Groups)-1].Ecosystem {
			if len(h.Groups) > 0 {
				closeGroup()
			}
			h.Groups = append(h.Groups, Group{Ecosystem: group})
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
		built.recs = append(built.recs, e.canon)
		for _, k := range e.strs[:e.nkeys] {
			base, name, _ := strings.Cut(k, "\x00")
			if idx[base] == nil {
				idx[base] = map[string][]ref{}
			}
			idx[base][name] = append(idx[base][name], r)
		}
		h.Meta.Ecosystems[group]++
		for _, a := range e.strs[e.nkeys:] {
			uf.union(e.id, a)
		}
		*e = entry{}
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
	h.Meta.Superseded = superseded
	if h.Meta.Withdrawn == nil {
		h.Meta.Withdrawn = []string{}
	}
	b.withdrawn, b.arenas, b.groups, b.groupOf = nil, nil, nil, nil
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

// dedupe keeps one record of each id: the one with the latest `modified`,
// then the smallest content ID, then the first added. It returns the
// records sorted by id and the ids that had more than one (sorted, never
// nil).
func dedupe(entries []entry) ([]entry, []string) {
	slices.SortStableFunc(entries, func(x, y entry) int { return strings.Compare(x.id, y.id) })
	superseded := []string{}
	out := entries[:0]
	for i := 0; i < len(entries); {
		j := i + 1
		for j < len(entries) && entries[j].id == entries[i].id {
			j++
		}
		best := i
		if j-i > 1 {
			superseded = append(superseded, entries[i].id)
			bt, bid := modified(entries[i].canon), canon.ContentID(entries[i].canon)
			for k := i + 1; k < j; k++ {
				t, id := modified(entries[k].canon), canon.ContentID(entries[k].canon)
				if t.After(bt) || t.Equal(bt) && id < bid {
					best, bt, bid = k, t, id
				}
			}
		}
		out = append(out, entries[best])
		i = j
	}
	clear(entries[len(out):])
	return out, superseded
}

// modified is the `modified` time of a canonical record that decoded as a
// Record; zero when it does not parse.
func modified(c []byte) time.Time {
	var r struct {
		Modified string `json:"modified"`
	}
	_ = json.Unmarshal(c, &r) // it decoded as a Record: it decodes
	t, _ := time.Parse(time.RFC3339, r.Modified)
	return t
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

// Index is a copy of the snapshot's index document (what ContentID is
// computed over).
func (b *Built) Index() []byte { return slices.Clone(b.index) }

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
// allocations rather than one per record. A chunk is a sixteenth of what
// the arena holds (at least the record, at most maxChunk): a group of a few
// records takes their size, one of many takes a few hundred chunks, and the
// unused tails stay a small part of what is held (at most a sixteenth in
// the last chunk; under the next record's size in the others). A record
// larger than a quarter of maxChunk is stored alone. A chunk is freed when
// no record in it is referenced.
type arena struct {
	cur  []byte
	held int // bytes stored
}

// maxChunk is the largest chunk an arena allocates: large enough that a
// big feed is a few thousand allocations, small enough that the unused
// tail of each group's last chunk is negligible next to a large feed.
const maxChunk = 1 << 20

// grow is how many bytes add allocates to store n bytes: 0 when they fit
// the current chunk.
func (a *arena) grow(n int) int {
	switch {
	case n > maxChunk/4:
		return n
	case cap(a.cur)-len(a.cur) >= n:
		return 0
	}
	return min(max(a.held/16, n), maxChunk)
}

// add copies rec into the arena and returns the copy; grow is grow(len(rec)).
func (a *arena) add(rec []byte, grow int) []byte {
	a.held += len(rec)
	if len(rec) > maxChunk/4 {
		return append(make([]byte, 0, len(rec)), rec...)
	}
	if grow > 0 {
		a.cur = make([]byte, 0, grow)
	}
	start := len(a.cur)
	a.cur = append(a.cur, rec...)
	return a.cur[start:len(a.cur):len(a.cur)]
}
