package checkout

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"testing"

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
		Module: "m", Source: scm.Source{Kind: "fake-for-checkout-test", URL: "/repo"},
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
