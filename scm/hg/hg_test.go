package hg

import (
	"bufio"
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/autobuild/autobuild/internal/testutil"
	"github.com/autobuild/autobuild/scm"
	"github.com/autobuild/autobuild/scm/scmtest"
)

func needHg(t testing.TB) {
	t.Helper()
	testutil.NeedTool(t, "hg", "mercurial")
}

func TestConformance(t *testing.T) {
	needHg(t)
	t.Run("path", func(t *testing.T) { scmtest.Run(t, Hg{}, &hgRepos{}) })
	t.Run("file URL", func(t *testing.T) { scmtest.Run(t, Hg{}, &hgRepos{fileURL: true}) })
	t.Run("http", func(t *testing.T) { scmtest.Run(t, Hg{}, &hgRepos{http: true}) })
}

// hgRepos makes repositories with the hg command, named by their path, by
// a file:// URL, or served by hg's own HTTP server (hg serve) on the
// loopback.
type hgRepos struct {
	fileURL, http bool
	mu            sync.Mutex
	works         map[string]string
}

// Refuses implements scmtest.NameRefuser: hg refuses a newline or a
// carriage return in a name (TestRefusedNames).
func (*hgRepos) Refuses(name string) bool { return strings.ContainsAny(name, "\n\r") }

// hg runs the hg command for a test, with the environment of the SCM's
// own commands.
func hg(t testing.TB, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command("hg", args...)
	cmd.Dir = dir
	cmd.Env = Env()
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("hg %q in %s: %v\n%s", args, dir, err, out)
	}
	return strings.TrimSpace(string(out))
}

func (r *hgRepos) New(t *testing.T, files map[string]string) scm.Source {
	return r.NewLinks(t, files, nil)
}

func (r *hgRepos) NewLinks(t *testing.T, files, links map[string]string) scm.Source {
	work := filepath.Join(testutil.Dir(t), "repo")
	hg(t, "/", "init", "--", work)
	writeTree(t, work, files, links, nil)
	hg(t, work, "commit", "--addremove", "-q", "-m", "first")
	u := work
	switch {
	case r.fileURL:
		u = "file://" + work
	case r.http:
		u = serve(t, "--repository", work)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.works == nil {
		r.works = map[string]string{}
	}
	r.works[u] = work
	return scm.Source{Kind: Kind, URL: u}
}

func (r *hgRepos) Commit(t *testing.T, src scm.Source, files map[string]string) string {
	return r.CommitLinks(t, src, files, nil, nil)
}

func (r *hgRepos) CommitLinks(t *testing.T, src scm.Source, files, links map[string]string, remove []string) string {
	r.mu.Lock()
	work := r.works[src.URL]
	r.mu.Unlock()
	if work == "" {
		t.Fatalf("no repository made for %s", src.URL)
	}
	writeTree(t, work, files, links, remove)
	hg(t, work, "commit", "--addremove", "-q", "-m", "change")
	return hg(t, work, "log", "-r", ".", "-T", "{node}")
}

func (r *hgRepos) Missing(t *testing.T) scm.Source {
	u := filepath.Join(testutil.Dir(t), "missing")
	switch {
	case r.fileURL:
		u = "file://" + u
	case r.http:
		// A server of no repository at all.
		conf := filepath.Join(testutil.Dir(t), "web.conf")
		if err := os.WriteFile(conf, []byte("[paths]\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		u = serve(t, "--web-conf", conf) + "missing"
	}
	return scm.Source{Kind: Kind, URL: u}
}

// serve starts hg serve with args on the loopback, for the test, and
// returns its URL.
func serve(t *testing.T, args ...string) string {
	t.Helper()
	cmd := exec.Command("hg", append([]string{"serve", "--address", "127.0.0.1", "--port", "0"}, args...)...)
	cmd.Env = Env()
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	line, err := bufio.NewReader(out).ReadString('\n')
	_, addr, ok := strings.Cut(line, "(bound to ")
	addr, _, _ = strings.Cut(addr, ")")
	if err != nil || !ok || addr == "" {
		t.Fatalf("hg serve said %q (%v)", line, err)
	}
	go io.Copy(io.Discard, out)
	return "http://" + addr + "/"
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

// TestRefusedNames shows what hgRepos.Refuses claims: hg itself refuses
// to commit a name with a newline.
func TestRefusedNames(t *testing.T) {
	needHg(t)
	work := filepath.Join(testutil.Dir(t), "repo")
	hg(t, "/", "init", "--", work)
	writeTree(t, work, map[string]string{"new\nline": "x\n"}, nil, nil)
	cmd := exec.Command("hg", "commit", "--addremove", "-m", "x")
	cmd.Dir, cmd.Env = work, Env()
	out, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "disallowed in filenames") {
		t.Fatalf("hg committed a name with a newline: %v\n%s", err, out)
	}
}

// TestResolveNames resolves each kind of name hg has, and checks each
// out.
func TestResolveNames(t *testing.T) {
	needHg(t)
	r := &hgRepos{}
	src := r.New(t, map[string]string{"f": "one\n"})
	work := src.URL
	first := hg(t, work, "log", "-r", ".", "-T", "{node}")
	hg(t, work, "tag", "-m", "tag v1", "v1")
	tagged := hg(t, work, "log", "-r", ".", "-T", "{node}") // the .hgtags commit
	hg(t, work, "branch", "-q", "dev")
	dev := r.Commit(t, src, map[string]string{"f": "dev\n"})
	hg(t, work, "update", "-q", "default")
	hg(t, work, "bookmark", "-r", first, "mark")
	second := r.Commit(t, src, map[string]string{"f": "two\n"})
	if second == tagged {
		t.Fatal("no new commit")
	}
	tests := []struct {
		name    string
		src     scm.Source
		want    string
		content string
		wantErr string
	}{
		{"default branch", scm.Source{URL: work}, second, "two\n", ""},
		{"named branch", scm.Source{URL: work, Branch: "dev"}, dev, "dev\n", ""},
		{"bookmark", scm.Source{URL: work, Branch: "mark"}, first, "one\n", ""},
		{"tag", scm.Source{URL: work, Tag: "v1"}, first, "one\n", ""},
		{"commit", scm.Source{URL: work, Commit: first}, first, "one\n", ""},
		{"file URL", scm.Source{URL: "file://" + work, Branch: "dev"}, dev, "dev\n", ""},
		{"unknown branch", scm.Source{URL: work, Branch: "nope"}, "", "", "unknown revision 'nope'"},
		{"unknown tag", scm.Source{URL: work, Tag: "v9"}, "", "", "unknown revision 'v9'"},
		{"unknown commit", scm.Source{URL: work, Commit: strings.Repeat("ab", 20)}, "", "", "unknown revision"},
		{"missing repository", scm.Source{URL: filepath.Join(filepath.Dir(work), "missing")}, "", "", "not found"},
		// hg's own --rev would evaluate it as a revset (the tip-most node).
		{"a revset is no name", scm.Source{URL: work, Branch: "max(all())"}, "", "", "unknown revision 'max(all())'"},
		{"a quote in a name", scm.Source{URL: work, Branch: `it's\`}, "", "", `unknown revision 'it's\'`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.src.Kind = Kind
			if err := (Hg{}).Validate(tt.src); err != nil {
				t.Fatalf("Validate: %v", err)
			}
			rev, err := Hg{}.Resolve(context.Background(), tt.src)
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
			if err := (Hg{}).Checkout(context.Background(), tt.src, rev, d); err != nil {
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
		{scm.Source{URL: "/repo#branch"}, "url"},
		{scm.Source{URL: "ftp://host/repo"}, "url"},
		{scm.Source{URL: "/repo", Commit: "abc123"}, "commit"},
		{scm.Source{URL: "/repo", Branch: "a\nb"}, "branch"},
		{scm.Source{URL: "/repo", Tag: "a\x01"}, "tag"},
	} {
		err := Hg{}.Validate(tt.src)
		fe, ok := err.(*scm.FieldError)
		if !ok || fe.Field != tt.field {
			t.Errorf("Validate(%+v) = %v, want an error on %s", tt.src, err, tt.field)
		}
	}
	for _, ok := range []string{"/repo", "file:///repo", "https://host/repo", "ssh://host/repo"} {
		if err := (Hg{}).Validate(scm.Source{URL: ok}); err != nil {
			t.Errorf("Validate(%s) = %v", ok, err)
		}
	}
}

// TestSourceHooksDoNotRun: a local source's .hg/hgrc names hooks that
// hg runs when another repository pulls from it (outgoing hooks of the
// source) and when it is identified. A plain pull runs them (the
// control); Resolve and Checkout run none, and read none of its
// configuration.
func TestSourceHooksDoNotRun(t *testing.T) {
	needHg(t)
	r := &hgRepos{}
	src := r.New(t, map[string]string{"f": "one\n"})
	marker := filepath.Join(testutil.Dir(t), "hook-ran")
	hgrc := "[hooks]\npreoutgoing = touch " + marker + "\noutgoing = touch " + marker +
		"\npre-identify = touch " + marker + "\npre-pull = touch " + marker + "\n"
	if err := os.WriteFile(filepath.Join(src.URL, ".hg", "hgrc"), []byte(hgrc), 0o644); err != nil {
		t.Fatal(err)
	}

	// Control: hg as anyone runs it reads the source's hgrc.
	other := filepath.Join(testutil.Dir(t), "other")
	hg(t, "/", "init", "--", other)
	ctl := exec.Command("hg", "--repository", other, "pull", "-q", "--", src.URL)
	ctl.Env = append(os.Environ(), "HGRCPATH=")
	if out, err := ctl.CombinedOutput(); err != nil {
		t.Fatalf("control pull: %v\n%s", err, out)
	}
	if _, err := os.Stat(marker); err != nil {
		t.Fatalf("control: a plain pull ran no hook of the source (%v): the test proves nothing", err)
	}
	os.Remove(marker)

	rev, err := Hg{}.Resolve(context.Background(), src)
	if err != nil {
		t.Fatal(err)
	}
	d := newDirs(t)
	if err := (Hg{}).Checkout(context.Background(), src, rev, d); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(marker); err == nil {
		t.Errorf("a hook of the source ran")
	}
	// Hooks planted in the metadata folder's own repository do not run
	// either (it is the repository hg writes).
	r.Commit(t, src, map[string]string{"f": "two\n"})
	if err := os.WriteFile(filepath.Join(repoDir(d), ".hg", "hgrc"), []byte("[hooks]\nchangegroup = touch "+marker+"\npretxnchangegroup = touch "+marker+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	rev2, err := Hg{}.Resolve(context.Background(), src)
	if err != nil {
		t.Fatal(err)
	}
	if err := (Hg{}).Checkout(context.Background(), src, rev2, d); err != nil {
		t.Fatal(err)
	}
	if got := readWork(t, d, "f"); got != "two\n" {
		t.Errorf("f = %q after the second checkout", got)
	}
	if _, err := os.Stat(marker); err == nil {
		t.Errorf("a hook of the metadata folder's repository ran")
	}
}

// TestSubrepositoriesRefused: a node whose tree names subrepositories
// fails its checkout, naming them, rather than build without them.
func TestSubrepositoriesRefused(t *testing.T) {
	needHg(t)
	r := &hgRepos{}
	src := r.New(t, map[string]string{"f": "one\n"})
	sub := filepath.Join(src.URL, "sub")
	hg(t, "/", "init", "--", sub)
	writeTree(t, sub, map[string]string{"s": "sub\n"}, nil, nil)
	hg(t, sub, "commit", "--addremove", "-q", "-m", "sub")
	r.Commit(t, src, map[string]string{".hgsub": "sub = sub\n"})
	rev, err := Hg{}.Resolve(context.Background(), src)
	if err != nil {
		t.Fatal(err)
	}
	err = Hg{}.Checkout(context.Background(), src, rev, newDirs(t))
	if err == nil || !strings.Contains(err.Error(), "subrepositories") {
		t.Fatalf("Checkout = %v, want an error about subrepositories", err)
	}
}

// TestInterruptedPullRecovers: a pull killed mid-way leaves an abandoned
// transaction in the metadata folder's repository; the next checkout
// still succeeds.
func TestInterruptedPullRecovers(t *testing.T) {
	needHg(t)
	r := &hgRepos{}
	src := r.New(t, map[string]string{"f": "one\n"})
	rev, err := Hg{}.Resolve(context.Background(), src)
	if err != nil {
		t.Fatal(err)
	}
	d := newDirs(t)
	if err := (Hg{}).Checkout(context.Background(), src, rev, d); err != nil {
		t.Fatal(err)
	}
	second := r.Commit(t, src, map[string]string{"f": "two\n"})
	if err := os.WriteFile(filepath.Join(repoDir(d), ".hg", "store", "journal"), []byte("00changelog.i\x000\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := (Hg{}).Checkout(context.Background(), src, scm.Revision{ID: second}, d); err != nil {
		t.Fatal(err)
	}
	if got := readWork(t, d, "f"); got != "two\n" {
		t.Errorf("f = %q", got)
	}
}

// commitAt commits files in work with message msg (given as a file: any
// bytes), dated sec seconds after the epoch, and returns the node.
func commitAt(t *testing.T, work string, sec int64, msg string, files map[string]string) string {
	t.Helper()
	writeTree(t, work, files, nil, nil)
	f := filepath.Join(testutil.Dir(t), "msg")
	if err := os.WriteFile(f, []byte(msg), 0o644); err != nil {
		t.Fatal(err)
	}
	hg(t, work, "commit", "--addremove", "-q", "--date", strconv.FormatInt(sec, 10)+" 0", "--logfile", f)
	return hg(t, work, "log", "-r", ".", "-T", "{node}")
}

// t0 is the date of the first commit of the dated histories below.
const t0 = 1_600_000_000

func at(sec int64) time.Time { return time.Unix(sec, 0) }

// datedRepo makes a repository whose default branch has a merge:
//
//	a (t0) ─ b (t0+200) ─ m (t0+300, merges s)
//	   └──── s (t0+150) ─┘
//
// and a named branch dev from a (d, t0+100), a tag v1 on a (the tag's
// commit, t0+50, is on a branch of its own), a bookmark mark on s.
func datedRepo(t *testing.T) (src scm.Source, a, s, b, m, d string) {
	t.Helper()
	work := filepath.Join(testutil.Dir(t), "repo")
	hg(t, "/", "init", "--", work)
	a = commitAt(t, work, t0, "a", map[string]string{"f": "a\n"})
	hg(t, work, "branch", "-q", "tags")
	hg(t, work, "tag", "-q", "--date", strconv.Itoa(t0+50)+" 0", "-r", a, "v1")
	hg(t, work, "update", "-q", a)
	hg(t, work, "branch", "-q", "dev")
	d = commitAt(t, work, t0+100, "d", map[string]string{"f": "d\n"})
	hg(t, work, "update", "-q", a)
	s = commitAt(t, work, t0+150, "s", map[string]string{"side": "s\n"})
	hg(t, work, "bookmark", "-q", "mark")
	hg(t, work, "update", "-q", a)
	b = commitAt(t, work, t0+200, "b", map[string]string{"f": "b\n"})
	hg(t, work, "merge", "-q", s)
	m = commitAt(t, work, t0+300, "m", nil)
	return scm.Source{Kind: Kind, URL: work}, a, s, b, m, d
}

// TestDatedHistory resolves each kind of name at several times, and
// lists the changes across a merge, on one dated history (datedRepo).
func TestDatedHistory(t *testing.T) {
	needHg(t)
	ctx := context.Background()
	src, a, s, b, m, d := datedRepo(t)

	// A branch follows its first parents (a merge's second parent, s,
	// was never the branch's state); a tag stays pinned; an unknown
	// branch fails with hg's message. One metadata folder serves them
	// all.
	t.Run("ResolveAt", func(t *testing.T) {
		dirs := newDirs(t)
		dev, tag, mark := src, src, src
		dev.Branch, tag.Tag, mark.Branch = "dev", "v1", "mark"
		for _, tt := range []struct {
			name string
			src  scm.Source
			at   int64
			want string // "": no revision that old
		}{
			{"default, before the first commit", src, t0 - 1, ""},
			{"default, at a side commit merged later", src, t0 + 160, a},
			{"default, between b and the merge", src, t0 + 299, b},
			{"default, at the merge", src, t0 + 300, m},
			{"named branch, before its commit", dev, t0 + 99, a},
			{"named branch, after its commit", dev, t0 + 1000, d},
			{"bookmark", mark, t0 + 1000, s},
			{"tag, whatever the time", tag, t0 - 1000, a},
		} {
			rev, err := Hg{}.ResolveAt(ctx, tt.src, at(tt.at), dirs)
			if tt.want == "" {
				if !errors.Is(err, scm.ErrNoRevisionAt) {
					t.Errorf("%s: ResolveAt = %v, %v; want an error wrapping %v", tt.name, rev, err, scm.ErrNoRevisionAt)
				}
			} else if err != nil || rev.ID != tt.want {
				t.Errorf("%s: ResolveAt = %v, %v; want %s", tt.name, rev, err, tt.want)
			}
		}
		nope := src
		nope.Branch = "nope"
		rev, err := Hg{}.ResolveAt(ctx, nope, at(t0+1000), dirs)
		if err == nil || !strings.Contains(err.Error(), "unknown revision 'nope'") || errors.Is(err, scm.ErrNoRevisionAt) {
			t.Errorf("ResolveAt(unknown branch) = %v, %v; want hg's unknown revision", rev, err)
		}
	})

	// The changes a merge brought: those of both its parents' lines
	// since the last build, children first.
	t.Run("ChangesAcrossMerge", func(t *testing.T) {
		dirs := newDirs(t)
		if err := (Hg{}).Checkout(ctx, src, scm.Revision{ID: m}, dirs); err != nil {
			t.Fatal(err)
		}
		for _, tt := range []struct {
			name string
			from string
			max  int
			want []string
		}{
			{"since the first commit", a, 10, []string{m, b, s}},
			{"at most 2", a, 2, []string{m, b}},
			{"since the merged side commit", s, 10, []string{m, b}},
			{"from another branch: the newest", d, 10, []string{m, b, s, a}},
			{"from a node hg does not have", strings.Repeat("ab", 20), 3, []string{m, b, s}},
			{"from a bookmark's name", "mark", 10, []string{m, b, s, a}},
			{"none", m, 10, nil},
		} {
			cs, err := Hg{}.Changes(ctx, src, dirs, scm.Revision{ID: tt.from}, scm.Revision{ID: m}, tt.max)
			if err != nil || !slices.Equal(ids(cs), tt.want) {
				t.Errorf("%s: Changes = %v, %v; want %v", tt.name, ids(cs), err, tt.want)
			}
			if tt.name == "since the first commit" && len(cs) == 3 {
				for i, want := range []struct {
					sec   int64
					files []string
				}{{t0 + 300, nil}, {t0 + 200, []string{"f"}}, {t0 + 150, []string{"side"}}} {
					c := cs[i]
					if !c.Date.Equal(at(want.sec)) || c.Date.Location() != time.UTC || c.Author != "autobuild" || !slices.Equal(c.Files, want.files) {
						t.Errorf("change %d = %+v, want one dated %v by autobuild touching %q", i, c, at(want.sec).UTC(), want.files)
					}
				}
			}
		}
		// A node the metadata folder lacks is an error, not an empty
		// list; so is a folder with no repository.
		if cs, err := (Hg{}).Changes(ctx, src, dirs, scm.Revision{}, scm.Revision{ID: strings.Repeat("cd", 20)}, 10); err == nil {
			t.Errorf("Changes up to a node not there = %v, want an error", cs)
		}
		if cs, err := (Hg{}).Changes(ctx, src, newDirs(t), scm.Revision{}, scm.Revision{ID: m}, 10); err == nil {
			t.Errorf("Changes in an empty folder = %v, want an error", cs)
		}
	})

	// What ResolveAt pulls into a folder that holds an older checkout is
	// all a Checkout then needs: it succeeds with the source gone.
	t.Run("ResolveAtFetchServesCheckout", func(t *testing.T) {
		dirs := newDirs(t)
		if err := (Hg{}).Checkout(ctx, scm.Source{Kind: Kind, URL: src.URL, Commit: a}, scm.Revision{ID: a}, dirs); err != nil {
			t.Fatal(err)
		}
		// A file only the first checkout's metadata holds: ResolveAt
		// adds to it, and does not start afresh.
		marker := filepath.Join(repoDir(dirs), ".hg", "marker")
		if err := os.WriteFile(marker, nil, 0o644); err != nil {
			t.Fatal(err)
		}
		rev, err := Hg{}.ResolveAt(ctx, src, at(t0+250), dirs)
		if err != nil || rev.ID != b {
			t.Fatalf("ResolveAt = %v, %v; want %s", rev, err, b)
		}
		if _, err := os.Stat(marker); err != nil {
			t.Errorf("ResolveAt made the metadata afresh: %v", err)
		}
		if err := os.Rename(src.URL, src.URL+".gone"); err != nil {
			t.Fatal(err)
		}
		if err := (Hg{}).Checkout(ctx, src, rev, dirs); err != nil {
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
// like hg's JSON and a very long line are carried as data.
func TestChangesMessages(t *testing.T) {
	needHg(t)
	long := strings.Repeat("x", 100_000)
	msgs := []struct{ name, msg, want string }{
		{"several lines", "the subject\n\nthe body\nmore body\n", "the subject"},
		{"control characters", "bell\x07 esc\x1b[2J del\x7f \u202etxt.exe\tend\nsecond", "bell\x07 esc\x1b[2J del\x7f \u202etxt.exe\tend"},
		{"JSON of hg's", `"}, {"node": "` + strings.Repeat("0", 40) + `", "desc": "forged`, `"}, {"node": "` + strings.Repeat("0", 40) + `", "desc": "forged`},
		{"a very long line", long + "\nsecond", scm.Subject(long)},
	}
	r := &hgRepos{}
	src := r.New(t, map[string]string{"f": "0\n"})
	first, err := Hg{}.Resolve(context.Background(), src)
	if err != nil {
		t.Fatal(err)
	}
	var nodes []string
	for i, m := range msgs {
		nodes = append(nodes, commitAt(t, src.URL, time.Now().Unix(), m.msg, map[string]string{"f": strconv.Itoa(i+1) + "\n"}))
	}
	last := scm.Revision{ID: nodes[len(nodes)-1]}
	d := newDirs(t)
	if err := (Hg{}).Checkout(context.Background(), src, last, d); err != nil {
		t.Fatal(err)
	}
	cs, err := Hg{}.Changes(context.Background(), src, d, first, last, 10)
	if err != nil || len(cs) != len(msgs) {
		t.Fatalf("Changes = %d changes, %v; want %d", len(cs), err, len(msgs))
	}
	for i, m := range msgs {
		c := cs[len(cs)-1-i]
		if c.ID != nodes[i] || c.Subject != m.want || !slices.Equal(c.Files, []string{"f"}) {
			t.Errorf("%s: change %+v, want %s with subject %.300q and file f", m.name, c, nodes[i], m.want)
		}
	}
}
