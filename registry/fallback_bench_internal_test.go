package registry

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"

	specs "github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/content"
	"oras.land/oras-go/v2/registry/remote/credentials"

	"github.com/stella-ops/stella-oras/internal/regtest"
)

// BenchmarkPushFallbackIndex: the write of a referrers tag of 150 entries
// to plain distribution (in process, so its work is counted too), as
// attach makes it while the command waits. Each iteration writes another
// index (one entry more), so that none is a no-op.
func BenchmarkPushFallbackIndex(b *testing.B) {
	ctx := context.Background()
	host := regtest.Start(b, regtest.Plain)
	ref, err := ParseReference(host + "/app")
	if err != nil {
		b.Fatal(err)
	}
	t, err := Open(ctx, ref, Options{PlainHTTP: true, Credentials: credentials.NewMemoryStore()})
	if err != nil {
		b.Fatal(err)
	}
	subject := regtest.PushImage(b, t.Store, "v1")
	// Referrers of subject, pushed for real (distribution refuses an
	// index that lists a manifest it does not have), without the referrers
	// tag updates attach would make.
	layer := NewLayer("application/vnd.example+json", []byte(`{}`), "")
	if err := PushBlob(ctx, t, layer.Descriptor, layer.Data); err != nil {
		b.Fatal(err)
	}
	if err := PushBlob(ctx, t, ocispec.DescriptorEmptyJSON, ocispec.DescriptorEmptyJSON.Data); err != nil {
		b.Fatal(err)
	}
	var entries []ocispec.Descriptor
	for i := range 150 + b.N {
		m := ocispec.Manifest{
			Versioned:    specs.Versioned{SchemaVersion: 2},
			MediaType:    ocispec.MediaTypeImageManifest,
			ArtifactType: "application/vnd.example+json",
			Config:       ocispec.DescriptorEmptyJSON,
			Layers:       []ocispec.Descriptor{layer.Descriptor},
			Subject:      &ocispec.Descriptor{MediaType: subject.MediaType, Digest: subject.Digest, Size: subject.Size},
			Annotations:  map[string]string{"org.example.n": fmt.Sprint(i)},
		}
		mb, err := json.Marshal(m)
		if err != nil {
			b.Fatal(err)
		}
		d := content.NewDescriptorFromBytes(m.MediaType, mb)
		if _, err := pushReferrer(ctx, t, subject.Digest, d, mb, true); err != nil {
			b.Fatal(err)
		}
		d.ArtifactType, d.Annotations = m.ArtifactType, m.Annotations
		entries = append(entries, d)
	}
	tag := fallbackTag(subject.Digest)
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		if _, err := pushFallbackIndex(ctx, t, entries[:150+i], tag, ocispec.Descriptor{}); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	// What was written last is the index of those entries.
	want, _, err := ReferrersIndex(entries[:150+b.N-1])
	if err != nil {
		b.Fatal(err)
	}
	got, err := FetchIndex(ctx, t, content.NewDescriptorFromBytes(ocispec.MediaTypeImageIndex, want))
	if err != nil || len(got.Manifests) != 150+b.N-1 {
		b.Fatalf("referrers tag after the pushes: %d entries, %v", len(got.Manifests), err)
	}
}
