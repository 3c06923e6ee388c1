package svn

import (
	"context"
	"encoding/xml"
	"fmt"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/autobuild/autobuild/scm"
)

// ResolveAt implements scm.SCM: the folder's last changed revision as of
// the youngest revision of the repository committed at or before at
// ("svn info URL@{at}"), in the form Resolve gives. A tag or a pinned
// revision resolves as Resolve does. Subversion keeps its history on the
// server: nothing is fetched, and d is not used.
//
// A folder that did not exist then (the repository is younger, or the
// branch was made later) is an error wrapping scm.ErrNoRevisionAt, with
// svn's message; a folder that does not exist now either is the error
// Resolve gives.
func (s SVN) ResolveAt(ctx context.Context, src scm.Source, at time.Time, d scm.Dirs) (scm.Revision, error) {
	if err := s.Validate(src); err != nil {
		return scm.Revision{}, err
	}
	if src.Commit != "" || src.Tag != "" {
		return s.Resolve(ctx, src)
	}
	cfg, err := os.MkdirTemp("", "autobuild-svn-")
	if err != nil {
		return scm.Revision{}, err
	}
	defer os.RemoveAll(cfg)
	if epoch := time.Unix(0, 0); at.Before(epoch) {
		at = epoch // svn parses no year before 1900; no revision is older
	}
	date := "{" + at.UTC().Format("2006-01-02T15:04:05.000000Z") + "}"
	i, err := svnInfo(ctx, cfg, FolderURL(src)+"@"+date)
	if err != nil {
		if ctx.Err() != nil || !notFound(err) {
			return scm.Revision{}, fmt.Errorf("%s at %s: %w", src.Ref(), date, err)
		}
		// Absent then: absent now too is an unknown branch or URL.
		if _, herr := svnInfo(ctx, cfg, FolderURL(src)+"@HEAD"); herr != nil {
			return scm.Revision{}, fmt.Errorf("%s: %w", src.Ref(), herr)
		}
		return scm.Revision{}, fmt.Errorf("%s at %s: %w: %v", src.Ref(), date, scm.ErrNoRevisionAt, err)
	}
	if i.Entry.Kind != "dir" {
		return scm.Revision{}, fmt.Errorf("%s at %s: %s is a %s, not a folder", src.Ref(), date, FolderURL(src), i.Entry.Kind)
	}
	return scm.Revision{ID: i.id()}, nil
}

// notFound reports whether err is svn's word that a URL does not exist at
// the revision asked for.
func notFound(err error) bool {
	msg := err.Error()
	for _, code := range []string{"170000", "160013"} {
		if strings.Contains(msg, "E"+code) || strings.Contains(msg, "W"+code) {
			return true
		}
	}
	return false
}

// logXML is what "svn log --xml -v" says.
type logXML struct {
	Entries []logEntry `xml:"logentry"`
}

type logEntry struct {
	Revision int64     `xml:"revision,attr"`
	Author   string    `xml:"author"`
	Date     string    `xml:"date"`
	Paths    []logPath `xml:"paths>path"`
	Msg      string    `xml:"msg"`
}

type logPath struct {
	Action       string `xml:"action,attr"`
	Kind         string `xml:"kind,attr"`
	CopyFromPath string `xml:"copyfrom-path,attr"`
	CopyFromRev  int64  `xml:"copyfrom-rev,attr"`
	Path         string `xml:",chardata"`
}

// parseID splits a revision ID (^/trunk@42) into the folder's path in the
// repository (/trunk, unescaped) and the revision number.
func parseID(id string) (string, int64, bool) {
	m := idRE.FindStringSubmatch(id)
	if m == nil {
		return "", 0, false
	}
	p, err := url.PathUnescape(strings.TrimPrefix(m[1], "^"))
	n, nerr := strconv.ParseInt(m[2], 10, 64)
	if err != nil || nerr != nil {
		return "", 0, false
	}
	if p == "" {
		p = "/"
	}
	return p, n, true
}

// Changes implements scm.SCM, from the server: "svn log --xml -v" of the
// folder at to's revision, back to the revision after from's (when from
// is a revision of the same folder, not younger than to) or to the
// beginning, following the folder's history through copies (a branch
// lists the commits of its trunk before it was made). A Change's ID is
// "r42". Its files are those below the folder at that revision, relative
// to it: those svn's log names, and those of a folder the commit removed,
// replaced or copied ("svn ls -R" of it), so a moved folder lists its
// files at both places; the folder's own copy (the commit that made a
// branch) lists none. Where a server does not say what kind of node a
// path is (older than Subversion 1.6), a path is taken for a folder when
// the commit changed paths below it, and for a file otherwise. Control
// characters of a message come as svn's XML writes them ("?\027").
func (s SVN) Changes(ctx context.Context, src scm.Source, d scm.Dirs, from, to scm.Revision, max int) ([]scm.Change, error) {
	if err := s.Validate(src); err != nil {
		return nil, err
	}
	base, toRev, ok := parseID(to.ID)
	if !ok {
		return nil, fmt.Errorf("revision %q is not a Subversion revision (^/path@42)", to.ID)
	}
	if max <= 0 {
		return nil, nil
	}
	var lower int64
	if fromBase, fromRev, ok := parseID(from.ID); ok && fromBase == base && fromRev <= toRev {
		if fromRev == toRev {
			return nil, nil
		}
		lower = fromRev + 1
	}
	cfg, err := os.MkdirTemp("", "autobuild-svn-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(cfg)
	target := FolderURL(src) + "@" + strconv.FormatInt(toRev, 10)
	out, err := run(ctx, cfg, "log", "--xml", "--verbose", "--limit", strconv.Itoa(max),
		"--revision", fmt.Sprintf("%d:%d", toRev, lower), target)
	if err != nil {
		return nil, err
	}
	var log logXML
	if err := xml.Unmarshal(out, &log); err != nil {
		return nil, fmt.Errorf("svn log %s: %w", target, err)
	}
	l := lister{ctx: ctx, cfg: cfg, target: target}
	var cs []scm.Change
	for _, e := range log.Entries {
		if len(cs) == max {
			break
		}
		c := scm.Change{ID: "r" + strconv.FormatInt(e.Revision, 10), Author: e.Author, Subject: scm.Subject(e.Msg)}
		if e.Date != "" {
			t, err := time.Parse(time.RFC3339Nano, e.Date)
			if err != nil {
				return nil, fmt.Errorf("svn log %s: r%d: date %q: %w", target, e.Revision, e.Date, err)
			}
			c.Date = t.UTC()
		}
		files, err := l.files(e, base)
		if err != nil {
			return nil, err
		}
		c.SetFiles(files)
		cs = append(cs, c)
		base = older(e, base)
	}
	return cs, nil
}

// below is p relative to the folder base, when p lies below it.
func below(p, base string) (string, bool) {
	if base == "/" {
		rel := strings.TrimPrefix(p, "/")
		return rel, rel != ""
	}
	rel, ok := strings.CutPrefix(p, base+"/")
	return rel, ok && rel != ""
}

// older is the folder's path before commit e: where it was copied from,
// when e copied it or a folder above it.
func older(e logEntry, base string) string {
	for _, p := range e.Paths {
		if p.CopyFromPath == "" || (p.Action != "A" && p.Action != "R") {
			continue
		}
		if p.Path == base {
			return p.CopyFromPath
		}
		if rel, ok := below(base, p.Path); ok {
			return strings.TrimRight(p.CopyFromPath, "/") + "/" + rel
		}
	}
	return base
}

// lister lists the files of a commit, asking the server for those of the
// folders it removed, replaced or copied.
type lister struct {
	ctx         context.Context
	cfg, target string
	root        string // the repository's root URL, once asked for
}

// files are the files e changed below base, relative to it.
func (l *lister) files(e logEntry, base string) ([]string, error) {
	var files []string
	for _, p := range e.Paths {
		rel, ok := below(p.Path, base)
		if !ok {
			continue
		}
		kind := p.Kind
		if kind == "" {
			kind = "file"
			for _, q := range e.Paths {
				if _, ok := below(q.Path, p.Path); ok {
					kind = "dir"
				}
			}
		}
		if kind == "file" {
			files = append(files, rel)
			continue
		}
		if kind != "dir" {
			continue
		}
		var revs []int64
		switch {
		case p.Action == "D":
			revs = []int64{e.Revision - 1}
		case p.Action == "R":
			revs = []int64{e.Revision - 1, e.Revision}
		case p.Action == "A" && p.CopyFromPath != "":
			revs = []int64{e.Revision}
		}
		for _, r := range revs {
			in, err := l.list(p.Path, r)
			if err != nil {
				return nil, err
			}
			for _, f := range in {
				files = append(files, rel+"/"+f)
			}
		}
	}
	return files, nil
}

// list is the files below the folder at path p at revision rev, relative
// to it.
func (l *lister) list(p string, rev int64) ([]string, error) {
	if l.root == "" {
		i, err := svnInfo(l.ctx, l.cfg, l.target)
		if err != nil {
			return nil, err
		}
		if i.Entry.Repository.Root == "" {
			return nil, fmt.Errorf("svn info %s: no repository root", l.target)
		}
		l.root = strings.TrimRight(i.Entry.Repository.Root, "/")
	}
	u := l.root + escapePath(p) + "@" + strconv.FormatInt(rev, 10)
	out, err := run(l.ctx, l.cfg, "list", "--xml", "--recursive", u)
	if err != nil {
		return nil, err
	}
	var ls struct {
		Entries []struct {
			Kind string `xml:"kind,attr"`
			Name string `xml:"name"`
		} `xml:"list>entry"`
	}
	if err := xml.Unmarshal(out, &ls); err != nil {
		return nil, fmt.Errorf("svn list %s: %w", u, err)
	}
	var files []string
	for _, e := range ls.Entries {
		if e.Kind == "file" {
			files = append(files, e.Name)
		}
	}
	return files, nil
}
