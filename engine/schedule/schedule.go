// Package schedule executes a module graph with N workers.
//
// Each node keeps a count of unfinished dependencies; a node whose count
// reaches zero goes into a priority heap, and idle workers take the node
// with the longest remaining critical path first. A node whose dependency
// did not succeed is not executed: it is reported as skipped with the
// name of the dependency. All shared updates happen under one lock.
package schedule

import (
	"container/heap"
	"context"
	"sync"

	"github.com/autobuild/autobuild/engine/graph"
)

// Outcome is what executing one node produced.
type Outcome struct {
	// OK lets dependents run.
	OK bool
	// SkippedFor, when non-empty, is the dependency whose failure meant
	// this node was never executed.
	SkippedFor string
	// Cancelled: the run was cancelled before this node could start.
	Cancelled bool
}

// blocked reports whether the node will not be executed.
func (o Outcome) blocked() bool { return o.SkippedFor != "" || o.Cancelled }

// Func executes node i. It returns whether dependents may run.
type Func func(ctx context.Context, i int) bool

// Run executes every node of g with at most workers at once, in
// critical-path-first order given by prio (higher first). It returns each
// node's outcome. It stops starting nodes when ctx is cancelled; those,
// and their dependents, are reported as Cancelled.
func Run(ctx context.Context, g *graph.Graph, workers int, prio []float64, exec Func) []Outcome {
	n := g.Len()
	out := make([]Outcome, n)
	if n == 0 {
		return out
	}
	workers = max(1, workers)
	pending := make([]int, n)
	for i := range n {
		pending[i] = len(g.Deps(i))
	}
	var (
		mu    sync.Mutex
		cond  = sync.NewCond(&mu)
		ready = &prioHeap{prio: prio}
		left  = n
	)
	for i := range n {
		if pending[i] == 0 {
			heap.Push(ready, i)
		}
	}
	// finish records node i's outcome and releases its dependents; the
	// caller holds mu.
	var finish func(i int, o Outcome)
	finish = func(i int, o Outcome) {
		out[i] = o
		left--
		for _, r := range g.Dependents(i) {
			if !o.OK && !out[r].blocked() {
				// The first failed dependency is the reason; the node is
				// finished as soon as all its dependencies are.
				switch {
				case o.Cancelled:
					out[r].Cancelled = true
				case o.SkippedFor != "":
					out[r].SkippedFor = o.SkippedFor
				default:
					out[r].SkippedFor = g.Name(i)
				}
			}
			pending[r]--
			if pending[r] == 0 {
				if out[r].blocked() {
					finish(r, Outcome{SkippedFor: out[r].SkippedFor, Cancelled: out[r].Cancelled})
				} else {
					heap.Push(ready, r)
				}
			}
		}
		cond.Broadcast()
	}
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			mu.Lock()
			defer mu.Unlock()
			for {
				for ready.Len() == 0 && left > 0 {
					cond.Wait()
				}
				if left == 0 {
					return
				}
				i := heap.Pop(ready).(int)
				if ctx.Err() != nil {
					finish(i, Outcome{Cancelled: true})
					continue
				}
				mu.Unlock()
				ok := exec(ctx, i)
				mu.Lock()
				finish(i, Outcome{OK: ok})
			}
		}()
	}
	wg.Wait()
	return out
}

// prioHeap is a max-heap of node indexes by priority; ties go to the
// lower index, so the order is deterministic.
type prioHeap struct {
	items []int
	prio  []float64
}

func (h *prioHeap) Len() int { return len(h.items) }
func (h *prioHeap) Less(a, b int) bool {
	x, y := h.items[a], h.items[b]
	if h.prio[x] != h.prio[y] {
		return h.prio[x] > h.prio[y]
	}
	return x < y
}
func (h *prioHeap) Swap(a, b int) { h.items[a], h.items[b] = h.items[b], h.items[a] }
func (h *prioHeap) Push(x any)    { h.items = append(h.items, x.(int)) }
func (h *prioHeap) Pop() any {
	old := h.items
	v := old[len(old)-1]
	h.items = old[:len(old)-1]
	return v
}
