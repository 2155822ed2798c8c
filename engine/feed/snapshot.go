// Package feed builds and reads vulnerability-feed snapshots: a set of OSV
// records frozen as one canonical JSON document with a content ID, an epoch
// (its "as of" instant) and an index that lets the evaluator decode only the
// records that concern the packages in an SBOM.
package feed

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/stella-ops/stella-oras/canon"
	"github.com/stella-ops/stella-oras/internal/osvname"
)

// Format names the snapshot layout; readers refuse any other.
const Format = "stella-feed-snapshot/1"

// Limits on what a feed may contain. A record larger than MaxRecordBytes is
// refused (the largest real OSV records are a few hundred KB).
const (
	MaxRecordBytes   = 16 << 20
	MaxSnapshotBytes = 2 << 30
)

// ErrEmpty is returned when a source holds no OSV records.
var ErrEmpty = errors.New("feed has no OSV records")

// ErrNoEpoch is returned when no epoch was given and none can be derived.
var ErrNoEpoch = errors.New("cannot derive the feed epoch")

// ErrSnapshot is returned for a file that is not a valid snapshot.
var ErrSnapshot = errors.New("not a valid feed snapshot")

// Source is one OSV record file before it enters a snapshot.
type Source struct {
	Name string // file name, for error messages
	Data []byte
}

// BuildOptions tune Build.
type BuildOptions struct {
	// Epoch is the snapshot's "as of" instant. Zero means the maximum
	// `modified` of the records; never the wall clock.
	Epoch time.Time
}

type entry struct {
	rec   Record
	canon []byte
	id    string // content ID of canon
	group string
	src   string
}

// header is everything in a snapshot but the records. Keys sort before
// "records" so that the records array is the last member of the canonical
// document and the index can address it by offset.
type header struct {
	CanonVersion string                         `json:"_canonVersion"`
	Aliases      [][]string                     `json:"aliases"`
	Epoch        string                         `json:"epoch"`
	Format       string                         `json:"format"`
	Index        map[string]map[string][][2]int `json:"index"`
	Meta         Meta                           `json:"meta"`
}

// Meta describes a snapshot's contents.
type Meta struct {
	Ecosystems   map[string]int `json:"ecosystems"`
	RecordCount  int            `json:"record_count"`
	RecordsBytes int            `json:"records_bytes"`
	Withdrawn    []string       `json:"withdrawn"`
	// Superseded lists ids that appeared more than once in the source;
	// the record with the latest `modified` (then the smallest content ID)
	// was kept.
	Superseded []string `json:"superseded"`
}

// Build turns OSV records into a canonical snapshot document.
func Build(srcs []Source, opts BuildOptions) ([]byte, error) {
	byID := map[string]*entry{}
	var withdrawn, superseded []string
	var maxMod time.Time
	for _, s := range srcs {
		c, err := canon.Transform(s.Data)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", s.Name, err)
		}
		var r Record
		if err := json.Unmarshal(c, &r); err != nil {
			return nil, fmt.Errorf("%s: not an OSV record: %v", s.Name, err)
		}
		if err := r.check(); err != nil {
			return nil, fmt.Errorf("%s: %s: %w", s.Name, r.ID, err)
		}
		if m, err := time.Parse(time.RFC3339, r.Modified); err == nil && m.After(maxMod) {
			maxMod = m
		}
		if r.Withdrawn != "" {
			withdrawn = append(withdrawn, r.ID)
			continue
		}
		e := &entry{rec: r, canon: c, id: canon.ContentID(c), group: group(&r), src: s.Name}
		if old, ok := byID[r.ID]; ok {
			superseded = append(superseded, r.ID)
			if !newer(e, old) {
				continue
			}
		}
		byID[r.ID] = e
	}
	if len(byID) == 0 && len(withdrawn) == 0 {
		return nil, ErrEmpty
	}
	epoch := opts.Epoch.UTC()
	if epoch.IsZero() {
		if maxMod.Year() <= 1 {
			return nil, fmt.Errorf("%w: no record has a `modified` time after year 1 (the Go vulnerability database's repository copies carry 0001-01-01); give the epoch explicitly with --epoch", ErrNoEpoch)
		}
		epoch = maxMod.UTC()
	}
	entries := make([]*entry, 0, len(byID))
	for _, e := range byID {
		entries = append(entries, e)
	}
	slices.SortFunc(entries, func(a, b *entry) int {
		if c := strings.Compare(a.group, b.group); c != 0 {
			return c
		}
		return strings.Compare(a.rec.ID, b.rec.ID)
	})
	// A withdrawn id may have a live duplicate in the source: the live one
	// stays out too, a withdrawal is final.
	wd := map[string]bool{}
	for _, id := range withdrawn {
		wd[id] = true
	}
	entries = slices.DeleteFunc(entries, func(e *entry) bool { return wd[e.rec.ID] })

	var recs bytes.Buffer
	h := header{
		CanonVersion: canon.Version,
		Format:       Format,
		Index:        map[string]map[string][][2]int{},
		Meta:         Meta{Ecosystems: map[string]int{}, RecordCount: len(entries)},
	}
	recs.WriteByte('[')
	uf := newUnionFind()
	for i, e := range entries {
		if i > 0 {
			recs.WriteByte(',')
		}
		off := recs.Len()
		recs.Write(e.canon)
		ref := [2]int{off, len(e.canon)}
		seen := map[string]bool{}
		for _, a := range e.rec.Affected {
			if a.Package.Name == "" {
				continue
			}
			base := osvname.BaseEcosystem(a.Package.Ecosystem)
			name := a.Package.Name
			if base == "PyPI" {
				name = osvname.PEP503(name)
			}
			k := base + "\x00" + name
			if seen[k] {
				continue
			}
			seen[k] = true
			if h.Index[base] == nil {
				h.Index[base] = map[string][][2]int{}
			}
			h.Index[base][name] = append(h.Index[base][name], ref)
		}
		h.Meta.Ecosystems[e.group]++
		for _, a := range e.rec.Aliases {
			uf.union(e.rec.ID, a)
		}
	}
	recs.WriteByte(']')
	h.Meta.RecordsBytes = recs.Len()
	h.Aliases = uf.groups()
	h.Epoch = epoch.Format(time.RFC3339)
	slices.Sort(withdrawn)
	h.Meta.Withdrawn = slices.Compact(withdrawn)
	slices.Sort(superseded)
	h.Meta.Superseded = slices.Compact(superseded)
	if h.Meta.Withdrawn == nil {
		h.Meta.Withdrawn = []string{}
	}
	if h.Meta.Superseded == nil {
		h.Meta.Superseded = []string{}
	}
	hb, err := canon.Marshal(h)
	if err != nil {
		return nil, err
	}
	// hb is a canonical object; append the records member before its "}".
	// Every header key sorts before "records", so the result is canonical.
	out := make([]byte, 0, len(hb)+len(`,"records":`)+recs.Len())
	out = append(out, hb[:len(hb)-1]...)
	out = append(out, `,"records":`...)
	out = append(out, recs.Bytes()...)
	out = append(out, '}')
	return out, nil
}

// group is the ecosystem a record is filed under: the smallest base
// ecosystem among its affected packages.
func group(r *Record) string {
	g := ""
	for _, a := range r.Affected {
		b := osvname.BaseEcosystem(a.Package.Ecosystem)
		if b != "" && (g == "" || b < g) {
			g = b
		}
	}
	return g
}

func newer(a, b *entry) bool {
	ta, _ := time.Parse(time.RFC3339, a.rec.Modified)
	tb, _ := time.Parse(time.RFC3339, b.rec.Modified)
	if !ta.Equal(tb) {
		return ta.After(tb)
	}
	return a.id < b.id
}

// Snapshot is an opened snapshot. Records are decoded on first use.
type Snapshot struct {
	data    []byte
	records []byte // the records array
	h       header
	id      string
	epoch   time.Time
	alias   map[string]int // id -> index in h.Aliases

	mu    sync.Mutex
	cache map[int]*Loaded
}

// Loaded is a decoded record with its identity.
type Loaded struct {
	Record
	ContentID string // content ID of the record's canonical JSON
}

// Open reads a snapshot held in memory. It checks the layout and computes
// the content ID over the whole document.
func Open(data []byte) (*Snapshot, error) {
	const key = `,"records":`
	if len(data) < 2 || data[len(data)-1] != '}' {
		return nil, fmt.Errorf("%w: does not end with an object", ErrSnapshot)
	}
	s := &Snapshot{data: data, cache: map[int]*Loaded{}}
	// Find the records member from the end: the header records its length.
	// First decode just enough to read meta.records_bytes: try the header
	// bounded by the last occurrence of the key that yields a valid header.
	end := len(data) - 1
	for i := bytes.LastIndex(data[:end], []byte(key)); i > 0; i = bytes.LastIndex(data[:i], []byte(key)) {
		hdr := append(append([]byte(nil), data[:i]...), '}')
		var h header
		if json.Unmarshal(hdr, &h) != nil || h.Format != Format {
			continue
		}
		if start := i + len(key); end-start == h.Meta.RecordsBytes {
			s.h = h
			s.records = data[start:end]
			break
		}
	}
	if s.records == nil {
		return nil, fmt.Errorf("%w: no %s header with a matching records member", ErrSnapshot, Format)
	}
	if len(s.records) < 2 || s.records[0] != '[' || s.records[len(s.records)-1] != ']' {
		return nil, fmt.Errorf("%w: records member is not an array", ErrSnapshot)
	}
	for eco, pk := range s.h.Index {
		for name, refs := range pk {
			for _, r := range refs {
				if r[0] < 1 || r[1] < 2 || r[0]+r[1] > len(s.records)-1 {
					return nil, fmt.Errorf("%w: index entry %s/%s points outside the records", ErrSnapshot, eco, name)
				}
			}
		}
	}
	ep, err := time.Parse(time.RFC3339, s.h.Epoch)
	if err != nil {
		return nil, fmt.Errorf("%w: epoch %q: %v", ErrSnapshot, s.h.Epoch, err)
	}
	s.epoch = ep
	s.alias = map[string]int{}
	for i, g := range s.h.Aliases {
		for _, id := range g {
			s.alias[id] = i
		}
	}
	s.id = canon.ContentID(data)
	return s, nil
}

// ContentID is the sha256 content ID of the snapshot document.
func (s *Snapshot) ContentID() string { return s.id }

// Epoch is the snapshot's "as of" instant.
func (s *Snapshot) Epoch() time.Time { return s.epoch }

// Meta describes the snapshot.
func (s *Snapshot) Meta() Meta { return s.h.Meta }

// Bytes is the snapshot document.
func (s *Snapshot) Bytes() []byte { return s.data }

// Aliases returns the alias group of id (sorted, including id), or nil.
func (s *Snapshot) Aliases(id string) []string {
	if i, ok := s.alias[id]; ok {
		return s.h.Aliases[i]
	}
	return nil
}

// Lookup returns the records that name the package (ecosystem as in OSV,
// release suffix ignored), decoded, in snapshot order.
func (s *Snapshot) Lookup(ecosystem, name string) ([]*Loaded, error) {
	base := osvname.BaseEcosystem(ecosystem)
	if base == "PyPI" {
		name = osvname.PEP503(name)
	}
	refs := s.h.Index[base][name]
	out := make([]*Loaded, 0, len(refs))
	for _, r := range refs {
		l, err := s.load(r)
		if err != nil {
			return nil, err
		}
		out = append(out, l)
	}
	return out, nil
}

func (s *Snapshot) load(r [2]int) (*Loaded, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if l, ok := s.cache[r[0]]; ok {
		return l, nil
	}
	raw := s.records[r[0] : r[0]+r[1]]
	l := &Loaded{ContentID: canon.ContentID(raw)}
	if err := json.Unmarshal(raw, &l.Record); err != nil {
		return nil, fmt.Errorf("%w: record at offset %d: %v", ErrSnapshot, r[0], err)
	}
	s.cache[r[0]] = l
	return l, nil
}

// unionFind groups ids connected by aliases.
type unionFind struct{ parent map[string]string }

func newUnionFind() *unionFind { return &unionFind{parent: map[string]string{}} }

func (u *unionFind) find(x string) string {
	p, ok := u.parent[x]
	if !ok {
		u.parent[x] = x
		return x
	}
	if p == x {
		return x
	}
	r := u.find(p)
	u.parent[x] = r
	return r
}

func (u *unionFind) union(a, b string) {
	ra, rb := u.find(a), u.find(b)
	if ra == rb {
		return
	}
	// Deterministic: the smaller id becomes the root.
	if rb < ra {
		ra, rb = rb, ra
	}
	u.parent[rb] = ra
}

// groups returns every group of two or more ids, each sorted, the groups
// sorted by their first id.
func (u *unionFind) groups() [][]string {
	m := map[string][]string{}
	for x := range u.parent {
		r := u.find(x)
		m[r] = append(m[r], x)
	}
	out := make([][]string, 0, len(m))
	for _, g := range m {
		if len(g) < 2 {
			continue
		}
		sort.Strings(g)
		out = append(out, g)
	}
	slices.SortFunc(out, func(a, b []string) int { return strings.Compare(a[0], b[0]) })
	return out
}

// AliasGroups returns every alias group (sorted ids), sorted.
func (s *Snapshot) AliasGroups() [][]string { return s.h.Aliases }
