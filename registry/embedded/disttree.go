package embedded

import (
	"bytes"
	"os"
	"path/filepath"

	"github.com/opencontainers/go-digest"
)

// distTree is distribution's filesystem tree, <root>/docker/registry/v2
// (its layout is stable since distribution 2.0). The layers in front of
// distribution read it directly (blobReader, the referrers index) and the
// single POST writes blobs into it; these are its paths, in one place.
type distTree string

func distTreeOf(root string) distTree {
	return distTree(filepath.Join(root, "docker", "registry", "v2"))
}

// data is the file holding the content of d (a valid digest).
func (s distTree) data(d digest.Digest) string {
	hex := d.Encoded()
	return filepath.Join(string(s), "blobs", d.Algorithm().String(), hex[:2], hex, "data")
}

// link is repo's link file for d under the directory kind names
// (_layers, or _manifests/revisions), which holds d when repo has it.
func (s distTree) link(repo string, d digest.Digest, kind ...string) string {
	parts := append([]string{string(s), "repositories", filepath.FromSlash(repo)}, kind...)
	return filepath.Join(append(parts, d.Algorithm().String(), d.Encoded(), "link")...)
}

// openLinked opens the stored data of the content ref names when repo
// links it under kind; the caller closes f. ok is false for a malformed
// digest, content not linked into repo, or data that is not a regular
// file.
func (s distTree) openLinked(repo, ref string, kind ...string) (d digest.Digest, f *os.File, fi os.FileInfo, ok bool) {
	d, err := digest.Parse(ref)
	if err != nil || d.Validate() != nil {
		return "", nil, nil, false
	}
	link, err := os.ReadFile(s.link(repo, d, kind...))
	if err != nil || string(bytes.TrimSpace(link)) != d.String() {
		return "", nil, nil, false
	}
	if f, err = os.Open(s.data(d)); err != nil {
		return "", nil, nil, false
	}
	if fi, err = f.Stat(); err != nil || !fi.Mode().IsRegular() {
		f.Close()
		return "", nil, nil, false
	}
	return d, f, fi, true
}
