package darcs_test

import (
	"context"
	"encoding/xml"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/autobuild/autobuild/internal/testutil"
	"github.com/autobuild/autobuild/scm"
	"github.com/autobuild/autobuild/scm/darcs"
	"github.com/autobuild/autobuild/scm/dir"
	"github.com/autobuild/autobuild/scm/scmtest"
)

func need(t *testing.T) {
	t.Helper()
	testutil.NeedTool(t, "darcs", "darcs")
}

// dcs runs darcs in the repository repo with a home of the test's own.
func dcs(t *testing.T, repo string, args ...string) string {
	t.Helper()
	home := filepath.Join(filepath.Dir(repo), "home")
	os.MkdirAll(home, 0o700)
	cmd := exec.Command("darcs", args...)
	cmd.Dir = repo
	cmd.Env = []string{"PATH=/usr/bin:/bin", "HOME=" + home, "DARCS_EMAIL=test <test@example.org>"}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("darcs %q: %v\n%s", args, err, out)
	}
	return string(out)
}

// repos makes Darcs repositories (top/repo).
type repos struct{}

// Darcs records no symlinks.
func (repos) Linkless() {}

func (r repos) New(t *testing.T, files map[string]string) scm.Source {
	return r.NewLinks(t, files, nil)
}

func (r repos) NewLinks(t *testing.T, files, links map[string]string) scm.Source {
	need(t)
	if len(links) > 0 {
		t.Fatal("darcs records no symlinks")
	}
	top := t.TempDir()
	repo := filepath.Join(top, "repo")
	os.Mkdir(repo, 0o755)
	dcs(t, repo, "init")
	src := scm.Source{Kind: darcs.Kind, URL: repo}
	r.CommitLinks(t, src, files, nil, nil)
	return src
}

func (r repos) Commit(t *testing.T, src scm.Source, files map[string]string) string {
	return r.CommitLinks(t, src, files, nil, nil)
}

// last is the hash of the newest patch of repo (read with a regular
// expression: a hostile test's log is not XML a parser takes).
func last(t *testing.T, repo string) string {
	t.Helper()
	m := hashAttr.FindStringSubmatch(dcs(t, repo, "log", "--last=1", "--xml-output"))
	if m == nil {
		t.Fatalf("darcs log of %s: no patch", repo)
	}
	return m[1]
}

var hashAttr = regexp.MustCompile(`hash='([0-9a-f]{40})'`)

func (repos) CommitLinks(t *testing.T, src scm.Source, files, links map[string]string, remove []string) string {
	if len(links) > 0 {
		t.Fatal("darcs records no symlinks")
	}
	repo := src.URL
	for _, p := range remove {
		os.RemoveAll(filepath.Join(repo, filepath.FromSlash(p)))
	}
	for p, body := range files {
		full := filepath.Join(repo, filepath.FromSlash(p))
		os.MkdirAll(filepath.Dir(full), 0o755)
		os.RemoveAll(full)
		if err := os.WriteFile(full, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// Names Windows reserves (control characters) are added on request.
	cmd := exec.Command("darcs", "add", "--reserved-ok", "--recursive", ".")
	cmd.Dir = repo
	cmd.Env = []string{"PATH=/usr/bin:/bin", "HOME=" + filepath.Join(filepath.Dir(repo), "home")}
	cmd.Run() // fails when nothing is new
	dcs(t, repo, "record", "--all", "--ignore-times", "--name", "change")
	return last(t, repo)
}

func (repos) Missing(t *testing.T) scm.Source {
	return scm.Source{Kind: darcs.Kind, URL: filepath.Join(t.TempDir(), "absent")}
}

func TestConformance(t *testing.T) {
	need(t)
	scmtest.Run(t, darcs.Darcs{}, repos{})
}

func newDirs(t *testing.T) scm.Dirs {
	top := t.TempDir()
	return scm.Dirs{Work: filepath.Join(top, "work"), Meta: filepath.Join(top, "meta")}
}

// A tag pins the tag's patch, and checks out the tagged state; an unknown
// tag or patch fails, naming it.
func TestTag(t *testing.T) {
	need(t)
	r := repos{}
	src := r.New(t, map[string]string{"a": "one\n"})
	dcs(t, src.URL, "tag", "--name", "v1")
	tagged := last(t, src.URL)
	r.Commit(t, src, map[string]string{"a": "two\n"})
	ctx := context.Background()

	tag := src
	tag.Tag = "v1"
	rev, err := darcs.Darcs{}.Resolve(ctx, tag)
	if err != nil || rev.ID != tagged {
		t.Fatalf("Resolve(tag v1) = %v, %v; want %s", rev, err, tagged)
	}
	d := newDirs(t)
	if err := (darcs.Darcs{}).Checkout(ctx, tag, rev, d); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(filepath.Join(d.Work, "a")); string(b) != "one\n" {
		t.Errorf("a = %q at tag v1", b)
	}

	// "v" is a prefix of the tag, "v1." a regular expression that
	// matches it: neither is the tag.
	for _, bad := range []scm.Source{
		{Kind: darcs.Kind, URL: src.URL, Tag: "v"},
		{Kind: darcs.Kind, URL: src.URL, Tag: "v."},
		{Kind: darcs.Kind, URL: src.URL, Commit: strings.Repeat("0", 40)},
	} {
		if rev, err := (darcs.Darcs{}).Resolve(ctx, bad); err == nil {
			t.Errorf("Resolve(%s) = %v, want an error", bad.Ref(), rev)
		} else if !strings.Contains(err.Error(), bad.Tag+bad.Commit) {
			t.Errorf("Resolve(%s): %v does not name it", bad.Ref(), err)
		}
	}
	// A well-formed patch hash the repository lacks fails the checkout.
	if err := (darcs.Darcs{}).Checkout(ctx, src, scm.Revision{ID: strings.Repeat("0", 40)}, newDirs(t)); err == nil {
		t.Errorf("Checkout of an unknown patch succeeded")
	}
}

func TestValidate(t *testing.T) {
	for _, c := range []struct {
		src   scm.Source
		field string
	}{
		{scm.Source{URL: "/srv/r"}, ""},
		{scm.Source{URL: "https://hub.darcs.net/u/r", Tag: "1.0"}, ""},
		{scm.Source{URL: "ssh://host/r"}, "url"},
		{scm.Source{URL: "/srv/r", Branch: "main"}, "branch"},
		{scm.Source{URL: "/srv/r", Commit: "abc"}, "commit"},
		{scm.Source{URL: "/srv/r", Tag: "--repo=/x"}, "tag"},
	} {
		err := darcs.Darcs{}.Validate(c.src)
		fe, _ := err.(*scm.FieldError)
		switch {
		case c.field == "" && err != nil:
			t.Errorf("Validate(%+v) = %v", c.src, err)
		case c.field != "" && (fe == nil || fe.Field != c.field):
			t.Errorf("Validate(%+v) = %v, want an error on %s", c.src, err, c.field)
		}
	}
}

// The clone in the metadata folder was changed (an edit, a new file): the
// next checkout of the same revision notices, and clones afresh.
func TestDirtyCloneIsReplaced(t *testing.T) {
	need(t)
	src := repos{}.New(t, map[string]string{"a": "a\n", "d/b": "b\n"})
	ctx := context.Background()
	rev, err := darcs.Darcs{}.Resolve(ctx, src)
	if err != nil {
		t.Fatal(err)
	}
	d := newDirs(t)
	if err := (darcs.Darcs{}).Checkout(ctx, src, rev, d); err != nil {
		t.Fatal(err)
	}
	tree := filepath.Join(d.Meta, "tree")
	os.WriteFile(filepath.Join(tree, "a"), []byte("edited\n"), 0o644)
	os.WriteFile(filepath.Join(tree, "extra"), []byte("x\n"), 0o644)
	if err := (darcs.Darcs{}).Checkout(ctx, src, rev, d); err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]string{"a": "a\n", "d/b": "b\n"} {
		if b, err := os.ReadFile(filepath.Join(d.Work, name)); err != nil || string(b) != want {
			t.Errorf("%s = %q, %v", name, b, err)
		}
	}
	if _, err := os.Lstat(filepath.Join(d.Work, "extra")); err == nil {
		t.Errorf("a file added to the clone reached the work tree")
	}
}

// A repository served over HTTP (darcs fetches plain files) resolves and
// checks out; the local repository a checkout reads is not written.
func TestHTTPRepositoryAndLocalUntouched(t *testing.T) {
	need(t)
	r := repos{}
	src := r.New(t, map[string]string{"a": "one\n", "d/b": "b\n"})
	r.Commit(t, src, map[string]string{"a": "two\n"})
	srv := httptest.NewServer(http.FileServer(http.Dir(src.URL)))
	defer srv.Close()
	ctx := context.Background()
	before, err := dir.Hash(src.URL, nil)
	if err != nil {
		t.Fatal(err)
	}
	local, err := darcs.Darcs{}.Resolve(ctx, src)
	if err != nil {
		t.Fatal(err)
	}
	if err := (darcs.Darcs{}).Checkout(ctx, src, local, newDirs(t)); err != nil {
		t.Fatal(err)
	}
	if after, _ := dir.Hash(src.URL, nil); after != before {
		t.Errorf("a resolve and a checkout changed the local repository")
	}

	web := scm.Source{Kind: darcs.Kind, URL: srv.URL + "/"}
	if err := (darcs.Darcs{}).Validate(web); err != nil {
		t.Fatal(err)
	}
	if in := (darcs.Darcs{}).Inputs(web); len(in) != 0 {
		t.Errorf("Inputs(%s) = %q", web.URL, in)
	}
	rev, err := darcs.Darcs{}.Resolve(ctx, web)
	if err != nil || rev != local {
		t.Fatalf("Resolve(%s) = %v, %v; want %v", web.URL, rev, err, local)
	}
	if at, err := (darcs.Darcs{}).ResolveAt(ctx, web, time.Now().Add(time.Hour), newDirs(t)); err != nil || at != local {
		t.Errorf("ResolveAt(%s, an hour ahead) = %v, %v; want %v", web.URL, at, err, local)
	}
	d := newDirs(t)
	if err := (darcs.Darcs{}).Checkout(ctx, web, rev, d); err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]string{"a": "two\n", "d/b": "b\n"} {
		if b, err := os.ReadFile(filepath.Join(d.Work, name)); err != nil || string(b) != want {
			t.Errorf("%s = %q, %v", name, b, err)
		}
	}
}

// record records every change of repo as one patch with the date,
// author and message given (darcs record --pipe: the message's first
// line is the patch's name, the rest its long comment).
func record(t *testing.T, repo, date, author, msg string) string {
	t.Helper()
	add := exec.Command("darcs", "add", "--reserved-ok", "--recursive", ".")
	add.Dir = repo
	add.Env = []string{"PATH=/usr/bin:/bin", "HOME=" + filepath.Join(filepath.Dir(repo), "home")}
	add.Run() // fails when nothing is new
	cmd := exec.Command("darcs", "record", "--pipe", "--all", "--ignore-times")
	cmd.Dir = repo
	cmd.Env = []string{"PATH=/usr/bin:/bin", "HOME=" + filepath.Join(filepath.Dir(repo), "home"), "LANG=C.UTF-8"}
	cmd.Stdin = strings.NewReader(date + "\n" + author + "\n" + msg + "\n")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("darcs record --pipe: %v\n%s", err, out)
	}
	return last(t, src(repo).URL)
}

func src(repo string) scm.Source { return scm.Source{Kind: darcs.Kind, URL: repo} }

// write writes files into repo.
func write(t *testing.T, repo string, files map[string]string) {
	t.Helper()
	for p, body := range files {
		full := filepath.Join(repo, filepath.FromSlash(p))
		os.MkdirAll(filepath.Dir(full), 0o755)
		if err := os.WriteFile(full, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// newRepo makes an empty repository.
func newRepo(t *testing.T) string {
	t.Helper()
	need(t)
	repo := filepath.Join(t.TempDir(), "repo")
	os.Mkdir(repo, 0o755)
	dcs(t, repo, "init")
	return repo
}

func date(s string) time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return t
}

// ResolveAt picks the newest patch recorded at or before the time (the
// second itself included), and the checkout of it holds that state; a
// tag or a commit pin is kept whatever the time; a branch is refused
// (Darcs has none); a time before every patch fails, saying so.
func TestResolveAt(t *testing.T) {
	repo := newRepo(t)
	write(t, repo, map[string]string{"a": "2001\n"})
	p2001 := record(t, repo, "20010101000000", "A <a@example.org>", "in 2001")
	dcs(t, repo, "tag", "--name", "v1")
	tagged := last(t, repo)
	write(t, repo, map[string]string{"a": "2002\n"})
	p2002 := record(t, repo, "20020101000000", "B <b@example.org>", "in 2002")
	write(t, repo, map[string]string{"a": "2003\n"})
	record(t, repo, "20030101000000", "C <c@example.org>", "in 2003")
	ctx := context.Background()
	s := darcs.Darcs{}

	for at, want := range map[string]string{
		"2001-06-01T00:00:00Z": p2001,
		"2002-01-01T00:00:00Z": p2002, // the patch's very second
		"2002-12-31T23:59:59Z": p2002,
		"2001-12-31T23:59:59Z": p2001,
	} {
		rev, err := s.ResolveAt(ctx, src(repo), date(at), newDirs(t))
		if err != nil || rev.ID != want {
			t.Errorf("ResolveAt(%s) = %v, %v; want %s", at, rev, err, want)
		}
	}
	d := newDirs(t)
	rev, err := s.ResolveAt(ctx, src(repo), date("2002-06-01T00:00:00Z"), d)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Checkout(ctx, src(repo), rev, d); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(filepath.Join(d.Work, "a")); string(b) != "2002\n" {
		t.Errorf("a = %q at 2002-06", b)
	}

	// The tag patch was recorded now: pinned, it resolves at any time.
	tag := src(repo)
	tag.Tag = "v1"
	if rev, err := s.ResolveAt(ctx, tag, date("2000-01-01T00:00:00Z"), newDirs(t)); err != nil || rev.ID != tagged {
		t.Errorf("ResolveAt(tag v1, 2000) = %v, %v; want %s", rev, err, tagged)
	}
	pinned := src(repo)
	pinned.Commit = p2001
	if rev, err := s.ResolveAt(ctx, pinned, time.Now(), newDirs(t)); err != nil || rev.ID != p2001 {
		t.Errorf("ResolveAt(commit %s, now) = %v, %v", p2001, rev, err)
	}
	branch := src(repo)
	branch.Branch = "main"
	var fe *scm.FieldError
	if rev, err := s.ResolveAt(ctx, branch, time.Now(), newDirs(t)); !errors.As(err, &fe) || fe.Field != "branch" {
		t.Errorf("ResolveAt(branch main) = %v, %v; want the branch refused", rev, err)
	}

	_, err = s.ResolveAt(ctx, src(repo), date("2000-12-31T23:59:59Z"), newDirs(t))
	if !errors.Is(err, scm.ErrNoRevisionAt) || !strings.Contains(err.Error(), "2001-01-01T00:00:00Z") {
		t.Errorf("ResolveAt(2000) = %v; want %v naming the oldest patch's date", err, scm.ErrNoRevisionAt)
	}
	// A repository that is not there: darcs's own message, not "too old".
	missing := src(filepath.Join(t.TempDir(), "absent"))
	if _, err := s.ResolveAt(ctx, missing, time.Now(), newDirs(t)); err == nil || errors.Is(err, scm.ErrNoRevisionAt) || !strings.Contains(err.Error(), "darcs log") {
		t.Errorf("ResolveAt(a missing repository) = %v; want darcs's error", err)
	}
}

// checkout resolves and checks out src into d, returning the revision.
func checkout(t *testing.T, src scm.Source, d scm.Dirs) scm.Revision {
	t.Helper()
	ctx := context.Background()
	rev, err := darcs.Darcs{}.Resolve(ctx, src)
	if err != nil {
		t.Fatal(err)
	}
	if err := (darcs.Darcs{}).Checkout(ctx, src, rev, d); err != nil {
		t.Fatal(err)
	}
	return rev
}

// Changes lists the patches since the last build with their names (the
// first line of a message of several), authors, dates and files: a
// moved file by both its names, a moved folder by every file it held,
// never a folder; a tag is a patch too. A revision the clone does not
// hold lists the newest max patches; so does an empty one.
func TestChanges(t *testing.T) {
	repo := newRepo(t)
	write(t, repo, map[string]string{"f": "f\n", "d/x": "x\n", "d/sub/y": "y\n"})
	first := record(t, repo, "20010101000000", "A <a@example.org>", "first")
	d := newDirs(t)
	if rev := checkout(t, src(repo), d); rev.ID != first {
		t.Fatalf("checked out %s, want %s", rev.ID, first)
	}

	dcs(t, repo, "mv", "d", "e")
	dcs(t, repo, "mv", "f", "g")
	moved := record(t, repo, "20020101000000", "B <b@example.org>", "moves\n\nthe body, which is\nnot the subject")
	dcs(t, repo, "tag", "--name", "v1")
	write(t, repo, map[string]string{"e/x": "x2\n"})
	edit := record(t, repo, "20030101000000", "C <c@example.org>", "  edit  \nmore")
	to := checkout(t, src(repo), d)
	if to.ID != edit {
		t.Fatalf("checked out %s, want %s", to.ID, edit)
	}
	ctx := context.Background()
	cs, err := darcs.Darcs{}.Changes(ctx, src(repo), d, scm.Revision{ID: first}, to, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(cs) != 3 {
		t.Fatalf("Changes = %+v, want 3", cs)
	}
	want := []scm.Change{
		{ID: edit, Author: "C <c@example.org>", Date: date("2003-01-01T00:00:00Z"), Subject: "edit", Files: []string{"e/x"}},
		{ID: cs[1].ID, Author: "test <test@example.org>", Date: cs[1].Date, Subject: "TAG v1"},
		{ID: moved, Author: "B <b@example.org>", Date: date("2002-01-01T00:00:00Z"), Subject: "moves",
			Files: []string{"d/sub/y", "d/x", "e/sub/y", "e/x", "f", "g"}},
	}
	for i := range want {
		if !reflect.DeepEqual(cs[i], want[i]) {
			t.Errorf("change %d = %+v\nwant %+v", i, cs[i], want[i])
		}
	}

	// At most max, from a revision the clone lacks or none at all.
	for _, from := range []scm.Revision{{}, {ID: strings.Repeat("0", 40)}} {
		cs, err := darcs.Darcs{}.Changes(ctx, src(repo), d, from, to, 2)
		if err != nil || len(cs) != 2 || cs[0].ID != edit || cs[1].Subject != "TAG v1" {
			t.Errorf("Changes(%q, to, 2) = %+v, %v; want the newest 2", from.ID, cs, err)
		}
	}
	// Up to an older patch the clone holds.
	cs, err = darcs.Darcs{}.Changes(ctx, src(repo), d, scm.Revision{}, scm.Revision{ID: moved}, 10)
	if err != nil || len(cs) != 2 || cs[0].ID != moved || cs[1].ID != first || !slices.Equal(cs[1].Files, []string{"d/sub/y", "d/x", "f"}) {
		t.Errorf("Changes(none, moved) = %+v, %v", cs, err)
	}
	// Metadata with no clone, or a clone without the patch: an error.
	if _, err := (darcs.Darcs{}).Changes(ctx, src(repo), newDirs(t), scm.Revision{}, to, 10); err == nil {
		t.Errorf("Changes with no clone succeeded")
	}
	if _, err := (darcs.Darcs{}).Changes(ctx, src(repo), d, scm.Revision{}, scm.Revision{ID: strings.Repeat("1", 40)}, 10); err == nil {
		t.Errorf("Changes up to a patch the clone lacks succeeded")
	}
}

// A hostile message and file names (control characters, markup, the
// escape character this package uses, bytes that are not UTF-8, a very
// long line) are carried exactly, as data.
func TestChangesHostileText(t *testing.T) {
	repo := newRepo(t)
	long := strings.Repeat("ü", 3000)
	name := "\x01\x07\x1b[31mred\r</name><name>x</name>&amp;\ue000\ue101 \xff end " + long
	author := "M\x1b]0;title\x07 <m@example.org>"
	odd, latin1 := "c\x01d\ue000\ue1ff<&>", "n\xffo"
	write(t, repo, map[string]string{odd: "x\n", latin1: "l\n", "plain": "p\n"})
	hash := record(t, repo, "20010101000000", author, name+"\nsecond line")
	d := newDirs(t)
	to := checkout(t, src(repo), d)
	cs, err := darcs.Darcs{}.Changes(context.Background(), src(repo), d, scm.Revision{}, to, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(cs) != 1 || cs[0].ID != hash {
		t.Fatalf("Changes = %+v, want the one patch", cs)
	}
	c := cs[0]
	// darcs itself records a byte of the message that is not UTF-8 as
	// U+FFFD.
	if want := scm.Subject(strings.ReplaceAll(name, "\xff", "\ufffd")); c.Subject != want {
		t.Errorf("subject = %q\nwant %q", c.Subject[:80], want[:80])
	}
	if c.Author != author {
		t.Errorf("author = %q, want %q", c.Author, author)
	}
	if !slices.Equal(c.Files, []string{odd, latin1, "plain"}) {
		t.Errorf("files = %q", c.Files)
	}
	// The control run: darcs's XML holds the raw control characters,
	// which an XML parser refuses as they are.
	raw := dcs(t, repo, "log", "--xml-output", "--summary")
	if !strings.Contains(raw, "\x01\x07\x1b[31m") || xml.Unmarshal([]byte(raw), new(struct{})) == nil {
		t.Errorf("darcs's log carries no raw control characters, or parses as XML: the test shows nothing")
	}
}
