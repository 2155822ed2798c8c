package embedded

import (
	"regexp"
	"testing"
)

// The expressions the route functions replace (routes.go), as they were,
// with one change: `.` also matches a newline here ((?s)). Before, a name
// with a newline (%0A in a path) matched no expression and went to
// distribution, which refuses it; now the front refuses it itself
// (NAME_INVALID, as for any name outside the grammar).
var (
	oldRouteName          = regexp.MustCompile(`(?s)^/v2/(.+?)/(?:manifests/[^/]+|blobs/uploads/?[^/]*|blobs/[^/]+|tags/list|referrers/[^/]+)$`)
	oldSpecName           = regexp.MustCompile(`^[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*)*$`)
	oldReferrersPath      = regexp.MustCompile(`^/v2/((?:[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*)(?:/[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*)*)/referrers/([^/]+)$`)
	oldManifestPath       = regexp.MustCompile(`^/v2/((?:[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*)(?:/[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*)*)/manifests/([^/]+)$`)
	oldBlobPath           = regexp.MustCompile(`(?s)^/v2/(.+)/blobs/([a-z0-9]+:[a-f0-9]+)$`)
	oldManifestDigestPath = regexp.MustCompile(`(?s)^/v2/(.+)/manifests/([a-z0-9]+:[a-f0-9]+)$`)
)

// checkRoutes fails t where a route function and its expression disagree
// on p.
func checkRoutes(t *testing.T, p string) {
	t.Helper()
	two := func(label string, re *regexp.Regexp, f func(string) (string, string, bool)) {
		m := re.FindStringSubmatch(p)
		a, b, ok := f(p)
		if (m != nil) != ok || ok && (m[1] != a || m[2] != b) {
			t.Errorf("%s(%q) = %q, %q, %v; the expression gives %q", label, p, a, b, ok, m)
		}
	}
	two("specRoute referrers", oldReferrersPath, func(p string) (string, string, bool) { return specRoute(p, "referrers") })
	two("specRoute manifests", oldManifestPath, func(p string) (string, string, bool) { return specRoute(p, "manifests") })
	two("digestRoute blobs", oldBlobPath, func(p string) (string, string, bool) { return digestRoute(p, "blobs") })
	two("digestRoute manifests", oldManifestDigestPath, func(p string) (string, string, bool) { return digestRoute(p, "manifests") })
	m := oldRouteName.FindStringSubmatch(p)
	name, ok := anyRouteName(p)
	if (m != nil) != ok || ok && m[1] != name {
		t.Errorf("anyRouteName(%q) = %q, %v; the expression gives %q", p, name, ok, m)
	}
	if got, want := specNameOK(p), oldSpecName.MatchString(p); got != want {
		t.Errorf("specNameOK(%q) = %v, the expression %v", p, got, want)
	}
	if ok {
		if got, want := specNameOK(name), oldSpecName.MatchString(name); got != want {
			t.Errorf("specNameOK(%q) = %v, the expression %v", name, got, want)
		}
	}
}

var routeSeeds = []string{
	"/v2/app/blobs/sha256:abc", "/v2/app/manifests/sha256:abc", "/v2/app/manifests/v1",
	"/v2/a/b/c/referrers/sha256:0f", "/v2/library/app/tags/list", "/v2/app/blobs/uploads/",
	"/v2/app/blobs/uploads", "/v2/app/blobs/uploads/0b1-uuid", "/v2/app/blobs/uploadsX",
	"/v2/app/blobs/uploads/x/y", "/v2//blobs/sha256:ab", "/v2//blobs/blobs/sha256:ab",
	"/v2/a/blobs/blobs/sha256:ab", "/v2/a/referrers/b/referrers/c", "/v2/a/manifests/b/manifests/c",
	"/v2/Example.com/app/manifests/v1", "/v2/a..b/manifests/v1", "/v2/a__b/manifests/v1",
	"/v2/a___b/manifests/v1", "/v2/a--b/manifests/v1", "/v2/a-_b/manifests/v1", "/v2/-a/manifests/v1",
	"/v2/a-/manifests/v1", "/v2/a//b/manifests/v1", "/v2/a/b/", "/v2/", "/v2/a/tags/list/tags/list",
	"/v2/a\nb/blobs/sha256:ab", "/v2/a/blobs/SHA256:ab", "/v2/a/blobs/sha256:AB", "/v2/a/blobs/:ab",
	"/v2/a/blobs/sha256:", "/v3/a/blobs/sha256:ab", "v2/a/tags/list", "/v2/a/manifests/", "a", "",
	"/v2/a.b-c_d__e/f/manifests/sha256:1", "/v2/\xff/manifests/x", "/v2/a/referrers/\xff",
}

func TestRoutesAsBefore(t *testing.T) {
	for _, p := range routeSeeds {
		checkRoutes(t, p)
	}
}

// FuzzRoutes: on any path, each route function answers what the
// expression it replaces answers.
func FuzzRoutes(f *testing.F) {
	for _, p := range routeSeeds {
		f.Add(p)
	}
	f.Fuzz(func(t *testing.T, p string) {
		checkRoutes(t, p)
	})
}
