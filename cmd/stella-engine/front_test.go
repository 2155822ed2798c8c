package main

import (
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/spf13/pflag"

	"github.com/stella-ops/stella-oras/engine"
	"github.com/stella-ops/stella-oras/internal/cli"
	"github.com/stella-ops/stella-oras/internal/handoff"
)

// TestFrontCommands: the front binary's commands (the light ones it runs,
// and handoff.Commands, which it lists and hands to this binary) are
// this tree's, names and descriptions, so that the two cannot drift.
func TestFrontCommands(t *testing.T) {
	s := &cli.Streams{In: strings.NewReader(""), Out: new(strings.Builder), Err: new(strings.Builder)}
	engineTree := map[string]string{}
	for _, c := range newRoot(s).Commands() {
		engineTree[c.Name()] = c.Short
	}
	front := map[string]string{}
	for _, c := range cli.LightCommands(s) {
		front[c.Name()] = c.Short
	}
	for _, c := range handoff.Commands() {
		if _, dup := front[c.Name]; dup {
			t.Errorf("handoff.Commands lists %q, which the front runs itself", c.Name)
		}
		front[c.Name] = c.Short
	}
	if diff := cmp.Diff(engineTree, front); diff != "" {
		t.Errorf("front commands differ from the engine's tree (-engine +front):\n%s", diff)
	}
}

// TestFrontVersion: the front's `version` prints the engine version it
// cannot import.
func TestFrontVersion(t *testing.T) {
	if cli.EngineName != engine.Name || cli.EngineVersion != engine.Version {
		t.Errorf("cli.EngineName, cli.EngineVersion = %q, %q, want engine.Name, engine.Version = %q, %q",
			cli.EngineName, cli.EngineVersion, engine.Name, engine.Version)
	}
}

// TestMirrorEngineFlags: the flags the engine's mirror adds to the
// front's (cli.NewMirrorCmd without a gate) are handoff.MirrorEngineFlags,
// the ones whose presence hands a mirror to the engine.
func TestMirrorEngineFlags(t *testing.T) {
	s := &cli.Streams{In: strings.NewReader(""), Out: new(strings.Builder), Err: new(strings.Builder)}
	front := map[string]bool{}
	cli.NewMirrorCmd(s, nil).Flags().VisitAll(func(f *pflag.Flag) { front[f.Name] = true })
	var added []string
	newMirrorCmd(s).Flags().VisitAll(func(f *pflag.Flag) {
		if !front[f.Name] {
			added = append(added, f.Name)
		}
	})
	slices.Sort(added)
	want := slices.Sorted(slices.Values(handoff.MirrorEngineFlags))
	if !slices.Equal(added, want) {
		t.Errorf("flags only the engine's mirror has: %v; handoff.MirrorEngineFlags: %v", added, want)
	}
}
