package cvs

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"os"
	"path"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/autobuild/autobuild/scm"
)

// ResolveAt implements scm.SCM: the revision Resolve would have given at
// time at, the newest change of the trunk or branch at or before it (its
// whole second: CVS dates stop at the second), asked of the server as
// Resolve asks ("rls -D", "rlog -d<="). A tag, or a pinned time, resolves
// as Resolve does. Nothing is fetched, and d is not used.
//
// A branch is as old as its oldest revision: CVS does not record when a
// branch tag was made, so a branch resolves at a time before it was made
// to the revisions it branched from. No file then is an error wrapping
// scm.ErrNoRevisionAt, unless there is none now either (an unknown branch
// or module: Resolve's error).
func (c CVS) ResolveAt(ctx context.Context, src scm.Source, at time.Time, d scm.Dirs) (scm.Revision, error) {
	if err := c.Validate(src); err != nil {
		return scm.Revision{}, err
	}
	if src.Commit != "" || src.Tag != "" {
		return c.Resolve(ctx, src)
	}
	if epoch := time.Unix(0, 0); at.Before(epoch) {
		at = epoch // cvs takes a year 1 for now; no revision is older
	}
	until := at.UTC().Truncate(time.Second)
	rev, err := settled(ctx, src, until, true)
	if errors.Is(err, errNoFile) {
		if _, nerr := resolve(ctx, src, time.Time{}); nerr != nil {
			return scm.Revision{}, nerr
		}
		return scm.Revision{}, fmt.Errorf("%s of %s at %s: %w", src.Ref(), src.URL, until.Format(idTime), scm.ErrNoRevisionAt)
	}
	return rev, err
}

// Changes implements scm.SCM, from the server: "cvs rlog" of the module
// (the revisions dated after from's time, up to to's), each file's
// revisions on the line a checkout follows (the trunk, or the vendor
// branch while a file is on it; a branch and the revisions it branched
// from; a tag's revisions and those before them), grouped into commits:
// by commitid, which cvs 1.12 records, else by author and message within
// two seconds of each other. An import's revision 1.1 is the commit of
// its vendor revision 1.1.1.1 (not its "Initial revision" text); the dead
// revision 1.1 of a file added on a branch is no change of the trunk. A
// Change's ID is its commitid, or without one its time as a revision ID
// has it; its date is its newest file's.
//
// rlog's text is the only form CVS gives its log in: a line of rlog's
// separators in a message is taken for one only where rlog's grammar
// allows it (followed by a revision line and a date line; a file's end
// by the next file or the end), so only a message written to look like
// rlog's output can be misread.
func (c CVS) Changes(ctx context.Context, src scm.Source, d scm.Dirs, from, to scm.Revision, max int) ([]scm.Change, error) {
	if err := c.Validate(src); err != nil {
		return nil, err
	}
	until, err := revisionTime(src, to)
	if err != nil {
		return nil, err
	}
	if max <= 0 {
		return nil, nil
	}
	dates := "<=" + cvsDate(until)
	var after time.Time // zero: from the beginning
	if t, err := revisionTime(src, from); err == nil && !t.After(until) {
		if t.Equal(until) {
			return nil, nil
		}
		after = t
		dates = cvsDate(t) + dates
	}
	r, _ := ParseURL(src.URL)
	tmp, err := os.MkdirTemp("", "autobuild-cvs-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	out, err := run(ctx, r, tmp, "rlog", "-S", "-d"+dates, "--", r.Module)
	if err != nil {
		return nil, err
	}
	files, err := parseRlog(out, repositoryPath(r)+"/"+r.Module+"/")
	if err != nil {
		return nil, err
	}
	var revs []fileRev
	for _, f := range files {
		for _, rv := range f.onLine(src) {
			if rv.date.After(after) && !rv.date.After(until) {
				revs = append(revs, rv)
			}
		}
	}
	return commits(src, revs, max), nil
}

// repositoryPath is the repository's folder as the server names it in
// rlog's "RCS file:" lines: a local one's, or the path of a remote
// CVSROOT (":pserver:user@host:2401/cvs" is /cvs).
func repositoryPath(r Root) string {
	if r.Local != "" {
		return r.Local
	}
	rest := r.CVSROOT[1:]
	rest = rest[strings.IndexByte(rest, ':')+1:] // past ":method[;options]:"
	if i := strings.LastIndexByte(rest, '@'); i >= 0 {
		rest = rest[i+1:]
	}
	if i := strings.IndexByte(rest, '/'); i >= 0 {
		rest = rest[i:]
	}
	return path.Clean(rest)
}

// rcsFile is one file of rlog's output.
type rcsFile struct {
	path    string // relative to the module
	branch  string // the default branch ("branch:"), when not the trunk
	symbols map[string]string
	revs    []fileRev
}

// fileRev is one revision of a file.
type fileRev struct {
	path, num     string
	date          time.Time
	author, state string
	commitID, msg string
	nums          []int
}

const (
	revSep  = "----------------------------"
	fileEnd = "============================================================================="
)

var (
	revLineRE  = regexp.MustCompile(`^revision ([0-9]+(?:\.[0-9]+)+)(?:\t.*)?$`)
	dateLineRE = regexp.MustCompile(`^date: ([0-9]{4}[-/][0-9]{2}[-/][0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2})(?: ([-+][0-9]{4}))?;  author: ([^;]*);  state: ([^;]*);(.*)$`)
	commitRE   = regexp.MustCompile(`  commitid: ([0-9A-Za-z]+);`)
	branchesRE = regexp.MustCompile(`^branches:(?:  [0-9.]+;)+$`)
	symbolRE   = regexp.MustCompile(`^\t([^:]+): ([0-9.]+)$`)
)

// parseRlog reads rlog's output; prefix is what every "RCS file:" path
// starts with (the repository's folder and the module).
func parseRlog(out []byte, prefix string) ([]rcsFile, error) {
	lines := strings.Split(strings.TrimSuffix(string(out), "\n"), "\n")
	var files []rcsFile
	isRev := func(i int) bool {
		return i+2 < len(lines) && lines[i] == revSep && revLineRE.MatchString(lines[i+1]) && dateLineRE.MatchString(lines[i+2])
	}
	isEnd := func(i int) bool {
		return lines[i] == fileEnd && (i+1 == len(lines) || (i+2 < len(lines) && lines[i+1] == "" && strings.HasPrefix(lines[i+2], "RCS file: ")))
	}
	for i := 0; i < len(lines); {
		name, ok := strings.CutPrefix(lines[i], "RCS file: ")
		if !ok {
			i++
			continue
		}
		rel, ok := strings.CutPrefix(name, prefix)
		rel, ok2 := strings.CutSuffix(rel, ",v")
		if !ok || !ok2 || rel == "" {
			return nil, fmt.Errorf("cvs rlog: RCS file %q is not a file below %s", name, prefix)
		}
		if dir, base := path.Split(rel); path.Base(dir) == "Attic" {
			rel = path.Join(path.Dir(strings.TrimSuffix(dir, "/")), base)
		}
		f := rcsFile{path: rel, symbols: map[string]string{}}
		// The header, up to the description.
		for i++; i < len(lines) && lines[i] != "description:"; i++ {
			switch {
			case strings.HasPrefix(lines[i], "branch:"):
				f.branch = strings.TrimSpace(strings.TrimPrefix(lines[i], "branch:"))
			case symbolRE.MatchString(lines[i]):
				m := symbolRE.FindStringSubmatch(lines[i])
				f.symbols[m[1]] = m[2]
			}
		}
		// The description, then the revisions, up to the file's end.
		for i < len(lines) && !isRev(i) && !isEnd(i) {
			i++
		}
		for i < len(lines) && isRev(i) {
			rv, err := parseRev(lines[i+1], lines[i+2])
			if err != nil {
				return nil, err
			}
			rv.path = rel
			i += 3
			if i < len(lines) && branchesRE.MatchString(lines[i]) {
				i++
			}
			var msg []string
			for i < len(lines) && !isRev(i) && !isEnd(i) {
				msg = append(msg, lines[i])
				i++
			}
			rv.msg = strings.Join(msg, "\n")
			f.revs = append(f.revs, rv)
		}
		files = append(files, f)
	}
	return files, nil
}

func parseRev(revLine, dateLine string) (fileRev, error) {
	num := revLineRE.FindStringSubmatch(revLine)[1]
	m := dateLineRE.FindStringSubmatch(dateLine)
	ts := strings.ReplaceAll(m[1], "/", "-")
	zone := cmp.Or(m[2], "+0000")
	t, err := time.Parse("2006-01-02 15:04:05 -0700", ts+" "+zone)
	if err != nil {
		return fileRev{}, fmt.Errorf("cvs rlog: revision %s: %q: %w", num, dateLine, err)
	}
	rv := fileRev{num: num, date: t.UTC(), author: m[3], state: m[4], nums: parseNum(num)}
	if c := commitRE.FindStringSubmatch(m[5]); c != nil {
		rv.commitID = c[1]
	}
	if rv.nums == nil {
		return fileRev{}, fmt.Errorf("cvs rlog: revision number %q", num)
	}
	return rv, nil
}

// parseNum splits a revision or branch number into its parts.
func parseNum(s string) []int {
	var out []int
	for _, p := range strings.Split(s, ".") {
		n, err := strconv.Atoi(p)
		if err != nil {
			return nil
		}
		out = append(out, n)
	}
	return out
}

// onLine are f's revisions that are changes on the line src follows: each
// revision a checkout of it held at some time, but the dead first
// revision of a file added on a branch. An import's 1.1 carries its
// vendor revision's commit.
func (f rcsFile) onLine(src scm.Source) []fileRev {
	var sel func([]int) bool
	switch {
	case src.Tag != "" || src.Branch != "":
		num := parseNum(f.symbols[cmp.Or(src.Tag, src.Branch)])
		if len(num) == 0 {
			return nil
		}
		if n := len(num); n > 2 && n%2 == 0 && num[n-2] == 0 {
			// A branch tag's magic number: 1.2.0.4 is branch 1.2.4.
			num = append(slices.Clone(num[:n-2]), num[n-1])
		}
		sel = func(r []int) bool { return onLineOf(r, num) }
	case f.branch != "":
		num := parseNum(f.branch)
		if len(num) == 0 {
			return nil
		}
		sel = func(r []int) bool { return onLineOf(r, num) }
	default:
		sel = func(r []int) bool { return len(r) == 2 }
	}
	var vendor *fileRev
	for i := range f.revs {
		if slices.Equal(f.revs[i].nums, []int{1, 1, 1, 1}) {
			vendor = &f.revs[i]
		}
	}
	var out []fileRev
	for _, rv := range f.revs {
		if !sel(rv.nums) {
			continue
		}
		if rv.state == "dead" && len(rv.nums) == 2 && rv.nums[1] == 1 {
			continue // added on a branch: no file on the trunk
		}
		if vendor != nil && rv.num == "1.1" && sameImport(rv, *vendor) {
			rv.author, rv.commitID, rv.msg, rv.date = vendor.author, vendor.commitID, vendor.msg, vendor.date
		}
		out = append(out, rv)
	}
	return out
}

// sameImport reports whether revisions 1.1 and 1.1.1.1 are one import.
func sameImport(a, b fileRev) bool {
	if a.commitID != "" || b.commitID != "" {
		return a.commitID == b.commitID
	}
	return a.author == b.author && near(a.date, b.date)
}

func near(a, b time.Time) bool {
	d := a.Sub(b)
	return d <= 2*time.Second && d >= -2*time.Second
}

// onLineOf reports whether revision r is on the line of line, a branch
// number (odd parts: the branch 1.2.4 holds 1.2.4.1, 1.2.4.2, … and, before
// them, 1.1 and 1.2) or a revision number (even parts: 1.3 and the
// revisions before it).
func onLineOf(r, line []int) bool {
	for len(line) > 0 {
		if len(line)%2 == 1 {
			// A branch: any revision on it, or its branch point's line.
			if len(r) == len(line)+1 && slices.Equal(r[:len(line)], line) {
				return true
			}
			line = line[:len(line)-1]
			continue
		}
		n := len(line)
		if len(r) == n && slices.Equal(r[:n-1], line[:n-1]) && r[n-1] <= line[n-1] {
			return true
		}
		if n <= 2 {
			return false
		}
		line = line[:n-2]
	}
	return false
}

// commits groups revisions into commits, newest first, at most max.
func commits(src scm.Source, revs []fileRev, max int) []scm.Change {
	slices.SortStableFunc(revs, func(a, b fileRev) int { return a.date.Compare(b.date) })
	type group struct {
		id, author, msg string
		date            time.Time
		files           []string
	}
	var groups []*group
	byID := map[string]*group{}
	byMsg := map[string]*group{}
	for _, rv := range revs {
		var g *group
		if rv.commitID != "" {
			g = byID[rv.commitID]
		} else if last := byMsg[rv.author+"\x00"+rv.msg]; last != nil && near(rv.date, last.date) {
			g = last
		}
		if g == nil {
			g = &group{id: rv.commitID, author: rv.author, msg: rv.msg}
			groups = append(groups, g)
			if rv.commitID != "" {
				byID[rv.commitID] = g
			}
		}
		if rv.commitID == "" {
			byMsg[rv.author+"\x00"+rv.msg] = g
		}
		g.date = later(g.date, rv.date)
		g.files = append(g.files, rv.path)
	}
	slices.SortStableFunc(groups, func(a, b *group) int { return b.date.Compare(a.date) })
	var out []scm.Change
	for _, g := range groups {
		if len(out) == max {
			break
		}
		c := scm.Change{ID: cmp.Or(g.id, revisionID(src, g.date)), Author: g.author, Date: g.date, Subject: scm.Subject(g.msg)}
		c.SetFiles(g.files)
		out = append(out, c)
	}
	return out
}
