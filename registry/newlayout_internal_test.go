package registry

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// exists reports whether path is there (not followed, if a link).
func exists(path string) bool {
	_, err := os.Lstat(path)
	return err == nil
}

// makeLayoutEntries makes what opening a layout in dir creates, with an
// empty blobs/sha256 (a run that wrote no blob).
func makeLayoutEntries(t *testing.T, dir string) {
	t.Helper()
	for _, d := range []string{"blobs/sha256", "ingest"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range []string{"oci-layout", "index.json"} {
		if err := os.WriteFile(filepath.Join(dir, f), []byte("{}"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// TestNewLayoutRemovesOnlyItsOwn: what a failed mirror removes of a layout
// it created is that layout's own entries and the directories made for
// it, never what was there before nor what another process put there
// meanwhile. Before, a dangling link as the destination was removed, and
// so was every file another process wrote into the new directories
// during the run (RemoveAll of the topmost one made, or of every entry
// not noted before).
func TestNewLayoutRemovesOnlyItsOwn(t *testing.T) {
	t.Run("new path, a file put beside it meanwhile", func(t *testing.T) {
		root := t.TempDir()
		dir := filepath.Join(root, "a", "b", "layout")
		n := beforeLayout(dir)
		makeLayoutEntries(t, dir)
		os.WriteFile(filepath.Join(root, "a", "sibling.txt"), []byte("x"), 0o644)
		n.remove()
		if exists(filepath.Join(root, "a", "b")) || !exists(filepath.Join(root, "a", "sibling.txt")) {
			t.Errorf("after remove: a/b there %v (want gone), a/sibling.txt there %v (want kept)", exists(filepath.Join(root, "a", "b")), exists(filepath.Join(root, "a", "sibling.txt")))
		}
	})
	t.Run("new path, nothing else", func(t *testing.T) {
		root := t.TempDir()
		dir := filepath.Join(root, "a", "b")
		n := beforeLayout(dir)
		makeLayoutEntries(t, dir)
		n.remove()
		if exists(filepath.Join(root, "a")) {
			t.Error("the directories made for the layout stay")
		}
	})
	t.Run("existing directory, a file put in it meanwhile", func(t *testing.T) {
		dir := t.TempDir()
		os.WriteFile(filepath.Join(dir, "before.txt"), []byte("x"), 0o644)
		n := beforeLayout(dir)
		makeLayoutEntries(t, dir)
		os.WriteFile(filepath.Join(dir, "notes.txt"), []byte("x"), 0o644)
		n.remove()
		ents, _ := os.ReadDir(dir)
		var names []string
		for _, e := range ents {
			names = append(names, e.Name())
		}
		if !slices.Equal(names, []string{"before.txt", "notes.txt"}) {
			t.Errorf("left %q, want before.txt and notes.txt", names)
		}
	})
	t.Run("another writer's blob", func(t *testing.T) {
		root := t.TempDir()
		dir := filepath.Join(root, "layout")
		n := beforeLayout(dir)
		makeLayoutEntries(t, dir)
		os.WriteFile(filepath.Join(dir, "blobs", "sha256", "ab"), []byte("x"), 0o644)
		n.remove()
		for _, f := range []string{"oci-layout", "index.json", "blobs/sha256/ab"} {
			if !exists(filepath.Join(dir, f)) {
				t.Errorf("%s removed under another writer's blob", f)
			}
		}
	})
	t.Run("a file in ingest", func(t *testing.T) {
		// ingest is looked at before blobs goes: before, the empty blobs
		// was removed, then the file in ingest kept the rest, and the
		// layout was saved without its blobs directory.
		dir := filepath.Join(t.TempDir(), "layout")
		n := beforeLayout(dir)
		makeLayoutEntries(t, dir)
		os.WriteFile(filepath.Join(dir, "ingest", "partial"), []byte("x"), 0o644)
		if n.remove() {
			t.Error("remove reports the layout removed")
		}
		for _, f := range []string{"oci-layout", "index.json", "blobs/sha256", "ingest/partial"} {
			if !exists(filepath.Join(dir, f)) {
				t.Errorf("%s removed under a file in ingest", f)
			}
		}
	})
	t.Run("blobs there before, a file in it now", func(t *testing.T) {
		dir := t.TempDir()
		os.Mkdir(filepath.Join(dir, "blobs"), 0o755)
		n := beforeLayout(dir)
		makeLayoutEntries(t, dir)
		os.WriteFile(filepath.Join(dir, "blobs", "sha256", "ab"), []byte("x"), 0o644)
		if n.remove() {
			t.Error("remove reports the layout removed")
		}
		for _, f := range []string{"oci-layout", "index.json", "blobs/sha256/ab"} {
			if !exists(filepath.Join(dir, f)) {
				t.Errorf("%s removed", f)
			}
		}
	})
	for name, target := range map[string]string{"dangling link": "nothere/x", "link to a file": "file"} {
		t.Run(name, func(t *testing.T) {
			root := t.TempDir()
			os.WriteFile(filepath.Join(root, "file"), []byte("x"), 0o644)
			link := filepath.Join(root, "dl")
			if err := os.Symlink(filepath.Join(root, target), link); err != nil {
				t.Fatal(err)
			}
			beforeLayout(link).remove()
			if !exists(link) || !exists(filepath.Join(root, "file")) {
				t.Errorf("the link there %v, its file there %v: want both kept", exists(link), exists(filepath.Join(root, "file")))
			}
		})
	}
	t.Run("a file", func(t *testing.T) {
		f := filepath.Join(t.TempDir(), "f")
		os.WriteFile(f, []byte("x"), 0o644)
		beforeLayout(f).remove()
		if !exists(f) {
			t.Error("a file given as the layout was removed")
		}
	})
}
