package handoff

import "testing"

// TestEngineArgsMirror: a mirror goes to the engine only with one of the
// engine's mirror flags (either spelling), or for help; values and what
// follows "--" are not flags.
func TestEngineArgsMirror(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want bool
	}{
		{[]string{"mirror", "a/b:1", "oci:x"}, false},
		{[]string{"mirror", "--plain-http", "--state-dir", "s", "a/b:1", "c/d"}, false},
		{[]string{"mirror", "--require-verified", "--key", "k.pub", "a/b:1", "c/d"}, true},
		{[]string{"mirror", "--receipt-key=k.pem", "a/b:1", "c/d"}, true},
		{[]string{"mirror", "--revocations", "r.json", "a/b:1", "c/d"}, true},
		{[]string{"mirror", "--threshold=2", "a/b:1", "c/d"}, true},
		{[]string{"mirror", "--keys", "a/b:1", "c/d"}, false}, // not a flag of the engine's: the front says so
		{[]string{"mirror", "--help"}, true},
		{[]string{"mirror", "-h"}, true},
		{[]string{"mirror", "--", "--key"}, false},
		{[]string{"help", "mirror"}, true},
		{[]string{"attach", "--key"}, false},
		{[]string{"verify", "x"}, true},
	} {
		if got := EngineArgs(tc.args); got != tc.want {
			t.Errorf("EngineArgs(%q) = %v, want %v", tc.args, got, tc.want)
		}
	}
}
