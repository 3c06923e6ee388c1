package checkout

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/autobuild/autobuild/engine/executor"
	"github.com/autobuild/autobuild/engine/workspace"
	"github.com/autobuild/autobuild/sandbox"
	"github.com/autobuild/autobuild/scm"
)

// fakeSCM says whether a metadata folder holds a checkout by a marker
// file; nothing else of it is used by the engine side.
type fakeSCM struct{}

func (fakeSCM) Validate(scm.Source) error  { return nil }
func (fakeSCM) Inputs(scm.Source) []string { return nil }
func (fakeSCM) HasCheckout(d scm.Dirs) bool {
	_, err := os.Stat(filepath.Join(d.Meta, "HEAD"))
	return err == nil
}
func (fakeSCM) Resolve(context.Context, scm.Source) (scm.Revision, error) {
	return scm.Revision{}, nil
}
func (fakeSCM) Checkout(context.Context, scm.Source, scm.Revision, scm.Dirs) error { return nil }
func (fakeSCM) Current(scm.Dirs) (scm.Revision, error)                             { return scm.Revision{}, nil }
func (fakeSCM) ResolveAt(_ context.Context, _ scm.Source, at time.Time, d scm.Dirs) (scm.Revision, error) {
	// What the step was asked, as the revision: the engine side checks it.
	return scm.Revision{ID: at.UTC().Format("20060102T150405") + "@" + filepath.Base(d.Meta)}, nil
}

// Changes lists one change per step from from to to, with a hostile
// subject and too many files.
func (fakeSCM) Changes(_ context.Context, _ scm.Source, _ scm.Dirs, from, to scm.Revision, max int) ([]scm.Change, error) {
	var cs []scm.Change
	for i := range max + 3 {
		c := scm.Change{ID: fmt.Sprintf("c%d", i), Author: "a", Date: time.Unix(1700000000, 0).UTC(), Subject: "from " + from.ID + " to " + to.ID + "\x1b[31m"}
		files := make([]string, scm.MaxChangeFiles+5)
		for j := range files {
			files[j] = fmt.Sprintf("f%03d", j)
		}
		c.Files = files
		cs = append(cs, c)
	}
	return cs, nil
}

func init() { scm.Register("fake-for-checkout-test", fakeSCM{}) }

// recorder is an executor that records the steps it is given and runs
// none. (The embedded interface stands for what the stage does not use.)
type recorder struct {
	executor.Executor
	root  string
	steps []*executor.Step
}

func (r *recorder) Self() string                  { return "/autobuild" }
func (r *recorder) Workspace() executor.Workspace { return ws{root: r.root} }
func (r *recorder) Run(_ context.Context, s *executor.Step) (sandbox.Result, error) {
	r.steps = append(r.steps, s)
	return sandbox.Result{}, nil
}

type ws struct {
	executor.Workspace
	root string
}

func (w ws) PrepareDir(dir string, _ sandbox.ID, wipe bool) error {
	if wipe {
		os.RemoveAll(dir)
	}
	return os.MkdirAll(dir, 0o755)
}
func (w ws) IsDir(string) bool         { return false }
func (w ws) Reachable(...string) error { return nil }

func request(t *testing.T, root string) Request {
	l := workspace.Layout{Root: root}
	return Request{
		Module: "m", Sources: Single(scm.Source{Kind: "fake-for-checkout-test", URL: "/repo"}),
		Revision: "0123456789012345678901234567890123456789",
		Dir:      l.SourceDir("m"), Meta: l.ScmDir("m"), Tmp: l.TmpDir("m"),
		Say: func(format string, args ...any) { t.Logf(format, args...) },
	}
}

// The checkout step is given the work tree, the metadata folder and its
// temp folder, and no Prepare: nothing of the checkout runs in the build.
func TestRunGivesTheStepItsFolders(t *testing.T) {
	root := t.TempDir()
	ex := &recorder{root: root}
	req := request(t, root)
	res, err := Run(context.Background(), ex, req)
	if err != nil {
		t.Fatal(err)
	}
	if len(ex.steps) != 1 {
		t.Fatalf("%d steps, want 1", len(ex.steps))
	}
	s := ex.steps[0]
	if want := []string{req.Dir, req.Meta, req.Tmp}; !slices.Equal(s.Outputs, want) {
		t.Errorf("Outputs = %q, want %q", s.Outputs, want)
	}
	var sp spec
	if err := json.Unmarshal([]byte(s.Args[len(s.Args)-1]), &sp); err != nil || sp.Dirs != (scm.Dirs{Work: req.Dir, Meta: req.Meta}) {
		t.Errorf("spec = %+v, %v", sp, err)
	}
	for _, d := range []string{req.Dir, req.Meta, req.Tmp} {
		if st, err := os.Stat(d); err != nil || !st.IsDir() {
			t.Errorf("%s was not prepared: %v", d, err)
		}
	}
	if res.Tree.Revision != req.Revision || res.Tree.Pristine == "" {
		t.Errorf("Tree = %+v", res.Tree)
	}
}

// A folder untouched since its checkout needs no process at all; one a
// build changed gets the SCM step (which resets it without a fetch), not
// a reset inside the build.
func TestRunUntouchedAndTouched(t *testing.T) {
	root := t.TempDir()
	ex := &recorder{root: root}
	req := request(t, root)
	os.MkdirAll(req.Dir, 0o755)
	os.MkdirAll(req.Meta, 0o755)
	os.WriteFile(filepath.Join(req.Dir, "f"), []byte("source\n"), 0o644)
	os.WriteFile(filepath.Join(req.Meta, "HEAD"), []byte("x\n"), 0o644)
	fp, err := treeFingerprint(req.Dir)
	if err != nil {
		t.Fatal(err)
	}
	req.Prev = Tree{Revision: req.Revision, Pristine: fp}
	res, err := Run(context.Background(), ex, req)
	if err != nil || len(ex.steps) != 0 || res.Tree != req.Prev {
		t.Fatalf("untouched: %d steps, %+v, %v; want none", len(ex.steps), res, err)
	}

	os.WriteFile(filepath.Join(req.Dir, ".git"), []byte("gitdir: /elsewhere\n"), 0o644)
	if _, err := Run(context.Background(), ex, req); err != nil || len(ex.steps) != 1 {
		t.Fatalf("touched: %d steps, %v; want the SCM step", len(ex.steps), err)
	}

	// No metadata (a source folder from an older version, whose .git was
	// in the work tree): the SCM step, even with the tree untouched.
	os.Remove(filepath.Join(req.Dir, ".git"))
	os.Remove(filepath.Join(req.Meta, "HEAD"))
	if _, err := Run(context.Background(), ex, req); err != nil || len(ex.steps) != 2 {
		t.Fatalf("no metadata: %d steps, %v; want the SCM step", len(ex.steps), err)
	}
}

func TestRunRefusesOverlappingFolders(t *testing.T) {
	root := t.TempDir()
	ex := &recorder{root: root}
	req := request(t, root)
	req.Meta = filepath.Join(req.Dir, ".git")
	if _, err := Run(context.Background(), ex, req); err == nil || len(ex.steps) != 0 {
		t.Errorf("metadata in the work tree: %v, %d steps; want an error and none", err, len(ex.steps))
	}
}

// A source folder untouched since a checkout that no build used still
// gets the SCM step when the changes since the last good build are
// asked for; asked for none (or since the same revision), no step.
func TestRunListsChangesOfAnUntouchedFolder(t *testing.T) {
	root := t.TempDir()
	ex := &recorder{root: root}
	req := request(t, root)
	os.MkdirAll(req.Dir, 0o755)
	os.MkdirAll(req.Meta, 0o755)
	os.WriteFile(filepath.Join(req.Meta, "HEAD"), []byte("x\n"), 0o644)
	fp, _ := treeFingerprint(req.Dir)
	req.Prev = Tree{Revision: req.Revision, Pristine: fp}
	req.From, req.Changes = req.Revision, 10
	if _, err := Run(context.Background(), ex, req); err != nil || len(ex.steps) != 0 {
		t.Fatalf("changes since the revision itself: %d steps, %v; want none", len(ex.steps), err)
	}
	req.From = "older"
	if _, err := Run(context.Background(), ex, req); err != nil || len(ex.steps) != 1 {
		t.Fatalf("changes since an older revision: %d steps, %v; want the SCM step", len(ex.steps), err)
	}
	var sp spec
	if err := json.Unmarshal([]byte(ex.steps[0].Args[len(ex.steps[0].Args)-1]), &sp); err != nil || sp.From != "older" || sp.Changes != 10 {
		t.Errorf("spec = %+v, %v; want the changes since older, 10 at most", sp, err)
	}
}

// The child lists the changes after its checkout, and the engine takes
// at most what it asked for, each bounded and printable.
func TestChangesAnswered(t *testing.T) {
	root := t.TempDir()
	req := request(t, root)
	req.From, req.Changes = "old", 4
	for _, d := range []string{req.Dir, req.Meta, req.Tmp} {
		os.MkdirAll(d, 0o755)
	}
	b, _ := json.Marshal(spec{Sources: req.Sources, Revision: req.Revision, Dirs: scm.Dirs{Work: req.Dir, Meta: req.Meta},
		Answer: filepath.Join(req.Tmp, answerFile), From: req.From, Changes: req.Changes})
	var stdout, stderr bytes.Buffer
	if code := runStep(context.Background(), string(b), &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	answer, err := os.ReadFile(filepath.Join(req.Tmp, answerFile))
	if err != nil {
		t.Fatal(err)
	}
	ex := &answerer{recorder: recorder{root: root}, answer: string(answer), t: t}
	res, err := Run(context.Background(), ex, req)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Changes) != 4 {
		t.Fatalf("%d changes, want the 4 asked for", len(res.Changes))
	}
	c := res.Changes[0]
	if c.Subject != "from old to "+req.Revision+" [31m" || len(c.Files) != scm.MaxChangeFiles || c.FilesOmitted != 5 {
		t.Errorf("change = %q, %d files, %d omitted; want a printable subject and the files bounded", c.Subject, len(c.Files), c.FilesOmitted)
	}
}

// Resolving as of a time gives the step the metadata folder to fetch
// into, and the time.
func TestResolveAtGivesTheMetadataFolder(t *testing.T) {
	root := t.TempDir()
	req := resolveRequest(t, root)
	l := workspace.Layout{Root: root}
	req.Dirs = scm.Dirs{Work: l.SourceDir("m"), Meta: l.ScmDir("m")}
	req.At = time.Date(2009, 3, 1, 12, 0, 0, 0, time.FixedZone("x", 3600))
	ex := &recorder{root: root}
	Resolve(context.Background(), ex, req)
	if len(ex.steps) != 1 {
		t.Fatalf("%d steps, want 1", len(ex.steps))
	}
	s := ex.steps[0]
	if !slices.Contains(s.Outputs, req.Dirs.Meta) || slices.Contains(s.Outputs, req.Dirs.Work) {
		t.Errorf("Outputs = %q, want the metadata folder and not the work tree", s.Outputs)
	}
	var sp spec
	if err := json.Unmarshal([]byte(s.Args[len(s.Args)-1]), &sp); err != nil || sp.At == nil || !sp.At.Equal(req.At) || sp.Dirs != req.Dirs {
		t.Errorf("spec = %+v, %v", sp, err)
	}
	// Without a time: neither.
	req.At = time.Time{}
	Resolve(context.Background(), ex, req)
	if s := ex.steps[1]; slices.Contains(s.Outputs, req.Dirs.Meta) {
		t.Errorf("Outputs = %q without a time, want the temp folder only", s.Outputs)
	}
}
