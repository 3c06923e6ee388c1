package git

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http/cgi"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/autobuild/autobuild/internal/testutil"
	"github.com/autobuild/autobuild/scm"
	"github.com/autobuild/autobuild/scm/scmtest"
)

func TestConformance(t *testing.T) {
	t.Run("path", func(t *testing.T) { scmtest.Run(t, Git{}, &gitRepos{}) })
	t.Run("file URL", func(t *testing.T) { scmtest.Run(t, Git{}, &gitRepos{fileURL: true}) })
	t.Run("bare", func(t *testing.T) { scmtest.Run(t, Git{}, &gitRepos{bare: true}) })
	t.Run("http", func(t *testing.T) { scmtest.Run(t, Git{}, &gitRepos{http: true}) })
}

// gitRepos makes repositories with the git command: a work repository
// named by its path, or by a file:// URL, or a bare repository that a
// work repository beside it pushes to, named by its path or served by
// git's smart HTTP server (git http-backend) on the loopback.
type gitRepos struct {
	fileURL, bare, http bool

	mu    sync.Mutex
	works map[string]string // a Source's URL → the work repository that commits to it
}

func (r *gitRepos) New(t *testing.T, files map[string]string) scm.Source {
	return r.NewLinks(t, files, nil)
}

func (r *gitRepos) NewLinks(t *testing.T, files, links map[string]string) scm.Source {
	dir := testutil.Dir(t)
	work := filepath.Join(dir, "repo")
	if err := os.MkdirAll(work, 0o755); err != nil {
		t.Fatal(err)
	}
	testutil.Git(t, work, "init", "-q")
	writeTree(t, work, files, links, nil)
	testutil.Git(t, work, "add", "-A")
	testutil.Git(t, work, "commit", "-q", "-m", "first")
	u := work
	if r.bare || r.http {
		testutil.Git(t, dir, "clone", "-q", "--bare", work, "repo.git")
		u = filepath.Join(dir, "repo.git")
	}
	switch {
	case r.fileURL:
		u = "file://" + u
	case r.http:
		u = serveHTTP(t, dir) + "/repo.git"
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.works == nil {
		r.works = map[string]string{}
	}
	r.works[u] = work
	return scm.Source{Kind: Kind, URL: u}
}

func (r *gitRepos) Commit(t *testing.T, src scm.Source, files map[string]string) string {
	return r.CommitLinks(t, src, files, nil, nil)
}

func (r *gitRepos) CommitLinks(t *testing.T, src scm.Source, files, links map[string]string, remove []string) string {
	r.mu.Lock()
	work := r.works[src.URL]
	r.mu.Unlock()
	if work == "" {
		t.Fatalf("no repository made for %s", src.URL)
	}
	writeTree(t, work, files, links, remove)
	testutil.Git(t, work, "add", "-A")
	testutil.Git(t, work, "commit", "-q", "--allow-empty", "-m", "change")
	if r.bare || r.http {
		testutil.Git(t, work, "push", "-q", filepath.Join(filepath.Dir(work), "repo.git"), "HEAD:main")
	}
	return testutil.Git(t, work, "rev-parse", "HEAD")
}

func (r *gitRepos) Missing(t *testing.T) scm.Source {
	dir := testutil.Dir(t)
	u := filepath.Join(dir, "missing")
	switch {
	case r.fileURL:
		u = "file://" + u
	case r.http:
		u = serveHTTP(t, dir) + "/missing.git"
	}
	return scm.Source{Kind: Kind, URL: u}
}

// writeTree removes the paths of remove, then writes files and symlinks
// (slash path → target) into a work repository, each replacing what its
// path held.
func writeTree(t testing.TB, work string, files, links map[string]string, remove []string) {
	t.Helper()
	for _, p := range remove {
		if err := os.RemoveAll(filepath.Join(work, filepath.FromSlash(p))); err != nil {
			t.Fatal(err)
		}
	}
	for name, body := range files {
		p := filepath.Join(work, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		os.Remove(p)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for name, target := range links {
		p := filepath.Join(work, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		os.Remove(p)
		if err := os.Symlink(target, p); err != nil {
			t.Fatal(err)
		}
	}
}

// serveHTTP serves the repositories of dir with git's smart HTTP server
// on the loopback, for the test, and returns its URL.
func serveHTTP(t testing.TB, dir string) string {
	t.Helper()
	return newHTTPServer(t, dir).URL
}

// newHTTPServer is serveHTTP's server, for a test that stops it early.
func newHTTPServer(t testing.TB, dir string) *httptest.Server {
	t.Helper()
	git, err := exec.LookPath("git")
	if err != nil {
		t.Skip("no git command")
	}
	srv := httptest.NewServer(&cgi.Handler{
		Path:   git,
		Args:   []string{"http-backend"},
		Env:    []string{"GIT_PROJECT_ROOT=" + dir, "GIT_HTTP_EXPORT_ALL=1"},
		Stderr: io.Discard,
	})
	t.Cleanup(srv.Close)
	return srv
}

func TestResolveAndCheckout(t *testing.T) {
	dir := testutil.Dir(t)
	repo := testutil.Repo(t, dir, "repo", map[string]string{"f": "one\n"})
	first := testutil.Git(t, repo, "rev-parse", "HEAD")
	testutil.Git(t, repo, "tag", "-a", "v1", "-m", "release 1") // annotated
	testutil.Git(t, repo, "tag", "light")                       // lightweight
	testutil.Git(t, repo, "checkout", "-q", "-b", "dev")
	dev := testutil.Commit(t, repo, map[string]string{"f": "dev\n"})
	testutil.Git(t, repo, "checkout", "-q", "main")
	second := testutil.Commit(t, repo, map[string]string{"f": "two\n"})

	tests := []struct {
		name    string
		src     scm.Source
		want    string
		content string
		wantErr string
	}{
		{"default branch", scm.Source{URL: repo}, second, "two\n", ""},
		{"branch", scm.Source{URL: repo, Branch: "dev"}, dev, "dev\n", ""},
		{"annotated tag", scm.Source{URL: repo, Tag: "v1"}, first, "one\n", ""},
		{"lightweight tag", scm.Source{URL: repo, Tag: "light"}, first, "one\n", ""},
		{"commit", scm.Source{URL: repo, Commit: first}, first, "one\n", ""},
		{"file URL", scm.Source{URL: "file://" + repo, Branch: "dev"}, dev, "dev\n", ""},
		{"unknown branch", scm.Source{URL: repo, Branch: "nope"}, "", "", "no branch nope"},
		{"missing repository", scm.Source{URL: filepath.Join(dir, "missing")}, "", "", "open"},
	}
	g := Git{}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rev, err := g.Resolve(context.Background(), tt.src)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || rev.ID != tt.want {
				t.Fatalf("Resolve = %v, %v; want %s", rev, err, tt.want)
			}
			top := testutil.Dir(t)
			d := scm.Dirs{Work: filepath.Join(top, "work"), Meta: filepath.Join(top, "meta")}
			work := d.Work
			if err := g.Checkout(context.Background(), tt.src, rev, d); err != nil {
				t.Fatal(err)
			}
			if b, _ := os.ReadFile(filepath.Join(work, "f")); string(b) != tt.content {
				t.Errorf("f = %q, want %q", b, tt.content)
			}
			if cur, err := g.Current(d); err != nil || cur.ID != tt.want {
				t.Errorf("Current = %v, %v", cur, err)
			}
		})
	}
}

func TestCheckoutUpdatesAndCleans(t *testing.T) {
	dir := testutil.Dir(t)
	repo := testutil.Repo(t, dir, "repo", map[string]string{"f": "one\n"})
	src := scm.Source{URL: repo, Branch: "main"}
	g := Git{}
	d := scm.Dirs{Work: filepath.Join(dir, "work"), Meta: filepath.Join(dir, "meta")}
	work := d.Work
	rev, _ := g.Resolve(context.Background(), src)
	if err := g.Checkout(context.Background(), src, rev, d); err != nil {
		t.Fatal(err)
	}
	// Local damage: a modified tracked file and an untracked one.
	os.WriteFile(filepath.Join(work, "f"), []byte("local edit\n"), 0o644)
	os.WriteFile(filepath.Join(work, "junk"), []byte("x"), 0o644)
	testutil.Commit(t, repo, map[string]string{"f": "two\n"})
	rev2, _ := g.Resolve(context.Background(), src)
	if rev2 == rev {
		t.Fatal("resolve did not see the new commit")
	}
	if err := g.Checkout(context.Background(), src, rev2, d); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(filepath.Join(work, "f")); string(b) != "two\n" {
		t.Errorf("f = %q after update", b)
	}
	if _, err := os.Stat(filepath.Join(work, "junk")); err == nil {
		t.Errorf("untracked file survived the checkout")
	}
}

// Build outputs are usually ignored by .gitignore; Checkout must remove
// them too (like git clean -x), or a build would not start from the
// pinned content.
func TestCheckoutRemovesIgnoredFiles(t *testing.T) {
	dir := testutil.Dir(t)
	repo := testutil.Repo(t, dir, "repo", map[string]string{"f": "one\n", ".gitignore": "out/\n*.o\n"})
	src := scm.Source{URL: repo}
	g := Git{}
	d := scm.Dirs{Work: filepath.Join(dir, "work"), Meta: filepath.Join(dir, "meta")}
	work := d.Work
	rev, err := g.Resolve(context.Background(), src)
	if err != nil {
		t.Fatal(err)
	}
	if err := g.Checkout(context.Background(), src, rev, d); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"out/bin/tool", "a.o", "src/b.o"} {
		p = filepath.Join(work, p)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte("built\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := g.Checkout(context.Background(), src, rev, d); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"out", "a.o", "src"} {
		if _, err := os.Stat(filepath.Join(work, p)); err == nil {
			t.Errorf("ignored %s survived the checkout", p)
		}
	}
	if b, _ := os.ReadFile(filepath.Join(work, ".gitignore")); string(b) != "out/\n*.o\n" {
		t.Errorf(".gitignore = %q", b)
	}
}

// The metadata folder is the checkout step's, but a checkout does not
// trust it either: the config is written anew from the Source (a URL
// rewrite stored there is gone), and alternates and hooks are removed.
func TestMetadataFolderIsNotTrusted(t *testing.T) {
	dir := testutil.Dir(t)
	repo := testutil.Repo(t, dir, "repo", map[string]string{"f": "one\n"})
	evil := testutil.Repo(t, dir, "evil", map[string]string{"f": "evil\n"})
	src := scm.Source{URL: repo}
	g := Git{}
	d := scm.Dirs{Work: filepath.Join(dir, "work"), Meta: filepath.Join(dir, "meta")}
	rev, _ := g.Resolve(context.Background(), src)
	if err := g.Checkout(context.Background(), src, rev, d); err != nil {
		t.Fatal(err)
	}
	marker := filepath.Join(dir, "hook-ran")
	hook := "#!/bin/sh\ntouch " + marker + "\n"
	cfg := "[core]\n\tbare = false\n\thooksPath = " + filepath.Join(d.Meta, "hooks") + "\n" +
		"[remote \"origin\"]\n\turl = " + evil + "\n\tfetch = +refs/heads/*:refs/remotes/origin/*\n" +
		"[url \"" + evil + "\"]\n\tinsteadOf = " + repo + "\n"
	for name, body := range map[string]string{
		"config":                  cfg,
		"objects/info/alternates": filepath.Join(evil, ".git", "objects") + "\n",
		"hooks/post-checkout":     hook,
	} {
		p := filepath.Join(d.Meta, filepath.FromSlash(name))
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte(body), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	id := testutil.Commit(t, repo, map[string]string{"f": "two\n"})
	rev2, _ := g.Resolve(context.Background(), src)
	if rev2.ID != id {
		t.Fatalf("Resolve = %s, want %s", rev2.ID, id)
	}
	if err := g.Checkout(context.Background(), src, rev2, d); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(filepath.Join(d.Work, "f")); string(b) != "two\n" {
		t.Errorf("f = %q, want the real repository's new commit", b)
	}
	b, _ := os.ReadFile(filepath.Join(d.Meta, "config"))
	if strings.Contains(string(b), "insteadOf") || strings.Contains(string(b), evil) || !strings.Contains(string(b), repo) {
		t.Errorf("the config was not written anew from the Source:\n%s", b)
	}
	for _, p := range []string{"objects/info/alternates", "hooks", "../work/.git"} {
		if _, err := os.Stat(filepath.Join(d.Meta, p)); err == nil {
			t.Errorf("%s survived the checkout", p)
		}
	}
	if _, err := os.Stat(marker); err == nil {
		t.Errorf("a hook ran")
	}
}

// A source folder from an older version holds its own .git; the
// metadata folder is new. The first checkout fetches into the metadata
// folder and removes the old .git.
func TestOldCheckoutInTheWorkTree(t *testing.T) {
	dir := testutil.Dir(t)
	repo := testutil.Repo(t, dir, "repo", map[string]string{"f": "one\n"})
	testutil.Git(t, dir, "clone", "-q", repo, "work")
	id := testutil.Commit(t, repo, map[string]string{"f": "two\n", "g": "new\n"})
	g := Git{}
	d := scm.Dirs{Work: filepath.Join(dir, "work"), Meta: filepath.Join(dir, "meta")}
	if g.HasCheckout(d) {
		t.Errorf("HasCheckout with an old .git in the work tree and no metadata folder = true")
	}
	if err := g.Checkout(context.Background(), scm.Source{URL: repo}, scm.Revision{ID: id}, d); err != nil {
		t.Fatal(err)
	}
	ents, _ := os.ReadDir(d.Work)
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	if strings.Join(names, " ") != "f g" {
		t.Errorf("work tree holds %v, want [f g]", names)
	}
	if cur, err := g.Current(d); err != nil || cur.ID != id {
		t.Errorf("Current = %v, %v", cur, err)
	}
}

// A history rewritten and collected: the commit the metadata folder's
// refs name is gone from the repository; the fetch still works.
func TestRewrittenHistory(t *testing.T) {
	dir := testutil.Dir(t)
	repo := testutil.Repo(t, dir, "repo", map[string]string{"f": "one\n"})
	testutil.Commit(t, repo, map[string]string{"f": "two\n"})
	g := Git{}
	src := scm.Source{URL: repo}
	d := scm.Dirs{Work: filepath.Join(dir, "work"), Meta: filepath.Join(dir, "meta")}
	rev, _ := g.Resolve(context.Background(), src)
	if err := g.Checkout(context.Background(), src, rev, d); err != nil {
		t.Fatal(err)
	}
	testutil.Git(t, repo, "reset", "-q", "--hard", "HEAD~1")
	id := testutil.Commit(t, repo, map[string]string{"f": "rewritten\n"})
	testutil.Git(t, repo, "reflog", "expire", "--expire=now", "--all")
	testutil.Git(t, repo, "gc", "-q", "--prune=now")
	if err := g.Checkout(context.Background(), src, scm.Revision{ID: id}, d); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(filepath.Join(d.Work, "f")); string(b) != "rewritten\n" {
		t.Errorf("f = %q", b)
	}
}

// Symlinks a build planted in its work tree, into the metadata folder,
// are replaced, not written or cleaned through.
func TestPlantedSymlinksIntoTheMetadata(t *testing.T) {
	dir := testutil.Dir(t)
	repo := testutil.Repo(t, dir, "repo", map[string]string{"src/main.txt": "main\n", "top": "top\n"})
	g := Git{}
	src := scm.Source{URL: repo}
	d := scm.Dirs{Work: filepath.Join(dir, "work"), Meta: filepath.Join(dir, "meta")}
	rev, _ := g.Resolve(context.Background(), src)
	if err := g.Checkout(context.Background(), src, rev, d); err != nil {
		t.Fatal(err)
	}
	before := listTree(t, d.Meta)
	os.RemoveAll(filepath.Join(d.Work, "src"))
	os.Remove(filepath.Join(d.Work, "top"))
	for link, target := range map[string]string{"src": d.Meta, "top": filepath.Join(d.Meta, "HEAD"), "junk": filepath.Join(d.Meta, "objects")} {
		if err := os.Symlink(target, filepath.Join(d.Work, link)); err != nil {
			t.Fatal(err)
		}
	}
	if err := g.Checkout(context.Background(), src, rev, d); err != nil {
		t.Fatal(err)
	}
	if after := listTree(t, d.Meta); after != before {
		t.Errorf("the metadata folder changed through planted symlinks:\nbefore:\n%s\nafter:\n%s", before, after)
	}
	if cur, err := g.Current(d); err != nil || cur != rev {
		t.Errorf("Current = %v, %v", cur, err)
	}
	if b, _ := os.ReadFile(filepath.Join(d.Work, "src", "main.txt")); string(b) != "main\n" {
		t.Errorf("src/main.txt = %q", b)
	}
}

// listTree names every path below dir with its size, but the index (the
// checkout rewrites it).
func listTree(t *testing.T, dir string) string {
	t.Helper()
	var b strings.Builder
	filepath.WalkDir(dir, func(p string, e os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		info, _ := e.Info()
		if e.Name() != "index" {
			fmt.Fprintf(&b, "%s %v %d\n", strings.TrimPrefix(p, dir), info.Mode(), info.Size())
		}
		return nil
	})
	return b.String()
}

// A checkout killed while it fetched leaves an empty ref file: the next
// checkout starts the metadata afresh instead of failing for ever. The
// control shows the damage breaks a checkout that does not.
func TestDamagedMetadataIsStartedAfresh(t *testing.T) {
	repos := &gitRepos{http: true}
	src := repos.New(t, map[string]string{"f": "one\n"})
	dir := t.TempDir()
	d := scm.Dirs{Work: filepath.Join(dir, "work"), Meta: filepath.Join(dir, "meta")}
	rev, err := Git{}.Resolve(context.Background(), src)
	if err != nil {
		t.Fatal(err)
	}
	if err := (Git{}).Checkout(context.Background(), src, rev, d); err != nil {
		t.Fatal(err)
	}
	// A new commit, so the next checkout must fetch.
	next := repos.Commit(t, src, map[string]string{"f": "two\n"})
	damage := func() {
		if err := os.WriteFile(filepath.Join(d.Meta, "refs", "remotes", "origin", "main"), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	damage()
	if err := checkout(context.Background(), src, scm.Revision{ID: next}, d); err == nil {
		t.Fatalf("control: an empty ref did not break a checkout; the test proves nothing")
	}
	damage()
	if err := (Git{}).Checkout(context.Background(), src, scm.Revision{ID: next}, d); err != nil {
		t.Fatalf("after an empty ref: %v", err)
	}
	if b, _ := os.ReadFile(filepath.Join(d.Work, "f")); string(b) != "two\n" {
		t.Errorf("work tree holds %q", b)
	}
}

// The index only tells unchanged files: an empty or damaged one (a
// checkout killed as it wrote it, a build that could write the metadata)
// costs a rewrite of every file, not a failed checkout, and what a build
// changed is still restored.
func TestDamagedIndexIsNoIndex(t *testing.T) {
	dir := testutil.Dir(t)
	repo := testutil.Repo(t, dir, "repo", map[string]string{"f": "one\n", "g": "same\n"})
	src := scm.Source{Kind: Kind, URL: repo}
	d := scm.Dirs{Work: filepath.Join(dir, "work"), Meta: filepath.Join(dir, "meta")}
	rev, err := Git{}.Resolve(context.Background(), src)
	if err != nil {
		t.Fatal(err)
	}
	for _, damage := range []string{"", "DIRC garbage"} {
		if err := (Git{}).Checkout(context.Background(), src, rev, d); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(d.Work, "f"), []byte("changed by a build\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(d.Meta, "index"), []byte(damage), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := checkout(context.Background(), src, rev, d); err != nil {
			t.Fatalf("index %q: %v", damage, err)
		}
		for name, want := range map[string]string{"f": "one\n", "g": "same\n"} {
			if b, _ := os.ReadFile(filepath.Join(d.Work, name)); string(b) != want {
				t.Errorf("index %q: %s = %q, want %q", damage, name, b, want)
			}
		}
	}
}

// A repository whose .git is a "gitdir:" file resolves and checks out as
// git reads it: a linked worktree (its HEAD its own, its objects and refs
// in the main repository's git dir), a clone made with
// --separate-git-dir, and a .git file naming its git dir relatively. Its
// Inputs name the git dir wherever it is, so a confined step may read it.
func TestGitdirFileRepositories(t *testing.T) {
	dir := testutil.Dir(t)
	main := testutil.Repo(t, dir, "main", map[string]string{"f": "main\n"})
	mainID := testutil.Git(t, main, "rev-parse", "HEAD")
	testutil.Git(t, main, "worktree", "add", "-q", "-b", "feature", filepath.Join(dir, "wt"))
	wt := filepath.Join(dir, "wt")
	featureID := testutil.Commit(t, wt, map[string]string{"f": "feature\n"})

	if err := os.Mkdir(filepath.Join(dir, "store"), 0o755); err != nil {
		t.Fatal(err)
	}
	testutil.Git(t, dir, "clone", "-q", "--separate-git-dir", filepath.Join(dir, "store", "sep.git"), main, "sep")
	sep := filepath.Join(dir, "sep")
	testutil.Git(t, dir, "clone", "-q", "--separate-git-dir", filepath.Join(dir, "store", "rel.git"), main, "rel")
	rel := filepath.Join(dir, "rel")
	if err := os.WriteFile(filepath.Join(rel, ".git"), []byte("gitdir: ../store/rel.git\n"), 0o644); err != nil {
		t.Fatal(err)
	}

	for _, c := range []struct {
		name, url   string
		branch      string
		want        string
		content     string
		inputsReach string // a git dir outside the URL's folder
	}{
		{"worktree HEAD", wt, "", featureID, "feature\n", filepath.Join(main, ".git")},
		{"worktree branch", "file://" + wt, "main", mainID, "main\n", filepath.Join(main, ".git")},
		{"separate git dir", sep, "", mainID, "main\n", filepath.Join(dir, "store", "sep.git")},
		{"separate git dir, file URL", "file://" + sep, "main", mainID, "main\n", filepath.Join(dir, "store", "sep.git")},
		{"relative gitdir", rel, "", mainID, "main\n", filepath.Join(dir, "store", "rel.git")},
	} {
		t.Run(c.name, func(t *testing.T) {
			if _, err := os.Stat(filepath.Join(LocalPath(c.url), ".git", "HEAD")); err == nil {
				t.Fatalf("control: %s/.git is a folder", c.url)
			}
			src := scm.Source{Kind: Kind, URL: c.url, Branch: c.branch}
			rev, err := Git{}.Resolve(context.Background(), src)
			if err != nil || rev.ID != c.want {
				t.Fatalf("Resolve = %v, %v; want %s", rev, err, c.want)
			}
			top := t.TempDir()
			d := scm.Dirs{Work: filepath.Join(top, "work"), Meta: filepath.Join(top, "meta")}
			if err := (Git{}).Checkout(context.Background(), src, rev, d); err != nil {
				t.Fatal(err)
			}
			if b, _ := os.ReadFile(filepath.Join(d.Work, "f")); string(b) != c.content {
				t.Errorf("f = %q, want %q", b, c.content)
			}
			if _, err := os.Lstat(filepath.Join(d.Work, ".git")); err == nil {
				t.Errorf("the work tree holds a .git")
			}
			in := Git{}.Inputs(src)
			reached := false
			for _, p := range in {
				reached = reached || within(c.inputsReach, p)
			}
			if !reached {
				t.Errorf("Inputs = %q: none reaches the git dir %s", in, c.inputsReach)
			}
		})
	}
}

// A hostile repository may hold trees git itself never writes: a path
// component ".git" (in any case, or as NTFS reads it), ".." or ".". The
// checkout refuses the commit, names the path, and writes nothing of it,
// here or above the work tree. The control, a harmless name in a tree
// made the same way, checks out.
func TestHostileTreePaths(t *testing.T) {
	for _, name := range []string{"ok", ".git", ".GIT", "git~1", ".git.", ".git ", "..", "."} {
		t.Run(fmt.Sprintf("%q", name), func(t *testing.T) {
			dir := testutil.Dir(t)
			repo := testutil.Repo(t, dir, "repo", map[string]string{"README": "read me\n"})
			blob := gitIn(t, repo, "planted\n", "hash-object", "-w", "--stdin")
			inner := gitIn(t, repo, "100644 blob "+blob+"\tconfig\n", "mktree")
			readme := testutil.Git(t, repo, "rev-parse", "HEAD:README")
			// The name as a file at the top, and as a folder holding a
			// "config" one level down.
			sub := gitIn(t, repo, "040000 tree "+inner+"\t"+name+"\n", "mktree")
			top := gitIn(t, repo, fmt.Sprintf("100644 blob %s\tREADME\n100644 blob %s\t%s\n040000 tree %s\tsub\n", readme, blob, name, sub), "mktree")
			commit := gitIn(t, repo, "", "commit-tree", top, "-m", "hostile")
			src := scm.Source{Kind: Kind, URL: repo}
			d := scm.Dirs{Work: filepath.Join(dir, "top", "work"), Meta: filepath.Join(dir, "top", "meta")}
			err := (Git{}).Checkout(context.Background(), src, scm.Revision{ID: commit}, d)
			if name == "ok" {
				if err != nil {
					t.Fatalf("control: %v", err)
				}
				if b, _ := os.ReadFile(filepath.Join(d.Work, "sub", "ok", "config")); string(b) != "planted\n" {
					t.Fatalf("control: sub/ok/config = %q", b)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), fmt.Sprintf("%q", name)) {
				t.Fatalf("Checkout = %v, want an error naming %q", err, name)
			}
			for _, p := range []string{filepath.Join(dir, "top", "config"), filepath.Join(dir, "top", "planted"), filepath.Join(d.Work, "sub")} {
				if _, err := os.Lstat(p); err == nil {
					t.Errorf("%s was written", p)
				}
			}
			if cur, err := (Git{}).Current(d); err == nil && cur.ID == commit {
				t.Errorf("Current names the refused commit")
			}
		})
	}
}

// gitIn runs git in repo with stdin and returns its trimmed output.
func gitIn(t *testing.T, repo, stdin string, args ...string) string {
	t.Helper()
	return gitEnv(t, repo, nil, stdin, args...)
}

// gitEnv runs git in repo with stdin and env added to the test's own
// environment, and returns its trimmed output.
func gitEnv(t *testing.T, repo string, env []string, stdin string, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", append([]string{"-c", "user.name=test", "-c", "user.email=test@example.invalid", "-c", "init.defaultBranch=main"}, args...)...)
	cmd.Dir = repo
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdin = strings.NewReader(stdin)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

// A commit with a submodule is refused with a message that names it:
// never checked out without it.
func TestSubmoduleIsRefused(t *testing.T) {
	dir := testutil.Dir(t)
	lib := testutil.Repo(t, dir, "lib", map[string]string{"lib.txt": "lib\n"})
	repo := testutil.Repo(t, dir, "repo", map[string]string{"README": "read me\n"})
	src := scm.Source{Kind: Kind, URL: repo}
	d := scm.Dirs{Work: filepath.Join(dir, "work"), Meta: filepath.Join(dir, "meta")}
	// Control: without the submodule, it checks out.
	rev, err := Git{}.Resolve(context.Background(), src)
	if err != nil {
		t.Fatal(err)
	}
	if err := (Git{}).Checkout(context.Background(), src, rev, d); err != nil {
		t.Fatalf("control: %v", err)
	}
	testutil.Git(t, repo, "-c", "protocol.file.allow=always", "submodule", "add", "-q", lib, "vendor/lib")
	testutil.Git(t, repo, "commit", "-q", "-m", "submodule")
	if rev, err = (Git{}).Resolve(context.Background(), src); err != nil {
		t.Fatal(err)
	}
	err = (Git{}).Checkout(context.Background(), src, rev, d)
	var se *SubmoduleError
	if !errors.As(err, &se) || se.Path != "vendor/lib" || !strings.Contains(err.Error(), "vendor/lib is a git submodule") {
		t.Fatalf("checkout of a commit with a submodule: %v, want a SubmoduleError naming vendor/lib", err)
	}
}
