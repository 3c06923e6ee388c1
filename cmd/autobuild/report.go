package main

import (
	"bufio"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/autobuild/autobuild/engine/report"
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
	base := r.baseURL
	if r.filesURL != "" {
		base = r.filesURL
	}
	if base == "" {
		return ""
	}
	return strings.TrimSuffix(base, "/") + "/logs/" + url.PathEscape(m.Name+".log")
}

// lastLines returns up to n last lines of the file at path, reading at
// most its last 64 KiB, each cleaned of control characters (a log is the
// build's output: it must not drive the reader's terminal).
func lastLines(path string, n int) ([]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	const window = 64 << 10
	if info, err := f.Stat(); err == nil && info.Size() > window {
		if _, err := f.Seek(info.Size()-window, io.SeekStart); err != nil {
			return nil, err
		}
	}
	var lines []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 4096), window)
	for sc.Scan() {
		lines = append(lines, clean(sc.Text()))
		if len(lines) > n {
			lines = lines[1:]
		}
	}
	return lines, nil
}

// clean replaces what a terminal or a mail reader would interpret
// (control characters, invalid UTF-8) and bounds a line's length.
func clean(s string) string {
	const maxLen = 300
	var b strings.Builder
	for _, r := range s {
		if b.Len() >= maxLen {
			b.WriteString("…")
			break
		}
		switch {
		case r == utf8.RuneError:
			b.WriteRune('?')
		case r == '\t':
			b.WriteString("    ")
		case unicode.IsControl(r):
			fmt.Fprintf(&b, "\\x%02x", r)
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}
