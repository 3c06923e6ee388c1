package darcs_test

import (
	"context"
	"encoding/xml"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/autobuild/autobuild/internal/testutil"
	"github.com/autobuild/autobuild/scm"
	"github.com/autobuild/autobuild/scm/darcs"
	"github.com/autobuild/autobuild/scm/dir"
	"github.com/autobuild/autobuild/scm/scmtest"
)

func need(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("darcs"); err != nil {
		testutil.Skip(t, "darcs is not installed (Debian package darcs)")
	}
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

// last is the hash of the newest patch of repo.
func last(t *testing.T, repo string) string {
	t.Helper()
	var cl struct {
		Patches []struct {
			Hash string `xml:"hash,attr"`
		} `xml:"patch"`
	}
	if err := xml.Unmarshal([]byte(dcs(t, repo, "log", "--last=1", "--xml-output")), &cl); err != nil || len(cl.Patches) != 1 {
		t.Fatalf("darcs log: %v %v", cl, err)
	}
	return cl.Patches[0].Hash
}

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
