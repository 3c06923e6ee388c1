// Package results reads the test results a build leaves in its results
// file (build.ResultsFile: the build's $1 and $AUTOBUILD_RESULTS_FILE;
// README.md, "The results file"), and sums them up as a report.Tests of
// bounded size.
//
// The build wrote the file, so the engine reads it as hostile input: it
// opens it without following a symlink, reads only a regular file with a
// single link, at most MaxSize bytes, and never opens a FIFO or a device
// (it is checked before it is opened). The format is told by the first
// byte: '<' is JUnit XML, parsed by github.com/joshdk/go-junit; anything
// else is TAP, parsed by github.com/mpontillo/tap13. Each library is fed
// only what it handles within bounds:
//
//   - go-junit keeps every element's inner XML, so a document costs its
//     size times its nesting depth, and hundreds of bytes per element
//     and attribute: encoding/xml's tokenizer checks the document
//     first, and one with more than MaxNodes elements and attributes,
//     nested deeper than MaxDepth, or
//     whose elements' inner XML adds up to more than maxXMLWork, is
//     refused.
//   - tap13 reads nothing before a "TAP version" line, which TAP before
//     version 13 (Perl's Test::More) does not write, and stops counting
//     once a plan's number of tests is reached, which undercounts the
//     output of several test programs in a row (Test::Harness's verbose
//     output): each part is given a version line, and no plan line (the
//     plan is not checked; a plan line alone still makes a file TAP). It
//     is given the stream in parts of about tapPart lines, each cut before
//     a test line, so that its memory stays that of one part. A directive
//     is recognised as Test::Harness does (a word that starts with SKIP or
//     TODO, any case).
//
// One file is parsed at a time, whatever the number of workers, so the
// engine's memory for this stays that of one file.
package results

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"unicode"
	"unicode/utf8"

	junit "github.com/joshdk/go-junit"
	"github.com/mpontillo/tap13"

	"github.com/autobuild/autobuild/engine/report"
)

// The bounds.
const (
	// MaxSize is the largest results file read.
	MaxSize = 8 << 20
	// MaxDepth is the deepest nesting of JUnit XML elements read, and
	// MaxNodes the most elements and attributes, together.
	MaxDepth = 64
	MaxNodes = 400_000
	// MaxFailures is how many failing cases a report names; it counts
	// the rest.
	MaxFailures = 50
	// MaxName and MaxMessage bound a failing case's name and message, in
	// bytes.
	MaxName    = 256
	MaxMessage = 1024
	// maxXMLWork bounds the inner XML of all elements added up: what
	// go-junit holds in memory.
	maxXMLWork = 6 * MaxSize
	// tapPart is how many lines of TAP tap13 is given at once.
	tapPart = 4096
)

// The formats, as report.Tests.Format gives them.
const (
	JUnit = "junit"
	TAP   = "tap"
)

// parsing lets one file be parsed at a time.
var parsing = make(chan struct{}, 1)

// Read reads the results file at path. It returns nil when there is none
// (the build wrote no file, or an empty one), a report with Unreadable
// set when the file cannot be read or parsed, and the counts otherwise.
func Read(path string) *report.Tests {
	data, err := load(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil
	case err != nil:
		return unreadable(err)
	}
	data = bytes.TrimPrefix(data, []byte("\xef\xbb\xbf"))
	body := bytes.TrimLeft(data, " \t\r\n")
	if len(body) == 0 {
		return nil
	}
	parsing <- struct{}{}
	defer func() { <-parsing }()
	var t *report.Tests
	if body[0] == '<' {
		t, err = parseJUnit(body)
	} else {
		t, err = parseTAP(data)
	}
	if err != nil {
		return unreadable(err)
	}
	return t
}

func unreadable(err error) *report.Tests {
	return &report.Tests{Unreadable: clean(err.Error(), MaxMessage, false)}
}

// Describe is a line for the module's log that says what Read found.
func Describe(t *report.Tests) string {
	switch {
	case t == nil:
		return "no results file"
	case t.Unreadable != "":
		return "the results file could not be read: " + t.Unreadable
	}
	format := "TAP"
	if t.Format == JUnit {
		format = "JUnit XML"
	}
	s := fmt.Sprintf("%s: %d passed, %d failed, %d skipped", format, t.Passed, t.Failed, t.Skipped)
	for _, f := range t.Failures {
		s += "\n  failed: " + f.Name
	}
	if t.FailuresOmitted > 0 {
		s += fmt.Sprintf("\n  and %d more failed", t.FailuresOmitted)
	}
	return s
}

// load reads the file at path when it is a regular file with one link,
// of at most MaxSize bytes. Its folder is opened as an os.Root: nothing
// outside it is reached.
func load(path string) ([]byte, error) {
	root, err := os.OpenRoot(filepath.Dir(path))
	if err != nil {
		return nil, err
	}
	defer root.Close()
	name := filepath.Base(path)
	// A FIFO or a device is refused before it is opened: an open can
	// block, or act on a device.
	before, err := root.Lstat(name)
	if err != nil {
		return nil, err
	}
	if !before.Mode().IsRegular() {
		return nil, fmt.Errorf("it is %s, not a regular file", kind(before.Mode()))
	}
	f, err := root.OpenFile(name, os.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_NONBLOCK|syscall.O_NOCTTY, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !info.Mode().IsRegular() || !os.SameFile(before, info) {
		return nil, errors.New("it was replaced while it was opened")
	}
	if st, ok := info.Sys().(*syscall.Stat_t); ok && st.Nlink != 1 {
		return nil, fmt.Errorf("it has %d links (a hard link to another file is not read)", st.Nlink)
	}
	if info.Size() > MaxSize {
		return nil, fmt.Errorf("it holds %s, over the limit of %s", size(info.Size()), size(MaxSize))
	}
	data, err := io.ReadAll(io.LimitReader(f, MaxSize+1))
	if err != nil {
		return nil, err
	}
	if len(data) > MaxSize {
		return nil, fmt.Errorf("it grew over the limit of %s while it was read", size(MaxSize))
	}
	return data, nil
}

func kind(m fs.FileMode) string {
	switch {
	case m&fs.ModeSymlink != 0:
		return "a symbolic link"
	case m.IsDir():
		return "a folder"
	case m&fs.ModeNamedPipe != 0:
		return "a named pipe (FIFO)"
	case m&fs.ModeSocket != 0:
		return "a socket"
	case m&fs.ModeDevice != 0:
		return "a device"
	}
	return "a special file"
}

func size(n int64) string {
	if n >= 1<<20 {
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	}
	return fmt.Sprintf("%d bytes", n)
}

// parseJUnit checks the document's shape, then reads it with go-junit.
func parseJUnit(data []byte) (*report.Tests, error) {
	if err := checkXML(data); err != nil {
		return nil, fmt.Errorf("JUnit XML: %w", err)
	}
	suites, err := junit.Ingest(data)
	if err != nil {
		return nil, fmt.Errorf("JUnit XML: %w", err)
	}
	if len(suites) == 0 {
		return nil, errors.New("JUnit XML: no <testsuite> element")
	}
	t := &report.Tests{Format: JUnit}
	var walk func([]junit.Suite)
	walk = func(suites []junit.Suite) {
		for _, s := range suites {
			for _, c := range s.Tests {
				switch c.Status {
				case junit.StatusPassed:
					t.Passed++
				case junit.StatusSkipped:
					t.Skipped++
				case junit.StatusFailed, junit.StatusError:
					t.Failed++
					name := c.Name
					if c.Classname != "" && !strings.HasPrefix(name, c.Classname) {
						name = c.Classname + "." + name
					}
					msg := c.Message
					if strings.TrimSpace(msg) == "" && c.Error != nil {
						msg = c.Error.Error()
					}
					failure(t, name, msg)
				}
			}
			walk(s.Suites)
		}
	}
	walk(suites)
	return t, nil
}

// checkXML reads the document's tokens: it must be well-formed, hold at
// most MaxNodes elements and attributes, nested at most MaxDepth deep, and its
// elements' inner XML must add up to at most maxXMLWork bytes.
func checkXML(data []byte) error {
	d := xml.NewDecoder(bytes.NewReader(data))
	var starts []int64
	var work int64
	nodes := 0
	for {
		tok, err := d.Token()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		switch tok.(type) {
		case xml.StartElement:
			if nodes += 1 + len(tok.(xml.StartElement).Attr); nodes > MaxNodes {
				line, _ := d.InputPos()
				return fmt.Errorf("line %d: more than %d elements and attributes", line, MaxNodes)
			}
			if len(starts) == MaxDepth {
				line, _ := d.InputPos()
				return fmt.Errorf("line %d: elements nested deeper than %d", line, MaxDepth)
			}
			starts = append(starts, d.InputOffset())
		case xml.EndElement:
			work += d.InputOffset() - starts[len(starts)-1]
			starts = starts[:len(starts)-1]
			if work > maxXMLWork {
				return fmt.Errorf("its elements' content adds up to more than %s (each element counts what it holds, nested ones included)", size(maxXMLWork))
			}
		}
	}
}

// parseTAP reads a TAP stream with tap13, part by part.
func parseTAP(data []byte) (*report.Tests, error) {
	t := &report.Tests{Format: TAP}
	plan, seen, n := false, false, 0
	part := []string{"TAP version 13"}
	flush := func() {
		r := tap13.Parse(part)
		for _, c := range r.Tests {
			n++
			directive := strings.ToUpper(c.DirectiveText)
			switch {
			case c.Skipped || c.Todo || strings.HasPrefix(directive, "SKIP") || strings.HasPrefix(directive, "TODO"):
				t.Skipped++
			case c.Passed:
				t.Passed++
			case c.Failed:
				t.Failed++
				num := c.TestNumber
				if num <= 0 {
					num = n
				}
				name := strconv.Itoa(num)
				if d := strings.TrimSpace(strings.TrimPrefix(c.Description, "-")); d != "" {
					name += " - " + d
				}
				msg := strings.Join(c.Diagnostics, "\n")
				if msg == "" {
					msg = string(c.YamlBytes)
				}
				failure(t, name, msg)
			}
		}
		if r.BailOut {
			t.Failed++
			failure(t, "Bail out!", r.BailOutReason)
		}
		seen = seen || r.TotalTests > 0 || r.BailOut
		part = part[:1]
	}
	for text := string(data); text != ""; {
		line, rest, _ := strings.Cut(text, "\n")
		text = rest
		line = strings.TrimSuffix(line, "\r")
		if planLine.MatchString(line) {
			plan = true
			continue
		}
		if len(part) > tapPart && testLine.MatchString(line) {
			flush()
		}
		part = append(part, line)
	}
	flush()
	if !plan && !seen {
		return nil, notTAP
	}
	return t, nil
}

var (
	planLine = regexp.MustCompile(`^1\.\.[0-9]+(\s|$)`)
	testLine = regexp.MustCompile(`^(not )?ok\b`)
	notTAP   = errors.New(`neither JUnit XML (it does not start with "<") nor TAP (it has no plan line "1..N" and no "ok" or "not ok" line)`)
)

// failure adds a failing case to t's list while it has room.
func failure(t *report.Tests, name, msg string) {
	if len(t.Failures) >= MaxFailures {
		t.FailuresOmitted++
		return
	}
	t.Failures = append(t.Failures, report.TestFailure{Name: clean(name, MaxName, false), Message: clean(msg, MaxMessage, true)})
}

// clean makes s printable UTF-8 of at most max bytes: invalid bytes and
// characters that are not printable become U+FFFD, a tab or line break a
// space (line breaks are kept when lines is set), and a cut ends with "…".
func clean(s string, max int, lines bool) string {
	var b strings.Builder
	fit := 0 // the length of b that leaves room for "…"
	for _, r := range strings.ToValidUTF8(strings.TrimSpace(s), "\uFFFD") {
		switch {
		case r == '\r' && lines:
			continue
		case r == '\n' && lines:
		case r == '\n' || r == '\r' || r == '\t':
			r = ' '
		case !unicode.IsPrint(r):
			r = '\uFFFD'
		}
		if b.Len() <= max-len("…") {
			fit = b.Len()
		}
		if b.Len()+utf8.RuneLen(r) > max {
			return b.String()[:fit] + "…"
		}
		b.WriteRune(r)
	}
	return b.String()
}
