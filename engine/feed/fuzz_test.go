package feed

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

// FuzzBuild: building a snapshot from one arbitrary record never panics;
// when it succeeds the snapshot opens, every indexed package can be looked
// up and matched against a few versions.
func FuzzBuild(f *testing.F) {
	seeds, _ := filepath.Glob("../../examples/quickstart/osv/*.json")
	for _, p := range seeds {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(b)
		}
	}
	f.Add([]byte(`{"id":"X-1","modified":"2024-01-01T00:00:00Z","affected":[{"package":{"ecosystem":"npm","name":"a"},"ranges":[{"type":"SEMVER","events":[{"introduced":"0"},{"fixed":"1.2.3"}]}],"versions":["1.0.0"]}]}`))
	f.Add([]byte(`{"id":"X-2","modified":"2024-01-01T00:00:00Z","affected":[{"package":{"ecosystem":"Debian:12","name":"a"},"ranges":[{"type":"ECOSYSTEM","events":[{"introduced":"1:1.0-1"},{"last_affected":"1:2.0-1"},{"limit":"3"}]}]}]}`))
	epoch := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, data []byte) {
		b, err := Build([]Source{{Name: "fuzz.json", Data: data}}, BuildOptions{Epoch: epoch})
		if err != nil {
			return
		}
		s, err := Open(b)
		if err != nil {
			t.Fatalf("Open of a built snapshot failed: %v", err)
		}
		for eco := range s.h.Index {
			for name := range s.ecosystemIndex(eco) {
				recs, err := s.Lookup(eco, name)
				if err != nil {
					t.Fatalf("Lookup(%q, %q): %v", eco, name, err)
				}
				for _, r := range recs {
					for i := range r.Affected {
						for _, v := range []string{"0", "1.0.0", "1:1.5-1", "2.0.0-rc.1", ""} {
							MatchAffected(&r.Affected[i], r.Affected[i].Package.Ecosystem, v)
						}
					}
				}
			}
		}
	})
}

// FuzzOpen: opening an arbitrary (possibly hostile) snapshot never panics;
// whatever opens can be looked up in every indexed package.
func FuzzOpen(f *testing.F) {
	seeds, _ := filepath.Glob("../../examples/quickstart/osv/*.json")
	var srcs []Source
	for _, p := range seeds {
		if b, err := os.ReadFile(p); err == nil {
			srcs = append(srcs, Source{Name: p, Data: b})
		}
	}
	srcs = append(srcs, Source{Name: "x.json", Data: []byte(`{"id":"X-1","modified":"2024-01-01T00:00:00Z","aliases":["CVE-1"],"affected":[{"package":{"ecosystem":"PyPI","name":"A_b"},"ranges":[{"type":"ECOSYSTEM","events":[{"introduced":"0"},{"fixed":"2.0"}]}]}]}`)})
	if b, err := Build(srcs, BuildOptions{Epoch: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}); err == nil {
		f.Add(b)
	}
	f.Add([]byte(`{"_canonVersion":"x","format":"stella-feed-snapshot/1","records":[]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := Open(data)
		if err != nil {
			return
		}
		for eco := range s.h.Index {
			for name := range s.ecosystemIndex(eco) {
				if _, err := s.Lookup(eco, name); err != nil {
					return // a corrupt index entry is reported, not a panic
				}
			}
		}
	})
}
