package testutil

import (
	"os/exec"
	"strings"
	"testing"
)

func goList(t *testing.T, args ...string) []string {
	t.Helper()
	cmd := exec.Command("go", append([]string{"list"}, args...)...)
	cmd.Dir = RepoRoot()
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list %v: %v", args, err)
	}
	return strings.Fields(string(out))
}

func networked(dep string) bool {
	return dep == "net/http" || strings.HasPrefix(dep, "oras.land/") || strings.Contains(dep, "go-containerregistry") ||
		strings.HasPrefix(dep, "github.com/stella-ops/stella-oras/registry")
}

// TestDepcheck keeps the pure packages off the network: canon and engine
// must not depend on net/http or a registry client at all; verify must not
// import them itself (sigstore-go, which it builds on, links net/http for
// its online clients, which verify never calls).
func TestDepcheck(t *testing.T) {
	for _, pkg := range []string{"./canon", "./engine/..."} {
		for _, dep := range goList(t, "-deps", pkg) {
			if networked(dep) {
				t.Errorf("%s depends on %s", pkg, dep)
			}
		}
	}
	for _, dep := range goList(t, "-f", `{{join .Imports "\n"}}`, "./verify") {
		if networked(dep) {
			t.Errorf("./verify imports %s", dep)
		}
	}
}

// TestLayers: the signing side does not depend on the checking side
// (DESIGN.md: verify checks what bundle makes, so bundle sits below it).
func TestLayers(t *testing.T) {
	for _, dep := range goList(t, "-deps", "./bundle") {
		if dep == "github.com/stella-ops/stella-oras/verify" {
			t.Errorf("./bundle depends on %s", dep)
		}
	}
}
