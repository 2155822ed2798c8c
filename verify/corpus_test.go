package verify

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stella-ops/stella-oras/internal/testutil"
)

// Case is one entry of corpus/sigstore/expectations.json.
type Case struct {
	ID             string `json:"id"`
	Bundle         string `json:"bundle"`
	TrustedRoot    string `json:"trusted_root"`
	Artifact       string `json:"artifact"`
	ArtifactDigest string `json:"artifact_digest"`
	ArtifactLit    string `json:"artifact_literal"`
	Key            string `json:"key"`
	KeyValidFor    *struct {
		Start time.Time `json:"start"`
		End   time.Time `json:"end"`
	} `json:"key_valid_for"`
	Identity *struct {
		Issuer    string `json:"issuer"`
		SAN       string `json:"san"`
		SANRegexp string `json:"san_regex"`
	} `json:"identity"`
	Expected string `json:"expected"`
}

// LoadCases reads the corpus expectations (80 cases).
func LoadCases(t *testing.T) (string, []Case) {
	dir := filepath.Join(testutil.Corpus(t), "sigstore")
	b, err := os.ReadFile(filepath.Join(dir, "expectations.json"))
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Cases []Case `json:"cases"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	return dir, doc.Cases
}

// TestCorpusExpectations: every case of the corpus gives its expected
// outcome, fully offline.
func TestCorpusExpectations(t *testing.T) {
	dir, cases := LoadCases(t)
	if len(cases) != 80 {
		t.Fatalf("%d cases, want 80", len(cases))
	}
	agree := 0
	for _, c := range cases {
		o := BundleOptions{ArtifactDigest: c.ArtifactDigest}
		if c.TrustedRoot != "" {
			o.TrustedRoot = filepath.Join(dir, c.TrustedRoot)
		}
		switch {
		case c.Artifact != "":
			b, err := os.ReadFile(filepath.Join(dir, c.Artifact))
			if err != nil {
				t.Fatal(err)
			}
			o.Artifact = bytes.NewReader(b)
		case c.ArtifactLit != "":
			o.Artifact = strings.NewReader(c.ArtifactLit)
		}
		if c.Key != "" {
			k, err := os.ReadFile(filepath.Join(dir, c.Key))
			if err != nil {
				t.Fatal(err)
			}
			o.KeyPEM = k
		}
		if c.KeyValidFor != nil {
			o.KeyValidFrom, o.KeyValidTo = c.KeyValidFor.Start, c.KeyValidFor.End
		}
		if c.Identity != nil {
			o.Identity, o.IdentityRegexp, o.Issuer = c.Identity.SAN, c.Identity.SANRegexp, c.Identity.Issuer
		}
		_, err := VerifyBundle(filepath.Join(dir, c.Bundle), o)
		got := "pass"
		if err != nil {
			got = "fail"
			if !errors.Is(err, ErrVerification) && !errors.Is(err, ErrInput) {
				t.Errorf("%s: error outside both sentinels: %v", c.ID, err)
			}
		}
		if got != c.Expected {
			t.Errorf("%s: %s (%v), want %s", c.ID, got, err, c.Expected)
		} else {
			agree++
		}
	}
	t.Logf("%d of %d corpus cases agree with expected", agree, len(cases))
}
