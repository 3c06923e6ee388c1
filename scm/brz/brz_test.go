package brz

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"unicode/utf8"

	"github.com/autobuild/autobuild/internal/testutil"
	"github.com/autobuild/autobuild/scm"
	"github.com/autobuild/autobuild/scm/scmtest"
)

func needBrz(t testing.TB) {
	t.Helper()
	if _, err := exec.LookPath("brz"); err != nil {
		t.Skip("no brz command (Debian package brz)")
	}
}

func TestConformance(t *testing.T) {
	needBrz(t)
	t.Run("path", func(t *testing.T) { scmtest.Run(t, Brz{}, &brzRepos{}) })
	t.Run("file URL", func(t *testing.T) { scmtest.Run(t, Brz{}, &brzRepos{fileURL: true}) })
}

// brzRepos makes standalone branches with the brz command, named by their
// path or by a file:// URL.
type brzRepos struct {
	fileURL bool
	mu      sync.Mutex
	works   map[string]string
}

// Refuses implements scmtest.NameRefuser: brz refuses a newline in a name
// and a name that is not UTF-8 (TestRefusedNames).
func (*brzRepos) Refuses(name string) bool {
	return strings.ContainsAny(name, "\n\r") || !utf8.ValidString(name)
}

// Mangles implements scmtest.LinkLimiter: brz cuts a symlink's target
// at its first newline (TestLinkTargetMangled).
func (*brzRepos) Mangles(target string) bool { return strings.ContainsAny(target, "\n\r") }

// brz runs the brz command for a test, with the environment of the
// SCM's own commands.
func brz(t testing.TB, dir string, args ...string) string {
	t.Helper()
	out, err := brzErr(dir, args...)
	if err != nil {
		t.Fatalf("brz %q in %s: %v\n%s", args, dir, err, out)
	}
	return strings.TrimSpace(out)
}

func brzErr(dir string, args ...string) (string, error) {
	cmd := exec.Command("brz", append([]string{"--no-plugins"}, args...)...)
	cmd.Dir = dir
	cmd.Env = Env(os.TempDir())
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func (r *brzRepos) New(t *testing.T, files map[string]string) scm.Source {
	return r.NewLinks(t, files, nil)
}

func (r *brzRepos) NewLinks(t *testing.T, files, links map[string]string) scm.Source {
	work := filepath.Join(testutil.Dir(t), "branch")
	brz(t, "/", "init", "-q", "--", work)
	writeTree(t, work, files, links, nil)
	brz(t, work, "add", "-q")
	brz(t, work, "commit", "-q", "-m", "first")
	u := work
	if r.fileURL {
		u = "file://" + work
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.works == nil {
		r.works = map[string]string{}
	}
	r.works[u] = work
	return scm.Source{Kind: Kind, URL: u}
}

func (r *brzRepos) Commit(t *testing.T, src scm.Source, files map[string]string) string {
	return r.CommitLinks(t, src, files, nil, nil)
}

func (r *brzRepos) CommitLinks(t *testing.T, src scm.Source, files, links map[string]string, remove []string) string {
	r.mu.Lock()
	work := r.works[src.URL]
	r.mu.Unlock()
	if work == "" {
		t.Fatalf("no repository made for %s", src.URL)
	}
	writeTree(t, work, files, links, remove)
	brz(t, work, "add", "-q")
	// A file in a folder that was a symlink: brz add records the kind
	// change only, not what the folder now holds.
	var paths []string
	for p := range files {
		paths = append(paths, p)
	}
	for p := range links {
		paths = append(paths, p)
	}
	brz(t, work, append([]string{"add", "-q", "--"}, paths...)...)
	brz(t, work, "commit", "-q", "--unchanged", "-m", "change")
	return revid(t, work)
}

func revid(t testing.TB, branch string) string {
	t.Helper()
	f := strings.Fields(brz(t, "/", "revision-info", "-d", branch))
	if len(f) != 2 {
		t.Fatalf("revision-info of %s: %q", branch, f)
	}
	return f[1]
}

func (r *brzRepos) Missing(t *testing.T) scm.Source {
	u := filepath.Join(testutil.Dir(t), "missing")
	if r.fileURL {
		u = "file://" + u
	}
	return scm.Source{Kind: Kind, URL: u}
}

// writeTree removes the paths of remove, then writes files and symlinks
// (slash path → target), each replacing what its path held.
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

func newDirs(t *testing.T) scm.Dirs {
	top := testutil.Dir(t)
	return scm.Dirs{Work: filepath.Join(top, "work"), Meta: filepath.Join(top, "meta")}
}

func readWork(t *testing.T, d scm.Dirs, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(d.Work, name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestRefusedNames shows what brzRepos.Refuses claims: brz itself fails
// to commit a name with a newline, and one that is not UTF-8.
func TestRefusedNames(t *testing.T) {
	needBrz(t)
	for _, name := range []string{"new\nline", "latin1-\xe9"} {
		work := filepath.Join(testutil.Dir(t), "branch")
		brz(t, "/", "init", "-q", "--", work)
		writeTree(t, work, map[string]string{name: "x\n"}, nil, nil)
		out, err := brzErr(work, "add", "-q")
		if err == nil {
			out, err = brzErr(work, "commit", "-q", "-m", "x")
		}
		if err == nil {
			t.Errorf("brz committed %q:\n%s", name, out)
		}
	}
}

// TestResolveNames resolves a branch below the URL, a tag, a revision id
// and a revision number, and checks each out.
func TestResolveNames(t *testing.T) {
	needBrz(t)
	top := testutil.Dir(t)
	trunk, dev := filepath.Join(top, "trunk"), filepath.Join(top, "dev")
	brz(t, "/", "init", "-q", "--", trunk)
	writeTree(t, trunk, map[string]string{"f": "one\n"}, nil, nil)
	brz(t, trunk, "add", "-q")
	brz(t, trunk, "commit", "-q", "-m", "one")
	first := revid(t, trunk)
	brz(t, trunk, "tag", "-q", "v1")
	brz(t, "/", "branch", "-q", "--", trunk, dev)
	writeTree(t, dev, map[string]string{"f": "dev\n"}, nil, nil)
	brz(t, dev, "commit", "-q", "-m", "dev")
	devRev := revid(t, dev)
	writeTree(t, trunk, map[string]string{"f": "two\n"}, nil, nil)
	brz(t, trunk, "commit", "-q", "-m", "two")
	second := revid(t, trunk)

	tests := []struct {
		name    string
		src     scm.Source
		want    string
		content string
		wantErr string
	}{
		{"url is the branch", scm.Source{URL: trunk}, second, "two\n", ""},
		{"branch below the url", scm.Source{URL: top, Branch: "dev"}, devRev, "dev\n", ""},
		{"branch below a file URL", scm.Source{URL: "file://" + top + "/", Branch: "trunk"}, second, "two\n", ""},
		{"tag", scm.Source{URL: trunk, Tag: "v1"}, first, "one\n", ""},
		{"revision id", scm.Source{URL: trunk, Commit: first}, first, "one\n", ""},
		{"revision number", scm.Source{URL: trunk, Commit: "1"}, first, "one\n", ""},
		{"unknown branch", scm.Source{URL: top, Branch: "nope"}, "", "", "Not a branch"},
		{"unknown tag", scm.Source{URL: trunk, Tag: "v9"}, "", "", "No such tag: v9"},
		{"unknown revision id", scm.Source{URL: trunk, Commit: "nobody@example-20000101000000-x"}, "", "", "no such revision"},
		{"unknown revision number", scm.Source{URL: trunk, Commit: "9"}, "", "", "ERROR"},
		{"missing branch", scm.Source{URL: filepath.Join(top, "missing")}, "", "", "Not a branch"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.src.Kind = Kind
			if err := (Brz{}).Validate(tt.src); err != nil {
				t.Fatalf("Validate: %v", err)
			}
			rev, err := Brz{}.Resolve(context.Background(), tt.src)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Resolve = %v, %v; want an error with %q", rev, err, tt.wantErr)
				}
				return
			}
			if err != nil || rev.ID != tt.want {
				t.Fatalf("Resolve = %v, %v; want %s", rev, err, tt.want)
			}
			d := newDirs(t)
			if err := (Brz{}).Checkout(context.Background(), tt.src, rev, d); err != nil {
				t.Fatal(err)
			}
			if got := readWork(t, d, "f"); got != tt.content {
				t.Errorf("f = %q, want %q", got, tt.content)
			}
		})
	}
}

func TestValidate(t *testing.T) {
	for _, tt := range []struct {
		src   scm.Source
		field string
	}{
		{scm.Source{URL: "relative/path"}, "url"},
		{scm.Source{URL: "lp:project"}, "url"},
		{scm.Source{URL: "ftp://host/repo"}, "url"},
		{scm.Source{URL: "/repo", Branch: "../other"}, "branch"},
		{scm.Source{URL: "/repo", Branch: "/abs"}, "branch"},
		{scm.Source{URL: "/repo", Commit: "has space"}, "commit"},
		{scm.Source{URL: "/repo", Tag: "a\nb"}, "tag"},
	} {
		err := Brz{}.Validate(tt.src)
		fe, ok := err.(*scm.FieldError)
		if !ok || fe.Field != tt.field {
			t.Errorf("Validate(%+v) = %v, want an error on %s", tt.src, err, tt.field)
		}
	}
	for _, ok := range []scm.Source{{URL: "/repo"}, {URL: "bzr+ssh://host/repo", Branch: "trunk"}, {URL: "https://host/repo", Commit: "3.1.2"}} {
		if err := (Brz{}).Validate(ok); err != nil {
			t.Errorf("Validate(%+v) = %v", ok, err)
		}
	}
}

// TestPlantedConfigIgnored: a build cannot write the metadata folder,
// but even one that did (a locations.conf in the configuration folder
// naming another branch, a parent location in the branch's config) does
// not steer the next checkout: the URL comes from the Source.
func TestPlantedConfigIgnored(t *testing.T) {
	needBrz(t)
	r := &brzRepos{}
	src := r.New(t, map[string]string{"f": "good\n"})
	evil := r.New(t, map[string]string{"f": "evil\n"})
	rev, err := Brz{}.Resolve(context.Background(), src)
	if err != nil {
		t.Fatal(err)
	}
	d := newDirs(t)
	if err := (Brz{}).Checkout(context.Background(), src, rev, d); err != nil {
		t.Fatal(err)
	}
	second := r.Commit(t, src, map[string]string{"f": "good two\n"})
	conf := filepath.Join(homeDir(d), "breezy.conf")
	if err := os.MkdirAll(filepath.Dir(conf), 0o755); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(conf, []byte("[DEFAULT]\nbzr.transform.orphan_policy = move\n"), 0o644)
	os.WriteFile(filepath.Join(homeDir(d), "locations.conf"), []byte("["+src.URL+"]\npush_location = "+evil.URL+"\n"), 0o644)
	if err := os.WriteFile(filepath.Join(branchDir(d), ".bzr", "branch", "branch.conf"), []byte("parent_location = "+evil.URL+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := (Brz{}).Checkout(context.Background(), src, scm.Revision{ID: second}, d); err != nil {
		t.Fatal(err)
	}
	if got := readWork(t, d, "f"); got != "good two\n" {
		t.Errorf("f = %q", got)
	}
}

// TestLinkTargetMangled shows what brzRepos.Mangles claims: brz itself
// commits a symlink whose target holds a newline with the target cut at
// the newline.
func TestLinkTargetMangled(t *testing.T) {
	needBrz(t)
	r := &brzRepos{}
	src := r.NewLinks(t, map[string]string{"f": "x\n"}, map[string]string{"odd": "before\nafter"})
	rev, err := Brz{}.Resolve(context.Background(), src)
	if err != nil {
		t.Fatal(err)
	}
	d := newDirs(t)
	if err := (Brz{}).Checkout(context.Background(), src, rev, d); err != nil {
		t.Fatal(err)
	}
	got, err := os.Readlink(filepath.Join(d.Work, "odd"))
	if err != nil {
		t.Fatal(err)
	}
	if got == "before\nafter" {
		t.Errorf("brz now keeps a newline in a symlink's target: drop Mangles")
	}
	if !strings.HasPrefix(got, "before") {
		t.Errorf("odd -> %q", got)
	}
}

// TestInputsSharedRepository: a branch of a shared repository keeps its
// revisions in the repository's folder above it, which Inputs names; a
// checkout reading only Inputs' folders succeeds.
func TestInputsSharedRepository(t *testing.T) {
	needBrz(t)
	top := testutil.Dir(t)
	repo := filepath.Join(top, "repo")
	brz(t, "/", "init-shared-repository", "-q", "--", repo)
	trunk := filepath.Join(repo, "project", "trunk")
	brz(t, "/", "init", "-q", "--create-prefix", "--", trunk)
	writeTree(t, trunk, map[string]string{"f": "one\n"}, nil, nil)
	brz(t, trunk, "add", "-q")
	brz(t, trunk, "commit", "-q", "-m", "one")
	for _, src := range []scm.Source{
		{Kind: Kind, URL: trunk},
		{Kind: Kind, URL: filepath.Join(repo, "project"), Branch: "trunk"},
	} {
		in := Brz{}.Inputs(src)
		if len(in) != 1 || in[0] != repo {
			t.Errorf("Inputs(%+v) = %q, want [%s]", src, in, repo)
		}
	}
	standalone := (&brzRepos{}).New(t, map[string]string{"f": "x\n"})
	if in := (Brz{}).Inputs(standalone); len(in) != 1 || in[0] != standalone.URL {
		t.Errorf("Inputs(%s) = %q", standalone.URL, in)
	}
	if in := (Brz{}).Inputs(scm.Source{Kind: Kind, URL: "bzr://host/branch"}); len(in) != 0 {
		t.Errorf("Inputs of a remote = %q", in)
	}
}
