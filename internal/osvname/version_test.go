package osvname

import "testing"

// TestCheckVersion uses examples from each ecosystem's own rules.
func TestCheckVersion(t *testing.T) {
	valid := map[string][]string{
		"Go":        {"1.2.3", "0.0.0-20210405180319-a5a99cb37ef4", "1.22.0-rc.1", "2.0.0+incompatible"},
		"npm":       {"1.0.0", "1.0.0-alpha.1", "1.0.0+20130313144700"},
		"PyPI":      {"1.0", "2.0.0rc1", "1!2.0", "1.0.post1", "1.0.dev0", "1.0+local.7", "2012.10"},
		"Debian:12": {"3.0.11-1~deb12u2", "1:2.36-9+deb12u4", "2.4.57-2"},
		"Ubuntu":    {"1.1.1f-1ubuntu2.20"},
		"Alpine":    {"1.3-r2", "1.3.1_rc1-r0", "2.40.1-r0", "1.0_p20230101-r1"},
		"Red Hat":   {"1:1.1.1k-7.el8_6", "4.18.0-513.5.1.el8_9"},
		"RubyGems":  {"1.0.a", "7.0.8.1", "2.0.0-beta-1"},
		"NuGet":     {"4.3.0.1", "1.0.0-preview.1+build"},
		"Packagist": {"7.30.3", "v1.0.0", "1.0.0-beta2", "dev-main"},
		"Maven":     {"1.0-alpha-1", "2.12.7.1", "RELEASE"},
		"Hackage":   {"1.0"},
	}
	for eco, vs := range valid {
		for _, v := range vs {
			if why := CheckVersion(eco, v); why != "" {
				t.Errorf("CheckVersion(%q, %q) = %q, want valid", eco, v, why)
			}
		}
	}
	invalid := map[string][]string{
		"Go":        {"(devel)", "v1.2.3", "1.2", "01.2.3", ""},
		"npm":       {"latest", "1.x"},
		"PyPI":      {"not a version", "1.0-beta-gamma", ""},
		"Debian:12": {"abc", "1.0 2"},
		"Alpine":    {"x.y", "1.3-rX"},
		"Red Hat":   {"1.0-1-1", "a b"},
		"RubyGems":  {"v1.0", "1..0"},
		"NuGet":     {"1.0.0.0.0", "abc"},
		"Maven":     {"1.0 final", ""},
		"Hackage":   {" 1.0"},
	}
	for eco, vs := range invalid {
		for _, v := range vs {
			if why := CheckVersion(eco, v); why == "" {
				t.Errorf("CheckVersion(%q, %q) = valid, want an error", eco, v)
			}
		}
	}
}
