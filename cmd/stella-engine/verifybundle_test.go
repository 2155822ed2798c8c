package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/stella-ops/stella-oras/internal/cli"
	"github.com/stella-ops/stella-oras/internal/testutil"
)

// TestVerifyBundleCorpus: `stella-oras verify-bundle` with cosign's flags
// agrees with every case of corpus/sigstore/expectations.json. One case
// (sigstore-go/public-key-validity-expired) bounds the key's validity,
// which no cosign flag expresses: it uses --key-validity.
func TestVerifyBundleCorpus(t *testing.T) {
	dir := filepath.Join(testutil.Corpus(t), "sigstore")
	b, err := os.ReadFile(filepath.Join(dir, "expectations.json"))
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Cases []struct {
			ID             string `json:"id"`
			Bundle         string `json:"bundle"`
			TrustedRoot    string `json:"trusted_root"`
			Artifact       string `json:"artifact"`
			ArtifactDigest string `json:"artifact_digest"`
			ArtifactLit    string `json:"artifact_literal"`
			Key            string `json:"key"`
			KeyValidFor    *struct {
				Start string `json:"start"`
				End   string `json:"end"`
			} `json:"key_valid_for"`
			Identity *struct {
				Issuer, SAN string
				SANRegex    string `json:"san_regex"`
			} `json:"identity"`
			Expected string `json:"expected"`
		} `json:"cases"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	ran := 0
	for _, c := range doc.Cases {
		args := []string{"verify-bundle", filepath.Join(dir, c.Bundle)}
		if c.TrustedRoot != "" {
			args = append(args, "--trusted-root", filepath.Join(dir, c.TrustedRoot))
		}
		switch {
		case c.Artifact != "":
			args = append(args, "--artifact", filepath.Join(dir, c.Artifact))
		case c.ArtifactDigest != "":
			args = append(args, "--artifact-digest", c.ArtifactDigest)
		case c.ArtifactLit != "":
			p := filepath.Join(t.TempDir(), "artifact")
			os.WriteFile(p, []byte(c.ArtifactLit), 0o644)
			args = append(args, "--artifact", p)
		}
		if c.Key != "" {
			args = append(args, "--key", filepath.Join(dir, c.Key))
		}
		if c.KeyValidFor != nil {
			args = append(args, "--key-validity", c.KeyValidFor.Start+","+c.KeyValidFor.End)
		}
		if c.Identity != nil {
			if c.Identity.SAN != "" {
				args = append(args, "--certificate-identity", c.Identity.SAN)
			}
			if c.Identity.SANRegex != "" {
				args = append(args, "--certificate-identity-regexp", c.Identity.SANRegex)
			}
			args = append(args, "--certificate-oidc-issuer", c.Identity.Issuer)
		}
		r := stella(t, "", args...)
		got := "pass"
		switch r.code {
		case cli.ExitOK:
		case cli.ExitVerifyFailed, cli.ExitError:
			got = "fail"
		default:
			t.Errorf("%s: exit %d (%s)", c.ID, r.code, r.stderr)
		}
		if got != c.Expected {
			t.Errorf("%s: %s (exit %d: %s), want %s", c.ID, got, r.code, r.stderr, c.Expected)
		}
		ran++
	}
	if ran != 80 {
		t.Errorf("ran %d cases, want 80", ran)
	}
}
