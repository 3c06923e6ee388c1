// Package graph builds the immutable, validated module graph of a run.
//
// It is pure: no I/O, no clocks. An unknown dependency or a cycle is an
// error that names the modules involved. The graph also computes the
// critical-path priority the scheduler orders ready modules by.
package graph

import (
	"fmt"
	"slices"
	"strings"
)

// Node is one module as the graph sees it.
type Node struct {
	Name string
	Deps []string
}

// Graph is a validated dependency graph. Indexes are positions in the
// slice given to New, which fixes a stable order for ties.
type Graph struct {
	names []string
	index map[string]int
	deps  [][]int // deps[i]: modules i depends on
	rdeps [][]int // rdeps[i]: modules that depend on i
	topo  []int
	pos   []int // pos[i]: where module i is in topo
}

// UnknownDependencyError reports a dependency on a module that does not exist.
type UnknownDependencyError struct {
	Module, Dependency string
}

func (e *UnknownDependencyError) Error() string {
	return fmt.Sprintf("module %q depends on unknown module %q", e.Module, e.Dependency)
}

// CycleError reports a dependency cycle. Path starts and ends with the
// same module: a → b → a.
type CycleError struct {
	Path []string
}

func (e *CycleError) Error() string {
	return "dependency cycle: " + strings.Join(e.Path, " → ")
}

// DuplicateError reports two modules with the same name.
type DuplicateError struct {
	Name string
}

func (e *DuplicateError) Error() string {
	return fmt.Sprintf("module %q is defined twice", e.Name)
}

// New validates nodes and returns their graph.
func New(nodes []Node) (*Graph, error) {
	g := &Graph{index: make(map[string]int, len(nodes))}
	for i, n := range nodes {
		if _, dup := g.index[n.Name]; dup {
			return nil, &DuplicateError{Name: n.Name}
		}
		g.index[n.Name] = i
		g.names = append(g.names, n.Name)
	}
	g.deps = make([][]int, len(nodes))
	g.rdeps = make([][]int, len(nodes))
	// listed[j] == i+1: module i already depends on j (a dependency named
	// twice counts once), in constant time however many it names.
	listed := make([]int, len(nodes))
	for i, n := range nodes {
		for _, d := range n.Deps {
			j, ok := g.index[d]
			if !ok {
				return nil, &UnknownDependencyError{Module: n.Name, Dependency: d}
			}
			if listed[j] == i+1 {
				continue
			}
			listed[j] = i + 1
			g.deps[i] = append(g.deps[i], j)
			g.rdeps[j] = append(g.rdeps[j], i)
		}
	}
	if err := g.sort(); err != nil {
		return nil, err
	}
	g.pos = make([]int, len(nodes))
	for p, i := range g.topo {
		g.pos[i] = p
	}
	return g, nil
}

// sort computes a topological order by depth-first search, reporting the
// first cycle it meets with its full path. The search keeps its own stack:
// a chain of any length takes no deeper recursion.
func (g *Graph) sort() error {
	const (
		unseen = iota
		active
		done
	)
	state := make([]int, len(g.names))
	type frame struct{ i, next int } // module, index of its next dependency
	var stack []frame
	for root := range g.names {
		if state[root] != unseen {
			continue
		}
		state[root] = active
		stack = append(stack[:0], frame{i: root})
		for len(stack) > 0 {
			f := &stack[len(stack)-1]
			if f.next == len(g.deps[f.i]) {
				state[f.i] = done
				g.topo = append(g.topo, f.i)
				stack = stack[:len(stack)-1]
				continue
			}
			d := g.deps[f.i][f.next]
			f.next++
			switch state[d] {
			case active:
				start := slices.IndexFunc(stack, func(f frame) bool { return f.i == d })
				path := make([]string, 0, len(stack)-start+1)
				for _, f := range stack[start:] {
					path = append(path, g.names[f.i])
				}
				return &CycleError{Path: append(path, g.names[d])}
			case unseen:
				state[d] = active
				stack = append(stack, frame{i: d})
			}
		}
	}
	return nil
}

// Len is the number of modules.
func (g *Graph) Len() int { return len(g.names) }

// Name returns the name of module i.
func (g *Graph) Name(i int) string { return g.names[i] }

// Index returns the index of the named module.
func (g *Graph) Index(name string) (int, bool) {
	i, ok := g.index[name]
	return i, ok
}

// Deps returns the direct dependencies of module i. Callers must not modify it.
func (g *Graph) Deps(i int) []int { return g.deps[i] }

// Dependents returns the modules that depend directly on module i.
func (g *Graph) Dependents(i int) []int { return g.rdeps[i] }

// Order returns a topological order: every module after its dependencies.
func (g *Graph) Order() []int { return slices.Clone(g.topo) }

// Closure returns module i and everything it depends on, transitively, in
// topological order. Its cost is in the size of the closure (and its
// edges), not of the graph; but the closures of every module of a chain
// add up to the square of its length, so planning never asks for them.
func (g *Graph) Closure(i int) []int {
	seen := map[int]bool{i: true}
	out := []int{i}
	for k := 0; k < len(out); k++ {
		for _, d := range g.deps[out[k]] {
			if !seen[d] {
				seen[d] = true
				out = append(out, d)
			}
		}
	}
	slices.SortFunc(out, func(a, b int) int { return g.pos[a] - g.pos[b] })
	return out
}

// CriticalPath returns, for each module, the length of the longest chain of
// expected costs from that module to the end of the graph (its own cost
// included). Starting the module with the longest remaining chain first
// is what keeps a parallel makespan close to the critical path.
func (g *Graph) CriticalPath(cost func(i int) float64) []float64 {
	prio := make([]float64, len(g.names))
	// Reverse topological order: dependents are finished before their deps.
	for k := len(g.topo) - 1; k >= 0; k-- {
		i := g.topo[k]
		longest := 0.0
		for _, r := range g.rdeps[i] {
			longest = max(longest, prio[r])
		}
		prio[i] = cost(i) + longest
	}
	return prio
}
