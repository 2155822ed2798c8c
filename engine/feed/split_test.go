package feed

import (
	"bytes"
	"errors"
	"testing"

	"github.com/stella-ops/stella-oras/canon"
)

// TestIndexAndGroups: a snapshot read as its index plus only the groups an
// ecosystem needs has the same identity and the same records as the whole
// file; a lookup outside those groups fails instead of finding nothing.
func TestIndexAndGroups(t *testing.T) {
	b, err := Build(quickstart(t), BuildOptions{})
	if err != nil {
		t.Fatal(err)
	}
	whole, err := Open(b)
	if err != nil {
		t.Fatal(err)
	}
	if !whole.Complete() || len(whole.Groups()) < 5 {
		t.Fatalf("whole snapshot: complete %v, %d groups; want complete with one group per ecosystem", whole.Complete(), len(whole.Groups()))
	}
	// The index is canonical and is what the identity is computed over.
	if c, err := canon.Transform(whole.Index()); err != nil || !bytes.Equal(c, whole.Index()) {
		t.Fatalf("index is not canonical JSON: %v", err)
	}
	part, err := OpenIndex(whole.Index())
	if err != nil {
		t.Fatal(err)
	}
	if part.ContentID() != whole.ContentID() {
		t.Fatalf("ContentID() = %s from the index, %s from the file", part.ContentID(), whole.ContentID())
	}
	need := part.Needs([]string{"Go"})
	if len(need) == 0 || len(need) == len(part.Groups()) {
		t.Fatalf("Needs(Go) = %v of %d groups, want some but not all", need, len(part.Groups()))
	}
	for _, g := range need {
		if err := part.AddGroup(g, whole.GroupData(g)); err != nil {
			t.Fatal(err)
		}
	}
	got, err := part.Lookup("Go", "example.com/webframework")
	want, err2 := whole.Lookup("Go", "example.com/webframework")
	if err != nil || err2 != nil || len(got) == 0 || len(got) != len(want) || got[0].ContentID != want[0].ContentID {
		t.Fatalf("Lookup(Go) from parts = %d records (%v), from the file %d (%v)", len(got), err, len(want), err2)
	}
	if _, err := part.Lookup("npm", "@example/parser"); !errors.Is(err, ErrGroupMissing) {
		t.Errorf("Lookup(npm) without its group = %v, want ErrGroupMissing", err)
	}
	// A group that does not match its digest is refused.
	other := need[0] + 1
	if other >= len(part.Groups()) {
		other = 0
	}
	if err := part.AddGroup(need[0], whole.GroupData(other)); !errors.Is(err, ErrSnapshot) {
		t.Errorf("AddGroup(wrong bytes) = %v, want ErrSnapshot", err)
	}
	tampered := bytes.Clone(whole.GroupData(need[0]))
	tampered[len(tampered)/2] ^= 1
	if err := part.AddGroup(need[0], tampered); !errors.Is(err, ErrSnapshot) {
		t.Errorf("AddGroup(tampered) = %v, want ErrSnapshot", err)
	}
}

// TestBytesRoundTrip: a snapshot reassembled from its index and groups is
// the file it was opened from, byte for byte.
func TestBytesRoundTrip(t *testing.T) {
	b, err := Build(quickstart(t), BuildOptions{})
	if err != nil {
		t.Fatal(err)
	}
	s, err := Open(b)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(s.Bytes(), b) {
		t.Fatal("Bytes() differs from the snapshot file")
	}
	part, _ := OpenIndex(s.Index())
	if part.Bytes() != nil {
		t.Error("Bytes() of an index without groups is not nil")
	}
}
