package registry

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/content"
	"oras.land/oras-go/v2/errdef"
)

// PullOptions tune Pull.
type PullOptions struct {
	// MaxBlobBytes bounds each blob; 0 means DefaultMaxBlobBytes.
	MaxBlobBytes int64
	// Force replaces files that already exist in the directory; without
	// it a pull that would overwrite one fails before writing anything.
	Force bool
}

// PulledFile is one layer written to disk.
type PulledFile struct {
	Path       string             `json:"path"`
	Descriptor ocispec.Descriptor `json:"descriptor"`
}

// Pulled describes a pulled artifact.
type Pulled struct {
	Manifest ocispec.Descriptor `json:"manifest"`
	Files    []PulledFile       `json:"files"`
}

// Pull fetches the manifest at dgst and its layers, checking every digest
// and size, and writes the layers into dir (named by their
// org.opencontainers.image.title, else by digest). Everything is written
// to a temporary directory first and moved into dir only when all of it
// verified and no file in dir would be overwritten (unless Force), so a
// failure leaves nothing behind: not a file, not a directory it created.
func Pull(ctx context.Context, t *Target, dgst digest.Digest, dir string, opts PullOptions) (_ *Pulled, err error) {
	maxBlob := opts.MaxBlobBytes
	if maxBlob <= 0 {
		maxBlob = DefaultMaxBlobBytes
	}
	mdesc, err := t.Resolve(ctx, dgst.String())
	if err != nil {
		return nil, err
	}
	if mdesc.Digest != dgst {
		return nil, fmt.Errorf("%s: %w: asked for %s, registry answered %s", t.Ref, ErrDigestMismatch, dgst, mdesc.Digest)
	}
	if mdesc.Size > MaxManifestBytes {
		return nil, fmt.Errorf("%s: manifest %w: %d bytes > %d", t.Ref, ErrTooLarge, mdesc.Size, MaxManifestBytes)
	}
	mb, err := fetchVerified(ctx, t, mdesc)
	if err != nil {
		return nil, err
	}
	var m ocispec.Manifest
	if err := json.Unmarshal(mb, &m); err != nil {
		return nil, fmt.Errorf("%s: manifest %s: %v", t.Ref, dgst, err)
	}
	created, err := mkdirAll(dir)
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil && created != "" {
			os.RemoveAll(created)
		}
	}()
	tmp, err := os.MkdirTemp(dir, ".pull-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	res := &Pulled{Manifest: mdesc}
	names := map[string]bool{}
	for _, l := range m.Layers {
		if l.Size > maxBlob || l.Size < 0 {
			return nil, fmt.Errorf("%s: blob %s %w: %d bytes > %d", t.Ref, l.Digest, ErrTooLarge, l.Size, maxBlob)
		}
		name, err := safeName(l)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", t.Ref, err)
		}
		if names[name] {
			return nil, fmt.Errorf("%s: two layers named %q", t.Ref, name)
		}
		names[name] = true
		if err := fetchToFile(ctx, t, l, filepath.Join(tmp, name)); err != nil {
			return nil, err
		}
		res.Files = append(res.Files, PulledFile{Path: filepath.Join(dir, name), Descriptor: l})
	}
	if err := moveIn(tmp, res.Files, opts.Force); err != nil {
		return nil, fmt.Errorf("%s: %w", t.Ref, err)
	}
	return res, nil
}

// mkdirAll is os.MkdirAll that returns the topmost directory it created
// ("" when dir existed), for removal if what follows fails.
func mkdirAll(dir string) (string, error) {
	top := ""
	for d := filepath.Clean(dir); ; d = filepath.Dir(d) {
		if _, err := os.Lstat(d); err == nil {
			break
		} else if !os.IsNotExist(err) {
			return "", err
		}
		top = d
		if filepath.Dir(d) == d {
			break
		}
	}
	return top, os.MkdirAll(dir, 0o755)
}

// moveIn moves the verified files from tmp into place: first it checks
// that none would replace a directory or (without force) a file, then it
// moves them, putting everything back if a move fails.
func moveIn(tmp string, files []PulledFile, force bool) error {
	existed := make([]bool, len(files))
	for i, f := range files {
		st, err := os.Lstat(f.Path)
		switch {
		case os.IsNotExist(err):
		case err != nil:
			return err
		case st.IsDir():
			return fmt.Errorf("%s is a directory: %w", f.Path, ErrExists)
		case !force:
			return fmt.Errorf("%s: %w (--force replaces it)", f.Path, ErrExists)
		default:
			existed[i] = true
		}
	}
	backup := func(i int) string { return filepath.Join(tmp, fmt.Sprintf(".old-%d", i)) }
	for i, f := range files {
		err := error(nil)
		if existed[i] {
			err = os.Rename(f.Path, backup(i))
		}
		if err == nil {
			if err = os.Rename(filepath.Join(tmp, filepath.Base(f.Path)), f.Path); err != nil && existed[i] {
				os.Rename(backup(i), f.Path)
			}
		}
		if err != nil {
			for j := i - 1; j >= 0; j-- {
				if existed[j] {
					os.Rename(backup(j), files[j].Path)
				} else {
					os.Remove(files[j].Path)
				}
			}
			return err
		}
	}
	return nil
}

// safeName is the file name of a layer: its title if it is a plain file
// name, else its digest's hex.
func safeName(l ocispec.Descriptor) (string, error) {
	if err := l.Digest.Validate(); err != nil {
		return "", fmt.Errorf("layer digest %q: %w", l.Digest, err)
	}
	title := l.Annotations[ocispec.AnnotationTitle]
	if title == "" {
		return l.Digest.Encoded(), nil
	}
	if title != filepath.Base(title) || title == "." || title == ".." || strings.ContainsAny(title, `/\`) || filepath.IsAbs(title) {
		return "", fmt.Errorf("layer title %q: %w", title, ErrUnsafePath)
	}
	return title, nil
}

func fetchVerified(ctx context.Context, t *Target, d ocispec.Descriptor) ([]byte, error) {
	rc, err := t.Store.Fetch(ctx, d)
	if err != nil {
		if errors.Is(err, errdef.ErrNotFound) {
			return nil, fmt.Errorf("%s: %s: %w", t.Ref, d.Digest, ErrNotFound)
		}
		return nil, fmt.Errorf("fetching %s from %s: %w", d.Digest, t.Ref, t.annotate(err))
	}
	defer rc.Close()
	b, err := content.ReadAll(rc, d)
	if err != nil {
		return nil, readError(t, d, err)
	}
	return b, nil
}

func fetchToFile(ctx context.Context, t *Target, d ocispec.Descriptor, path string) (err error) {
	rc, err := t.Store.Fetch(ctx, d)
	if err != nil {
		if errors.Is(err, errdef.ErrNotFound) {
			return fmt.Errorf("%s: blob %s: %w", t.Ref, d.Digest, ErrNotFound)
		}
		return fmt.Errorf("fetching %s from %s: %w", d.Digest, t.Ref, t.annotate(err))
	}
	defer rc.Close()
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := f.Close(); err == nil {
			err = cerr
		}
	}()
	vr := content.NewVerifyReader(io.LimitReader(rc, d.Size+1), d)
	if _, err := io.Copy(f, vr); err != nil {
		return readError(t, d, err)
	}
	if err := vr.Verify(); err != nil {
		return readError(t, d, err)
	}
	return nil
}

// FetchSingleLayer fetches the manifest at desc and returns its one layer
// of the wanted media type (at most maxBytes), every digest checked. It is
// how Sigstore bundles are read from cosign-style bundle manifests.
func FetchSingleLayer(ctx context.Context, t *Target, desc ocispec.Descriptor, mediaType string, maxBytes int64) ([]byte, error) {
	if desc.Size > MaxManifestBytes {
		return nil, fmt.Errorf("%s: manifest %s %w", t.Ref, desc.Digest, ErrTooLarge)
	}
	mb, err := fetchVerified(ctx, t, desc)
	if err != nil {
		return nil, err
	}
	var m ocispec.Manifest
	if err := json.Unmarshal(mb, &m); err != nil {
		return nil, fmt.Errorf("%s: manifest %s: %v", t.Ref, desc.Digest, err)
	}
	if len(m.Layers) != 1 || m.Layers[0].MediaType != mediaType {
		return nil, fmt.Errorf("%s: manifest %s: want exactly one %s layer", t.Ref, desc.Digest, mediaType)
	}
	l := m.Layers[0]
	if l.Size > maxBytes || l.Size < 0 {
		return nil, fmt.Errorf("%s: layer %s %w: %d bytes > %d", t.Ref, l.Digest, ErrTooLarge, l.Size, maxBytes)
	}
	return fetchVerified(ctx, t, l)
}
