//go:build unix

package schema

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestSchemaDirFiles: the files of a schema directory are read only when
// they are regular files, and only up to maxSchemaBytes: a FIFO among
// them is refused at once (before, compiling waited on it for a writer
// forever), a 100 MiB file without being read whole, and a directory of
// more than 1,000 files or 64 MiB in all. A good directory still
// validates.
func TestSchemaDirFiles(t *testing.T) {
	const main = `{"$schema":"https://json-schema.org/draft/2020-12/schema","$id":"https://example.com/s.json","type":"object","required":["a"]}`
	for _, tc := range []struct {
		name string
		make func(t *testing.T, p string)
		want string // in the error; "" for a good directory
	}{
		{"good", func(*testing.T, string) {}, ""},
		{"fifo", func(t *testing.T, p string) {
			if err := syscall.Mkfifo(p, 0o600); err != nil {
				t.Skipf("mkfifo: %v", err)
			}
		}, "not a regular file"},
		{"huge", func(t *testing.T, p string) {
			f, err := os.Create(p)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			if err := f.Truncate(100 << 20); err != nil {
				t.Fatal(err)
			}
		}, "exceeds"},
		{"many", func(t *testing.T, p string) {
			for i := range 1001 {
				if err := os.WriteFile(strings.TrimSuffix(p, ".json")+strconv.Itoa(i)+".json", []byte("{}"), 0o644); err != nil {
					t.Fatal(err)
				}
			}
		}, "over the 1000"},
		{"large in all", func(t *testing.T, p string) {
			big := `{"description":"` + strings.Repeat("x", 15<<20) + `"}`
			for i := range 5 {
				if err := os.WriteFile(strings.TrimSuffix(p, ".json")+strconv.Itoa(i)+".json", []byte(big), 0o644); err != nil {
					t.Fatal(err)
				}
			}
		}, "in all"},
	} {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, "s.json"), []byte(main), 0o644); err != nil {
			t.Fatal(err)
		}
		tc.make(t, filepath.Join(dir, "sibling.json"))
		done := make(chan error, 1)
		go func() { done <- Validate(dir, "s.json", []byte(`{"a":1}`)) }()
		select {
		case err := <-done:
			if tc.want == "" && err != nil {
				t.Errorf("%s: %v", tc.name, err)
			}
			if tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
				t.Errorf("%s: %v, want an error saying %q", tc.name, err, tc.want)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("%s: still compiling after 10 s", tc.name)
		}
	}
}
