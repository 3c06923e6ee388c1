package dir_test

import (
	"context"
	"errors"
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
	// In this order: the target changes the link made before it.
	for _, c := range []struct {
		name   string
		change func()
	}{
		{"content", func() { os.WriteFile(filepath.Join(root, "a"), []byte("z\n"), 0o644) }},
		{"mode", func() { os.Chmod(filepath.Join(root, "a"), 0o755) }},
		{"name", func() { os.Rename(filepath.Join(root, "d/b"), filepath.Join(root, "d/c")) }},
		{"link", func() { os.Symlink("t1", filepath.Join(root, "l")) }},
		{"target", func() { os.Remove(filepath.Join(root, "l")); os.Symlink("t2", filepath.Join(root, "l")) }},
		{"folder", func() { os.Mkdir(filepath.Join(root, "empty"), 0o755) }},
	} {
		c.change()
		h := hash(t, src)
		if prev, dup := seen[h]; dup {
			t.Errorf("changing the %s left the hash as after %s", c.name, prev)
		}
		seen[h] = c.name
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

// setTimes sets the modification time of everything in root, root too,
// to when.
func setTimes(t *testing.T, root string, when time.Time) {
	t.Helper()
	err := filepath.WalkDir(root, func(p string, _ os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		return os.Chtimes(p, when, when)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// A folder's only revision is what it holds now, and it is the revision
// at a time only if nothing in it (file, folder, the folder itself) was
// modified after it; otherwise the error says there is none, and names
// the entry modified last, quoted (a newline in a name is data).
func TestResolveAt(t *testing.T) {
	ctx := context.Background()
	src := folders{}.New(t, map[string]string{"a": "a\n", "d/b": "b\n"})
	root := dir.LocalPath(src.URL)
	setTimes(t, root, fixed)
	d := newDirs(t)
	resolveAt := func(at time.Time) (scm.Revision, error) { return dir.Dir{}.ResolveAt(ctx, src, at, d) }
	noRevision := func(what string, at time.Time, names string) {
		t.Helper()
		rev, err := resolveAt(at)
		if !errors.Is(err, scm.ErrNoRevisionAt) || !strings.Contains(err.Error(), names) {
			t.Errorf("%s: ResolveAt(%v) = %v, %v; want ErrNoRevisionAt naming %s", what, at, rev, err, names)
		}
	}
	now := func() scm.Revision {
		t.Helper()
		rev, err := dir.Dir{}.Resolve(ctx, src)
		if err != nil {
			t.Fatal(err)
		}
		return rev
	}
	first := now()
	for _, at := range []time.Time{fixed, fixed.Add(time.Hour), time.Now()} {
		if rev, err := resolveAt(at); err != nil || rev != first {
			t.Errorf("ResolveAt(%v) = %v, %v; want what Resolve gives, %v", at, rev, err, first)
		}
	}
	noRevision("before everything", fixed.Add(-time.Second), `"."`)

	// A file changed later: the folder at a time between has no
	// revision; at or after the change it has the new one.
	os.WriteFile(filepath.Join(root, "d", "b"), []byte("b2\n"), 0o644)
	os.Chtimes(filepath.Join(root, "d", "b"), fixed.Add(10*time.Second), fixed.Add(10*time.Second))
	noRevision("before a file's change", fixed.Add(5*time.Second), `"d/b"`)
	second := now()
	if rev, err := resolveAt(fixed.Add(10 * time.Second)); err != nil || rev != second || second == first {
		t.Errorf("ResolveAt(at the change) = %v, %v; want the new revision %v", rev, err, second)
	}

	// A file removed shows in its folder's time; a name with a newline
	// is quoted in the error.
	os.Remove(filepath.Join(root, "a"))
	os.Chtimes(root, fixed.Add(20*time.Second), fixed.Add(20*time.Second))
	noRevision("before a removal", fixed.Add(15*time.Second), `"."`)
	os.WriteFile(filepath.Join(root, "d", "new\nline"), nil, 0o644)
	os.Chtimes(filepath.Join(root, "d"), fixed, fixed)
	os.Chtimes(filepath.Join(root, "d", "new\nline"), fixed.Add(30*time.Second), fixed.Add(30*time.Second))
	noRevision("before a new file", fixed.Add(25*time.Second), `"d/new\nline"`)
	if rev, err := resolveAt(time.Now()); err != nil || rev != now() {
		t.Errorf("ResolveAt(now) = %v, %v; want %v", rev, err, now())
	}

	if _, err := os.Stat(d.Meta); err == nil {
		t.Errorf("ResolveAt made the metadata folder")
	}
	bad := src
	bad.Branch = "main"
	if _, err := (dir.Dir{}).ResolveAt(ctx, bad, time.Now(), d); err == nil || !strings.Contains(err.Error(), "branch") {
		t.Errorf("ResolveAt of a source with a branch = %v, want the field error", err)
	}
}

// A plain folder keeps no history: Changes lists none, whatever it is
// asked.
func TestChangesNone(t *testing.T) {
	ctx := context.Background()
	src := folders{}.New(t, map[string]string{"a": "a\n"})
	rev, err := dir.Dir{}.Resolve(ctx, src)
	if err != nil {
		t.Fatal(err)
	}
	d := newDirs(t)
	if err := (dir.Dir{}).Checkout(ctx, src, rev, d); err != nil {
		t.Fatal(err)
	}
	for _, from := range []scm.Revision{{}, rev, {ID: strings.Repeat("0", 64)}} {
		if cs, err := (dir.Dir{}).Changes(ctx, src, d, from, rev, 10); cs != nil || err != nil {
			t.Errorf("Changes(%q) = %+v, %v; want none", from.ID, cs, err)
		}
	}
}
