package cvs_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/autobuild/autobuild/scm"
	"github.com/autobuild/autobuild/scm/cvs"
	"github.com/autobuild/autobuild/scm/scmtest"
)

func cvsTry(t *testing.T, dir string, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command("cvs", append([]string{"-f"}, args...)...)
	cmd.Dir = dir
	cmd.Env = []string{"PATH=/usr/bin:/bin", "HOME=" + t.TempDir()}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("cvs %q: %w: %s", args, err, stderr.String())
	}
	return stdout.String() + stderr.String(), nil
}

func cvsRun(t *testing.T, dir string, args ...string) string {
	t.Helper()
	out, err := cvsTry(t, dir, args...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func put(t *testing.T, root string, files map[string]string) {
	t.Helper()
	for name, body := range files {
		p := filepath.Join(root, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// repos makes CVS repositories: one module "mod" per repository, named
// by a file:// URL.
type repos struct{}

// waitPast waits until the clock is past the second of src's newest
// change: CVS dates have one second's grain, and a revision is the time
// of the newest change.
func waitPast(t *testing.T, src scm.Source) {
	t.Helper()
	time.Sleep(time.Until(newestTime(t, src, "").Add(time.Second + 10*time.Millisecond)))
}

func rootOf(t *testing.T, src scm.Source) string {
	r, err := cvs.ParseURL(src.URL)
	if err != nil {
		t.Fatal(err)
	}
	return r.Local
}

func (repos) New(t *testing.T, files map[string]string) scm.Source {
	t.Helper()
	top := t.TempDir()
	root := filepath.Join(top, "root")
	cvsRun(t, top, "-d", root, "init")
	imp := filepath.Join(top, "import")
	put(t, imp, files)
	cvsRun(t, imp, "-d", root, "import", "-m", "first", "mod", "vendor", "start")
	return scm.Source{Kind: cvs.Kind, URL: "file://" + root + "#mod"}
}

// Linkless implements scmtest.Linkless: CVS does not version symlinks,
// cvs import and cvs add ignore them (TestToolRefusesNames).
func (repos) Linkless() {}

func (repos) NewLinks(t *testing.T, files, links map[string]string) scm.Source {
	t.Fatal("CVS does not version symlinks")
	return scm.Source{}
}

func (repos) CommitLinks(t *testing.T, src scm.Source, files, links map[string]string, remove []string) string {
	t.Fatal("CVS does not version symlinks")
	return ""
}

// Commit commits files on the trunk through a checkout of the test's.
func (repos) Commit(t *testing.T, src scm.Source, files map[string]string) string {
	t.Helper()
	return commitOn(t, src, "", files)
}

func commitOn(t *testing.T, src scm.Source, branch string, files map[string]string) string {
	t.Helper()
	return commitMsg(t, src, branch, files, nil, "change")
}

// commitMsg commits files (added or changed) and removes the files of
// remove on branch (the trunk when ""), with the message msg.
func commitMsg(t *testing.T, src scm.Source, branch string, files map[string]string, remove []string, msg string) string {
	t.Helper()
	root := rootOf(t, src)
	top := t.TempDir()
	args := []string{"-d", root, "checkout", "-d", "wc"}
	if branch != "" {
		args = append(args, "-r", branch)
	}
	cvsRun(t, top, append(args, "mod")...)
	wc := filepath.Join(top, "wc")
	var added []string
	for _, name := range slices.Sorted(func(yield func(string) bool) {
		for k := range files {
			if !yield(k) {
				return
			}
		}
	}) {
		for d := path.Dir(name); d != "."; d = path.Dir(d) {
			if _, err := os.Stat(filepath.Join(wc, d)); err != nil {
				added = append(added, d)
			}
		}
		if _, err := os.Stat(filepath.Join(wc, name)); err != nil {
			added = append(added, name)
		}
	}
	put(t, wc, files)
	slices.SortFunc(added, func(a, b string) int { return strings.Count(a, "/") - strings.Count(b, "/") })
	for _, a := range slices.Compact(added) {
		cvsRun(t, wc, "add", a)
	}
	for _, name := range remove {
		if err := os.Remove(filepath.Join(wc, filepath.FromSlash(name))); err != nil {
			t.Fatal(err)
		}
		cvsRun(t, wc, "rm", name)
	}
	msgFile := filepath.Join(top, "msg")
	if err := os.WriteFile(msgFile, []byte(msg), 0o644); err != nil {
		t.Fatal(err)
	}
	waitPast(t, src)
	cvsRun(t, wc, "commit", "-F", msgFile)
	return newest(t, src, branch)
}

var dateRE = regexp.MustCompile(`(?m)^date: (\S+ \S+) \+0000;`)

// newest is the time of the newest revision of the module (on branch),
// from cvs log.
func newest(t *testing.T, src scm.Source, branch string) string {
	t.Helper()
	id := newestTime(t, src, branch).Format("2006-01-02T15:04:05Z")
	if branch != "" {
		id = branch + "@" + id
	}
	return id
}

func newestTime(t *testing.T, src scm.Source, branch string) time.Time {
	t.Helper()
	args := []string{"-d", rootOf(t, src), "rlog", "-N"}
	if branch != "" {
		args = append(args, "-r"+branch)
	}
	var max time.Time
	for _, m := range dateRE.FindAllStringSubmatch(cvsRun(t, "/", append(args, "mod")...), -1) {
		d, err := time.Parse("2006-01-02 15:04:05", m[1])
		if err != nil {
			t.Fatal(err)
		}
		if d.After(max) {
			max = d
		}
	}
	return max
}

func (repos) Missing(t *testing.T) scm.Source {
	return scm.Source{Kind: cvs.Kind, URL: "file://" + filepath.Join(t.TempDir(), "no-such-root") + "#mod"}
}

// Refuses implements scmtest.NameRefuser: a name with a newline breaks
// cvs's line-based Entries files (TestToolRefusesNames).
func (repos) Refuses(name string) bool { return strings.Contains(name, "\n") }

func TestConformance(t *testing.T) { scmtest.Run(t, cvs.CVS{}, repos{}) }

// cvs's own checkout aborts on a name with a newline; symlinks are not
// imported at all.
func TestToolRefusesNames(t *testing.T) {
	top := t.TempDir()
	root := filepath.Join(top, "root")
	cvsRun(t, top, "-d", root, "init")
	imp := filepath.Join(top, "import")
	put(t, imp, map[string]string{"new\nline": "x\n", "plain": "y\n"})
	if err := os.Symlink("plain", filepath.Join(imp, "link")); err != nil {
		t.Fatal(err)
	}
	// cvs import says it ignores the link ("L mod/link"), and fails.
	if out, _ := cvsTry(t, imp, "-d", root, "import", "-m", "first", "mod", "vendor", "start"); !strings.Contains(out, "L mod/link") {
		t.Errorf("cvs import did not report the symlink it ignores: %q", out)
	}
	if _, err := cvsTry(t, top, "-d", root, "checkout", "-d", "wc", "mod"); err == nil {
		t.Errorf("cvs checked out a name with a newline")
	}
	if _, err := os.Lstat(filepath.Join(root, "mod", "link,v")); err == nil {
		t.Errorf("cvs versioned a symlink")
	}
	// Control: the plain file is there.
	if _, err := os.Stat(filepath.Join(root, "mod", "plain,v")); err != nil {
		t.Errorf("control: %v", err)
	}
}

func newDirs(t *testing.T) scm.Dirs {
	top := t.TempDir()
	return scm.Dirs{Work: filepath.Join(top, "source-root", "m"), Meta: filepath.Join(top, "scm-root", "m")}
}

func read(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		return "<" + err.Error() + ">"
	}
	return string(b)
}

func TestBranchTagPinAndRemoval(t *testing.T) {
	ctx := context.Background()
	r := repos{}
	src := r.New(t, map[string]string{"f": "one\n", "g": "g\n"})
	first := r.Commit(t, src, map[string]string{"f": "two\n"})
	root := rootOf(t, src)
	cvsRun(t, "/", "-d", root, "rtag", "-b", "br", "mod")
	cvsRun(t, "/", "-d", root, "rtag", "v1", "mod")
	// The branch with no commit of its own yet: its branch point.
	brEmpty := scm.Source{Kind: cvs.Kind, URL: src.URL, Branch: "br"}
	if rev, err := (cvs.CVS{}).Resolve(ctx, brEmpty); err != nil || rev.ID != "br@"+strings.TrimPrefix(first, "") {
		t.Errorf("Resolve(branch with no commit) = %v, %v; want br@%s", rev, err, first)
	}
	brID := commitOn(t, src, "br", map[string]string{"f": "on the branch\n"})
	// A removal on the trunk is a change.
	top := t.TempDir()
	cvsRun(t, top, "-d", root, "checkout", "-d", "wc", "mod")
	os.Remove(filepath.Join(top, "wc", "g"))
	cvsRun(t, filepath.Join(top, "wc"), "rm", "g")
	waitPast(t, src)
	cvsRun(t, filepath.Join(top, "wc"), "commit", "-m", "rm")
	removed := newest(t, src, "")

	cases := []struct {
		name string
		src  scm.Source
		id   string
		f, g string
	}{
		{"trunk", src, removed, "two\n", "<missing>"},
		{"branch", scm.Source{Kind: cvs.Kind, URL: src.URL, Branch: "br"}, brID, "on the branch\n", "g\n"},
		{"tag", scm.Source{Kind: cvs.Kind, URL: src.URL, Tag: "v1"}, "v1@" + first, "two\n", "g\n"},
		{"pinned", scm.Source{Kind: cvs.Kind, URL: src.URL, Commit: first}, first, "two\n", "g\n"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if err := (cvs.CVS{}).Validate(c.src); err != nil {
				t.Fatal(err)
			}
			rev, err := cvs.CVS{}.Resolve(ctx, c.src)
			if err != nil {
				t.Fatal(err)
			}
			if rev.ID != c.id {
				t.Fatalf("Resolve = %s, want %s", rev.ID, c.id)
			}
			d := newDirs(t)
			if err := (cvs.CVS{}).Checkout(ctx, c.src, rev, d); err != nil {
				t.Fatal(err)
			}
			g := read(t, filepath.Join(d.Work, "g"))
			if strings.Contains(g, "no such file") {
				g = "<missing>"
			}
			if got := read(t, filepath.Join(d.Work, "f")); got != c.f || g != c.g {
				t.Errorf("f = %q, g = %q; want %q, %q", got, g, c.f, c.g)
			}
		})
	}
}

func TestUnknownBranchTagModuleAndRoot(t *testing.T) {
	ctx := context.Background()
	src := repos{}.New(t, map[string]string{"f": "one\n"})
	for name, c := range map[string]struct {
		src  scm.Source
		want string
	}{
		"branch": {scm.Source{Kind: cvs.Kind, URL: src.URL, Branch: "nope"}, "no file"},
		"tag":    {scm.Source{Kind: cvs.Kind, URL: src.URL, Tag: "nope"}, "no file"},
		"module": {scm.Source{Kind: cvs.Kind, URL: strings.TrimSuffix(src.URL, "mod") + "nomod"}, "cannot find module"},
		"root":   {repos{}.Missing(t), "No such file or directory"},
	} {
		_, err := cvs.CVS{}.Resolve(ctx, c.src)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: Resolve = %v, want an error with %q", name, err, c.want)
		}
	}
	if _, err := (cvs.CVS{}).Resolve(ctx, src); err != nil {
		t.Fatalf("control: %v", err)
	}
}

func TestValidate(t *testing.T) {
	ok := []scm.Source{
		{URL: "/srv/cvs#proj"}, {URL: "file:///srv/cvs#proj/sub", Branch: "release-1"},
		{URL: ":pserver:anon@cvs.example.org:/cvs#proj", Tag: "v1_0"}, {URL: ":local:/srv/cvs#p", Commit: "2026-11-26T04:20:25Z"},
		{URL: ":ext:me@host:/cvs#p", Branch: "b", Commit: "b@2026-11-26T04:20:25Z"},
	}
	for _, s := range ok {
		if err := (cvs.CVS{}).Validate(s); err != nil {
			t.Errorf("Validate(%+v) = %v", s, err)
		}
	}
	bad := map[string]scm.Source{
		"url":    {URL: "/srv/cvs"},
		"branch": {URL: "/srv/cvs#p", Branch: "-r"},
		"tag":    {URL: "/srv/cvs#p", Tag: "1.2"},
		"commit": {URL: "/srv/cvs#p", Commit: "yesterday"},
	}
	for field, s := range bad {
		err := (cvs.CVS{}).Validate(s)
		var fe *scm.FieldError
		if !errors.As(err, &fe) || fe.Field != field {
			t.Errorf("Validate(%+v) = %v, want an error on %s", s, err, field)
		}
	}
	for _, u := range []string{"/srv/cvs#../x", "relative#p", "/srv/cvs#-p", "/srv/cvs#CVSROOT"} {
		if err := (cvs.CVS{}).Validate(scm.Source{URL: u}); err == nil {
			t.Errorf("Validate(%q) succeeded", u)
		}
	}
}

// A local repository is read without a lock file written in it.
func TestResolveAndCheckoutWriteNoLocks(t *testing.T) {
	ctx := context.Background()
	src := repos{}.New(t, map[string]string{"f": "one\n"})
	root := rootOf(t, src)
	if err := os.Chmod(filepath.Join(root, "mod"), 0o555); err != nil {
		t.Fatal(err)
	}
	defer os.Chmod(filepath.Join(root, "mod"), 0o755)
	rev, err := cvs.CVS{}.Resolve(ctx, src)
	if err != nil {
		t.Fatal(err)
	}
	d := newDirs(t)
	if err := (cvs.CVS{}).Checkout(ctx, src, rev, d); err != nil {
		t.Fatal(err)
	}
	ents, _ := os.ReadDir(filepath.Join(root, "mod"))
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), "#cvs") {
			t.Errorf("a lock %s was left in the repository", e.Name())
		}
	}
}

// Resolve never names a second that is not over: a commit made as soon
// as it returns, right after another, is a new revision.
func TestResolveWaitsOutTheSecond(t *testing.T) {
	ctx := context.Background()
	r := repos{}
	src := r.New(t, map[string]string{"f": "one\n", "g": "one\n"})
	root := rootOf(t, src)
	for i := range 3 {
		// Two working copies ready to commit, each a different file.
		var wcs []string
		for _, name := range []string{"f", "g"} {
			top := t.TempDir()
			cvsRun(t, top, "-d", root, "checkout", "-d", "wc", "mod")
			wc := filepath.Join(top, "wc")
			put(t, wc, map[string]string{name: fmt.Sprintf("change %d\n", i)})
			wcs = append(wcs, wc)
		}
		waitPast(t, src)
		// The first commit, by another client: cvs commit waits for its
		// second to end before it returns, so it runs aside, and Resolve
		// runs as soon as its revision is in the repository.
		before := newest(t, src, "")
		first := exec.Command("cvs", "-f", "-Q", "commit", "-m", "first", "f")
		first.Dir, first.Env = wcs[0], []string{"PATH=/usr/bin:/bin", "HOME=" + t.TempDir()}
		if err := first.Start(); err != nil {
			t.Fatal(err)
		}
		for {
			// Read without a lock, as the backend does: a read while the
			// commit writes may fail, and is tried again.
			out, err := cvsTry(t, "/", "-R", "-d", root, "rlog", "-N", "mod")
			if err == nil && !strings.Contains(out, strings.Replace(strings.TrimSuffix(before, "Z"), "T", " ", 1)+" +0000") {
				t.Fatalf("rlog does not show the revision of %s:\n%s", before, out)
			}
			if err == nil && newest(t, src, "") != before {
				break
			}
		}
		rev, err := cvs.CVS{}.Resolve(ctx, src)
		if err != nil {
			t.Fatal(err)
		}
		if rev.ID != newest(t, src, "") {
			t.Fatalf("Resolve = %s, want %s", rev.ID, newest(t, src, ""))
		}
		// No wait here, unlike every other commit of these tests.
		cvsRun(t, wcs[1], "commit", "-m", "at once", "g")
		if err := first.Wait(); err != nil {
			t.Fatal(err)
		}
		if now := newest(t, src, ""); now == rev.ID {
			t.Fatalf("a commit made after Resolve returned %s has the same time", rev.ID)
		}
	}
}

// idTime is the time of a revision ID ("br@2026-11-26T04:20:25Z").
func idTime(t *testing.T, id string) time.Time {
	t.Helper()
	_, ts, _ := strings.Cut(id, "@")
	if ts == "" {
		ts = id
	}
	tm, err := time.Parse("2006-01-02T15:04:05Z", ts)
	if err != nil {
		t.Fatal(err)
	}
	return tm
}

type change struct {
	subject string
	files   []string
}

func summary(cs []scm.Change) []change {
	var out []change
	for _, c := range cs {
		out = append(out, change{c.Subject, c.Files})
	}
	return out
}

func equal(a, b []change) bool {
	return slices.EqualFunc(a, b, func(x, y change) bool { return x.subject == y.subject && slices.Equal(x.files, y.files) })
}

// On a branch, ResolveAt gives its state at a time, and Changes the
// commits on it and, before them, those it branched from (not the
// trunk's later ones); on the trunk, a file added on the branch is no
// change. An unknown branch or module fails as Resolve does.
func TestBranchHistory(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := cvs.CVS{}
	r := repos{}
	src := r.New(t, map[string]string{"f": "one\n", "g": "g\n"})
	t1 := commitMsg(t, src, "", map[string]string{"f": "two\n"}, nil, "trunk two")
	root := rootOf(t, src)
	cvsRun(t, "/", "-d", root, "rtag", "-b", "br", "mod")
	cvsRun(t, "/", "-d", root, "rtag", "v1", "mod")
	br := scm.Source{Kind: cvs.Kind, URL: src.URL, Branch: "br"}
	t2 := commitMsg(t, src, "br", map[string]string{"f": "b1\n", "h": "new on br\n"}, nil, "branch one")
	t3 := commitMsg(t, src, "", map[string]string{"f": "three\n"}, nil, "trunk three")
	t4 := commitMsg(t, src, "br", nil, []string{"g"}, "branch removes g")

	// Within t2's second: CVS dates stop at the second.
	rev, err := s.ResolveAt(ctx, br, idTime(t, t2).Add(500*time.Millisecond), newDirs(t))
	if err != nil || rev.ID != t2 {
		t.Fatalf("ResolveAt(branch, t2) = %v, %v; want %s", rev, err, t2)
	}
	d := newDirs(t)
	if err := s.Checkout(ctx, br, rev, d); err != nil {
		t.Fatal(err)
	}
	if f, g := read(t, filepath.Join(d.Work, "f")), read(t, filepath.Join(d.Work, "g")); f != "b1\n" || g != "g\n" {
		t.Errorf("at %s: f = %q, g = %q", rev.ID, f, g)
	}
	if rev, err := s.ResolveAt(ctx, br, time.Now().Add(time.Hour), newDirs(t)); err != nil || rev.ID != t4 {
		t.Errorf("ResolveAt(branch, an hour ahead) = %v, %v; want %s", rev, err, t4)
	}
	// Before the branch's first commit: the revisions it branched from.
	if rev, err := s.ResolveAt(ctx, br, idTime(t, t1), newDirs(t)); err != nil || rev.ID != "br@"+t1 {
		t.Errorf("ResolveAt(branch, t1) = %v, %v; want br@%s", rev, err, t1)
	}
	for _, at := range []time.Time{idTime(t, t1).Add(-24 * time.Hour), {}} {
		if _, err := s.ResolveAt(ctx, br, at, newDirs(t)); !errors.Is(err, scm.ErrNoRevisionAt) {
			t.Errorf("ResolveAt(branch, %v) = %v; want %v", at, err, scm.ErrNoRevisionAt)
		}
	}
	tag := scm.Source{Kind: cvs.Kind, URL: src.URL, Tag: "v1"}
	if rev, err := s.ResolveAt(ctx, tag, idTime(t, t1).Add(-24*time.Hour), newDirs(t)); err != nil || rev.ID != "v1@"+t1 {
		t.Errorf("ResolveAt(tag, a day before) = %v, %v; want the tag v1@%s", rev, err, t1)
	}
	for name, c := range map[string]struct {
		src  scm.Source
		want string
	}{
		"branch": {scm.Source{Kind: cvs.Kind, URL: src.URL, Branch: "nope"}, "no file"},
		"module": {scm.Source{Kind: cvs.Kind, URL: strings.TrimSuffix(src.URL, "mod") + "nomod"}, "cannot find module"},
	} {
		if _, err := s.ResolveAt(ctx, c.src, time.Now(), newDirs(t)); err == nil || errors.Is(err, scm.ErrNoRevisionAt) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("ResolveAt(unknown %s) = %v; want an error with %q", name, err, c.want)
		}
	}

	cs, err := s.Changes(ctx, br, d, scm.Revision{}, scm.Revision{ID: t4}, 10)
	if err != nil {
		t.Fatal(err)
	}
	want := []change{{"branch removes g", []string{"g"}}, {"branch one", []string{"f", "h"}}, {"trunk two", []string{"f"}}, {"first", []string{"f", "g"}}}
	if !equal(summary(cs), want) {
		t.Errorf("Changes(none, %s) = %q, want %q", t4, summary(cs), want)
	}
	if cs, err := s.Changes(ctx, br, d, scm.Revision{ID: t2}, scm.Revision{ID: t4}, 10); err != nil || !equal(summary(cs), want[:1]) {
		t.Errorf("Changes(%s, %s) = %q, %v; want %q", t2, t4, summary(cs), err, want[:1])
	}
	// From another line's revision, or a later one: the newest.
	for _, from := range []string{t1, "br@" + time.Now().Add(time.Hour).UTC().Format("2006-01-02T15:04:05Z")} {
		if cs, err := s.Changes(ctx, br, d, scm.Revision{ID: from}, scm.Revision{ID: t4}, 2); err != nil || !equal(summary(cs), want[:2]) {
			t.Errorf("Changes(%s, %s, 2) = %q, %v; want %q", from, t4, summary(cs), err, want[:2])
		}
	}
	// The trunk: h, added on the branch, is none of its changes.
	trunkWant := []change{{"trunk three", []string{"f"}}, {"trunk two", []string{"f"}}, {"first", []string{"f", "g"}}}
	if cs, err := s.Changes(ctx, src, d, scm.Revision{}, scm.Revision{ID: t3}, 10); err != nil || !equal(summary(cs), trunkWant) {
		t.Errorf("Changes(none, %s) = %q, %v; want %q", t3, summary(cs), err, trunkWant)
	}
	// The tag: the commits that lead to its revisions.
	if cs, err := s.Changes(ctx, tag, d, scm.Revision{}, scm.Revision{ID: "v1@" + t1}, 10); err != nil || !equal(summary(cs), trunkWant[1:]) {
		t.Errorf("Changes(tag) = %q, %v; want %q", summary(cs), err, trunkWant[1:])
	}
}

// A message's subject is its first line. A hostile message (control
// characters, rlog's own separator lines, a very long line) is data.
func TestChangesMessages(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	r := repos{}
	src := r.New(t, map[string]string{"f": "one\n"})
	long := strings.Repeat("x", 100000)
	hostile := "\x1b[31mred\x1b[0m \x01\n----------------------------\nrevision 1.9\n" +
		strings.Repeat("=", 77) + "\nRCS file: /etc/passwd,v\n"
	commitMsg(t, src, "", map[string]string{"f": "two\n"}, nil, "subject line\n\nbody\nmore\n")
	commitMsg(t, src, "", map[string]string{"f": "three\n"}, nil, hostile)
	to := commitMsg(t, src, "", map[string]string{"g": "four\n"}, nil, long+"\nsecond")
	// Control: rlog shows the separators inside the message.
	if out := cvsRun(t, "/", "-d", rootOf(t, src), "rlog", "-r1.3", "mod/f"); !strings.Contains(out, "\x01\n----------------------------\nrevision 1.9\n") {
		t.Fatalf("control: rlog does not show the message as committed:\n%q", out)
	}
	cs, err := cvs.CVS{}.Changes(ctx, src, newDirs(t), scm.Revision{}, scm.Revision{ID: to}, 10)
	if err != nil {
		t.Fatal(err)
	}
	want := []change{{long[:200] + "…", []string{"g"}}, {"\x1b[31mred\x1b[0m \x01", []string{"f"}}, {"subject line", []string{"f"}}, {"first", []string{"f"}}}
	if !equal(summary(cs), want) {
		t.Errorf("Changes = %q, want %q", summary(cs), want)
	}
	for _, c := range cs {
		if c.Author == "" || c.ID == "" {
			t.Errorf("%+v: no author or ID", c)
		}
	}
}

// A repository written by a cvs older than 1.12 has no commitids: files
// are grouped into commits by author, message and time, and an import's
// 1.1 is still one commit with its vendor revision.
func TestChangesWithoutCommitIDs(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	r := repos{}
	src := r.New(t, map[string]string{"f": "one\n", "g": "g\n", "sub/h": "h\n"})
	commitMsg(t, src, "", map[string]string{"f": "two\n", "sub/h": "two\n"}, nil, "second")
	to := commitMsg(t, src, "", map[string]string{"f": "three\n"}, nil, "third")
	root := rootOf(t, src)
	commitID := regexp.MustCompile(`(?m)^commitid[ \t]+[0-9A-Za-z]+;\n`)
	stripped := 0
	err := filepath.WalkDir(filepath.Join(root, "mod"), func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		stripped += len(commitID.FindAll(b, -1))
		os.Chmod(p, 0o644)
		return os.WriteFile(p, commitID.ReplaceAll(b, nil), 0o444)
	})
	if err != nil {
		t.Fatal(err)
	}
	// Control: there were commitids, and rlog shows none now.
	if out := cvsRun(t, "/", "-d", root, "rlog", "mod"); stripped == 0 || strings.Contains(out, "commitid") {
		t.Fatalf("control: %d commitids removed; rlog:\n%s", stripped, out)
	}
	cs, err := cvs.CVS{}.Changes(ctx, src, newDirs(t), scm.Revision{}, scm.Revision{ID: to}, 10)
	if err != nil {
		t.Fatal(err)
	}
	want := []change{{"third", []string{"f"}}, {"second", []string{"f", "sub/h"}}, {"first", []string{"f", "g", "sub/h"}}}
	if !equal(summary(cs), want) {
		t.Errorf("Changes = %q, want %q", summary(cs), want)
	}
	if len(cs) == 3 && (cs[0].ID != to || !strings.HasSuffix(cs[0].ID, "Z")) {
		t.Errorf("newest change's ID = %q, want its time %s", cs[0].ID, to)
	}
}

// Through a server (":fork:", cvs's server protocol on this machine),
// rlog names the files by the server's repository path: the changes are
// the same.
func TestChangesThroughServer(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	local := repos{}.New(t, map[string]string{"f": "one\n", "sub/g": "g\n"})
	remote := scm.Source{Kind: cvs.Kind, URL: ":fork:" + rootOf(t, local) + "#mod"}
	if err := (cvs.CVS{}).Validate(remote); err != nil {
		t.Fatal(err)
	}
	want := []change{{"first", []string{"f", "sub/g"}}}
	for _, src := range []scm.Source{local, remote} {
		to, err := cvs.CVS{}.Resolve(ctx, src)
		if err != nil {
			t.Fatal(err)
		}
		cs, err := cvs.CVS{}.Changes(ctx, src, newDirs(t), scm.Revision{}, to, 10)
		if err != nil || !equal(summary(cs), want) {
			t.Errorf("Changes(%s) = %q, %v; want %q", src.URL, summary(cs), err, want)
		}
	}
}
