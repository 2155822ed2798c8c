package registry

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"

	"github.com/opencontainers/go-digest"
	specs "github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/content"
)

// PushSampleImage pushes a small, valid, reproducible linux/amd64 image
// (one gzip layer holding /hello.txt with the given text) and tags it with
// the target's tag (or "sample"). The same text gives the same digest on
// every machine: fixed times, owners and gzip header. It lets a newcomer put
// an image into an OCI layout without another tool.
func PushSampleImage(ctx context.Context, t *Target, text string) (ocispec.Descriptor, error) {
	var raw bytes.Buffer
	tw := tar.NewWriter(&raw)
	body := []byte(text + "\n")
	if err := tw.WriteHeader(&tar.Header{Name: "hello.txt", Mode: 0o644, Size: int64(len(body)), Typeflag: tar.TypeReg, Format: tar.FormatPAX}); err != nil {
		return ocispec.Descriptor{}, err
	}
	tw.Write(body)
	if err := tw.Close(); err != nil {
		return ocispec.Descriptor{}, err
	}
	diff := sha256.Sum256(raw.Bytes())
	var gz bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&gz, gzip.BestCompression) // zero ModTime, no name: reproducible
	zw.Write(raw.Bytes())
	if err := zw.Close(); err != nil {
		return ocispec.Descriptor{}, err
	}
	cfg, err := json.Marshal(ocispec.Image{
		Platform: ocispec.Platform{Architecture: "amd64", OS: "linux"},
		RootFS:   ocispec.RootFS{Type: "layers", DiffIDs: []digest.Digest{digest.Digest("sha256:" + hex.EncodeToString(diff[:]))}},
		Config:   ocispec.ImageConfig{Cmd: []string{"/hello.txt"}},
	})
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	layers := []Layer{
		{Descriptor: content.NewDescriptorFromBytes(ocispec.MediaTypeImageLayerGzip, gz.Bytes()), Data: gz.Bytes()},
		{Descriptor: content.NewDescriptorFromBytes(ocispec.MediaTypeImageConfig, cfg), Data: cfg},
	}
	m := ocispec.Manifest{
		Versioned: specs.Versioned{SchemaVersion: 2},
		MediaType: ocispec.MediaTypeImageManifest,
		Config:    layers[1].Descriptor,
		Layers:    []ocispec.Descriptor{layers[0].Descriptor},
	}
	mb, err := json.Marshal(m)
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	md := content.NewDescriptorFromBytes(ocispec.MediaTypeImageManifest, mb)
	for _, l := range layers {
		if err := pushIfAbsent(ctx, t, l.Descriptor, l.Data); err != nil {
			return ocispec.Descriptor{}, err
		}
	}
	if err := pushManifest(ctx, t, md, mb); err != nil {
		return ocispec.Descriptor{}, err
	}
	tag := t.Ref.Tag
	if tag == "" {
		tag = "sample"
	}
	if err := t.Store.Tag(ctx, md, tag); err != nil {
		return ocispec.Descriptor{}, fmt.Errorf("tagging %s: %w", t.Ref, t.annotate(err))
	}
	return md, nil
}
