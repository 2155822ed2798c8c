// Package testutil holds helpers shared by the project's tests.
package testutil

import (
	"os"
	"path/filepath"
	"runtime"
	"testing"
)

// Corpus returns the path of the shared third-party corpus
// ($STELLA_CORPUS, else ../shared/corpus next to the repository). When it is
// absent the test fails under CI=true and is skipped, with the reason
// printed, elsewhere.
func Corpus(t testing.TB) string {
	t.Helper()
	dir := CorpusDir()
	if _, err := os.Stat(filepath.Join(dir, "MANIFEST.md")); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("corpus not found at %s (set STELLA_CORPUS): required when CI=true", dir)
		}
		t.Skipf("corpus not found at %s (set STELLA_CORPUS); skipping corpus test", dir)
	}
	return dir
}

// CorpusDir is the corpus location without any check.
func CorpusDir() string {
	if d := os.Getenv("STELLA_CORPUS"); d != "" {
		return d
	}
	return filepath.Join(RepoRoot(), "..", "shared", "corpus")
}

// RepoRoot is the repository's top directory.
func RepoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
}
