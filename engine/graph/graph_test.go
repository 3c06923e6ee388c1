package graph

import (
	"errors"
	"fmt"
	"slices"
	"testing"
)

func TestNew(t *testing.T) {
	tests := []struct {
		name    string
		nodes   []Node
		wantErr string
	}{
		{"empty", nil, ""},
		{"diamond", []Node{{"app", []string{"b", "c"}}, {"b", []string{"lib"}}, {"c", []string{"lib"}}, {"lib", nil}}, ""},
		{"unknown", []Node{{"app", []string{"nope"}}}, `module "app" depends on unknown module "nope"`},
		{"self", []Node{{"a", []string{"a"}}}, "dependency cycle: a → a"},
		{"cycle", []Node{{"a", []string{"b"}}, {"b", []string{"c"}}, {"c", []string{"a"}}, {"d", nil}}, "dependency cycle: a → b → c → a"},
		{"duplicate", []Node{{"a", nil}, {"a", nil}}, `module "a" is defined twice`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g, err := New(tt.nodes)
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			pos := map[int]int{}
			for p, i := range g.Order() {
				pos[i] = p
			}
			for i := range g.Len() {
				for _, d := range g.Deps(i) {
					if pos[d] > pos[i] {
						t.Errorf("%s ordered before its dependency %s", g.Name(i), g.Name(d))
					}
				}
			}
		})
	}
}

func TestCycleErrorType(t *testing.T) {
	_, err := New([]Node{{"x", []string{"y"}}, {"y", []string{"x"}}})
	var ce *CycleError
	if !errors.As(err, &ce) || !slices.Equal(ce.Path, []string{"x", "y", "x"}) {
		t.Fatalf("err = %#v", err)
	}
}

func TestCriticalPath(t *testing.T) {
	g, err := New([]Node{{"app", []string{"lib"}}, {"lib", nil}, {"side", nil}})
	if err != nil {
		t.Fatal(err)
	}
	cost := map[string]float64{"app": 5, "lib": 2, "side": 4}
	prio := g.CriticalPath(func(i int) float64 { return cost[g.Name(i)] })
	want := map[string]float64{"app": 5, "lib": 7, "side": 4}
	for i := range g.Len() {
		if prio[i] != want[g.Name(i)] {
			t.Errorf("%s: %v, want %v", g.Name(i), prio[i], want[g.Name(i)])
		}
	}
	lib, _ := g.Index("lib")
	app, _ := g.Index("app")
	if got := g.Closure(app); !slices.Equal(got, []int{lib, app}) {
		t.Errorf("closure = %v", got)
	}
}

// chain is n modules, each depending on the one before.
func chain(n int) []Node {
	nodes := make([]Node, n)
	for i := range nodes {
		nodes[i].Name = fmt.Sprintf("m%d", i)
		if i > 0 {
			nodes[i].Deps = []string{nodes[i-1].Name}
		}
	}
	return nodes
}

// A chain far longer than any configuration sorts, and its last module's
// closure is the whole chain, in order.
func TestLongChain(t *testing.T) {
	const n = 100000
	g, err := New(chain(n))
	if err != nil {
		t.Fatal(err)
	}
	if order := g.Order(); order[0] != 0 || order[n-1] != n-1 {
		t.Errorf("order starts %d, ends %d", order[0], order[n-1])
	}
	c := g.Closure(n - 1)
	if len(c) != n || c[0] != 0 || c[n-1] != n-1 {
		t.Errorf("closure of the last module: %d modules", len(c))
	}
	if c := g.Closure(0); len(c) != 1 {
		t.Errorf("closure of the first module: %v", c)
	}
	// The same chain, written last module first, closes into a cycle at
	// its end: the error names the whole cycle.
	nodes := chain(n)
	nodes[0].Deps = []string{nodes[n-1].Name}
	var ce *CycleError
	if _, err := New(nodes); !errors.As(err, &ce) || len(ce.Path) != n+1 || ce.Path[0] != ce.Path[n] {
		t.Errorf("err = %v", err)
	}
}

// A dependency named twice is one edge; a module naming every other one
// is built after all of them.
func TestDependenciesNamedTwice(t *testing.T) {
	nodes := chain(1000)
	var all []string
	for _, n := range nodes[:999] {
		all = append(all, n.Name, n.Name)
	}
	nodes[999].Deps = all
	g, err := New(nodes)
	if err != nil {
		t.Fatal(err)
	}
	if got := len(g.Deps(999)); got != 999 {
		t.Errorf("%d edges, want 999", got)
	}
	if got := len(g.Dependents(0)); got != 2 {
		t.Errorf("m0 has %d dependents, want 2 (m1 and m999)", got)
	}
	if c := g.Closure(999); len(c) != 1000 || c[999] != 999 {
		t.Errorf("closure %d", len(c))
	}
}

func TestClosureOrder(t *testing.T) {
	g, err := New([]Node{{"app", []string{"b", "c"}}, {"b", []string{"lib"}}, {"c", []string{"lib"}}, {"lib", nil}, {"side", nil}})
	if err != nil {
		t.Fatal(err)
	}
	pos := map[int]int{}
	for p, i := range g.Order() {
		pos[i] = p
	}
	c := g.Closure(0)
	if len(c) != 4 || !slices.IsSortedFunc(c, func(a, b int) int { return pos[a] - pos[b] }) {
		t.Errorf("closure of app = %v, want app, b, c, lib in build order", c)
	}
}
