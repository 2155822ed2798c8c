package cli

import (
	"context"
	"errors"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/spf13/cobra"
	"oras.land/oras-go/v2/registry/remote/credentials"

	"github.com/stella-ops/stella-oras/registry"
)

// TargetFlags are the registry access flags every registry command takes.
type TargetFlags struct {
	plainHTTP      bool
	insecure       bool
	caFile         string
	registryConfig string
}

func (f *TargetFlags) Register(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.BoolVar(&f.plainHTTP, "plain-http", false, "use HTTP, not HTTPS (loopback registries)")
	fl.BoolVar(&f.insecure, "insecure", false, "skip TLS certificate verification")
	fl.StringVar(&f.caFile, "ca-file", "", "PEM file of extra CA certificates")
	fl.StringVar(&f.registryConfig, "registry-config", "", "docker config.json with credentials (default: docker's)")
}

// Options are the registry options the flags select.
func (f *TargetFlags) Options() (registry.Options, error) {
	opts := registry.Options{
		PlainHTTP: f.plainHTTP, Insecure: f.insecure, CAFile: f.caFile,
		UserAgent: "stella-oras/" + ToolVersion,
	}
	if f.registryConfig != "" {
		st, err := credentials.NewStore(f.registryConfig, credentials.StoreOptions{})
		if err != nil {
			return opts, err
		}
		opts.Credentials = st
		opts.CredentialSource = f.registryConfig
	}
	return opts, nil
}

// Open parses and opens a reference.
func (f *TargetFlags) Open(ctx context.Context, s string) (*registry.Target, error) {
	return f.openWith(ctx, s, false)
}

// OpenRead opens a target the command only reads: a missing layout is an
// error, not created.
func (f *TargetFlags) OpenRead(ctx context.Context, s string) (*registry.Target, error) {
	return f.openWith(ctx, s, true)
}

func (f *TargetFlags) openWith(ctx context.Context, s string, readOnly bool) (*registry.Target, error) {
	ref, err := registry.ParseReference(s)
	if err != nil {
		return nil, UsageError{Err: err}
	}
	opts, err := f.Options()
	if err != nil {
		return nil, err
	}
	opts.ReadOnly = readOnly
	return registry.Open(ctx, ref, opts)
}

// RegistryDesc is a subject's descriptor; Resolved says it came from a
// tag (--resolve), which the commands print.
type RegistryDesc struct {
	ocispec.Descriptor
	Resolved bool
}

// SubjectByDigest is the subject named by digest, without a round trip
// where only its digest is needed (referrer listings on a registry).
func SubjectByDigest(ctx context.Context, t *registry.Target, resolve bool) (RegistryDesc, error) {
	if t.Remote != nil && t.Ref.Digest != "" {
		return RegistryDesc{Descriptor: ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: t.Ref.Digest}}, nil
	}
	return SubjectDescriptor(ctx, t, resolve)
}

// SubjectDescriptor requires a digest, or resolves a tag when resolve is
// set. Its callers all have a --resolve flag, which the error names.
func SubjectDescriptor(ctx context.Context, t *registry.Target, resolve bool) (RegistryDesc, error) {
	ref := t.Ref
	if ref.Digest == "" {
		switch {
		case ref.Tag == "":
			return RegistryDesc{}, UsageError{Err: errors.New(ref.String() + ": no tag or digest: name the image by digest (@sha256:…), or by tag with --resolve")}
		case !resolve:
			return RegistryDesc{}, UsageError{Err: errors.New(ref.String() + ": a digest (@sha256:…) is required; pass --resolve to resolve the tag")}
		}
	}
	d, err := t.Resolve(ctx, ref.Ref())
	if err != nil {
		return RegistryDesc{}, err
	}
	return RegistryDesc{d, ref.Digest == ""}, nil
}
