package publish

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/autobuild/autobuild/engine/report"
)

func TestCollapseHistory(t *testing.T) {
	at := time.Date(2024, 3, 1, 0, 0, 0, 0, time.UTC)
	s := func(n, built, reused, failed, skipped int) report.Summary {
		return report.Summary{Counter: n, Start: at.Add(time.Duration(n) * time.Hour), Built: built, Reused: reused, Failed: failed, Skipped: skipped}
	}
	show := func(rows []historyRow) string {
		var out []string
		for _, r := range rows {
			if r.NoChange() {
				out = append(out, fmt.Sprintf("%d-%d", r.First, r.Counter))
			} else {
				out = append(out, strconv.Itoa(r.Counter))
			}
		}
		return strings.Join(out, " ")
	}
	for _, tt := range []struct {
		name string
		h    []report.Summary
		want string
	}{
		{"empty", nil, ""},
		{"one built", []report.Summary{s(1, 3, 0, 0, 0)}, "1"},
		{"streak", []report.Summary{s(5, 0, 3, 0, 0), s(4, 0, 3, 0, 0), s(3, 0, 3, 0, 0), s(2, 1, 2, 0, 0), s(1, 3, 0, 0, 0)}, "3-5 2 1"},
		{"single no-change run", []report.Summary{s(3, 1, 2, 0, 0), s(2, 0, 3, 0, 0), s(1, 3, 0, 0, 0)}, "3 2-2 1"},
		// Every module reused after a failed run: its modules were fixed
		// (restored from the archive), a change.
		{"after a failure", []report.Summary{s(3, 0, 3, 0, 0), s(2, 0, 3, 0, 0), s(1, 1, 1, 1, 0)}, "3-3 2 1"},
		{"module removed", []report.Summary{s(3, 0, 2, 0, 0), s(2, 0, 3, 0, 0), s(1, 3, 0, 0, 0)}, "3 2-2 1"},
		{"failed twice", []report.Summary{s(3, 0, 2, 1, 0), s(2, 0, 2, 1, 0), s(1, 3, 0, 0, 0)}, "3 2 1"},
		{"streak reaches the oldest run", []report.Summary{s(9, 2, 1, 0, 0), s(8, 0, 3, 0, 0), s(7, 0, 3, 0, 0)}, "9 7-8"},
		{"no modules", []report.Summary{s(2, 0, 0, 0, 0), s(1, 0, 0, 0, 0)}, "2 1"},
	} {
		if got := show(collapseHistory(tt.h)); got != tt.want {
			t.Errorf("%s: rows %q, want %q", tt.name, got, tt.want)
		}
	}
}

// hostileBadgeNames would break out of the SVG's text or attributes, or
// are not XML at all, if written as they are.
var hostileBadgeNames = []string{
	`<script>alert(1)</script>`,
	`x" onload="alert(1)`,
	`a'b&c;&amp;`,
	`]]><foreignObject/><![CDATA[`,
	"ctl\x01\x1b[31m\x7f",
	"\ufffe-nonchar",
	strings.Repeat("long", 100),
}

// svgElements parses b as XML, failing on anything that is not, and
// returns its elements' names and its texts.
func svgElements(b []byte) (elems []string, texts []string, err error) {
	d := xml.NewDecoder(bytes.NewReader(b))
	for {
		tok, err := d.Token()
		if err == io.EOF {
			return elems, texts, nil
		}
		if err != nil {
			return nil, nil, err
		}
		switch tok := tok.(type) {
		case xml.StartElement:
			elems = append(elems, tok.Name.Local)
			for _, a := range tok.Attr {
				if strings.HasPrefix(strings.ToLower(a.Name.Local), "on") {
					return nil, nil, fmt.Errorf("event attribute %s", a.Name.Local)
				}
			}
		case xml.CharData:
			if s := strings.TrimSpace(string(tok)); s != "" {
				texts = append(texts, s)
			}
		}
	}
}

func TestBadgeEscapesHostileNames(t *testing.T) {
	allowed := map[string]bool{"svg": true, "title": true, "rect": true, "g": true, "text": true}
	// Control: the badge's template given the names as they are, not
	// escaped, gives a broken or hijacked document for each name but the
	// last.
	for _, name := range hostileBadgeNames[:len(hostileBadgeNames)-1] {
		var b bytes.Buffer
		badgeTemplate.Execute(&b, map[string]any{"Label": name, "Message": "failed", "Colour": "#000", "LabelColour": "#000",
			"Width": 1, "LabelWidth": 1, "MessageWidth": 1, "LabelX": "0", "MessageX": "0"})
		elems, _, err := svgElements(b.Bytes())
		hijacked := err != nil
		for _, e := range elems {
			hijacked = hijacked || !allowed[e]
		}
		if !hijacked {
			t.Errorf("control: %q written raw still makes a clean badge: the attack proves nothing", name)
		}
	}
	for _, name := range hostileBadgeNames {
		m := &report.Module{Name: name, State: report.Failed}
		elems, texts, err := svgElements(moduleBadge(m))
		if err != nil {
			t.Errorf("badge of %q is not XML: %v", name, err)
			continue
		}
		for _, e := range elems {
			if !allowed[e] {
				t.Errorf("badge of %q has an element <%s>", name, e)
			}
		}
		want := name
		if len([]rune(want)) > badgeMaxLabel {
			want = string([]rune(want)[:badgeMaxLabel-1]) + "…"
		}
		want = strings.Map(func(r rune) rune {
			if r < 0x20 || r == 0xfffe {
				return '\ufffd'
			}
			return r
		}, want)
		if len(texts) != 3 || texts[0] != want+": failed" || texts[1] != want || texts[2] != "failed" {
			t.Errorf("badge of %q shows %q, want %q and failed", name, texts, want)
		}
	}
}

func TestOverallBadge(t *testing.T) {
	for _, tt := range []struct {
		s    report.Summary
		want string
	}{
		{report.Summary{Built: 2, Reused: 1}, "passing"},
		{report.Summary{Built: 2, Failed: 3, Skipped: 1}, "3 failed"},
		{report.Summary{Built: 2, Skipped: 1}, "1 skipped"},
	} {
		_, texts, err := svgElements(overallBadge("CI <&>", tt.s))
		if err != nil || len(texts) != 3 || texts[1] != "CI <&>" || texts[2] != tt.want {
			t.Errorf("%+v: badge texts %q (%v), want CI <&> and %q", tt.s, texts, err, tt.want)
		}
	}
}

// contrast is the WCAG 2 contrast ratio of two #rrggbb colours.
func contrast(t *testing.T, a, b string) float64 {
	lum := func(c string) float64 {
		v, err := strconv.ParseUint(strings.TrimPrefix(c, "#"), 16, 32)
		if err != nil || len(c) != 7 {
			t.Fatalf("colour %q", c)
		}
		ch := func(x uint64) float64 {
			f := float64(x) / 255
			if f <= 0.03928 {
				return f / 12.92
			}
			return math.Pow((f+0.055)/1.055, 2.4)
		}
		return 0.2126*ch(v>>16&0xff) + 0.7152*ch(v>>8&0xff) + 0.0722*ch(v&0xff)
	}
	x, y := lum(a), lum(b)
	if x < y {
		x, y = y, x
	}
	return (x + 0.05) / (y + 0.05)
}

// Every state colour, the text and the links are readable (WCAG AA: 4.5)
// on their scheme's background, and every badge colour under white text.
func TestColoursHaveContrast(t *testing.T) {
	for name, p := range map[string]palette{"light": lightPalette, "dark": darkPalette} {
		for what, c := range map[string]string{"text": p.Text, "muted": p.Muted, "link": p.Link, "good": p.Good, "bad": p.Bad, "skipped": p.Skipped} {
			if r := contrast(t, c, p.Background); r < 4.5 {
				t.Errorf("%s scheme: %s %s on %s has contrast %.2f, want at least 4.5", name, what, c, p.Background, r)
			}
		}
	}
	for state, c := range badgeColours {
		if r := contrast(t, "#ffffff", c); r < 4.5 {
			t.Errorf("badge %s: white on %s has contrast %.2f, want at least 4.5", state, c, r)
		}
	}
	// Control: the light scheme's state colours on the dark background
	// are what the check exists to catch.
	if r := contrast(t, lightPalette.Bad, darkPalette.Background); r >= 4.5 {
		t.Errorf("control: %s on %s has contrast %.2f: the check would catch nothing", lightPalette.Bad, darkPalette.Background, r)
	}
}
