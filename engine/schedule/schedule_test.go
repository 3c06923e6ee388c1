package schedule

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/autobuild/autobuild/engine/graph"
)

func mustGraph(t *testing.T, nodes ...graph.Node) *graph.Graph {
	t.Helper()
	g, err := graph.New(nodes)
	if err != nil {
		t.Fatal(err)
	}
	return g
}

func TestFailurePropagates(t *testing.T) {
	g := mustGraph(t,
		graph.Node{Name: "lib"}, graph.Node{Name: "mid", Deps: []string{"lib"}},
		graph.Node{Name: "app", Deps: []string{"mid"}}, graph.Node{Name: "side"})
	var mu sync.Mutex
	ran := map[string]bool{}
	out := Run(context.Background(), g, 2, make([]float64, g.Len()), func(_ context.Context, i int) bool {
		mu.Lock()
		ran[g.Name(i)] = true
		mu.Unlock()
		return g.Name(i) != "lib"
	})
	want := map[string]Outcome{"lib": {}, "mid": {SkippedFor: "lib"}, "app": {SkippedFor: "lib"}, "side": {OK: true}}
	for i := range g.Len() {
		if out[i] != want[g.Name(i)] {
			t.Errorf("%s: %+v, want %+v", g.Name(i), out[i], want[g.Name(i)])
		}
	}
	if ran["mid"] || ran["app"] || !ran["side"] {
		t.Errorf("ran = %v", ran)
	}
}

func TestDependenciesFirstAndParallel(t *testing.T) {
	g := mustGraph(t,
		graph.Node{Name: "app", Deps: []string{"b", "c"}}, graph.Node{Name: "b", Deps: []string{"lib"}},
		graph.Node{Name: "c", Deps: []string{"lib"}}, graph.Node{Name: "lib"})
	var mu sync.Mutex
	done := map[string]bool{}
	var running, peak atomic.Int32
	Run(context.Background(), g, 4, make([]float64, g.Len()), func(_ context.Context, i int) bool {
		mu.Lock()
		for _, d := range g.Deps(i) {
			if !done[g.Name(d)] {
				t.Errorf("%s started before %s finished", g.Name(i), g.Name(d))
			}
		}
		mu.Unlock()
		n := running.Add(1)
		for p := peak.Load(); n > p && !peak.CompareAndSwap(p, n); p = peak.Load() {
		}
		time.Sleep(20 * time.Millisecond)
		running.Add(-1)
		mu.Lock()
		done[g.Name(i)] = true
		mu.Unlock()
		return true
	})
	if peak.Load() != 2 {
		t.Errorf("peak parallelism %d, want 2 (b and c together)", peak.Load())
	}
}

func TestCriticalPathFirst(t *testing.T) {
	// One worker: the long chain's head must start before the short one.
	g := mustGraph(t, graph.Node{Name: "short"}, graph.Node{Name: "head"}, graph.Node{Name: "tail", Deps: []string{"head"}})
	prio := g.CriticalPath(func(int) float64 { return 1 })
	var order []string
	Run(context.Background(), g, 1, prio, func(_ context.Context, i int) bool {
		order = append(order, g.Name(i))
		return true
	})
	if order[0] != "head" {
		t.Errorf("order = %v, want head first", order)
	}
}

// A cancelled run is a typed outcome, not a module name: a failed module
// called "cancelled" still makes its dependents skipped for it, and the
// nodes that never started after the cancel are Cancelled.
func TestCancellationIsNotAName(t *testing.T) {
	g := mustGraph(t,
		graph.Node{Name: "cancelled"}, graph.Node{Name: "dep", Deps: []string{"cancelled"}},
		graph.Node{Name: "stop"}, graph.Node{Name: "late", Deps: []string{"stop"}},
		graph.Node{Name: "later", Deps: []string{"late"}})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// One worker, priorities so that "cancelled" runs first, then "stop",
	// which cancels the run.
	prio := []float64{5, 4, 3, 2, 1}
	out := Run(ctx, g, 1, prio, func(_ context.Context, i int) bool {
		if g.Name(i) == "stop" {
			cancel()
			return true
		}
		return false
	})
	want := map[string]Outcome{
		"cancelled": {}, "dep": {SkippedFor: "cancelled"},
		"stop": {OK: true}, "late": {Cancelled: true}, "later": {Cancelled: true},
	}
	for i := range g.Len() {
		if out[i] != want[g.Name(i)] {
			t.Errorf("%s: %+v, want %+v", g.Name(i), out[i], want[g.Name(i)])
		}
	}
}
