// Package feed builds and reads vulnerability-feed snapshots: a set of OSV
// records frozen as one canonical JSON document with a content ID, an epoch
// (its "as of" instant) and an index that lets the evaluator decode only the
// records that concern the packages in an SBOM.
package feed

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/opencontainers/go-digest"
	"github.com/stella-ops/stella-oras/canon"
	"github.com/stella-ops/stella-oras/internal/osvname"
)

// Format names the snapshot layout; readers refuse any other.
const Format = "stella-feed-snapshot/2"

// formatV1 is the earlier layout (one records array, no groups).
const formatV1 = "stella-feed-snapshot/1"

// Limits on what a feed may contain.
//
// A record larger than MaxRecordBytes is refused: the largest real OSV
// records are a few hundred KB.
//
// MaxSnapshotBytes bounds a snapshot file where it is read (a reader holds
// the whole file in memory, and a record group fetched from a registry is
// bounded by it too) and where it is built: BuildOptions.MaxBytes defaults
// to it, so every snapshot that builds can be read back. 2 GiB holds a
// million records averaging 2 KB canonical (the Go vulnerability database
// averages 1.3 KB: 4,291 records, a 5.8 MB snapshot); it keeps a reader
// under about 2.8 GB (eval of a 281 MB snapshot: 395 MB resident), and a
// build under about 5 GiB: a Builder holds the canonical records and under
// 200 bytes a record besides, and with Go's default collector (GOGC=100)
// the heap peaks at about twice what is live, 2 × (2 GiB + 2,000,000 ×
// 200 B) at the record bound internal/load sets.
const (
	MaxRecordBytes   = 16 << 20
	MaxSnapshotBytes = 2 << 30
)

// ErrTooLarge is returned when a build would exceed BuildOptions.MaxBytes.
var ErrTooLarge = errors.New("feed snapshot exceeds size limit")

// ErrEmpty is returned when a source holds no OSV records.
var ErrEmpty = errors.New("feed has no OSV records")

// ErrNoEpoch is returned when no epoch was given and none can be derived.
var ErrNoEpoch = errors.New("cannot derive the feed epoch")

// ErrSnapshot is returned for a file that is not a valid snapshot.
var ErrSnapshot = errors.New("not a valid feed snapshot")

// ErrGroupMissing is returned by a lookup that needs a record group that
// was not added to a snapshot opened from its index.
var ErrGroupMissing = errors.New("feed record group not loaded")

// header is everything in a snapshot but the records: the feed's index
// document. Keys sort before "records", so that the records member is the
// last member of the canonical snapshot, and the header alone, with the
// records member cut off, is itself canonical JSON: its content ID is the
// feed's identity. It commits to every record group by digest, so a reader
// that fetched the index and only the groups its SBOM needs (the feed as an
// OCI artifact, one layer per group) has the same identity as one that read
// the whole snapshot file.
type header struct {
	CanonVersion string     `json:"_canonVersion"`
	Aliases      [][]string `json:"aliases"`
	Epoch        string     `json:"epoch"`
	Format       string     `json:"format"`
	// Groups are the record groups in order: records filed under one
	// ecosystem (the smallest base ecosystem they affect), each a canonical
	// JSON array.
	Groups []Group `json:"groups"`
	// Index maps a base ecosystem to the groups holding its records and a
	// packed string: one line per package, sorted,
	// "name\tgroup:offset,length group:offset,length…", offsets relative to
	// the group's array. One JSON string per ecosystem decodes in a single
	// copy; the lines are split only for the ecosystems an SBOM names.
	Index map[string]EcosystemIndex `json:"index"`
	Meta  Meta                      `json:"meta"`
}

// Group describes one record group: the records filed under Ecosystem, as
// a canonical JSON array of Size bytes with the given digest.
type Group struct {
	Digest    string `json:"digest"`
	Ecosystem string `json:"ecosystem"`
	Records   int    `json:"records"`
	Size      int64  `json:"size"`
}

// EcosystemIndex locates one ecosystem's packages.
type EcosystemIndex struct {
	Groups   []int  `json:"groups"`
	Packages string `json:"packages"`
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

// recordsKey introduces the records member of a snapshot.
const recordsKey = `,"records":`

// ref locates one record: its group and its byte range in the group.
type ref struct{ group, off, n int }

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

// Snapshot is an opened snapshot: its index, and the record groups loaded
// so far (all of them when opened from a snapshot file, those an SBOM
// needs when read from an artifact). Records are decoded on first use.
type Snapshot struct {
	index []byte // the index document (canonical header)
	h     header
	id    string
	epoch time.Time
	alias map[string]int // id -> index in h.Aliases

	versions sync.Map // versionKey -> parsed

	mu     sync.Mutex
	groups [][]byte                     // group i's array, nil until added
	pk     map[string]map[string]string // ecosystem -> name -> packed refs
	cache  map[[2]int]*Loaded           // (group, offset) -> record
}

// Loaded is a decoded record with its identity.
type Loaded struct {
	Record
	ContentID string // content ID of the record's canonical JSON
}

// Open reads a snapshot file held in memory: the index, then every record
// group, each checked against the digest and size the index gives. The
// snapshot keeps data (records are decoded from it when first looked
// up): the caller must not change it afterwards.
func Open(data []byte) (*Snapshot, error) {
	start, err := recordsMember(data)
	if err != nil {
		return nil, err
	}
	idx := make([]byte, 0, start-len(recordsKey)+1)
	idx = append(append(idx, data[:start-len(recordsKey)]...), '}')
	s, err := OpenIndex(idx)
	if err != nil {
		return nil, err
	}
	recs := data[start : len(data)-1]
	if len(recs) != s.h.Meta.RecordsBytes || len(recs) < 2 || recs[0] != '[' || recs[len(recs)-1] != ']' {
		return nil, fmt.Errorf("%w: records member is not the %d-byte array the header announces", ErrSnapshot, s.h.Meta.RecordsBytes)
	}
	off := 1
	for i, g := range s.h.Groups {
		if i > 0 {
			if off >= len(recs) || recs[off] != ',' {
				return nil, fmt.Errorf("%w: record group %d does not start where the header says", ErrSnapshot, i)
			}
			off++
		}
		if g.Size < 2 || int64(off)+g.Size > int64(len(recs)-1) {
			return nil, fmt.Errorf("%w: record group %d (%s) overruns the records", ErrSnapshot, i, g.Ecosystem)
		}
		if err := s.AddGroup(i, recs[off:off+int(g.Size)]); err != nil {
			return nil, err
		}
		off += int(g.Size)
	}
	if off != len(recs)-1 {
		return nil, fmt.Errorf("%w: %d bytes of records after the last group", ErrSnapshot, len(recs)-1-off)
	}
	return s, nil
}

// OpenIndex reads a feed's index document (as pushed in a feed artifact)
// without any records; AddGroup then supplies the groups a lookup needs.
// The snapshot keeps index, as AddGroup keeps each group: the caller must
// not change them afterwards.
func OpenIndex(index []byte) (*Snapshot, error) {
	s := &Snapshot{index: index, cache: map[[2]int]*Loaded{}, pk: map[string]map[string]string{}}
	if err := json.Unmarshal(index, &s.h); err != nil {
		return nil, fmt.Errorf("%w: header: %v", ErrSnapshot, err)
	}
	if s.h.Format != Format {
		if s.h.Format == formatV1 {
			return nil, fmt.Errorf("%w: format %q is an older layout; rebuild it with `stella-oras feed build`", ErrSnapshot, s.h.Format)
		}
		return nil, fmt.Errorf("%w: format %q, want %q", ErrSnapshot, s.h.Format, Format)
	}
	ep, err := time.Parse(time.RFC3339, s.h.Epoch)
	if err != nil {
		return nil, fmt.Errorf("%w: epoch %q: %v", ErrSnapshot, s.h.Epoch, err)
	}
	s.epoch = ep
	for eco, ix := range s.h.Index {
		for _, g := range ix.Groups {
			if g < 0 || g >= len(s.h.Groups) {
				return nil, fmt.Errorf("%w: index of %s names group %d of %d", ErrSnapshot, eco, g, len(s.h.Groups))
			}
		}
	}
	for i, g := range s.h.Groups {
		if _, err := digest.Parse(g.Digest); err != nil {
			return nil, fmt.Errorf("%w: group %d digest %q", ErrSnapshot, i, g.Digest)
		}
	}
	s.groups = make([][]byte, len(s.h.Groups))
	s.alias = map[string]int{}
	for i, g := range s.h.Aliases {
		for _, id := range g {
			s.alias[id] = i
		}
	}
	s.id = canon.ContentID(index)
	return s, nil
}

// AddGroup supplies record group i, checked against the index, and keeps
// it (see OpenIndex).
func (s *Snapshot) AddGroup(i int, data []byte) error {
	if i < 0 || i >= len(s.h.Groups) {
		return fmt.Errorf("%w: no record group %d", ErrSnapshot, i)
	}
	g := s.h.Groups[i]
	if int64(len(data)) != g.Size || canon.ContentID(data) != g.Digest {
		return fmt.Errorf("%w: record group %d (%s) does not match its digest %s", ErrSnapshot, i, g.Ecosystem, g.Digest)
	}
	if len(data) < 2 || data[0] != '[' || data[len(data)-1] != ']' {
		return fmt.Errorf("%w: record group %d is not an array", ErrSnapshot, i)
	}
	s.mu.Lock()
	s.groups[i] = data
	s.mu.Unlock()
	return nil
}

// Groups describes the record groups, in order.
func (s *Snapshot) Groups() []Group { return slices.Clone(s.h.Groups) }

// GroupData is a copy of record group i, or nil if it was not added.
// What the snapshot answers is its own: no caller can change it (so no
// later verdict from it), which every accessor keeps.
func (s *Snapshot) GroupData(i int) []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.groups[i])
}

// Index is a copy of the feed's index document, whose content ID is
// ContentID.
func (s *Snapshot) Index() []byte { return slices.Clone(s.index) }

// Needs returns the record groups that lookups in the given ecosystems
// (as in OSV; release suffixes ignored) read, sorted.
func (s *Snapshot) Needs(ecosystems []string) []int {
	var out []int
	for _, e := range ecosystems {
		out = append(out, s.h.Index[osvname.BaseEcosystem(e)].Groups...)
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// Complete reports whether every record group is loaded.
func (s *Snapshot) Complete() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return !slices.ContainsFunc(s.groups, func(g []byte) bool { return g == nil })
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

// packIndex renders one ecosystem's index as sorted lines, and lists the
// groups its records are in.
func packIndex(pk map[string][]ref) EcosystemIndex {
	names := make([]string, 0, len(pk))
	for n := range pk {
		names = append(names, n)
	}
	slices.Sort(names)
	var b strings.Builder
	groups := map[int]bool{}
	for _, n := range names {
		b.WriteString(n)
		for i, r := range pk[n] {
			if i == 0 {
				b.WriteByte('\t')
			} else {
				b.WriteByte(' ')
			}
			b.WriteString(strconv.Itoa(r.group))
			b.WriteByte(':')
			b.WriteString(strconv.Itoa(r.off))
			b.WriteByte(',')
			b.WriteString(strconv.Itoa(r.n))
			groups[r.group] = true
		}
		b.WriteByte('\n')
	}
	ix := EcosystemIndex{Packages: b.String(), Groups: []int{}}
	for g := range groups {
		ix.Groups = append(ix.Groups, g)
	}
	slices.Sort(ix.Groups)
	return ix
}

// ecosystemIndex splits one ecosystem's packed index on first use.
// Callers hold s.mu.
func (s *Snapshot) ecosystemIndex(eco string) map[string]string {
	if m, ok := s.pk[eco]; ok {
		return m
	}
	packed := s.h.Index[eco].Packages
	m := make(map[string]string, strings.Count(packed, "\n"))
	for line := range strings.SplitSeq(packed, "\n") {
		if name, refs, ok := strings.Cut(line, "\t"); ok {
			m[name] = refs
		}
	}
	s.pk[eco] = m
	return m
}

// parseRefs reads "group:offset,length …" and checks each against its
// group, which must be loaded. Callers hold s.mu.
func (s *Snapshot) parseRefs(eco, packed string) ([]ref, error) {
	var out []ref
	for f := range strings.FieldsSeq(packed) {
		gs, rest, ok1 := strings.Cut(f, ":")
		o, l, ok2 := strings.Cut(rest, ",")
		g, err0 := strconv.Atoi(gs)
		off, err1 := strconv.Atoi(o)
		n, err2 := strconv.Atoi(l)
		if !ok1 || !ok2 || err0 != nil || err1 != nil || err2 != nil || g < 0 || g >= len(s.groups) {
			return nil, fmt.Errorf("%w: index entry %q is malformed", ErrSnapshot, f)
		}
		data := s.groups[g]
		if data == nil {
			return nil, fmt.Errorf("%w: %s records are in group %d (%s), which was not loaded", ErrGroupMissing, eco, g, s.h.Groups[g].Ecosystem)
		}
		if off < 1 || n < 2 || off > len(data)-1-n {
			return nil, fmt.Errorf("%w: index entry %q points outside its group", ErrSnapshot, f)
		}
		out = append(out, ref{group: g, off: off, n: n})
	}
	return out, nil
}

// ContentID is the feed's identity: the content ID of its index document,
// which names every record group by digest.
func (s *Snapshot) ContentID() string { return s.id }

// Epoch is the snapshot's "as of" instant.
func (s *Snapshot) Epoch() time.Time { return s.epoch }

// Meta describes the snapshot.
func (s *Snapshot) Meta() Meta {
	m := s.h.Meta
	m.Ecosystems = maps.Clone(m.Ecosystems)
	m.Withdrawn = slices.Clone(m.Withdrawn)
	m.Superseded = slices.Clone(m.Superseded)
	return m
}

// Aliases returns the alias group of id (sorted, including id), or nil.
func (s *Snapshot) Aliases(id string) []string {
	if i, ok := s.alias[id]; ok {
		return slices.Clone(s.h.Aliases[i])
	}
	return nil
}

// Lookup returns the records that name the package (ecosystem as in OSV,
// release suffix ignored), decoded, in snapshot order. It is safe for
// concurrent use. It fails with ErrGroupMissing when a record is in a group
// that was not added.
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
	refs, err := s.parseRefs(base, packed)
	if err != nil {
		return nil, err
	}
	out := make([]*Loaded, 0, len(refs))
	for _, r := range refs {
		l, err := s.load(r)
		if err != nil {
			return nil, err
		}
		out = append(out, l.clone())
	}
	return out, nil
}

// clone is a deep copy of l: the cache keeps the decoded record, each
// Lookup gets its own.
func (l *Loaded) clone() *Loaded {
	c := *l
	c.Aliases = slices.Clone(l.Aliases)
	c.Severity = slices.Clone(l.Severity)
	c.DatabaseSpecific = slices.Clone(l.DatabaseSpecific)
	c.Affected = slices.Clone(l.Affected)
	for i := range c.Affected {
		a := &c.Affected[i]
		a.Severity = slices.Clone(a.Severity)
		a.Versions = slices.Clone(a.Versions)
		a.EcosystemSpecific = slices.Clone(a.EcosystemSpecific)
		a.DatabaseSpecific = slices.Clone(a.DatabaseSpecific)
		a.Ranges = slices.Clone(a.Ranges)
		for j := range a.Ranges {
			a.Ranges[j].Events = slices.Clone(a.Ranges[j].Events)
		}
	}
	return &c
}

// load decodes one record; callers hold s.mu.
func (s *Snapshot) load(r ref) (*Loaded, error) {
	key := [2]int{r.group, r.off}
	if l, ok := s.cache[key]; ok {
		return l, nil
	}
	raw := s.groups[r.group][r.off : r.off+r.n]
	l := &Loaded{ContentID: canon.ContentID(raw)}
	if err := json.Unmarshal(raw, &l.Record); err != nil {
		return nil, fmt.Errorf("%w: record at offset %d of group %d: %v", ErrSnapshot, r.off, r.group, err)
	}
	s.cache[key] = l
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
func (s *Snapshot) AliasGroups() [][]string {
	out := make([][]string, len(s.h.Aliases))
	for i, g := range s.h.Aliases {
		out[i] = slices.Clone(g)
	}
	return out
}

// Bytes is the snapshot file of a complete snapshot (the index with its
// record groups), or nil when a group is missing.
func (s *Snapshot) Bytes() []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := len(s.index) + len(recordsKey) + 2
	for _, g := range s.groups {
		if g == nil {
			return nil
		}
		n += len(g) + 1
	}
	out := make([]byte, 0, n)
	out = append(out, s.index[:len(s.index)-1]...)
	out = append(out, recordsKey...)
	out = append(out, '[')
	for i, g := range s.groups {
		if i > 0 {
			out = append(out, ',')
		}
		out = append(out, g...)
	}
	return append(out, ']', '}')
}
