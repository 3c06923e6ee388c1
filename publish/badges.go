package publish

import (
	"bytes"
	"fmt"
	"strings"
	"text/template"
	"unicode/utf8"

	"github.com/autobuild/autobuild/engine/report"
)

// Status badges: badges/<module>.svg (the module's name and state) and
// badges/all.svg (the site's title and "passing" or "N failed"), small
// SVG images a README or a wiki page embeds. Each is plain SVG with no
// external font, style sheet or script; every text in it is escaped for
// XML (a module name is the configuration's, but the site does not rely
// on the configuration's rules for names).

// badgeColours are the badges' backgrounds per state, each dark enough
// for white text (WCAG contrast of at least 4.5, checked by a test).
var badgeColours = map[string]string{
	"built":   "#1a7f37",
	"reused":  "#1a7f37",
	"passing": "#1a7f37",
	"failed":  "#cf222e",
	"skipped": "#9a6700",
	"label":   "#555555",
}

// badgeVersion changes every badge's key when badges change.
const badgeVersion = "badges-1"

// badgeMaxLabel bounds the runes of a badge's label: a longer name is cut,
// with "…".
const badgeMaxLabel = 40

var badgeTemplate = template.Must(template.New("badge").Parse(`<svg xmlns="http://www.w3.org/2000/svg" width="{{.Width}}" height="20" role="img" aria-label="{{.Label}}: {{.Message}}">
<title>{{.Label}}: {{.Message}}</title>
<rect width="{{.LabelWidth}}" height="20" fill="{{.LabelColour}}"/>
<rect x="{{.LabelWidth}}" width="{{.MessageWidth}}" height="20" fill="{{.Colour}}"/>
<g fill="#fff" text-anchor="middle" font-family="DejaVu Sans,Verdana,Geneva,sans-serif" font-size="11">
<text x="{{.LabelX}}" y="14">{{.Label}}</text>
<text x="{{.MessageX}}" y="14">{{.Message}}</text>
</g>
</svg>
`))

// badge renders a badge with label on grey and message on colour. The
// template is text/template: label and message are escaped here, once.
func badge(label, message, colour string) []byte {
	if utf8.RuneCountInString(label) > badgeMaxLabel {
		label = string([]rune(label)[:badgeMaxLabel-1]) + "…"
	}
	lw, mw := textWidth(label)+10, textWidth(message)+10
	var b bytes.Buffer
	err := badgeTemplate.Execute(&b, map[string]any{
		"Label": xmlText(label), "Message": xmlText(message),
		"Colour": colour, "LabelColour": badgeColours["label"],
		"Width": lw + mw, "LabelWidth": lw, "MessageWidth": mw,
		"LabelX": fmt.Sprintf("%.1f", float64(lw)/2), "MessageX": fmt.Sprintf("%.1f", float64(lw)+float64(mw)/2),
	})
	if err != nil {
		panic(err) // the template and its data are the package's own
	}
	return b.Bytes()
}

// moduleBadge is badges/<module>.svg.
func moduleBadge(m *report.Module) []byte {
	c, ok := badgeColours[string(m.State)]
	if !ok {
		c = badgeColours["failed"]
	}
	return badge(m.Name, string(m.State), c)
}

// overallBadge is badges/all.svg: "passing" when every module built or
// was reused, else how many failed (or, with none failed, were skipped).
func overallBadge(title string, s report.Summary) []byte {
	switch {
	case s.Failed > 0:
		return badge(title, fmt.Sprintf("%d failed", s.Failed), badgeColours["failed"])
	case s.Skipped > 0:
		return badge(title, fmt.Sprintf("%d skipped", s.Skipped), badgeColours["skipped"])
	}
	return badge(title, "passing", badgeColours["passing"])
}

// xmlText escapes s for XML text and attribute values; a character XML
// cannot hold (a control character) becomes U+FFFD.
func xmlText(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch {
		case r == '&':
			b.WriteString("&amp;")
		case r == '<':
			b.WriteString("&lt;")
		case r == '>':
			b.WriteString("&gt;")
		case r == '"':
			b.WriteString("&quot;")
		case r == '\'':
			b.WriteString("&apos;")
		case r == '\t' || r == '\n' || r == '\r':
			b.WriteByte(' ')
		case r < 0x20 || r == 0xFFFE || r == 0xFFFF || (r >= 0xD800 && r <= 0xDFFF) || r == utf8.RuneError:
			b.WriteRune('\uFFFD')
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// textWidth estimates the width in pixels of s in an 11 px sans-serif
// font; a badge only needs its text not to overflow.
func textWidth(s string) int {
	w := 0.0
	for _, r := range s {
		switch {
		case strings.ContainsRune("iljI.,:;|!'` ", r):
			w += 3.5
		case strings.ContainsRune("mwMW@", r):
			w += 10
		case r >= 'A' && r <= 'Z', r >= '0' && r <= '9':
			w += 7.5
		case r < 0x80:
			w += 6.5
		default:
			w += 11 // wide scripts and symbols
		}
	}
	return int(w + 0.5)
}
