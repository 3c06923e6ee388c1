package engine_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/autobuild/autobuild/engine"
	"github.com/autobuild/autobuild/engine/checkout"
	"github.com/autobuild/autobuild/engine/config"
	"github.com/autobuild/autobuild/engine/executor"
	"github.com/autobuild/autobuild/engine/report"
	"github.com/autobuild/autobuild/internal/testutil"
	"github.com/autobuild/autobuild/publish"
	"github.com/autobuild/autobuild/sandbox"
	"github.com/autobuild/autobuild/sandbox/sandboxtest"
	_ "github.com/autobuild/autobuild/scm/git" // wired in, as cmd/autobuild does
)

var helper string

// This test binary is the steps' autobuild binary too: the sandbox
// helper, and the checkout step's child side.
func TestMain(m *testing.M) { sandboxtest.Main(m, &helper, checkout.RunIfRequested) }

// recorder is a publisher that records what it was given, and fails
// when told to.
type recorder struct {
	name  string
	fail  error
	calls int
	runs  []*report.Run
}

func (p *recorder) Name() string { return p.name }
func (p *recorder) Publish(_ context.Context, in publish.Input) error {
	p.calls++
	p.runs = append(p.runs, in.Run)
	return p.fail
}

// farm is a configuration of real git modules and the engine's real
// boundaries: the local executor and the site.
func farm(t *testing.T, modules map[string]string) *config.Config {
	t.Helper()
	dir := testutil.Dir(t)
	body := "build_root: build\nworkers: 2\nmodules:\n"
	for name, script := range modules {
		repo := testutil.Repo(t, filepath.Join(dir, "repos"), name, map[string]string{"autobuild.sh": "#!/bin/sh\n" + script + "\n"})
		body += fmt.Sprintf("  - name: %s\n    source: {url: %s}\n", name, repo)
	}
	p := filepath.Join(dir, "autobuild.yaml")
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(p)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func deps(cfg *config.Config, pubs ...publish.Publisher) engine.Deps {
	runner := &sandbox.Exec{Self: helper, Host: sandbox.ProbeHost()}
	return engine.Deps{
		Executor:   executor.NewLocal(runner, runner.Host, helper, cfg.BuildRoot),
		Publishers: pubs,
	}
}

func site(cfg *config.Config) *publish.Site {
	return &publish.Site{Dir: cfg.Publish.Dir, Sites: filepath.Join(cfg.BuildRoot, "sites"), Keep: cfg.Publish.Keep,
		LogRoot: filepath.Join(cfg.BuildRoot, "log-root")}
}

// A publisher that fails does not stop the others: the site is still
// published, and the run's error names the one that failed.
func TestPublishersFailAlone(t *testing.T) {
	cfg := farm(t, map[string]string{"ok": "echo artifact > $AUTOBUILD_PACKAGE_ROOT/a.txt"})
	broken := &recorder{name: "broken", fail: errors.New("mirror unreachable")}
	after := &recorder{name: "after"}
	rep, err := engine.Run(context.Background(), cfg, engine.Options{}, deps(cfg, broken, site(cfg), after))
	var pe *engine.PublishError
	if !errors.As(err, &pe) || pe.Publisher != "broken" {
		t.Fatalf("err = %v, want a PublishError of broken", err)
	}
	if errors.Is(err, engine.ErrModulesFailed) {
		t.Errorf("a publish failure is reported as a module failure: %v", err)
	}
	if broken.calls != 1 || after.calls != 1 {
		t.Errorf("publishers called %d and %d times, want once each", broken.calls, after.calls)
	}
	if after.runs[0] != rep || rep.Modules[0].State != report.Built {
		t.Errorf("the publisher after the failed one got %+v", after.runs[0])
	}
	if _, err := os.Stat(filepath.Join(cfg.Publish.Dir, "packages", "ok", "a.txt")); err != nil {
		t.Errorf("the site was not published: %v", err)
	}
}

// A run in which a module fails publishes, then says so with the
// sentinel; a clean run returns nil.
func TestModulesFailedIsTyped(t *testing.T) {
	cfg := farm(t, map[string]string{"good": "true", "bad": "exit 4"})
	pub := &recorder{name: "rec"}
	_, err := engine.Run(context.Background(), cfg, engine.Options{}, deps(cfg, pub))
	var mf *engine.ModulesFailedError
	if !errors.Is(err, engine.ErrModulesFailed) || !errors.As(err, &mf) || mf.Failed != 1 || mf.Skipped != 0 {
		t.Fatalf("err = %v, want 1 failed", err)
	}
	if pub.calls != 1 {
		t.Errorf("a run with a failed module was published %d times, want once", pub.calls)
	}
	cfg = farm(t, map[string]string{"good": "true"})
	if _, err := engine.Run(context.Background(), cfg, engine.Options{}, deps(cfg, pub)); err != nil {
		t.Fatalf("a clean run: %v", err)
	}
}

// A run cancelled before it starts any module publishes nothing and
// reports every module as cancelled, typed, not through a module name.
func TestCancelledRunPublishesNothing(t *testing.T) {
	cfg := farm(t, map[string]string{"cancelled": "true", "other": "true"})
	pub := &recorder{name: "rec"}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	rep, err := engine.Run(ctx, cfg, engine.Options{}, deps(cfg, pub))
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want the context's cancellation", err)
	}
	if pub.calls != 0 {
		t.Error("a cancelled run was published")
	}
	for _, m := range rep.Modules {
		if m.State != report.Skipped || m.Reason != "run cancelled" {
			t.Errorf("%s: %s (%s), want skipped: run cancelled", m.Name, m.State, m.Reason)
		}
	}
}
