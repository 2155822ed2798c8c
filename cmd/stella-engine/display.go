package main

import (
	"slices"
	"strings"

	"github.com/stella-ops/stella-oras/artifacts"
)

// sortedForDisplay orders findings for people: worst outcome, then highest
// score, then package and vulnerability. The verdict itself keeps content-ID
// order.
func sortedForDisplay(fs []artifacts.Finding) []artifacts.Finding {
	out := slices.Clone(fs)
	rank := map[string]int{artifacts.StatusFail: 0, artifacts.StatusWarn: 1, artifacts.StatusPass: 2}
	slices.SortStableFunc(out, func(a, b artifacts.Finding) int {
		if c := rank[a.Outcome] - rank[b.Outcome]; c != 0 {
			return c
		}
		if a.Score != b.Score {
			return b.Score - a.Score
		}
		if c := strings.Compare(a.Name, b.Name); c != 0 {
			return c
		}
		return strings.Compare(a.Vulnerability, b.Vulnerability)
	})
	return out
}
