package publish

import (
	"encoding/xml"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/autobuild/autobuild/engine/report"
)

// The site's Atom feeds (RFC 4287): feed.atom, one entry per run in the
// history, newest first, runs with no change folded into one entry per
// streak (see history.go); failures.atom, the runs with a failed or
// skipped module; and feeds/<module>.atom, the runs where the module's
// state or revision changed (feeds.go). Every ID is this installation's
// (feedSite.id), and every feed links itself (rel="self") when the site's
// URL is known.

type atomFeed struct {
	XMLName xml.Name    `xml:"http://www.w3.org/2005/Atom feed"`
	Title   string      `xml:"title"`
	ID      string      `xml:"id"`
	Updated string      `xml:"updated"`
	Links   []atomLink  `xml:"link"`
	Author  atomAuthor  `xml:"author"` // required by RFC 4287
	Entries []atomEntry `xml:"entry"`
}

type atomAuthor struct {
	Name string `xml:"name"`
}

type atomLink struct {
	Rel  string `xml:"rel,attr,omitempty"`
	Type string `xml:"type,attr,omitempty"`
	Href string `xml:"href,attr"`
}

type atomEntry struct {
	Title   string   `xml:"title"`
	ID      string   `xml:"id"`
	Updated string   `xml:"updated"`
	Link    atomLink `xml:"link"`
	Summary string   `xml:"summary"`
	// Content lists the changes the run built (the current run only: the
	// history keeps counts).
	Content *atomText `xml:"content,omitempty"`
}

type atomText struct {
	Type string `xml:"type,attr"`
	Text string `xml:",chardata"`
}

func atomTime(t time.Time) string { return t.UTC().Format(time.RFC3339) }

// changesText lists, per module, the changes a run built.
func changesText(run *report.Run) string {
	var b strings.Builder
	if !run.AsOf.IsZero() {
		fmt.Fprintf(&b, "Sources as of %s.\n", atomTime(run.AsOf))
	}
	for _, m := range run.Modules {
		if len(m.Changes) == 0 {
			continue
		}
		since := "newest changes"
		if m.ChangesSince != "" {
			since = "changes since " + m.ChangesSince
		}
		fmt.Fprintf(&b, "\n%s (%s, %s):\n", m.Name, m.State, since)
		writeChanges(&b, m.Changes)
	}
	return b.String()
}

func writeChanges(b *strings.Builder, changes []report.Change) {
	for _, c := range changes {
		src := ""
		if c.Source != "" {
			src = c.Source + ": "
		}
		fmt.Fprintf(b, "  %s%s %s %s: %s\n", src, c.ID, c.Date.UTC().Format("2006-01-02 15:04"), c.Author, c.Subject)
	}
}

func verdictOf(h report.Summary) string {
	if h.OK() {
		return "all modules built"
	}
	return fmt.Sprintf("%d failed, %d skipped", h.Failed, h.Skipped)
}

func summaryLine(h report.Summary) string {
	return fmt.Sprintf("%d built, %d reused, %d failed, %d skipped in %s",
		h.Built, h.Reused, h.Failed, h.Skipped, h.Duration.Round(time.Millisecond))
}

// history is run's history, or run alone when it has none.
func history(run *report.Run) []report.Summary {
	if len(run.History) == 0 {
		return []report.Summary{run.Summarize()}
	}
	return run.History
}

// runsFeed is feed.atom. A streak of runs with no change is one entry
// whose ID is that of its first run, updated as the streak grows: a feed
// reader shows it once. prevIDs are the entry IDs of the live site's
// feed: a streak that reaches the oldest run of the history keeps the ID
// (and first run) it had there, so it does not become a new entry as
// the history moves on.
func runsFeed(fs feedSite, run *report.Run, prevIDs map[string]bool) atomFeed {
	f := fs.feed(fs.title+" runs", fs.installation(), run.Start, "feed.atom", 0)
	changes := changesText(run)
	hist := history(run)
	rows := collapseHistory(hist)
	for i, r := range rows {
		if r.NoChange() && i == len(rows)-1 && r.First == hist[len(hist)-1].Counter && !prevIDs[fs.id("run", r.First)] {
			// The streak may have started before the history does: the
			// live site's feed has it under the nearest earlier run.
			for c := r.First - 1; c > 0 && c >= r.First-2*len(hist)-10; c-- {
				if prevIDs[fs.id("run", c)] {
					r.First = c
					r.Runs = r.Counter - c + 1
					break
				}
			}
		}
		e := atomEntry{
			Updated: atomTime(r.Start.Add(r.Duration)),
			Link:    atomLink{Rel: "alternate", Type: "text/html", Href: fs.href("index.html", 0)},
		}
		if r.NoChange() {
			e.ID = fs.id("run", r.First)
			if r.Runs > 1 {
				e.Title = fmt.Sprintf("runs %d–%d: no change", r.First, r.Counter)
			} else {
				e.Title = fmt.Sprintf("run %d: no change", r.Counter)
			}
			e.Summary = fmt.Sprintf("every module reused (%d), nothing failed; the newest of these runs started %s", r.Reused, atomTime(r.Start))
		} else {
			e.ID = fs.id("run", r.Counter)
			e.Title = fmt.Sprintf("run %d: %s", r.Counter, verdictOf(r.Summary))
			e.Summary = summaryLine(r.Summary)
			if r.Counter == run.Counter && changes != "" {
				e.Content = &atomText{Type: "text", Text: changes}
			}
		}
		f.Entries = append(f.Entries, e)
	}
	return f
}

// writeAtom writes f as an XML document.
func writeAtom(w io.Writer, f atomFeed) error {
	if _, err := io.WriteString(w, xml.Header); err != nil {
		return err
	}
	enc := xml.NewEncoder(w)
	enc.Indent("", "  ")
	if err := enc.Encode(f); err != nil {
		return err
	}
	_, err := io.WriteString(w, "\n")
	return err
}
