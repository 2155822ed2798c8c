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
	"strconv"
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
	CanonVersion string     `json:"_canonVersion"`
	Aliases      [][]string `json:"aliases"`
	Epoch        string     `json:"epoch"`
	Format       string     `json:"format"`
	// Index maps a base ecosystem to a packed string: one line per package,
	// sorted, "name\toffset,length offset,length…", offsets relative to the
	// records array. One JSON string per ecosystem decodes in a single copy;
	// the lines are split only for the ecosystems an SBOM names.
	Index map[string]string `json:"index"`
	Meta  Meta              `json:"meta"`
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
		Index:        map[string]string{},
		Meta:         Meta{Ecosystems: map[string]int{}, RecordCount: len(entries)},
	}
	recs.WriteByte('[')
	uf := newUnionFind()
	idx := map[string]map[string][][2]int{}
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
			if strings.ContainsAny(a.Package.Name, "\t\n") {
				return nil, fmt.Errorf("%s: %s: package name %q contains a tab or newline", e.src, e.rec.ID, a.Package.Name)
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
			if idx[base] == nil {
				idx[base] = map[string][][2]int{}
			}
			idx[base][name] = append(idx[base][name], ref)
		}
		h.Meta.Ecosystems[e.group]++
		for _, a := range e.rec.Aliases {
			uf.union(e.rec.ID, a)
		}
	}
	recs.WriteByte(']')
	for eco, pk := range idx {
		h.Index[eco] = packIndex(pk)
	}
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

	versions sync.Map // versionKey -> parsed

	mu    sync.Mutex
	index map[string]map[string]string // ecosystem -> name -> packed refs
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
	start, err := recordsMember(data)
	if err != nil {
		return nil, err
	}
	s := &Snapshot{data: data, cache: map[int]*Loaded{}, index: map[string]map[string]string{}}
	const key = `,"records":`
	hdr := make([]byte, 0, start-len(key)+1)
	hdr = append(append(hdr, data[:start-len(key)]...), '}')
	if err := json.Unmarshal(hdr, &s.h); err != nil {
		return nil, fmt.Errorf("%w: header: %v", ErrSnapshot, err)
	}
	if s.h.Format != Format {
		return nil, fmt.Errorf("%w: format %q, want %q", ErrSnapshot, s.h.Format, Format)
	}
	s.records = data[start : len(data)-1]
	if len(s.records) != s.h.Meta.RecordsBytes || len(s.records) < 2 || s.records[0] != '[' || s.records[len(s.records)-1] != ']' {
		return nil, fmt.Errorf("%w: records member is not the %d-byte array the header announces", ErrSnapshot, s.h.Meta.RecordsBytes)
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

// recordsMember finds where the value of the top-level "records" member
// starts, scanning only the members before it (the header) rather than
// the records themselves.
func recordsMember(data []byte) (int, error) {
	bad := func(why string) (int, error) { return 0, fmt.Errorf("%w: %s", ErrSnapshot, why) }
	if len(data) < 2 || data[0] != '{' || data[len(data)-1] != '}' {
		return bad("not a JSON object")
	}
	i := 1
	for i < len(data) {
		if data[i] != '"' {
			return bad(fmt.Sprintf("byte offset %d: expected a member name", i))
		}
		end, ok := skipString(data, i)
		if !ok {
			return bad("unterminated member name")
		}
		name := string(data[i+1 : end-1])
		if end >= len(data) || data[end] != ':' {
			return bad(fmt.Sprintf("byte offset %d: expected ':'", end))
		}
		if name == "records" {
			if i == 1 {
				return bad("no header before the records")
			}
			return end + 1, nil
		}
		next, ok := skipValue(data, end+1)
		if !ok || next >= len(data) || data[next] != ',' {
			return bad(fmt.Sprintf("byte offset %d: malformed header member %q", end+1, name))
		}
		i = next + 1
	}
	return bad("no records member")
}

// skipString returns the offset just past the string starting at i.
func skipString(data []byte, i int) (int, bool) {
	for j := i + 1; j < len(data); j++ {
		switch data[j] {
		case '\\':
			j++
		case '"':
			return j + 1, true
		}
	}
	return 0, false
}

// skipValue returns the offset just past the (canonical, whitespace-free)
// value starting at i. Validity is checked later by the JSON decoder.
func skipValue(data []byte, i int) (int, bool) {
	depth := 0
	for j := i; j < len(data); j++ {
		switch c := data[j]; c {
		case '"':
			end, ok := skipString(data, j)
			if !ok {
				return 0, false
			}
			j = end - 1
		case '{', '[':
			depth++
		case '}', ']':
			depth--
			if depth < 0 {
				return 0, false
			}
		case ',':
			if depth == 0 {
				return j, true
			}
		}
		if depth == 0 && (data[j] == '}' || data[j] == ']' || data[j] == '"') {
			return j + 1, true
		}
	}
	return 0, false
}

// packIndex renders one ecosystem's index as sorted lines.
func packIndex(pk map[string][][2]int) string {
	names := make([]string, 0, len(pk))
	for n := range pk {
		names = append(names, n)
	}
	slices.Sort(names)
	var b strings.Builder
	for _, n := range names {
		b.WriteString(n)
		for i, r := range pk[n] {
			if i == 0 {
				b.WriteByte('\t')
			} else {
				b.WriteByte(' ')
			}
			b.WriteString(strconv.Itoa(r[0]))
			b.WriteByte(',')
			b.WriteString(strconv.Itoa(r[1]))
		}
		b.WriteByte('\n')
	}
	return b.String()
}

// ecosystemIndex splits one ecosystem's packed index on first use.
// Callers hold s.mu.
func (s *Snapshot) ecosystemIndex(eco string) map[string]string {
	if m, ok := s.index[eco]; ok {
		return m
	}
	packed := s.h.Index[eco]
	m := make(map[string]string, strings.Count(packed, "\n"))
	for line := range strings.SplitSeq(packed, "\n") {
		if name, refs, ok := strings.Cut(line, "\t"); ok {
			m[name] = refs
		}
	}
	s.index[eco] = m
	return m
}

// parseRefs reads "offset,length offset,length…" and checks each against
// the records array.
func (s *Snapshot) parseRefs(packed string) ([][2]int, error) {
	var out [][2]int
	for f := range strings.FieldsSeq(packed) {
		o, l, ok := strings.Cut(f, ",")
		off, err1 := strconv.Atoi(o)
		n, err2 := strconv.Atoi(l)
		if !ok || err1 != nil || err2 != nil || off < 1 || n < 2 || off > len(s.records)-1-n {
			return nil, fmt.Errorf("%w: index entry %q points outside the records", ErrSnapshot, f)
		}
		out = append(out, [2]int{off, n})
	}
	return out, nil
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
// release suffix ignored), decoded, in snapshot order. It is safe for
// concurrent use.
func (s *Snapshot) Lookup(ecosystem, name string) ([]*Loaded, error) {
	base := osvname.BaseEcosystem(ecosystem)
	if base == "PyPI" {
		name = osvname.PEP503(name)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	packed, ok := s.ecosystemIndex(base)[name]
	if !ok {
		return nil, nil
	}
	refs, err := s.parseRefs(packed)
	if err != nil {
		return nil, err
	}
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

// load decodes one record; callers hold s.mu.
func (s *Snapshot) load(r [2]int) (*Loaded, error) {
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
