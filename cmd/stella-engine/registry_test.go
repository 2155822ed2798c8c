package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stella-ops/stella-oras/internal/cli"
	"github.com/stella-ops/stella-oras/internal/regtest"
	"github.com/stella-ops/stella-oras/registry"
)

// TestRegistryCommands runs attach, discover and pull against the embedded
// registry, plain distribution and an OCI layout.
func TestRegistryCommands(t *testing.T) {
	ctx := context.Background()
	sbom := example("sbom.cdx.json")
	layout := t.TempDir()
	for name, base := range map[string]string{
		"embedded": regtest.Start(t, regtest.Referrers) + "/app",
		"plain":    regtest.Start(t, regtest.Plain) + "/app",
		"layout":   "oci:" + layout,
		"archive":  "oci-archive:" + filepath.Join(t.TempDir(), "img.tar"),
	} {
		t.Run(name, func(t *testing.T) {
			ref, _ := registry.ParseReference(base)
			tg, err := registry.Open(ctx, ref, registry.Options{PlainHTTP: true})
			if err != nil {
				t.Fatal(err)
			}
			img := regtest.PushImage(t, tg.Store, "v1")
			if err := tg.Close(); err != nil {
				t.Fatal(err)
			}
			flags := []string{}
			if !strings.HasPrefix(base, "oci") {
				flags = append(flags, "--plain-http")
			}
			subject := base + "@" + img.Digest.String()

			// A tag is refused without --resolve (usage), accepted with it.
			if r := stella(t, "", append([]string{"attach", base + ":v1", sbom}, flags...)...); r.code != cli.ExitUsage {
				t.Errorf("attach by tag: exit %d, want %d (%s)", r.code, cli.ExitUsage, r.stderr)
			}
			r := stella(t, "", append([]string{"attach", base + ":v1", sbom, "--resolve", "--output", "json"}, flags...)...)
			if r.code != 0 || !strings.Contains(r.stderr, img.Digest.String()) {
				t.Fatalf("attach --resolve: exit %d stderr %s", r.code, r.stderr)
			}
			var a cli.AttachResult
			if err := json.Unmarshal([]byte(r.stdout), &a); err != nil || a.ArtifactType != "application/vnd.cyclonedx+json" {
				t.Fatalf("attach result %q (%v)", r.stdout, err)
			}
			r2 := stella(t, "", append([]string{"attach", subject, sbom, "--output", "json"}, flags...)...)
			var a2 cli.AttachResult
			json.Unmarshal([]byte(r2.stdout), &a2)
			if a2.Manifest.Digest != a.Manifest.Digest {
				t.Errorf("attaching twice gave %s and %s", a.Manifest.Digest, a2.Manifest.Digest)
			}

			r = stella(t, "", append([]string{"discover", subject}, flags...)...)
			if r.code != 0 || strings.Count(r.stdout, "application/vnd.cyclonedx+json") != 1 || !strings.Contains(r.stdout, a.Manifest.Digest.String()) {
				t.Errorf("discover: exit %d\n%s%s", r.code, r.stdout, r.stderr)
			}
			r = stella(t, "", append([]string{"discover", subject, "--artifact-type", "application/spdx+json", "--output", "json"}, flags...)...)
			if r.code != 0 || strings.Contains(r.stdout, "cyclonedx") {
				t.Errorf("discover filtered: %s", r.stdout)
			}

			out := t.TempDir()
			r = stella(t, "", append([]string{"pull", base + "@" + a.Manifest.Digest.String(), "-o", out}, flags...)...)
			if r.code != 0 {
				t.Fatalf("pull: %d %s", r.code, r.stderr)
			}
			want, _ := os.ReadFile(sbom)
			if got, _ := os.ReadFile(filepath.Join(out, "sbom.cdx.json")); string(got) != string(want) {
				t.Error("pulled file differs from the attached one")
			}
			if r := stella(t, "", append([]string{"pull", base + ":v1", "-o", out}, flags...)...); r.code != cli.ExitUsage {
				t.Errorf("pull by tag: exit %d, want %d", r.code, cli.ExitUsage)
			}
		})
	}
}

func TestRegistryUnreachable(t *testing.T) {
	d := "@sha256:" + strings.Repeat("a", 64)
	for _, host := range []string{"127.0.0.1:1", "no-such-host.invalid"} {
		r := stella(t, "", "discover", "--plain-http", host+"/app"+d)
		if r.code != cli.ExitError || strings.Count(r.stderr, "\n") != 1 || !strings.Contains(r.stderr, host) {
			t.Errorf("%s: exit %d, stderr %q", host, r.code, r.stderr)
		}
	}
	// A subject that does not exist: one line, exit 1, says not found.
	host := regtest.Start(t, regtest.Referrers)
	r := stella(t, "", "attach", "--plain-http", host+"/app"+d, example("sbom.cdx.json"))
	if r.code != cli.ExitError || !strings.Contains(r.stderr, "not found") {
		t.Errorf("missing subject: exit %d, stderr %q", r.code, r.stderr)
	}
}

// TestAttachDocumentRefused: attach to a registry by digest reads the
// document while its first reads are in flight; a document that cannot be
// read, or is not what --type says, still exits as before (1, or 2 for
// the flag), says why in one line, and pushes nothing.
func TestAttachDocumentRefused(t *testing.T) {
	host := regtest.Start(t, regtest.Plain)
	tg, err := registry.Open(context.Background(), registry.Reference{Kind: registry.KindRemote, Repository: host + "/app"}, registry.Options{PlainHTTP: true})
	if err != nil {
		t.Fatal(err)
	}
	img := regtest.PushImage(t, tg.Store, "v1")
	subject := host + "/app@" + img.Digest.String()
	text := filepath.Join(t.TempDir(), "notes.txt")
	if err := os.WriteFile(text, []byte("not a document\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		args []string
		code int
		says string
	}{
		{"missing file", []string{filepath.Join(t.TempDir(), "none.json")}, cli.ExitError, "none.json"},
		{"unknown type", []string{example("sbom.cdx.json"), "--type", "nope"}, cli.ExitUsage, `--type "nope"`},
		{"type against content", []string{example("sbom.cdx.json"), "--type", "sbom-spdx"}, cli.ExitUsage, "drop --type"},
		{"not a document", []string{text}, cli.ExitError, "cannot tell the document type"},
	} {
		r := stella(t, "", append([]string{"attach", "--plain-http", subject}, tc.args...)...)
		// One line that says why (a usage error adds where the help is).
		first, rest, _ := strings.Cut(strings.TrimSpace(r.stderr), "\n")
		if r.code != tc.code || !strings.Contains(first, tc.says) || (rest != "" && !strings.Contains(rest, "--help")) {
			t.Errorf("%s: exit %d, stderr %q; want %d and one line with %q", tc.name, r.code, r.stderr, tc.code, tc.says)
		}
		refs, err := registry.Referrers(context.Background(), tg, img, "")
		if err != nil {
			t.Fatal(err)
		}
		if len(refs) != 0 {
			t.Errorf("%s: a refused attach pushed %v", tc.name, refs)
		}
	}
}

// TestPlainHTTPHint: a registry that speaks plain HTTP, reached without
// --plain-http, gets the hint from every command, mirror included (on
// either side, with its one-side flags named).
func TestPlainHTTPHint(t *testing.T) {
	host := regtest.Start(t, regtest.Referrers)
	tg, err := registry.Open(context.Background(), registry.Reference{Kind: registry.KindRemote, Repository: host + "/app"}, registry.Options{PlainHTTP: true})
	if err != nil {
		t.Fatal(err)
	}
	img := regtest.PushImage(t, tg.Store, "v1")
	if err := tg.Close(); err != nil {
		t.Fatal(err)
	}
	subject := host + "/app@" + img.Digest.String()
	layout := "oci:" + filepath.Join(t.TempDir(), "layout")
	if r := stella(t, "", "mirror", "--plain-http", subject, layout, "--no-state"); r.code != 0 {
		t.Fatalf("mirror into a layout: exit %d %s", r.code, r.stderr)
	}
	const hint = "(the registry speaks plain HTTP: add --plain-http)"
	const mirrorHint = "(the registry speaks plain HTTP: add --plain-http, or --from-plain-http or --to-plain-http for one side)"
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"discover", subject}, hint},
		{[]string{"attach", subject, example("sbom.cdx.json")}, hint},
		{[]string{"mirror", subject, "oci:" + filepath.Join(t.TempDir(), "x"), "--no-state"}, mirrorHint},
		{[]string{"mirror", subject, host + "/copy", "--no-state"}, mirrorHint},
		{[]string{"mirror", layout + "@" + img.Digest.String(), host + "/copy", "--no-state"}, mirrorHint},
	} {
		r := stella(t, "", tc.args...)
		if r.code != cli.ExitError || strings.Count(r.stderr, "\n") != 1 || !strings.HasSuffix(r.stderr, tc.want+"\n") {
			t.Errorf("%v: exit %d, stderr %q; want exit 1 and one line ending %q", tc.args, r.code, r.stderr, tc.want)
		}
	}
}

// TestFeedWithoutTagSaysWhy: a feed reference without a tag names the
// repository's latest epoch. When its tags cannot be listed, the error is
// the listing's (here: plain HTTP without --plain-http, with its hint),
// and a repository without an epoch tag says so. Before, both read "a tag
// or digest is required", which hid the cause and contradicted the README.
func TestFeedWithoutTagSaysWhy(t *testing.T) {
	host := regtest.Start(t, regtest.Plain)
	if r := stella(t, "", "feed", "push", example("osv"), "--epoch", "2026-08-21", "--plain-http", host+"/feeds"); r.code != 0 {
		t.Fatalf("feed push: exit %d %s", r.code, r.stderr)
	}
	if r := stella(t, "", "feed", "push", example("osv"), "--epoch", "2026-08-21", "--plain-http", host+"/other:v1"); r.code != 0 {
		t.Fatalf("feed push: exit %d %s", r.code, r.stderr)
	}
	eval := func(feed string, extra ...string) result {
		return stella(t, "", append([]string{"eval", "--sbom", example("sbom.cdx.json"), "--feed", feed}, extra...)...)
	}
	if r := eval(host+"/feeds", "--plain-http"); r.code != cli.ExitOK && r.code != cli.ExitGateFailed {
		t.Errorf("eval --feed REPO (its latest epoch): exit %d %s", r.code, r.stderr)
	}
	if r := eval(host + "/feeds"); r.code != cli.ExitError || !strings.Contains(r.stderr, "--plain-http") || strings.Contains(r.stderr, "a tag or digest is required") {
		t.Errorf("eval --feed REPO over plain HTTP without --plain-http: exit %d stderr %q, want 1 and the hint", r.code, r.stderr)
	}
	if r := eval(host+"/other", "--plain-http"); r.code != cli.ExitError || !strings.Contains(r.stderr, "no epoch tag") {
		t.Errorf("eval --feed REPO without epoch tags: exit %d stderr %q, want 1 and why", r.code, r.stderr)
	}
}
