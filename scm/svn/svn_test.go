package svn_test

import (
	"bytes"
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/autobuild/autobuild/scm"
	"github.com/autobuild/autobuild/scm/scmtest"
	"github.com/autobuild/autobuild/scm/svn"
)

// svnRun runs an svn tool (svn, svnadmin) in dir with a clean
// environment and a configuration folder of the test's.
func svnRun(t *testing.T, dir string, tool string, args ...string) string {
	t.Helper()
	out, err := svnTry(t, dir, tool, args...)
	if err != nil {
		t.Fatalf("%s %q: %v", tool, args, err)
	}
	return out
}

func svnTry(t *testing.T, dir string, tool string, args ...string) (string, error) {
	t.Helper()
	cfg := filepath.Join(t.TempDir(), "cfg")
	if tool == "svn" {
		args = append([]string{"--non-interactive", "--config-dir", cfg}, args...)
	}
	cmd := exec.Command(tool, args...)
	cmd.Dir = dir
	cmd.Env = []string{"PATH=/usr/bin:/bin", "HOME=" + cfg, "LC_ALL=C.UTF-8"}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("%w: %s", err, stderr.String())
	}
	return stdout.String(), nil
}

// repos makes Subversion repositories in the standard layout: the files
// go to trunk/.
type repos struct{}

func put(t *testing.T, root string, files, links map[string]string) {
	t.Helper()
	for name, body := range files {
		p := filepath.Join(root, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for name, target := range links {
		p := filepath.Join(root, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(target, p); err != nil {
			t.Fatal(err)
		}
	}
}

// newRepo makes a repository whose trunk holds files and links, with
// empty branches/ and tags/.
func newRepo(t *testing.T, files, links map[string]string) scm.Source {
	t.Helper()
	top := t.TempDir()
	repo := filepath.Join(top, "repo")
	svnRun(t, top, "svnadmin", "create", repo)
	imp := filepath.Join(top, "import")
	for _, d := range []string{"trunk", "branches", "tags"} {
		if err := os.MkdirAll(filepath.Join(imp, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	put(t, filepath.Join(imp, "trunk"), files, links)
	svnRun(t, top, "svn", "import", "--no-ignore", "--no-auto-props", "-m", "first", imp, "file://"+repo)
	return scm.Source{Kind: svn.Kind, URL: "file://" + repo}
}

func (repos) New(t *testing.T, files map[string]string) scm.Source { return newRepo(t, files, nil) }

func (repos) NewLinks(t *testing.T, files, links map[string]string) scm.Source {
	return newRepo(t, files, links)
}

func (r repos) Commit(t *testing.T, src scm.Source, files map[string]string) string {
	return r.CommitLinks(t, src, files, nil, nil)
}

// CommitLinks commits on trunk through a working copy of the test's.
func (repos) CommitLinks(t *testing.T, src scm.Source, files, links map[string]string, remove []string) string {
	t.Helper()
	top := t.TempDir()
	wc := filepath.Join(top, "wc")
	svnRun(t, top, "svn", "checkout", src.URL+"/trunk", wc)
	for _, name := range remove {
		svnRun(t, wc, "svn", "rm", "--force", "--", name+"@")
	}
	for i, m := range []map[string]string{files, links} {
		for name := range m {
			p := filepath.Join(wc, filepath.FromSlash(name))
			if fi, err := os.Lstat(p); err == nil && (i == 1 || fi.Mode()&os.ModeSymlink != 0) {
				svnRun(t, wc, "svn", "rm", "--force", "--", name+"@")
			}
		}
	}
	put(t, wc, nil, links)
	for name, body := range files {
		p := filepath.Join(wc, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	svnRun(t, wc, "svn", "add", "--force", "--no-ignore", "--no-auto-props", ".")
	svnRun(t, wc, "svn", "commit", "-m", "change")
	return lastChanged(t, src.URL+"/trunk")
}

func lastChanged(t *testing.T, u string) string {
	t.Helper()
	var i struct {
		Entry struct {
			RelativeURL string `xml:"relative-url"`
			Commit      struct {
				Revision int64 `xml:"revision,attr"`
			} `xml:"commit"`
		} `xml:"entry"`
	}
	if err := xml.Unmarshal([]byte(svnRun(t, "/", "svn", "info", "--xml", u)), &i); err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("%s@%d", i.Entry.RelativeURL, i.Entry.Commit.Revision)
}

func (repos) Missing(t *testing.T) scm.Source {
	return scm.Source{Kind: svn.Kind, URL: "file://" + filepath.Join(t.TempDir(), "no-such-repo")}
}

// Refuses implements scmtest.NameRefuser: svn refuses control characters
// in a path, and a name that is not UTF-8 (TestToolRefusesNames).
func (repos) Refuses(name string) bool {
	return !utf8.ValidString(name) || strings.ContainsFunc(name, func(r rune) bool { return r < 0x20 || r == 0x7f })
}

// Mangles implements scmtest.LinkLimiter: svn commits a symlink target
// with a newline, but writes it only up to the newline (TestToolRefusesNames).
func (repos) Mangles(target string) bool { return strings.Contains(target, "\n") }

func TestConformance(t *testing.T) { scmtest.Run(t, svn.SVN{}, repos{}) }

// The names the conformance suite leaves out are the ones svn refuses.
func TestToolRefusesNames(t *testing.T) {
	src := newRepo(t, map[string]string{"README": "x\n"}, nil)
	top := t.TempDir()
	wc := filepath.Join(top, "wc")
	svnRun(t, top, "svn", "checkout", src.URL+"/trunk", wc)
	for _, name := range []string{"new\nline", "tab\there", "\x01control", "latin1-\xe9"} {
		if !(repos{}).Refuses(name) {
			t.Errorf("Refuses(%q) = false", name)
		}
		put(t, wc, map[string]string{name: "x\n"}, nil)
		if _, err := svnTry(t, wc, "svn", "add", "--", name+"@"); err == nil {
			t.Errorf("svn add %q succeeded", name)
		}
		os.Remove(filepath.Join(wc, name))
	}
	// svn's own checkout writes a symlink's target up to its newline.
	link := newRepo(t, nil, map[string]string{"odd": "one\ntwo"})
	svnRun(t, top, "svn", "checkout", link.URL+"/trunk", filepath.Join(top, "links"))
	if target, err := os.Readlink(filepath.Join(top, "links", "odd")); err != nil || target != "one" || !(repos{}).Mangles("one\ntwo") {
		t.Errorf("svn checked out a symlink to \"one\\ntwo\" as %q, %v", target, err)
	}
	// Control: a name svn takes.
	put(t, wc, map[string]string{"plain name": "x\n"}, nil)
	svnRun(t, wc, "svn", "add", "--", "plain name@")
}

func newDirs(t *testing.T) scm.Dirs {
	top := t.TempDir()
	return scm.Dirs{Work: filepath.Join(top, "source-root", "m"), Meta: filepath.Join(top, "scm-root", "m")}
}

func read(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestBranchTagAndPinnedRevision(t *testing.T) {
	ctx := context.Background()
	r := repos{}
	src := r.New(t, map[string]string{"f": "one\n"})
	svnRun(t, "/", "svn", "copy", "--parents", "-m", "branch", src.URL+"/trunk", src.URL+"/branches/release/1.0")
	svnRun(t, "/", "svn", "copy", "-m", "tag", src.URL+"/trunk", src.URL+"/tags/v1")
	trunk2 := r.Commit(t, src, map[string]string{"f": "two\n"})

	cases := []struct {
		name     string
		src      scm.Source
		id, want string
	}{
		{"trunk", src, trunk2, "two\n"},
		{"branch", scm.Source{Kind: svn.Kind, URL: src.URL, Branch: "release/1.0"}, "^/branches/release/1.0@2", "one\n"},
		{"tag", scm.Source{Kind: svn.Kind, URL: src.URL, Tag: "v1"}, "^/tags/v1@3", "one\n"},
		{"pinned", scm.Source{Kind: svn.Kind, URL: src.URL, Commit: "r3"}, "^/trunk@1", "one\n"},
		{"folder", scm.Source{Kind: svn.Kind, URL: src.URL + "/branches/release#folder"}, "^/branches/release@2", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if err := (svn.SVN{}).Validate(c.src); err != nil {
				t.Fatal(err)
			}
			rev, err := svn.SVN{}.Resolve(ctx, c.src)
			if err != nil {
				t.Fatal(err)
			}
			if rev.ID != c.id {
				t.Fatalf("Resolve = %s, want %s", rev.ID, c.id)
			}
			d := newDirs(t)
			if err := (svn.SVN{}).Checkout(ctx, c.src, rev, d); err != nil {
				t.Fatal(err)
			}
			f := filepath.Join(d.Work, "f")
			if c.name == "folder" {
				f = filepath.Join(d.Work, "1.0", "f")
				c.want = "one\n"
			}
			if got := read(t, f); got != c.want {
				t.Errorf("f = %q, want %q", got, c.want)
			}
		})
	}
}

func TestUnknownBranchRevisionAndURL(t *testing.T) {
	ctx := context.Background()
	src := repos{}.New(t, map[string]string{"f": "one\n"})
	for name, c := range map[string]struct {
		src  scm.Source
		want string
	}{
		"branch":   {scm.Source{Kind: svn.Kind, URL: src.URL, Branch: "nope"}, "non-existent"},
		"tag":      {scm.Source{Kind: svn.Kind, URL: src.URL, Tag: "nope"}, "non-existent"},
		"revision": {scm.Source{Kind: svn.Kind, URL: src.URL, Commit: "99"}, "No such revision 99"},
		"url":      {repos{}.Missing(t), "Unable to open"},
	} {
		_, err := svn.SVN{}.Resolve(ctx, c.src)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: Resolve = %v, want an error with %q", name, err, c.want)
		}
	}
	// Control: the repository resolves.
	if _, err := (svn.SVN{}).Resolve(ctx, src); err != nil {
		t.Fatal(err)
	}
	// A revision the repository does not have fails the checkout.
	d := newDirs(t)
	if err := (svn.SVN{}).Checkout(ctx, src, scm.Revision{ID: "^/trunk@99"}, d); err == nil || !strings.Contains(err.Error(), "No such revision") {
		t.Errorf("Checkout of r99 = %v", err)
	}
}

func TestValidate(t *testing.T) {
	ok := []scm.Source{
		{URL: "file:///srv/svn/p"}, {URL: "https://svn.example.org/p", Branch: "release/1.0"},
		{URL: "svn+ssh://host/p", Tag: "v1"}, {URL: "svn://host/p", Commit: "r12"},
		{URL: "file:///srv/svn/p", Commit: "^/trunk@12"}, {URL: "file:///srv/svn/p/some/folder#folder"},
	}
	for _, s := range ok {
		if err := (svn.SVN{}).Validate(s); err != nil {
			t.Errorf("Validate(%+v) = %v", s, err)
		}
	}
	bad := map[string]scm.Source{
		"url":    {URL: "/srv/svn/p"},
		"branch": {URL: "file:///srv/svn/p#folder", Branch: "b"},
		"tag":    {URL: "file:///srv/svn/p", Tag: "../../etc"},
		"commit": {URL: "file:///srv/svn/p", Commit: "abc"},
	}
	for field, s := range bad {
		err := (svn.SVN{}).Validate(s)
		var fe *scm.FieldError
		if !errors.As(err, &fe) || fe.Field != field {
			t.Errorf("Validate(%+v) = %v, want an error on %s", s, err, field)
		}
	}
}

// A working copy changed in the metadata folder (edited, an unversioned
// file, its URL switched elsewhere) is replaced, and the work tree is the
// revision.
func TestDirtyWorkingCopyIsCleaned(t *testing.T) {
	ctx := context.Background()
	r := repos{}
	src := r.New(t, map[string]string{"f": "one\n", "x/g": "g\n"})
	evil := r.New(t, map[string]string{"f": "evil\n"})
	rev, err := svn.SVN{}.Resolve(ctx, src)
	if err != nil {
		t.Fatal(err)
	}
	d := newDirs(t)
	if err := (svn.SVN{}).Checkout(ctx, src, rev, d); err != nil {
		t.Fatal(err)
	}
	wc := filepath.Join(d.Meta, "wc")
	put(t, wc, map[string]string{"f": "edited\n", "junk": "junk\n"}, nil)
	if err := (svn.SVN{}).Checkout(ctx, src, rev, d); err != nil {
		t.Fatal(err)
	}
	if got := read(t, filepath.Join(d.Work, "f")); got != "one\n" {
		t.Errorf("f = %q after a checkout over an edited working copy", got)
	}
	if _, err := os.Stat(filepath.Join(d.Work, "junk")); err == nil {
		t.Errorf("an unversioned file of the working copy reached the work tree")
	}
	// The working copy switched to another repository's URL.
	if err := os.RemoveAll(wc); err != nil {
		t.Fatal(err)
	}
	svnRun(t, "/", "svn", "checkout", evil.URL+"/trunk", wc)
	if got := read(t, filepath.Join(wc, "f")); got != "evil\n" {
		t.Fatalf("control: the relocated working copy holds %q", got)
	}
	if err := (svn.SVN{}).Checkout(ctx, src, rev, d); err != nil {
		t.Fatal(err)
	}
	if got := read(t, filepath.Join(d.Work, "f")); got != "one\n" {
		t.Errorf("f = %q after a checkout over a relocated working copy", got)
	}
}

// svn:executable gives an executable file.
func TestExecutable(t *testing.T) {
	ctx := context.Background()
	r := repos{}
	src := r.New(t, map[string]string{"run.sh": "#!/bin/sh\n", "data": "d\n"})
	top := t.TempDir()
	wc := filepath.Join(top, "wc")
	svnRun(t, top, "svn", "checkout", src.URL+"/trunk", wc)
	svnRun(t, wc, "svn", "propset", "svn:executable", "on", "run.sh")
	svnRun(t, wc, "svn", "commit", "-m", "x")
	rev, err := svn.SVN{}.Resolve(ctx, src)
	if err != nil {
		t.Fatal(err)
	}
	d := newDirs(t)
	if err := (svn.SVN{}).Checkout(ctx, src, rev, d); err != nil {
		t.Fatal(err)
	}
	for name, exec := range map[string]bool{"run.sh": true, "data": false} {
		fi, err := os.Stat(filepath.Join(d.Work, name))
		if err != nil {
			t.Fatal(err)
		}
		if got := fi.Mode().Perm()&0o100 != 0; got != exec {
			t.Errorf("%s: executable = %v, want %v", name, got, exec)
		}
	}
}

// commitIn commits in a working copy of the folder u: edit changes it
// (svn mv, svn rm, new files), then every unversioned file is added and
// the whole committed with msg. It returns the new revision number.
func commitIn(t *testing.T, u, msg string, edit func(wc string)) string {
	t.Helper()
	top := t.TempDir()
	wc := filepath.Join(top, "wc")
	svnRun(t, top, "svn", "checkout", "--quiet", u, wc)
	edit(wc)
	svnRun(t, wc, "svn", "add", "--force", "--no-ignore", "--no-auto-props", ".")
	msgFile := filepath.Join(top, "msg")
	if err := os.WriteFile(msgFile, []byte(msg), 0o644); err != nil {
		t.Fatal(err)
	}
	svnRun(t, wc, "svn", "commit", "--quiet", "-F", msgFile)
	var i struct {
		Entry struct {
			Revision string `xml:"revision,attr"`
		} `xml:"entry"`
	}
	if err := xml.Unmarshal([]byte(svnRun(t, "/", "svn", "info", "--xml", "-r", "HEAD", u)), &i); err != nil {
		t.Fatal(err)
	}
	return i.Entry.Revision
}

func ids(cs []scm.Change) []string {
	var out []string
	for _, c := range cs {
		out = append(out, c.ID)
	}
	return out
}

// ResolveAt on a branch: its state at a time, and no revision before the
// branch was made (though trunk had some); an unknown branch fails with
// svn's message, not as a time with no revision.
func TestResolveAtBranch(t *testing.T) {
	ctx := context.Background()
	s := svn.SVN{}
	src := repos{}.New(t, map[string]string{"f": "one\n"}) // r1
	beforeBranch := time.Now()
	svnRun(t, "/", "svn", "copy", "-m", "branch", src.URL+"/trunk", src.URL+"/branches/b") // r2
	br := scm.Source{Kind: svn.Kind, URL: src.URL, Branch: "b"}
	commitIn(t, src.URL+"/branches/b", "on b", func(wc string) { put(t, wc, map[string]string{"f": "b1\n"}, nil) }) // r3
	between := time.Now()
	commitIn(t, src.URL+"/branches/b", "on b again", func(wc string) { put(t, wc, map[string]string{"f": "b2\n"}, nil) }) // r4
	repos{}.Commit(t, src, map[string]string{"f": "trunk\n"})                                                             // r5

	rev, err := s.ResolveAt(ctx, br, between, newDirs(t))
	if err != nil || rev.ID != "^/branches/b@3" {
		t.Fatalf("ResolveAt(branch, between r3 and r4) = %v, %v; want ^/branches/b@3", rev, err)
	}
	// The same ID as Resolve of that revision, and it checks out.
	pinned := br
	pinned.Commit = "4"
	if r, err := s.Resolve(ctx, pinned); err != nil || r.ID != "^/branches/b@4" {
		t.Fatalf("control: Resolve(branch at r4) = %v, %v", r, err)
	}
	pinned.Commit = "3"
	if r, err := s.Resolve(ctx, pinned); err != nil || r != rev {
		t.Errorf("Resolve(branch at r3) = %v, %v; ResolveAt gave %v", r, err, rev)
	}
	d := newDirs(t)
	if err := s.Checkout(ctx, br, rev, d); err != nil {
		t.Fatal(err)
	}
	if got := read(t, filepath.Join(d.Work, "f")); got != "b1\n" {
		t.Errorf("f = %q at ResolveAt's revision, want b1", got)
	}
	if rev, err := s.ResolveAt(ctx, br, time.Now().Add(time.Hour), newDirs(t)); err != nil || rev.ID != "^/branches/b@4" {
		t.Errorf("ResolveAt(branch, an hour ahead) = %v, %v; want ^/branches/b@4", rev, err)
	}
	// Trunk had r1 then; the branch did not exist.
	if rev, err := s.ResolveAt(ctx, src, beforeBranch, newDirs(t)); err != nil || rev.ID != "^/trunk@1" {
		t.Errorf("control: ResolveAt(trunk, before the branch) = %v, %v; want ^/trunk@1", rev, err)
	}
	_, err = s.ResolveAt(ctx, br, beforeBranch, newDirs(t))
	if !errors.Is(err, scm.ErrNoRevisionAt) || !strings.Contains(err.Error(), "non-existent in revision 1") {
		t.Errorf("ResolveAt(branch, before it was made) = %v; want %v with svn's message", err, scm.ErrNoRevisionAt)
	}
	if _, err := s.ResolveAt(ctx, br, time.Time{}, newDirs(t)); !errors.Is(err, scm.ErrNoRevisionAt) {
		t.Errorf("ResolveAt(branch, year 1) = %v; want %v", err, scm.ErrNoRevisionAt)
	}
	// A tag is its pin, whatever the time.
	svnRun(t, "/", "svn", "copy", "-m", "tag", src.URL+"/trunk", src.URL+"/tags/v1") // r6
	if rev, err := s.ResolveAt(ctx, scm.Source{Kind: svn.Kind, URL: src.URL, Tag: "v1"}, beforeBranch, newDirs(t)); err != nil || rev.ID != "^/tags/v1@6" {
		t.Errorf("ResolveAt(tag, before it was made) = %v, %v; want the tag ^/tags/v1@6", rev, err)
	}

	nope := scm.Source{Kind: svn.Kind, URL: src.URL, Branch: "nope"}
	_, err = s.ResolveAt(ctx, nope, time.Now(), newDirs(t))
	if err == nil || errors.Is(err, scm.ErrNoRevisionAt) || !strings.Contains(err.Error(), "non-existent") {
		t.Errorf("ResolveAt(unknown branch) = %v; want svn's message, not %v", err, scm.ErrNoRevisionAt)
	}
	if _, err := s.ResolveAt(ctx, repos{}.Missing(t), time.Now(), newDirs(t)); err == nil || errors.Is(err, scm.ErrNoRevisionAt) || !strings.Contains(err.Error(), "Unable to open") {
		t.Errorf("ResolveAt(missing repository) = %v; want svn's message", err)
	}
}

// Changes on a branch follow it through its copy from trunk, with paths
// relative to the folder each commit was in; a moved or removed folder
// lists its files; a commit on trunk after the branch is not the
// branch's.
func TestChangesAcrossBranchAndMoves(t *testing.T) {
	ctx := context.Background()
	s := svn.SVN{}
	src := repos{}.New(t, map[string]string{"f": "one\n", "sub/g": "g\n", "sub/deep/h": "h\n"}) // r1
	repos{}.Commit(t, src, map[string]string{"f": "two\n"})                                     // r2
	svnRun(t, "/", "svn", "copy", "-m", "make b", src.URL+"/trunk", src.URL+"/branches/b")      // r3
	b := src.URL + "/branches/b"
	commitIn(t, b, "move sub", func(wc string) { // r4
		put(t, wc, map[string]string{"f": "b\n"}, nil)
		svnRun(t, wc, "svn", "mv", "sub", "moved")
	})
	repos{}.Commit(t, src, map[string]string{"trunk-only": "x\n"}) // r5
	commitIn(t, b, "remove moved/deep", func(wc string) {          // r6
		svnRun(t, wc, "svn", "rm", "moved/deep")
	})
	br := scm.Source{Kind: svn.Kind, URL: src.URL, Branch: "b"}
	to, err := s.Resolve(ctx, br)
	if err != nil || to.ID != "^/branches/b@6" {
		t.Fatalf("Resolve(branch) = %v, %v", to, err)
	}
	d := newDirs(t)
	if err := s.Checkout(ctx, br, to, d); err != nil {
		t.Fatal(err)
	}
	cs, err := s.Changes(ctx, br, d, scm.Revision{}, to, 10)
	if err != nil {
		t.Fatal(err)
	}
	want := []struct {
		id    string
		files []string
	}{
		{"r6", []string{"moved/deep/h"}},
		{"r4", []string{"f", "moved/deep/h", "moved/g", "sub/deep/h", "sub/g"}},
		{"r3", nil},
		{"r2", []string{"f"}},
		{"r1", []string{"f", "sub/deep/h", "sub/g"}},
	}
	if len(cs) != len(want) {
		t.Fatalf("Changes(none, branch) = %q, want %d changes", ids(cs), len(want))
	}
	for i, w := range want {
		if cs[i].ID != w.id || !slices.Equal(cs[i].Files, w.files) {
			t.Errorf("change %d = %s %q, want %s %q", i, cs[i].ID, cs[i].Files, w.id, w.files)
		}
	}
	// Since the branch was made: the two commits on it.
	if cs, err := s.Changes(ctx, br, d, scm.Revision{ID: "^/branches/b@3"}, to, 10); err != nil || !slices.Equal(ids(cs), []string{"r6", "r4"}) {
		t.Errorf("Changes(b@3, b@6) = %q, %v; want r6 r4", ids(cs), err)
	}
	// From a revision of another folder, or a younger one: the newest.
	for _, from := range []string{"^/trunk@5", "^/branches/b@9"} {
		if cs, err := s.Changes(ctx, br, d, scm.Revision{ID: from}, to, 2); err != nil || !slices.Equal(ids(cs), []string{"r6", "r4"}) {
			t.Errorf("Changes(%s, b@6, 2) = %q, %v; want the newest two, r6 r4", from, ids(cs), err)
		}
	}
	// The trunk's own: r5 is there, the branch's commits are not.
	trunk, err := s.Resolve(ctx, src)
	if err != nil {
		t.Fatal(err)
	}
	if cs, err := s.Changes(ctx, src, d, scm.Revision{}, trunk, 10); err != nil || !slices.Equal(ids(cs), []string{"r5", "r2", "r1"}) {
		t.Errorf("Changes(none, trunk) = %q, %v; want r5 r2 r1", ids(cs), err)
	}
}

// The subject is a message's first line; a hostile message (control
// characters, markup, a very long line) is data: svn's XML writes control
// characters as ?\NNN, and the subject is cut.
func TestChangesMessages(t *testing.T) {
	ctx := context.Background()
	s := svn.SVN{}
	src := repos{}.New(t, map[string]string{"f": "one\n"})
	trunk := src.URL + "/trunk"
	long := strings.Repeat("x", 100000)
	msgs := []string{
		"subject line\n\nbody, second paragraph\nmore\n",
		"\x1b[31mred\x1b[0m \x01 </msg><msg>forged</msg> &amp;\nsecond line",
		long + "\nsecond",
	}
	for i, m := range msgs {
		commitIn(t, trunk, m, func(wc string) { put(t, wc, map[string]string{"f": fmt.Sprint(i)}, nil) })
	}
	// Control: the repository holds the raw bytes.
	if out := svnRun(t, "/", "svn", "log", "-r", "3", trunk); !strings.Contains(out, "\x1b[31mred") {
		t.Fatalf("control: svn log does not show the escape character: %q", out)
	}
	to, err := s.Resolve(ctx, src)
	if err != nil {
		t.Fatal(err)
	}
	d := newDirs(t)
	if err := s.Checkout(ctx, src, to, d); err != nil {
		t.Fatal(err)
	}
	cs, err := s.Changes(ctx, src, d, scm.Revision{ID: "^/trunk@1"}, to, 10)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{long[:200] + "…", `?\027[31mred?\027[0m ?\001 </msg><msg>forged</msg> &amp;`, "subject line"}
	if len(cs) != 3 {
		t.Fatalf("Changes = %q, want 3", ids(cs))
	}
	for i, c := range cs {
		if c.Subject != want[i] {
			t.Errorf("%s: subject %q, want %q", c.ID, c.Subject, want[i])
		}
		if !slices.Equal(c.Files, []string{"f"}) || c.Author == "" {
			t.Errorf("%s: files %q, author %q", c.ID, c.Files, c.Author)
		}
	}
}
