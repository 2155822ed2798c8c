package registry

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"time"

	digest "github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/content"
	"oras.land/oras-go/v2/errdef"

	"github.com/stella-ops/stella-oras/internal/atomicfile"
)

// LayoutTarFile is a file written beside index.json (a readme, a key):
// Name is a relative slash path inside the archive.
type LayoutTarFile struct {
	Name string
	Data []byte
}

// LayoutTarBlob is one blob (or manifest) of the layout: Data, when set,
// holds its bytes (a manifest already read); otherwise they are streamed
// from the source.
type LayoutTarBlob struct {
	Descriptor ocispec.Descriptor
	Data       []byte
}

// LayoutTarOptions describe an OCI image layout tar for WriteLayoutTar.
type LayoutTarOptions struct {
	// Index is index.json. Its manifests are written sorted by digest,
	// the document with sorted keys and no insignificant whitespace (see
	// canonicalJSON).
	Index ocispec.Index
	// Files are written after index.json, in name order. A name must be a
	// clean relative path, not a layout file nor under blobs/.
	Files []LayoutTarFile
	// Blobs are written last, in digest order, each once.
	Blobs []LayoutTarBlob
	// MaxBlobBytes bounds each streamed blob; 0 means
	// DefaultMaxMirrorBlobBytes (what a mirror copies, a layout can hold).
	MaxBlobBytes int64
	// OnBlob, when set, is told of each blob once it is in the archive.
	OnBlob func(ocispec.Descriptor)
}

// LayoutTarReport is what WriteLayoutTar wrote.
type LayoutTarReport struct {
	Path string `json:"path"`
	// SHA256 is the digest of the tar file, Size its length.
	SHA256 digest.Digest `json:"sha256"`
	Size   int64         `json:"size"`
	// Blobs and BlobBytes count what is under blobs/ (manifests included).
	Blobs     int   `json:"blobs"`
	BlobBytes int64 `json:"blob_bytes"`
}

// maxUSTARSize is the largest entry a USTAR header can state (eleven
// octal digits); a larger blob gets a PAX header with a size record.
const maxUSTARSize = 1<<33 - 1

// tarEpoch is every entry's modification time: the Unix epoch, so the
// same content gives the same bytes on any machine, at any time.
var tarEpoch = time.Unix(0, 0)

// WriteLayoutTar writes an OCI image layout (image-spec v1.1.1: oci-layout,
// index.json, blobs/<alg>/<hex>) as a tar file at dst, streaming each blob
// from src as it is written and checking it against its descriptor's
// digest and size on the way.
//
// The tar is reproducible: the same layout gives the same bytes. Entries
// come in one fixed order — oci-layout, index.json, the files in name
// order, then the blobs in digest order, so a reader finds the layout's
// index before any blob — each a regular file of mode 0644, owned by
// uid/gid 0 with no user or group name, modified at the Unix epoch, in
// USTAR form (no PAX records, so no access or change times; only a blob
// over 8 GiB needs a PAX size record). There are no directory entries.
//
// It is written to a temporary file beside dst and renamed: a failure (a
// blob that does not match its digest, a source that goes away, a full
// disk, a cancelled ctx) leaves nothing at dst and no temporary file.
func WriteLayoutTar(ctx context.Context, src *Target, dst string, o LayoutTarOptions) (*LayoutTarReport, error) {
	maxBlob := o.MaxBlobBytes
	if maxBlob <= 0 {
		maxBlob = DefaultMaxMirrorBlobBytes
	}
	idx, err := canonicalIndex(o.Index)
	if err != nil {
		return nil, err
	}
	files := slices.Clone(o.Files)
	slices.SortFunc(files, func(a, b LayoutTarFile) int { return strings.Compare(a.Name, b.Name) })
	for i, f := range files {
		if err := checkTarName(f.Name); err != nil {
			return nil, err
		}
		if i > 0 && files[i-1].Name == f.Name {
			return nil, fmt.Errorf("layout tar: file %q given twice", f.Name)
		}
	}
	blobs := slices.Clone(o.Blobs)
	slices.SortFunc(blobs, func(a, b LayoutTarBlob) int {
		return strings.Compare(a.Descriptor.Digest.String(), b.Descriptor.Digest.String())
	})
	blobs = slices.CompactFunc(blobs, func(a, b LayoutTarBlob) bool { return a.Descriptor.Digest == b.Descriptor.Digest })
	for _, b := range blobs {
		d := b.Descriptor
		if err := d.Digest.Validate(); err != nil {
			return nil, fmt.Errorf("layout tar: blob %q: %w", d.Digest, err)
		}
		if d.Size < 0 || d.Size > maxBlob {
			return nil, fmt.Errorf("%s: blob %s %w: %d bytes > %d", src.Ref, d.Digest, ErrTooLarge, d.Size, maxBlob)
		}
	}
	rep := &LayoutTarReport{Path: dst}
	h := sha256.New()
	err = atomicfile.WriteFrom(dst, 0o644, func(w io.Writer) error {
		cw := &countingWriter{w: io.MultiWriter(w, h)}
		tw := tar.NewWriter(cw)
		layout, _ := json.Marshal(ocispec.ImageLayout{Version: ocispec.ImageLayoutVersion})
		for _, f := range append([]LayoutTarFile{{ocispec.ImageLayoutFile, layout}, {ocispec.ImageIndexFile, idx}}, files...) {
			if err := writeEntry(tw, f.Name, int64(len(f.Data)), bytes.NewReader(f.Data)); err != nil {
				return err
			}
		}
		for _, b := range blobs {
			if err := ctx.Err(); err != nil {
				return err
			}
			if err := writeBlob(ctx, tw, src, b); err != nil {
				return err
			}
			rep.Blobs++
			rep.BlobBytes += b.Descriptor.Size
			if o.OnBlob != nil {
				o.OnBlob(b.Descriptor)
			}
		}
		if err := tw.Close(); err != nil {
			return err
		}
		rep.Size = cw.n
		return nil
	})
	if err != nil {
		return nil, err
	}
	rep.SHA256 = digest.NewDigestFromEncoded(digest.SHA256, hex.EncodeToString(h.Sum(nil)))
	return rep, nil
}

// writeBlob writes one blob entry, its bytes given or streamed from src
// through a digest and size check: a mismatch fails the write after the
// last byte, and the caller removes the file.
func writeBlob(ctx context.Context, tw *tar.Writer, src *Target, b LayoutTarBlob) error {
	d := ocispec.Descriptor{MediaType: b.Descriptor.MediaType, Digest: b.Descriptor.Digest, Size: b.Descriptor.Size}
	name := path.Join(ocispec.ImageBlobsDir, d.Digest.Algorithm().String(), d.Digest.Encoded())
	if b.Data != nil {
		if int64(len(b.Data)) != d.Size || digest.FromBytes(b.Data) != d.Digest {
			return fmt.Errorf("layout tar: %s: %w: the bytes given do not match", d.Digest, ErrDigestMismatch)
		}
		return writeEntry(tw, name, d.Size, bytes.NewReader(b.Data))
	}
	rc, err := src.Store.Fetch(ctx, d)
	if err != nil {
		if errors.Is(err, errdef.ErrNotFound) {
			return fmt.Errorf("%s: blob %s: %w", src.Ref, d.Digest, ErrNotFound)
		}
		return fmt.Errorf("fetching %s from %s: %w", d.Digest, src.Ref, src.annotate(err))
	}
	defer rc.Close()
	vr := content.NewVerifyReader(rc, d)
	er := &errReader{r: vr}
	if err := writeEntry(tw, name, d.Size, er); err != nil {
		if er.err != nil {
			return readError(src, d, er.err)
		}
		return err
	}
	if err := vr.Verify(); err != nil {
		return readError(src, d, err)
	}
	return nil
}

// writeEntry writes one regular-file entry of exactly size bytes from r.
func writeEntry(tw *tar.Writer, name string, size int64, r io.Reader) error {
	if err := tw.WriteHeader(archiveHeader(name, size)); err != nil {
		return fmt.Errorf("layout tar: %s: %w", name, err)
	}
	n, err := io.Copy(tw, r)
	if err == nil && n != size {
		err = io.ErrUnexpectedEOF
	}
	return err
}

// checkTarName refuses a file name that is not a clean relative slash
// path, or that would stand for a layout file or a blob.
func checkTarName(name string) error {
	switch {
	case name == "" || path.IsAbs(name) || path.Clean(name) != name || name == ".." || strings.HasPrefix(name, "../") || strings.Contains(name, "\\"):
		return fmt.Errorf("layout tar: file %q: %w", name, ErrUnsafePath)
	case name == ocispec.ImageLayoutFile || name == ocispec.ImageIndexFile || name == ocispec.ImageBlobsDir || strings.HasPrefix(name, ocispec.ImageBlobsDir+"/"):
		return fmt.Errorf("layout tar: file %q would replace the layout's own", name)
	case len(name) > 100:
		return fmt.Errorf("layout tar: file name %q is over 100 bytes (a USTAR name)", name)
	}
	return nil
}

// canonicalIndex encodes index.json deterministically: manifests sorted by
// digest (then by tag, for one manifest under several names), object keys
// sorted, no insignificant whitespace, no HTML escaping. For the ASCII
// keys and integer sizes of an OCI index that is RFC 8785's canonical
// form (a test holds it to package canon's).
func canonicalIndex(idx ocispec.Index) ([]byte, error) {
	idx.Manifests = slices.Clone(idx.Manifests)
	sortEntries(idx.Manifests)
	if idx.Manifests == nil {
		idx.Manifests = []ocispec.Descriptor{}
	}
	return canonicalJSON(idx)
}

// sortEntries puts index entries in canonicalIndex's order: by digest,
// then tag.
func sortEntries(ds []ocispec.Descriptor) {
	slices.SortStableFunc(ds, func(a, b ocispec.Descriptor) int {
		if c := strings.Compare(a.Digest.String(), b.Digest.String()); c != 0 {
			return c
		}
		return strings.Compare(a.Annotations[ocispec.AnnotationRefName], b.Annotations[ocispec.AnnotationRefName])
	})
}

// canonicalJSON encodes v with its objects' keys sorted: encoding/json
// sorts map keys but writes struct fields in declaration order, so v goes
// through a generic value (numbers kept as written).
func canonicalJSON(v any) ([]byte, error) {
	raw, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var generic any
	if err := dec.Decode(&generic); err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(generic); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// errReader keeps r's error, so a failed copy can tell a read (the
// source) from a write (the archive).
type errReader struct {
	r   io.Reader
	err error
}

func (e *errReader) Read(p []byte) (int, error) {
	n, err := e.r.Read(p)
	if err != nil && err != io.EOF {
		e.err = err
	}
	return n, err
}

type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// LayoutIndex reads the index.json of an OCI layout or layout tar target
// (of a tar opened to be written, as Close will write it), at most
// MaxManifestBytes.
func LayoutIndex(t *Target) (ocispec.Index, error) {
	var idx ocispec.Index
	dir := t.layoutRoot // the one path the store reads (Open)
	if dir == "" {
		dir = t.Ref.Repository
	}
	var b []byte
	switch {
	case t.arch != nil:
		// Written since it was opened: the index as Close will write it.
		return t.arch.index(), nil
	case t.layoutStore() != nil:
		// What index.json lists, or will once saved (HoldIndex).
		return t.layoutStore().index(), nil
	case t.Ref.Kind == KindArchive && t.tmpDir != "":
		dir = t.tmpDir
	case t.Ref.Kind == KindArchive:
		// Read in place: the last index.json entry is the archive's.
		found := false
		err := scanArchive(t.Ref.Repository, func(h *tar.Header, name string, tr *tar.Reader) error {
			if name != ocispec.ImageIndexFile || h.Typeflag != tar.TypeReg {
				return nil
			}
			var err error
			b, err = io.ReadAll(io.LimitReader(tr, MaxManifestBytes+1))
			found = true
			return err
		})
		if err != nil {
			return idx, err
		}
		if !found {
			return idx, fmt.Errorf("reading the index of %s: %w", t.Ref, fs.ErrNotExist)
		}
	case t.Ref.Kind != KindLayout:
		return idx, fmt.Errorf("%s: not an OCI layout", t.Ref)
	}
	if b == nil {
		f, err := os.Open(filepath.Join(dir, ocispec.ImageIndexFile))
		if err != nil {
			return idx, fmt.Errorf("reading the index of %s: %w", t.Ref, err)
		}
		defer f.Close()
		if b, err = io.ReadAll(io.LimitReader(f, MaxManifestBytes+1)); err != nil {
			return idx, fmt.Errorf("reading the index of %s: %w", t.Ref, err)
		}
	}
	if len(b) > MaxManifestBytes {
		return idx, fmt.Errorf("%s: index.json %w: over %d bytes", t.Ref, ErrTooLarge, MaxManifestBytes)
	}
	if err := json.Unmarshal(b, &idx); err != nil {
		return idx, fmt.Errorf("%s: index.json: %v", t.Ref, err)
	}
	return idx, nil
}
