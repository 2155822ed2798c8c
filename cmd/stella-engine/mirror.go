package main

import (
	"context"

	"github.com/spf13/cobra"

	"github.com/stella-ops/stella-oras/bundle"
	"github.com/stella-ops/stella-oras/evaluator"
	"github.com/stella-ops/stella-oras/internal/cli"
	"github.com/stella-ops/stella-oras/registry"
)

// newMirrorCmd is `mirror` with the engine's gate: the same command as
// the front's (cli.NewMirrorCmd), plus --require-verified and its trust,
// and --receipt-key, through evaluator.Mirror.
func newMirrorCmd(s *cli.Streams) *cobra.Command {
	return cli.NewMirrorCmd(s, &mirrorGate{})
}

// mirrorGate is cli.MirrorGate: the flags handoff.MirrorEngineFlags
// names (TestMirrorEngineFlags holds the two equal).
type mirrorGate struct {
	requireVerified bool
	keys            []string
	threshold       int
	receiptKey      string
	rev             revocationFlags
}

func (g *mirrorGate) Register(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.BoolVar(&g.requireVerified, "require-verified", false, "copy an image only when its Sigstore bundles verify under --key (and --threshold, --revocations); bundles that do not verify are not copied")
	fl.StringArrayVar(&g.keys, "key", nil, "trusted PEM public key of --require-verified (repeatable)")
	fl.IntVar(&g.threshold, "threshold", 1, "distinct --key signers an image needs with --require-verified")
	fl.StringVar(&g.receiptKey, "receipt-key", "", "private key that signs the mirror receipt attached to each image at the destination")
	g.rev.register(cmd)
}

func (g *mirrorGate) Prepare(cmd *cobra.Command, s *cli.Streams, tf *cli.TargetFlags) (func(context.Context, []string, string, registry.MirrorRunOptions) ([]registry.MirrorResult, error), error) {
	var o evaluator.MirrorOptions
	o.RequireVerified = g.requireVerified
	var err error
	if g.requireVerified {
		if len(g.keys) == 0 {
			return nil, cli.Usagef("--require-verified needs --key (a trusted public key)")
		}
		if g.threshold < 1 || g.threshold > len(g.keys) {
			return nil, cli.Usagef("--threshold must be between 1 and the number of keys (%d)", len(g.keys))
		}
		if err := g.rev.validate(len(g.keys)); err != nil {
			return nil, err
		}
		if o.Trust.Keys, err = readPublicKeys(g.keys); err != nil {
			return nil, err
		}
		o.Trust.Threshold = g.threshold
		if o.Trust.Revoked, err = g.rev.load(cmd, s, tf, o.Trust.Keys); err != nil {
			return nil, err
		}
	} else if len(g.keys) > 0 {
		return nil, cli.Usagef("--key is the trust of --require-verified (the receipt is signed with --receipt-key)")
	}
	if g.receiptKey != "" {
		if o.Signer, err = newSigner(s, g.receiptKey, bundle.SignOptions{}); err != nil {
			return nil, err
		}
	}
	return func(ctx context.Context, sources []string, dst string, ro registry.MirrorRunOptions) ([]registry.MirrorResult, error) {
		o.MirrorRunOptions = ro
		return evaluator.Mirror(ctx, sources, dst, o)
	}, nil
}
