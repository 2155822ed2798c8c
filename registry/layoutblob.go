package registry

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// layoutDir is the directory of an OCI layout target that oras-go's
// oci.Store writes in place, or "" (registries, layout tars).
func (t *Target) layoutDir() string {
	if t.Ref.Kind != KindLayout || t.layoutStore() == nil {
		return ""
	}
	return t.layoutRoot
}

// ingestSeq makes this process's temporary blob names unique.
var ingestSeq atomic.Uint64

var copyBufs = sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}

// writeLayoutBlob stores content (a config or a layer; a manifest through
// putLayoutManifest, which then lists it) in the OCI layout at root. It is
// what oras-go's oci.Store.Push does to the file, written here for speed:
// that push also stats the target, checks two directories, names its
// temporary file with CreateTemp, chmods it after the write, and takes the
// store's lock to record the content in its graph, where a blob has no
// edges (a graph rebuilt from index.json when the layout is opened again
// has no entry for it either). In a mirror of one
// image with 200 referrers and their bundles into a layout, blob pushes
// were a sixth of the CPU.
//
// The bytes go to a file created read-only under a temporary name in the
// layout's ingest directory (oras-go's), and are renamed into
// blobs/<algorithm>/<hex> only once r has given all d.Size of them; r is
// what checks them (the mirror's verifying reader fails the last read on
// a digest mismatch). A failure removes the temporary file: the layout is
// left as it was.
func writeLayoutBlob(root string, d ocispec.Descriptor, r io.Reader) (err error) {
	if err := d.Digest.Validate(); err != nil {
		return fmt.Errorf("%w: blob %q: %v", ErrMirror, d.Digest, err)
	}
	ingest := filepath.Join(root, "ingest")
	dir := filepath.Join(root, ocispec.ImageBlobsDir, d.Digest.Algorithm().String())
	target := filepath.Join(dir, d.Digest.Encoded())
	// The directories are made when a create or rename says they are
	// missing: no stat on every blob.
	var f *os.File
	var tmp string
	for tries := 0; ; tries++ {
		tmp = filepath.Join(ingest, d.Digest.Encoded()+"_"+strconv.Itoa(os.Getpid())+"_"+strconv.FormatUint(ingestSeq.Add(1), 10))
		f, err = os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o444)
		if err == nil {
			break
		}
		switch {
		case errors.Is(err, fs.ErrNotExist) && tries == 0:
			if err := os.MkdirAll(ingest, 0o755); err != nil {
				return fmt.Errorf("writing %s into %s: %w", d.Digest, root, err)
			}
		case errors.Is(err, fs.ErrExist) && tries < 8:
			// left by a process of the same pid (a killed earlier run)
		default:
			return fmt.Errorf("writing %s into %s: %w", d.Digest, root, err)
		}
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(tmp)
		}
	}()
	buf := copyBufs.Get().(*[]byte)
	n, err := io.CopyBuffer(onlyWriter{f}, r, *buf)
	copyBufs.Put(buf)
	if err != nil {
		return err // r's own error: the caller names the source
	}
	if n != d.Size {
		return fmt.Errorf("%w: blob %s: %d bytes, want %d", ErrDigestMismatch, d.Digest, n, d.Size)
	}
	if err = f.Close(); err != nil {
		return fmt.Errorf("writing %s into %s: %w", d.Digest, root, err)
	}
	if err = os.Rename(tmp, target); errors.Is(err, fs.ErrNotExist) {
		if err = os.MkdirAll(dir, 0o755); err == nil {
			err = os.Rename(tmp, target)
		}
	}
	if err != nil {
		if _, serr := os.Stat(target); serr == nil {
			// There already (written by another process meanwhile; on
			// Windows a read-only file is not replaced): the same bytes.
			os.Remove(tmp)
			return nil
		}
		return fmt.Errorf("writing %s into %s: %w", d.Digest, root, err)
	}
	return nil
}

// onlyWriter hides *os.File's ReadFrom, so that io.CopyBuffer uses the
// pooled buffer instead of allocating its own (os.File.ReadFrom falls
// back to a generic copy for a reader that is not a file or socket).
type onlyWriter struct{ w io.Writer }

func (o onlyWriter) Write(p []byte) (int, error) { return o.w.Write(p) }

// putLayoutManifest is a mirror's manifest push into a layout it writes
// (layoutDir): the file by writeLayoutBlob, then listed in index.json by
// its digest, as indexLayoutManifest lists a manifest file already there.
// oras-go's push would also read the file back and decode it, to index
// it in a graph that only this process's referrer listings of the layout
// read; a mirror never lists the destination's referrers (its referrers
// tags are built from what it copied), and a layout opened again builds
// its graph from index.json, which lists the manifest. That reading and
// decoding, with the push's own file steps, was a fifth of the CPU of a
// mirror of 401 manifests into a layout.
func putLayoutManifest(ctx context.Context, t *Target, dir string, d ocispec.Descriptor, b []byte) error {
	d = plainDesc(d)
	if err := d.Digest.Validate(); err != nil {
		return fmt.Errorf("%w: manifest %q: %v", ErrMirror, d.Digest, err)
	}
	if got := d.Digest.Algorithm().FromBytes(b); got != d.Digest {
		return fmt.Errorf("%w: manifest %s: its bytes are %s", ErrDigestMismatch, d.Digest, got)
	}
	if err := writeLayoutBlob(dir, d, bytes.NewReader(b)); err != nil {
		return fmt.Errorf("pushing %s to %s: %w", d.Digest, t.Ref, err)
	}
	if err := t.Store.Tag(ctx, d, d.Digest.String()); err != nil {
		return fmt.Errorf("listing %s in %s: %w", d.Digest, t.Ref, err)
	}
	return nil
}
