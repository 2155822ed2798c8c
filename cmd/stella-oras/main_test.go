package main

import "testing"

// TestEngineArgs: which command lines the front hands to the engine.
func TestEngineArgs(t *testing.T) {
	for _, tt := range []struct {
		args []string
		want bool
	}{
		{nil, false},
		{[]string{"--help"}, false},
		{[]string{"--version"}, false},
		{[]string{"version"}, false},
		{[]string{"discover", "x"}, false},
		{[]string{"attach", "x", "y"}, false},
		{[]string{"pull", "x"}, false},
		{[]string{"help"}, false},
		{[]string{"help", "pull"}, false},
		{[]string{"evalute"}, false}, // the front suggests "evaluate"
		{[]string{"eval", "--sbom", "s"}, true},
		{[]string{"key", "generate"}, true},
		{[]string{"help", "eval"}, true},
		{[]string{"__complete", "eval", "--sb"}, true},
		{[]string{"__complete", "disc"}, false},
	} {
		if got := engineArgs(tt.args); got != tt.want {
			t.Errorf("engineArgs(%q) = %v, want %v", tt.args, got, tt.want)
		}
	}
}
