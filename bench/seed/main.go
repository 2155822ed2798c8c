// Command seed prepares the registry benchmark: an image with N referrers
// (and, with -bundles, one Sigstore-bundle-typed referrer on each of
// them), pushed straight through oras-go so that seeding is fast on
// registries with and without the referrers API. It prints the image digest.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"

	"github.com/opencontainers/go-digest"
	specs "github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/content"
	"oras.land/oras-go/v2/registry/remote"
)

func main() {
	var (
		repo     = flag.String("repo", "", "host/repo")
		n        = flag.Int("n", 1000, "referrers")
		bundles  = flag.Bool("bundles", false, "one bundle referrer on each referrer")
		fallback = flag.Bool("fallback", false, "write referrers tag indexes (registry without the referrers API)")
	)
	flag.Parse()
	if err := run(*repo, *n, *bundles, *fallback); err != nil {
		fmt.Fprintln(os.Stderr, "seed:", err)
		os.Exit(1)
	}
}

func run(repoName string, n int, bundles, fallback bool) error {
	ctx := context.Background()
	repo, err := remote.NewRepository(repoName)
	if err != nil {
		return err
	}
	repo.PlainHTTP = true
	repo.SetReferrersCapability(true) // never let oras-go rewrite tag indexes: done below, once
	push := func(d ocispec.Descriptor, b []byte) error {
		if ok, _ := repo.Exists(ctx, d); ok {
			return nil
		}
		return repo.Push(ctx, d, bytes.NewReader(b))
	}
	manifest := func(at string, subject *ocispec.Descriptor, layer []byte) (ocispec.Descriptor, error) {
		ld := content.NewDescriptorFromBytes(at, layer)
		if err := push(ld, layer); err != nil {
			return ocispec.Descriptor{}, err
		}
		if err := push(ocispec.DescriptorEmptyJSON, ocispec.DescriptorEmptyJSON.Data); err != nil {
			return ocispec.Descriptor{}, err
		}
		m := ocispec.Manifest{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageManifest,
			ArtifactType: at, Config: ocispec.DescriptorEmptyJSON, Layers: []ocispec.Descriptor{ld}, Subject: subject}
		mb, _ := json.Marshal(m)
		md := content.NewDescriptorFromBytes(ocispec.MediaTypeImageManifest, mb)
		md.ArtifactType = at
		return md, push(md, mb)
	}
	img, err := manifest("application/vnd.example.image", nil, []byte("image"))
	if err != nil {
		return err
	}
	if err := repo.Tag(ctx, img, "bench"); err != nil {
		return err
	}
	indexes := map[digest.Digest][]ocispec.Descriptor{}
	for i := range n {
		r, err := manifest("application/vnd.cyclonedx+json", &img, fmt.Appendf(nil, `{"n":%d}`, i))
		if err != nil {
			return err
		}
		indexes[img.Digest] = append(indexes[img.Digest], r)
		if bundles {
			b, err := manifest("application/vnd.dev.sigstore.bundle.v0.3+json", &r, fmt.Appendf(nil, `{"bundle":%d}`, i))
			if err != nil {
				return err
			}
			indexes[r.Digest] = append(indexes[r.Digest], b)
		}
	}
	if fallback {
		for subj, refs := range indexes {
			idx := ocispec.Index{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageIndex, Manifests: refs}
			ib, _ := json.Marshal(idx)
			id := content.NewDescriptorFromBytes(ocispec.MediaTypeImageIndex, ib)
			if err := repo.Manifests().PushReference(ctx, id, bytes.NewReader(ib), subj.Algorithm().String()+"-"+subj.Encoded()); err != nil {
				return err
			}
		}
	}
	fmt.Println(img.Digest)
	return nil
}
