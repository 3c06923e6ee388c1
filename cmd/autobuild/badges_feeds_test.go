package main

import (
	"encoding/xml"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/autobuild/autobuild/internal/testutil"
)

// atomDoc is what this test reads of a feed.
type atomDoc struct {
	ID    string `xml:"id"`
	Title string `xml:"title"`
	Links []struct {
		Rel  string `xml:"rel,attr"`
		Href string `xml:"href,attr"`
	} `xml:"link"`
	Entries []struct {
		ID    string `xml:"id"`
		Title string `xml:"title"`
	} `xml:"entry"`
}

func (f *farm) feed(rel string) *atomDoc {
	f.t.Helper()
	b, err := os.ReadFile(filepath.Join(f.root, "public_html", rel))
	if err != nil {
		f.t.Fatal(err)
	}
	var d atomDoc
	if err := xml.Unmarshal(b, &d); err != nil {
		f.t.Fatalf("%s: %v", rel, err)
	}
	return &d
}

func (d *atomDoc) titles() string {
	var ts []string
	for _, e := range d.Entries {
		ts = append(ts, e.Title)
	}
	return strings.Join(ts, " | ")
}

// The real binary's site has a badge per module and an overall one, the
// runs feed (runs with no change as one entry), the failures feed and a
// feed per module, with the configured title and URL.
func TestSiteBadgesAndFeeds(t *testing.T) {
	f := newFarm(t)
	f.repo("lib", script(`echo lib > "$AUTOBUILD_PACKAGE_ROOT/lib.bin"`))
	app := f.repo("app", script(`test ! -e broken`))
	f.config(`publish: {url: "https://ci.example.org/nightly/", title: "Nightly"}
modules:
  - {name: lib, source: {url: repos/lib}}
  - {name: app, source: {url: repos/app, branch: main}, depends: [lib]}
`)
	for i := 0; i < 3; i++ {
		if r := f.run(); r.code != 0 {
			t.Fatal(r.dump())
		}
	}
	badge := func(name string) string {
		b, err := os.ReadFile(filepath.Join(f.root, "public_html", "badges", name+".svg"))
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	// Every built-in page carries the title.
	for _, page := range []string{"index.html", "packages.html", "modules/lib.html", "runs/3.html"} {
		b, err := os.ReadFile(filepath.Join(f.root, "public_html", page))
		if err != nil || !strings.Contains(string(b), "<title>Nightly") {
			t.Errorf("%s does not carry the site's title (%v)", page, err)
		}
	}
	if b := badge("all"); !strings.Contains(b, ">Nightly<") || !strings.Contains(b, ">passing<") {
		t.Errorf("badges/all.svg after three good runs:\n%s", b)
	}
	if b := badge("lib"); !strings.Contains(b, ">lib<") || !strings.Contains(b, ">reused<") {
		t.Errorf("badges/lib.svg:\n%s", b)
	}
	main := f.feed("feed.atom")
	if got := main.titles(); got != "runs 2–3: no change | run 1: all modules built" {
		t.Errorf("feed.atom entries: %s", got)
	}
	self := ""
	for _, l := range main.Links {
		if l.Rel == "self" {
			self = l.Href
		}
	}
	if self != "https://ci.example.org/nightly/feed.atom" || main.Title != "Nightly runs" {
		t.Errorf("feed.atom: title %q, rel=self %q", main.Title, self)
	}
	if got := f.feed("feeds/lib.atom").titles(); !strings.HasPrefix(got, "run 1: lib built at ") || strings.Contains(got, "|") {
		t.Errorf("feeds/lib.atom after three runs: %s", got)
	}
	if n := len(f.feed("failures.atom").Entries); n != 0 {
		t.Errorf("failures.atom has %d entries after good runs", n)
	}
	page, _ := os.ReadFile(filepath.Join(f.root, "public_html", "index.html"))
	if !strings.Contains(string(page), "<title>Nightly run 3:") || !strings.Contains(string(page), `<td><a href="runs/2.html">2</a>–<a href="runs/3.html">3</a></td>`) {
		t.Error("index.html lacks the title or the folded no-change runs")
	}

	// app breaks: its feed, the failures feed and the badges say so.
	testutil.Commit(t, app, map[string]string{"broken": "yes\n"})
	if r := f.run(); r.code != 1 {
		t.Fatalf("want exit 1 for a failed module:\n%s", r.dump())
	}
	if b := badge("all"); !strings.Contains(b, ">1 failed<") {
		t.Errorf("badges/all.svg after app broke:\n%s", b)
	}
	if b := badge("app"); !strings.Contains(b, ">failed<") {
		t.Errorf("badges/app.svg after app broke:\n%s", b)
	}
	if got := f.feed("feeds/app.atom").titles(); !strings.HasPrefix(got, "run 4: app broke (failed) at ") || !strings.Contains(got, " | run 1: app built at ") {
		t.Errorf("feeds/app.atom: %s", got)
	}
	if got := f.feed("failures.atom").titles(); got != "run 4: 1 failed, 0 skipped" {
		t.Errorf("failures.atom: %s", got)
	}
	if got := f.feed("feed.atom").titles(); got != "run 4: 1 failed, 0 skipped | runs 2–3: no change | run 1: all modules built" {
		t.Errorf("feed.atom: %s", got)
	}
}
