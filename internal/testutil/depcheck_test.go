package testutil

import (
	"os/exec"
	"strings"
	"testing"
)

// TestDepcheck keeps the pure packages off the network: canon and engine
// must not import net/http or any registry client.
func TestDepcheck(t *testing.T) {
	for _, pkg := range []string{"./canon", "./engine/...", "./verify"} {
		cmd := exec.Command("go", "list", "-deps", pkg)
		cmd.Dir = RepoRoot()
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("go list -deps %s: %v", pkg, err)
		}
		for _, dep := range strings.Fields(string(out)) {
			if dep == "net/http" || strings.HasPrefix(dep, "oras.land/") || strings.Contains(dep, "go-containerregistry") {
				t.Errorf("%s depends on %s", pkg, dep)
			}
		}
	}
}
