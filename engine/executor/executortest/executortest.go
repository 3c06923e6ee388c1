// Package executortest is the conformance suite of the executor boundary:
// every executor.Executor runs it in a few lines, with real processes and
// real folders. It checks what the engine relies on: the workspace's
// folders, a step's exit code, output and timeout, that declared Outputs
// are writable and Inputs readable, and that a confined step cannot write
// its Inputs (with the unconfined control showing that it could).
package executortest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/autobuild/autobuild/engine/executor"
	"github.com/autobuild/autobuild/internal/testutil"
	"github.com/autobuild/autobuild/sandbox"
)

// Run runs the suite. newExecutor returns a fresh executor whose
// workspace is the build root root (a folder every uid may traverse).
func Run(t *testing.T, newExecutor func(t *testing.T, root string) executor.Executor) {
	setup := func(t *testing.T) (executor.Executor, string) {
		root := filepath.Join(testutil.Dir(t), "build")
		ex := newExecutor(t, root)
		if err := ex.Workspace().Init(); err != nil {
			t.Fatalf("Init: %v", err)
		}
		return ex, root
	}
	id := sandbox.AssignIDs([]string{"executortest"})["executortest"]

	t.Run("workspace", func(t *testing.T) {
		ex, root := setup(t)
		ws := ex.Workspace()
		if ws.Layout().Root != root {
			t.Fatalf("Layout().Root = %q, want %q", ws.Layout().Root, root)
		}
		for _, d := range ws.Layout().Tops() {
			if info, err := os.Stat(d); err != nil || !info.IsDir() {
				t.Errorf("Init did not create %s: %v", d, err)
			}
		}
		dir := ws.Layout().InstallDir("m")
		if err := ws.PrepareDir(dir, id, false); err != nil {
			t.Fatal(err)
		}
		keep := filepath.Join(dir, "keep")
		if err := os.WriteFile(keep, nil, 0o644); err != nil {
			t.Fatal(err)
		}
		if !ws.IsDir(dir) {
			t.Error("IsDir of a prepared folder is false")
		}
		if err := ws.PrepareDir(dir, id, false); err != nil {
			t.Fatal(err)
		}
		if _, err := os.Stat(keep); err != nil {
			t.Errorf("PrepareDir without wipe lost a file: %v", err)
		}
		if err := ws.PrepareDir(dir, id, true); err != nil {
			t.Fatal(err)
		}
		if _, err := os.Stat(keep); err == nil {
			t.Error("PrepareDir with wipe kept a file")
		}
		if ws.IsDir(filepath.Join(root, "no-such-folder")) {
			t.Error("IsDir of a missing folder is true")
		}
		if err := ws.Reachable(root); err != nil {
			t.Errorf("Reachable(%s): %v", root, err)
		}
	})

	t.Run("self", func(t *testing.T) {
		ex, _ := setup(t)
		info, err := os.Stat(ex.Self())
		if err != nil || info.IsDir() || info.Mode()&0o111 == 0 {
			t.Errorf("Self() = %q is not an executable file: %v", ex.Self(), err)
		}
	})

	for _, lv := range []string{"unconfined", "isolated"} {
		t.Run(lv, func(t *testing.T) {
			ex, _ := setup(t)
			p := profile(t, ex, lv, id)
			ws := ex.Workspace()
			out := ws.Layout().PackageDir("m")
			in := ws.Layout().InstallDir("dep")
			for _, d := range []string{out, in} {
				if err := ws.PrepareDir(d, id, true); err != nil {
					t.Fatal(err)
				}
			}
			if err := os.WriteFile(filepath.Join(in, "input"), []byte("from the dependency\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			step := func(script string, timeout time.Duration) (sandbox.Result, string, error) {
				var log bytes.Buffer
				res, err := ex.Run(context.Background(), &executor.Step{
					Module: "m", ID: id, Args: []string{"/bin/sh", "-c", script}, Dir: out,
					Env: executor.BaseEnv(out), Stdout: &log, Stderr: &log, Timeout: timeout,
					Profile: p, Inputs: []string{in}, Outputs: []string{out},
				})
				return res, log.String(), err
			}

			t.Run("exit code and output", func(t *testing.T) {
				res, log, err := step("echo to-the-log; echo to-stderr >&2; exit 7", 0)
				if err != nil {
					t.Fatal(err)
				}
				if res.ExitCode != 7 || res.TimedOut {
					t.Errorf("exit %d timed out %v, want 7", res.ExitCode, res.TimedOut)
				}
				if !strings.Contains(log, "to-the-log") || !strings.Contains(log, "to-stderr") {
					t.Errorf("output %q lacks what the step wrote", log)
				}
			})
			t.Run("outputs writable, inputs readable", func(t *testing.T) {
				res, log, err := step("cat "+filepath.Join(in, "input")+" > "+filepath.Join(out, "copy"), 0)
				if err != nil || res.ExitCode != 0 {
					t.Fatalf("exit %d, %v: %s", res.ExitCode, err, log)
				}
				b, err := os.ReadFile(filepath.Join(out, "copy"))
				if err != nil || string(b) != "from the dependency\n" {
					t.Errorf("output holds %q, %v", b, err)
				}
			})
			t.Run("inputs not writable when confined", func(t *testing.T) {
				victim := filepath.Join(in, "input")
				res, _, err := step("echo changed > "+victim+"; echo new > "+filepath.Join(in, "planted"), 0)
				if err != nil {
					t.Fatal(err)
				}
				b, _ := os.ReadFile(victim)
				_, planted := os.Stat(filepath.Join(in, "planted"))
				changed := string(b) != "from the dependency\n" || planted == nil
				if lv == "unconfined" && !changed {
					t.Errorf("control: an unconfined step could not write its input (exit %d): the confined check proves nothing", res.ExitCode)
				}
				if lv != "unconfined" && changed {
					t.Errorf("a confined step wrote its input")
				}
			})
			t.Run("timeout", func(t *testing.T) {
				start := time.Now()
				res, _, err := step("sleep 30", 300*time.Millisecond)
				if err != nil {
					t.Fatal(err)
				}
				if !res.TimedOut || res.ExitCode == 0 {
					t.Errorf("timed out %v exit %d, want a timeout", res.TimedOut, res.ExitCode)
				}
				if d := time.Since(start); d > 10*time.Second {
					t.Errorf("the timeout took %s to end the step", d)
				}
			})
		})
	}

	t.Run("a step that cannot start is an error", func(t *testing.T) {
		ex, _ := setup(t)
		out := ex.Workspace().Layout().TmpDir("m")
		if err := ex.Workspace().PrepareDir(out, id, true); err != nil {
			t.Fatal(err)
		}
		_, err := ex.Run(context.Background(), &executor.Step{
			Module: "m", ID: id, Args: []string{"/no/such/command"}, Dir: out, Env: executor.BaseEnv(out),
			Profile: profile(t, ex, "isolated", id), Outputs: []string{out},
		})
		if err == nil {
			t.Fatal("a missing command started")
		}
		if errors.Is(err, sandbox.ErrUnsupported) {
			t.Errorf("a missing command is reported as a confinement failure: %v", err)
		}
	})
}

// profile is the built-in level lv for the suite's module, skipped (or
// failed, where skips are forbidden) when the executor cannot enforce it.
func profile(t *testing.T, ex executor.Executor, lv string, id sandbox.ID) sandbox.Profile {
	t.Helper()
	l := sandbox.Builtin()[lv]
	p := sandbox.Profile{Level: lv, Confined: l.Confined, Network: l.Network, Limits: l.Limits, UID: -1, GID: -1}
	if l.Confined && ex.SeparateUIDs() {
		p.UID, p.GID = id.UID, id.UID
	}
	if _, missing := ex.Check(p); len(missing) > 0 {
		testutil.Skip(t, fmt.Sprintf("executor cannot enforce %s: lacks %s", lv, strings.Join(missing, ", ")))
	}
	return p
}
