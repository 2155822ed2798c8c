package main

import (
	"testing"

	"github.com/spf13/cobra"

	"github.com/stella-ops/stella-oras/internal/handoff"
)

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
		if got := handoff.EngineArgs(tt.args); got != tt.want {
			t.Errorf("handoff.EngineArgs(%q) = %v, want %v", tt.args, got, tt.want)
		}
	}
	// handoff spells cobra's completion requests itself (it does not link
	// cobra): they must stay the same.
	for _, req := range []string{cobra.ShellCompRequestCmd, cobra.ShellCompNoDescRequestCmd} {
		if !handoff.EngineArgs([]string{req, "eval"}) {
			t.Errorf("handoff.EngineArgs(%q eval) = false: cobra's completion request is spelled differently", req)
		}
	}
}
