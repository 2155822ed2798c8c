package registry

import (
	"archive/tar"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/content"
	"oras.land/oras-go/v2/content/oci"
	"oras.land/oras-go/v2/errdef"
	"oras.land/oras-go/v2/registry/remote"
	"oras.land/oras-go/v2/registry/remote/auth"
	"oras.land/oras-go/v2/registry/remote/credentials"
	"oras.land/oras-go/v2/registry/remote/errcode"
	"oras.land/oras-go/v2/registry/remote/retry"

	"github.com/stella-ops/stella-oras/internal/iox"
	"github.com/stella-ops/stella-oras/internal/readfile"
)

// Limits. Manifests are small JSON documents: the distribution spec lets
// registries refuse those above 4 MiB, so nothing larger is read.
const (
	MaxManifestBytes       = 4 << 20
	DefaultMaxBlobBytes    = 1 << 30
	DefaultMaxReferrerPage = 100
)

// Options configure access to a target. The zero value reads docker's
// config.json for credentials and uses HTTPS with the system roots.
type Options struct {
	// PlainHTTP talks HTTP instead of HTTPS (loopback registries).
	PlainHTTP bool
	// Insecure skips TLS verification.
	Insecure bool
	// CAFile adds a PEM CA bundle to the trusted roots.
	CAFile string
	// UserAgent is sent on every request; empty means "stella-oras".
	UserAgent string
	// Credentials overrides docker config.json (and its helpers).
	Credentials credentials.Store
	// MaxReferrerPages bounds referrers API pagination; listing fails
	// closed beyond it. 0 means DefaultMaxReferrerPage.
	MaxReferrerPages int
	// CredentialSource describes Credentials in error messages.
	CredentialSource string
	// IdleTimeout ends a request that sends or receives nothing for this
	// long (no response headers, no body bytes); 0 means
	// DefaultIdleTimeout. There is no bound on a request's total time, so
	// blobs of any size can be moved over slow links.
	IdleTimeout time.Duration
	// Retry, when set, replaces the default backoff policy (tests).
	Retry retry.Policy
	// ReadOnly: the command only reads, so a layout or layout tar that
	// does not exist is an error (ErrNotFound) instead of being created.
	ReadOnly bool
}

// dockerConfigPath is where docker (and oras-go) read credentials from.
func dockerConfigPath() string {
	if d := os.Getenv("DOCKER_CONFIG"); d != "" {
		return filepath.Join(d, "config.json")
	}
	home, _ := os.UserHomeDir()
	return filepath.Join(home, ".docker", "config.json")
}

func (t *Target) capability() (probed, has bool) {
	t.capMu.Lock()
	defer t.capMu.Unlock()
	return t.probed, t.hasAPI
}

func (t *Target) setCapability(has bool) {
	t.capMu.Lock()
	defer t.capMu.Unlock()
	if !t.probed {
		t.probed, t.hasAPI = true, has
		t.Remote.SetReferrersCapability(has)
	}
}

// annotate adds the credential source to authentication failures, so the
// user knows which credentials were tried.
func (t *Target) annotate(err error) error {
	var er *errcode.ErrorResponse
	if err != nil && errors.As(err, &er) && (er.StatusCode == http.StatusUnauthorized || er.StatusCode == http.StatusForbidden) {
		return fmt.Errorf("%w (credentials tried: %s)", err, t.credSource)
	}
	return err
}

// GraphTarget is what a target's operations run against: oras-go's
// oras.GraphTarget (content.GraphStorage and content.TagResolver), which
// values of either type satisfy. It is declared here so that the front
// binary does not link oras-go's root package, whose initialization (it
// compiles a media-type regexp) every command paid: about 0.5 ms.
type GraphTarget interface {
	content.GraphStorage
	content.TagResolver
}

// Target is an opened registry repository, OCI layout or OCI layout tar.
type Target struct {
	Ref Reference
	// Store is what oras-go operations run against.
	Store GraphTarget
	// Remote is set for registry targets.
	Remote *remote.Repository
	// layoutRoot is a layout's directory, absolute (Open).
	layoutRoot string
	// arch is a writable layout tar's store (committed by Close); tmpDir
	// the empty layout standing for an empty read-only one.
	arch   *archiveStore
	tmpDir string
	// referrers API capability of a remote target, learned once.
	capMu          sync.Mutex
	probed, hasAPI bool
	// credSource names where credentials came from, for 401/403 errors.
	credSource string
	// singlePost: whether the registry takes a blob in one POST
	// (singlePostState, upload.go); a mirror run shares one among the
	// targets of its destination registry.
	singlePost *atomic.Int32
}

// Open prepares a target. It does no I/O for remote targets.
func Open(ctx context.Context, ref Reference, opts Options) (*Target, error) {
	switch ref.Kind {
	case KindRemote:
		repo, err := remote.NewRepository(ref.Repository)
		if err != nil {
			return nil, fmt.Errorf("%w %q: %v", ErrReference, ref, err)
		}
		client, err := httpClient(opts)
		if err != nil {
			return nil, err
		}
		repo.Client = client
		repo.PlainHTTP = opts.PlainHTTP
		repo.MaxMetadataBytes = MaxManifestBytes
		// Keep superseded referrers-tag indexes: deleting them races with
		// concurrent attaches that read the same index.
		repo.SkipReferrersGC = true
		repo.ReferrerListMaxPages = opts.MaxReferrerPages
		if repo.ReferrerListMaxPages <= 0 {
			repo.ReferrerListMaxPages = DefaultMaxReferrerPage
		}
		src := "docker config.json (" + dockerConfigPath() + ") and its credential helpers"
		if opts.Credentials != nil {
			src = opts.CredentialSource
			if src == "" {
				src = "the given credential store"
			}
		}
		return &Target{Ref: ref, Store: repo, Remote: repo, credSource: src, singlePost: new(atomic.Int32)}, nil
	case KindLayout:
		// Every file of the layout is named from one absolute path, the
		// one oras-go's store makes (filepath.Abs: the working directory
		// as $PWD names it). A relative path used as given would resolve
		// ".." through the real directory instead, so that from a
		// directory reached by a link, oci:../out put blobs in one
		// directory and index.json in another.
		root, err := filepath.Abs(ref.Repository)
		if err != nil {
			return nil, fmt.Errorf("opening OCI layout %s: %w", ref.Repository, err)
		}
		if opts.ReadOnly {
			if _, err := os.Stat(filepath.Join(root, ocispec.ImageLayoutFile)); err != nil {
				return nil, fmt.Errorf("%w: no OCI layout at %s", ErrNotFound, ref.Repository)
			}
		}
		st, err := openLayoutStore(ctx, root)
		if err != nil {
			return nil, fmt.Errorf("opening OCI layout %s: %w", ref.Repository, err)
		}
		return &Target{Ref: ref, Store: st, layoutRoot: root}, nil
	case KindArchive:
		if opts.ReadOnly {
			return openArchiveReadOnly(ctx, ref)
		}
		st, err := openArchiveStore(ctx, ref.Repository)
		if err != nil {
			return nil, err
		}
		return &Target{Ref: ref, Store: st, arch: st}, nil
	}
	return nil, fmt.Errorf("%w: unknown kind %q", ErrReference, ref.Kind)
}

// Close commits: it writes a written OCI layout tar (archiveStore: by a
// temporary file and a rename) and removes temporary files. Later calls,
// and Discard after it, do nothing.
func (t *Target) Close() error {
	if t.arch != nil {
		a := t.arch
		t.arch = nil
		return a.commit()
	}
	if t.tmpDir != "" {
		os.RemoveAll(t.tmpDir)
		t.tmpDir = ""
	}
	return nil
}

// Discard drops what was written to an OCI layout tar since it was opened
// (the tar is left as it was) and removes temporary files: what a command
// that failed defers. After Close it does nothing. Registries and OCI
// layouts are written in place (children first, so a failed command leaves
// at most unreferenced blobs, never a manifest missing its blobs).
func (t *Target) Discard() {
	if t.arch != nil {
		t.arch.discard()
		t.arch = nil
	}
	if t.tmpDir != "" {
		os.RemoveAll(t.tmpDir)
		t.tmpDir = ""
	}
}

// HoldIndex makes an OCI layout target keep its index.json in memory
// until SaveIndex. Otherwise it is written at every manifest push and
// tag, as oras-go's store does, which is quadratic: in a mirror of one
// image with 200 referrers and their bundles into a layout, those
// rewrites were 44 % of the CPU. Other targets: nothing to hold. Callers
// that hold must call SaveIndex, on failure too (what was pushed stays
// usable: children are pushed first).
func (t *Target) HoldIndex() {
	if st := t.layoutStore(); st != nil {
		st.hold()
	}
}

// SaveIndex writes a held index.json (HoldIndex) if what it lists
// changed; otherwise it does nothing.
func (t *Target) SaveIndex() error {
	st := t.layoutStore()
	if st == nil {
		return nil
	}
	if err := st.save(); err != nil {
		return fmt.Errorf("writing the index of %s: %w", t.Ref, err)
	}
	return nil
}

func (t *Target) layoutStore() *layoutStore {
	st, _ := t.Store.(*layoutStore)
	return st
}

// clients are this process's HTTP clients, one per configuration: every
// target opened with the same options shares its connections (kept
// alive: no new TCP connection, no new TLS handshake) and its token cache
// (no new token request), as the ORAS CLI shares one client across a
// command. Before, each target had its own, and one `evaluate` opened a
// dozen (the image, the feed, the policy…), each dialing anew and, on a
// registry with token auth, fetching its own token. Options with their
// own credential store or retry policy get a client of their own; docker
// config.json is part of the key, so a different DOCKER_CONFIG is
// another client.
var clients struct {
	mu sync.Mutex
	m  map[clientKey]*auth.Client
}

type clientKey struct {
	insecure                     bool
	caFile, userAgent, dockerCfg string
	idle                         time.Duration
}

// maxIdlePerHost is how many idle connections to one registry are kept
// for reuse. net/http's default, 2, closes and redials most connections
// of a burst: a verdict is pushed with up to 8 requests at once per image,
// and --jobs runs several images.
const maxIdlePerHost = 64

func httpClient(opts Options) (*auth.Client, error) {
	if opts.Credentials != nil || opts.Retry != nil {
		return newHTTPClient(opts)
	}
	key := clientKey{insecure: opts.Insecure, caFile: opts.CAFile, userAgent: opts.UserAgent, dockerCfg: dockerConfigPath(), idle: opts.IdleTimeout}
	clients.mu.Lock()
	defer clients.mu.Unlock()
	if c, ok := clients.m[key]; ok {
		return c, nil
	}
	c, err := newHTTPClient(opts)
	if err != nil {
		return nil, err
	}
	if clients.m == nil {
		clients.m = map[clientKey]*auth.Client{}
	}
	clients.m[key] = c
	return c, nil
}

// MaxCAFileBytes bounds a --ca-file (counted as it is read): Mozilla's
// whole CA bundle is about 220 KB.
const MaxCAFileBytes = 8 << 20

func newHTTPClient(opts Options) (*auth.Client, error) {
	tlsConf := &tls.Config{InsecureSkipVerify: opts.Insecure} //nolint:gosec // --insecure is the user's explicit choice
	if opts.CAFile != "" {
		pem, err := readfile.File(opts.CAFile, MaxCAFileBytes)
		if err != nil {
			return nil, fmt.Errorf("reading --ca-file: %w", err)
		}
		pool, err := x509.SystemCertPool()
		if err != nil || pool == nil {
			pool = x509.NewCertPool()
		}
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("--ca-file %s: no PEM certificates", opts.CAFile)
		}
		tlsConf.RootCAs = pool
	}
	base := http.DefaultTransport.(*http.Transport).Clone()
	base.TLSClientConfig = tlsConf
	base.MaxIdleConnsPerHost = maxIdlePerHost
	idle := opts.IdleTimeout
	if idle <= 0 {
		idle = DefaultIdleTimeout
	}
	base.ResponseHeaderTimeout = idle
	rt := retry.NewTransport(&idleTransport{next: base, idle: idle})
	if opts.Retry != nil {
		rt.Policy = func() retry.Policy { return opts.Retry }
	}
	store := opts.Credentials
	if store == nil {
		s, err := credentials.NewStoreFromDocker(credentials.StoreOptions{})
		if err != nil {
			return nil, fmt.Errorf("reading docker credentials: %w", err)
		}
		store = s
	}
	ua := opts.UserAgent
	if ua == "" {
		ua = "stella-oras"
	}
	c := &auth.Client{
		Client:     &http.Client{Transport: rt},
		Cache:      auth.NewCache(),
		Credential: credentials.Credential(store),
		Header:     http.Header{"User-Agent": {ua}},
	}
	return c, nil
}

// Resolve returns the descriptor of ref (a tag or digest) in the target.
func (t *Target) Resolve(ctx context.Context, ref string) (ocispec.Descriptor, error) {
	d, err := t.Store.Resolve(ctx, ref)
	if err != nil {
		if errors.Is(err, errdef.ErrNotFound) {
			return ocispec.Descriptor{}, fmt.Errorf("%s: %w", t.Ref, ErrNotFound)
		}
		return ocispec.Descriptor{}, fmt.Errorf("resolving %s: %w", t.Ref, t.annotate(err))
	}
	return d, nil
}

// Bounds of an OCI layout tar as it is read or written: entries, and bytes in all
// (an OCI layout holds manifests and blobs; a few hundred thousand entries
// and tens of gigabytes are far past any image graph).
const (
	maxArchiveEntries = 200000
	maxArchiveBytes   = 64 << 30
)

// scanArchive reads an OCI layout tar's headers within the bounds above,
// refusing sparse entries, names that escape the layout, links and
// devices, and an entry whose data the file does not hold whole (a
// truncated tar), and calls visit for each directory and regular file
// (name cleaned; visit may read the entry from tr). An entry visit does
// not read is skipped by seeking, not read.
func scanArchive(src string, visit func(h *tar.Header, name string, tr *tar.Reader) error) error {
	f, err := os.Open(src)
	if err != nil {
		return err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return err
	}
	tr := tar.NewReader(f)
	entries, total, end := 0, int64(0), int64(0)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			// archive/tar ends quietly at a header boundary: a tar cut
			// between two entries is told by its missing end-of-archive
			// marker (two zero blocks after the last entry).
			// An empty file is an empty archive.
			zero := make([]byte, 1024)
			if n, _ := f.ReadAt(zero, end); st.Size() > 0 && (n != len(zero) || slices.ContainsFunc(zero, func(b byte) bool { return b != 0 })) {
				return fmt.Errorf("reading %s: %w (no end-of-archive marker after the last entry: a truncated archive)", src, io.ErrUnexpectedEOF)
			}
			return nil
		}
		if err != nil {
			return fmt.Errorf("reading %s: %w", src, err)
		}
		if pos, err := f.Seek(0, io.SeekCurrent); err == nil {
			end = pos + (h.Size+511)/512*512
		}
		for k := range h.PAXRecords {
			if strings.HasPrefix(k, "GNU.sparse.") {
				return fmt.Errorf("%s: entry %q: %w (sparse files are not allowed: a few bytes of map can claim gigabytes of holes)", src, h.Name, ErrUnsafePath)
			}
		}
		if pos, err := f.Seek(0, io.SeekCurrent); err == nil && pos+h.Size > st.Size() {
			return fmt.Errorf("reading %s: entry %q: %w (its %d bytes run past the end of the file: a truncated archive)", src, h.Name, io.ErrUnexpectedEOF, h.Size)
		}
		if entries++; entries > maxArchiveEntries {
			return fmt.Errorf("%s: %w: more than %d entries", src, ErrTooLarge, maxArchiveEntries)
		}
		if total += h.Size; h.Size < 0 || total > maxArchiveBytes {
			return fmt.Errorf("%s: %w: entries of more than %d bytes in all", src, ErrTooLarge, int64(maxArchiveBytes))
		}
		name := filepath.Clean(filepath.FromSlash(h.Name))
		if filepath.IsAbs(name) || name == ".." || strings.HasPrefix(name, ".."+string(filepath.Separator)) {
			return fmt.Errorf("%s: entry %q: %w", src, h.Name, ErrUnsafePath)
		}
		switch h.Typeflag {
		case tar.TypeDir, tar.TypeReg:
			if err := visit(h, name, tr); err != nil {
				return err
			}
		default:
			return fmt.Errorf("%s: entry %q: %w (links and devices are not allowed)", src, h.Name, ErrUnsafePath)
		}
	}
}

// openArchiveReadOnly opens an OCI layout tar for reading in place: its
// headers are checked (scanArchive) and its entries read where they lie
// in the file (oras-go's read-only store over the tar), with nothing
// unpacked: a command that only reads an archive (mirror's source,
// verify, replay, discover) costs no copy of it.
func openArchiveReadOnly(ctx context.Context, ref Reference) (*Target, error) {
	if _, err := os.Stat(ref.Repository); err != nil {
		return nil, fmt.Errorf("%w: no OCI layout tar at %s", ErrNotFound, ref.Repository)
	}
	if st, err := os.Stat(ref.Repository); err == nil && st.Size() == 0 {
		// An empty file is an empty archive: an empty layout, read-only.
		tmp, err := os.MkdirTemp("", "stella-oci-archive-")
		if err != nil {
			return nil, err
		}
		store, err := oci.NewWithContext(ctx, tmp)
		if err != nil {
			os.RemoveAll(tmp)
			return nil, err
		}
		return &Target{Ref: ref, Store: readOnlyLayout{store}, tmpDir: tmp}, nil
	}
	if err := scanArchive(ref.Repository, func(*tar.Header, string, *tar.Reader) error { return nil }); err != nil {
		return nil, err
	}
	st, err := oci.NewFromTar(ctx, ref.Repository)
	if err != nil {
		return nil, fmt.Errorf("opening OCI layout tar %s: %w", ref.Repository, err)
	}
	return &Target{Ref: ref, Store: readOnlyStore{st}}, nil
}

// ErrReadOnly: a write to a target opened to be read.
var ErrReadOnly = errors.New("opened read-only")

// readOnlyStore is oras-go's read-only layout store as a GraphTarget
// whose writes fail.
type readOnlyStore struct{ *oci.ReadOnlyStore }

// Fetch reads a blob of the tar until ctx is done (a file read has no
// context of its own).
func (s readOnlyStore) Fetch(ctx context.Context, d ocispec.Descriptor) (io.ReadCloser, error) {
	rc, err := s.ReadOnlyStore.Fetch(ctx, d)
	if err != nil {
		return nil, err
	}
	return iox.ContextReadCloser(ctx, rc), nil
}

func (readOnlyStore) Push(context.Context, ocispec.Descriptor, io.Reader) error { return ErrReadOnly }
func (readOnlyStore) Tag(context.Context, ocispec.Descriptor, string) error     { return ErrReadOnly }

// readOnlyLayout is a layout store (an empty archive's, unpacked) whose
// writes fail.
type readOnlyLayout struct{ GraphTarget }

func (readOnlyLayout) Push(context.Context, ocispec.Descriptor, io.Reader) error { return ErrReadOnly }
func (readOnlyLayout) Tag(context.Context, ocispec.Descriptor, string) error     { return ErrReadOnly }
