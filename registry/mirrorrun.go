package registry

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"

	"golang.org/x/sync/errgroup"
)

// MirrorRunOptions tune MirrorImages. The zero value mirrors one image at
// a time with MirrorOptions' defaults, HTTPS with docker's credentials
// on both sides, and no state (every run checks everything).
type MirrorRunOptions struct {
	MirrorOptions
	// Source and Destination configure access to each side.
	Source, Destination Options
	// Prefix: the destination is a registry prefix (host[/path]) under
	// which each image keeps its repository path, or a layout (or
	// layout tar) that receives every image; without it, the destination
	// names the repository of the one image.
	Prefix bool
	// Images is how many images are mirrored at once; 0 means 1.
	Images int
	// StateDir, when set, keeps a MirrorState per destination
	// repository there (incremental reruns); Full ignores what it holds
	// (everything is checked) and still updates it.
	StateDir string
	Full     bool
	// After, when set, runs for each image mirrored (not in a dry run,
	// not when the gate refused it) with both targets, before the
	// destination is committed: the verified mirror attaches its receipt.
	After func(ctx context.Context, src, dst *Target, rep *MirrorReport) error
}

// MirrorResult is one image's outcome: a report, or the error that
// stopped that image (the others go on).
type MirrorResult struct {
	Source      string        `json:"source"`
	Destination string        `json:"destination"`
	Report      *MirrorReport `json:"report,omitempty"`
	Error       string        `json:"error,omitempty"`
	Err         error         `json:"-"`
}

// MaxMirrorImages bounds one MirrorImages call.
const MaxMirrorImages = 10000

// MirrorImages mirrors each source image (a reference by tag or digest)
// to dst, o.Images at a time, and returns the results in input order. A
// layout or layout tar destination is opened once for all images and
// committed (a tar repacked) only when every image was mirrored; each
// state is saved once, with what the run copied, even when an image
// failed (what it records is true either way). The error is for what
// stops the whole run (a bad destination, a state that cannot be read);
// an image's own failure is in its result.
func MirrorImages(ctx context.Context, sources []string, dst string, o MirrorRunOptions) ([]MirrorResult, error) {
	if len(sources) > MaxMirrorImages {
		return nil, fmt.Errorf("%w: more than %d images in one run", ErrMirror, MaxMirrorImages)
	}
	if len(sources) > 1 && !o.Prefix {
		return nil, fmt.Errorf("%w: several images need a destination prefix", ErrMirror)
	}
	dref, err := ParseReference(dst)
	if err != nil {
		return nil, err
	}
	if dref.Digest != "" || (o.Prefix && dref.Tag != "") {
		return nil, fmt.Errorf("%w: %s: the destination is a repository or prefix (a tag only for one image, never a digest)", ErrMirror, dst)
	}
	r := &mirrorRun{o: o, states: map[string]*MirrorState{}}
	named := dref // what the results name as the destination
	// A layout is one store for every image: opened once, shared.
	var shared *Target
	var created *newLayout // what Open creates for a new layout
	if dref.Kind != KindRemote {
		dopts := o.Destination
		if o.DryRun {
			// A dry run creates nothing: a layout that does not exist yet
			// is planned against an empty one in a temporary directory.
			dopts.ReadOnly = true
			if _, err := Open(ctx, dref, dopts); errors.Is(err, ErrNotFound) {
				tmp, err := os.MkdirTemp("", "stella-mirror-plan-")
				if err != nil {
					return nil, err
				}
				defer os.RemoveAll(tmp)
				dref = Reference{Kind: KindLayout, Repository: tmp}
				dopts.ReadOnly = false
			}
		}
		if dref.Kind == KindLayout && !o.DryRun {
			created = beforeLayout(dref.Repository)
		}
		if shared, err = Open(ctx, dref, dopts); err != nil {
			created.remove()
			return nil, err
		}
		defer shared.Discard()
		if !o.DryRun {
			shared.HoldIndex()
		}
	}
	out := make([]MirrorResult, len(sources))
	g := errgroup.Group{}
	g.SetLimit(max(o.Images, 1))
	for i, s := range sources {
		out[i].Source = s
		g.Go(func() error {
			out[i].Destination, out[i].Report, out[i].Err = r.one(ctx, s, dref, shared)
			if out[i].Err != nil {
				out[i].Error = out[i].Err.Error()
			}
			return nil
		})
	}
	g.Wait()
	if dref.Kind != KindRemote {
		named.Tag, named.Digest = "", ""
		for i := range out {
			if out[i].Destination != "" {
				out[i].Destination = named.String()
			}
		}
	}
	failed, gated := false, false
	for _, res := range out {
		failed = failed || res.Err != nil
		// An image the gate refused is not an error here (the caller
		// makes it one), but nothing of it was written: a new layout
		// that holds nothing else goes as for a failure.
		gated = gated || o.Admit != nil && res.Report != nil && !res.Report.Admitted
	}
	if shared != nil && !o.DryRun {
		if (failed || gated) && created.remove() {
			// A new layout into which nothing was written (the run
			// failed while reading its source) is removed whole, with
			// the directories made for it: a failed command leaves the
			// disk as it was. One a failed run wrote into (its blobs
			// hold a file) is kept with what was completed, for the
			// rerun.
			return out, ctx.Err()
		}
		// A layout keeps what a failed run completed (each manifest with
		// its blobs); a layout tar is left as it was (Discard).
		if err := shared.SaveIndex(); err != nil {
			return nil, err
		}
		if !failed {
			if err := shared.Close(); err != nil {
				return nil, err
			}
		}
	}
	if err := r.save(); err != nil {
		return out, err
	}
	return out, ctx.Err()
}

// newLayout is what opening a layout that is not there yet creates: the
// layout's own entries (oci-layout, index.json, blobs, and oras-go's
// ingest directory) that its directory did not hold,
// and the directories of its path that did not exist, from dir up to top.
type newLayout struct {
	dir    string          // the layout's directory, absolute
	top    string          // the topmost directory made for it; "" when dir existed
	before map[string]bool // dir's entries before (when it existed)
}

// beforeLayout notes what path holds before a layout is opened there (nil
// when it holds a layout, is not a directory, or cannot be read: then
// nothing is removed).
func beforeLayout(path string) *newLayout {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil
	}
	if _, err := os.Lstat(filepath.Join(abs, "oci-layout")); !errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if fi, err := os.Lstat(abs); err == nil {
		// Something is there: a directory (or a link to one) without a
		// layout has its entries noted; anything else (a file, a
		// dangling link) is no layout's to remove.
		ents, err := os.ReadDir(abs)
		if err != nil || !fi.IsDir() && fi.Mode()&fs.ModeSymlink == 0 {
			return nil
		}
		n := &newLayout{dir: abs, before: map[string]bool{}}
		for _, e := range ents {
			n.before[e.Name()] = true
		}
		return n
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	top := abs
	for {
		up := filepath.Dir(top)
		if up == top {
			break
		}
		if _, err := os.Lstat(up); !errors.Is(err, fs.ErrNotExist) {
			break
		}
		top = up
	}
	return &newLayout{dir: abs, top: top}
}

// remove removes what the layout's opening created, and only that: the
// layout's own entries it added, then each directory made for it that is
// empty, from the layout's up. blobs and ingest go only while they hold no
// file; when one does (this run's blobs, or another writer's meanwhile),
// the layout is left whole and remove reports false. Nothing is removed
// recursively, so files another process put there meanwhile stay, and so
// do the directories that hold them.
func (n *newLayout) remove() bool {
	if n == nil {
		return false
	}
	// Both are looked at before either goes: a file in one keeps the
	// layout whole, the other with it. One that was there before (empty,
	// or another's) is never removed; what it holds now may be this run's
	// blobs, so a file in it keeps the layout too.
	for _, name := range []string{"blobs", "ingest"} {
		if holdsFile(filepath.Join(n.dir, name)) {
			return false
		}
	}
	for _, name := range []string{"blobs", "ingest"} {
		p := filepath.Join(n.dir, name)
		if n.before[name] {
			continue
		}
		if fi, err := os.Lstat(p); err == nil && fi.IsDir() {
			removeEmptyTree(p)
		}
		if _, err := os.Lstat(p); err == nil {
			return false // a file came meanwhile
		}
	}
	for _, name := range []string{"oci-layout", "index.json"} {
		if !n.before[name] {
			os.Remove(filepath.Join(n.dir, name))
		}
	}
	for d := n.dir; n.top != ""; d = filepath.Dir(d) {
		if os.Remove(d) != nil || d == n.top {
			break
		}
	}
	return true
}

// holdsFile reports whether the tree under dir holds anything but
// directories, stopping at the first such entry (a directory that cannot
// be read counts as holding one: nothing is removed on a guess).
func holdsFile(dir string) bool {
	f, err := os.Open(dir)
	if err != nil {
		return !errors.Is(err, fs.ErrNotExist)
	}
	defer f.Close()
	for {
		ents, err := f.ReadDir(64)
		for _, e := range ents {
			if !e.IsDir() || holdsFile(filepath.Join(dir, e.Name())) {
				return true
			}
		}
		if err == io.EOF {
			return false
		}
		if err != nil {
			return true
		}
	}
}

// removeEmptyTree removes dir and the directories under it, bottom up,
// while they hold no file (a layout's blobs/sha256 of a run that wrote no
// blob). It stops at the first file it meets: dir then stays, and a large
// blobs/sha256 is not listed whole.
func removeEmptyTree(dir string) {
	f, err := os.Open(dir)
	if err != nil {
		return
	}
	var subdirs []string
	for {
		ents, err := f.ReadDir(64)
		for _, e := range ents {
			if !e.IsDir() {
				f.Close()
				return
			}
			subdirs = append(subdirs, e.Name())
		}
		if err != nil {
			break
		}
	}
	f.Close()
	for _, sub := range subdirs {
		removeEmptyTree(filepath.Join(dir, sub))
	}
	os.Remove(dir) // fails, and keeps it, when anything is left
}

type mirrorRun struct {
	o      MirrorRunOptions
	mu     sync.Mutex
	states map[string]*MirrorState // by destination repository
	// singlePost is shared by the run's destination targets (Target.singlePost).
	singlePost atomic.Int32
}

func (r *mirrorRun) one(ctx context.Context, source string, dref Reference, shared *Target) (string, *MirrorReport, error) {
	sref, err := ParseReference(source)
	if err != nil {
		return "", nil, err
	}
	if sref.Ref() == "" {
		return "", nil, fmt.Errorf("%w: %s: name the image by tag or digest", ErrMirror, source)
	}
	src, err := Open(ctx, sref, withReadOnly(r.o.Source))
	if err != nil {
		return "", nil, err
	}
	defer src.Discard()
	d := dref
	if r.o.Prefix && d.Kind == KindRemote {
		path := sref.Repository
		if sref.Kind == KindRemote {
			_, path, _ = strings.Cut(sref.Repository, "/")
		} else {
			path = filepath.Base(path)
		}
		d.Repository = strings.TrimSuffix(d.Repository, "/") + "/" + path
	}
	dt := shared
	if dt == nil {
		if dt, err = Open(ctx, d, r.o.Destination); err != nil {
			return "", nil, err
		}
		defer dt.Discard()
		// Every image goes to the same registry: what one learnt of its
		// uploads holds for the next.
		if dt.Remote != nil {
			dt.singlePost = &r.singlePost
		}
	}
	mo := r.o.MirrorOptions
	if !r.o.Prefix && d.Tag != "" {
		mo.Tag = d.Tag
	}
	if r.o.StateDir != "" {
		st, err := r.state(d)
		if err != nil {
			return "", nil, err
		}
		mo.State = st
		mo.UploadDir = filepath.Join(r.o.StateDir, stateKey(d)+".uploads")
	}
	rep, err := Mirror(ctx, src, dt, sref.Ref(), mo)
	if err == nil && r.o.After != nil && !mo.DryRun && (mo.Admit == nil || rep.Admitted) {
		err = r.o.After(ctx, src, dt, rep)
	}
	d.Tag, d.Digest = "", ""
	return d.String(), rep, err
}

func withReadOnly(o Options) Options {
	o.ReadOnly = true
	return o
}

// stateKey names a destination repository's state file.
func stateKey(d Reference) string {
	d.Tag, d.Digest = "", ""
	s := d.Kind + ":" + d.String()
	if d.Kind != KindRemote {
		if abs, err := filepath.Abs(d.Repository); err == nil {
			s = d.Kind + ":" + abs
		}
	}
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:16])
}

func (r *mirrorRun) state(d Reference) (*MirrorState, error) {
	k := stateKey(d)
	r.mu.Lock()
	defer r.mu.Unlock()
	if st, ok := r.states[k]; ok {
		return st, nil
	}
	// Full trusts nothing; what this run copies is still recorded.
	st := &MirrorState{Version: mirrorStateVersion}
	if !r.o.Full {
		var err error
		if st, err = LoadMirrorState(filepath.Join(r.o.StateDir, k+".json")); err != nil {
			return nil, err
		}
	}
	r.states[k] = st
	return st, nil
}

func (r *mirrorRun) save() error {
	if r.o.DryRun || r.o.StateDir == "" {
		return nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	var errs []error
	for k, st := range r.states {
		errs = append(errs, st.Save(filepath.Join(r.o.StateDir, k+".json")))
	}
	return errors.Join(errs...)
}
