package trust_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/autobuild/autobuild/engine/config"
	"github.com/autobuild/autobuild/engine/graph"
	"github.com/autobuild/autobuild/engine/trust"
	_ "github.com/autobuild/autobuild/scm/git"
)

// chainConfig writes a configuration of n modules where module i depends
// on module i-1 (the deepest graph n modules make), in format.
func chainConfig(tb testing.TB, n int, format string) string {
	tb.Helper()
	var b strings.Builder
	switch format {
	case "toml":
		b.WriteString("build_root = \"out\"\n")
		for i := range n {
			fmt.Fprintf(&b, "[[modules]]\nname = \"m%d\"\nsource = {url = \"/r/m%d\"}\n", i, i)
			if i > 0 {
				fmt.Fprintf(&b, "depends = [\"m%d\"]\n", i-1)
			}
		}
	case "json":
		b.WriteString(`{"build_root": "out", "modules": [`)
		for i := range n {
			if i > 0 {
				fmt.Fprintf(&b, ",\n {\"name\": \"m%d\", \"source\": {\"url\": \"/r/m%d\"}, \"depends\": [\"m%d\"]}", i, i, i-1)
			} else {
				b.WriteString("\n {\"name\": \"m0\", \"source\": {\"url\": \"/r/m0\"}}")
			}
		}
		b.WriteString("\n]}\n")
	default:
		b.WriteString("build_root: out\nmodules:\n")
		for i := range n {
			fmt.Fprintf(&b, "  - name: m%d\n    source: {url: /r/m%d}\n", i, i)
			if i > 0 {
				fmt.Fprintf(&b, "    depends: [m%d]\n", i-1)
			}
		}
	}
	p := filepath.Join(tb.TempDir(), "autobuild."+format)
	if err := os.WriteFile(p, []byte(b.String()), 0o644); err != nil {
		tb.Fatal(err)
	}
	return p
}

// plan is what `autobuild plan` does before it prints: load and validate
// the configuration, build the graph, resolve every module's confinement
// in build order.
func plan(tb testing.TB, path string) int {
	cfg, err := config.Load(path)
	if err != nil {
		tb.Fatal(err)
	}
	nodes := make([]graph.Node, len(cfg.Modules))
	for i, m := range cfg.Modules {
		nodes[i] = graph.Node{Name: m.Name, Deps: m.Depends}
	}
	g, err := graph.New(nodes)
	if err != nil {
		tb.Fatal(err)
	}
	policy, err := trust.NewPolicy(cfg, true, "", nil)
	if err != nil {
		tb.Fatal(err)
	}
	n := 0
	for _, i := range g.Order() {
		m := cfg.Modules[i]
		if policy.Module(m.Name, m.Trust).StepMCS != "" {
			n++
		}
	}
	return n
}

// BenchmarkPlan10000 plans a chain of 10,000 modules, in each format.
// Planning is linear: it never materializes a module's closure.
func BenchmarkPlan10000(b *testing.B) {
	for _, format := range []string{"yaml", "toml", "json"} {
		b.Run(format, func(b *testing.B) {
			p := chainConfig(b, 10000, format)
			for b.Loop() {
				if n := plan(b, p); n != 10000 {
					b.Fatalf("%d modules planned", n)
				}
			}
		})
	}
}

// The chain the benchmark plans is a valid configuration in every format.
func TestPlanChain(t *testing.T) {
	for _, format := range []string{"yaml", "toml", "json"} {
		if n := plan(t, chainConfig(t, 100, format)); n != 100 {
			t.Errorf("%s: %d modules planned", format, n)
		}
	}
}
