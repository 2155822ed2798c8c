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
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/stella-ops/stella-oras/internal/atomicfile"
)

// maxManifestBytes is the largest manifest the layer reads (and the
// distribution spec's suggested limit).
const maxManifestBytes = 4 << 20

var (
	// /v2/<name>/referrers/<digest>; names follow the distribution spec.
	referrersPath = regexp.MustCompile(`^/v2/((?:[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*)(?:/[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*)*)/referrers/([^/]+)$`)
	manifestPath  = regexp.MustCompile(`^/v2/((?:[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*)(?:/[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*)*)/manifests/([^/]+)$`)
)

// referrersLayer serves the referrers API and keeps its index: one file
// per (repository, subject) under <root>/stella-referrers, written
// atomically, so the index survives restarts. A reverse entry per
// referrer lets a manifest DELETE drop it from its subject's list.
type referrersLayer struct {
	next     http.Handler
	dir      string
	pageSize int
	// locks serialize the updates of one subject's index (striped by
	// repository and subject): writes are atomic and fsynced, and one
	// lock for the whole registry made every referrer push wait for every
	// other's fsync.
	locks [64]sync.Mutex
}

// lock locks the stripe of one subject's index and returns its unlock.
func (l *referrersLayer) lock(repo string, subject digest.Digest) func() {
	h := fnv.New32a()
	h.Write([]byte(repo))
	h.Write([]byte{0})
	h.Write([]byte(subject))
	m := &l.locks[h.Sum32()%uint32(len(l.locks))]
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
	return &referrersLayer{next: next, dir: dir, pageSize: pageSize}, nil
}

func (l *referrersLayer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if m := referrersPath.FindStringSubmatch(r.URL.Path); m != nil && (r.Method == http.MethodGet || r.Method == http.MethodHead) {
		l.list(w, r, m[1], m[2])
		return
	}
	if m := manifestPath.FindStringSubmatch(r.URL.Path); m != nil {
		switch r.Method {
		case http.MethodPut:
			l.put(w, r, m[1])
			return
		case http.MethodDelete:
			l.delete(w, r, m[1], m[2])
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
	if len(refs) > size {
		q := r.URL.Query()
		q.Set("last", refs[size-1].Digest.String())
		q.Set("n", strconv.Itoa(size))
		w.Header().Set("Link", fmt.Sprintf(`<%s?%s>; rel="next"`, r.URL.Path, q.Encode()))
		refs = refs[:size]
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
func (l *referrersLayer) put(w http.ResponseWriter, r *http.Request, repo string) {
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
	rec := httptest.NewRecorder()
	l.next.ServeHTTP(rec, r)
	if rec.Code == http.StatusAccepted {
		if d, err := digest.Parse(ref); err == nil {
			if err := l.remove(repo, d); err != nil {
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
	desc := ocispec.Descriptor{MediaType: mt, Digest: d, Size: int64(len(body)), ArtifactType: m.ArtifactType, Annotations: m.Annotations}
	if desc.ArtifactType == "" && mt == ocispec.MediaTypeImageManifest && m.Config != nil {
		desc.ArtifactType = m.Config.MediaType
	}
	return desc, *m.Subject, true
}

func (l *referrersLayer) indexPath(repo string, subject digest.Digest) string {
	return filepath.Join(l.dir, filepath.FromSlash(repo), "_subjects", subject.Algorithm().String(), subject.Encoded()+".json")
}

func (l *referrersLayer) reversePath(repo string, referrer digest.Digest) string {
	return filepath.Join(l.dir, filepath.FromSlash(repo), "_referrers", referrer.Algorithm().String(), referrer.Encoded())
}

func (l *referrersLayer) load(repo string, subject digest.Digest) ([]ocispec.Descriptor, error) {
	defer l.lock(repo, subject)()
	return l.read(l.indexPath(repo, subject))
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
	return writeAtomic(path, b)
}

func writeAtomic(path string, b []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return atomicfile.Write(path, b, 0o644)
}

func (l *referrersLayer) add(repo string, subject digest.Digest, desc ocispec.Descriptor) error {
	defer l.lock(repo, subject)()
	path := l.indexPath(repo, subject)
	refs, err := l.read(path)
	if err != nil {
		return err
	}
	refs = slices.DeleteFunc(refs, func(x ocispec.Descriptor) bool { return x.Digest == desc.Digest })
	refs = append(refs, desc)
	if err := l.write(path, refs); err != nil {
		return err
	}
	return writeAtomic(l.reversePath(repo, desc.Digest), []byte(subject.String()))
}

func (l *referrersLayer) remove(repo string, referrer digest.Digest) error {
	// A referrer's subject is fixed by its content, so the reverse entry
	// names the stripe to lock; it is read again under the lock, where
	// add writes it.
	rp := l.reversePath(repo, referrer)
	subject, ok, err := readSubject(rp)
	if err != nil || !ok {
		return err
	}
	defer l.lock(repo, subject)()
	if _, ok, err := readSubject(rp); err != nil || !ok {
		return err
	}
	path := l.indexPath(repo, subject)
	refs, err := l.read(path)
	if err != nil {
		return err
	}
	refs = slices.DeleteFunc(refs, func(x ocispec.Descriptor) bool { return x.Digest == referrer })
	if err := l.write(path, refs); err != nil {
		return err
	}
	return os.Remove(rp)
}

// readSubject reads a reverse entry: the subject a referrer refers to.
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
