package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/autobuild/autobuild/engine"
	"github.com/autobuild/autobuild/engine/config"
	"github.com/autobuild/autobuild/engine/runlock"
	"github.com/autobuild/autobuild/sandbox"
)

// TestExitCodes drives the real binary into every documented exit status
// (130, a signal, is TestInterruptedRunKeepsPreviousSite's) and checks the
// code and the line on stderr that explains it. The codes are decided in
// one place, exitCode; this proves each reaches the user.
func TestExitCodes(t *testing.T) {
	script := func(body string) map[string]string {
		return map[string]string{"autobuild.sh": "#!/bin/sh\n" + body + "\n"}
	}
	tests := []struct {
		name string
		// setup makes the farm and returns the arguments and environment.
		setup  func(f *farm) ([]string, []string)
		code   int
		stderr string
	}{
		{"every module built", func(f *farm) ([]string, []string) {
			f.config(fmt.Sprintf("modules:\n  - name: ok\n    source: {url: %s}\n", f.repo("ok", script("true"))))
			return []string{"run", "--config", f.cfg}, nil
		}, exitOK, ""},
		{"a module failed", func(f *farm) ([]string, []string) {
			f.config(fmt.Sprintf("modules:\n  - name: bad\n    source: {url: %s}\n", f.repo("bad", script("exit 3"))))
			return []string{"run", "--config", f.cfg}, nil
		}, exitFailed, ""},
		{"configuration error", func(f *farm) ([]string, []string) {
			f.config("modules:\n  - name: a\n    source: {url: /nowhere}\n    trust: root\n")
			return []string{"run", "--config", f.cfg}, nil
		}, exitConfig, "modules[0].trust"},
		{"unknown flag", func(f *farm) ([]string, []string) {
			return []string{"run", "--bogus"}, nil
		}, exitConfig, "unknown flag"},
		{"unknown command", func(f *farm) ([]string, []string) {
			return []string{"frobnicate"}, nil
		}, exitConfig, `unknown command "frobnicate"`},
		{"an extra argument", func(f *farm) ([]string, []string) {
			return []string{"run", "extra"}, nil
		}, exitConfig, "autobuild run takes no arguments"},
		{"an extra argument to plan", func(f *farm) ([]string, []string) {
			return []string{"plan", "--config", f.cfg, "extra"}, nil
		}, exitConfig, "autobuild plan takes no arguments"},
		{"--progress names no mode", func(f *farm) ([]string, []string) {
			return []string{"run", "--progress=fancy"}, nil
		}, exitConfig, `--progress: "fancy" is not one of auto, plain, quiet`},
		{"--log-level names no level", func(f *farm) ([]string, []string) {
			return []string{"--log-level=chatty", "plan"}, nil
		}, exitConfig, `--log-level: "chatty"`},
		{"--log-format names no format", func(f *farm) ([]string, []string) {
			return []string{"--log-format=xml", "plan"}, nil
		}, exitConfig, `--log-format: "xml"`},
		{"negative -j", func(f *farm) ([]string, []string) {
			f.config(fmt.Sprintf("modules:\n  - name: ok\n    source: {url: %s}\n", f.repo("ok", script("true"))))
			return []string{"run", "--config", f.cfg, "-j", "-3"}, nil
		}, exitConfig, "--jobs: must be from 0 to 1024, not -3"},
		{"status before any run", func(f *farm) ([]string, []string) {
			f.config(fmt.Sprintf("modules:\n  - name: ok\n    source: {url: %s}\n", f.repo("ok", script("true"))))
			return []string{"status", "--config", f.cfg}, nil
		}, exitConfig, "no run has been published"},
		{"no command", func(f *farm) ([]string, []string) {
			return nil, nil
		}, exitOK, ""},
		{"--force names an unknown module", func(f *farm) ([]string, []string) {
			f.config(fmt.Sprintf("modules:\n  - name: ok\n    source: {url: %s}\n", f.repo("ok", script("true"))))
			return []string{"run", "--config", f.cfg, "--force=ghost"}, nil
		}, exitConfig, `unknown module "ghost"`},
		{"lock held by a young run", func(f *farm) ([]string, []string) {
			f.config(fmt.Sprintf("modules:\n  - name: ok\n    source: {url: %s}\n", f.repo("ok", script("true"))))
			holdLock(f.t, filepath.Join(f.root, "state", "lock"))
			return []string{"run", "--config", f.cfg}, nil
		}, exitLocked, ""},
		{"lock held for hours", func(f *farm) ([]string, []string) {
			f.config(fmt.Sprintf("modules:\n  - name: ok\n    source: {url: %s}\n", f.repo("ok", script("true"))))
			lock := filepath.Join(f.root, "state", "lock")
			holdLock(f.t, lock)
			then := time.Now().Add(-3 * time.Hour)
			os.WriteFile(lock, fmt.Appendf(nil, "pid 1 since %s\n", then.Format(time.RFC3339)), 0o644)
			return []string{"run", "--config", f.cfg}, nil
		}, exitLocked, "holds the lock ("},
		{"lock held longer than stale_lock_after", func(f *farm) ([]string, []string) {
			f.config(fmt.Sprintf("stale_lock_after: 5s\nmodules:\n  - name: ok\n    source: {url: %s}\n", f.repo("ok", script("true"))))
			lock := filepath.Join(f.root, "state", "lock")
			holdLock(f.t, lock)
			then := time.Now().Add(-10 * time.Second)
			os.WriteFile(lock, fmt.Appendf(nil, "pid 1 since %s\n", then.Format(time.RFC3339)), 0o644)
			return []string{"run", "--config", f.cfg}, nil
		}, exitLocked, "holds the lock ("},
		{"level cannot be enforced before the run", func(f *farm) ([]string, []string) {
			f.config(fmt.Sprintf("modules:\n  - name: ok\n    source: {url: %s}\n", f.repo("ok", script("true"))))
			return []string{"run", "--config", f.cfg}, []string{sandbox.DisableEnv + "=pidns"}
		}, exitConfinement, "pid-namespace"},
		{"confinement fails inside a step", func(f *farm) ([]string, []string) {
			// More open files than the kernel allows any process: the
			// helper's setrlimit fails after the engine's checks passed.
			f.config(fmt.Sprintf("levels:\n  greedy: {base: isolated, limits: {open_files: 2000000000}}\n"+
				"modules:\n  - name: ok\n    source: {url: %s}\n    trust: greedy\n", f.repo("ok", script("touch $AUTOBUILD_PACKAGE_ROOT/ran"))))
			return []string{"run", "--config", f.cfg}, nil
		}, exitConfinement, "cannot confine the step"},
		{"doctor: a used level cannot be enforced", func(f *farm) ([]string, []string) {
			f.config("modules:\n  - name: a\n    source: {url: /nowhere}\n")
			return []string{"doctor", "--config", f.cfg}, []string{sandbox.DisableEnv + "=netns"}
		}, exitConfinement, "isolated"},
		{"the site cannot be published", func(f *farm) ([]string, []string) {
			f.config(fmt.Sprintf("modules:\n  - name: ok\n    source: {url: %s}\n", f.repo("ok", script("true"))))
			if err := os.MkdirAll(filepath.Join(f.root, "public_html"), 0o755); err != nil {
				f.t.Fatal(err)
			}
			return []string{"run", "--config", f.cfg}, nil
		}, exitInternal, "publish site"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFarm(t)
			args, env := tt.setup(f)
			r := ab(t, env, args...)
			if r.code != tt.code {
				t.Fatalf("exit %d, want %d\n%s", r.code, tt.code, r.dump())
			}
			if tt.stderr != "" && !strings.Contains(r.stderr, tt.stderr) {
				t.Errorf("stderr does not say %q:\n%s", tt.stderr, r.dump())
			}
			if tt.stderr == "" && r.stderr != "" {
				t.Errorf("stderr is not empty:\n%s", r.dump())
			}
		})
	}
}

// The step whose confinement failed never ran its command, and the run
// still published the module as failed with the reason.
func TestConfinementFailureInAStepIsNotABuildFailure(t *testing.T) {
	f := newFarm(t)
	f.config(fmt.Sprintf("levels:\n  greedy: {base: isolated, limits: {open_files: 2000000000}}\n"+
		"modules:\n  - name: greedy\n    source: {url: %s}\n    trust: greedy\n  - name: fine\n    source: {url: %s}\n",
		f.repo("greedy", map[string]string{"autobuild.sh": "#!/bin/sh\ntouch $AUTOBUILD_PACKAGE_ROOT/ran\n"}),
		f.repo("fine", map[string]string{"autobuild.sh": "#!/bin/sh\ntouch $AUTOBUILD_PACKAGE_ROOT/ran\n"})))
	r := f.run()
	if r.code != exitConfinement {
		t.Fatalf("exit %d, want %d\n%s", r.code, exitConfinement, r.dump())
	}
	st := f.status()
	if m := module(st, "greedy"); m.State != "failed" || !strings.Contains(m.Reason, "confine") || strings.Contains(m.Reason, "exit status") {
		t.Errorf("greedy: %s (%s), want failed for its confinement", m.State, m.Reason)
	}
	if m := module(st, "fine"); m.State != "built" {
		t.Errorf("fine: %s (%s), want built", m.State, m.Reason)
	}
	if _, err := os.Stat(filepath.Join(f.root, "package-root", "greedy", "ran")); err == nil {
		t.Error("the unconfined command ran")
	}
	if _, err := os.Stat(filepath.Join(f.root, "package-root", "fine", "ran")); err != nil {
		t.Errorf("control: the confined command did not run: %v", err)
	}
}

// holdLock takes the run lock as another run would, until the test ends.
func holdLock(t *testing.T, path string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	l, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Flock(int(l.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
}

// TestExitCodeOrder checks the one mapping where an error is two things.
func TestExitCodeOrder(t *testing.T) {
	live := context.Background()
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	confined := &engine.ModuleError{Module: "m", Stage: "build", Err: fmt.Errorf("%w: setrlimit", sandbox.ErrUnsupported)}
	tests := []struct {
		name string
		ctx  context.Context
		err  error
		code int
	}{
		{"nil", live, nil, exitOK},
		{"config", live, &config.Error{File: "f", Msg: "bad"}, exitConfig},
		{"config wrapping a file error", live, &config.Error{File: "f", Msg: "x", Err: os.ErrNotExist}, exitConfig},
		{"usage", live, &usageError{errors.New("bad flag")}, exitConfig},
		{"locked", live, fmt.Errorf("x: %w", runlock.ErrLocked), exitLocked},
		{"preflight", live, fmt.Errorf("%w: no pidns", engine.ErrConfinement), exitConfinement},
		{"sandbox unsupported", live, sandbox.ErrUnsupported, exitConfinement},
		{"step confinement", live, confined, exitConfinement},
		{"modules failed", live, &engine.ModulesFailedError{Failed: 1}, exitFailed},
		{"confinement outranks failures", live, errors.Join(&engine.ModulesFailedError{Failed: 1}, confined), exitConfinement},
		{"publish", live, &engine.PublishError{Publisher: "site", Err: errors.New("disk full")}, exitInternal},
		{"other", live, errors.New("boom"), exitInternal},
		{"cancelled run", cancelled, context.Canceled, exitInterrupted},
		{"cancelled outranks confinement", cancelled, confined, exitInterrupted},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := exitCode(tt.ctx, tt.err); got != tt.code {
				t.Errorf("exitCode(%v) = %d, want %d", tt.err, got, tt.code)
			}
		})
	}
}
