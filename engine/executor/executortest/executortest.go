// Package executortest is the conformance suite of the executor boundary:
// every executor.Executor runs it in a few lines, with real processes and
// real folders. It checks what the engine relies on: the workspace's
// folders, a step's exit code, output (within its log limit) and
// timeout, that declared Outputs are writable and Inputs readable, and
// that a confined step cannot write its Inputs (with the unconfined
// control showing that it could), and that Reap kills the steps an
// executor dropped with its engine left.
package executortest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
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
				// Seen from here and from inside the step: an executor
				// that runs the step elsewhere writes a copy of the input
				// there, if it writes it at all.
				victim, plant := filepath.Join(in, "input"), filepath.Join(in, "planted")
				res, log, err := step("echo changed > "+victim+"; echo new > "+plant+
					"; if [ \"$(cat "+victim+")\" = changed ] || [ -e "+plant+" ]; then echo INPUT-WRITTEN; fi", 0)
				if err != nil {
					t.Fatal(err)
				}
				b, _ := os.ReadFile(victim)
				_, planted := os.Stat(plant)
				changed := string(b) != "from the dependency\n" || planted == nil || strings.Contains(log, "INPUT-WRITTEN")
				if lv == "unconfined" && !changed {
					t.Errorf("control: an unconfined step could not write its input (exit %d): the confined check proves nothing", res.ExitCode)
				}
				if lv != "unconfined" && changed {
					t.Errorf("a confined step wrote its input")
				}
			})
			t.Run("merged folder", func(t *testing.T) {
				// The module's install root over its input: the step
				// reads the input there, replaces and deletes its files
				// and adds its own; after, the root holds only what the
				// step wrote, the input is unchanged, and the executor's
				// work folder is empty.
				own, in := ws.Layout().InstallDir("m"), ws.Layout().InstallDir("lib")
				for _, d := range []string{own, in} {
					if err := ws.PrepareDir(d, id, true); err != nil {
						t.Fatal(err)
					}
				}
				for name, body := range map[string]string{"input": "from the dependency\n", "share/gone": "delete me\n", "share/doc/README": "docs\n"} {
					if err := os.MkdirAll(filepath.Join(in, filepath.Dir(name)), 0o755); err != nil {
						t.Fatal(err)
					}
					if err := os.WriteFile(filepath.Join(in, name), []byte(body), 0o644); err != nil {
						t.Fatal(err)
					}
				}
				var log bytes.Buffer
				res, err := ex.Run(context.Background(), &executor.Step{
					Module: "m", ID: id, Args: []string{"/bin/sh", "-c", `set -e; cd "$M"
# A folder of the merged view keeps its times while the step reads it
# (tar stats a folder, reads it, and stats it again). The pause puts the
# read in a later tick of the file system's clock than the mount.
a=$(stat -c '%Z %z' share); sleep 0.05; ls -laR share > /dev/null; b=$(stat -c '%Z %z' share)
[ "$a" = "$b" ] || echo "FOLDER CHANGED: $a then $b"
cat input > seen; echo mine > input.new; mv input.new input; rm share/gone; echo own > share/mine`}, Dir: out,
					Env: append(executor.BaseEnv(out), "M="+own), Stdout: &log, Stderr: &log,
					Profile: p, Inputs: []string{in}, Outputs: []string{out, own},
					Merge: &executor.Merge{Dir: own, Lower: []string{in}},
				})
				if err != nil || res.ExitCode != 0 {
					t.Fatalf("exit %d, %v: %s", res.ExitCode, err, log.String())
				}
				if strings.Contains(log.String(), "FOLDER CHANGED") {
					t.Errorf("a merged folder's times changed as the step read it: %s", log.String())
				}
				var got []string
				filepath.WalkDir(own, func(p string, d os.DirEntry, err error) error {
					if err == nil && !d.IsDir() {
						b, _ := os.ReadFile(p)
						rel, _ := filepath.Rel(own, p)
						got = append(got, fmt.Sprintf("%s %v %q", rel, d.Type().IsRegular(), b))
					}
					return err
				})
				want := []string{`input true "mine\n"`, `seen true "from the dependency\n"`, `share/mine true "own\n"`}
				if !slices.Equal(got, want) {
					t.Errorf("the install root holds %q, want %q", got, want)
				}
				if b, err := os.ReadFile(filepath.Join(in, "input")); err != nil || string(b) != "from the dependency\n" {
					t.Errorf("the input changed: %q, %v", b, err)
				}
				if _, err := os.Stat(filepath.Join(in, "share", "gone")); err != nil {
					t.Errorf("the input lost a file: %v", err)
				}
				// (Where the step ran elsewhere, there is none here.)
				work := filepath.Join(ws.Layout().Root, executor.MergeWorkDir, "m")
				if names, err := os.ReadDir(work); (err != nil && !errors.Is(err, os.ErrNotExist)) || len(names) > 0 {
					t.Errorf("the work folder %s holds %v (%v)", work, names, err)
				}
			})
			t.Run("log limit", func(t *testing.T) {
				// 3 MiB of output, a limit of 1 MiB: the log keeps its
				// start and end within the limit and says what it lost;
				// the step succeeds. Without a LogLimit, the default
				// bounds it (here, far beyond the output).
				for _, limit := range []int64{1 << 20, 0} {
					var log bytes.Buffer
					res, err := ex.Run(context.Background(), &executor.Step{
						Module: "m", ID: id, Args: []string{"/bin/sh", "-c", "head -c 3145728 /dev/zero"}, Dir: out,
						Env: executor.BaseEnv(out), Stdout: &log, Stderr: &log, LogLimit: limit,
						Profile: p, Outputs: []string{out},
					})
					if err != nil || res.ExitCode != 0 {
						t.Fatalf("LogLimit %d: exit %d, %v", limit, res.ExitCode, err)
					}
					cut := strings.Contains(log.String(), "autobuild: log truncated:")
					switch {
					case limit == 0 && (cut || log.Len() != 3<<20 || res.OutputDiscarded != 0):
						t.Errorf("no LogLimit (the default %d): %d bytes logged, %d discarded, truncation line %v", executor.DefaultLogLimit, log.Len(), res.OutputDiscarded, cut)
					case limit > 0 && (!cut || int64(log.Len()) > limit+200 || res.OutputDiscarded < 2<<20):
						t.Errorf("LogLimit %d: %d bytes logged, %d discarded, truncation line %v", limit, log.Len(), res.OutputDiscarded, cut)
					}
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

	// An engine killed mid-step leaves the step running; the next run's
	// executor, a new one on the same build root, must kill it, daemons
	// included, before it reuses the step's folders.
	for _, lv := range []string{"isolated", "unconfined"} {
		t.Run("Reap kills what a dropped executor left/"+lv, func(t *testing.T) {
			ex, root := setup(t)
			p := profile(t, ex, lv, id)
			out := ex.Workspace().Layout().TmpDir("m")
			if err := ex.Workspace().PrepareDir(out, id, true); err != nil {
				t.Fatal(err)
			}
			marker := newMarker(t)
			// A daemon in the step's process group, one that leaves it
			// (setsid), and the step itself, which never ends.
			script, want := "sleep 300 </dev/null >/dev/null 2>&1 &\n"+
				"setsid sh -c 'exec sleep 301' </dev/null >/dev/null 2>&1 &\nexec sleep 302", 3
			if enforced, _ := ex.Check(p); lv == "unconfined" && !slices.Contains(enforced, "process-tree cleanup") {
				// Without a cgroup nothing finds what left the group of an
				// unconfined step (the documented limit): no setsid here.
				script, want = "sleep 300 </dev/null >/dev/null 2>&1 &\nexec sleep 302", 2
			}
			done := make(chan struct{})
			go func() {
				defer close(done)
				// Never cancelled: only Reap ends it.
				_, _ = ex.Run(context.Background(), &executor.Step{
					Module: "m", ID: id, Args: []string{"/bin/sh", "-c", script}, Dir: out,
					Env: append(executor.BaseEnv(out), markerEnv+"="+marker), Profile: p, Outputs: []string{out},
				})
			}()
			deadline := time.Now().Add(20 * time.Second)
			for len(marked(marker)) < want {
				if time.Now().After(deadline) {
					t.Fatalf("the step did not start its %d processes: %v", want, marked(marker))
				}
				time.Sleep(20 * time.Millisecond)
			}
			// The first executor is dropped; the next run's is new.
			next := newExecutor(t, root)
			if err := next.Reap(context.Background()); err != nil {
				t.Fatalf("Reap: %v", err)
			}
			deadline = time.Now().Add(2 * time.Second)
			for len(marked(marker)) > 0 && time.Now().Before(deadline) {
				time.Sleep(20 * time.Millisecond)
			}
			if left := marked(marker); len(left) > 0 {
				t.Errorf("processes of the dropped executor's step survived Reap: %v", left)
			}
			select {
			case <-done:
			case <-time.After(10 * time.Second):
				t.Error("the dropped executor's Run did not return once its step was killed")
			}
			if err := next.Reap(context.Background()); err != nil {
				t.Errorf("a second Reap, with nothing left: %v", err)
			}
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

// markerEnv marks every process of a step the suite leaves running: it
// finds them by it, never by a name other work on the machine may use.
const markerEnv = "AUTOBUILD_EXECUTORTEST_MARKER"

// newMarker returns a marker only this test uses; whatever still carries
// it when the test ends is killed.
func newMarker(t *testing.T) string {
	m := fmt.Sprintf("executortest-%d-%d", os.Getpid(), time.Now().UnixNano())
	t.Cleanup(func() {
		for _, pid := range marked(m) {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	})
	return m
}

// marked returns the processes whose environment holds marker. Zombies
// have no environment left: they are dead.
func marked(marker string) []int {
	want := []byte("\x00" + markerEnv + "=" + marker + "\x00")
	ents, _ := os.ReadDir("/proc")
	var pids []int
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "environ"))
		if err == nil && bytes.Contains(append([]byte{0}, b...), want) {
			pids = append(pids, pid)
		}
	}
	return pids
}
