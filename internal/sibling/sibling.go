// Package sibling finds the project's helper binaries (stella-registry,
// stella-schema): next to the running executable, else on PATH. They are
// separate binaries so that stella-oras does not link (and initialize at
// every start) what only one command needs.
package sibling

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
)

// Find returns the path of the named helper binary.
func Find(name string) (string, error) {
	if runtime.GOOS == "windows" {
		name += ".exe"
	}
	if self, err := os.Executable(); err == nil {
		p := filepath.Join(filepath.Dir(self), name)
		if st, err := os.Stat(p); err == nil && !st.IsDir() {
			return p, nil
		}
	}
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	return "", fmt.Errorf("the %s binary is needed next to stella-oras or on PATH "+
		"(from a checkout: go install ./cmd/..., or go build -o DIR ./cmd/...)", name)
}
