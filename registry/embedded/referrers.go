package embedded

import (
	"bytes"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/stella-ops/stella-oras/internal/atomicfile"
)

// maxManifestBytes is the largest manifest the layer reads (and the
// distribution spec's suggested limit).
const maxManifestBytes = 4 << 20

const (
	// maxPageBytes cuts a referrers page by size as well as by count, well
	// under the 4 MiB that clients (this one, oras-go) accept for a page:
	// one large referrer must not make a subject unlistable for everyone.
	maxPageBytes = 1 << 20
	// maxAnnotationBytes bounds the annotations copied from a referrer's
	// manifest into its descriptor (keys and values, in key order; what
	// does not fit is left out and the descriptor says so). The manifest
	// itself keeps them all.
	maxAnnotationBytes = 64 << 10
	// AnnotationTruncated marks a descriptor whose annotations were cut.
	AnnotationTruncated = "org.stellaops.referrers.annotations-truncated"
)

// referrersLayer serves the referrers API and keeps its index: one file
// per (repository, subject) under <root>/stella-referrers, written
// atomically, so the index survives restarts. A manifest DELETE reads the
// manifest's subject from storage before it forwards the DELETE, and then
// drops the referrer from that subject's list. (Earlier versions wrote a
// reverse entry per referrer for this, a synced file each: 400 of the
// destination's writes in a mirror of 200 referrers with their bundles.
// Those still on disk are removed with their referrer.)
type referrersLayer struct {
	next     http.Handler
	store    distTree // distribution's tree, read for what storage holds
	dir      string
	pageSize int
	// manifests serialize a PUT and a DELETE of the same manifest (by
	// repository and digest, striped): each forwards to storage and then
	// updates the index, and without this a PUT's index update could land
	// after a DELETE's and list a deleted referrer forever. Taken before
	// a subject's lock, never after.
	manifests [64]sync.Mutex
	// locks serialize the updates of one subject's index (striped by
	// repository and subject): writes are atomic and fsynced, and one
	// lock for the whole registry made every referrer push wait for every
	// other's fsync.
	locks [64]sync.Mutex
	// groups are the adds waiting to be written, by repository and
	// subject (add's group commit).
	gmu    sync.Mutex
	groups map[string]*addBatch
	// indexWrites counts index files written (a test holds the group
	// commit to it).
	indexWrites atomic.Int64
}

// lock locks the stripe of one subject's index and returns its unlock.
func (l *referrersLayer) lock(repo string, subject digest.Digest) func() {
	return lockStripe(&l.locks, repo, string(subject))
}

func lockStripe(locks *[64]sync.Mutex, repo, key string) func() {
	h := fnv.New32a()
	h.Write([]byte(repo))
	h.Write([]byte{0})
	h.Write([]byte(key))
	m := &locks[h.Sum32()%uint32(len(locks))]
	m.Lock()
	return m.Unlock
}

func newReferrersLayer(next http.Handler, root string, pageSize int) (http.Handler, error) {
	dir := filepath.Join(root, "stella-referrers")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	if pageSize <= 0 {
		pageSize = 1000
	}
	return &referrersLayer{next: next, store: distTreeOf(root), dir: dir, pageSize: pageSize, groups: map[string]*addBatch{}}, nil
}

func (l *referrersLayer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	// /v2/<name>/referrers/<digest> and /v2/<name>/manifests/<ref>;
	// names follow the distribution spec.
	if r.Method == http.MethodGet || r.Method == http.MethodHead {
		if name, ref, ok := specRoute(r.URL.Path, "referrers"); ok {
			l.list(w, r, name, ref)
			return
		}
	}
	if r.Method == http.MethodPut || r.Method == http.MethodDelete {
		if name, ref, ok := specRoute(r.URL.Path, "manifests"); ok {
			if r.Method == http.MethodPut {
				l.put(w, r, name, ref)
			} else {
				l.delete(w, r, name, ref)
			}
			return
		}
	}
	l.next.ServeHTTP(w, r)
}

type ociError struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

func writeError(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string][]ociError{"errors": {{Code: code, Message: msg}}})
}

// list answers GET /v2/<name>/referrers/<digest>[?artifactType=…].
func (l *referrersLayer) list(w http.ResponseWriter, r *http.Request, repo, ref string) {
	d, err := digest.Parse(ref)
	if err != nil {
		writeError(w, http.StatusBadRequest, "DIGEST_INVALID", "invalid digest: "+err.Error())
		return
	}
	refs, err := l.load(repo, d)
	if err != nil {
		writeError(w, http.StatusInternalServerError, "UNKNOWN", err.Error())
		return
	}
	if at := r.URL.Query().Get("artifactType"); at != "" {
		refs = slices.DeleteFunc(refs, func(x ocispec.Descriptor) bool { return x.ArtifactType != at })
		w.Header().Set("OCI-Filters-Applied", "artifactType")
	}
	// Pages are cut in digest order (the stored order), after the ?last=
	// cursor, at most pageSize (or ?n=) long, with a Link to the next.
	size := l.pageSize
	if n, err := strconv.Atoi(r.URL.Query().Get("n")); err == nil && n > 0 && n < size {
		size = n
	}
	if last := r.URL.Query().Get("last"); last != "" {
		i := slices.IndexFunc(refs, func(x ocispec.Descriptor) bool { return x.Digest.String() > last })
		if i < 0 {
			i = len(refs)
		}
		refs = refs[i:]
	}
	cut := min(len(refs), size)
	for i, total := 0, 0; i < cut; i++ {
		b, _ := json.Marshal(refs[i])
		if total += len(b) + 1; total > maxPageBytes && i > 0 {
			cut = i
		}
	}
	if len(refs) > cut {
		q := r.URL.Query()
		q.Set("last", refs[cut-1].Digest.String())
		q.Set("n", strconv.Itoa(size))
		w.Header().Set("Link", fmt.Sprintf(`<%s?%s>; rel="next"`, r.URL.Path, q.Encode()))
		refs = refs[:cut]
	}
	if refs == nil {
		refs = []ocispec.Descriptor{}
	}
	body, err := json.Marshal(ocispec.Index{
		Versioned: ocispecVersioned,
		MediaType: ocispec.MediaTypeImageIndex,
		Manifests: refs,
	})
	if err != nil {
		writeError(w, http.StatusInternalServerError, "UNKNOWN", err.Error())
		return
	}
	w.Header().Set("Content-Type", ocispec.MediaTypeImageIndex)
	w.Header().Set("Content-Length", fmt.Sprint(len(body)))
	w.WriteHeader(http.StatusOK)
	if r.Method == http.MethodGet {
		w.Write(body)
	}
}

// put forwards a manifest PUT and, when it succeeded and the manifest has
// a subject, records the referrer and answers with OCI-Subject.
func (l *referrersLayer) put(w http.ResponseWriter, r *http.Request, repo, ref string) {
	body, err := io.ReadAll(io.LimitReader(r.Body, maxManifestBytes+1))
	if err != nil {
		writeError(w, http.StatusBadRequest, "MANIFEST_INVALID", err.Error())
		return
	}
	if len(body) > maxManifestBytes {
		writeError(w, http.StatusRequestEntityTooLarge, "SIZE_INVALID", fmt.Sprintf("manifest larger than %d bytes", maxManifestBytes))
		return
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	r.ContentLength = int64(len(body))
	key := ref
	if _, err := digest.Parse(ref); err != nil {
		key = digest.FromBytes(body).String()
	}
	defer lockStripe(&l.manifests, repo, key)()
	rec := httptest.NewRecorder()
	l.next.ServeHTTP(rec, r)
	var subject *ocispec.Descriptor
	if rec.Code == http.StatusCreated {
		desc, subj, ok := referrerOf(body, r.Header.Get("Content-Type"), rec.Header().Get("Docker-Content-Digest"))
		if ok {
			if err := l.add(repo, subj.Digest, desc); err != nil {
				writeError(w, http.StatusInternalServerError, "UNKNOWN", "recording referrer: "+err.Error())
				return
			}
			subject = &subj
		}
	}
	for k, v := range rec.Header() {
		w.Header()[k] = v
	}
	if subject != nil {
		w.Header().Set("OCI-Subject", subject.Digest.String())
	}
	w.WriteHeader(rec.Code)
	w.Write(rec.Body.Bytes())
}

// delete forwards a manifest DELETE and drops a deleted referrer from its
// subject's list.
func (l *referrersLayer) delete(w http.ResponseWriter, r *http.Request, repo, ref string) {
	defer lockStripe(&l.manifests, repo, ref)()
	// The subject, from the manifest as stored, read before it is gone
	// (the lock above keeps a PUT of it from landing in between).
	d, derr := digest.Parse(ref)
	var subject digest.Digest
	if derr == nil {
		subject = l.subjectOf(repo, d)
	}
	rec := httptest.NewRecorder()
	l.next.ServeHTTP(rec, r)
	if rec.Code == http.StatusAccepted {
		if derr == nil {
			if err := l.remove(repo, d, subject); err != nil {
				writeError(w, http.StatusInternalServerError, "UNKNOWN", "updating referrers: "+err.Error())
				return
			}
		}
	}
	for k, v := range rec.Header() {
		w.Header()[k] = v
	}
	w.WriteHeader(rec.Code)
	w.Write(rec.Body.Bytes())
}

var ocispecVersioned = ocispec.Index{}.Versioned

func init() { ocispecVersioned.SchemaVersion = 2 }

// referrerOf reads a pushed manifest: its descriptor as a referrer
// (artifactType, or for an image manifest the config media type, as the
// distribution spec says; annotations) and its subject.
func referrerOf(body []byte, contentType, dgst string) (ocispec.Descriptor, ocispec.Descriptor, bool) {
	var m struct {
		MediaType    string              `json:"mediaType"`
		ArtifactType string              `json:"artifactType"`
		Config       *ocispec.Descriptor `json:"config"`
		Subject      *ocispec.Descriptor `json:"subject"`
		Annotations  map[string]string   `json:"annotations"`
	}
	if json.Unmarshal(body, &m) != nil || m.Subject == nil || m.Subject.Digest.Validate() != nil {
		return ocispec.Descriptor{}, ocispec.Descriptor{}, false
	}
	mt := m.MediaType
	if mt == "" {
		mt, _, _ = strings.Cut(contentType, ";")
	}
	d := digest.FromBytes(body)
	if parsed, err := digest.Parse(dgst); err == nil && parsed.Algorithm() != d.Algorithm() {
		d = parsed.Algorithm().FromBytes(body)
	}
	desc := ocispec.Descriptor{MediaType: mt, Digest: d, Size: int64(len(body)), ArtifactType: m.ArtifactType, Annotations: boundAnnotations(m.Annotations)}
	if desc.ArtifactType == "" && mt == ocispec.MediaTypeImageManifest && m.Config != nil {
		desc.ArtifactType = m.Config.MediaType
	}
	return desc, *m.Subject, true
}

// boundAnnotations keeps, in key order, the annotations that fit in
// maxAnnotationBytes, and marks the result when any were left out.
func boundAnnotations(a map[string]string) map[string]string {
	total := 0
	for k, v := range a {
		total += len(k) + len(v)
	}
	if total <= maxAnnotationBytes {
		return a
	}
	keys := make([]string, 0, len(a))
	for k := range a {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	out := map[string]string{AnnotationTruncated: "true"}
	used := len(AnnotationTruncated) + len("true")
	for _, k := range keys {
		if n := len(k) + len(a[k]); used+n <= maxAnnotationBytes {
			out[k] = a[k]
			used += n
		}
	}
	return out
}

func (l *referrersLayer) indexPath(repo string, subject digest.Digest) string {
	return filepath.Join(l.dir, filepath.FromSlash(repo), "_subjects", subject.Algorithm().String(), subject.Encoded()+".json")
}

func (l *referrersLayer) reversePath(repo string, referrer digest.Digest) string {
	return filepath.Join(l.dir, filepath.FromSlash(repo), "_referrers", referrer.Algorithm().String(), referrer.Encoded())
}

// load reads a subject's index and repairs it: an entry whose manifest
// is gone from storage (deleted behind the layer's back, or an index
// written before a crash) is dropped and the index rewritten.
func (l *referrersLayer) load(repo string, subject digest.Digest) ([]ocispec.Descriptor, error) {
	defer l.lock(repo, subject)()
	path := l.indexPath(repo, subject)
	refs, err := l.read(path)
	if err != nil {
		return nil, err
	}
	var kept, gone []ocispec.Descriptor
	for _, x := range refs {
		if l.stored(repo, x.Digest) {
			kept = append(kept, x)
		} else {
			gone = append(gone, x)
		}
	}
	if len(gone) == 0 {
		return refs, nil
	}
	if err := l.write(path, kept); err != nil {
		return nil, err
	}
	for _, x := range gone {
		os.Remove(l.reversePath(repo, x.Digest))
	}
	return kept, nil
}

// stored reports whether the repository holds the manifest: its revision
// link in distribution's filesystem layout (stable since distribution 2.0;
// a stat per entry, where a HEAD through distribution reads two files and
// a blob's metadata). An error other than "not there" counts as stored:
// the index is repaired only on certain loss.
func (l *referrersLayer) stored(repo string, d digest.Digest) bool {
	_, err := os.Stat(l.store.link(repo, d, "_manifests", "revisions"))
	return !os.IsNotExist(err)
}

func (l *referrersLayer) read(path string) ([]ocispec.Descriptor, error) {
	b, err := os.ReadFile(path)
	if os.IsNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var refs []ocispec.Descriptor
	if err := json.Unmarshal(b, &refs); err != nil {
		return nil, fmt.Errorf("referrers index %s: %w", path, err)
	}
	return refs, nil
}

func (l *referrersLayer) write(path string, refs []ocispec.Descriptor) error {
	slices.SortFunc(refs, func(a, b ocispec.Descriptor) int { return strings.Compare(a.Digest.String(), b.Digest.String()) })
	b, err := json.Marshal(refs)
	if err != nil {
		return err
	}
	l.indexWrites.Add(1)
	return writeAtomic(path, b)
}

func writeAtomic(path string, b []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return atomicfile.Write(path, b, 0o644)
}

// add records desc as a referrer of subject, by group commit: the adds to
// one subject that arrive while its index is being written wait for the
// lock together, and the first of them to get it writes them all in one
// read and one (fsynced) write of the index. Before, each add rewrote the
// whole index alone: 200 referrers pushed at once to one image were 200
// rewrites of a growing file, one after another.
func (l *referrersLayer) add(repo string, subject digest.Digest, desc ocispec.Descriptor) error {
	key := repo + "\x00" + subject.String()
	l.gmu.Lock()
	b := l.groups[key]
	if b == nil {
		b = &addBatch{done: make(chan struct{})}
		l.groups[key] = b
	}
	b.adds = append(b.adds, desc)
	l.gmu.Unlock()

	unlock := l.lock(repo, subject)
	l.gmu.Lock()
	mine := l.groups[key] == b
	if mine {
		delete(l.groups, key) // later adds start the next batch
	}
	l.gmu.Unlock()
	if mine {
		b.err = l.apply(repo, subject, b.adds)
		close(b.done)
	}
	unlock()
	// Not mine: the add that took the batch held the lock before this
	// one got it, and finished before it let go.
	<-b.done
	return b.err
}

// addBatch is the adds to one subject written together.
type addBatch struct {
	adds []ocispec.Descriptor
	done chan struct{}
	err  error
}

// apply writes adds into subject's index and their reverse entries. The
// subject's lock is held.
func (l *referrersLayer) apply(repo string, subject digest.Digest, adds []ocispec.Descriptor) error {
	path := l.indexPath(repo, subject)
	refs, err := l.read(path)
	if err != nil {
		return err
	}
	for _, desc := range adds {
		refs = slices.DeleteFunc(refs, func(x ocispec.Descriptor) bool { return x.Digest == desc.Digest })
		refs = append(refs, desc)
	}
	return l.write(path, refs)
}

// subjectOf is the subject of manifest d in repo as storage holds it
// (its revision link and blob, in distribution's filesystem layout), or
// what an earlier version's reverse entry names; "" if neither says.
func (l *referrersLayer) subjectOf(repo string, d digest.Digest) digest.Digest {
	if _, f, fi, ok := l.store.openLinked(repo, d.String(), "_manifests", "revisions"); ok {
		b, err := io.ReadAll(io.LimitReader(f, maxManifestBytes))
		f.Close()
		if err == nil && int64(len(b)) == fi.Size() {
			if _, subj, ok := referrerOf(b, "", d.String()); ok {
				return subj.Digest
			}
			return ""
		}
	}
	if subj, ok, err := readSubject(l.reversePath(repo, d)); err == nil && ok {
		return subj
	}
	return ""
}

// remove drops a deleted referrer from its subject's list (subject: what
// subjectOf read before the DELETE; "" for a manifest that named none).
func (l *referrersLayer) remove(repo string, referrer, subject digest.Digest) error {
	rp := l.reversePath(repo, referrer)
	defer os.Remove(rp) // an earlier version's reverse entry
	if subject == "" {
		return nil
	}
	defer l.lock(repo, subject)()
	path := l.indexPath(repo, subject)
	refs, err := l.read(path)
	if err != nil {
		return err
	}
	n := len(refs)
	refs = slices.DeleteFunc(refs, func(x ocispec.Descriptor) bool { return x.Digest == referrer })
	if len(refs) == n {
		return nil
	}
	return l.write(path, refs)
}

// readSubject reads an earlier version's reverse entry: the subject a
// referrer refers to.
func readSubject(rp string) (digest.Digest, bool, error) {
	b, err := os.ReadFile(rp)
	if os.IsNotExist(err) {
		return "", false, nil
	}
	if err != nil {
		return "", false, err
	}
	d, err := digest.Parse(string(b))
	if err != nil {
		return "", false, err
	}
	return d, true, nil
}
