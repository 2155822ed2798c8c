package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/stella-ops/stella-oras/internal/cli"
	"github.com/stella-ops/stella-oras/internal/testutil"
)

// signedLayout is an OCI layout holding a sample image with bundles
// signed by some of the keys it generated (real keys, real bundles).
type signedLayout struct {
	dir     string
	image   string // oci:DIR@sha256:…
	tagged  string // oci:DIR:v1
	pred    string
	keyPath func(name, ext string) string
}

// newSignedLayout generates keys names and attests the image with
// signers (a subset of names), a verdict-typed predicate each.
func newSignedLayout(t *testing.T, names, signers []string) *signedLayout {
	t.Helper()
	t.Setenv(passphraseEnv, "")
	dir := t.TempDir()
	l := &signedLayout{dir: dir, keyPath: func(n, ext string) string { return filepath.Join(dir, n+"."+ext) }}
	for _, n := range names {
		if r := stella(t, "", "key", "generate", "-o", filepath.Join(dir, n)); r.code != 0 {
			t.Fatalf("key generate %s: %s", n, r.stderr)
		}
	}
	base := "oci:" + filepath.Join(dir, "layout")
	r := stella(t, "", "sample-image", base+":v1", "--output", "json")
	if r.code != 0 {
		t.Fatalf("sample-image: %s", r.stderr)
	}
	var si struct{ Reference string }
	json.Unmarshal([]byte(r.stdout), &si)
	l.image, l.tagged = si.Reference, base+":v1"
	l.pred = filepath.Join(dir, "verdict.json")
	os.WriteFile(l.pred, []byte(`{"status":"pass"}`), 0o644)
	for _, n := range signers {
		if r := stella(t, "", "attest", l.image, "--predicate", l.pred, "--type", verdictType, "--key", l.keyPath(n, "key")); r.code != 0 {
			t.Fatalf("attest %s: %s", n, r.stderr)
		}
	}
	return l
}

// TestVerifyWording: the result line says how many signers verified and
// how many were required; another key's bundle says it is not signed by
// a trusted key (not sigstore-go's "Found: 0, Expected 1").
func TestVerifyWording(t *testing.T) {
	l := newSignedLayout(t, []string{"a", "b", "c"}, []string{"a", "b"})
	r := stella(t, "", "verify", l.image, "--key", l.keyPath("a", "pub"), "--key", l.keyPath("b", "pub"))
	if r.code != 0 || !strings.Contains(r.stdout, "Verification OK: 2 signers verified (1 required)") {
		t.Errorf("verify a, b: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	r = stella(t, "", "verify", l.image, "--key", l.keyPath("a", "pub"), "--output", "json")
	var rep struct {
		Bundles []struct{ Signer, Reason string }
	}
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil || r.code != 0 || len(rep.Bundles) != 2 {
		t.Fatalf("verify a --output json: exit %d %v\n%s", r.code, err, r.stdout)
	}
	for _, b := range rep.Bundles {
		if b.Signer == "" && b.Reason != "not signed by a trusted key" {
			t.Errorf("b's bundle under a's key: reason %q, want %q", b.Reason, "not signed by a trusted key")
		}
	}
	r = stella(t, "", "verify", l.image, "--key", l.keyPath("c", "pub"), "--threshold", "1")
	if r.code != cli.ExitVerifyFailed || strings.Contains(r.stdout, "Found:") || !strings.Contains(r.stdout, "threshold not met: 0 signers verified, 1 required") {
		t.Errorf("verify c: exit %d\n%s", r.code, r.stdout)
	}
}

// TestPublicKeyFlagsChecked: a private key or a file that is no key given
// where a public key is needed is one clear line and exit 1, before any
// bundle is read, in every command that takes public keys.
func TestPublicKeyFlagsChecked(t *testing.T) {
	l := newSignedLayout(t, []string{"a"}, []string{"a"})
	priv := l.keyPath("a", "key")
	for _, args := range [][]string{
		{"verify", l.image, "--key", priv},
		{"verify-bundle", l.pred, "--key", priv, "--artifact-digest", "sha256:" + strings.Repeat("0", 64)},
		{"status", l.image, "--key", priv},
		{"evaluate", l.image, "--feed", "oci:" + l.dir + "/feeds", "--key", priv, "--vex-key", priv},
		{"key", "id", priv},
	} {
		r := stella(t, "", args...)
		want := "Error: " + priv + " is a private key; give the public key " + l.keyPath("a", "pub") + "\n"
		if r.code != cli.ExitError || r.stderr != want {
			t.Errorf("%s with a private key: exit %d stderr %q, want %d %q", args[0], r.code, r.stderr, cli.ExitError, want)
		}
	}
	r := stella(t, "", "verify", l.image, "--key", l.pred)
	if r.code != cli.ExitError || !strings.Contains(r.stderr, l.pred+" is not a PEM public key") || strings.Count(r.stderr, "\n") != 1 {
		t.Errorf("verify --key with a JSON file: exit %d stderr %q", r.code, r.stderr)
	}
}

// TestRevocationKey: a revocation list's signer is given with
// --revocation-key and is not thereby trusted for attestations: its own
// attestation of the image does not count, and it need not be a --key.
func TestRevocationKey(t *testing.T) {
	l := newSignedLayout(t, []string{"a", "b", "admin"}, []string{"a", "b", "admin"})
	list := filepath.Join(l.dir, "revocations.sigstore.json")
	if r := stella(t, "", "key", "revoke", "--key", l.keyPath("admin", "key"), "-o", list, keyID(t, l.keyPath("b", "pub"))); r.code != 0 {
		t.Fatalf("key revoke: %s", r.stderr)
	}
	verifyArgs := func(extra ...string) []string {
		return append([]string{"verify", l.image, "--key", l.keyPath("a", "pub"), "--key", l.keyPath("b", "pub"), "--output", "json"}, extra...)
	}
	rev := []string{"--revocations", list, "--revocation-key", l.keyPath("admin", "pub")}
	r := stella(t, "", verifyArgs(append(rev, "--threshold", "2")...)...)
	var rep struct {
		Signers []string
		Bundles []struct{ Signer, Reason string }
	}
	json.Unmarshal([]byte(r.stdout), &rep)
	if r.code != cli.ExitVerifyFailed || len(rep.Signers) != 1 || rep.Signers[0] != keyID(t, l.keyPath("a", "pub")) {
		t.Errorf("b revoked, threshold 2: exit %d signers %v (%s)", r.code, rep.Signers, r.stderr)
	}
	var revoked, untrusted int
	for _, b := range rep.Bundles {
		switch {
		case strings.Contains(b.Reason, "is revoked"):
			revoked++
		case b.Reason == "not signed by a trusted key":
			untrusted++ // admin's attestation: admin is no attestation signer
		}
	}
	if revoked != 1 || untrusted != 1 {
		t.Errorf("bundles %+v: want b's revoked and admin's not signed by a trusted key", rep.Bundles)
	}
	if r := stella(t, "", verifyArgs(rev...)...); r.code != 0 || strings.Contains(r.stderr, "note:") {
		t.Errorf("threshold 1 with a: exit %d stderr %q", r.code, r.stderr)
	}
	// Only admin may sign the list; and the list alone names no signer.
	if r := stella(t, "", "verify", l.image, "--key", l.keyPath("admin", "pub"), "--revocations", list, "--revocation-key", l.keyPath("a", "pub")); r.code != cli.ExitVerifyFailed || !strings.Contains(r.stderr, "no signature verifies under the key") || strings.Contains(r.stderr, "Found:") {
		t.Errorf("list checked against a --revocation-key that did not sign it: exit %d (%s)", r.code, r.stderr)
	}
	if r := stella(t, "", verifyArgs("--revocation-key", l.keyPath("admin", "pub"))...); r.code != cli.ExitUsage {
		t.Errorf("--revocation-key without --revocations: exit %d, want %d", r.code, cli.ExitUsage)
	}
	if r := stella(t, "", "status", l.image, "--key", l.keyPath("a", "pub"), "--revocations", list, "--revocation-key", l.keyPath("admin", "pub")); r.code != 0 {
		t.Errorf("status --revocation-key: exit %d (%s)", r.code, r.stderr)
	}
	// Without --revocation-key the list is checked against the --key keys
	// (the old behaviour: no key gains trust), with a note.
	selfList := filepath.Join(l.dir, "by-a.sigstore.json")
	stella(t, "", "key", "revoke", "--key", l.keyPath("a", "key"), "-o", selfList, keyID(t, l.keyPath("b", "pub")))
	if r := stella(t, "", verifyArgs("--revocations", selfList)...); r.code != 0 || !strings.Contains(r.stderr, "note: the revocation list is checked against the --key keys") {
		t.Errorf("list signed by a --key, no --revocation-key: exit %d stderr %q", r.code, r.stderr)
	}
}

// TestResolveFlags: attest and verify, whose errors said "pass --resolve",
// take --resolve; without it a tag is a usage error naming the flag; a
// revocation list named by tag says to name it by digest.
func TestResolveFlags(t *testing.T) {
	l := newSignedLayout(t, []string{"a"}, nil)
	r := stella(t, "", "attest", l.tagged, "--resolve", "--predicate", l.pred, "--type", verdictType, "--key", l.keyPath("a", "key"))
	if r.code != 0 || !strings.Contains(r.stderr, "resolved ") {
		t.Fatalf("attest --resolve: exit %d stderr %q", r.code, r.stderr)
	}
	r = stella(t, "", "verify", l.tagged, "--resolve", "--key", l.keyPath("a", "pub"))
	if r.code != 0 || !strings.Contains(r.stderr, "resolved ") || !strings.Contains(r.stdout, "1 signer verified") {
		t.Errorf("verify --resolve: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	for _, args := range [][]string{
		{"verify", l.tagged, "--key", l.keyPath("a", "pub")},
		{"attest", l.tagged, "--predicate", l.pred, "--type", verdictType, "--key", l.keyPath("a", "key")},
	} {
		if r := stella(t, "", args...); r.code != cli.ExitUsage || !strings.Contains(r.stderr, "pass --resolve") {
			t.Errorf("%s with a tag: exit %d stderr %q", args[0], r.code, r.stderr)
		}
	}
	// No tag at all: --resolve has nothing to resolve, and the error
	// says what to give, not to pass the flag that was passed.
	untagged := strings.TrimSuffix(l.tagged, ":v1")
	for _, args := range [][]string{
		{"verify", untagged, "--resolve", "--key", l.keyPath("a", "pub")},
		{"attest", untagged, "--resolve", "--predicate", l.pred, "--type", verdictType, "--key", l.keyPath("a", "key")},
		{"attest", untagged, "--predicate", l.pred, "--type", verdictType, "--key", l.keyPath("a", "key")},
	} {
		if r := stella(t, "", args...); r.code != cli.ExitUsage || !strings.Contains(r.stderr, "no tag or digest") || strings.Contains(r.stderr, "pass --resolve") {
			t.Errorf("%v: exit %d stderr %q", args, r.code, r.stderr)
		}
	}
	r = stella(t, "", "verify", l.image, "--key", l.keyPath("a", "pub"), "--revocations", l.tagged)
	if r.code != cli.ExitUsage || !strings.Contains(r.stderr, "by digest") || strings.Contains(r.stderr, "--resolve") {
		t.Errorf("--revocations by tag: exit %d stderr %q", r.code, r.stderr)
	}
}

// TestVerifyBundleSaysWhatWasChecked: without --artifact or
// --artifact-digest, verify-bundle says the subject was not checked (text
// and JSON); with the right digest it says the subject is the artifact.
func TestVerifyBundleSaysWhatWasChecked(t *testing.T) {
	l := newSignedLayout(t, []string{"a"}, nil)
	b := filepath.Join(l.dir, "a.sigstore.json")
	if r := stella(t, "", "attest", l.image, "--predicate", l.pred, "--type", verdictType, "--key", l.keyPath("a", "key"), "--bundle-out", b); r.code != 0 {
		t.Fatalf("attest: %s", r.stderr)
	}
	id, pub := keyID(t, l.keyPath("a", "pub")), l.keyPath("a", "pub")
	r := stella(t, "", "verify-bundle", b, "--key", pub)
	want := "Verified OK: " + b + ": signature by " + id + " over the statement; the subject was not checked (no --artifact or --artifact-digest)\n"
	if r.code != 0 || !strings.HasPrefix(r.stdout, want) {
		t.Errorf("verify-bundle without a subject: exit %d\n%s\nwant it to start %q", r.code, r.stdout, want)
	}
	r = stella(t, "", "verify-bundle", b, "--key", pub, "--output", "json")
	var res struct {
		Checked string
		Result  struct {
			SubjectChecked *bool `json:"subjectChecked"`
		}
	}
	if err := json.Unmarshal([]byte(r.stdout), &res); err != nil || r.code != 0 || res.Result.SubjectChecked == nil || *res.Result.SubjectChecked || !strings.Contains(res.Checked, "the subject was not checked") {
		t.Errorf("verify-bundle --output json without a subject: exit %d %v\n%s", r.code, err, r.stdout)
	}
	digest := l.image[strings.LastIndex(l.image, "@")+1:]
	r = stella(t, "", "verify-bundle", b, "--key", pub, "--artifact-digest", digest, "--output", "json")
	if err := json.Unmarshal([]byte(r.stdout), &res); err != nil || r.code != 0 || res.Result.SubjectChecked == nil || !*res.Result.SubjectChecked || !strings.Contains(res.Checked, "its subject is the artifact") {
		t.Errorf("verify-bundle --artifact-digest: exit %d %v\n%s", r.code, err, r.stdout)
	}
}

// TestAttachTypeChecked: an explicit --type that contradicts the content
// (a CycloneDX SBOM as sbom-spdx) is refused, exit 2, before anything is
// pushed; a type of the same format (CycloneDX SBOM as vex-cyclonedx) and
// content that nothing recognizes are taken as said.
func TestAttachTypeChecked(t *testing.T) {
	l := newSignedLayout(t, nil, nil)
	cdx := example("sbom.cdx.json")
	r := stella(t, "", "attach", l.image, cdx, "--type", "sbom-spdx")
	if r.code != cli.ExitUsage || !strings.Contains(r.stderr, "--type sbom-spdx, but the content is sbom-cyclonedx") {
		t.Errorf("CycloneDX as sbom-spdx: exit %d stderr %q", r.code, r.stderr)
	}
	if r := stella(t, "", "discover", l.image); strings.Contains(r.stdout, "spdx") {
		t.Errorf("a refused attach pushed something:\n%s", r.stdout)
	}
	if r := stella(t, "", "attach", l.image, cdx, "--type", "vex-cyclonedx"); r.code != 0 {
		t.Errorf("CycloneDX as vex-cyclonedx: exit %d %s", r.code, r.stderr)
	}
	// A family (--type sbom or vex): content of the other family is a
	// usage error as a contradicting type is; a CycloneDX BOM is either.
	if r := stella(t, "", "attach", l.image, example("vex.openvex.json"), "--type", "sbom"); r.code != cli.ExitUsage || !strings.Contains(r.stderr, "--type sbom, but the content is vex-openvex") {
		t.Errorf("OpenVEX as sbom: exit %d stderr %q", r.code, r.stderr)
	}
	if r := stella(t, "", "attach", l.image, cdx, "--type", "vex", "--output", "json"); r.code != 0 || !strings.Contains(r.stdout, `"artifactType": "application/vnd.cyclonedx.vex+json"`) {
		t.Errorf("CycloneDX as vex: exit %d %s%s, want it attached as CycloneDX VEX", r.code, r.stdout, r.stderr)
	}
	odd := filepath.Join(l.dir, "odd.json")
	os.WriteFile(odd, []byte(`{"statements":[]}`), 0o644)
	if r := stella(t, "", "attach", l.image, odd, "--type", "vex-openvex"); r.code != 0 {
		t.Errorf("unrecognized content with --type: exit %d %s", r.code, r.stderr)
	}
	// This tool's own formats and the Sigstore bundle are always
	// recognized: content that is not one is refused as such a type.
	for typ, what := range map[string]string{"verdict": "a verdict", "sigstore-bundle": "a Sigstore bundle", "policy": "a compiled policy", "feed": "a feed snapshot"} {
		if r := stella(t, "", "attach", l.image, odd, "--type", typ); r.code != cli.ExitError || !strings.Contains(r.stderr, "--type "+typ+", but the content is not "+what) {
			t.Errorf("unrecognized content as %s: exit %d stderr %q", typ, r.code, r.stderr)
		}
	}
	// --media-type and --artifact-type override, but do not name another
	// known format than the content's.
	for _, args := range [][]string{
		{"--media-type", "application/spdx+json"},
		{"--artifact-type", "application/spdx+json"},
		{"--artifact-type", "application/vnd.openvex+json", "--type", "vex-cyclonedx"},
		// A media type's type and subtype are case insensitive, its
		// parameters and spaces not part of it (RFC 6838, 9110).
		{"--media-type", "application/spdx+json; version=2.3"},
		{"--media-type", "APPLICATION/SPDX+JSON"},
		{"--media-type", "application/vnd.openvex+json;charset=utf-8"},
		{"--artifact-type", "Application/Spdx+Json;version=2.3"},
		// Another encoding of a known format: JSON content is none.
		{"--media-type", "text/spdx"},
		{"--media-type", "application/vnd.cyclonedx+xml"},
		// The Sigstore bundle's media type before v0.3.
		{"--artifact-type", "application/vnd.dev.sigstore.bundle+json;version=0.3"},
	} {
		r := stella(t, "", append([]string{"attach", l.image, cdx}, args...)...)
		if r.code != cli.ExitUsage || !strings.Contains(r.stderr, "but the content is a CycloneDX") || !strings.Contains(r.stderr, "drop "+args[0]) {
			t.Errorf("CycloneDX with %v: exit %d stderr %q", args, r.code, r.stderr)
		}
	}
	// A value that is no media type is refused before anything is read,
	// whatever the content: a stray space or comma would slip past the
	// comparison with the known formats.
	for _, args := range [][]string{
		{"--media-type", "application/ spdx+json"},
		{"--media-type", "application/spdx+json,"},
		{"--artifact-type", "spdx"},
		{"--artifact-type", "application/spdx/json"},
	} {
		for _, doc := range []string{cdx, odd} {
			r := stella(t, "", append([]string{"attach", l.image, doc}, args...)...)
			if r.code != cli.ExitUsage || !strings.Contains(r.stderr, args[0]+" ") || !strings.Contains(r.stderr, "not a media type") {
				t.Errorf("%s with %v: exit %d stderr %q", filepath.Base(doc), args, r.code, r.stderr)
			}
		}
	}
	// Spaces around a media type would be pushed as part of the label,
	// which no reader matching the type finds: refused, known or not.
	for _, args := range [][]string{
		{"--media-type", "application/spdx+json "},
		{"--artifact-type", "application/vnd.example.sbom+json "},
		{"--artifact-type", " application/vnd.example.sbom+json"},
		{"--media-type", "application/vnd.example.sbom+json\t"},
	} {
		for _, doc := range []string{cdx, odd} {
			r := stella(t, "", append([]string{"attach", l.image, doc}, args...)...)
			if r.code != cli.ExitUsage || !strings.Contains(r.stderr, args[0]+" ") || !strings.Contains(r.stderr, "spaces around the media type") {
				t.Errorf("%s with %v: exit %d stderr %q", filepath.Base(doc), args, r.code, r.stderr)
			}
		}
	}
	if r := stella(t, "", "discover", l.image); strings.Contains(r.stdout, "spdx") || strings.Contains(r.stdout, "example") || strings.Count(r.stdout, "openvex") != 1 {
		t.Errorf("a refused attach pushed something:\n%s", r.stdout)
	}
	// Either flag is compared with both columns: the CycloneDX VEX
	// artifact type as the media type of an OpenVEX document.
	before := stella(t, "", "discover", l.image).stdout
	if r := stella(t, "", "attach", l.image, example("vex.openvex.json"), "--media-type", "application/vnd.cyclonedx.vex+json"); r.code != cli.ExitUsage || !strings.Contains(r.stderr, "is a CycloneDX VEX") {
		t.Errorf("OpenVEX with a CycloneDX VEX media type: exit %d stderr %q", r.code, r.stderr)
	}
	if after := stella(t, "", "discover", l.image).stdout; after != before {
		t.Errorf("a refused attach pushed something:\n%s", after)
	}
	for _, args := range [][]string{
		{"--media-type", "application/vnd.example.sbom+json"},
		{"--artifact-type", "application/vnd.cyclonedx.vex+json"},
		{"--artifact-type", "application/vnd.example.sbom", "--media-type", "application/vnd.cyclonedx+json"},
	} {
		if r := stella(t, "", append([]string{"attach", l.image, cdx}, args...)...); r.code != 0 {
			t.Errorf("CycloneDX with %v: exit %d %s", args, r.code, r.stderr)
		}
	}
}

// outputExempt are the runnable commands without --output, and why (the
// README's "Commands" says the same).
var outputExempt = map[string]string{
	"stella-oras help":       "cobra's help: prints usage text, no result",
	"stella-oras completion": "cobra's shell completion scripts: the script is the output",
	// Its flags are stella-registry's, passed through unparsed; that
	// binary takes --output json (e2e TestRegistryServeJSON).
	"stella-oras registry serve": "flags belong to stella-registry, which takes --output json",
}

// TestEveryCommandTakesOutputJSON walks the command tree: every runnable
// command that is not a group (a group only prints its help) has an
// --output flag accepting json, unless outputExempt says why not.
func TestEveryCommandTakesOutputJSON(t *testing.T) {
	root := newRoot(&cli.Streams{In: strings.NewReader(""), Out: new(strings.Builder), Err: new(strings.Builder)})
	root.InitDefaultHelpCmd()
	root.InitDefaultCompletionCmd()
	var walk func(c *cobra.Command)
	checked := 0
	walk = func(c *cobra.Command) {
		for _, sub := range c.Commands() {
			walk(sub)
		}
		path := c.CommandPath()
		if !c.Runnable() || c.HasSubCommands() || outputExempt[path] != "" || outputExempt[c.Parent().CommandPath()] != "" {
			return
		}
		checked++
		f := c.Flags().Lookup("output")
		if f == nil {
			t.Errorf("%s has no --output flag", path)
			return
		}
		if !strings.Contains(f.Usage, "json") {
			t.Errorf("%s --output: usage %q does not offer json", path, f.Usage)
		}
		if err := f.Value.Set("json"); err != nil {
			t.Errorf("%s --output json: %v", path, err)
		}
	}
	walk(root)
	if checked < 25 {
		t.Errorf("checked %d commands, want every one (at least 25)", checked)
	}
}

// TestOutputJSONOfKeyRevokeDemoVex: the commands that lacked --output json
// (key revoke, demo) print one JSON document, and vex normalize's is
// indented like every other command's.
func TestOutputJSONOfKeyRevokeDemoVex(t *testing.T) {
	t.Setenv(passphraseEnv, "")
	dir := t.TempDir()
	stella(t, "", "key", "generate", "-o", filepath.Join(dir, "admin"))
	list := filepath.Join(dir, "r.json")
	id := strings.Repeat("ab", 32)
	r := stella(t, "", "key", "revoke", "--key", filepath.Join(dir, "admin.key"), "-o", list, id, id, "--output", "json")
	var rv revokeResult
	if err := json.Unmarshal([]byte(r.stdout), &rv); err != nil || r.code != 0 || rv.File != list || len(rv.RevokedKeyIDs) != 1 || rv.Signer != keyID(t, filepath.Join(dir, "admin.pub")) {
		t.Errorf("key revoke --output json: exit %d %v\n%s%s", r.code, err, r.stdout, r.stderr)
	}
	r = stella(t, "", "demo", "--dir", filepath.Join(dir, "demo"), "--output", "json")
	var d demoResult
	if err := json.Unmarshal([]byte(r.stdout), &d); err != nil || r.code != 0 || !d.Verified || d.Replay != "identical" || d.SecondState != "cached" || !strings.Contains(r.stderr, "$ STELLA_KEY_PASSWORD= stella-oras evaluate") {
		t.Errorf("demo --output json: exit %d %v\n%s", r.code, err, r.stdout)
	}
	r = stella(t, "", "vex", "normalize", example("vex.openvex.json"), "--output", "json")
	if r.code != 0 || !strings.HasPrefix(r.stdout, "{\n  \"documents\": [") || !json.Valid([]byte(r.stdout)) {
		t.Errorf("vex normalize --output json is not indented: exit %d\n%.200s", r.code, r.stdout)
	}
}

// TestEvalInputMessages: --strict without --schemas is a usage error; the
// corpus's invalid-cyclonedx.json says what is wrong; an SBOM, a VEX
// document or one OSV record given as --feed says what it is.
func TestEvalInputMessages(t *testing.T) {
	sbom, osv := example("sbom.cdx.json"), example("osv")
	t.Setenv("STELLA_SCHEMAS", "")
	if r := stella(t, "", "eval", "--sbom", sbom, "--feed", osv, "--strict"); r.code != cli.ExitUsage || !strings.Contains(r.stderr, "--strict needs --schemas") {
		t.Errorf("--strict without --schemas: exit %d stderr %q", r.code, r.stderr)
	}
	for feed, want := range map[string]string{
		sbom:                        "this is a CycloneDX SBOM, not a feed",
		example("vex.openvex.json"): "this is an OpenVEX document, not a feed",
		filepath.Join(osv, "EX-ALPINE-2026-0001.json"): "this is a single OSV record (",
	} {
		if r := stella(t, "", "eval", "--sbom", sbom, "--feed", feed); r.code != cli.ExitError || !strings.Contains(r.stderr, want) {
			t.Errorf("--feed %s: exit %d stderr %q, want %q", filepath.Base(feed), r.code, r.stderr, want)
		}
	}
	corpus := testutil.Corpus(t)
	r := stella(t, "", "eval", "--sbom", filepath.Join(corpus, "sbom/cyclonedx/guac/invalid-cyclonedx.json"), "--feed", osv, "--strict", "--schemas", filepath.Join(corpus, "schemas"))
	if r.code != cli.ExitError || !strings.Contains(r.stderr, `bomFormat is "CDX", want "CycloneDX"`) {
		t.Errorf("invalid-cyclonedx.json --strict: exit %d stderr %q", r.code, r.stderr)
	}
}

// TestUsageHints: a mistyped command gets cobra's suggestion, at the top
// level and under a group; a usage error points at the help of the
// command that refused it.
func TestUsageHints(t *testing.T) {
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"evalute"}, `Error: unknown command "evalute" for "stella-oras"; did you mean "evaluate"?` + "\nRun 'stella-oras --help' for usage.\n"},
		{[]string{"key", "genrate"}, `Error: unknown command "genrate" for "stella-oras key"; did you mean "generate"?` + "\nRun 'stella-oras key --help' for usage.\n"},
		{[]string{"key", "generate", "--bogus"}, "Error: unknown flag: --bogus\nRun 'stella-oras key generate --help' for usage.\n"},
		{[]string{"eval", "--sbom", "x"}, "Error: --sbom and --feed are required\nRun 'stella-oras eval --help' for usage.\n"},
		{[]string{"xyzzy"}, `Error: unknown command "xyzzy" for "stella-oras"` + "\nRun 'stella-oras --help' for usage.\n"},
	} {
		if r := stella(t, "", tt.args...); r.code != cli.ExitUsage || r.stderr != tt.want {
			t.Errorf("%v: exit %d stderr %q, want %d %q", tt.args, r.code, r.stderr, cli.ExitUsage, tt.want)
		}
	}
	if r := stella(t, "", "feed", "--help"); strings.Contains(r.stdout, "inspect") || !strings.Contains(r.stdout, "push") {
		t.Errorf("feed --help promises what feed does not do:\n%s", r.stdout)
	}
}

// TestKeyID: key id prints the ID that attest and verify report for the
// key, in text and JSON.
func TestKeyID(t *testing.T) {
	l := newSignedLayout(t, []string{"a"}, nil)
	r := stella(t, "", "attest", l.image, "--predicate", l.pred, "--type", verdictType, "--key", l.keyPath("a", "key"), "--output", "json")
	var ar attestResult
	if err := json.Unmarshal([]byte(r.stdout), &ar); err != nil || ar.KeyID == "" {
		t.Fatalf("attest: exit %d %v %s", r.code, err, r.stderr)
	}
	if r := stella(t, "", "key", "id", l.keyPath("a", "pub")); r.code != 0 || r.stdout != ar.KeyID+"\n" {
		t.Errorf("key id = exit %d %q, want %q (attest's keyId)", r.code, r.stdout, ar.KeyID)
	}
	r = stella(t, "", "key", "id", l.keyPath("a", "pub"), "--output", "json")
	var kr keyIDResult
	if err := json.Unmarshal([]byte(r.stdout), &kr); err != nil || kr.KeyID != ar.KeyID || kr.File != l.keyPath("a", "pub") {
		t.Errorf("key id --output json = %q (%v)", r.stdout, err)
	}
	r = stella(t, "", "verify", l.image, "--key", l.keyPath("a", "pub"), "--output", "json")
	var vr struct{ Signers []string }
	json.Unmarshal([]byte(r.stdout), &vr)
	if len(vr.Signers) != 1 || vr.Signers[0] != ar.KeyID {
		t.Errorf("verify signers %v, want [%s]", vr.Signers, ar.KeyID)
	}
}

// TestVexNormalizeSBOMSubject: a statement about the product an SBOM
// describes (CycloneDX metadata.component, SPDX's described package), or
// about a component it lists but cannot judge, is not reported as "not
// in" the SBOM; one about something else still is.
func TestVexNormalizeSBOMSubject(t *testing.T) {
	dir := t.TempDir()
	cdx := filepath.Join(dir, "app.cdx.json")
	os.WriteFile(cdx, []byte(`{"bomFormat":"CycloneDX","specVersion":"1.6","metadata":{"component":{"type":"container","name":"app","purl":"pkg:oci/app@sha256%3Aabc?repository_url=registry.example/app"}},
"components":[{"type":"library","name":"x","version":"1.0.0","purl":"pkg:npm/x@1.0.0"},{"type":"file","name":"blob","purl":"pkg:generic/blob@1"}]}`), 0o644)
	vexDoc := filepath.Join(dir, "v.openvex.json")
	os.WriteFile(vexDoc, []byte(`{"@context":"https://openvex.dev/ns/v0.2.0","@id":"x","author":"Vendor","timestamp":"2026-01-01T00:00:00Z","statements":[
	 {"vulnerability":{"name":"CVE-1"},"products":[{"@id":"pkg:oci/app@sha256%3Aabc"}],"status":"not_affected","justification":"vulnerable_code_not_present"},
	 {"vulnerability":{"name":"CVE-2"},"products":[{"@id":"pkg:generic/blob@1"}],"status":"affected"},
	 {"vulnerability":{"name":"CVE-3"},"products":[{"@id":"pkg:npm/not-there@1.0.0"}],"status":"affected"}]}`), 0o644)
	r := stella(t, "", "vex", "normalize", vexDoc, "--sbom", cdx, "--output", "json")
	var rep vexReport
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil || r.code != 0 {
		t.Fatalf("exit %d %v: %s", r.code, err, r.stderr)
	}
	if got := rep.Documents[0].NotInSBOM; len(got) != 1 || got[0] != "pkg:npm/not-there@1.0.0" {
		t.Errorf("not_in_sbom = %v, want only pkg:npm/not-there@1.0.0", got)
	}
}

// TestHelpTextClean walks the command tree: no help text quotes a Go
// identifier of this tree (vex normalize said "are cli.Reported", left
// by a rename).
func TestHelpTextClean(t *testing.T) {
	root := newRoot(&cli.Streams{In: strings.NewReader(""), Out: new(strings.Builder), Err: new(strings.Builder)})
	var walk func(c *cobra.Command)
	n := 0
	walk = func(c *cobra.Command) {
		n++
		for _, sub := range c.Commands() {
			walk(sub)
		}
		texts := []string{c.Short, c.Long, c.Example}
		c.Flags().VisitAll(func(f *pflag.Flag) { texts = append(texts, f.Usage) })
		for _, s := range texts {
			for _, pkg := range []string{"cli.", "registry.", "evaluator.", "bundle.", "load.", "handoff."} {
				if i := strings.Index(s, pkg); i >= 0 && i+len(pkg) < len(s) && s[i+len(pkg)] >= 'A' && s[i+len(pkg)] <= 'Z' {
					t.Errorf("%s: help quotes a Go identifier: …%s…", c.CommandPath(), s[max(0, i-30):min(len(s), i+30)])
				}
			}
		}
	}
	walk(root)
	if n < 25 {
		t.Errorf("walked %d commands, want every one", n)
	}
}

// TestVexNormalizeEpoch: --epoch that does not parse, or without the
// --feed it applies to, is a usage error (it was silently ignored without
// --feed).
func TestVexNormalizeEpoch(t *testing.T) {
	vex := example("vex.openvex.json")
	for _, args := range [][]string{
		{"vex", "normalize", vex, "--epoch", "garbage"},
		{"vex", "normalize", vex, "--epoch", "2026-08-21"},
	} {
		if r := stella(t, "", args...); r.code != cli.ExitUsage || !strings.Contains(r.stderr, "--epoch") {
			t.Errorf("%v: exit %d, stderr %q; want %d naming --epoch", args[3:], r.code, r.stderr, cli.ExitUsage)
		}
	}
	if r := stella(t, "", "vex", "normalize", vex); r.code != 0 {
		t.Errorf("vex normalize: exit %d %s", r.code, r.stderr)
	}
}

// TestThresholdOverDistinctKeys: a --threshold above the distinct keys
// the --key files hold (one key given twice, under two names) is a usage
// error, as one above the number of --key flags is; it exited 1.
func TestThresholdOverDistinctKeys(t *testing.T) {
	l := newSignedLayout(t, []string{"a"}, []string{"a"})
	copyPub := filepath.Join(t.TempDir(), "same.pub")
	b, _ := os.ReadFile(l.keyPath("a", "pub"))
	os.WriteFile(copyPub, b, 0o644)
	for _, keys := range [][]string{{l.keyPath("a", "pub"), l.keyPath("a", "pub")}, {l.keyPath("a", "pub"), copyPub}} {
		r := stella(t, "", "verify", l.image, "--key", keys[0], "--key", keys[1], "--threshold", "2")
		if r.code != cli.ExitUsage || !strings.Contains(r.stderr, "--threshold 2: the 2 --key files hold 1 distinct keys") {
			t.Errorf("%v, threshold 2: exit %d stderr %q, want a usage error", keys, r.code, r.stderr)
		}
	}
	if r := stella(t, "", "verify", l.image, "--key", l.keyPath("a", "pub"), "--key", copyPub); r.code != 0 {
		t.Errorf("one key twice, threshold 1: exit %d %s", r.code, r.stderr)
	}
}
