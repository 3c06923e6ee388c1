package graph

import (
	"errors"
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
