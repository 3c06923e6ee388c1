// Package svn is the Subversion SCM, driving the svn command of Debian's
// subversion package.
//
// The layout: a module's url names a project in Subversion's standard
// layout (trunk/, branches/, tags/ below it). With no branch or tag the
// checkout is url/trunk; "branch: x" is url/branches/x and "tag: v1" is
// url/tags/v1 (a name may hold slashes: "branch: release/1.0" is
// url/branches/release/1.0). A url that ends in "#folder" names the one
// folder to check out as it is (a repository without the layout, or any
// folder of one); branch and tag are then refused.
//
// A revision is the folder's last changed revision, with the folder's
// path in the repository, as "^/trunk@42": two folders of one repository
// never share an ID. "commit:" pins a revision number ("42" or "r42", or
// a revision ID as Resolve gives it): Resolve then gives the folder's last
// change at or before it.
//
// Resolve asks "svn info" of the folder's URL; nothing is written (svn's
// configuration folder is a temporary one, removed afterwards). Checkout
// keeps a working copy in the metadata folder (meta/wc), updated to the
// pinned revision, or checked out afresh when it holds another URL, has
// local changes or an update fails; externals are ignored. The work tree
// then mirrors the working copy's files (scm/dir's Mirror), without its
// .svn folder: symlinks (svn:special) as the text they hold, the
// executable bit of svn:executable, keywords and line endings as svn
// writes them in a working copy. The URL comes from the Source every time:
// a working copy whose URL is another is discarded.
//
// History stays on the server, and both methods that read it ask the
// server, writing nothing. ResolveAt is "svn info" of the folder at the
// youngest revision of the repository at that time ("URL@{date}"), in
// the form Resolve gives; a folder that did not exist then (a branch made
// later) has no revision at that time. Changes is "svn log --xml -v" of
// the folder, following its copies (a branch lists its trunk's commits
// before it was made), each commit as "r42" with the files below the
// folder it then was, relative to it; the files of a folder a commit
// removed, replaced or copied are listed ("svn ls -R").
//
// Every svn runs with a clean environment (PATH, HOME and its
// configuration folder set to a fresh folder, LC_ALL=C.UTF-8), never
// interactive and caching no credentials.
package svn

import (
	"bytes"
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/autobuild/autobuild/scm"
	"github.com/autobuild/autobuild/scm/dir"
)

// Kind is the registry name of this SCM.
const Kind = "svn"

func init() { scm.Register(Kind, SVN{}) }

// SVN implements scm.SCM.
type SVN struct{}

// folderMark ends a URL that names the folder to check out as it is.
const folderMark = "#folder"

// revisionFile is the file of the metadata folder that records the
// revision the work tree holds.
const revisionFile = "svn-revision"

var (
	commitRE = regexp.MustCompile(`^r?([0-9]+)$`)
	idRE     = regexp.MustCompile(`^(\^/.*)@([0-9]+)$`)
	schemeRE = regexp.MustCompile(`^(file|svn|svn\+[a-z0-9]+|http|https)://`)
)

// Validate implements scm.SCM.
func (SVN) Validate(src scm.Source) error {
	base, flat := splitURL(src.URL)
	if !schemeRE.MatchString(base) {
		return &scm.FieldError{Field: "url", Msg: fmt.Sprintf("%q is not a Subversion URL (file://, svn://, svn+ssh://, http:// or https://)", src.URL)}
	}
	if strings.ContainsAny(base, "#\x00\n\r") {
		return &scm.FieldError{Field: "url", Msg: fmt.Sprintf("%q: the only fragment a Subversion URL may have is %q", src.URL, folderMark)}
	}
	for field, name := range map[string]string{"branch": src.Branch, "tag": src.Tag} {
		if name == "" {
			continue
		}
		if flat {
			return &scm.FieldError{Field: field, Msg: fmt.Sprintf("the URL ends in %q, so it names one folder: no %s can be chosen", folderMark, field)}
		}
		if err := checkName(name); err != nil {
			return &scm.FieldError{Field: field, Msg: err.Error()}
		}
	}
	if src.Commit != "" {
		if _, err := pinned(src.Commit); err != nil {
			return &scm.FieldError{Field: "commit", Msg: err.Error()}
		}
	}
	return nil
}

// checkName checks a branch or tag name: slash-separated folder names,
// none empty, "." or "..".
func checkName(name string) error {
	for _, c := range strings.Split(name, "/") {
		if c == "" || c == "." || c == ".." || strings.ContainsFunc(c, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
			return fmt.Errorf("%q is not a folder name below branches/ or tags/", name)
		}
	}
	return nil
}

// pinned is the revision number a commit pin names.
func pinned(commit string) (int64, error) {
	var num string
	if m := commitRE.FindStringSubmatch(commit); m != nil {
		num = m[1]
	} else if m := idRE.FindStringSubmatch(commit); m != nil {
		num = m[2]
	} else {
		return 0, fmt.Errorf("%q is not a revision number (42, r42) nor a revision as resolved (^/trunk@42)", commit)
	}
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("%q: revision number out of range", commit)
	}
	return n, nil
}

// splitURL removes the "#folder" mark.
func splitURL(u string) (base string, flat bool) {
	if b, ok := strings.CutSuffix(u, folderMark); ok {
		return b, true
	}
	return u, false
}

// FolderURL is the URL of the folder src checks out.
func FolderURL(src scm.Source) string {
	base, flat := splitURL(src.URL)
	if flat {
		return base
	}
	base = strings.TrimRight(base, "/")
	switch {
	case src.Tag != "":
		return base + "/tags/" + escapePath(src.Tag)
	case src.Branch != "":
		return base + "/branches/" + escapePath(src.Branch)
	}
	return base + "/trunk"
}

func escapePath(p string) string {
	parts := strings.Split(p, "/")
	for i, c := range parts {
		parts[i] = url.PathEscape(c)
	}
	return strings.Join(parts, "/")
}

// localPath is the folder a file:// URL names, or "".
func localPath(u string) string {
	base, _ := splitURL(u)
	if !strings.HasPrefix(base, "file://") {
		return ""
	}
	p, err := url.Parse(base)
	if err != nil || p.Path == "" {
		return ""
	}
	return filepath.Clean(p.Path)
}

// Inputs implements scm.SCM: for a file:// URL, the repository's folder
// (the nearest folder at or above the URL's path that holds a
// repository's "format" file and "db" folder), or the path itself.
func (SVN) Inputs(src scm.Source) []string {
	p := localPath(src.URL)
	if p == "" {
		return nil
	}
	for d := p; ; d = filepath.Dir(d) {
		if isRepository(d) {
			return []string{d}
		}
		if d == filepath.Dir(d) {
			return []string{p}
		}
	}
}

func isRepository(d string) bool {
	f, err1 := os.Lstat(filepath.Join(d, "format"))
	db, err2 := os.Lstat(filepath.Join(d, "db"))
	return err1 == nil && err2 == nil && f.Mode().IsRegular() && db.IsDir()
}

// HasCheckout implements scm.SCM.
func (SVN) HasCheckout(d scm.Dirs) bool {
	_, err := dir.ReadRevision(d.Meta, revisionFile)
	return err == nil
}

// Current implements scm.SCM.
func (SVN) Current(d scm.Dirs) (scm.Revision, error) {
	return dir.ReadRevision(d.Meta, revisionFile)
}

// info is what "svn info --xml" says of one target.
type info struct {
	Entry struct {
		Revision    int64  `xml:"revision,attr"`
		Kind        string `xml:"kind,attr"`
		URL         string `xml:"url"`
		RelativeURL string `xml:"relative-url"`
		Repository  struct {
			Root string `xml:"root"`
		} `xml:"repository"`
		Commit struct {
			Revision int64 `xml:"revision,attr"`
		} `xml:"commit"`
	} `xml:"entry"`
}

func (i info) id() string {
	return fmt.Sprintf("%s@%d", i.Entry.RelativeURL, i.Entry.Commit.Revision)
}

// svnInfo runs "svn info --xml" on target.
func svnInfo(ctx context.Context, cfg, target string) (info, error) {
	out, err := run(ctx, cfg, "info", "--xml", target)
	if err != nil {
		return info{}, err
	}
	var i info
	if err := xml.Unmarshal(out, &i); err != nil {
		return info{}, fmt.Errorf("svn info %s: %w", target, err)
	}
	if i.Entry.RelativeURL == "" {
		return info{}, fmt.Errorf("svn info %s: no entry", target)
	}
	return i, nil
}

// peg is the revision Resolve reads the folder at.
func peg(src scm.Source) (string, error) {
	if src.Commit == "" {
		return "HEAD", nil
	}
	n, err := pinned(src.Commit)
	return strconv.FormatInt(n, 10), err
}

// Resolve implements scm.SCM: the folder's last changed revision, at
// HEAD or at the pinned one.
func (s SVN) Resolve(ctx context.Context, src scm.Source) (scm.Revision, error) {
	if err := s.Validate(src); err != nil {
		return scm.Revision{}, err
	}
	p, err := peg(src)
	if err != nil {
		return scm.Revision{}, err
	}
	cfg, err := os.MkdirTemp("", "autobuild-svn-")
	if err != nil {
		return scm.Revision{}, err
	}
	defer os.RemoveAll(cfg)
	i, err := svnInfo(ctx, cfg, FolderURL(src)+"@"+p)
	if err != nil {
		return scm.Revision{}, fmt.Errorf("%s: %w", src.Ref(), err)
	}
	if i.Entry.Kind != "dir" {
		return scm.Revision{}, fmt.Errorf("%s: %s is a %s, not a folder", src.Ref(), FolderURL(src), i.Entry.Kind)
	}
	return scm.Revision{ID: i.id()}, nil
}

// Checkout implements scm.SCM.
func (s SVN) Checkout(ctx context.Context, src scm.Source, rev scm.Revision, d scm.Dirs) error {
	if err := d.Validate(); err != nil {
		return err
	}
	if err := s.Validate(src); err != nil {
		return err
	}
	m := idRE.FindStringSubmatch(rev.ID)
	if m == nil {
		return fmt.Errorf("revision %q is not a Subversion revision (^/path@42)", rev.ID)
	}
	for _, p := range []string{d.Work, d.Meta} {
		if err := os.MkdirAll(p, 0o755); err != nil {
			return err
		}
	}
	// No revision while the work tree changes.
	if err := dir.ClearRevision(d.Meta, revisionFile); err != nil {
		return err
	}
	// svn's configuration folder: made afresh by svn on every checkout.
	cfg := filepath.Join(d.Meta, "config")
	if err := os.RemoveAll(cfg); err != nil {
		return err
	}
	defer os.RemoveAll(cfg)
	wc := filepath.Join(d.Meta, "wc")
	target := FolderURL(src)
	if err := update(ctx, cfg, wc, target, m[2]); err != nil {
		if ctx.Err() != nil {
			return err
		}
		// A working copy that cannot be updated (a killed update left it
		// locked, another repository's): start it afresh once.
		if rerr := os.RemoveAll(wc); rerr != nil {
			return fmt.Errorf("%w (and removing %s: %v)", err, wc, rerr)
		}
		if err := update(ctx, cfg, wc, target, m[2]); err != nil {
			return err
		}
	}
	i, err := svnInfo(ctx, cfg, wc)
	if err != nil {
		return err
	}
	if i.id() != rev.ID {
		return fmt.Errorf("%s at r%s is %s, not the resolved %s", target, m[2], i.id(), rev.ID)
	}
	if _, err := dir.Mirror(wc, d.Work, func(name string) bool { return name == ".svn" }); err != nil {
		return fmt.Errorf("copy the working copy into %s: %w", d.Work, err)
	}
	return dir.WriteRevision(d.Meta, revisionFile, rev)
}

// update makes wc a clean working copy of target at revision num: an
// update of the one there when it is target's and unchanged, a checkout
// when there is none.
func update(ctx context.Context, cfg, wc, target, num string) error {
	if _, err := os.Lstat(wc); err == nil {
		i, err := svnInfo(ctx, cfg, wc)
		if err != nil {
			return err
		}
		if i.Entry.URL != target {
			return fmt.Errorf("%s is a working copy of %s, not of %s", wc, i.Entry.URL, target)
		}
		st, err := run(ctx, cfg, "status", "--no-ignore", "--ignore-externals", wc)
		if err != nil {
			return err
		}
		if len(bytes.TrimSpace(st)) > 0 {
			return fmt.Errorf("%s has local changes:\n%s", wc, st)
		}
		_, err = run(ctx, cfg, "update", "--quiet", "--ignore-externals", "--revision", num, wc)
		return err
	} else if !errors.Is(err, os.ErrNotExist) {
		return err
	}
	_, err := run(ctx, cfg, "checkout", "--quiet", "--ignore-externals", "--revision", num, target+"@"+num, wc)
	return err
}

// run runs svn with a clean environment and cfg as its configuration
// folder and HOME, and returns its standard output; an error holds its
// standard error.
func run(ctx context.Context, cfg string, args ...string) ([]byte, error) {
	all := append([]string{"--non-interactive", "--no-auth-cache", "--config-dir", cfg,
		"--config-option", "config:auth:password-stores=",
		"--config-option", "config:miscellany:use-commit-times=no",
		"--config-option", "config:miscellany:enable-auto-props=no"}, args...)
	cmd := exec.CommandContext(ctx, "svn", all...)
	cmd.Env = []string{"PATH=/usr/bin:/bin", "HOME=" + cfg, "LC_ALL=C.UTF-8", "TMPDIR=" + os.TempDir()}
	cmd.Dir = "/"
	cmd.WaitDelay = 5 * time.Second
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		msg := strings.TrimSpace(stderr.String())
		if len(msg) > 4096 {
			msg = msg[:4096] + "…"
		}
		return nil, fmt.Errorf("svn %s: %w: %s", args[0], err, msg)
	}
	return stdout.Bytes(), nil
}
