package main

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/stella-ops/stella-oras/artifacts"
	"github.com/stella-ops/stella-oras/bundle"
	"github.com/stella-ops/stella-oras/engine/policy"
	"github.com/stella-ops/stella-oras/evaluator"
	"github.com/stella-ops/stella-oras/examples"
	"github.com/stella-ops/stella-oras/internal/cli"
	"github.com/stella-ops/stella-oras/internal/load"
	"github.com/stella-ops/stella-oras/registry"
)

// demoResult is what `demo --output json` prints (the narration then
// goes to stderr).
type demoResult struct {
	Dir             string `json:"dir"`
	Image           string `json:"image"`
	Feed            string `json:"feed"`
	Policy          string `json:"policy"`
	KeyID           string `json:"key_id"`
	PublicKey       string `json:"public_key"`
	PrivateKey      string `json:"private_key"` // under the empty passphrase
	State           string `json:"state"`
	Status          string `json:"status"`
	VerdictDigest   string `json:"verdict_digest"`
	VerdictArtifact string `json:"verdict_artifact"`
	Bundle          string `json:"bundle"`
	Verified        bool   `json:"verified"`
	Replay          string `json:"replay"`
	SecondState     string `json:"second_state"`
}

func newDemoCmd(s *cli.Streams) *cobra.Command {
	var (
		dir string
		out cli.OutputFlag
	)
	cmd := &cobra.Command{
		Use:   "demo [--dir DIR]",
		Short: "Run the main job end to end on OCI layouts, with nothing installed",
		Long: `Write the embedded quickstart into DIR (default: a new temporary directory),
then, all on OCI layouts under DIR: push a sample image, attach its SBOM and a
VEX document, push a feed snapshot and the strict policy as artifacts, generate
a signing key, evaluate the image (a verdict artifact and its signed bundle are
attached), verify the bundle, replay the verdict to the same digest, and
evaluate again: a cache hit, no engine run. Each step prints the equivalent
command. With --output json the steps go to stderr and a summary
document to stdout.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := out.Validate(); err != nil {
				return err
			}
			return runDemo(cmd.Context(), s, dir, out)
		},
	}
	cmd.Flags().StringVar(&dir, "dir", "", "working directory (default: a new temporary directory)")
	out.Register(cmd)
	return cmd
}

func runDemo(ctx context.Context, s *cli.Streams, dir string, out cli.OutputFlag) error {
	var err error
	// w takes the narration: stdout, or stderr when stdout is the JSON.
	w := s.Out
	if out.JSON() {
		w = s.Err
	}
	if dir == "" {
		if dir, err = os.MkdirTemp("", "stella-demo-"); err != nil {
			return err
		}
	}
	src := filepath.Join(dir, "examples")
	if err := os.CopyFS(src, examples.FS); err != nil && !os.IsExist(err) {
		return fmt.Errorf("writing the examples: %w", err)
	}
	img, feeds, pols := "oci:"+filepath.Join(dir, "layout"), "oci:"+filepath.Join(dir, "feeds"), "oci:"+filepath.Join(dir, "policies")
	step := func(format string, a ...any) { fmt.Fprintf(w, "\n$ stella-oras "+format+"\n", a...) }
	keyStep := func(format string, a ...any) {
		fmt.Fprintf(w, "\n$ STELLA_KEY_PASSWORD= stella-oras "+format+"\n", a...)
	}
	opts := registry.Options{}

	step("sample-image %s:demo", img)
	t, err := evaluator.Open(ctx, img+":demo", opts)
	if err != nil {
		return err
	}
	image, err := registry.PushSampleImage(ctx, t, "hello from stella-oras")
	if err != nil {
		return err
	}
	imgRef := img + "@" + image.Digest.String()
	fmt.Fprintf(w, "  image %s\n", image.Digest)
	for _, f := range []string{"quickstart/sbom.cdx.json", "quickstart/vex.openvex.json"} {
		step("attach %s %s", imgRef, filepath.Join(src, f))
		data, err := fs.ReadFile(examples.FS, f)
		if err != nil {
			return err
		}
		ty, _ := artifacts.Detect(data)
		d, err := registry.Attach(ctx, t, image, data, registry.AttachOptions{ArtifactType: ty.ArtifactType, MediaType: ty.MediaType, FileName: f})
		if err != nil {
			return err
		}
		fmt.Fprintf(w, "  %s %s\n", ty.ArtifactType, d.Digest)
	}
	if err := t.Close(); err != nil {
		return err
	}

	step("feed push %s %s", filepath.Join(src, "quickstart/osv"), feeds)
	snap, err := load.Feed(ctx, filepath.Join(src, "quickstart/osv"), load.FeedOptions{})
	if err != nil {
		return err
	}
	fp, err := evaluator.PushFeed(ctx, snap, feeds, evaluator.PushFeedOptions{})
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "  feed %s, tag %s, %d layers\n", fp.Digest, fp.Tag, fp.Layers)

	step("policy push %s %s", filepath.Join(src, "policies/strict-prod.yaml"), pols)
	pb, err := fs.ReadFile(examples.FS, "policies/strict-prod.yaml")
	if err != nil {
		return err
	}
	p, err := policy.Load(pb, "strict-prod.yaml")
	if err != nil {
		return err
	}
	pp, err := evaluator.PushPolicy(ctx, p, pols, evaluator.PushPolicyOptions{})
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "  policy %s, tag %s\n", pp.Digest, pp.Tag)

	// The demo's key is written as the step says, so that every command
	// it prints can be run again by hand (before, ci.key stayed in memory
	// and the printed evaluate could not be): encrypted under the empty
	// passphrase, as STELLA_KEY_PASSWORD= makes key generate write it.
	keyPath := filepath.Join(dir, "ci")
	keyStep("key generate -o %s", keyPath)
	k, err := bundle.GenerateKey("ecdsa-p256")
	if err != nil {
		return err
	}
	pub, err := bundle.MarshalPublicKey(k.Public())
	if err != nil {
		return err
	}
	priv, err := bundle.MarshalPrivateKey(k, nil)
	if err != nil {
		return err
	}
	if err := os.WriteFile(keyPath+".key", priv, 0o600); err != nil {
		return err
	}
	if err := os.WriteFile(keyPath+".pub", pub, 0o644); err != nil {
		return err
	}
	signer, err := evaluator.NewSigner(k, bundle.SignOptions{})
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "  key %s (%s.key: a demo key, under the empty passphrase)\n", signer.KeyID(), keyPath)

	o := evaluator.EvaluateOptions{Sources: evaluator.Sources{Feed: feeds + ":" + fp.Tag, Policy: pols + ":" + pp.Tag, Env: "staging"}, Signer: signer}
	var first *evaluator.ImageResult
	res := demoResult{Dir: dir, Image: imgRef, Feed: o.Sources.Feed, Policy: o.Sources.Policy, KeyID: signer.KeyID(), PublicKey: keyPath + ".pub", PrivateKey: keyPath + ".key"}
	for i := range 2 {
		keyStep("evaluate %s --feed %s --policy %s --env staging --key %s.key", imgRef, o.Sources.Feed, o.Sources.Policy, keyPath)
		rep, err := evaluator.Evaluate(ctx, imgRef, o)
		if err != nil {
			return err
		}
		r := rep.Images[0]
		fmt.Fprintf(w, "  state %s (engine runs %d), status %s, risk %d, %d findings, %d untrusted VEX ignored\n  verdict %s\n  artifact %s\n",
			r.State, r.EngineRuns, r.Status, r.RiskScore, r.Summary.Findings, len(r.VEXIgnored), r.VerdictDigest, r.Verdict)
		if i == 0 {
			first = r
			step("verify %s --key %s.pub --type %s", imgRef, keyPath, bundle.PredicateVerdict)
			vt, err := evaluator.Open(ctx, imgRef, opts)
			if err != nil {
				return err
			}
			vr, err := evaluator.VerifyImage(ctx, vt, image, evaluator.VerifyImageOptions{Trust: evaluator.Trust{Keys: [][]byte{pub}}, PredicateType: bundle.PredicateVerdict})
			vt.Close()
			if err != nil {
				return err
			}
			fmt.Fprintf(w, "  verification: %v (%s)\n", vr.Satisfied, vr.Reason)
			if !vr.Satisfied {
				return fmt.Errorf("%w: %s", errVerify, vr.Reason)
			}
			res.Verified = true
			step("replay %s", imgRef)
			rs, err := evaluator.Replay(ctx, imgRef, evaluator.ReplayOptions{})
			if err != nil {
				return err
			}
			for _, x := range rs {
				fmt.Fprintf(w, "  %s: %s %s\n", x.Verdict, x.Outcome, x.Replayed)
				if x.Outcome != evaluator.ReplayIdentical {
					return fmt.Errorf("%w: replay differs", errVerify)
				}
				res.Replay = x.Outcome
			}
			res.State, res.Status, res.VerdictDigest, res.VerdictArtifact, res.Bundle = r.State, r.Status, r.VerdictDigest, r.Verdict, r.Bundle
		} else if r.State != evaluator.StateCached || r.VerdictDigest != first.VerdictDigest {
			return fmt.Errorf("the second evaluation was %s with verdict %s, expected a cache hit on %s", r.State, r.VerdictDigest, first.VerdictDigest)
		} else {
			res.SecondState = r.State
		}
	}
	fmt.Fprintf(w, "\nDone. Everything is under %s: inspect it with\n  stella-oras discover %s\n  stella-oras status %s --key %s.pub\n", dir, imgRef, imgRef, keyPath)
	if out.JSON() {
		return cli.WriteJSON(s.Out, res)
	}
	return nil
}
