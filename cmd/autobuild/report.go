package main

import (
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"time"

	"github.com/autobuild/autobuild/engine/report"
	"github.com/autobuild/autobuild/publish"
	"github.com/autobuild/autobuild/publish/logtail"
)

// tailLines is how many lines of a failed module's log the run report
// quotes.
const tailLines = 20

// runReport is what `autobuild run` prints on stdout: what an admin reads
// in cron's mail.
type runReport struct {
	rep *report.Run
	// site is the live site's folder; baseURL, when set, is its address,
	// and filesURL the separate origin of its files (logs included).
	site, baseURL, filesURL string
}

// news reports whether the run has something an admin must hear about
// when nobody watches (cron): a module that failed in this run. A module
// still failing with unchanged inputs, and its skipped dependents, are
// not news: they were reported when they broke.
func (r runReport) news() bool {
	for _, m := range r.rep.Modules {
		if m.State == report.Failed && m.FailedSince == 0 {
			return true
		}
	}
	return false
}

// write prints the summary line, and for every module that did not build
// its state, reason, log and the tail of its log.
func (r runReport) write(w io.Writer) {
	s := r.rep.Summarize()
	fmt.Fprintf(w, "run %d: %d built, %d reused, %d failed, %d skipped in %s\n",
		r.rep.Counter, s.Built, s.Reused, s.Failed, s.Skipped, r.rep.Duration.Round(time.Millisecond))
	for _, m := range r.rep.Modules {
		if m.State.OK() {
			continue
		}
		fmt.Fprintf(w, "\n%s %s: %s\n", strings.ToUpper(string(m.State)), m.Name, clean(m.Reason))
		if m.State != report.Failed || m.Log == "" {
			continue
		}
		fmt.Fprintf(w, "  log: %s\n", m.Log)
		if u := r.logURL(m); u != "" {
			fmt.Fprintf(w, "  url: %s\n", u)
		}
		if m.FailedSince != 0 {
			continue // its tail was in the report of the run that failed
		}
		tail, err := lastLines(m.Log, tailLines)
		if err != nil {
			continue
		}
		fmt.Fprintf(w, "  last %d lines:\n", len(tail))
		for _, l := range tail {
			fmt.Fprintf(w, "  | %s\n", l)
		}
	}
	if s.Failed+s.Skipped > 0 {
		fmt.Fprintln(w)
	}
	fmt.Fprintf(w, "site: %s\n", filepath.Join(r.site, "index.html"))
}

// logURL is the address of module m's log on the live site, when the
// site's address is configured: the site publishes a module's log as
// logs/<module>.log.
func (r runReport) logURL(m report.Module) string {
	return publish.LogURL(r.baseURL, r.filesURL, m.Name)
}

// lastLines returns up to n last lines of the file at path, bounded and
// cleaned of control characters (a log is the build's output: it must not
// drive the reader's terminal); the alert mails quote the same.
func lastLines(path string, n int) ([]string, error) { return logtail.Last(path, n) }

// clean replaces what a terminal or a mail reader would interpret and
// bounds a line's length.
func clean(s string) string { return logtail.Clean(s) }
