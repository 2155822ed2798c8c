package main

import (
	"context"
	"errors"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/spf13/cobra"
	"oras.land/oras-go/v2/registry/remote/credentials"

	"github.com/stella-ops/stella-oras/registry"
)

// targetFlags are the registry access flags every registry command takes.
type targetFlags struct {
	plainHTTP      bool
	insecure       bool
	caFile         string
	registryConfig string
}

func (f *targetFlags) register(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.BoolVar(&f.plainHTTP, "plain-http", false, "use HTTP, not HTTPS (loopback registries)")
	fl.BoolVar(&f.insecure, "insecure", false, "skip TLS certificate verification")
	fl.StringVar(&f.caFile, "ca-file", "", "PEM file of extra CA certificates")
	fl.StringVar(&f.registryConfig, "registry-config", "", "docker config.json with credentials (default: docker's)")
}

// options are the registry options the flags select.
func (f *targetFlags) options() (registry.Options, error) {
	opts := registry.Options{
		PlainHTTP: f.plainHTTP, Insecure: f.insecure, CAFile: f.caFile,
		UserAgent: "stella-oras/" + toolVersion,
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

// open parses and opens a reference.
func (f *targetFlags) open(ctx context.Context, s string) (*registry.Target, error) {
	return f.openWith(ctx, s, false)
}

// openRead opens a target the command only reads: a missing layout is an
// error, not created.
func (f *targetFlags) openRead(ctx context.Context, s string) (*registry.Target, error) {
	return f.openWith(ctx, s, true)
}

func (f *targetFlags) openWith(ctx context.Context, s string, readOnly bool) (*registry.Target, error) {
	ref, err := registry.ParseReference(s)
	if err != nil {
		return nil, usageError{err}
	}
	opts, err := f.options()
	if err != nil {
		return nil, err
	}
	opts.ReadOnly = readOnly
	return registry.Open(ctx, ref, opts)
}

// subjectByDigest is the subject named by digest, without a round trip
// where only its digest is needed (referrer listings on a registry).
func subjectByDigest(ctx context.Context, t *registry.Target, resolve bool) (registryDesc, error) {
	if t.Remote != nil && t.Ref.Digest != "" {
		return registryDesc{Descriptor: ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: t.Ref.Digest}}, nil
	}
	return subjectDescriptor(ctx, t, resolve)
}

// subjectDescriptor requires a digest, or resolves a tag when resolve is
// set. Its callers all have a --resolve flag, which the error names.
func subjectDescriptor(ctx context.Context, t *registry.Target, resolve bool) (registryDesc, error) {
	ref := t.Ref
	if ref.Digest == "" {
		if ref.Tag == "" || !resolve {
			return registryDesc{}, usageError{errors.New(ref.String() + ": a digest (@sha256:…) is required; pass --resolve to resolve the tag")}
		}
	}
	d, err := t.Resolve(ctx, ref.Ref())
	if err != nil {
		return registryDesc{}, err
	}
	return registryDesc{d, ref.Digest == ""}, nil
}
