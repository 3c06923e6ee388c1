package publish

import (
	"fmt"
	"html/template"
	"strings"
)

// The index page's layout beyond its base style: on a narrow screen (a
// phone, 390 px) the modules table becomes one card per module, each cell
// a labelled line, and the history table scrolls inside its own box, so no
// column is cut off; with prefers-color-scheme: dark the page turns dark,
// its state colours lightened to keep their contrast. Plain CSS, no
// script.

// palette is one colour scheme of the page.
type palette struct {
	Background, Text, Muted, Link, Border string
	// Good (built, reused), Bad (failed), Skipped: the state colours.
	Good, Bad, Skipped string
}

var (
	lightPalette = palette{Background: "#ffffff", Text: "#222222", Muted: "#595959", Link: "#0b57d0", Border: "#dddddd",
		Good: "#1a7f37", Bad: "#cf222e", Skipped: "#9a6700"}
	darkPalette = palette{Background: "#0d1117", Text: "#e6edf3", Muted: "#9198a1", Link: "#58a6ff", Border: "#30363d",
		Good: "#3fb950", Bad: "#ff7b72", Skipped: "#d29922"}
)

// narrowWidth is the widest screen that gets the stacked layout.
const narrowWidth = "40em"

func (p palette) rules() string {
	return fmt.Sprintf(`body{background:%[1]s;color:%[2]s}a{color:%[4]s}th,td{border-bottom-color:%[5]s}
small{color:%[3]s}td details{color:%[2]s!important}
.built,.reused,.ok{color:%[6]s}.failed,.bad,.warn{color:%[7]s}.skipped{color:%[8]s}
table.modules tr{border-color:%[5]s}`, p.Background, p.Text, p.Muted, p.Link, p.Border, p.Good, p.Bad, p.Skipped)
}

// themeCSS is the page's second style sheet.
var themeCSS = template.CSS(strings.Join([]string{
	`:root{color-scheme:light dark}`,
	lightPalette.rules(),
	`.scroll{overflow-x:auto;max-width:100%}td{overflow-wrap:anywhere}tr.nochange td{font-style:italic}img.badge{vertical-align:middle}`,
	`@media (max-width:` + narrowWidth + `){
body{margin:.6em}
table.modules,table.modules tbody{display:block}
table.modules thead{display:none}
table.modules tr{display:block;border:1px solid;border-radius:6px;margin:.6em 0;padding:.3em 0}
table.modules td{display:block;border:0;padding:.15em .6em}
table.modules td[data-label]::before{content:attr(data-label) ": ";font-weight:600;font-size:.85em}
table.history th,table.history td{padding:.3em .4em}
}`,
	`@media (prefers-color-scheme:dark){
` + darkPalette.rules() + `
}`,
}, "\n"))
