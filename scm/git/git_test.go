package git

import (
	"context"
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
			work := filepath.Join(testutil.Dir(t), "work")
			if err := g.Checkout(context.Background(), tt.src, rev, work); err != nil {
				t.Fatal(err)
			}
			if b, _ := os.ReadFile(filepath.Join(work, "f")); string(b) != tt.content {
				t.Errorf("f = %q, want %q", b, tt.content)
			}
			if cur, err := g.Current(work); err != nil || cur.ID != tt.want {
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
	work := filepath.Join(dir, "work")
	rev, _ := g.Resolve(context.Background(), src)
	if err := g.Checkout(context.Background(), src, rev, work); err != nil {
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
	if err := g.Checkout(context.Background(), src, rev2, work); err != nil {
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
	work := filepath.Join(dir, "work")
	rev, err := g.Resolve(context.Background(), src)
	if err != nil {
		t.Fatal(err)
	}
	if err := g.Checkout(context.Background(), src, rev, work); err != nil {
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
	if err := g.Checkout(context.Background(), src, rev, work); err != nil {
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
