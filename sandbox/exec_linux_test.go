package sandbox_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/autobuild/autobuild/internal/testutil"
	"github.com/autobuild/autobuild/sandbox"
	"github.com/autobuild/autobuild/sandbox/sandboxtest"
)

// Prepares of the helper tests. They are registered at init, as in the
// autobuild binary: the helper is a re-executed copy of this test binary.
const (
	failingPrepare = "autobuild-test-failing"
	okPrepare      = "autobuild-test-ok"
)

func init() {
	sandbox.RegisterPrepare(failingPrepare, func(arg string) error { return errors.New("planted failure " + arg) })
	sandbox.RegisterPrepare(okPrepare, func(string) error { return nil })
}

// helper is a copy of this test binary in a folder the build uids may
// traverse; confined steps re-execute it in its helper mode.
var helper string

// TestMain: as in main, a re-executed copy of this binary is the sandbox
// helper and never returns from there.
func TestMain(m *testing.M) { sandboxtest.Main(m, &helper) }

func TestExecConformance(t *testing.T) {
	sandboxtest.Run(t, &sandbox.Exec{Self: helper, Host: sandbox.ProbeHost()})
}

func TestExecUnsupported(t *testing.T) {
	tests := []struct {
		name string
		lack func(h *sandbox.Host)
	}{
		{"no Landlock", func(h *sandbox.Host) { h.LandlockABI = 0 }},
		{"Landlock without network rules (ABI 3)", func(h *sandbox.Host) { h.LandlockABI = 3 }},
		{"Landlock without scopes (ABI 5)", func(h *sandbox.Host) { h.LandlockABI = 5 }},
		{"no PID namespace", func(h *sandbox.Host) { h.PidNS = false }},
		{"no network namespace", func(h *sandbox.Host) { h.NetNS = false }},
		{"no mount namespace", func(h *sandbox.Host) { h.MountNS = false }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := sandbox.ProbeHost()
			tc.lack(&h)
			sandboxtest.Unsupported(t, &sandbox.Exec{Self: helper, Host: h})
		})
	}
}

// A step whose merged folder this host cannot make is refused, never run
// without it, whether the level allows weaker confinement or not.
func TestExecMergeRefused(t *testing.T) {
	tests := []struct {
		name        string
		lack        func(h *sandbox.Host)
		allowWeaker bool
	}{
		{"no overlay", func(h *sandbox.Host) { h.Overlay = false }, false},
		{"no overlay, weaker confinement allowed", func(h *sandbox.Host) { h.Overlay = false }, true},
		{"no mount namespace, weaker confinement allowed", func(h *sandbox.Host) { h.MountNS = false }, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := sandbox.ProbeHost()
			tc.lack(&h)
			sandboxtest.MergeRefused(t, &sandbox.Exec{Self: helper, Host: h}, tc.allowWeaker)
		})
	}
}

// An unconfined step can start a process that leaves its process group
// (setsid) and keeps its output pipe open; Run must still return soon
// after the step itself exits.
func TestEscapedHolderDoesNotBlockRun(t *testing.T) {
	t.Parallel()
	marker := fmt.Sprintf("escaped-holder-%d", time.Now().UnixNano())
	t.Cleanup(func() { exec.Command("pkill", "-f", marker).Run() })
	var out bytes.Buffer
	r := &sandbox.Exec{Self: helper, Host: sandbox.ProbeHost()}
	start := time.Now()
	res, err := r.Run(context.Background(), &sandbox.Step{
		Args:    []string{"/bin/sh", "-c", "setsid sh -c 'sleep 60; : " + marker + "' & sleep 0.5; echo started"},
		Env:     []string{"PATH=/usr/bin:/bin"},
		Stdout:  &out,
		Stderr:  &out,
		Profile: sandbox.Profile{Level: "unconfined", UID: -1, GID: -1},
	})
	if err != nil || res.ExitCode != 0 {
		t.Fatalf("Run: %v %+v", err, res)
	}
	if took := time.Since(start); took > 8*time.Second {
		t.Errorf("Run took %s: blocked on a pipe held by an escaped process", took)
	}
	if !strings.Contains(out.String(), "started") {
		t.Errorf("output lost: %q", out.String())
	}
	// The check above proves something only if the holder was alive.
	if exec.Command("pgrep", "-f", marker).Run() != nil {
		t.Errorf("the escaped process did not survive: the test proves nothing")
	}
}

// confined is the isolated level's profile with the given RLIMIT_NOFILE,
// writing only w, as the build uid when the test runs as root.
func confined(t *testing.T, w string, openFiles int64) sandbox.Profile {
	t.Helper()
	uid, gid := -1, -1
	if os.Geteuid() == 0 {
		uid = sandbox.BuildUID("sandbox-helper-test")
		gid = uid
	}
	p := sandbox.Profile{
		Level: "isolated", Confined: true, Network: sandbox.NetNone,
		Write: []string{w}, UID: uid, GID: gid,
		Limits: sandbox.Builtin()["isolated"].Limits,
	}
	p.Limits.OpenFiles = openFiles
	if _, missing := sandbox.ProbeHost().Check(p); len(missing) > 0 {
		testutil.Skip(t, "host cannot enforce the isolated level: lacks "+strings.Join(missing, ", "))
	}
	return p
}

// stepDir returns a fresh folder the profile's uid may write.
func stepDir(t *testing.T, uid, gid int) string {
	t.Helper()
	w := filepath.Join(testutil.Dir(t), "w")
	if err := os.Mkdir(w, 0o755); err != nil {
		t.Fatal(err)
	}
	if uid >= 0 {
		if err := os.Chown(w, uid, gid); err != nil {
			t.Fatal(err)
		}
	}
	return w
}

// A helper that gives up before the command runs reports why on its
// status pipe, and Run returns that as an error: ErrUnsupported when the
// confinement failed, a plain *StepError otherwise. It is never a Result
// with the helper's exit code 125, which a command may well exit with.
func TestHelperFailureIsAnError(t *testing.T) {
	b, err := os.ReadFile("/proc/sys/fs/nr_open")
	if err != nil {
		testutil.Skip(t, "no /proc/sys/fs/nr_open: "+err.Error())
	}
	nrOpen, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
	if err != nil {
		t.Fatalf("/proc/sys/fs/nr_open: %v", err)
	}
	// Every command that runs creates marker: the failures must not.
	touch := func(marker string) []string { return []string{"/bin/sh", "-c", "touch " + marker} }
	tests := []struct {
		name string
		// openFiles is the confined profile's RLIMIT_NOFILE; 0: unconfined.
		openFiles int64
		args      func(w, marker string) []string
		prepare   *sandbox.Prepare
		// stage is the StepError's, "" for a step that must run and exit code.
		stage string
		code  int
		msg   string
	}{
		// setrlimit beyond fs.nr_open fails with EPERM even for root.
		{name: "confine: RLIMIT_NOFILE above fs.nr_open", openFiles: nrOpen + 1,
			args: func(_, m string) []string { return touch(m) }, stage: sandbox.StageConfine, msg: "setrlimit nofile"},
		{name: "control: a sane RLIMIT_NOFILE", openFiles: 1024,
			args: func(_, m string) []string { return touch(m) }},
		{name: "control: a command that exits 125 itself", openFiles: 1024,
			args: func(_, m string) []string { return []string{"/bin/sh", "-c", "touch " + m + "; exit 125"} }, code: 125},
		{name: "exec: command not in PATH", openFiles: 1024,
			args:  func(string, string) []string { return []string{"autobuild-no-such-command"} },
			stage: sandbox.StageExec, msg: "autobuild-no-such-command"},
		{name: "exec: no such file", openFiles: 1024,
			args:  func(w, _ string) []string { return []string{filepath.Join(w, "no-such-command")} },
			stage: sandbox.StageExec, msg: "no-such-command"},
		// An executable file without #!: execve fails with ENOEXEC, and
		// nothing may fall back to running it with a shell.
		{name: "exec: not an executable format", openFiles: 1024,
			args:  func(w, _ string) []string { return []string{filepath.Join(w, "script")} },
			stage: sandbox.StageExec, msg: "exec format error"},
		{name: "prepare: fails", openFiles: 1024, prepare: &sandbox.Prepare{Name: failingPrepare, Arg: "42"},
			args: func(_, m string) []string { return touch(m) }, stage: sandbox.StagePrepare, msg: "planted failure 42"},
		{name: "prepare: fails, unconfined", prepare: &sandbox.Prepare{Name: failingPrepare, Arg: "43"},
			args: func(_, m string) []string { return touch(m) }, stage: sandbox.StagePrepare, msg: "planted failure 43"},
		{name: "prepare: not registered", openFiles: 1024, prepare: &sandbox.Prepare{Name: "autobuild-test-unregistered"},
			args: func(_, m string) []string { return touch(m) }, stage: sandbox.StagePrepare, msg: "not registered"},
		{name: "control: prepare succeeds", openFiles: 1024, prepare: &sandbox.Prepare{Name: okPrepare},
			args: func(_, m string) []string { return touch(m) }},
	}
	r := &sandbox.Exec{Self: helper, Host: sandbox.ProbeHost()}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			prof := sandbox.Profile{Level: "unconfined", UID: -1, GID: -1}
			uid, gid := -1, -1
			if tc.openFiles > 0 {
				prof = confined(t, "", tc.openFiles)
				uid, gid = prof.UID, prof.GID
			}
			w := stepDir(t, uid, gid)
			prof.Write = []string{w}
			marker := filepath.Join(w, "ran")
			if err := os.WriteFile(filepath.Join(w, "script"), []byte("touch "+marker+"\n"), 0o755); err != nil {
				t.Fatal(err)
			}
			var out bytes.Buffer
			res, err := r.Run(context.Background(), &sandbox.Step{
				Args: tc.args(w, marker), Dir: w, Env: []string{"PATH=/usr/bin:/bin"},
				Stdout: &out, Stderr: &out, Timeout: 20 * time.Second, Profile: prof, Prepare: tc.prepare,
			})
			_, statErr := os.Stat(marker)
			ran := statErr == nil
			if tc.stage == "" {
				if err != nil || res.ExitCode != tc.code || !ran {
					t.Fatalf("Run = %+v, %v (command ran: %v), want exit %d from the command; output %q", res, err, ran, tc.code, out.String())
				}
				return
			}
			t.Logf("Run: %v", err)
			var se *sandbox.StepError
			if !errors.As(err, &se) {
				t.Fatalf("Run = %+v, %v, want a *StepError; output %q", res, err, out.String())
			}
			if se.Stage != tc.stage || se.Level != prof.Level || !strings.Contains(se.Msg, tc.msg) {
				t.Errorf("StepError = %+v, want stage %q, level %q, a message with %q", *se, tc.stage, prof.Level, tc.msg)
			}
			if got, want := errors.Is(err, sandbox.ErrUnsupported), tc.stage == sandbox.StageConfine; got != want {
				t.Errorf("errors.Is(%v, ErrUnsupported) = %v, want %v", err, got, want)
			}
			if ran {
				t.Errorf("the command ran although Run failed with %v", err)
			}
			if res.Duration <= 0 {
				t.Errorf("Duration = %v: the Result of a started helper is lost", res.Duration)
			}
			if tc.stage == sandbox.StageConfine && len(res.Enforced) > 0 {
				t.Errorf("Enforced = %v for a step that could not be confined", res.Enforced)
			}
		})
	}
}

// The status pipe is the helper's fd 3; the step's command must not
// inherit it (it could forge the helper's report). The command lists its
// own open fds. The baseline is the same command started without a
// helper: it has what the test process itself passes on, and the fd 7 the
// command opens shows the listing works.
func TestStatusPipeNotInherited(t *testing.T) {
	script := `exec 7</dev/null; for f in /proc/self/fd/*; do [ -e "$f" ] && echo "${f##*/} $(readlink "$f")"; done`
	r := &sandbox.Exec{Self: helper, Host: sandbox.ProbeHost()}
	fds := func(t *testing.T, prof sandbox.Profile, prep *sandbox.Prepare) (nums []string, listing string) {
		t.Helper()
		w := stepDir(t, prof.UID, prof.GID)
		prof.Write = []string{w}
		var out, errOut bytes.Buffer
		res, err := r.Run(context.Background(), &sandbox.Step{
			Args: []string{"/bin/sh", "-c", script}, Dir: w, Env: []string{"PATH=/usr/bin:/bin"},
			Stdout: &out, Stderr: &errOut, Timeout: 20 * time.Second, Profile: prof, Prepare: prep,
		})
		if err != nil || res.ExitCode != 0 {
			t.Fatalf("Run = %+v, %v; stderr %q", res, err, errOut.String())
		}
		for _, l := range strings.Split(strings.TrimSpace(out.String()), "\n") {
			nums = append(nums, strings.Fields(l)[0])
		}
		return nums, out.String()
	}
	unconfined := sandbox.Profile{Level: "unconfined", UID: -1, GID: -1}
	base, baseListing := fds(t, unconfined, nil)
	if !slices.Contains(base, "7") || slices.Contains(base, "3") {
		t.Fatalf("baseline without a helper: the listing does not show the step's own fd 7, or shows a 3:\n%s", baseListing)
	}
	tests := []struct {
		name    string
		prof    func(t *testing.T) sandbox.Profile
		prepare *sandbox.Prepare
	}{
		{"confined", func(t *testing.T) sandbox.Profile { return confined(t, "", 1024) }, nil},
		{"unconfined with a Prepare", func(*testing.T) sandbox.Profile { return unconfined }, &sandbox.Prepare{Name: okPrepare}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, listing := fds(t, tc.prof(t), tc.prepare)
			if !slices.Equal(got, base) {
				t.Errorf("the step's open fds are\n%swant those of the step without a helper\n%s", listing, baseListing)
			}
		})
	}
}

// A confined step starts in its working directory inside its file system
// view; a directory the view does not hold is the step's failure (stage
// exec, as a missing directory fails an unconfined start), never a start
// in the host's tree. The control: the same directory works unconfined.
func TestWorkingDirOutsideTheView(t *testing.T) {
	r := &sandbox.Exec{Self: helper, Host: sandbox.ProbeHost()}
	prof := confined(t, "", 1024)
	w := stepDir(t, prof.UID, prof.GID)
	prof.Write = []string{w}
	elsewhere := testutil.Dir(t) // exists on the host, outside Read and Write
	marker := filepath.Join(w, "ran")
	step := func(p sandbox.Profile) (sandbox.Result, string, error) {
		var out bytes.Buffer
		res, err := r.Run(context.Background(), &sandbox.Step{
			Args: []string{"/bin/sh", "-c", "pwd > " + marker}, Dir: elsewhere, Env: []string{"PATH=/usr/bin:/bin"},
			Stdout: &out, Stderr: &out, Timeout: 20 * time.Second, Profile: p,
		})
		return res, out.String(), err
	}

	res, out, err := step(sandbox.Profile{Level: "unconfined", UID: -1, GID: -1})
	if b, _ := os.ReadFile(marker); err != nil || res.ExitCode != 0 || strings.TrimSpace(string(b)) != elsewhere {
		t.Fatalf("control (unconfined): %+v, %v, pwd %q; output %q", res, err, b, out)
	}
	os.Remove(marker)

	_, out, err = step(prof)
	var se *sandbox.StepError
	if !errors.As(err, &se) || se.Stage != sandbox.StageExec || errors.Is(err, sandbox.ErrUnsupported) || !strings.Contains(se.Msg, "not in the step's view") {
		t.Errorf("Run = %v, want a *StepError of stage exec saying the directory is not in the view; output %q", err, out)
	}
	if _, err := os.Stat(marker); err == nil {
		t.Errorf("the command ran")
	}
}
