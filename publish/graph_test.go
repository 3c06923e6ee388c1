package publish_test

import (
	"bytes"
	"context"
	"encoding/xml"
	"fmt"
	"html"
	"io"
	"math/rand/v2"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/autobuild/autobuild/engine/report"
	"github.com/autobuild/autobuild/publish"
)

// svgGraph is what a test reads back from graph.svg.
type svgGraph struct {
	boxes map[string]svgBox // by id
	edges [][2]string       // from, to ids
	title string
}

type svgBox struct {
	name, state, href, label string
	y                        int
}

// parseGraph parses graph.svg as XML, failing the test if it is not.
func parseGraph(t *testing.T, b []byte) svgGraph {
	t.Helper()
	g := svgGraph{boxes: map[string]svgBox{}}
	d := xml.NewDecoder(bytes.NewReader(b))
	var stack []xml.StartElement
	var href, cur string
	var texts []string
	attr := func(e xml.StartElement, name string) string {
		for _, a := range e.Attr {
			if a.Name.Local == name {
				return a.Value
			}
		}
		return ""
	}
	for {
		tok, err := d.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("graph.svg is not XML: %v\n%.2000s", err, b)
		}
		switch e := tok.(type) {
		case xml.StartElement:
			stack = append(stack, e)
			switch e.Name.Local {
			case "a":
				href = attr(e, "href")
			case "g":
				if id := attr(e, "id"); id != "" {
					cur, texts = id, nil
					g.boxes[id] = svgBox{state: attr(e, "class"), href: href}
				}
			case "rect":
				if cur != "" {
					bx := g.boxes[cur]
					bx.y, _ = strconv.Atoi(attr(e, "y"))
					g.boxes[cur] = bx
				}
			case "path":
				if attr(e, "class") == "e" {
					g.edges = append(g.edges, [2]string{attr(e, "data-from"), attr(e, "data-to")})
				}
			}
		case xml.EndElement:
			if e.Name.Local == "g" && cur != "" {
				bx := g.boxes[cur]
				if len(texts) == 3 {
					bx.name = strings.TrimSuffix(texts[0], ": "+bx.state)
					bx.label = texts[1]
				}
				g.boxes[cur] = bx
				cur = ""
			}
			stack = stack[:len(stack)-1]
		case xml.CharData:
			if len(stack) > 0 && stack[len(stack)-1].Name.Local == "title" {
				if cur != "" {
					texts = append(texts, string(e))
				} else if len(stack) == 2 {
					g.title = string(e)
				}
			} else if len(stack) > 0 && stack[len(stack)-1].Name.Local == "text" && cur != "" {
				texts = append(texts, string(e))
			}
		}
	}
	return g
}

// checkGraph checks what holds for every graph: each edge joins two
// boxes, from the dependency above to the dependent below, and every
// dependency in the run is an edge.
func checkGraph(t *testing.T, g svgGraph, run *report.Run) {
	t.Helper()
	if len(g.boxes) != len(run.Modules) {
		t.Errorf("%d boxes, want one per module (%d)", len(g.boxes), len(run.Modules))
	}
	byName := map[string]string{}
	for id, b := range g.boxes {
		byName[b.name] = id
	}
	want := map[[2]string]bool{}
	for _, m := range run.Modules {
		for _, d := range m.Depends {
			if byName[d] != "" && d != m.Name {
				want[[2]string{byName[d], byName[m.Name]}] = true
			}
		}
	}
	for _, e := range g.edges {
		from, ok1 := g.boxes[e[0]]
		to, ok2 := g.boxes[e[1]]
		if !ok1 || !ok2 {
			t.Errorf("edge %v: an endpoint is not a box", e)
			continue
		}
		if from.y >= to.y {
			t.Errorf("edge %s → %s points up (y %d → %d)", from.name, to.name, from.y, to.y)
		}
		if !want[e] {
			t.Errorf("edge %s → %s is no dependency of the run", from.name, to.name)
		}
		delete(want, e)
	}
	for e := range want {
		t.Errorf("dependency %s → %s has no edge", g.boxes[e[0]].name, g.boxes[e[1]].name)
	}
}

// checkBoxLink checks that the box of module name links to the module's
// page (modules/<name>.html) in the site, or, without one, to its row of
// index.html.
func checkBoxLink(t *testing.T, public string, page []byte, name, href string) {
	t.Helper()
	u, err := url.Parse(href)
	switch {
	case err != nil:
		t.Errorf("box %q links to %q: %v", name, href, err)
	case u.Path == "modules/"+name+".html" && u.Fragment == "":
		if _, err := os.Stat(filepath.Join(public, "modules", name+".html")); err != nil {
			t.Errorf("box %q links to %q: %v", name, href, err)
		}
	case u.Path == "index.html" && u.Fragment == name:
		if !bytes.Contains(page, []byte(`<tr id="`+html.EscapeString(name)+`">`)) && !bytes.Contains(page, []byte(`<tr id="`+name+`">`)) {
			t.Errorf("box %q links to %q: index.html has no such row", name, href)
		}
	default:
		t.Errorf("box %q links to %q, not to its page or its row", name, href)
	}
}

// diamond is a run of a diamond (base; left and right on it; top on
// both), a failed module on base and a skipped one after it.
func diamond() *report.Run {
	return &report.Run{Counter: 7, Start: t0, Modules: []report.Module{
		{Name: "top", State: report.Built, Depends: []string{"left", "right"}, Level: "isolated", Start: t0},
		{Name: "base", State: report.Built, Level: "isolated", Start: t0},
		{Name: "broken", State: report.Failed, Reason: "build exited with status 2", Depends: []string{"base"}, Level: "isolated", Start: t0},
		{Name: "left", State: report.Reused, Depends: []string{"base"}, Level: "isolated", Start: t0},
		{Name: "right", State: report.Built, Depends: []string{"base"}, Level: "isolated", Start: t0},
		{Name: "after", State: report.Skipped, Reason: "dependency broken failed", Depends: []string{"broken", "disabled-one"}, Level: "isolated"},
	}}
}

func publishRun(t *testing.T, run *report.Run) (public string) {
	t.Helper()
	public, sites := paths(t)
	s := &publish.Site{Dir: public, Sites: sites, Keep: 2}
	if err := s.Publish(context.Background(), publish.Input{Run: run}); err != nil {
		t.Fatal(err)
	}
	return public
}

// The picture of a small graph, as a golden file: boxes coloured by
// state, in layers, each linking to its module's row of index.html.
func TestGraphGolden(t *testing.T) {
	run := diamond()
	public := publishRun(t, run)
	b, err := os.ReadFile(filepath.Join(public, "graph.svg"))
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "graph.svg.golden", b)
	g := parseGraph(t, b)
	checkGraph(t, g, run)
	page, err := os.ReadFile(filepath.Join(public, "index.html"))
	if err != nil {
		t.Fatal(err)
	}
	state := map[string]string{}
	for _, m := range run.Modules {
		state[m.Name] = string(m.State)
	}
	layer := map[string]int{}
	for _, bx := range g.boxes {
		layer[bx.name] = bx.y
		if bx.state != state[bx.name] {
			t.Errorf("box %s has class %q, want its state %q", bx.name, bx.state, state[bx.name])
		}
		checkBoxLink(t, public, page, bx.name, bx.href)
	}
	// Longest-path layers: base; broken, left, right; top, after.
	if !(layer["base"] < layer["left"] && layer["left"] == layer["right"] && layer["right"] == layer["broken"] &&
		layer["broken"] < layer["top"] && layer["top"] == layer["after"]) {
		t.Errorf("layers (box y) = %v", layer)
	}
	// The dark scheme lives in the picture's own style sheet.
	if !strings.Contains(string(b), "@media (prefers-color-scheme:dark)") {
		t.Error("graph.svg has no dark-mode rule of its own")
	}
	if !strings.Contains(string(page), `<img class="graph" src="graph.svg"`) {
		t.Error("index.html does not show graph.svg")
	}
}

// Names a configuration would refuse are escaped in the picture: it
// still parses, and shows each name as it is (a character XML cannot
// hold as U+FFFD). The control: a plain name is shown as it is.
func TestGraphEscapesHostileNames(t *testing.T) {
	hostile := []string{`<script>alert(1)`, `<img src=x onerror=alert(2)>`, `a"b'c&d`, "x\x01y]]>", hostileModule, "plain"}
	run := &report.Run{Counter: 1, Start: t0}
	for i, n := range hostile {
		m := report.Module{Name: n, State: report.Failed, Level: "isolated", Reason: `<img src=x onerror=alert(1)>`}
		if i > 0 {
			m.Depends = []string{hostile[i-1]}
		}
		run.Modules = append(run.Modules, m)
	}
	public := publishRun(t, run)
	b, err := os.ReadFile(filepath.Join(public, "graph.svg"))
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(b, []byte("<script")) || bytes.Contains(b, []byte("<img")) || bytes.Contains(b, []byte("\x01")) {
		t.Errorf("graph.svg holds an unescaped name:\n%s", b)
	}
	page, err := os.ReadFile(filepath.Join(public, "index.html"))
	if err != nil {
		t.Fatal(err)
	}
	g := parseGraph(t, b)
	checkGraph(t, g, &report.Run{Modules: func() []report.Module {
		ms := append([]report.Module(nil), run.Modules...)
		for i := range ms {
			ms[i].Name = strings.ReplaceAll(ms[i].Name, "\x01", "\uFFFD")
			for j := range ms[i].Depends {
				ms[i].Depends[j] = strings.ReplaceAll(ms[i].Depends[j], "\x01", "\uFFFD")
			}
		}
		return ms
	}()})
	names := map[string]string{}
	for _, bx := range g.boxes {
		names[bx.name] = bx.href
	}
	for _, n := range hostile {
		shown := strings.ReplaceAll(n, "\x01", "\uFFFD")
		href, ok := names[shown]
		if !ok {
			t.Errorf("no box shows %q (boxes: %v)", shown, names)
			continue
		}
		checkBoxLink(t, public, page, n, href)
	}
}

// A run beyond the picture's limit gets a note instead.
func TestGraphTooLargeIsANote(t *testing.T) {
	run := &report.Run{Counter: 1, Start: t0}
	for i := 0; i <= publish.GraphMaxModules; i++ {
		run.Modules = append(run.Modules, report.Module{Name: "m" + strconv.Itoa(i), State: report.Built, Level: "isolated"})
	}
	svg, note := publish.RenderGraph(run, "t", func(n string) string { return "#" + n })
	if want := "The dependency graph is not drawn: " + strconv.Itoa(len(run.Modules)) + " modules"; svg != nil || !strings.HasPrefix(note, want) {
		t.Errorf("%d modules: %d bytes of picture, note %q; want none and %q", len(run.Modules), len(svg), note, want)
	}
	// The control: one module fewer is drawn.
	run.Modules = run.Modules[1:]
	if svg, note := publish.RenderGraph(run, "t", func(n string) string { return "#" + n }); svg == nil {
		t.Errorf("%d modules: %s", len(run.Modules), note)
	}
}

// A graph of 2,000 modules (random dependencies, up to three each on
// earlier modules) is drawn within the picture's bounds.
func TestGraphOf2000Modules(t *testing.T) {
	run := bigRun(2000)
	b, note := publish.RenderGraph(run, "t", func(n string) string { return "index.html#" + n })
	if b == nil {
		t.Fatal(note)
	}
	if len(b) > publish.GraphMaxBytes {
		t.Errorf("graph.svg is %d bytes, beyond the bound of %d", len(b), publish.GraphMaxBytes)
	}
	g := parseGraph(t, b)
	checkGraph(t, g, run)
	var w, h int
	if _, err := fmt.Sscanf(string(b[bytes.Index(b, []byte("<svg")):]), `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d"`, &w, &h); err != nil {
		t.Fatal(err)
	}
	t.Logf("2,000 modules, %d edges: %d bytes, %d×%d px", len(g.edges), len(b), w, h)
}

// bigRun is a run of n modules, each with up to three dependencies on
// earlier ones (random, the same every time), one in 17 failed.
func bigRun(n int) *report.Run {
	rnd := rand.New(rand.NewPCG(1, 2))
	run := &report.Run{Counter: 1, Start: t0}
	for i := 0; i < n; i++ {
		m := report.Module{Name: fmt.Sprintf("module-%04d", i), State: report.Built, Level: "isolated"}
		if i%17 == 5 {
			m.State = report.Failed
		}
		for k := rnd.IntN(4); k > 0 && i > 0; k-- {
			m.Depends = append(m.Depends, fmt.Sprintf("module-%04d", rnd.IntN(i)))
		}
		run.Modules = append(run.Modules, m)
	}
	return run
}

func BenchmarkGraph2000(b *testing.B) {
	run := bigRun(2000)
	for i := 0; i < b.N; i++ {
		publish.RenderGraph(run, "t", func(n string) string { return "index.html#" + n })
	}
}
