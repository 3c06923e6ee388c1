// Package logtail reads the end of a module's log for people: the run
// report cron mails and the alert mails quote a failed module's last lines.
// A log is the build's output, so what it returns is bounded (at most the
// last Window bytes are read, each line at most MaxLine characters) and
// printable: control characters and bytes that are not UTF-8 are shown,
// never passed on to a terminal or a mail reader.
package logtail

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Window is how much of a log's end is read, in bytes.
const Window = 64 << 10

// MaxLine bounds a cleaned line, in bytes (before the closing "…").
const MaxLine = 300

// Last returns up to n last lines of the file at path, cleaned (see Read).
func Last(path string, n int) ([]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return Read(f, n)
}

// Read returns up to n last lines of the open file f, reading at most its
// last Window bytes, each cleaned (Clean).
func Read(f *os.File, n int) ([]string, error) {
	if info, err := f.Stat(); err == nil && info.Size() > Window {
		if _, err := f.Seek(info.Size()-Window, io.SeekStart); err != nil {
			return nil, err
		}
	}
	var lines []string
	sc := bufio.NewScanner(io.LimitReader(f, Window))
	sc.Buffer(make([]byte, 0, 4096), Window)
	for sc.Scan() {
		lines = append(lines, Clean(sc.Text()))
		if len(lines) > n {
			lines = lines[1:]
		}
	}
	return lines, nil
}

// Clean replaces what a terminal or a mail reader would interpret
// (control characters, written \xNN; invalid UTF-8, written ?; a tab
// becomes four spaces) and bounds a line's length.
func Clean(s string) string {
	var b strings.Builder
	for _, r := range s {
		if b.Len() >= MaxLine {
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
