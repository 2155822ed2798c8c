package registry

import (
	"fmt"
	"strings"

	"github.com/opencontainers/go-digest"
	orasreg "oras.land/oras-go/v2/registry"
)

// Kinds of target.
const (
	KindRemote  = "remote"
	KindLayout  = "oci"
	KindArchive = "oci-archive"
)

// Reference is a parsed target reference:
//
//	host[:port]/repo[:tag|@sha256:…]     a registry repository
//	oci:DIR[:tag|@sha256:…]              an OCI image layout directory
//	oci-archive:FILE.tar[:tag|@sha256:…] an OCI image layout in a tar file
type Reference struct {
	Kind string
	// Repository is "host/repo" for remote targets, the path otherwise.
	Repository string
	Tag        string
	Digest     digest.Digest
}

// ParseReference parses the reference syntax above.
func ParseReference(s string) (Reference, error) {
	for _, kind := range []string{KindArchive, KindLayout} {
		rest, ok := strings.CutPrefix(s, kind+":")
		if !ok {
			continue
		}
		r := Reference{Kind: kind}
		path, ref := rest, ""
		if i := strings.LastIndex(rest, "@"); i >= 0 {
			path, ref = rest[:i], rest[i:]
		} else if i := strings.LastIndex(rest, ":"); i >= 0 && !strings.ContainsAny(rest[i:], "/\\") {
			path, ref = rest[:i], rest[i:]
		}
		if path == "" {
			return Reference{}, fmt.Errorf("%w %q: empty path", ErrReference, s)
		}
		r.Repository = path
		if err := r.setRef(ref, s); err != nil {
			return Reference{}, err
		}
		return r, nil
	}
	p, err := orasreg.ParseReference(s)
	if err != nil {
		return Reference{}, fmt.Errorf("%w %q: %v", ErrReference, s, err)
	}
	r := Reference{Kind: KindRemote, Repository: p.Registry + "/" + p.Repository}
	if err := r.setRef(refSuffix(p.Reference), s); err != nil {
		return Reference{}, err
	}
	return r, nil
}

func refSuffix(ref string) string {
	if ref == "" {
		return ""
	}
	if strings.Contains(ref, ":") {
		return "@" + ref
	}
	return ":" + ref
}

func (r *Reference) setRef(ref, orig string) error {
	switch {
	case ref == "":
	case ref[0] == '@':
		d, err := digest.Parse(ref[1:])
		if err != nil {
			return fmt.Errorf("%w %q: digest: %v", ErrReference, orig, err)
		}
		r.Digest = d
	case ref[0] == ':':
		r.Tag = ref[1:]
		if r.Tag == "" {
			return fmt.Errorf("%w %q: empty tag", ErrReference, orig)
		}
	}
	return nil
}

// String renders the reference in the syntax it was parsed from.
func (r Reference) String() string {
	s := r.Repository
	if r.Kind != KindRemote {
		s = r.Kind + ":" + s
	}
	switch {
	case r.Digest != "":
		return s + "@" + r.Digest.String()
	case r.Tag != "":
		return s + ":" + r.Tag
	}
	return s
}

// Ref is the tag or digest, whichever addresses the content ("" if none).
func (r Reference) Ref() string {
	if r.Digest != "" {
		return r.Digest.String()
	}
	return r.Tag
}
