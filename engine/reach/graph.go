package reach

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
)

// Graph is the reach-graph document.
type Graph struct {
	Schema      string   `json:"schema"`
	Nodes       []Node   `json:"nodes"`
	Edges       []Edge   `json:"edges"`
	Entrypoints []string `json:"entrypoints"`
}

// Node is a function (or any code unit) and the package that owns it.
type Node struct {
	ID     string `json:"id"`
	Symbol string `json:"symbol"`
	Purl   string `json:"purl"`
}

// Edge is a call (or any reference) from one node to another.
type Edge struct {
	From string `json:"from"`
	To   string `json:"to"`
}

type graph struct {
	ids    []string       // sorted node IDs
	index  map[string]int // ID -> position in ids
	nodes  []Node         // by position
	succ   [][]int        // sorted successors
	parent []int          // BFS tree from the entrypoints: -1 entry, -2 unreached
	depth  []int
	byPurl map[string][]int // purl key -> nodes
	digest string
}

// parseGraph decodes and checks a reach graph: unique node IDs, edges and
// entrypoints that name nodes, and no cycle (the format is a DAG; a
// producer collapses recursion into one node).
func parseGraph(data []byte, file string) (*graph, error) {
	var doc Graph
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&doc); err != nil {
		return nil, fmt.Errorf("%w: %s: offset %d: %v", ErrReach, file, dec.InputOffset(), err)
	}
	if dec.More() {
		return nil, fmt.Errorf("%w: %s: offset %d: data after the graph", ErrReach, file, dec.InputOffset())
	}
	if len(doc.Nodes) > MaxNodes {
		return nil, fmt.Errorf("%w: %s: %d nodes, more than %d", ErrReach, file, len(doc.Nodes), MaxNodes)
	}
	g := &graph{index: make(map[string]int, len(doc.Nodes)), byPurl: map[string][]int{}}
	for i, n := range doc.Nodes {
		if n.ID == "" {
			return nil, fmt.Errorf("%w: %s: nodes[%d].id: empty", ErrReach, file, i)
		}
		if _, dup := g.index[n.ID]; dup {
			return nil, fmt.Errorf("%w: %s: nodes[%d].id: %q defined twice", ErrReach, file, i, n.ID)
		}
		if n.Purl != "" {
			if _, _, ok := purlKey(n.Purl); !ok {
				return nil, fmt.Errorf("%w: %s: nodes[%d].purl: %q is not a package URL", ErrReach, file, i, n.Purl)
			}
		}
		g.index[n.ID] = 0
	}
	nodes := slices.Clone(doc.Nodes)
	slices.SortFunc(nodes, func(a, b Node) int { return strings.Compare(a.ID, b.ID) })
	g.nodes = nodes
	g.ids = make([]string, len(nodes))
	for i, n := range nodes {
		g.ids[i] = n.ID
		g.index[n.ID] = i
		if k, _, ok := purlKey(n.Purl); ok {
			g.byPurl[k] = append(g.byPurl[k], i)
		}
	}
	g.succ = make([][]int, len(nodes))
	for i, e := range doc.Edges {
		from, ok1 := g.index[e.From]
		to, ok2 := g.index[e.To]
		if !ok1 {
			return nil, fmt.Errorf("%w: %s: edges[%d].from: no node %q", ErrReach, file, i, e.From)
		}
		if !ok2 {
			return nil, fmt.Errorf("%w: %s: edges[%d].to: no node %q", ErrReach, file, i, e.To)
		}
		g.succ[from] = append(g.succ[from], to)
	}
	for i := range g.succ {
		slices.Sort(g.succ[i])
		g.succ[i] = slices.Compact(g.succ[i])
	}
	var entries []int
	for i, e := range doc.Entrypoints {
		n, ok := g.index[e]
		if !ok {
			return nil, fmt.Errorf("%w: %s: entrypoints[%d]: no node %q", ErrReach, file, i, e)
		}
		entries = append(entries, n)
	}
	entries = sortedUniqueInts(entries)
	if len(nodes) > 0 && len(entries) == 0 {
		return nil, fmt.Errorf("%w: %s: entrypoints: none given, so nothing is reachable", ErrReach, file)
	}
	if cyc := g.cycle(); cyc != nil {
		return nil, fmt.Errorf("%w: %s: edges: cycle %s (the reach graph must be acyclic; collapse recursion into one node)", ErrReach, file, strings.Join(cyc, " -> "))
	}
	g.bfs(entries)

	adj := make(map[string][]string, len(nodes))
	for i, s := range g.succ {
		out := make([]string, len(s))
		for j, t := range s {
			out[j] = g.ids[t]
		}
		adj[g.ids[i]] = out
	}
	eps := make([]string, len(entries))
	for i, e := range entries {
		eps[i] = g.ids[e]
	}
	d, err := digestOf(map[string]any{"schema": GraphSchema, "nodes": nodes, "adjacency": adj, "entrypoints": eps})
	if err != nil {
		return nil, err
	}
	g.digest = d
	return g, nil
}

// cycle finds a cycle by iterative depth-first search, returning its node
// IDs (first repeated at the end), or nil.
func (g *graph) cycle() []string {
	const (
		white = iota
		grey
		black
	)
	color := make([]uint8, len(g.nodes))
	type frame struct{ n, next int }
	for start := range g.nodes {
		if color[start] != white {
			continue
		}
		stack := []frame{{start, 0}}
		color[start] = grey
		for len(stack) > 0 {
			top := &stack[len(stack)-1]
			if top.next == len(g.succ[top.n]) {
				color[top.n] = black
				stack = stack[:len(stack)-1]
				continue
			}
			t := g.succ[top.n][top.next]
			top.next++
			switch color[t] {
			case grey:
				var path []string
				for i := len(stack) - 1; i >= 0; i-- {
					path = append(path, g.ids[stack[i].n])
					if stack[i].n == t {
						break
					}
				}
				slices.Reverse(path)
				return append(path, g.ids[t])
			case white:
				color[t] = grey
				stack = append(stack, frame{t, 0})
			}
		}
	}
	return nil
}

// bfs records, for every node, its parent on a shortest path from an
// entrypoint (entrypoints and successors in ID order, so the tree is a
// function of the graph alone).
func (g *graph) bfs(entries []int) {
	g.parent = make([]int, len(g.nodes))
	g.depth = make([]int, len(g.nodes))
	for i := range g.parent {
		g.parent[i] = -2
	}
	queue := make([]int, 0, len(g.nodes))
	for _, e := range entries {
		g.parent[e] = -1
		queue = append(queue, e)
	}
	for len(queue) > 0 {
		n := queue[0]
		queue = queue[1:]
		for _, t := range g.succ[n] {
			if g.parent[t] == -2 {
				g.parent[t] = n
				g.depth[t] = g.depth[n] + 1
				queue = append(queue, t)
			}
		}
	}
}

func (g *graph) path(n int) []string {
	var p []string
	for ; n >= 0; n = g.parent[n] {
		p = append(p, g.ids[n])
	}
	slices.Reverse(p)
	return p
}

func (g *graph) answer(q *Query) Result {
	key, version, ok := purlKey(q.Purl)
	if !ok {
		return Result{State: Unknown, Reason: ReasonNotInGraph}
	}
	var owned []int
	for _, n := range g.byPurl[key] {
		if _, v, _ := purlKey(g.nodes[n].Purl); v == "" || v == version {
			owned = append(owned, n)
		}
	}
	if len(owned) == 0 {
		return Result{State: Unknown, Reason: ReasonNotInGraph}
	}
	cands := owned
	reached, notReached := ReasonPackageReached, ReasonPackageNotReached
	if len(q.Symbols) > 0 {
		// "unreachable" is evidence that suppresses: claim it only when
		// the graph models the vulnerable packages (one of the
		// component's nodes has a symbol in one of them). A graph at
		// another granularity, or with other symbol spellings, says
		// nothing about these symbols.
		modeled := false
		cands = nil
		for _, n := range owned {
			sym := g.nodes[n].Symbol
			if slices.Contains(q.Symbols, sym) {
				cands = append(cands, n)
			}
			modeled = modeled || slices.ContainsFunc(q.Packages, func(p string) bool { return strings.HasPrefix(sym, p+".") })
		}
		if !modeled && len(cands) == 0 {
			return Result{State: Unknown, Reason: ReasonPackageNotInGraph}
		}
		reached, notReached = ReasonSymbolReached, ReasonSymbolsNotReached
	}
	best := -1
	for _, n := range cands { // cands are in ID order: the first shortest path wins
		if g.parent[n] != -2 && (best < 0 || g.depth[n] < g.depth[best]) {
			best = n
		}
	}
	if best < 0 {
		return Result{State: Unreachable, Reason: notReached}
	}
	return Result{State: Reachable, Reason: reached, Evidence: g.path(best)}
}

func sortedUniqueInts(s []int) []int {
	slices.Sort(s)
	return slices.Compact(s)
}
