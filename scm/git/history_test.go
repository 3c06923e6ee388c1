package git

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/autobuild/autobuild/internal/testutil"
	"github.com/autobuild/autobuild/scm"
)

// t0 is the date of the first commit of the histories these tests date
// themselves.
var t0 = time.Date(2020, 1, 2, 3, 4, 5, 0, time.UTC)

// dated is the environment that gives a git commit the author and
// committer date when.
func dated(when time.Time) []string {
	d := fmt.Sprintf("@%d +0000", when.Unix())
	return []string{"GIT_AUTHOR_DATE=" + d, "GIT_COMMITTER_DATE=" + d}
}

// commitAt writes files and removes the paths of remove in the work
// repository repo, commits them at when with message msg, and returns
// the commit.
func commitAt(t *testing.T, repo string, when time.Time, msg string, files map[string]string, remove ...string) string {
	t.Helper()
	writeTree(t, repo, files, nil, remove)
	gitIn(t, repo, "", "add", "-A")
	gitEnv(t, repo, dated(when), "", "commit", "-q", "--allow-empty", "-m", msg)
	return gitIn(t, repo, "", "rev-parse", "HEAD")
}

// mergeHistory is a repository whose main branch merged a feature
// branch:
//
//	main     A (t0) ── B (+20s) ───────── M (+40s, merge)
//	feature   └─ F1 (+10s) ── F2 (+30s) ──┘
//
// B removes shared.txt and adds b.txt; tag v1 (annotated) is F1.
type mergeHistory struct {
	dir, work                                string
	a, f1, f2, b, m                          string
	filesA, filesB, filesF1, filesF2, filesM []string
}

func newMergeHistory(t *testing.T) *mergeHistory {
	h := &mergeHistory{dir: testutil.Dir(t)}
	h.work = filepath.Join(h.dir, "repo")
	if err := os.Mkdir(h.work, 0o755); err != nil {
		t.Fatal(err)
	}
	gitIn(t, h.work, "", "init", "-q")
	h.a = commitAt(t, h.work, t0, "first", map[string]string{"a.txt": "a\n", "shared.txt": "shared\n"})
	gitIn(t, h.work, "", "checkout", "-q", "-b", "feature")
	h.f1 = commitAt(t, h.work, t0.Add(10*time.Second), "feature one", map[string]string{"feat/one.txt": "1\n"})
	gitEnv(t, h.work, dated(t0.Add(11*time.Second)), "", "tag", "-a", "v1", "-m", "release 1")
	h.f2 = commitAt(t, h.work, t0.Add(30*time.Second), "feature two", map[string]string{"feat/two.txt": "2\n"})
	gitIn(t, h.work, "", "checkout", "-q", "main")
	h.b = commitAt(t, h.work, t0.Add(20*time.Second), "b", map[string]string{"b.txt": "b\n"}, "shared.txt")
	gitEnv(t, h.work, dated(t0.Add(40*time.Second)), "", "merge", "-q", "--no-ff", "-m", "Merge feature\n\nWith its two commits.", "feature")
	h.m = gitIn(t, h.work, "", "rev-parse", "HEAD")
	h.filesA = []string{"a.txt", "shared.txt"}
	h.filesB = []string{"b.txt", "shared.txt"}
	h.filesF1 = []string{"feat/one.txt"}
	h.filesF2 = []string{"feat/two.txt"}
	h.filesM = []string{"feat/one.txt", "feat/two.txt"} // against B, its first parent
	return h
}

// served serves a bare clone of the history's repository over HTTP.
func (h *mergeHistory) served(t *testing.T) (url string, stop func()) {
	gitIn(t, h.dir, "", "clone", "-q", "--bare", h.work, "repo.git")
	srv := newHTTPServer(t, h.dir)
	return srv.URL + "/repo.git", srv.Close
}

func freshDirs(t *testing.T) scm.Dirs {
	top := t.TempDir()
	return scm.Dirs{Work: filepath.Join(top, "work"), Meta: filepath.Join(top, "meta")}
}

// ResolveAt walks the branch's first-parent history by committer date: a
// branch pin, the default branch, a time exactly at a commit, a commit
// that was on another branch at that time (F2, merged later), a tag and a
// commit whatever the time, and a time before the first commit. For a
// remote the branches are fetched into the metadata folder, and the
// checkout that follows needs no server.
func TestResolveAt(t *testing.T) {
	h := newMergeHistory(t)
	url, stop := h.served(t)
	for _, remote := range []bool{false, true} {
		t.Run(map[bool]string{false: "local", true: "http"}[remote], func(t *testing.T) {
			src := scm.Source{Kind: Kind, URL: h.work}
			if remote {
				src.URL = url
			}
			d := freshDirs(t)
			for _, c := range []struct {
				name   string
				branch string
				at     time.Time
				want   string
			}{
				{"default branch between commits", "", t0.Add(25 * time.Second), h.b},
				{"first parent only", "", t0.Add(35 * time.Second), h.b},
				{"exactly at the merge", "", t0.Add(40 * time.Second), h.m},
				{"after the newest", "", time.Now().Add(time.Hour), h.m},
				{"branch pin", "feature", t0.Add(15 * time.Second), h.f1},
				{"branch pin, before it forked", "feature", t0.Add(5 * time.Second), h.a},
				{"branch pin, exactly at", "feature", t0.Add(30 * time.Second), h.f2},
			} {
				s := src
				s.Branch = c.branch
				rev, err := Git{}.ResolveAt(context.Background(), s, c.at, d)
				if err != nil || rev.ID != c.want {
					t.Errorf("%s: ResolveAt(%s, %v) = %v, %v; want %s", c.name, s.Ref(), c.at, rev, err, c.want)
				}
			}
			for _, pin := range []scm.Source{{Kind: Kind, URL: src.URL, Tag: "v1"}, {Kind: Kind, URL: src.URL, Commit: h.f1}} {
				if rev, err := (Git{}).ResolveAt(context.Background(), pin, t0.Add(-time.Hour), freshDirs(t)); err != nil || rev.ID != h.f1 {
					t.Errorf("ResolveAt(%s, before any commit) = %v, %v; want the pin %s", pin.Ref(), rev, err, h.f1)
				}
			}
			before := t0.Add(-time.Second)
			rev, err := Git{}.ResolveAt(context.Background(), src, before, freshDirs(t))
			if !errors.Is(err, scm.ErrNoRevisionAt) || !strings.Contains(err.Error(), h.a) || !strings.Contains(err.Error(), "2020-01-02T03:04:05Z") {
				t.Errorf("ResolveAt(before the first commit) = %v, %v; want ErrNoRevisionAt naming the first commit %s and its date", rev, err, h.a)
			}
			if !remote {
				if ents, _ := os.ReadDir(d.Meta); len(ents) != 0 {
					t.Errorf("ResolveAt of a local repository wrote into the metadata folder")
				}
				return
			}
			if (Git{}).HasCheckout(d) {
				t.Errorf("HasCheckout after ResolveAt alone = true")
			}
			if _, err := os.Stat(d.Work); err == nil {
				t.Errorf("ResolveAt made the work tree")
			}
			// What ResolveAt fetched serves the checkout: no server is
			// needed any more. The control shows a fresh folder needs it.
			stop()
			if err := (Git{}).Checkout(context.Background(), src, scm.Revision{ID: h.b}, freshDirs(t)); err == nil {
				t.Fatalf("control: a checkout into fresh folders succeeded with the server stopped")
			}
			if err := (Git{}).Checkout(context.Background(), src, scm.Revision{ID: h.b}, d); err != nil {
				t.Fatalf("Checkout after ResolveAt, the server stopped: %v", err)
			}
			if b, _ := os.ReadFile(filepath.Join(d.Work, "b.txt")); string(b) != "b\n" {
				t.Errorf("b.txt = %q", b)
			}
			if cur, err := (Git{}).Current(d); err != nil || cur.ID != h.b {
				t.Errorf("Current = %v, %v; want %s", cur, err, h.b)
			}
		})
	}
}

// An unknown branch is the error Resolve gives (it names the branch), not
// "no revision at that time", and leaves no checkout behind.
func TestResolveAtUnknownBranch(t *testing.T) {
	h := newMergeHistory(t)
	url, _ := h.served(t)
	for _, u := range []string{h.work, "file://" + h.work, url} {
		d := freshDirs(t)
		src := scm.Source{Kind: Kind, URL: u, Branch: "nope"}
		rev, err := Git{}.ResolveAt(context.Background(), src, time.Now(), d)
		if err == nil || !strings.Contains(err.Error(), "no branch nope") || errors.Is(err, scm.ErrNoRevisionAt) {
			t.Errorf("ResolveAt(%s, branch nope) = %v, %v; want the error naming the branch", u, rev, err)
		}
		if (Git{}).HasCheckout(d) {
			t.Errorf("%s: HasCheckout after a failed ResolveAt = true", u)
		}
	}
}

// Changes is git log from..to: across a merge it lists both sides, newest
// first by committer date; a merge's files are those it changed against
// its first parent; from on the other side of the merge leaves out only
// what it reaches; from that is not an ancestor (a newer revision, or a
// rewritten history) gives the newest max up to to. A remote is read
// from the metadata folder its checkout fetched into, with its server
// stopped.
func TestChanges(t *testing.T) {
	h := newMergeHistory(t)
	url, stop := h.served(t)
	// A history rewritten: a commit no longer reachable from the branch.
	gitIn(t, h.work, "", "checkout", "-q", "--orphan", "rewritten")
	other := commitAt(t, h.work, t0.Add(50*time.Second), "rewritten", map[string]string{"x": "x\n"})
	gitIn(t, h.work, "", "checkout", "-q", "main")

	type want struct {
		id    string
		files []string
	}
	m, f2, b, f1, a := want{h.m, h.filesM}, want{h.f2, h.filesF2}, want{h.b, h.filesB}, want{h.f1, h.filesF1}, want{h.a, h.filesA}
	cases := []struct {
		name     string
		from, to string
		max      int
		want     []want
	}{
		{"since the first commit", h.a, h.m, 10, []want{m, f2, b, f1}},
		{"since the main side", h.b, h.m, 10, []want{m, f2, f1}},
		{"since the feature side", h.f2, h.m, 10, []want{m, b}},
		{"at most max", h.a, h.m, 2, []want{m, f2}},
		{"none", h.m, h.m, 10, nil},
		{"first build", "", h.m, 3, []want{m, f2, b}},
		{"first build, all", "", h.m, 10, []want{m, f2, b, f1, a}},
		{"from a newer revision", h.m, h.b, 10, []want{b, a}},
		{"from a rewritten history", other, h.m, 2, []want{m, f2}},
		{"from an unknown commit", strings.Repeat("e", 40), h.f1, 10, []want{f1, a}},
	}
	for _, remote := range []bool{false, true} {
		t.Run(map[bool]string{false: "local", true: "http"}[remote], func(t *testing.T) {
			src := scm.Source{Kind: Kind, URL: h.work}
			d := freshDirs(t)
			if remote {
				src.URL = url
				if _, err := (Git{}).Changes(context.Background(), src, d, scm.Revision{}, scm.Revision{ID: h.m}, 10); err == nil || !strings.Contains(err.Error(), "holds no checkout") {
					t.Errorf("Changes before any checkout = %v, want an error", err)
				}
				if err := (Git{}).Checkout(context.Background(), src, scm.Revision{ID: h.m}, d); err != nil {
					t.Fatal(err)
				}
				stop()
			}
			for _, c := range cases {
				cs, err := Git{}.Changes(context.Background(), src, d, scm.Revision{ID: c.from}, scm.Revision{ID: c.to}, c.max)
				if err != nil {
					t.Errorf("%s: %v", c.name, err)
					continue
				}
				var got, exp []string
				for _, ch := range cs {
					got = append(got, fmt.Sprintf("%s %q", ch.ID, ch.Files))
				}
				for _, w := range c.want {
					exp = append(exp, fmt.Sprintf("%s %q", w.id, w.files))
				}
				if !slices.Equal(got, exp) {
					t.Errorf("%s: Changes(%.7s, %.7s, %d) =\n\t%s\nwant\n\t%s", c.name, c.from, c.to, c.max, strings.Join(got, "\n\t"), strings.Join(exp, "\n\t"))
				}
			}
			cs, err := Git{}.Changes(context.Background(), src, d, scm.Revision{ID: h.b}, scm.Revision{ID: h.m}, 1)
			if err != nil || len(cs) != 1 {
				t.Fatalf("Changes(b, m, 1) = %+v, %v", cs, err)
			}
			w := scm.Change{ID: h.m, Author: "test <test@example.invalid>", Date: t0.Add(40 * time.Second), Subject: "Merge feature", Files: h.filesM}
			if c := cs[0]; c.ID != w.ID || c.Author != w.Author || !c.Date.Equal(w.Date) || c.Date.Location() != time.UTC || c.Subject != w.Subject || !slices.Equal(c.Files, w.Files) {
				t.Errorf("the merge's change = %+v, want %+v", c, w)
			}
		})
	}
}

// A commit message and an author are data: control characters and a NUL
// are carried as they are, a very long first line is cut at a character
// boundary, a message of several lines gives its first, and file names
// with a newline or an escape are listed as they are.
func TestChangesCarryHostileText(t *testing.T) {
	dir := testutil.Dir(t)
	repo := filepath.Join(dir, "repo")
	if err := os.Mkdir(repo, 0o755); err != nil {
		t.Fatal(err)
	}
	gitIn(t, repo, "", "init", "-q")
	first := commitAt(t, repo, t0, "\n\n  Subject of several lines  \nbody one\nbody two\n", map[string]string{"f": "1\n"})

	// Commits git's porcelain would not write, made from raw objects.
	raw := func(parent, author, msg string, when time.Time, files map[string]string) string {
		writeTree(t, repo, files, nil, nil)
		gitIn(t, repo, "", "add", "-A")
		tree := gitIn(t, repo, "", "write-tree")
		ts := fmt.Sprintf("%d +0000", when.Unix())
		obj := fmt.Sprintf("tree %s\nparent %s\nauthor %s %s\ncommitter test <test@example.invalid> %s\n\n%s", tree, parent, author, ts, ts, msg)
		id := gitIn(t, repo, obj, "hash-object", "-t", "commit", "-w", "--stdin", "--literally")
		gitIn(t, repo, "", "update-ref", "refs/heads/main", id)
		return id
	}
	hostileSubject := "\x1b[2J\x07bell\tTab\rCR\x00NUL \x7f end"
	hostile := raw(first, "Evil\x1b[31m Name <evil\x07@example.invalid>", hostileSubject+"\nsecond line\n", t0.Add(time.Second),
		map[string]string{"line\nbreak": "n\n", "esc\x1b.txt": "e\n"})
	long := "x" + strings.Repeat("é", 5000)
	longID := raw(hostile, "test <test@example.invalid>", long+"\nrest\n", t0.Add(2*time.Second), map[string]string{"f": "2\n"})

	src := scm.Source{Kind: Kind, URL: repo}
	cs, err := Git{}.Changes(context.Background(), src, scm.Dirs{}, scm.Revision{}, scm.Revision{ID: longID}, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(cs) != 3 || cs[0].ID != longID || cs[1].ID != hostile || cs[2].ID != first {
		t.Fatalf("Changes = %+v, want the 3 commits", cs)
	}
	wantLong := "x" + strings.Repeat("é", 99) + "…" // 200 bytes would split an é
	if s := cs[0].Subject; s != wantLong || !utf8.ValidString(s) {
		t.Errorf("the long subject = %q (%d bytes), want %q", s, len(s), wantLong)
	}
	if s := cs[1].Subject; s != hostileSubject {
		t.Errorf("the hostile subject = %q, want %q", s, hostileSubject)
	}
	if a := cs[1].Author; a != "Evil\x1b[31m Name <evil\x07@example.invalid>" {
		t.Errorf("the hostile author = %q", a)
	}
	if f := cs[1].Files; !slices.Equal(f, []string{"esc\x1b.txt", "line\nbreak"}) {
		t.Errorf("the hostile commit's files = %q", f)
	}
	if s := cs[2].Subject; s != "Subject of several lines" {
		t.Errorf("the subject of several lines = %q", s)
	}
}
