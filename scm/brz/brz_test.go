package brz

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/autobuild/autobuild/internal/testutil"
	"github.com/autobuild/autobuild/scm"
	"github.com/autobuild/autobuild/scm/scmtest"
)

func needBrz(t testing.TB) {
	t.Helper()
	testutil.NeedTool(t, "brz", "brz")
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

// commitAt commits what work holds with message msg (given as a file),
// dated sec seconds after the epoch, and returns the revision id.
func commitAt(t *testing.T, work string, sec int64, msg string, files map[string]string) string {
	t.Helper()
	writeTree(t, work, files, nil, nil)
	f := filepath.Join(testutil.Dir(t), "msg")
	if err := os.WriteFile(f, []byte(msg), 0o644); err != nil {
		t.Fatal(err)
	}
	brz(t, work, "add", "-q")
	brz(t, work, "commit", "-q", "--unchanged", "--file", f, "--commit-time", time.Unix(sec, 0).UTC().Format("2006-01-02 15:04:05 -0700"))
	return revid(t, work)
}

// t0 is the date of the first commit of the dated histories below.
const t0 = 1_600_000_000

func at(sec int64) time.Time { return time.Unix(sec, 0) }

// datedBranches makes two branches below top, trunk with a merge and
// dev:
//
//	trunk: a (t0) ─ b (t0+200) ─ m (t0+300, merges s)
//	dev:      └──── s (t0+150) ─┴─ d (t0+400)
//
// with a tag v1 on a in trunk.
func datedBranches(t *testing.T) (top string, a, s, b, m, d string) {
	t.Helper()
	top = testutil.Dir(t)
	trunk, dev := filepath.Join(top, "trunk"), filepath.Join(top, "dev")
	brz(t, "/", "init", "-q", "--", trunk)
	a = commitAt(t, trunk, t0, "a", map[string]string{"f": "a\n"})
	brz(t, trunk, "tag", "-q", "v1")
	brz(t, "/", "branch", "-q", "--", trunk, dev)
	s = commitAt(t, dev, t0+150, "s", map[string]string{"side": "s\n"})
	b = commitAt(t, trunk, t0+200, "b", map[string]string{"f": "b\n"})
	brz(t, trunk, "merge", "-q", "--", dev)
	m = commitAt(t, trunk, t0+300, "m", nil)
	d = commitAt(t, dev, t0+400, "d", map[string]string{"side": "d\n"})
	return top, a, s, b, m, d
}

// TestDatedHistory resolves branches and a tag at several times, and
// lists the changes across a merge, on one dated history
// (datedBranches).
func TestDatedHistory(t *testing.T) {
	needBrz(t)
	ctx := context.Background()
	top, a, s, b, m, d := datedBranches(t)
	trunk := scm.Source{Kind: Kind, URL: filepath.Join(top, "trunk")}

	// A branch follows its mainline (a merged revision, s, was never
	// the branch's state); a tag stays pinned; an unknown branch fails
	// with brz's message. One metadata folder serves each branch.
	t.Run("ResolveAt", func(t *testing.T) {
		dev := scm.Source{Kind: Kind, URL: "file://" + top, Branch: "dev"}
		tag := trunk
		tag.Tag = "v1"
		dirs := map[string]scm.Dirs{trunk.URL: newDirs(t), dev.URL: newDirs(t)}
		for _, tt := range []struct {
			name string
			src  scm.Source
			at   int64
			want string // "": no revision that old
		}{
			{"trunk, before the first commit", trunk, t0 - 1, ""},
			{"trunk, at a merged commit", trunk, t0 + 160, a},
			{"trunk, between b and the merge", trunk, t0 + 299, b},
			{"trunk, at the merge", trunk, t0 + 300, m},
			{"branch below the URL, before its commit", dev, t0 + 149, a},
			{"branch below the URL, between its commits", dev, t0 + 399, s},
			{"branch below the URL, after its commits", dev, t0 + 1000, d},
			{"tag, whatever the time", tag, t0 - 1000, a},
		} {
			rev, err := Brz{}.ResolveAt(ctx, tt.src, at(tt.at), dirs[tt.src.URL])
			if tt.want == "" {
				if !errors.Is(err, scm.ErrNoRevisionAt) {
					t.Errorf("%s: ResolveAt = %v, %v; want an error wrapping %v", tt.name, rev, err, scm.ErrNoRevisionAt)
				}
			} else if err != nil || rev.ID != tt.want {
				t.Errorf("%s: ResolveAt = %v, %v; want %s", tt.name, rev, err, tt.want)
			}
		}
		nope := dev
		nope.Branch = "nope"
		rev, err := Brz{}.ResolveAt(ctx, nope, at(t0+1000), newDirs(t))
		if err == nil || !strings.Contains(err.Error(), "Not a branch") || errors.Is(err, scm.ErrNoRevisionAt) {
			t.Errorf("ResolveAt(unknown branch) = %v, %v; want brz's Not a branch", rev, err)
		}
	})

	// The changes a merge brought, in brz log's order: the merge, what
	// it merged, then the mainline.
	t.Run("ChangesAcrossMerge", func(t *testing.T) {
		dirs := newDirs(t)
		if err := (Brz{}).Checkout(ctx, trunk, scm.Revision{ID: m}, dirs); err != nil {
			t.Fatal(err)
		}
		for _, tt := range []struct {
			name string
			from string
			max  int
			want []string
		}{
			{"since the first commit", a, 10, []string{m, s, b}},
			{"at most 2", a, 2, []string{m, s}},
			{"since the merged commit", s, 10, []string{m, b}},
			{"from a later commit of another branch: the newest", d, 10, []string{m, s, b, a}},
			{"from a revision brz does not have", "nobody@example-20000101000000-x", 3, []string{m, s, b}},
			{"from a revision number", "1", 10, []string{m, s, b, a}},
			{"none", m, 10, nil},
		} {
			cs, err := Brz{}.Changes(ctx, trunk, dirs, scm.Revision{ID: tt.from}, scm.Revision{ID: m}, tt.max)
			if err != nil || !slices.Equal(ids(cs), tt.want) {
				t.Errorf("%s: Changes = %v, %v; want %v", tt.name, ids(cs), err, tt.want)
			}
			if tt.name == "since the first commit" && len(cs) == 3 {
				for i, want := range []struct {
					sec   int64
					files []string
				}{{t0 + 300, []string{"side"}}, {t0 + 150, []string{"side"}}, {t0 + 200, []string{"f"}}} {
					c := cs[i]
					if !c.Date.Equal(at(want.sec)) || c.Date.Location() != time.UTC || c.Author != "autobuild <autobuild@localhost>" || !slices.Equal(c.Files, want.files) {
						t.Errorf("change %d = %+v, want one dated %v by autobuild touching %q", i, c, at(want.sec).UTC(), want.files)
					}
				}
			}
		}
		// A revision the metadata folder lacks is an error, not an
		// empty list; so is a folder with no branch.
		if cs, err := (Brz{}).Changes(ctx, trunk, dirs, scm.Revision{}, scm.Revision{ID: d}, 10); err == nil || !strings.Contains(err.Error(), "not in the branch") {
			t.Errorf("Changes up to a revision not there = %v, %v; want an error", cs, err)
		}
		if cs, err := (Brz{}).Changes(ctx, trunk, newDirs(t), scm.Revision{}, scm.Revision{ID: m}, 10); err == nil {
			t.Errorf("Changes in an empty folder = %v, want an error", cs)
		}
	})

	// What ResolveAt pulls into a folder that holds an older checkout is
	// all a Checkout then needs: it succeeds with the source gone.
	t.Run("ResolveAtFetchServesCheckout", func(t *testing.T) {
		dirs := newDirs(t)
		pinned := trunk
		pinned.Commit = a
		if err := (Brz{}).Checkout(ctx, pinned, scm.Revision{ID: a}, dirs); err != nil {
			t.Fatal(err)
		}
		// A file only the first checkout's metadata holds: ResolveAt
		// adds to it, and does not start afresh.
		marker := filepath.Join(branchDir(dirs), ".bzr", "marker")
		if err := os.WriteFile(marker, nil, 0o644); err != nil {
			t.Fatal(err)
		}
		rev, err := Brz{}.ResolveAt(ctx, trunk, at(t0+250), dirs)
		if err != nil || rev.ID != b {
			t.Fatalf("ResolveAt = %v, %v; want %s", rev, err, b)
		}
		if _, err := os.Stat(marker); err != nil {
			t.Errorf("ResolveAt made the metadata afresh: %v", err)
		}
		if err := os.Rename(trunk.URL, trunk.URL+".gone"); err != nil {
			t.Fatal(err)
		}
		if err := (Brz{}).Checkout(ctx, trunk, rev, dirs); err != nil {
			t.Fatalf("Checkout of what ResolveAt fetched, without the source: %v", err)
		}
		if got := readWork(t, dirs, "f"); got != "b\n" {
			t.Errorf("f = %q, want b", got)
		}
	})
}

func ids(cs []scm.Change) []string {
	var out []string
	for _, c := range cs {
		out = append(out, c.ID)
	}
	return out
}

// TestChangesMessages: a subject is the first line of a message of
// several lines; control characters, terminal escapes, text that looks
// like JSON and a very long line are carried as data. (brz itself
// refuses a carriage return in a message.)
func TestChangesMessages(t *testing.T) {
	needBrz(t)
	long := strings.Repeat("x", 100_000)
	msgs := []struct{ name, msg, want string }{
		{"several lines", "the subject\n\nthe body\nmore body\n", "the subject"},
		{"control characters", "bell\x07 esc\x1b[2J del\x7f \u202etxt.exe\tend\nsecond", "bell\x07 esc\x1b[2J del\x7f \u202etxt.exe\tend"},
		{"JSON", `"}]}, {"id": "forged`, `"}]}, {"id": "forged`},
		{"a very long line", long + "\nsecond", scm.Subject(long)},
	}
	r := &brzRepos{}
	src := r.New(t, map[string]string{"f": "0\n"})
	first, err := Brz{}.Resolve(context.Background(), src)
	if err != nil {
		t.Fatal(err)
	}
	var revs []string
	for i, m := range msgs {
		revs = append(revs, commitAt(t, src.URL, time.Now().Unix(), m.msg, map[string]string{"f": strconv.Itoa(i+1) + "\n"}))
	}
	last := scm.Revision{ID: revs[len(revs)-1]}
	d := newDirs(t)
	if err := (Brz{}).Checkout(context.Background(), src, last, d); err != nil {
		t.Fatal(err)
	}
	cs, err := Brz{}.Changes(context.Background(), src, d, first, last, 10)
	if err != nil || len(cs) != len(msgs) {
		t.Fatalf("Changes = %d changes, %v; want %d", len(cs), err, len(msgs))
	}
	for i, m := range msgs {
		c := cs[len(cs)-1-i]
		if c.ID != revs[i] || c.Subject != m.want || !slices.Equal(c.Files, []string{"f"}) {
			t.Errorf("%s: change %+v, want %s with subject %.300q and file f", m.name, c, revs[i], m.want)
		}
	}

	// A rename lists both its paths.
	brz(t, src.URL, "mv", "-q", "f", "g")
	renamed := scm.Revision{ID: commitAt(t, src.URL, time.Now().Unix(), "rename", nil)}
	if err := (Brz{}).Checkout(context.Background(), src, renamed, d); err != nil {
		t.Fatal(err)
	}
	if cs, err := (Brz{}).Changes(context.Background(), src, d, last, renamed, 10); err != nil || len(cs) != 1 || !slices.Equal(cs[0].Files, []string{"f", "g"}) {
		t.Errorf("Changes of a rename = %+v, %v; want one touching f and g", cs, err)
	}
}
