package publish

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/autobuild/autobuild/engine/report"
)

// RenderGraph draws a run's graph for the tests of package publish_test.
var RenderGraph = renderGraph

// index.html shows the note of a graph not drawn, and no picture.
func TestIndexShowsGraphNote(t *testing.T) {
	tpl, err := LoadTemplates("")
	if err != nil {
		t.Fatal(err)
	}
	run := &report.Run{Modules: []report.Module{{Name: "a", State: report.Built}}}
	for _, g := range []siteGraph{{Note: "Not drawn: <too many>."}, {URL: "graph.svg"}} {
		page, err := renderIndex(tpl, run, links{}, "t", g)
		if err != nil {
			t.Fatal(err)
		}
		note := strings.Contains(string(page), "<p><small>Not drawn: &lt;too many&gt;.</small></p>")
		img := strings.Contains(string(page), `<img class="graph" src="graph.svg"`)
		if note != (g.Note != "") || img != (g.URL != "") {
			t.Errorf("graph %+v: page shows the note %v, the picture %v", g, note, img)
		}
	}
}

// A box links to the module's own page when the site folder holds one,
// else to its row of index.html.
func TestGraphLinksModulePagesWhenThere(t *testing.T) {
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "modules"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "modules", "with page.html"), []byte("page"), 0o444); err != nil {
		t.Fatal(err)
	}
	run := &report.Run{Modules: []report.Module{
		{Name: "with page", State: report.Built},
		{Name: "without", State: report.Failed, Depends: []string{"with page"}},
	}}
	g, err := writeGraph(dir, run, "t")
	if err != nil || g.URL != "graph.svg" {
		t.Fatalf("writeGraph = %+v, %v", g, err)
	}
	b, err := os.ReadFile(filepath.Join(dir, "graph.svg"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`<a href="modules/with%20page.html">`, `<a href="index.html#without">`} {
		if !strings.Contains(string(b), want) {
			t.Errorf("graph.svg has no %s:\n%s", want, b)
		}
	}
}

// A cycle in the report (the engine refuses one; the report is not
// trusted for it) is drawn without the arrow that closes it.
func TestGraphOfACycle(t *testing.T) {
	run := &report.Run{Modules: []report.Module{
		{Name: "a", State: report.Built, Depends: []string{"c"}},
		{Name: "b", State: report.Built, Depends: []string{"a", "a", "b"}},
		{Name: "c", State: report.Built, Depends: []string{"b"}},
	}}
	svg, note := renderGraph(run, "t", func(n string) string { return "#" + n })
	if svg == nil {
		t.Fatal(note)
	}
	if n := strings.Count(string(svg), `class="e"`); n != 2 {
		t.Errorf("%d arrows, want 2 (a → b → c; c → a closes the cycle):\n%s", n, svg)
	}
}
