package fossil_test

import (
	"context"
	"crypto/sha256"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/autobuild/autobuild/internal/testutil"
	"github.com/autobuild/autobuild/scm"
	"github.com/autobuild/autobuild/scm/fossil"
	"github.com/autobuild/autobuild/scm/scmtest"
)

func need(t *testing.T) {
	t.Helper()
	testutil.NeedTool(t, "fossil", "fossil")
}

// fsl runs fossil in wd with a home of the test's own.
func fsl(t *testing.T, wd string, args ...string) string {
	t.Helper()
	home := filepath.Join(filepath.Dir(wd), "home")
	os.MkdirAll(home, 0o700)
	cmd := exec.Command("fossil", args...)
	cmd.Dir = wd
	cmd.Env = []string{"PATH=/usr/bin:/bin", "HOME=" + home, "FOSSIL_HOME=" + home, "FOSSIL_USER=test"}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("fossil %q: %v\n%s", args, err, out)
	}
	return string(out)
}

// repos makes Fossil repositories: top/repo.fossil, opened in top/wc.
type repos struct{}

// Fossil refuses names that are not UTF-8 or hold a backslash ("filename
// contains illegal characters").
func (repos) Refuses(name string) bool {
	return !utf8.ValidString(name) || strings.Contains(name, "\\")
}

// wc is the open checkout of src's repository.
func wc(src scm.Source) string { return filepath.Join(filepath.Dir(src.URL), "wc") }

func (r repos) New(t *testing.T, files map[string]string) scm.Source {
	return r.NewLinks(t, files, nil)
}

func (r repos) NewLinks(t *testing.T, files, links map[string]string) scm.Source {
	need(t)
	top := t.TempDir()
	repo := filepath.Join(top, "repo.fossil")
	fsl(t, top, "init", repo)
	os.Mkdir(filepath.Join(top, "wc"), 0o755)
	fsl(t, filepath.Join(top, "wc"), "open", repo)
	fsl(t, filepath.Join(top, "wc"), "settings", "allow-symlinks", "on")
	// Changes found by content, not by a modification time in the same
	// second.
	fsl(t, filepath.Join(top, "wc"), "settings", "mtime-changes", "off")
	src := scm.Source{Kind: fossil.Kind, URL: repo}
	r.CommitLinks(t, src, files, links, nil)
	return src
}

func (r repos) Commit(t *testing.T, src scm.Source, files map[string]string) string {
	return r.CommitLinks(t, src, files, nil, nil)
}

var newVersion = regexp.MustCompile(`New_Version: ([0-9a-f]{64})`)

func (repos) CommitLinks(t *testing.T, src scm.Source, files, links map[string]string, remove []string) string {
	w := wc(src)
	for _, p := range remove {
		os.RemoveAll(filepath.Join(w, filepath.FromSlash(p)))
	}
	for p, body := range files {
		full := filepath.Join(w, filepath.FromSlash(p))
		os.MkdirAll(filepath.Dir(full), 0o755)
		os.RemoveAll(full)
		if err := os.WriteFile(full, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for p, target := range links {
		full := filepath.Join(w, filepath.FromSlash(p))
		os.MkdirAll(filepath.Dir(full), 0o755)
		os.RemoveAll(full)
		if err := os.Symlink(target, full); err != nil {
			t.Fatal(err)
		}
	}
	// Twice: a folder where a file was is added only once the file is
	// gone.
	fsl(t, w, "addremove", "--dotfiles")
	fsl(t, w, "addremove", "--dotfiles")
	out := fsl(t, w, "commit", "--no-warnings", "--allow-empty", "-m", "change")
	m := newVersion.FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no new version in %q", out)
	}
	return m[1]
}

func (repos) Missing(t *testing.T) scm.Source {
	return scm.Source{Kind: fossil.Kind, URL: filepath.Join(t.TempDir(), "absent.fossil")}
}

func TestConformance(t *testing.T) {
	need(t)
	scmtest.Run(t, fossil.Fossil{}, repos{})
}

func newDirs(t *testing.T) scm.Dirs {
	top := t.TempDir()
	return scm.Dirs{Work: filepath.Join(top, "work"), Meta: filepath.Join(top, "meta")}
}

func resolve(t *testing.T, src scm.Source) scm.Revision {
	t.Helper()
	rev, err := fossil.Fossil{}.Resolve(context.Background(), src)
	if err != nil {
		t.Fatalf("Resolve(%+v): %v", src, err)
	}
	return rev
}

// Branches and tags resolve to their check-ins, and check out.
func TestBranchAndTag(t *testing.T) {
	need(t)
	r := repos{}
	src := r.New(t, map[string]string{"a": "trunk one\n"})
	w := wc(src)
	fsl(t, w, "tag", "add", "v1", "trunk")
	first := resolve(t, src)
	fsl(t, w, "branch", "new", "feature", "trunk")
	fsl(t, w, "update", "feature")
	os.WriteFile(filepath.Join(w, "a"), []byte("feature\n"), 0o644)
	out := fsl(t, w, "commit", "--no-warnings", "-m", "on feature")
	feature := newVersion.FindStringSubmatch(out)[1]
	fsl(t, w, "update", "trunk")
	trunk2 := r.Commit(t, src, map[string]string{"a": "trunk two\n"})

	for _, c := range []struct {
		src  scm.Source
		want string
		a    string
	}{
		{src, trunk2, "trunk two\n"},
		{scm.Source{Kind: fossil.Kind, URL: src.URL, Branch: "feature"}, feature, "feature\n"},
		{scm.Source{Kind: fossil.Kind, URL: src.URL, Tag: "v1"}, first.ID, "trunk one\n"},
		{scm.Source{Kind: fossil.Kind, URL: "file://" + src.URL, Commit: first.ID}, first.ID, "trunk one\n"},
	} {
		if err := (fossil.Fossil{}).Validate(c.src); err != nil {
			t.Fatal(err)
		}
		rev := resolve(t, c.src)
		if rev.ID != c.want {
			t.Errorf("Resolve(%s) = %s, want %s", c.src.Ref(), rev.ID, c.want)
		}
		d := newDirs(t)
		if err := (fossil.Fossil{}).Checkout(context.Background(), c.src, rev, d); err != nil {
			t.Fatal(err)
		}
		if b, _ := os.ReadFile(filepath.Join(d.Work, "a")); string(b) != c.a {
			t.Errorf("%s: a = %q, want %q", c.src.Ref(), b, c.a)
		}
	}

	// Unknown names fail, and say what is missing.
	for _, bad := range []scm.Source{
		{Kind: fossil.Kind, URL: src.URL, Branch: "nosuch"},
		{Kind: fossil.Kind, URL: src.URL, Tag: "nosuch"},
		{Kind: fossil.Kind, URL: src.URL, Commit: strings.Repeat("0", 64)},
	} {
		if rev, err := (fossil.Fossil{}).Resolve(context.Background(), bad); err == nil {
			t.Errorf("Resolve(%s) = %v, want an error", bad.Ref(), rev)
		} else if !strings.Contains(err.Error(), "nosuch") && !strings.Contains(err.Error(), "no such") && !strings.Contains(err.Error(), "0000") {
			t.Errorf("Resolve(%s): %v does not say what is missing", bad.Ref(), err)
		}
	}
}

func TestValidate(t *testing.T) {
	for _, c := range []struct {
		src   scm.Source
		field string
	}{
		{scm.Source{URL: "/srv/r.fossil"}, ""},
		{scm.Source{URL: "/srv/r.fossil", Branch: "b", Commit: strings.Repeat("a", 64)}, ""},
		{scm.Source{URL: "https://fossil.example.org/r"}, "url"},
		{scm.Source{URL: "/srv/r.fossil", Commit: "abc"}, "commit"},
		{scm.Source{URL: "/srv/r.fossil", Branch: "-R"}, "branch"},
		{scm.Source{URL: "/srv/r.fossil", Tag: "a\nb"}, "tag"},
	} {
		err := fossil.Fossil{}.Validate(c.src)
		fe, _ := err.(*scm.FieldError)
		switch {
		case c.field == "" && err != nil:
			t.Errorf("Validate(%+v) = %v", c.src, err)
		case c.field != "" && (fe == nil || fe.Field != c.field):
			t.Errorf("Validate(%+v) = %v, want an error on %s", c.src, err, c.field)
		}
	}
}

// The open checkout in the metadata folder was changed (edited, extra
// files): the next checkout still makes the work tree the check-in.
func TestDirtyOpenCheckoutIsReset(t *testing.T) {
	need(t)
	src := repos{}.New(t, map[string]string{"a": "a\n", "d/b": "b\n"})
	before := sum(t, src.URL)
	rev := resolve(t, src)
	d := newDirs(t)
	ctx := context.Background()
	if err := (fossil.Fossil{}).Checkout(ctx, src, rev, d); err != nil {
		t.Fatal(err)
	}
	co := filepath.Join(d.Meta, "co")
	os.WriteFile(filepath.Join(co, "a"), []byte("edited\n"), 0o644)
	os.Remove(filepath.Join(co, "d", "b"))
	os.WriteFile(filepath.Join(d.Work, "junk"), []byte("x"), 0o644)
	if err := (fossil.Fossil{}).Checkout(ctx, src, rev, d); err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]string{"a": "a\n", "d/b": "b\n"} {
		if b, err := os.ReadFile(filepath.Join(d.Work, name)); err != nil || string(b) != want {
			t.Errorf("%s = %q, %v", name, b, err)
		}
	}
	if _, err := os.Lstat(filepath.Join(d.Work, "junk")); err == nil {
		t.Errorf("junk survived")
	}
	// The repository file was only read.
	if sum(t, src.URL) != before {
		t.Errorf("a resolve and checkouts changed the repository file")
	}
}

func sum(t *testing.T, p string) [32]byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return sha256.Sum256(b)
}

// oldRepo makes a repository whose initial empty check-in is of 2000,
// opened in top/wc; add commits with commit.
func oldRepo(t *testing.T) scm.Source {
	t.Helper()
	need(t)
	top := t.TempDir()
	repo := filepath.Join(top, "repo.fossil")
	fsl(t, top, "init", "--date-override", "2000-01-01T00:00:00", repo)
	os.Mkdir(filepath.Join(top, "wc"), 0o755)
	fsl(t, filepath.Join(top, "wc"), "open", repo)
	fsl(t, filepath.Join(top, "wc"), "settings", "mtime-changes", "off")
	return scm.Source{Kind: fossil.Kind, URL: repo}
}

// commit writes files into src's open checkout and commits them with
// the message, at the date (UTC), with extra options, returning the new
// check-in's hash.
func commit(t *testing.T, src scm.Source, files map[string]string, msg, date string, extra ...string) string {
	t.Helper()
	w := wc(src)
	for p, body := range files {
		full := filepath.Join(w, filepath.FromSlash(p))
		os.MkdirAll(filepath.Dir(full), 0o755)
		if err := os.WriteFile(full, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	fsl(t, w, "addremove", "--dotfiles")
	msgFile := filepath.Join(filepath.Dir(w), "message")
	if err := os.WriteFile(msgFile, []byte(msg), 0o644); err != nil {
		t.Fatal(err)
	}
	args := append([]string{"commit", "--no-warnings", "--allow-empty", "-M", msgFile, "--date-override", date}, extra...)
	m := newVersion.FindStringSubmatch(fsl(t, w, args...))
	if m == nil {
		t.Fatalf("fossil %q made no check-in", args)
	}
	return m[1]
}

func date(s string) time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return t
}

// ResolveAt picks the newest check-in of the branch (trunk by default)
// at or before the time, its very second included, and the checkout
// with the same folders holds it. A branch that exists but is younger
// fails with scm.ErrNoRevisionAt, a branch that does not exist with an
// error naming it; a tag or commit pin is kept whatever the time; a
// metadata folder holding another project's clone is started afresh.
func TestResolveAt(t *testing.T) {
	src := oldRepo(t)
	t2001 := commit(t, src, map[string]string{"a": "2001\n"}, "trunk 2001", "2001-01-01T00:00:00")
	fsl(t, wc(src), "tag", "add", "v1", "trunk")
	f2002 := commit(t, src, map[string]string{"a": "feature 2002\n"}, "feature 2002", "2002-01-01T00:00:00", "--branch", "feature")
	fsl(t, wc(src), "update", "trunk")
	t2003 := commit(t, src, map[string]string{"a": "2003\n"}, "trunk 2003", "2003-01-01T00:00:00")
	// A branch whose name is not SQL.
	quoted := src
	quoted.Branch = "it's'); DROP TABLE blob; --"
	q2004 := commit(t, src, map[string]string{"a": "2004\n"}, "quoted 2004", "2004-01-01T00:00:00", "--branch", quoted.Branch)
	before := sum(t, src.URL)
	defer func() {
		if sum(t, src.URL) != before {
			t.Errorf("ResolveAt changed the repository file")
		}
	}()
	ctx := context.Background()
	s := fossil.Fossil{}
	feature := src
	feature.Branch = "feature"

	for _, c := range []struct {
		src  scm.Source
		at   string
		want string
	}{
		{src, "2001-01-01T00:00:00Z", t2001},
		{src, "2002-12-31T23:59:59Z", t2001},
		{src, "2003-01-01T00:00:00Z", t2003},
		{src, "1999-12-31T23:59:59Z", ""},
		{feature, "2002-06-01T00:00:00Z", f2002},
		{feature, "2010-01-01T00:00:00Z", f2002},
		{feature, "2001-06-01T00:00:00Z", ""},
		{quoted, "2004-01-01T00:00:00Z", q2004},
		{quoted, "2003-12-31T23:59:59Z", ""},
	} {
		rev, err := s.ResolveAt(ctx, c.src, date(c.at), newDirs(t))
		switch {
		case c.want == "" && !errors.Is(err, scm.ErrNoRevisionAt):
			t.Errorf("ResolveAt(%s, %s) = %v, %v; want %v", c.src.Ref(), c.at, rev, err, scm.ErrNoRevisionAt)
		case c.want != "" && (err != nil || rev.ID != c.want):
			t.Errorf("ResolveAt(%s, %s) = %v, %v; want %s", c.src.Ref(), c.at, rev, err, c.want)
		}
	}
	// The newest check-in of a branch is the one Resolve names.
	if rev, err := s.ResolveAt(ctx, feature, time.Now().Add(time.Hour), newDirs(t)); err != nil || rev != resolve(t, feature) {
		t.Errorf("ResolveAt(branch feature, now) = %v, %v; Resolve says %v", rev, err, resolve(t, feature))
	}

	// What ResolveAt fetched serves the checkout.
	d := newDirs(t)
	rev, err := s.ResolveAt(ctx, feature, date("2002-06-01T00:00:00Z"), d)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Checkout(ctx, feature, rev, d); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(filepath.Join(d.Work, "a")); string(b) != "feature 2002\n" {
		t.Errorf("a = %q", b)
	}

	// Folders that hold another project's clone: started afresh.
	other := repos{}.New(t, map[string]string{"b": "other\n"})
	if err := s.Checkout(ctx, other, resolve(t, other), d); err != nil {
		t.Fatal(err)
	}
	if rev, err := s.ResolveAt(ctx, src, date("2002-01-01T00:00:00Z"), d); err != nil || rev.ID != t2001 {
		t.Errorf("ResolveAt into another project's folders = %v, %v; want %s", rev, err, t2001)
	}

	for _, pin := range []scm.Source{
		{Kind: fossil.Kind, URL: src.URL, Tag: "v1"},
		{Kind: fossil.Kind, URL: src.URL, Commit: t2001},
	} {
		if rev, err := s.ResolveAt(ctx, pin, date("1990-01-01T00:00:00Z"), newDirs(t)); err != nil || rev.ID != t2001 {
			t.Errorf("ResolveAt(%s, 1990) = %v, %v; want the pin %s", pin.Ref(), rev, err, t2001)
		}
	}
	// A branch that does not exist is not "too old", and a tag is not a
	// branch.
	for _, b := range []string{"nosuch", "v1"} {
		bad := src
		bad.Branch = b
		if _, err := s.ResolveAt(ctx, bad, time.Now(), newDirs(t)); err == nil || errors.Is(err, scm.ErrNoRevisionAt) || !strings.Contains(err.Error(), "no branch "+b) {
			t.Errorf("ResolveAt(branch %s) = %v; want an error naming the branch", b, err)
		}
	}
}

// Changes follows every parent: a merge brings the merged branch's
// check-ins, and the merge's files are those it changed against its
// primary parent; a rename lists both names; the subject is the first
// line of a message of several. From a check-in that is not an ancestor,
// the newest max check-ins up to to. The empty check-in fossil init
// makes is left out.
func TestChanges(t *testing.T) {
	src := oldRepo(t)
	c1 := commit(t, src, map[string]string{"a": "a\n", "old": "o\n"}, "first", "2001-01-01T00:00:00")
	f1 := commit(t, src, map[string]string{"f": "f\n"}, "on feature\n\nwith a body", "2002-01-01T00:00:00", "--branch", "feature")
	fsl(t, wc(src), "update", "trunk")
	t1 := commit(t, src, map[string]string{"a": "a2\n"}, "  trunk  \r\nsecond line", "2002-02-01T00:00:00")
	fsl(t, wc(src), "merge", "feature")
	m1 := commit(t, src, nil, "merge feature", "2002-03-01T00:00:00")
	fsl(t, wc(src), "mv", "--hard", "old", "new")
	r1 := commit(t, src, nil, "rename", "2002-04-01T00:00:00")
	fsl(t, wc(src), "update", "feature")
	f2 := commit(t, src, map[string]string{"f": "f2\n"}, "feature again", "2002-05-01T00:00:00")

	ctx := context.Background()
	d := newDirs(t)
	if err := (fossil.Fossil{}).Checkout(ctx, src, scm.Revision{ID: r1}, d); err != nil {
		t.Fatal(err)
	}
	type entry struct {
		id, subject string
		files       []string
	}
	check := func(from string, max int, want ...entry) {
		t.Helper()
		cs, err := fossil.Fossil{}.Changes(ctx, src, d, scm.Revision{ID: from}, scm.Revision{ID: r1}, max)
		if err != nil {
			t.Fatal(err)
		}
		var got []entry
		for _, c := range cs {
			got = append(got, entry{c.ID, c.Subject, c.Files})
			if c.Author != "test" || c.Date.Year() != 2001 && c.Date.Year() != 2002 || c.Date.Location() != time.UTC {
				t.Errorf("change %s by %q at %v", c.ID, c.Author, c.Date)
			}
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("Changes(%.8s, r1, %d) =\n%q\nwant\n%q", from, max, got, want)
		}
	}
	rename := entry{r1, "rename", []string{"new", "old"}}
	merge := entry{m1, "merge feature", []string{"f"}}
	trunk := entry{t1, "trunk", []string{"a"}}
	feat := entry{f1, "on feature", []string{"f"}}
	first := entry{c1, "first", []string{"a", "old"}}
	check(c1, 10, rename, merge, trunk, feat)
	check(f1, 10, rename, merge, trunk)
	check(t1, 10, rename, merge, feat)
	check(r1, 10)
	check("", 10, rename, merge, trunk, feat, first)
	check("", 2, rename, merge)
	check(f2, 3, rename, merge, trunk) // not an ancestor of r1

	// Up to a check-in the clone lacks: an error.
	if _, err := (fossil.Fossil{}).Changes(ctx, src, d, scm.Revision{}, scm.Revision{ID: strings.Repeat("1", 64)}, 10); err == nil {
		t.Errorf("Changes up to a check-in the clone lacks succeeded")
	}
	if _, err := (fossil.Fossil{}).Changes(ctx, src, newDirs(t), scm.Revision{}, scm.Revision{ID: r1}, 10); err == nil {
		t.Errorf("Changes with no clone succeeded")
	}
}

// A hostile message and user (control characters, quotes, a very long
// line) are carried exactly, as data. (Fossil itself reads a message
// that is not UTF-8 as CP1252.)
func TestChangesHostileText(t *testing.T) {
	src := oldRepo(t)
	msg := "\x01\x07\x1b[31mred' OR 1=1; --\"|\\\t" + strings.Repeat("ü", 50000) + " end\nsecond"
	user := "M\x1b]0;title\x07 ' <m@example.org>"
	h := commit(t, src, map[string]string{"a": "a\n"}, msg, "2001-01-01T00:00:00", "--user-override", user)
	d := newDirs(t)
	ctx := context.Background()
	if err := (fossil.Fossil{}).Checkout(ctx, src, scm.Revision{ID: h}, d); err != nil {
		t.Fatal(err)
	}
	cs, err := fossil.Fossil{}.Changes(ctx, src, d, scm.Revision{}, scm.Revision{ID: h}, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(cs) != 1 || cs[0].ID != h {
		t.Fatalf("Changes = %+v, want the one check-in", cs)
	}
	if want := scm.Subject(msg); cs[0].Subject != want {
		t.Errorf("subject = %q\nwant %q", cs[0].Subject[:60], want[:60])
	}
	if cs[0].Author != user {
		t.Errorf("author = %q, want %q", cs[0].Author, user)
	}
}
