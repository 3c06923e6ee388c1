package tla_test

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/autobuild/autobuild/internal/testutil"
	"github.com/autobuild/autobuild/scm"
	"github.com/autobuild/autobuild/scm/dir"
	"github.com/autobuild/autobuild/scm/scmtest"
	"github.com/autobuild/autobuild/scm/tla"
)

func need(t *testing.T) {
	t.Helper()
	testutil.NeedTool(t, "tla", "tla")
}

// archiveName is the name of every archive a test makes (each in a
// folder of its own), and version the version its repositories use.
const (
	archiveName = "test@example.org--scm"
	version     = "t--main--1.0"
)

// taggingMethod makes every file of a tree source, whatever its name
// (tla's default tagging method refuses dot-files and leaves names that
// start with "," or "+" out).
const taggingMethod = `names
untagged-source source
exclude ^(\{arch\})$
junk ^$
precious ^$
backup ^$
unrecognized ^$
source ^.*$
`

// tlaIn runs tla in dir with home as its home, and returns its output;
// failing, it fails the test.
func tlaIn(t *testing.T, home, dir string, args ...string) string {
	t.Helper()
	out, err := tlaTry(home, dir, args...)
	if err != nil {
		t.Fatalf("tla %q: %v\n%s", args, err, out)
	}
	return out
}

func tlaTry(home, dir string, args ...string) (string, error) {
	cmd := exec.Command("tla", args...)
	cmd.Dir = dir
	cmd.Env = []string{"PATH=/usr/bin:/bin", "HOME=" + home, "LANG=C"}
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// archive is one test archive: top/arch, with top/home as the home of
// its committer and top/wd the project tree it commits from.
type archive struct{ top string }

func (a archive) home() string { return filepath.Join(a.top, "home") }
func (a archive) loc() string  { return filepath.Join(a.top, "arch") }
func (a archive) wd() string   { return filepath.Join(a.top, "wd") }

// src is version v of a, its location a file:// URL (the conformance
// suite finds the archive's folder in it); path is the same as a plain
// path.
func (a archive) src(v string) scm.Source {
	return scm.Source{Kind: tla.Kind, URL: "file://" + a.loc() + "#" + archiveName + "/" + v}
}

func (a archive) path(v string) scm.Source {
	return scm.Source{Kind: tla.Kind, URL: a.loc() + "#" + archiveName + "/" + v}
}

// of is the archive of a source src made.
func of(src scm.Source) archive {
	loc, _, _ := strings.Cut(strings.TrimPrefix(src.URL, "file://"), "#")
	return archive{top: filepath.Dir(loc)}
}

// newArchive makes an empty archive.
func newArchive(t *testing.T) archive {
	t.Helper()
	need(t)
	a := archive{top: t.TempDir()}
	if err := os.Mkdir(a.home(), 0o700); err != nil {
		t.Fatal(err)
	}
	tlaIn(t, a.home(), a.top, "my-id", "Test <test@example.org>")
	tlaIn(t, a.home(), a.top, "make-archive", archiveName, a.loc())
	return a
}

// importTree makes the version v in a, with files and links as its
// base-0, imported from the project tree wd (made here).
func (a archive) importTree(t *testing.T, wd, v string, files, links map[string]string) (string, error) {
	t.Helper()
	tlaIn(t, a.home(), a.top, "archive-setup", archiveName+"/"+v)
	if err := os.MkdirAll(wd, 0o755); err != nil {
		t.Fatal(err)
	}
	tlaIn(t, a.home(), wd, "init-tree", archiveName+"/"+v)
	if err := os.WriteFile(filepath.Join(wd, "{arch}", "=tagging-method"), []byte(taggingMethod), 0o644); err != nil {
		t.Fatal(err)
	}
	writeTree(t, wd, files, links, nil)
	return tlaTry(a.home(), wd, "import", "-s", "first", "-L", "first")
}

// newest is the full name of the newest revision of version v.
func (a archive) newest(t *testing.T, v string) string {
	t.Helper()
	out := strings.Fields(tlaIn(t, a.home(), a.top, "revisions", "-f", "-r", archiveName+"/"+v))
	if len(out) == 0 {
		t.Fatalf("no revisions of %s", v)
	}
	return out[0]
}

// commit commits everything of the tree wd with the summary given.
func (a archive) commit(t *testing.T, wd, summary string) {
	t.Helper()
	tlaIn(t, a.home(), wd, "commit", "-s", summary, "-L", summary+"\n\nthe body")
}

func writeTree(t *testing.T, wd string, files, links map[string]string, remove []string) {
	t.Helper()
	for _, p := range remove {
		if err := os.RemoveAll(filepath.Join(wd, filepath.FromSlash(p))); err != nil {
			t.Fatal(err)
		}
	}
	for p, body := range files {
		full := filepath.Join(wd, filepath.FromSlash(p))
		os.MkdirAll(filepath.Dir(full), 0o755)
		os.RemoveAll(full)
		if err := os.WriteFile(full, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for p, target := range links {
		full := filepath.Join(wd, filepath.FromSlash(p))
		os.MkdirAll(filepath.Dir(full), 0o755)
		os.RemoveAll(full)
		if err := os.Symlink(target, full); err != nil {
			t.Fatal(err)
		}
	}
}

// repos makes tla archives for the conformance suite: version t--main--1.0
// of archive test@example.org--scm, in a folder of its own each.
type repos struct{}

// Refuses reports the names tla 1.3.5 cannot keep (TestNamesTLACannotKeep
// shows it): white space, and anything not ASCII.
func (repos) Refuses(name string) bool {
	return strings.ContainsAny(name, " \t\n\r\v\f") || strings.ContainsFunc(name, func(r rune) bool { return r >= 0x80 })
}

func (r repos) New(t *testing.T, files map[string]string) scm.Source {
	return r.NewLinks(t, files, nil)
}

func (repos) NewLinks(t *testing.T, files, links map[string]string) scm.Source {
	a := newArchive(t)
	if out, err := a.importTree(t, a.wd(), version, files, links); err != nil {
		t.Fatalf("tla import: %v\n%s", err, out)
	}
	return a.src(version)
}

func (r repos) Commit(t *testing.T, src scm.Source, files map[string]string) string {
	return r.CommitLinks(t, src, files, nil, nil)
}

func (repos) CommitLinks(t *testing.T, src scm.Source, files, links map[string]string, remove []string) string {
	a := of(src)
	writeTree(t, a.wd(), files, links, remove)
	a.commit(t, a.wd(), "change")
	return a.newest(t, version)
}

func (repos) Missing(t *testing.T) scm.Source {
	return archive{top: filepath.Join(t.TempDir(), "absent")}.src(version)
}

func TestConformance(t *testing.T) {
	need(t)
	scmtest.Run(t, tla.TLA{}, repos{})
}

func newDirs(t *testing.T) scm.Dirs {
	top := t.TempDir()
	return scm.Dirs{Work: filepath.Join(top, "work"), Meta: filepath.Join(top, "meta")}
}

func TestValidate(t *testing.T) {
	const good = "/srv/arch#jdoe@example.org--2009/hello--main--1.0"
	for _, c := range []struct {
		src   scm.Source
		field string
	}{
		{scm.Source{URL: good}, ""},
		{scm.Source{URL: "file:///srv/arch#jdoe@example.org--2009/hello--main--1.0"}, ""},
		{scm.Source{URL: "http://arch.example.org/2009#jdoe@example.org--2009/hello--main--1.0"}, ""},
		{scm.Source{URL: "sftp://host/srv/arch#jdoe@example.org--2009/hello--main--1.0.2"}, ""},
		{scm.Source{URL: good, Branch: "hello--devel--1.0"}, ""},
		{scm.Source{URL: good, Commit: "base-0"}, ""},
		{scm.Source{URL: good, Commit: "patch-12"}, ""},
		{scm.Source{URL: good, Commit: "versionfix-2"}, ""},
		{scm.Source{URL: good, Commit: "jdoe@example.org--2009/hello--main--1.0--patch-3"}, ""},
		{scm.Source{URL: good, Branch: "hello--devel--1.0", Commit: "jdoe@example.org--2009/hello--devel--1.0--base-0"}, ""},
		{scm.Source{URL: "/srv/arch"}, "url"},
		{scm.Source{URL: "/srv/arch#"}, "url"},
		{scm.Source{URL: "relative/arch#jdoe@example.org--2009/hello--main--1.0"}, "url"},
		{scm.Source{URL: "ssh://host/arch#jdoe@example.org--2009/hello--main--1.0"}, "url"},
		{scm.Source{URL: "/srv/a\nrch#jdoe@example.org--2009/hello--main--1.0"}, "url"},
		{scm.Source{URL: "/srv/arch#hello--main--1.0"}, "url"},
		{scm.Source{URL: "/srv/arch#jdoe@example.org--2009/hello--1.0"}, "url"},
		{scm.Source{URL: "/srv/arch#-jdoe@example.org--2009/hello--main--1.0"}, "url"},
		{scm.Source{URL: "/srv/arch#jdoe@example.org--2009/hello--main--1.0--patch-1"}, "url"},
		{scm.Source{URL: good, Branch: "--help"}, "branch"},
		{scm.Source{URL: good, Branch: "jdoe@example.org--2009/hello--devel--1.0"}, "branch"},
		{scm.Source{URL: good, Tag: "v1"}, "tag"},
		{scm.Source{URL: good, Commit: "patch-0"}, "commit"},
		{scm.Source{URL: good, Commit: "3"}, "commit"},
		{scm.Source{URL: good, Commit: "jdoe@example.org--2009/hello--devel--1.0--patch-3"}, ""},
		{scm.Source{URL: good, Commit: "other@example.org--2009/hello--main--1.0--patch-3"}, "commit"},
		{scm.Source{URL: good, Commit: "jdoe@example.org--2009/hello--main--1.0--patch-0"}, "commit"},
		{scm.Source{URL: good, Branch: "hello--devel--1.0", Commit: "jdoe@example.org--2009/hello--main--1.0--patch-3"}, "commit"},
	} {
		err := tla.TLA{}.Validate(c.src)
		fe, _ := err.(*scm.FieldError)
		switch {
		case c.field == "" && err != nil:
			t.Errorf("Validate(%+v) = %v", c.src, err)
		case c.field != "" && (fe == nil || fe.Field != c.field):
			t.Errorf("Validate(%+v) = %v, want an error on %s", c.src, err, c.field)
		}
	}
}

// tlaHome makes an empty home folder, and returns it with a function that
// reports whether anything was written into it since.
func tlaHome(t *testing.T) (string, func() []string) {
	home := t.TempDir()
	return home, func() []string {
		ents, _ := os.ReadDir(home)
		var names []string
		for _, e := range ents {
			names = append(names, e.Name())
		}
		return names
	}
}

// Names tla cannot keep: a name with white space imports, and tla's own
// get of it works, but the tree that holds it cannot commit again (its
// pristine copy is "corrupt"); names that are not ASCII fail the import.
// The control runs: a plain name commits, and so do other control
// characters, quotes and a backslash.
func TestNamesTLACannotKeep(t *testing.T) {
	a := newArchive(t)
	for i, name := range []string{"sp ace", "tab\there", "new\nline", "cr\rname", "plain", "\x01control", `back\slash"'`} {
		v := "w" + string(rune('a'+i)) + "--main--1.0"
		wd := filepath.Join(a.top, "wd-"+v)
		if out, err := a.importTree(t, wd, v, map[string]string{name: "one\n", "README": "r\n"}, nil); err != nil {
			t.Fatalf("%q: tla import: %v\n%s", name, err, out)
		}
		// tla's own get (into a folder of its own, where it finds no
		// other tree) holds the name.
		got := filepath.Join(t.TempDir(), "tree")
		tlaIn(t, a.home(), a.top, "get", archiveName+"/"+v, got)
		if b, err := os.ReadFile(filepath.Join(got, name)); err != nil || string(b) != "one\n" {
			t.Errorf("%q: tla get wrote %q, %v", name, b, err)
		}
		writeTree(t, wd, map[string]string{name: "two\n"}, nil, nil)
		out, err := tlaTry(a.home(), wd, "commit", "-s", "second", "-L", "second")
		refused := (repos{}).Refuses(name)
		switch {
		case refused && err == nil:
			t.Errorf("%q: tla commits a change to it: the name need not be refused", name)
		case refused && !strings.Contains(out, "corrupt pristine") && !strings.Contains(out, "ill formated input"):
			t.Errorf("%q: tla commit failed otherwise: %v\n%s", name, err, out)
		case !refused && err != nil:
			t.Errorf("%q: tla commit: %v\n%s", name, err, out)
		}
	}
	for i, c := range []struct{ name, msg string }{
		{"ünïcødé", "botched invariant"},
		{"latin1-\xe9", "violate naming conventions"},
	} {
		v := "u" + string(rune('a'+i)) + "--main--1.0"
		out, err := a.importTree(t, filepath.Join(a.top, "wd-"+v), v, map[string]string{c.name: "x\n", "README": "r\n"}, nil)
		if err == nil || !strings.Contains(out, c.msg) {
			t.Errorf("%q: tla import = %v, %s; want it to fail with %q", c.name, err, out, c.msg)
		}
	}
}

// An archive, version or patch level that is not there fails with tla's
// own message; so does an archive that calls itself by another name. No
// user's ~/.arch-params is read or written: HOME is not used.
func TestUnknownArchiveVersionLevel(t *testing.T) {
	r := repos{}
	src := r.New(t, map[string]string{"a": "one\n"})
	ctx := context.Background()
	home, written := tlaHome(t)
	t.Setenv("HOME", home)
	s := tla.TLA{}

	loc := "file://" + of(src).loc()
	for _, c := range []struct {
		src scm.Source
		msg string
	}{
		{r.Missing(t), "absent/arch (No such file or directory)"},
		{scm.Source{Kind: tla.Kind, URL: loc + "#" + archiveName + "/nope--main--1.0"}, "No such category (nope)"},
		{scm.Source{Kind: tla.Kind, URL: loc + "#" + archiveName + "/t--main--2.0"}, "No such version (2.0)"},
		{scm.Source{Kind: tla.Kind, URL: src.URL, Commit: "patch-9"}, "no patch level patch-9"},
		{scm.Source{Kind: tla.Kind, URL: loc + "#other@example.org--scm/" + version}, `is "test@example.org--scm", not "other@example.org--scm"`},
	} {
		rev, err := s.Resolve(ctx, c.src)
		if err == nil || !strings.Contains(err.Error(), c.msg) {
			t.Errorf("Resolve(%s, %s) = %v, %v; want an error naming %q", c.src.URL, c.src.Ref(), rev, err, c.msg)
		}
		if _, err := s.ResolveAt(ctx, c.src, time.Now(), newDirs(t)); err == nil || errors.Is(err, scm.ErrNoRevisionAt) {
			t.Errorf("ResolveAt(%s, %s) = %v; want tla's error", c.src.URL, c.src.Ref(), err)
		}
	}
	// A well-formed revision the archive lacks: tla get's message, and
	// the folder records no checkout.
	d := newDirs(t)
	err := s.Checkout(ctx, src, scm.Revision{ID: archiveName + "/" + version + "--patch-9"}, d)
	if err == nil || !strings.Contains(err.Error(), "No such patchlevel (patch-9)") {
		t.Errorf("Checkout of patch-9 = %v; want tla's \"No such patchlevel\"", err)
	}
	if s.HasCheckout(d) {
		t.Errorf("a failed checkout left a checkout")
	}
	// A revision of another version is refused before tla runs.
	if err := s.Checkout(ctx, src, scm.Revision{ID: archiveName + "/t--other--1.0--base-0"}, d); err == nil {
		t.Errorf("Checkout of another version's revision succeeded")
	}
	if names := written(); len(names) != 0 {
		t.Errorf("the user's home was written: %q", names)
	}
}

// commit: pins a patch level, by its level or its full name (of another
// version too); branch: names another version of the archive, such as
// one a tla tag made; a tag: is refused.
func TestPinsAndBranch(t *testing.T) {
	r := repos{}
	src := r.New(t, map[string]string{"a": "one\n"})
	a := of(src)
	first := a.newest(t, version)
	second := r.Commit(t, src, map[string]string{"a": "two\n"})
	r.Commit(t, src, map[string]string{"a": "three\n"})
	// The devel version starts as a tag of the second revision.
	tlaIn(t, a.home(), a.top, "archive-setup", archiveName+"/t--devel--1.0")
	tlaIn(t, a.home(), a.top, "tag", second, archiveName+"/t--devel--1.0")
	ctx := context.Background()
	s := tla.TLA{}

	check := func(src scm.Source, wantID, wantA string) {
		t.Helper()
		rev, err := s.Resolve(ctx, src)
		if err != nil || rev.ID != wantID {
			t.Fatalf("Resolve(%s) = %v, %v; want %s", src.Ref(), rev, err, wantID)
		}
		d := newDirs(t)
		if err := s.Checkout(ctx, src, rev, d); err != nil {
			t.Fatal(err)
		}
		if b, _ := os.ReadFile(filepath.Join(d.Work, "a")); string(b) != wantA {
			t.Errorf("%s: a = %q, want %q", src.Ref(), b, wantA)
		}
		if _, err := os.Lstat(filepath.Join(d.Work, "{arch}")); err == nil {
			t.Errorf("%s: the work tree holds {arch}", src.Ref())
		}
	}
	pinned := src
	pinned.Commit = "base-0"
	check(pinned, first, "one\n")
	pinned.Commit = second
	check(pinned, second, "two\n")
	branch := a.path(version) // a plain path this time
	branch.Branch = "t--devel--1.0"
	check(branch, archiveName+"/t--devel--1.0--base-0", "two\n")
	// A revision of another version, by its full name.
	pinned.Commit = archiveName + "/t--devel--1.0--base-0"
	check(pinned, pinned.Commit, "two\n")

	tag := src
	tag.Tag = "t--devel--1.0"
	var fe *scm.FieldError
	if rev, err := s.Resolve(ctx, tag); !errors.As(err, &fe) || fe.Field != "tag" {
		t.Errorf("Resolve(tag) = %v, %v; want the tag refused", rev, err)
	}
}

// The tree in the metadata folder was changed: the next checkout of the
// same revision notices, and gets it anew; a build's changes to the
// work tree are undone. The local archive read is not written.
func TestDirtyTreeIsReplaced(t *testing.T) {
	src := repos{}.New(t, map[string]string{"a": "a\n", "d/b": "b\n"})
	ctx := context.Background()
	s := tla.TLA{}
	before, err := dir.Hash(of(src).loc(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if after, err := dir.Hash(of(src).loc(), nil); err != nil || after != before {
			t.Errorf("the archive changed (%v)", err)
		}
	}()
	rev, err := s.Resolve(ctx, src)
	if err != nil {
		t.Fatal(err)
	}
	d := newDirs(t)
	if err := s.Checkout(ctx, src, rev, d); err != nil {
		t.Fatal(err)
	}
	tree := filepath.Join(d.Meta, "tree")
	os.WriteFile(filepath.Join(tree, "a"), []byte("edited\n"), 0o644)
	os.WriteFile(filepath.Join(tree, "extra"), []byte("x\n"), 0o644)
	os.WriteFile(filepath.Join(d.Work, "d", "b"), []byte("build\n"), 0o644)
	os.WriteFile(filepath.Join(d.Work, "junk"), []byte("x\n"), 0o644)
	if err := s.Checkout(ctx, src, rev, d); err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]string{"a": "a\n", "d/b": "b\n"} {
		if b, err := os.ReadFile(filepath.Join(d.Work, name)); err != nil || string(b) != want {
			t.Errorf("%s = %q, %v", name, b, err)
		}
	}
	for _, name := range []string{"extra", "junk"} {
		if _, err := os.Lstat(filepath.Join(d.Work, name)); err == nil {
			t.Errorf("%s survived the checkout", name)
		}
	}
}

// Changes reads each revision's log: Creator, Standard-date, Summary and
// the files it adds, removes or modifies, names tla escapes (control
// characters, quotes, a backslash) restored exactly.
func TestChanges(t *testing.T) {
	r := repos{}
	odd := "c\x01d\\e\"f'g"
	src := r.New(t, map[string]string{"keep": "k\n", "gone": "g\n"})
	ctx := context.Background()
	s := tla.TLA{}
	first, err := s.Resolve(ctx, src)
	if err != nil {
		t.Fatal(err)
	}
	a := of(src)
	writeTree(t, a.wd(), map[string]string{odd: "o\n", "keep": "k2\n", "dir/new": "n\n"}, nil, []string{"gone"})
	before := time.Now().Add(-time.Second)
	a.commit(t, a.wd(), "  several things  ")
	to, err := s.Resolve(ctx, src)
	if err != nil {
		t.Fatal(err)
	}
	d := newDirs(t)
	if err := s.Checkout(ctx, src, to, d); err != nil {
		t.Fatal(err)
	}
	cs, err := s.Changes(ctx, src, d, first, to, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(cs) != 1 {
		t.Fatalf("Changes = %+v, want 1", cs)
	}
	c := cs[0]
	if c.ID != to.ID || c.Author != "Test <test@example.org>" || c.Subject != "several things" ||
		c.Date.Before(before.Truncate(time.Second)) || c.Date.After(time.Now()) {
		t.Errorf("change = %+v", c)
	}
	if want := []string{odd, "dir/new", "gone", "keep"}; !slices.Equal(c.Files, want) {
		t.Errorf("files = %q, want %q", c.Files, want)
	}
	// The control run: tla's log escapes the odd name.
	raw := tlaIn(t, a.home(), a.top, "cat-archive-log", to.ID)
	if strings.Contains(raw, odd) {
		t.Errorf("tla's log holds the name as it is: the test shows nothing\n%s", raw)
	}
	// From a revision of another version: the newest max.
	cs, err = s.Changes(ctx, src, d, scm.Revision{ID: archiveName + "/t--other--1.0--patch-1"}, to, 5)
	if err != nil || len(cs) != 2 || cs[1].ID != first.ID || cs[1].Subject != "first" {
		t.Errorf("Changes(another version's revision) = %+v, %v; want both", cs, err)
	}
	// Metadata with no tree: an error.
	if _, err := s.Changes(ctx, src, newDirs(t), scm.Revision{}, to, 10); err == nil {
		t.Errorf("Changes with no tree succeeded")
	}
}
