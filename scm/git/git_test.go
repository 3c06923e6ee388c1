package git

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/autobuild/autobuild/internal/testutil"
	"github.com/autobuild/autobuild/scm"
	"github.com/autobuild/autobuild/scm/scmtest"
)

func TestConformance(t *testing.T) {
	t.Run("path", func(t *testing.T) { scmtest.Run(t, Git{}, gitRepos{}) })
	t.Run("file URL", func(t *testing.T) { scmtest.Run(t, Git{}, gitRepos{fileURL: true}) })
	t.Run("bare", func(t *testing.T) { scmtest.Run(t, Git{}, gitRepos{bare: true}) })
}

// gitRepos makes repositories with the git command: a work repository
// named by its path, or by a file:// URL, or a bare repository that a
// work repository beside it pushes to.
type gitRepos struct{ fileURL, bare bool }

func (r gitRepos) New(t *testing.T, files map[string]string) scm.Source {
	dir := testutil.Dir(t)
	repo := testutil.Repo(t, dir, "repo", files)
	if r.bare {
		testutil.Git(t, dir, "clone", "-q", "--bare", repo, "repo.git")
		repo = filepath.Join(dir, "repo.git")
	}
	u := repo
	if r.fileURL {
		u = "file://" + repo
	}
	return scm.Source{Kind: Kind, URL: u}
}

func (r gitRepos) Commit(t *testing.T, src scm.Source, files map[string]string) string {
	repo := LocalPath(src.URL)
	if !r.bare {
		return testutil.Commit(t, repo, files)
	}
	work := filepath.Join(filepath.Dir(repo), "repo")
	id := testutil.Commit(t, work, files)
	testutil.Git(t, work, "push", "-q", repo, "HEAD:main")
	return id
}

func (r gitRepos) Missing(t *testing.T) scm.Source {
	u := filepath.Join(testutil.Dir(t), "missing")
	if r.fileURL {
		u = "file://" + u
	}
	return scm.Source{Kind: Kind, URL: u}
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

// A checkout killed while it wrote its metadata leaves an empty index or
// ref file: the next checkout starts the metadata afresh instead of
// failing for ever. The control shows each damage breaks a checkout that
// does not.
func TestDamagedMetadataIsStartedAfresh(t *testing.T) {
	for name, damage := range map[string]func(meta string){
		"empty index": func(meta string) { os.WriteFile(filepath.Join(meta, "index"), nil, 0o644) },
		"empty remote ref": func(meta string) {
			os.WriteFile(filepath.Join(meta, "refs", "remotes", "origin", "main"), nil, 0o644)
		},
	} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			repo := testutil.Repo(t, dir, "r", map[string]string{"f": "one\n"})
			src := scm.Source{Kind: Kind, URL: repo}
			d := scm.Dirs{Work: filepath.Join(dir, "work"), Meta: filepath.Join(dir, "meta")}
			rev, err := Git{}.Resolve(context.Background(), src)
			if err != nil {
				t.Fatal(err)
			}
			if err := (Git{}).Checkout(context.Background(), src, rev, d); err != nil {
				t.Fatal(err)
			}
			// A new commit, so the next checkout must fetch and reset.
			next := testutil.Commit(t, repo, map[string]string{"f": "two\n"})
			damage(d.Meta)
			if err := checkout(context.Background(), src, scm.Revision{ID: next}, d); err == nil {
				t.Fatalf("control: %s did not break a checkout; the test proves nothing", name)
			}
			damage(d.Meta)
			if err := (Git{}).Checkout(context.Background(), src, scm.Revision{ID: next}, d); err != nil {
				t.Fatalf("after %s: %v", name, err)
			}
			if b, _ := os.ReadFile(filepath.Join(d.Work, "f")); string(b) != "two\n" {
				t.Errorf("work tree holds %q", b)
			}
		})
	}
}
