package embedded

import "strings"

// The routes the layers in front of distribution look for, matched by
// hand. They were regular expressions; Go's matcher backtracks through
// the `(.+)` of a repository name on every request, and the four of them
// took 11 % of the source registry's CPU in a mirror of one image with
// 200 referrers and their bundles. FuzzRoutes holds each function to the
// expression it replaces (kept in routes_test.go), and these comments
// give them.

// splitRoute is `^/v2/(.+)/<endpoint>/([^/]+)$`: the repository name and
// the reference after the endpoint. Only the last "/<endpoint>/" can be
// followed by a reference without '/': what follows an earlier one holds
// the later one.
func splitRoute(p, endpoint string) (name, ref string, ok bool) {
	if !strings.HasPrefix(p, "/v2/") {
		return "", "", false
	}
	rest := p[len("/v2/"):]
	i := strings.LastIndex(rest, "/"+endpoint+"/")
	if i < 1 {
		return "", "", false
	}
	ref = rest[i+len(endpoint)+2:]
	if ref == "" || strings.IndexByte(ref, '/') >= 0 {
		return "", "", false
	}
	return rest[:i], ref, true
}

// digestRoute is `^/v2/(.+)/<endpoint>/([a-z0-9]+:[a-f0-9]+)$`.
func digestRoute(p, endpoint string) (name, dgst string, ok bool) {
	name, dgst, ok = splitRoute(p, endpoint)
	if !ok || !digestShaped(dgst) {
		return "", "", false
	}
	return name, dgst, true
}

// digestShaped is `^[a-z0-9]+:[a-f0-9]+$`.
func digestShaped(s string) bool {
	alg, hex, ok := strings.Cut(s, ":")
	if !ok || alg == "" || hex == "" {
		return false
	}
	for i := 0; i < len(alg); i++ {
		if c := alg[i]; !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9') {
			return false
		}
	}
	for i := 0; i < len(hex); i++ {
		if c := hex[i]; !(c >= 'a' && c <= 'f' || c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

// specRoute is `^/v2/(<spec name>)/<endpoint>/([^/]+)$`.
func specRoute(p, endpoint string) (name, ref string, ok bool) {
	name, ref, ok = splitRoute(p, endpoint)
	if !ok || !specNameOK(name) {
		return "", "", false
	}
	return name, ref, true
}

// specNameOK is the distribution spec's name grammar,
// `^[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*)*$`:
// components split by '/', each alphanumeric runs joined by one '.', one
// or two '_', or any number of '-'.
func specNameOK(s string) bool {
	if s == "" {
		return false
	}
	for comp := range strings.SplitSeq(s, "/") {
		if !componentOK(comp) {
			return false
		}
	}
	return true
}

func componentOK(c string) bool {
	alnum := func(b byte) bool { return b >= 'a' && b <= 'z' || b >= '0' && b <= '9' }
	if c == "" || !alnum(c[0]) || !alnum(c[len(c)-1]) {
		return false
	}
	for i := 0; i < len(c); {
		if alnum(c[i]) {
			i++
			continue
		}
		j := i
		for j < len(c) && !alnum(c[j]) {
			j++
		}
		switch sep := c[i:j]; {
		case sep == "." || sep == "_" || sep == "__":
		case strings.Trim(sep, "-") == "":
		default:
			return false
		}
		i = j
	}
	return true
}

// anyRouteName is
// `^/v2/(.+?)/(?:manifests/[^/]+|blobs/uploads/?[^/]*|blobs/[^/]+|tags/list|referrers/[^/]+)$`:
// the name of any of distribution's and the referrers API's routes, the
// shortest that leaves an endpoint after it.
func anyRouteName(p string) (string, bool) {
	if !strings.HasPrefix(p, "/v2/") {
		return "", false
	}
	rest := p[len("/v2/"):]
	for i := 1; i < len(rest); i++ {
		if rest[i] == '/' && endpointOK(rest[i+1:]) {
			return rest[:i], true
		}
	}
	return "", false
}

func endpointOK(e string) bool {
	noSlash := func(s string) bool { return strings.IndexByte(s, '/') < 0 }
	if t, ok := strings.CutPrefix(e, "blobs/uploads"); ok {
		return noSlash(strings.TrimPrefix(t, "/"))
	}
	for _, ep := range []string{"manifests/", "blobs/", "referrers/"} {
		if t, ok := strings.CutPrefix(e, ep); ok {
			return t != "" && noSlash(t)
		}
	}
	return e == "tags/list"
}
