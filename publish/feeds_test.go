package publish_test

import (
	"context"
	"encoding/xml"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/autobuild/autobuild/engine/report"
	"github.com/autobuild/autobuild/publish"
)

// feed is an Atom feed as a reader parses it.
type feed struct {
	XMLName xml.Name
	ID      string `xml:"id"`
	Title   string `xml:"title"`
	Updated string `xml:"updated"`
	Author  string `xml:"author>name"`
	Links   []struct {
		Rel  string `xml:"rel,attr"`
		Href string `xml:"href,attr"`
	} `xml:"link"`
	Entries []struct {
		ID      string `xml:"id"`
		Title   string `xml:"title"`
		Updated string `xml:"updated"`
		Summary string `xml:"summary"`
		Link    struct {
			Href string `xml:"href,attr"`
		} `xml:"link"`
	} `xml:"entry"`
}

func (f *feed) link(rel string) string {
	for _, l := range f.Links {
		if l.Rel == rel {
			return l.Href
		}
	}
	return ""
}

// readFeed parses a feed of the live site, checking what RFC 4287
// requires of it: the Atom namespace, an id, a title, an updated time
// and an author, and an id, title and updated time for each entry.
func readFeed(t *testing.T, public, rel string) *feed {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(public, rel))
	if err != nil {
		t.Fatal(err)
	}
	var f feed
	if err := xml.Unmarshal(b, &f); err != nil {
		t.Fatalf("%s is not XML: %v", rel, err)
	}
	if f.XMLName.Space != "http://www.w3.org/2005/Atom" || f.XMLName.Local != "feed" {
		t.Errorf("%s: root element %v", rel, f.XMLName)
	}
	uuid := regexp.MustCompile(`^urn:uuid:[0-9a-f]{8}-[0-9a-f]{4}-[45][0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)
	if !uuid.MatchString(f.ID) || f.Title == "" || f.Author == "" {
		t.Errorf("%s: id %q, title %q, author %q", rel, f.ID, f.Title, f.Author)
	}
	if _, err := time.Parse(time.RFC3339, f.Updated); err != nil {
		t.Errorf("%s: updated %q: %v", rel, f.Updated, err)
	}
	if f.link("alternate") == "" {
		t.Errorf("%s links no alternate page", rel)
	}
	for _, e := range f.Entries {
		if _, err := time.Parse(time.RFC3339, e.Updated); err != nil || !uuid.MatchString(e.ID) || e.Title == "" {
			t.Errorf("%s: entry %q: id %q, updated %q (%v)", rel, e.Title, e.ID, e.Updated, err)
		}
	}
	return &f
}

// siteFeeds are the feeds of the fixture's site.
var siteFeeds = []string{"feed.atom", "failures.atom", "feeds/libfoo.atom", "feeds/app.atom", "feeds/broken.atom", "feeds/downstream.atom"}

// Every feed is valid Atom; every ID (feed or entry) appears once in the
// whole site; with the site's URL each feed links itself at its absolute
// address, and without it none does (a relative self link is no help).
func TestFeedsAreValidWithUniqueIDs(t *testing.T) {
	for _, siteURL := range []string{"", "https://build.example.org/ci/"} {
		f := newFixture(t, 42)
		public, sites := paths(t)
		s := f.site(public, sites, 3)
		s.URL = siteURL
		if err := s.Publish(context.Background(), f.in); err != nil {
			t.Fatal(err)
		}
		seen := map[string]string{}
		for _, rel := range siteFeeds {
			fd := readFeed(t, public, rel)
			ids := []string{fd.ID}
			for _, e := range fd.Entries {
				ids = append(ids, e.ID)
			}
			for _, id := range ids {
				if other, ok := seen[id]; ok {
					t.Errorf("url %q: id %s is in %s and %s", siteURL, id, other, rel)
				}
				seen[id] = rel
			}
			self := fd.link("self")
			switch {
			case siteURL == "" && self != "":
				t.Errorf("%s links itself at %q without a site URL", rel, self)
			case siteURL != "" && self != siteURL+rel:
				t.Errorf("%s: rel=self %q, want %q", rel, self, siteURL+rel)
			}
			alt := fd.link("alternate")
			if u, err := url.Parse(alt); err != nil || (siteURL != "") != u.IsAbs() {
				t.Errorf("url %q: %s links the page at %q", siteURL, rel, alt)
			}
		}
		if len(seen) < len(siteFeeds)+4 {
			t.Errorf("only %d ids in the site's feeds", len(seen))
		}
	}
}

// Without a site URL, two installations' feeds have different IDs, and
// one installation's next site keeps its own; with the URL, the IDs are
// the URL's, whatever the installation.
func TestFeedIDsBelongToTheInstallation(t *testing.T) {
	publishTwice := func(siteURL string) (first, second *feed) {
		f := newFixture(t, 42)
		public, sites := paths(t)
		s := f.site(public, sites, 3)
		s.URL = siteURL
		if err := s.Publish(context.Background(), f.in); err != nil {
			t.Fatal(err)
		}
		first = readFeed(t, public, "feed.atom")
		f.in.Run.Counter = 43
		f.in.Run.History = append([]report.Summary{{Counter: 43, Start: t0.Add(time.Hour), Built: 1}, {Counter: 42, Start: t0, Built: 1}}, f.in.Run.History...)
		if err := s.Publish(context.Background(), f.in); err != nil {
			t.Fatal(err)
		}
		return first, readFeed(t, public, "feed.atom")
	}
	a1, a2 := publishTwice("")
	b1, _ := publishTwice("")
	if a1.ID == b1.ID || a1.Entries[0].ID == b1.Entries[0].ID {
		t.Errorf("two installations share feed id %s / entry id %s", a1.ID, a1.Entries[0].ID)
	}
	if a2.ID != a1.ID {
		t.Errorf("the next site's feed id %s is not the installation's %s", a2.ID, a1.ID)
	}
	// Run 41 (its entry first in a1, third in a2) keeps its entry id.
	if len(a2.Entries) != 4 || a2.Entries[2].ID != a1.Entries[0].ID || a2.Entries[0].ID == a1.Entries[0].ID {
		t.Errorf("entry ids: first site %s, next site %+v", a1.Entries[0].ID, a2.Entries)
	}
	c1, _ := publishTwice("https://build.example.org/")
	d1, _ := publishTwice("https://build.example.org/")
	e1, _ := publishTwice("https://other.example.org/")
	if c1.ID != d1.ID || c1.Entries[0].ID != d1.Entries[0].ID || c1.ID == e1.ID {
		t.Errorf("feed ids by URL: %s, %s (same URL), %s (another)", c1.ID, d1.ID, e1.ID)
	}
}

// A module's feed gets an entry only when its state or revision changed
// since the live site's run: built then reused at the same revision is no
// news, failing is, so is being fixed, and so is a new revision.
func TestModuleFeedRecordsChanges(t *testing.T) {
	f := newFixture(t, 42)
	public, sites := paths(t)
	s := f.site(public, sites, 3)
	titles := func(rel string) string {
		var ts []string
		for _, e := range readFeed(t, public, rel).Entries {
			ts = append(ts, e.Title)
		}
		return strings.Join(ts, " | ")
	}
	next := func(change func(libfoo, broken *report.Module)) {
		t.Helper()
		f.in.Run.Counter++
		change(&f.in.Run.Modules[0], &f.in.Run.Modules[2])
		if err := s.Publish(context.Background(), f.in); err != nil {
			t.Fatal(err)
		}
	}
	next(func(libfoo, broken *report.Module) {}) // 43: the first site
	next(func(libfoo, broken *report.Module) { libfoo.State = report.Reused })
	next(func(libfoo, broken *report.Module) { broken.State, broken.Reason = report.Built, "" })
	next(func(libfoo, broken *report.Module) { libfoo.State, libfoo.Revision = report.Built, "abcdef0123456789" })
	next(func(libfoo, broken *report.Module) { broken.State, broken.Reason = report.Failed, "exit 1" })
	next(func(libfoo, broken *report.Module) {})
	if got, want := titles("feeds/libfoo.atom"), "run 46: libfoo built at abcdef012345 | run 43: libfoo built at 0123456789ab"; got != want {
		t.Errorf("libfoo's feed:\n got %s\nwant %s", got, want)
	}
	if got, want := titles("feeds/broken.atom"), "run 47: broken broke (failed) at 77aa | run 45: broken fixed (built) at 77aa | run 43: broken failed at 77aa"; got != want {
		t.Errorf("broken's feed:\n got %s\nwant %s", got, want)
	}
	if got := titles("feeds/app.atom"); got != "run 43: app reused at fedcba98" {
		t.Errorf("app's feed: %s", got)
	}
}

// Runs with no change are one entry per streak in feed.atom and one row
// in the history; a streak longer than the history keeps the entry (its
// ID and first run) it had in the live site's feed.
func TestNoChangeRunsCollapse(t *testing.T) {
	f := newFixture(t, 30)
	reused := func(n int) report.Summary {
		return report.Summary{Counter: n, Start: t0.Add(time.Duration(n) * time.Hour), Reused: 4}
	}
	hist := func(newest, oldest int) []report.Summary {
		var h []report.Summary
		for n := newest; n >= oldest; n-- {
			h = append(h, reused(n))
		}
		return h
	}
	for i := range f.in.Run.Modules {
		f.in.Run.Modules[i].State = report.Reused
	}
	// Runs 11–30 reuse all four modules after run 10 built them.
	f.in.Run.History = append(hist(30, 11), report.Summary{Counter: 10, Start: t0, Built: 4})
	public, sites := paths(t)
	s := f.site(public, sites, 3)
	if err := s.Publish(context.Background(), f.in); err != nil {
		t.Fatal(err)
	}
	fd := readFeed(t, public, "feed.atom")
	if len(fd.Entries) != 2 || fd.Entries[0].Title != "runs 11–30: no change" || fd.Entries[1].Title != "run 10: all modules built" {
		t.Fatalf("feed entries: %+v", fd.Entries)
	}
	streak := fd.Entries[0].ID
	page, _ := os.ReadFile(filepath.Join(public, "index.html"))
	if n := strings.Count(string(page), `<tr class="nochange">`); n != 1 || !strings.Contains(string(page), `<td>11–<a href="runs/30.html">30</a></td>`) {
		t.Errorf("index.html has %d no-change rows", n)
	}
	// Run 31 with run 10 out of the history: the streak is the same.
	f.in.Run.Counter = 31
	f.in.Run.History = hist(31, 11)
	if err := s.Publish(context.Background(), f.in); err != nil {
		t.Fatal(err)
	}
	fd = readFeed(t, public, "feed.atom")
	if len(fd.Entries) != 1 || fd.Entries[0].Title != "runs 11–31: no change" || fd.Entries[0].ID != streak {
		t.Errorf("the grown streak: %+v, want runs 11–31 with id %s", fd.Entries, streak)
	}
	// Run 31 again (a site published twice), the history holding 20
	// runs, none of them run 10 or 11.
	f.in.Run.History = hist(31, 12)
	if err := s.Publish(context.Background(), f.in); err != nil {
		t.Fatal(err)
	}
	fd = readFeed(t, public, "feed.atom")
	if len(fd.Entries) != 1 || fd.Entries[0].Title != "runs 11–31: no change" || fd.Entries[0].ID != streak {
		t.Errorf("the grown streak: %+v, want runs 11–31 with id %s", fd.Entries, streak)
	}
	// Control: the same run on a site with no earlier feed starts the
	// streak where its history does, with another ID.
	public2, sites2 := paths(t)
	if err := f.site(public2, sites2, 3).Publish(context.Background(), f.in); err != nil {
		t.Fatal(err)
	}
	if fd := readFeed(t, public2, "feed.atom"); len(fd.Entries) != 1 || fd.Entries[0].Title != "runs 12–31: no change" {
		t.Errorf("control: %+v", fd.Entries)
	}
}

// Every module has its badge, the run its overall one; a module named
// "all" does not take the overall badge's place.
func TestBadgesPublished(t *testing.T) {
	f := newFixture(t, 42)
	f.in.Run.Modules = append(f.in.Run.Modules, report.Module{Name: "all", State: report.Built, Level: "isolated"})
	public, sites := paths(t)
	s := f.site(public, sites, 3)
	s.Title = "Nightly <&>"
	if err := s.Publish(context.Background(), f.in); err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]string{"libfoo": ">built<", "app": ">reused<", "broken": ">failed<", "downstream": ">skipped<", "all": ">1 failed<"} {
		b, err := os.ReadFile(filepath.Join(public, "badges", name+".svg"))
		if err != nil || !strings.Contains(string(b), want) {
			t.Errorf("badges/%s.svg: %v, want %q in:\n%s", name, err, want, b)
		}
	}
	b, _ := os.ReadFile(filepath.Join(public, "badges", "all.svg"))
	if !strings.Contains(string(b), ">Nightly &lt;&amp;&gt;<") {
		t.Errorf("the overall badge does not show the title, escaped:\n%s", b)
	}
}

// The page lays itself out for a phone and for dark mode with CSS alone:
// the modules table becomes labelled cards under a width media query, the
// history scrolls in its own box, and a dark scheme overrides the colours.
func TestPageIsResponsiveAndHasADarkMode(t *testing.T) {
	f := newFixture(t, 42)
	public, sites := paths(t)
	if err := f.site(public, sites, 3).Publish(context.Background(), f.in); err != nil {
		t.Fatal(err)
	}
	page, _ := os.ReadFile(filepath.Join(public, "index.html"))
	html := string(page)
	narrow := regexp.MustCompile(`(?s)@media \(max-width:\s*(\d+)em\)\{(.*?)\n\}`).FindStringSubmatch(html)
	if narrow == nil {
		t.Fatal("index.html has no max-width media query")
	}
	// 390 px at the default 16 px font is 24.4em: the query must include it.
	if w, _ := strconv.Atoi(narrow[1]); w < 25 {
		t.Errorf("the narrow layout stops at %dem, below a 390 px phone", w)
	}
	for _, rule := range []string{"table.modules thead{display:none}", "table.modules td{display:block", "content:attr(data-label)"} {
		if !strings.Contains(narrow[2], rule) {
			t.Errorf("the narrow layout lacks %q", rule)
		}
	}
	dark := regexp.MustCompile(`(?s)@media \(prefers-color-scheme:\s*dark\)\{(.*?)\n\}`).FindStringSubmatch(html)
	if dark == nil || !strings.Contains(dark[1], "body{background:") || !strings.Contains(dark[1], ".failed") {
		t.Errorf("index.html has no dark scheme for the page and its states: %v", dark)
	}
	for _, label := range []string{"Module", "Status", "Revision", "Trust level", "Duration", "Log", "Artifacts"} {
		if n := strings.Count(html, `<td data-label="`+label+`"`); n != 4 {
			t.Errorf("%d cells labelled %s, want one per module (4)", n, label)
		}
	}
	if !strings.Contains(html, `<div class="scroll"><table class="history">`) || strings.Contains(html, "<script") {
		t.Error("the history table is not in a scrolling box, or the page has a script")
	}
}

func TestCheckTitleAndURL(t *testing.T) {
	for _, ok := range []string{"", "Nightly builds", "Ünïcode ☃ <&>"} {
		if err := publish.CheckTitle(ok); err != nil {
			t.Errorf("CheckTitle(%q) = %v", ok, err)
		}
	}
	for _, bad := range []string{"tab\there", "bell\a", "\xff", "   ", strings.Repeat("x", 101), "zero\u200bwidth"} {
		if err := publish.CheckTitle(bad); err == nil {
			t.Errorf("CheckTitle(%q) accepted it", bad)
		}
	}
	if err := publish.CheckSiteURL("ftp://x/"); err == nil || !strings.Contains(err.Error(), "site URL") {
		t.Errorf("CheckSiteURL(ftp) = %v", err)
	}
}
