package fossil_test

import (
	"context"
	"crypto/sha256"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/autobuild/autobuild/internal/testutil"
	"github.com/autobuild/autobuild/scm"
	"github.com/autobuild/autobuild/scm/fossil"
	"github.com/autobuild/autobuild/scm/scmtest"
)

func need(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("fossil"); err != nil {
		testutil.Skip(t, "fossil is not installed (Debian package fossil)")
	}
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
