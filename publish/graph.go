package publish

import (
	"bytes"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"unicode/utf8"

	"github.com/autobuild/autobuild/engine/report"
)

// The dependency graph as a picture: graph.svg, one box per module of the
// run, coloured by its state, an arrow from each dependency to each
// module that depends on it. Drawn here, with no external tool:
//
//   - layers by longest path: a module with no dependency in the run is
//     on the top layer, any other one layer below its lowest dependency,
//     so every arrow points down;
//   - in each layer, modules ordered to reduce crossings by a few
//     barycentre sweeps (each module moved towards the mean position of
//     its dependencies, then of its dependents), starting from the run's
//     order, so the picture is the same for the same run;
//   - a layer wider than graphRowBoxes wraps onto several rows, so the
//     picture stays readable for a thousand modules.
//
// Each box links to the module's page (modules/<name>.html) when the site
// has one, else to its row of index.html. The colours are the page's
// (theme.go), with a prefers-color-scheme: dark rule inside the SVG's own
// style sheet: an SVG shown through <img> does not see the page's. Every
// text is escaped for XML (xmlText). A dependency the run does not hold (a
// disabled module) draws no arrow; a cycle (the engine refuses one, but
// the report is not trusted for it) loses the arrows that close it.
//
// A run of more than GraphMaxModules modules or GraphMaxEdges arrows, or
// whose picture would exceed GraphMaxBytes, gets a note instead
// (index.html shows it).
const (
	GraphMaxModules = 5000
	GraphMaxEdges   = 40000
	GraphMaxBytes   = 8 << 20
)

// The picture's geometry, in pixels.
const (
	graphRowBoxes  = 40 // boxes per row; a wider layer wraps
	graphMaxLabel  = 30 // runes of a name shown in its box; longer is cut with "…"
	graphBoxHeight = 34
	graphGapX      = 16
	graphGapY      = 40 // between rows: room for the arrows
	graphMargin    = 12
	graphSweeps    = 4 // barycentre sweeps, each down then up
)

// graphFile is the picture's name on the site.
const graphFile = "graph.svg"

// siteGraph is what index.html says of the picture: URL, when it was
// drawn, else Note, why not.
type siteGraph struct {
	URL  string
	Note string
}

// writeGraph draws the run's graph into the site folder dir; the boxes
// link to modules/<name>.html where dir holds one (module pages are
// written before the graph). The error is the site's; a graph not drawn
// is a note.
func writeGraph(dir string, run *report.Run, title string) (siteGraph, error) {
	href := func(name string) string {
		if len(name)+len(".html") <= maxName {
			if st, err := os.Lstat(filepath.Join(dir, "modules", name+".html")); err == nil && st.Mode().IsRegular() {
				return "modules/" + url.PathEscape(name) + ".html"
			}
		}
		return "index.html#" + url.PathEscape(name)
	}
	svg, note := renderGraph(run, title, href)
	if svg == nil {
		return siteGraph{Note: note}, nil
	}
	if err := writeFile(filepath.Join(dir, graphFile), svg); err != nil {
		return siteGraph{}, err
	}
	return siteGraph{URL: graphFile}, nil
}

// graphNode is a module in the picture.
type graphNode struct {
	name, state string
	deps        []int // in the run, each once
	layer       int
	row, col    int // the row of the picture, the position in it
	pos         float64
}

// renderGraph draws run's dependency graph as SVG; href gives each box's
// link. It returns nil and the reason when the graph is not drawn.
func renderGraph(run *report.Run, title string, href func(name string) string) ([]byte, string) {
	n := len(run.Modules)
	switch {
	case n == 0:
		return nil, "The run has no module: no dependency graph."
	case n > GraphMaxModules:
		return nil, fmt.Sprintf("The dependency graph is not drawn: %d modules, more than the picture's limit of %d.", n, GraphMaxModules)
	}
	index := make(map[string]int, n)
	for i, m := range run.Modules {
		index[m.Name] = i
	}
	nodes := make([]graphNode, n)
	edges := 0
	for i, m := range run.Modules {
		nodes[i].name, nodes[i].state = m.Name, string(m.State)
		seen := map[int]bool{}
		for _, d := range m.Depends {
			j, ok := index[d]
			if !ok || j == i || seen[j] {
				continue
			}
			seen[j] = true
			nodes[i].deps = append(nodes[i].deps, j)
		}
		edges += len(nodes[i].deps)
	}
	if edges > GraphMaxEdges {
		return nil, fmt.Sprintf("The dependency graph is not drawn: %d dependencies, more than the picture's limit of %d.", edges, GraphMaxEdges)
	}
	layers := layerGraph(nodes)
	orderLayers(nodes, layers)
	svg := drawGraph(nodes, layers, title, href)
	if len(svg) > GraphMaxBytes {
		return nil, fmt.Sprintf("The dependency graph is not drawn: its picture would take %d bytes, more than the limit of %d.", len(svg), GraphMaxBytes)
	}
	return svg, ""
}

// layerGraph gives each node its longest-path layer, in a topological
// order (Kahn's, ties in the run's order); the arrows of a cycle, if the
// report holds one, are dropped. It returns the layers, each in the
// run's order.
func layerGraph(nodes []graphNode) [][]int {
	n := len(nodes)
	indeg := make([]int, n)
	dependents := make([][]int, n)
	for i := range nodes {
		indeg[i] = len(nodes[i].deps)
		for _, d := range nodes[i].deps {
			dependents[d] = append(dependents[d], i)
		}
	}
	done := make([]bool, n)
	var queue []int
	for i := range nodes {
		if indeg[i] == 0 {
			queue = append(queue, i)
		}
	}
	for placed := 0; placed < n; {
		if len(queue) == 0 {
			// A cycle: place its first node, dropping its arrows from
			// nodes not placed yet.
			for i := range nodes {
				if !done[i] {
					var kept []int
					for _, d := range nodes[i].deps {
						if done[d] {
							kept = append(kept, d)
						} else {
							indeg[i]--
							for k, x := range dependents[d] {
								if x == i {
									dependents[d] = append(dependents[d][:k:k], dependents[d][k+1:]...)
									break
								}
							}
						}
					}
					nodes[i].deps = kept
					queue = append(queue, i)
					break
				}
			}
		}
		i := queue[0]
		queue = queue[1:]
		done[i] = true
		placed++
		for _, d := range nodes[i].deps {
			nodes[i].layer = max(nodes[i].layer, nodes[d].layer+1)
		}
		for _, x := range dependents[i] {
			if indeg[x]--; indeg[x] == 0 {
				queue = append(queue, x)
			}
		}
	}
	depth := 0
	for i := range nodes {
		depth = max(depth, nodes[i].layer+1)
	}
	layers := make([][]int, depth)
	for i := range nodes {
		layers[nodes[i].layer] = append(layers[nodes[i].layer], i)
	}
	return layers
}

// orderLayers orders each layer by barycentre sweeps: down (each node
// towards the mean position of its dependencies), then up (of its
// dependents). A position is a node's place in its layer, scaled to
// [0, 1], since layers differ in width. Sorts are stable: a node with no
// neighbour on the sweep's side keeps its place.
func orderLayers(nodes []graphNode, layers [][]int) {
	dependents := make([][]int, len(nodes))
	for i := range nodes {
		for _, d := range nodes[i].deps {
			dependents[d] = append(dependents[d], i)
		}
	}
	place := func(layer []int) {
		for k, i := range layer {
			nodes[i].pos = (float64(k) + 0.5) / float64(len(layer))
		}
	}
	for _, l := range layers {
		place(l)
	}
	sweep := func(l []int, nbrs [][]int) {
		key := make(map[int]float64, len(l))
		for _, i := range l {
			key[i] = nodes[i].pos
			if len(nbrs[i]) > 0 {
				s := 0.0
				for _, j := range nbrs[i] {
					s += nodes[j].pos
				}
				key[i] = s / float64(len(nbrs[i]))
			}
		}
		sort.SliceStable(l, func(a, b int) bool { return key[l[a]] < key[l[b]] })
		place(l)
	}
	deps := make([][]int, len(nodes))
	for i := range nodes {
		deps[i] = nodes[i].deps
	}
	for s := 0; s < graphSweeps; s++ {
		for k := 1; k < len(layers); k++ {
			sweep(layers[k], deps)
		}
		for k := len(layers) - 2; k >= 0; k-- {
			sweep(layers[k], dependents)
		}
	}
}

// graphLabel is the text of a node's box: its name, cut to graphMaxLabel
// runes.
func graphLabel(name string) string {
	if utf8.RuneCountInString(name) > graphMaxLabel {
		return string([]rune(name)[:graphMaxLabel-1]) + "…"
	}
	return name
}

// graphStyle is the picture's style sheet: the page's palettes.
func graphStyle() string {
	rules := func(p palette) string {
		return fmt.Sprintf(`.bg{fill:%[1]s}text{fill:%[2]s}.box{fill:%[1]s;stroke:%[3]s}.e{stroke:%[3]s}.arrow{fill:%[3]s}`+
			`.built .box,.reused .box{stroke:%[4]s}.failed .box{stroke:%[5]s}.skipped .box{stroke:%[6]s}`+
			`.built .st,.reused .st{fill:%[4]s}.failed .st{fill:%[5]s}.skipped .st{fill:%[6]s}`,
			p.Background, p.Text, p.Muted, p.Good, p.Bad, p.Skipped)
	}
	return `text{font-family:system-ui,sans-serif;font-size:12px}.st{font-size:10px}.box{stroke-width:2}.e{fill:none;stroke-width:1.2}` +
		rules(lightPalette) + "\n@media (prefers-color-scheme:dark){" + rules(darkPalette) + "}"
}

// knownStates are the states with a colour; any other is drawn as "other".
var knownStates = map[string]bool{"built": true, "reused": true, "failed": true, "skipped": true}

// drawGraph lays out the ordered layers and writes the SVG.
func drawGraph(nodes []graphNode, layers [][]int, title string, href func(string) string) []byte {
	// One box width for all: the widest label's, bounded.
	width := 80
	for i := range nodes {
		width = max(width, textWidth(graphLabel(nodes[i].name))*12/11+16) // textWidth is for 11 px
	}
	// Rows: each layer on one or more rows of at most graphRowBoxes.
	row, widest := 0, 0
	var rowLen []int
	for _, l := range layers {
		for k, i := range l {
			if k > 0 && k%graphRowBoxes == 0 {
				row++
			}
			nodes[i].row, nodes[i].col = row, k%graphRowBoxes
			if nodes[i].col == 0 {
				rowLen = append(rowLen, 0)
			}
			rowLen[row]++
			widest = max(widest, rowLen[row])
		}
		row++
	}
	rows := row
	total := 2*graphMargin + widest*width + (widest-1)*graphGapX
	height := 2*graphMargin + rows*graphBoxHeight + (rows-1)*graphGapY
	// Each row is centred.
	x := func(i int) int {
		r := rowLen[nodes[i].row]
		off := (total - (r*width + (r-1)*graphGapX)) / 2
		return off + nodes[i].col*(width+graphGapX)
	}
	y := func(i int) int { return graphMargin + nodes[i].row*(graphBoxHeight+graphGapY) }

	var b bytes.Buffer
	b.Grow(len(nodes)*320 + 80)
	fmt.Fprintf(&b, `<?xml version="1.0" encoding="UTF-8"?>
<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %[1]d %[2]d" role="img" aria-label="%[3]s">
<title>%[3]s</title>
<style>
%[4]s
</style>
<defs><marker id="arrow" viewBox="0 0 8 8" refX="8" refY="4" markerWidth="7" markerHeight="7" orient="auto"><path class="arrow" d="M0,0L8,4L0,8z"/></marker></defs>
<rect class="bg" width="100%%" height="100%%"/>
<g class="edges">
`, total, height, xmlText(title+": dependencies"), graphStyle())
	for i := range nodes {
		for _, d := range nodes[i].deps {
			x1, y1 := x(d)+width/2, y(d)+graphBoxHeight
			x2, y2 := x(i)+width/2, y(i)
			dy := min(graphGapY, (y2-y1)/2)
			fmt.Fprintf(&b, `<path class="e" data-from="n%d" data-to="n%d" d="M%d,%dC%d,%d %d,%d %d,%d" marker-end="url(#arrow)"/>`+"\n",
				d, i, x1, y1, x1, y1+dy, x2, y2-dy, x2, y2)
		}
	}
	b.WriteString("</g>\n")
	for i := range nodes {
		nd := &nodes[i]
		state := nd.state
		class := state
		if !knownStates[state] {
			class = "other"
		}
		fmt.Fprintf(&b, `<a href="%s"><g id="n%d" class="%s"><title>%s: %s</title><rect class="box" x="%d" y="%d" width="%d" height="%d" rx="4"/><text x="%d" y="%d">%s</text><text class="st" x="%d" y="%d">%s</text></g></a>`+"\n",
			xmlText(href(nd.name)), i, class, xmlText(nd.name), xmlText(state),
			x(i), y(i), width, graphBoxHeight, x(i)+8, y(i)+15, xmlText(graphLabel(nd.name)), x(i)+8, y(i)+28, xmlText(state))
	}
	b.WriteString("</svg>\n")
	return b.Bytes()
}
