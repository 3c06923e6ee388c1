package publish

import (
	"encoding/xml"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/autobuild/autobuild/engine/report"
)

// The Atom feed has one entry per run in the history, newest first, so a
// feed reader shows each run's verdict as it happens.

type atomFeed struct {
	XMLName xml.Name    `xml:"http://www.w3.org/2005/Atom feed"`
	Title   string      `xml:"title"`
	ID      string      `xml:"id"`
	Updated string      `xml:"updated"`
	Link    atomLink    `xml:"link"`
	Author  atomAuthor  `xml:"author"` // required by RFC 4287
	Entries []atomEntry `xml:"entry"`
}

type atomAuthor struct {
	Name string `xml:"name"`
}

type atomLink struct {
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

// changesText lists, per module, the changes a run built.
func changesText(run *report.Run) string {
	var b strings.Builder
	if !run.AsOf.IsZero() {
		fmt.Fprintf(&b, "Sources as of %s.\n", run.AsOf.UTC().Format(time.RFC3339))
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
		for _, c := range m.Changes {
			src := ""
			if c.Source != "" {
				src = c.Source + ": "
			}
			fmt.Fprintf(&b, "  %s%s %s %s: %s\n", src, c.ID, c.Date.UTC().Format("2006-01-02 15:04"), c.Author, c.Subject)
		}
	}
	return b.String()
}

func renderAtom(w io.Writer, run *report.Run) error {
	history := run.History
	if len(history) == 0 {
		history = []report.Summary{run.Summarize()}
	}
	f := atomFeed{
		Title:   "autobuild runs",
		ID:      "urn:autobuild:runs",
		Updated: run.Start.UTC().Format(time.RFC3339),
		Link:    atomLink{Href: "index.html"},
		Author:  atomAuthor{Name: "autobuild"},
	}
	changes := changesText(run)
	for _, h := range history {
		verdict := "all modules built"
		if !h.OK() {
			verdict = fmt.Sprintf("%d failed, %d skipped", h.Failed, h.Skipped)
		}
		f.Entries = append(f.Entries, atomEntry{
			Title:   fmt.Sprintf("run %d: %s", h.Counter, verdict),
			ID:      fmt.Sprintf("urn:autobuild:run:%d", h.Counter),
			Updated: h.Start.Add(h.Duration).UTC().Format(time.RFC3339),
			Link:    atomLink{Href: "index.html"},
			Summary: fmt.Sprintf("%d built, %d reused, %d failed, %d skipped in %s",
				h.Built, h.Reused, h.Failed, h.Skipped, h.Duration.Round(time.Millisecond)),
		})
		if h.Counter == run.Counter && changes != "" {
			f.Entries[len(f.Entries)-1].Content = &atomText{Type: "text", Text: changes}
		}
	}
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
