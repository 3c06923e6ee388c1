package scmtest

import (
	"cmp"
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
	// NewLinks makes a repository like New, with symlinks committed
	// beside the files: each maps a slash path to the link's target,
	// exactly the text the link holds.
	NewLinks(t *testing.T, files, links map[string]string) scm.Source
	// CommitLinks is Commit with symlinks: files and links (added or
	// changed) replace whatever their paths held, and remove names paths
	// to delete.
	CommitLinks(t *testing.T, src scm.Source, files, links map[string]string, remove []string) string
}

// Historyless is implemented by a Repos whose sources keep no history (a
// plain folder): only what a source holds now can be checked out, so the
// checks that check out an older revision or pin a commit are skipped.
type Historyless interface{ Historyless() }

func historyless(t *testing.T, repos Repos) {
	t.Helper()
	if _, ok := repos.(Historyless); ok {
		t.Skip("the source keeps no history: only its newest state can be checked out")
	}
}

// Linkless is implemented by a Repos whose tool cannot commit symlinks
// (darcs, cvs): NewLinks and CommitLinks are never called, and the
// symlink checks are skipped.
type Linkless interface{ Linkless() }

// NameRefuser is optionally implemented by a Repos whose tool refuses to
// commit some names on Linux (svn refuses control characters and bytes
// that are not UTF-8): the OddNames test leaves out the names Refuses
// reports. The backend's own tests should show that the tool refuses them.
type NameRefuser interface {
	Refuses(name string) bool
}

// LinkLimiter is optionally implemented by a Repos whose tool commits
// some symlink targets but cannot check them out as they are (svn writes
// a target only up to its first newline): the SymlinksAreData test leaves
// out the links whose target Mangles reports. The backend's own tests
// should show the tool's own checkout does so.
type LinkLimiter interface {
	Mangles(target string) bool
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
		dir := newDirs(t)
		if s.HasCheckout(dir) {
			t.Errorf("HasCheckout(empty folder) = true")
		}
		if s.HasCheckout(scm.Dirs{Work: filepath.Join(dir.Work, "absent"), Meta: filepath.Join(dir.Meta, "absent")}) {
			t.Errorf("HasCheckout(absent folder) = true")
		}
		if rev, err := s.Current(dir); err == nil {
			t.Errorf("Current(empty folder) = %v, want an error", rev)
		}
		rev := resolve(t, s, src)
		checkout(t, s, src, rev, dir)
		assertTree(t, dir, base)
		assertCurrent(t, s, dir, rev)
		if !s.HasCheckout(dir) {
			t.Errorf("HasCheckout(checked out folder) = false")
		}
	})

	t.Run("WorkTreeHoldsNoMetadata", func(t *testing.T) {
		src := repos.New(t, base)
		dir := newDirs(t)
		rev := resolve(t, s, src)
		checkout(t, s, src, rev, dir)
		// Exactly the committed files: no metadata, not even a pointer
		// to it.
		assertTree(t, dir, base)
		if ents, err := os.ReadDir(dir.Meta); err != nil || len(ents) == 0 {
			t.Errorf("the metadata folder holds nothing after a checkout (%v)", err)
		}
		// Folders that overlap are refused: metadata in the work tree
		// would be the build's to change.
		for _, bad := range []scm.Dirs{
			{Work: dir.Work, Meta: filepath.Join(dir.Work, ".meta")},
			{Work: filepath.Join(dir.Meta, "work"), Meta: dir.Meta},
			{Work: dir.Work, Meta: dir.Work},
			{Work: dir.Work},
		} {
			if err := s.Checkout(ctx, src, rev, bad); err == nil {
				t.Errorf("Checkout into %+v succeeded", bad)
			}
		}
		assertTree(t, dir, base)
	})

	t.Run("NewCommitResolvesAndUpdates", func(t *testing.T) {
		src := repos.New(t, base)
		dir := newDirs(t)
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
		assertTree(t, dir, merge(base, second))
		assertCurrent(t, s, dir, rev)
	})

	t.Run("CheckoutIsIdempotentAndCleans", func(t *testing.T) {
		src := repos.New(t, base)
		dir := newDirs(t)
		rev := resolve(t, s, src)
		checkout(t, s, src, rev, dir)

		// Again on the untouched folder: nothing changes, not even a
		// file's modification time (the engine fingerprints the tree).
		before := modTimes(t, dir)
		time.Sleep(50 * time.Millisecond) // past a coarse clock's tick
		checkout(t, s, src, rev, dir)
		assertTree(t, dir, base)
		for name, mt := range modTimes(t, dir) {
			if !mt.Equal(before[name]) {
				t.Errorf("Checkout of the revision the folder holds rewrote %s (modified %v, was %v)", name, mt, before[name])
			}
		}

		// Damage of every kind a build does, then the same revision.
		write(t, dir.Work, "README", "edited by a build\n")
		write(t, dir.Work, "src/lib/lib.txt", "")
		if err := os.Remove(filepath.Join(dir.Work, "src", "main.txt")); err != nil {
			t.Fatal(err)
		}
		write(t, dir.Work, "junk", "untracked\n")
		write(t, dir.Work, "src/lib/untracked.o", "untracked in a tracked folder\n")
		write(t, dir.Work, "out/obj/x.o", "untracked folder\n")
		if err := os.MkdirAll(filepath.Join(dir.Work, "empty", "folder"), 0o755); err != nil {
			t.Fatal(err)
		}
		checkout(t, s, src, rev, dir)
		assertTree(t, dir, base)
		assertCurrent(t, s, dir, rev)
	})

	t.Run("CheckoutOlderRevision", func(t *testing.T) {
		historyless(t, repos)
		src := repos.New(t, base)
		dir := newDirs(t)
		old := resolve(t, s, src)
		repos.Commit(t, src, second)
		rev := resolve(t, s, src)
		checkout(t, s, src, rev, dir)
		assertTree(t, dir, merge(base, second))

		checkout(t, s, src, old, dir)
		assertTree(t, dir, base)
		assertCurrent(t, s, dir, old)

		// And forwards again.
		checkout(t, s, src, rev, dir)
		assertTree(t, dir, merge(base, second))
		assertCurrent(t, s, dir, rev)
	})

	t.Run("PinnedCommit", func(t *testing.T) {
		historyless(t, repos)
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
		dir := newDirs(t)
		checkout(t, s, pinned, old, dir)
		assertTree(t, dir, base)
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
		dir := newDirs(t)
		if err := s.Checkout(ctx, missing, rev, dir); err == nil {
			t.Fatalf("Checkout(%s) into a fresh folder succeeded", missing.URL)
		}
		if cur, err := s.Current(dir); err == nil && cur == rev {
			t.Errorf("after a failed Checkout, Current = %v, the revision that was not checked out", cur)
		}
		// The folder is not spoilt: the right source still checks out.
		checkout(t, s, good, rev, dir)
		assertTree(t, dir, base)
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
		dirs := []scm.Dirs{newDirs(t), newDirs(t)}
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
			assertTree(t, dir, base)
			assertCurrent(t, s, dir, rev)
		}
	})

	// A build may leave anything in its work tree, metadata of the SCM's
	// kind too, made to steer the next checkout (which has the network):
	// a git dir whose config rewrites the repository's URL to another
	// one, with hooks and alternates; "gitdir:" files and symlinks to
	// another repository deeper down. The next Checkout neither reads nor
	// keeps any of it: it fetches from the Source, and the work tree is
	// the commit.
	for _, when := range []string{"AfterCheckout", "BeforeFirstCheckout"} {
		t.Run("PlantedMetadataIsIgnored"+when, func(t *testing.T) {
			src := repos.New(t, base)
			evil := repos.New(t, map[string]string{"README": "evil\n", "src/main.txt": "evil\n", "added/new.txt": "evil\n"})
			marker := filepath.Join(t.TempDir(), "hook-ran")
			evilObjs := evilObjects(t, evil) // "" but for git
			dir := newDirs(t)
			old := resolve(t, s, src)
			if when == "AfterCheckout" {
				checkout(t, s, src, old, dir)
			}
			plantMetadata(t, dir.Work, src, evil, marker)
			id := repos.Commit(t, src, second)
			rev := resolve(t, s, src)
			if rev.ID != id {
				t.Fatalf("Resolve = %s, want %s", rev.ID, id)
			}
			// The fetch: a URL rewrite honoured would fetch from evil,
			// which has no such commit.
			checkout(t, s, src, rev, dir)
			assertTree(t, dir, merge(base, second))
			assertCurrent(t, s, dir, rev)

			// Again, planted over the revision the folder holds (no
			// fetch), with a .git file at the top this time.
			plantMetadata(t, dir.Work, src, evil, marker)
			if err := os.RemoveAll(filepath.Join(dir.Work, ".git")); err != nil {
				t.Fatal(err)
			}
			write(t, dir.Work, ".git", "gitdir: "+cmp.Or(localPath(evil.URL), evil.URL)+"\n")
			checkout(t, s, src, rev, dir)
			assertTree(t, dir, merge(base, second))
			assertCurrent(t, s, dir, rev)

			// And back to the first revision: what a later checkout finds
			// in the metadata folder is still only the Source's.
			if _, ok := repos.(Historyless); !ok {
				checkout(t, s, src, old, dir)
				assertTree(t, dir, base)
			}
			if _, err := os.Stat(marker); err == nil {
				t.Errorf("a planted hook ran")
			}
			if evilObjs != "" && evilObjects(t, evil) == "" {
				t.Errorf("the other repository was damaged")
			}
		})
	}

	t.Run("MetadataNamedFilesDoNotSurvive", func(t *testing.T) {
		src := repos.New(t, base)
		dir := newDirs(t)
		rev := resolve(t, s, src)
		checkout(t, s, src, rev, dir)
		for _, name := range []string{".git", "src/.git/config", "src/lib/.git", ".hg/store/x", ".svn/wc.db", "CVS/Entries", ".bzr/x"} {
			write(t, dir.Work, name, "planted\n")
		}
		checkout(t, s, src, rev, dir)
		assertTree(t, dir, base)
		assertCurrent(t, s, dir, rev)
	})

	// The metadata folder may hold another repository's history: the
	// module's URL changed, or its history was rewritten. A checkout of
	// the new one must not fail for what it already holds.
	t.Run("OtherRepositoryIntoSameFolder", func(t *testing.T) {
		other := map[string]string{"README": "b's read me\n", "only-in-b/b.txt": "b\n"}
		a, b := repos.New(t, base), repos.New(t, other)
		dir := newDirs(t)
		revA := resolve(t, s, a)
		checkout(t, s, a, revA, dir)
		revB := resolve(t, s, b)
		checkout(t, s, b, revB, dir)
		assertTree(t, dir, other)
		assertCurrent(t, s, dir, revB)
		// A new commit in each, in turn: each fetch starts from what
		// the other left.
		repos.Commit(t, b, second)
		revB = resolve(t, s, b)
		checkout(t, s, b, revB, dir)
		assertTree(t, dir, merge(other, second))
		repos.Commit(t, a, second)
		revA = resolve(t, s, a)
		checkout(t, s, a, revA, dir)
		assertTree(t, dir, merge(base, second))
		assertCurrent(t, s, dir, revA)
	})

	fidelity(t, s, repos)
	history(t, s, repos)
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

// newDirs returns an empty work tree and an empty metadata folder, side
// by side, as the engine makes them (source-root/<m>, scm-root/<m>).
func newDirs(t *testing.T) scm.Dirs {
	t.Helper()
	top := t.TempDir()
	d := scm.Dirs{Work: filepath.Join(top, "source-root", "m"), Meta: filepath.Join(top, "scm-root", "m")}
	for _, dir := range []string{d.Work, d.Meta} {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return d
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

func checkout(t *testing.T, s scm.SCM, src scm.Source, rev scm.Revision, dir scm.Dirs) {
	t.Helper()
	if err := s.Checkout(context.Background(), src, rev, dir); err != nil {
		t.Fatalf("Checkout(%s, %s): %v", src.URL, rev.ID, err)
	}
}

func assertCurrent(t *testing.T, s scm.SCM, dir scm.Dirs, want scm.Revision) {
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

// walk calls fn for every path of the work tree dir, by slash path
// relative to dir: everything in it, since a work tree holds no metadata.
func walk(t *testing.T, dir string, fn func(rel string, d fs.DirEntry, p string)) {
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
		fn(filepath.ToSlash(rel), d, p)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// tree is dir's work tree: each file with its content, and each folder
// with a trailing slash.
func tree(t *testing.T, dir string) map[string]string {
	t.Helper()
	got := map[string]string{}
	walk(t, dir, func(rel string, d fs.DirEntry, p string) {
		switch {
		case d.IsDir():
			got[rel+"/"] = ""
		case d.Type().IsRegular():
			b, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			got[rel] = string(b)
		case d.Type()&fs.ModeSymlink != 0:
			target, err := os.Readlink(p)
			if err != nil {
				t.Fatal(err)
			}
			got[rel] = linkPrefix + target
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

func assertTree(t *testing.T, dir scm.Dirs, files map[string]string) {
	t.Helper()
	got, exp := tree(t, dir.Work), want(files)
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
		t.Errorf("work tree %s is not the commit:\n\t%s", dir.Work, strings.Join(diffs, "\n\t"))
	}
}

// modTimes are the modification times of the files of dir's work tree.
func modTimes(t *testing.T, dir scm.Dirs) map[string]time.Time {
	t.Helper()
	m := map[string]time.Time{}
	walk(t, dir.Work, func(rel string, d fs.DirEntry, _ string) {
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

// plantMetadata writes into work what a hostile build would to steer the
// next checkout of src towards evil: a git dir whose config rewrites
// src's URL (in each of its spellings) to evil's, points hooks at
// programs that touch marker, and whose alternates borrow evil's objects;
// a "gitdir:" file and a symlink to evil's repository deeper down.
func plantMetadata(t *testing.T, work string, src, evil scm.Source, marker string) {
	t.Helper()
	gitdir := filepath.Join(work, ".git")
	real := localPath(src.URL)
	var rewrites strings.Builder
	for _, u := range []string{src.URL, real, "file://" + real} {
		if u != "" && u != "file://" {
			fmt.Fprintf(&rewrites, "[url %q]\n\tinsteadOf = %s\n", evil.URL, u)
		}
	}
	// A remote's repository has no folder here: its URL stands for it.
	evilDir := cmp.Or(localPath(evil.URL), evil.URL)
	hook := "#!/bin/sh\ntouch " + marker + "\n"
	files := map[string]string{
		".git/HEAD": "ref: refs/heads/main\n",
		".git/config": fmt.Sprintf("[core]\n\trepositoryformatversion = 0\n\tbare = false\n\thooksPath = %[1]s/hooks\n\tfsmonitor = %[1]s/hooks/fsmonitor\n"+
			"[remote \"origin\"]\n\turl = %[2]s\n\tfetch = +refs/heads/*:refs/remotes/origin/*\n%[3]s", gitdir, evil.URL, rewrites.String()),
		".git/objects/info/alternates":     evilObjects(t, evil) + "\n",
		".git/hooks/post-checkout":         hook,
		".git/hooks/post-merge":            hook,
		".git/hooks/reference-transaction": hook,
		".git/hooks/fsmonitor":             hook,
		"src/.git":                         "gitdir: " + evilDir + "\n",
	}
	for name, body := range files {
		write(t, work, name, body)
	}
	for _, h := range []string{"post-checkout", "post-merge", "reference-transaction", "fsmonitor"} {
		if err := os.Chmod(filepath.Join(gitdir, "hooks", h), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	link := filepath.Join(work, "src", "lib", ".git")
	if err := os.MkdirAll(filepath.Dir(link), 0o755); err != nil {
		t.Fatal(err)
	}
	os.RemoveAll(link)
	if err := os.Symlink(evilDir, link); err != nil {
		t.Fatal(err)
	}
}

// evilObjects is the objects folder of a local git repository, or "".
func evilObjects(t *testing.T, src scm.Source) string {
	t.Helper()
	p := localPath(src.URL)
	if p == "" {
		return ""
	}
	for _, o := range []string{filepath.Join(p, ".git", "objects"), filepath.Join(p, "objects")} {
		if st, err := os.Stat(o); err == nil && st.IsDir() {
			return o
		}
	}
	return ""
}
