package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stella-ops/stella-oras/engine/reach"
	"github.com/stella-ops/stella-oras/internal/testutil"
)

// TestGovulncheckLive runs govulncheck v1.9.0 on the reachdemo program
// (engine/reach/testdata/reachdemo) against an offline database made of the
// corpus's go-vulndb records, and checks that the stream gives the same
// normalized findings (same digest) as the committed fixture, and the same
// answers: x/text's GO-2022-1059 reachable, yaml.v2's advisories not.
func TestGovulncheckLive(t *testing.T) {
	gv := tool(t, "govulncheck", "go install golang.org/x/vuln/cmd/govulncheck@v1.9.0")
	corpus := testutil.Corpus(t)
	root := testutil.RepoRoot()
	db := t.TempDir()
	src := filepath.Join(corpus, "osv/go-vulndb")
	ents, err := os.ReadDir(src)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join(src, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(db, e.Name()), b, 0o644)
	}
	app := t.TempDir()
	for _, f := range []string{"main.go", "go.mod", "go.sum"} {
		b, err := os.ReadFile(filepath.Join(root, "engine/reach/testdata/reachdemo", f))
		if err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(app, f), b, 0o644)
	}
	cmd := exec.Command(gv, "-db", "file://"+db, "-json", "./...")
	cmd.Dir = app
	cmd.Env = append(os.Environ(), "GOFLAGS=-mod=mod", "GOWORK=off")
	out, err := cmd.Output()
	if err != nil {
		msg := ""
		if ee, ok := err.(*exec.ExitError); ok {
			msg = string(ee.Stderr)
		}
		t.Fatalf("govulncheck: %v %s", err, msg)
	}
	live, err := reach.Parse(out, "live")
	if err != nil {
		t.Fatal(err)
	}
	fixture, err := os.ReadFile(filepath.Join(root, "engine/reach/testdata/reachdemo/govulncheck.json"))
	if err != nil {
		t.Fatal(err)
	}
	fx, err := reach.Parse(fixture, "fixture")
	if err != nil {
		t.Fatal(err)
	}
	if live.Digest != fx.Digest {
		t.Errorf("live govulncheck findings %s differ from the fixture's %s", live.Digest, fx.Digest)
	}
	r := live.Answer(&reach.Query{Ecosystem: "Go", Name: "golang.org/x/text", Version: "v0.3.7", IDs: []string{"GO-2022-1059"}})
	if r.State != reach.Reachable || !strings.HasSuffix(strings.Join(r.Evidence, " "), "language.ParseAcceptLanguage") {
		t.Errorf("GO-2022-1059: %+v", r)
	}
	if r := live.Answer(&reach.Query{Ecosystem: "Go", Name: "gopkg.in/yaml.v2", Version: "v2.2.2", IDs: []string{"GO-2020-0036"}}); r.State != reach.Unreachable {
		t.Errorf("GO-2020-0036: %+v", r)
	}
}
