package dir_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/autobuild/autobuild/scm"
	"github.com/autobuild/autobuild/scm/dir"
	"github.com/autobuild/autobuild/scm/scmtest"
)

// folders makes plain folders; a "commit" changes the folder in place.
type folders struct{}

func (folders) Historyless() {}

func put(t *testing.T, root string, files, links map[string]string, remove []string) {
	t.Helper()
	for _, p := range remove {
		if err := os.RemoveAll(filepath.Join(root, filepath.FromSlash(p))); err != nil {
			t.Fatal(err)
		}
	}
	for p, body := range files {
		full := filepath.Join(root, filepath.FromSlash(p))
		os.MkdirAll(filepath.Dir(full), 0o755)
		os.RemoveAll(full)
		if err := os.WriteFile(full, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for p, target := range links {
		full := filepath.Join(root, filepath.FromSlash(p))
		os.MkdirAll(filepath.Dir(full), 0o755)
		os.RemoveAll(full)
		if err := os.Symlink(target, full); err != nil {
			t.Fatal(err)
		}
	}
}

func hash(t *testing.T, src scm.Source) string {
	t.Helper()
	h, err := dir.Hash(dir.LocalPath(src.URL), nil)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func (f folders) New(t *testing.T, files map[string]string) scm.Source {
	return f.NewLinks(t, files, nil)
}

func (folders) NewLinks(t *testing.T, files, links map[string]string) scm.Source {
	root := filepath.Join(t.TempDir(), "src")
	os.Mkdir(root, 0o755)
	put(t, root, files, links, nil)
	return scm.Source{Kind: dir.Kind, URL: root}
}

func (f folders) Commit(t *testing.T, src scm.Source, files map[string]string) string {
	return f.CommitLinks(t, src, files, nil, nil)
}

func (folders) CommitLinks(t *testing.T, src scm.Source, files, links map[string]string, remove []string) string {
	put(t, dir.LocalPath(src.URL), files, links, remove)
	return hash(t, src)
}

func (folders) Missing(t *testing.T) scm.Source {
	return scm.Source{Kind: dir.Kind, URL: filepath.Join(t.TempDir(), "absent")}
}

func TestConformance(t *testing.T) { scmtest.Run(t, dir.Dir{}, folders{}) }

func newDirs(t *testing.T) scm.Dirs {
	top := t.TempDir()
	return scm.Dirs{Work: filepath.Join(top, "work"), Meta: filepath.Join(top, "meta")}
}

func TestValidate(t *testing.T) {
	for _, c := range []struct {
		src   scm.Source
		field string
	}{
		{scm.Source{URL: "/srv/x"}, ""},
		{scm.Source{URL: "file:///srv/x"}, ""},
		{scm.Source{URL: "https://example.org/x"}, "url"},
		{scm.Source{URL: "relative/x"}, "url"},
		{scm.Source{URL: "/srv/x", Branch: "main"}, "branch"},
		{scm.Source{URL: "/srv/x", Tag: "v1"}, "tag"},
		{scm.Source{URL: "/srv/x", Commit: strings.Repeat("a", 64)}, "commit"},
	} {
		err := dir.Dir{}.Validate(c.src)
		var fe *scm.FieldError
		switch {
		case c.field == "" && err != nil:
			t.Errorf("Validate(%+v) = %v", c.src, err)
		case c.field != "" && (err == nil || !asField(err, &fe) || fe.Field != c.field):
			t.Errorf("Validate(%+v) = %v, want an error on %s", c.src, err, c.field)
		}
	}
}

func asField(err error, fe **scm.FieldError) bool {
	e, ok := err.(*scm.FieldError)
	*fe = e
	return ok
}

// What the hash covers: content, names, modes and symlink texts change
// it; a modification time does not.
func TestHashCovers(t *testing.T) {
	src := folders{}.New(t, map[string]string{"a": "x\n", "d/b": "y\n"})
	root := dir.LocalPath(src.URL)
	first := hash(t, src)
	os.Chtimes(filepath.Join(root, "a"), fixed, fixed)
	if h := hash(t, src); h != first {
		t.Errorf("a modification time changed the hash")
	}
	seen := map[string]string{first: "first"}
	for name, change := range map[string]func(){
		"content": func() { os.WriteFile(filepath.Join(root, "a"), []byte("z\n"), 0o644) },
		"mode":    func() { os.Chmod(filepath.Join(root, "a"), 0o755) },
		"name":    func() { os.Rename(filepath.Join(root, "d/b"), filepath.Join(root, "d/c")) },
		"link":    func() { os.Symlink("t1", filepath.Join(root, "l")) },
		"target":  func() { os.Remove(filepath.Join(root, "l")); os.Symlink("t2", filepath.Join(root, "l")) },
		"folder":  func() { os.Mkdir(filepath.Join(root, "empty"), 0o755) },
	} {
		change()
		h := hash(t, src)
		if prev, dup := seen[h]; dup {
			t.Errorf("changing the %s left the hash as after %s", name, prev)
		}
		seen[h] = name
	}
}

var fixed = mustTime("2001-02-03T04:05:06Z")

// The folder changed between Resolve and Checkout: the checkout fails and
// records no revision.
func TestChangedSinceResolveFails(t *testing.T) {
	src := folders{}.New(t, map[string]string{"a": "one\n"})
	ctx := context.Background()
	rev, err := dir.Dir{}.Resolve(ctx, src)
	if err != nil {
		t.Fatal(err)
	}
	d := newDirs(t)
	// Control: unchanged, it checks out.
	if err := (dir.Dir{}).Checkout(ctx, src, rev, d); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir.LocalPath(src.URL), "a"), []byte("two\n"), 0o644)
	err = dir.Dir{}.Checkout(ctx, src, rev, d)
	if err == nil || !strings.Contains(err.Error(), "changed since it was resolved") {
		t.Fatalf("Checkout after a change = %v", err)
	}
	if cur, err := (dir.Dir{}).Current(d); err == nil {
		t.Errorf("Current after a failed checkout = %v", cur)
	}
}

// A symlink in the folder that points out of it is copied as its text:
// nothing outside is read (a link to a secret) nor followed (a link to a
// folder).
func TestLinksOutOfTheFolderAreNotFollowed(t *testing.T) {
	secret := filepath.Join(t.TempDir(), "secret")
	os.WriteFile(secret, []byte("secret\n"), 0o600)
	outside := filepath.Dir(secret)
	src := folders{}.NewLinks(t, map[string]string{"a": "a\n"}, map[string]string{"s": secret, "o": outside, "up": "../.."})
	ctx := context.Background()
	rev, err := dir.Dir{}.Resolve(ctx, src)
	if err != nil {
		t.Fatal(err)
	}
	d := newDirs(t)
	if err := (dir.Dir{}).Checkout(ctx, src, rev, d); err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]string{"s": secret, "o": outside, "up": "../.."} {
		fi, err := os.Lstat(filepath.Join(d.Work, name))
		if err != nil || fi.Mode()&os.ModeSymlink == 0 {
			t.Errorf("%s: %v, %v: not a symlink", name, fi, err)
			continue
		}
		if got, _ := os.Readlink(filepath.Join(d.Work, name)); got != want {
			t.Errorf("%s -> %q, want %q", name, got, want)
		}
	}
	// The source folder itself behind a symlink in a parent is fine, but
	// a special file in it is refused.
	if err := syscall.Mkfifo(filepath.Join(dir.LocalPath(src.URL), "fifo"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := (dir.Dir{}).Resolve(ctx, src); err == nil || !strings.Contains(err.Error(), "fifo") {
		t.Errorf("Resolve of a folder with a pipe = %v", err)
	}
}

// A build that took its owner's rights from folders and files does not
// stop the next checkout.
func TestUnwritableWorkTreeIsRestored(t *testing.T) {
	src := folders{}.New(t, map[string]string{"a": "a\n", "d/b": "b\n"})
	ctx := context.Background()
	rev, _ := dir.Dir{}.Resolve(ctx, src)
	d := newDirs(t)
	if err := (dir.Dir{}).Checkout(ctx, src, rev, d); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(d.Work, "d", "junk"), []byte("x"), 0o644)
	os.Chmod(filepath.Join(d.Work, "a"), 0)
	os.Chmod(filepath.Join(d.Work, "d"), 0o500)
	if err := (dir.Dir{}).Checkout(ctx, src, rev, d); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(filepath.Join(d.Work, "d", "junk")); err == nil {
		t.Errorf("junk survived")
	}
	if fi, err := os.Stat(filepath.Join(d.Work, "a")); err != nil || fi.Mode().Perm() != 0o644 {
		t.Errorf("a: %v %v", fi, err)
	}
}

func mustTime(s string) time.Time {
	tm, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return tm
}
