package scmtest

import (
	"context"
	"fmt"
	"io/fs"
	"maps"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/autobuild/autobuild/scm"
)

// Repos makes real repositories of one kind for the suite.
type Repos interface {
	// New makes a repository with files (slash paths to contents)
	// committed on its default branch, and returns the Source a module
	// would use: Kind and URL set, no branch, tag or commit.
	New(t *testing.T, files map[string]string) scm.Source
	// Commit commits files (added or changed) on the default branch of
	// src's repository, and returns the new revision's ID.
	Commit(t *testing.T, src scm.Source, files map[string]string) string
	// Missing returns a Source of this kind whose repository does not
	// exist.
	Missing(t *testing.T) scm.Source
}

// base is the first commit of every repository: files at the top and
// nested, one without a final newline, and a dot-file that is source, not
// metadata.
var base = map[string]string{
	"README":          "read me\n",
	"src/main.txt":    "main one\n",
	"src/lib/lib.txt": "no final newline",
	".hidden/conf":    "dot folders are source too\n",
}

// second changes a file of base and adds one in a new folder.
var second = map[string]string{
	"src/main.txt":  "main two\n",
	"added/new.txt": "new in the second commit\n",
}

// Run runs the conformance suite of s against repositories from repos.
func Run(t *testing.T, s scm.SCM, repos Repos) {
	ctx := context.Background()

	t.Run("ValidateAcceptsNewSource", func(t *testing.T) {
		src := repos.New(t, base)
		if err := s.Validate(src); err != nil {
			t.Fatalf("Validate(%+v) = %v", src, err)
		}
	})

	t.Run("ResolveThenCheckoutFreshFolder", func(t *testing.T) {
		src := repos.New(t, base)
		dir := emptyDir(t)
		if s.HasCheckout(dir) {
			t.Errorf("HasCheckout(empty folder) = true")
		}
		if s.HasCheckout(filepath.Join(dir, "absent")) {
			t.Errorf("HasCheckout(absent folder) = true")
		}
		if rev, err := s.Current(dir); err == nil {
			t.Errorf("Current(empty folder) = %v, want an error", rev)
		}
		rev := resolve(t, s, src)
		checkout(t, s, src, rev, dir)
		assertTree(t, s, dir, base)
		assertCurrent(t, s, dir, rev)
		if !s.HasCheckout(dir) {
			t.Errorf("HasCheckout(checked out folder) = false")
		}
	})

	t.Run("MetadataIsRecognised", func(t *testing.T) {
		src := repos.New(t, base)
		dir := emptyDir(t)
		checkout(t, s, src, resolve(t, s, src), dir)
		assertTree(t, s, dir, base)
		committed := map[string]bool{}
		for name := range base {
			committed[strings.SplitN(name, "/", 2)[0]] = true
		}
		for name := range committed {
			if s.IsMetadata(name) {
				t.Errorf("IsMetadata(%q) = true for a committed source entry", name)
			}
		}
		entries, err := os.ReadDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range entries {
			if !committed[e.Name()] && !s.IsMetadata(e.Name()) {
				t.Errorf("top-level %q of the checkout is neither committed nor IsMetadata", e.Name())
			}
		}
	})

	t.Run("NewCommitResolvesAndUpdates", func(t *testing.T) {
		src := repos.New(t, base)
		dir := emptyDir(t)
		old := resolve(t, s, src)
		checkout(t, s, src, old, dir)
		id := repos.Commit(t, src, second)
		rev := resolve(t, s, src)
		if rev.ID == old.ID {
			t.Fatalf("Resolve after a new commit = %q, the old revision", rev.ID)
		}
		if rev.ID != id {
			t.Errorf("Resolve = %q, want the new commit %q", rev.ID, id)
		}
		checkout(t, s, src, rev, dir)
		assertTree(t, s, dir, merge(base, second))
		assertCurrent(t, s, dir, rev)
	})

	t.Run("CheckoutIsIdempotentAndCleans", func(t *testing.T) {
		src := repos.New(t, base)
		dir := emptyDir(t)
		rev := resolve(t, s, src)
		checkout(t, s, src, rev, dir)

		// Again on the untouched folder: nothing changes, not even a
		// file's modification time (the engine fingerprints the tree).
		before := modTimes(t, s, dir)
		time.Sleep(50 * time.Millisecond) // past a coarse clock's tick
		checkout(t, s, src, rev, dir)
		assertTree(t, s, dir, base)
		for name, mt := range modTimes(t, s, dir) {
			if !mt.Equal(before[name]) {
				t.Errorf("Checkout of the revision the folder holds rewrote %s (modified %v, was %v)", name, mt, before[name])
			}
		}

		// Damage of every kind a build does, then the same revision.
		write(t, dir, "README", "edited by a build\n")
		write(t, dir, "src/lib/lib.txt", "")
		if err := os.Remove(filepath.Join(dir, "src", "main.txt")); err != nil {
			t.Fatal(err)
		}
		write(t, dir, "junk", "untracked\n")
		write(t, dir, "src/lib/untracked.o", "untracked in a tracked folder\n")
		write(t, dir, "out/obj/x.o", "untracked folder\n")
		if err := os.MkdirAll(filepath.Join(dir, "empty", "folder"), 0o755); err != nil {
			t.Fatal(err)
		}
		checkout(t, s, src, rev, dir)
		assertTree(t, s, dir, base)
		assertCurrent(t, s, dir, rev)
	})

	t.Run("CheckoutOlderRevision", func(t *testing.T) {
		src := repos.New(t, base)
		dir := emptyDir(t)
		old := resolve(t, s, src)
		repos.Commit(t, src, second)
		rev := resolve(t, s, src)
		checkout(t, s, src, rev, dir)
		assertTree(t, s, dir, merge(base, second))

		checkout(t, s, src, old, dir)
		assertTree(t, s, dir, base)
		assertCurrent(t, s, dir, old)

		// And forwards again.
		checkout(t, s, src, rev, dir)
		assertTree(t, s, dir, merge(base, second))
		assertCurrent(t, s, dir, rev)
	})

	t.Run("PinnedCommit", func(t *testing.T) {
		src := repos.New(t, base)
		old := resolve(t, s, src)
		repos.Commit(t, src, second)
		pinned := src
		pinned.Commit = old.ID
		if err := s.Validate(pinned); err != nil {
			t.Fatalf("Validate of a Source pinned to a resolved revision: %v", err)
		}
		if rev := resolve(t, s, pinned); rev != old {
			t.Fatalf("Resolve of commit %s = %v", old.ID, rev)
		}
		dir := emptyDir(t)
		checkout(t, s, pinned, old, dir)
		assertTree(t, s, dir, base)
		assertCurrent(t, s, dir, old)
	})

	t.Run("MissingRepository", func(t *testing.T) {
		missing := repos.Missing(t)
		if rev, err := s.Resolve(ctx, missing); err == nil {
			t.Errorf("Resolve(%s) = %v, want an error", missing.URL, rev)
		}
		// A well-formed revision, from a repository that does exist.
		good := repos.New(t, base)
		rev := resolve(t, s, good)
		dir := emptyDir(t)
		if err := s.Checkout(ctx, missing, rev, dir); err == nil {
			t.Fatalf("Checkout(%s) into a fresh folder succeeded", missing.URL)
		}
		if cur, err := s.Current(dir); err == nil && cur == rev {
			t.Errorf("after a failed Checkout, Current = %v, the revision that was not checked out", cur)
		}
		// The folder is not spoilt: the right source still checks out.
		checkout(t, s, good, rev, dir)
		assertTree(t, s, dir, base)
		assertCurrent(t, s, dir, rev)
	})

	t.Run("InputsReachLocalRepository", func(t *testing.T) {
		src := repos.New(t, base)
		local := localPath(src.URL)
		if local == "" {
			t.Skipf("%s is not a local path", src.URL)
		}
		inputs := s.Inputs(src)
		for _, p := range inputs {
			if !filepath.IsAbs(p) {
				t.Errorf("Inputs has relative path %q", p)
				continue
			}
			if rel, err := filepath.Rel(p, local); err == nil && rel != ".." && !strings.HasPrefix(rel, "../") {
				if _, err := os.Stat(p); err != nil {
					t.Errorf("Inputs names %s: %v", p, err)
				}
				return
			}
		}
		t.Errorf("Inputs(%s) = %q: none is the repository's folder or a parent of it", src.URL, inputs)
	})

	t.Run("ConcurrentCheckouts", func(t *testing.T) {
		src := repos.New(t, base)
		rev := resolve(t, s, src)
		dirs := []string{emptyDir(t), emptyDir(t)}
		errs := make([]error, len(dirs))
		var wg sync.WaitGroup
		for i, dir := range dirs {
			wg.Go(func() { errs[i] = s.Checkout(ctx, src, rev, dir) })
		}
		wg.Wait()
		for i, dir := range dirs {
			if errs[i] != nil {
				t.Errorf("Checkout into %s: %v", dir, errs[i])
				continue
			}
			assertTree(t, s, dir, base)
			assertCurrent(t, s, dir, rev)
		}
	})
}

// localPath is the folder url names when it is a local path or a file://
// URL, and "" otherwise.
func localPath(u string) string {
	if strings.HasPrefix(u, "file://") {
		if p, err := url.Parse(u); err == nil {
			return filepath.Clean(p.Path)
		}
		return ""
	}
	if !strings.Contains(u, "://") && filepath.IsAbs(u) {
		return filepath.Clean(u)
	}
	return ""
}

func emptyDir(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "work")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

func resolve(t *testing.T, s scm.SCM, src scm.Source) scm.Revision {
	t.Helper()
	rev, err := s.Resolve(context.Background(), src)
	if err != nil {
		t.Fatalf("Resolve(%+v): %v", src, err)
	}
	if rev.ID == "" {
		t.Fatalf("Resolve(%+v) returned an empty revision", src)
	}
	return rev
}

func checkout(t *testing.T, s scm.SCM, src scm.Source, rev scm.Revision, dir string) {
	t.Helper()
	if err := s.Checkout(context.Background(), src, rev, dir); err != nil {
		t.Fatalf("Checkout(%s, %s): %v", src.URL, rev.ID, err)
	}
}

func assertCurrent(t *testing.T, s scm.SCM, dir string, want scm.Revision) {
	t.Helper()
	if cur, err := s.Current(dir); err != nil || cur != want {
		t.Errorf("Current = %v, %v; want %v", cur, err, want)
	}
}

func write(t *testing.T, dir, name, body string) {
	t.Helper()
	p := filepath.Join(dir, filepath.FromSlash(name))
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
}

func merge(ms ...map[string]string) map[string]string {
	out := map[string]string{}
	for _, m := range ms {
		maps.Copy(out, m)
	}
	return out
}

// walk calls fn for every path of dir's work tree, by slash path relative
// to dir, leaving out the SCM's top-level metadata (as the engine's
// fingerprint does).
func walk(t *testing.T, s scm.SCM, dir string, fn func(rel string, d fs.DirEntry, p string)) {
	t.Helper()
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p == dir {
			return nil
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		if filepath.Dir(p) == dir && s.IsMetadata(rel) {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		fn(filepath.ToSlash(rel), d, p)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// tree is dir's work tree: each file with its content, and each folder
// with a trailing slash.
func tree(t *testing.T, s scm.SCM, dir string) map[string]string {
	t.Helper()
	got := map[string]string{}
	walk(t, s, dir, func(rel string, d fs.DirEntry, p string) {
		switch {
		case d.IsDir():
			got[rel+"/"] = ""
		case d.Type().IsRegular():
			b, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			got[rel] = string(b)
		default:
			got[rel] = fmt.Sprintf("<%v>", d.Type())
		}
	})
	return got
}

// want is the work tree that holds exactly files.
func want(files map[string]string) map[string]string {
	w := map[string]string{}
	for name, body := range files {
		w[name] = body
		for d := path.Dir(name); d != "."; d = path.Dir(d) {
			w[d+"/"] = ""
		}
	}
	return w
}

func assertTree(t *testing.T, s scm.SCM, dir string, files map[string]string) {
	t.Helper()
	got, exp := tree(t, s, dir), want(files)
	var diffs []string
	for _, k := range slices.Sorted(maps.Keys(merge(got, exp))) {
		g, inGot := got[k]
		w, inExp := exp[k]
		switch {
		case !inGot:
			diffs = append(diffs, "missing "+k)
		case !inExp:
			diffs = append(diffs, "unexpected "+k)
		case g != w:
			diffs = append(diffs, fmt.Sprintf("%s = %q, want %q", k, g, w))
		}
	}
	if len(diffs) > 0 {
		t.Errorf("work tree %s is not the commit:\n\t%s", dir, strings.Join(diffs, "\n\t"))
	}
}

// modTimes are the modification times of dir's work tree.
func modTimes(t *testing.T, s scm.SCM, dir string) map[string]time.Time {
	t.Helper()
	m := map[string]time.Time{}
	walk(t, s, dir, func(rel string, d fs.DirEntry, _ string) {
		if d.IsDir() {
			return // a folder's time changes with its entries' (temp files)
		}
		info, err := d.Info()
		if err != nil {
			t.Fatal(err)
		}
		m[rel] = info.ModTime()
	})
	return m
}
