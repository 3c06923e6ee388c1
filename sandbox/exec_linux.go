package sandbox

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/opencontainers/selinux/go-selinux"
)

// HelperArg is the first argument that puts the autobuild binary into its
// hidden helper mode (see RunHelperIfRequested).
const HelperArg = "__sandbox-exec"

// specEnv carries the helper's instructions from the engine to the child.
// The helper removes it before it execs the step's command. A spec longer
// than specChunk continues in specEnv_1, specEnv_2, …: Linux refuses an
// exec with any one environment string over 128 KiB (MAX_ARG_STRLEN), and
// a step with hundreds of dependencies names each of their install roots.
const specEnv = "AUTOBUILD_SANDBOX_SPEC"

// specChunk is the most of the spec one variable carries.
const specChunk = 64 << 10

// specVars is the spec as environment strings.
func specVars(spec []byte) []string {
	var vars []string
	for i := 0; len(spec) > 0 || i == 0; i++ {
		n := min(len(spec), specChunk)
		name := specEnv
		if i > 0 {
			name += "_" + strconv.Itoa(i)
		}
		vars = append(vars, name+"="+string(spec[:n]))
		spec = spec[n:]
	}
	return vars
}

// withoutSpec is env without any variable of the spec's names: only the
// engine gives the helper its instructions.
func withoutSpec(env []string) []string {
	out := make([]string, 0, len(env))
	for _, e := range env {
		if name, _, _ := strings.Cut(e, "="); name != specEnv && !strings.HasPrefix(name, specEnv+"_") {
			out = append(out, e)
		}
	}
	return out
}

// helperSpec is what the helper needs to confine itself and exec.
type helperSpec struct {
	Args    []string `json:"args"`
	Profile Profile  `json:"profile"`
	// Prepare runs in the helper before the exec.
	Prepare *Prepare `json:"prepare,omitempty"`
	// Skip are mechanisms this host lacks: optional ones, or required ones
	// that AllowWeaker let go.
	Skip []string `json:"skip,omitempty"`
	// Dir is the step's working directory, entered again inside its file
	// system view; EngineMountNS the engine's mount namespace, which the
	// helper must have left before it builds the view (mount_linux.go).
	Dir           string `json:"dir,omitempty"`
	EngineMountNS uint64 `json:"engine_mount_ns,omitempty"`
	// Parent is the engine's pid: the helper checks that it still runs
	// once its parent-death signal is armed.
	Parent int `json:"parent"`
}

// Exec is the Linux Runner. Confined steps start through the helper mode
// of the engine's own binary, which applies the in-child mechanisms
// (rlimits, uid, no_new_privs, Landlock) and then execs the command.
// Mechanisms that must be chosen at clone time (namespaces) and SELinux's
// exec label are applied here, in the parent.
type Exec struct {
	// Self is the autobuild binary that provides the helper mode.
	Self string
	Host Host
}

// NewExec returns a Runner that uses the running binary as its helper.
func NewExec() (*Exec, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("sandbox: find own binary for the helper: %w", err)
	}
	return &Exec{Self: HelperBeside(self), Host: ProbeHost()}, nil
}

// Run implements Runner.
func (r *Exec) Run(ctx context.Context, step *Step) (Result, error) {
	enforced, missing, absent := r.Host.check(step.Profile)
	if len(missing) > 0 && !step.Profile.AllowWeaker {
		return Result{}, fmt.Errorf("%w: trust level %q needs %s", ErrUnsupported,
			step.Profile.Level, strings.Join(missing, ", "))
	}
	if step.Profile.Merge != nil {
		if err := r.checkMerge(step.Profile, absent); err != nil {
			return Result{}, err
		}
	}
	if step.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeoutCause(ctx, step.Timeout, &TimeoutError{After: step.Timeout})
		defer cancel()
	}
	cmd, status, err := r.command(ctx, step, absent)
	if err != nil {
		return Result{}, err
	}
	if status != nil {
		defer status.Close()
	}
	// The step's cgroup (or, without one, a record of its first process)
	// is how its whole tree is found: when it ends, at its timeout, and
	// after the engine died.
	tree := r.track(step, cmd.SysProcAttr)
	defer tree.release()
	cmd.Dir = step.Dir
	labelled := step.Profile.SELinuxLabel != "" && r.Host.SELinux
	// Output goes to files directly, unless it is limited (output_linux.go).
	// Any other writer gets a pipe of our own, so Wait returns when the
	// step exits, not when the last process holding the pipe does: the
	// group kill below then closes it.
	out := outputs{limit: step.OutputLimit, direct: labelled && !stepWritesEnginePipes()}
	stdout, err := out.file(step.Stdout)
	stderr := stdout
	if err == nil && step.Stderr != step.Stdout {
		stderr, err = out.file(step.Stderr)
	}
	if err != nil {
		out.wait()
		for _, f := range cmd.ExtraFiles {
			f.Close()
		}
		return Result{}, err
	}
	// Typed nils would make exec think an output was given.
	if stdout != nil {
		cmd.Stdout = stdout
	}
	if stderr != nil {
		cmd.Stderr = stderr
	}
	// The step runs in its own process group (and, when confined, its own
	// PID namespace). Cancel kills the whole group; with a PID namespace
	// killing its init kills every process in it, daemons included; its
	// cgroup holds even the processes that left both.
	cmd.Cancel = func() error { tree.kill(); return killGroup(cmd.Process.Pid) }
	// WaitDelay bounds how long a grandchild holding the output open can
	// keep Wait blocked after the step itself exited.
	cmd.WaitDelay = outputGrace

	start := time.Now()
	err = startLabelled(cmd, step.Profile.SELinuxLabel, r.Host.SELinux)
	out.started()
	// The child has its copy of the status pipe's write end; with ours
	// closed, the pipe reads EOF once the helper has exited or exec'd.
	for _, f := range cmd.ExtraFiles {
		f.Close()
	}
	if err != nil {
		out.wait()
		// Without a helper, a failed fork/exec is the command's exec
		// (a cancelled context or an SELinux label is not).
		var pathErr *fs.PathError
		if status == nil && !labelled && errors.As(err, &pathErr) {
			return Result{}, &StepError{Stage: StageExec, Level: step.Profile.Level, Msg: err.Error()}
		}
		return Result{}, fmt.Errorf("sandbox: start %s: %w", step.Args[0], err)
	}
	tree.started(cmd.Process.Pid)
	waitErr := cmd.Wait()
	// Whatever is left in the group (a daemon the step started without a
	// PID namespace) dies with the step, and so does all of its cgroup,
	// before the output is waited for: an escaped daemon holding it open
	// is gone then.
	_ = killGroup(cmd.Process.Pid)
	tree.release()
	out.wait()
	res := Result{Duration: time.Since(start), Enforced: enforced, Missing: missing, OutputDiscarded: out.discarded}
	res.ExitCode = cmd.ProcessState.ExitCode()
	if res.ExitCode < 0 {
		res.ExitCode = 128 + int(cmd.ProcessState.Sys().(syscall.WaitStatus).Signal())
	}
	if cause := context.Cause(ctx); cause != nil {
		var te *TimeoutError
		if errors.As(cause, &te) {
			res.TimedOut = true
		}
		if res.ExitCode == 0 {
			res.ExitCode = -1
		}
	} else if res.ExitCode != 0 {
		res.Exhausted = exhausted(step.Profile, cmd.ProcessState)
	}
	// What the overlay left in the merged folder goes, whatever became
	// of the step: its whole tree is gone, nothing writes there now.
	var cleanErr error
	if m := step.Profile.Merge; m != nil {
		if err := cleanMerged(m); err != nil {
			cleanErr = &StepError{Stage: StageMerge, Level: step.Profile.Level, Msg: "remove what the overlay left in the merged folder: " + err.Error()}
		}
	}
	// A record on the status pipe means the command never ran, whatever
	// the exit code says: a helper's 125 is no build failure.
	if status != nil {
		if serr := readStatus(status, step.Profile.Level); serr != nil {
			if serr.Stage == StageConfine {
				res.Enforced = nil
			}
			return res, serr
		}
	}
	if cleanErr != nil {
		return res, cleanErr
	}
	var exitErr *exec.ExitError
	if waitErr != nil && !errors.As(waitErr, &exitErr) && !errors.Is(waitErr, exec.ErrWaitDelay) {
		return res, fmt.Errorf("sandbox: wait %s: %w", step.Args[0], waitErr)
	}
	return res, nil
}

// statusGrace bounds the read of the status pipe. The helper has exited
// by then, so a record is already complete in the pipe; only a concurrent
// Run's child, between its fork and its exec, can hold a write end open
// for an instant longer.
const statusGrace = 2 * time.Second

// readStatus returns the failure the helper reported on the status pipe,
// or nil when it wrote nothing (it exec'd the command, or was killed).
func readStatus(f *os.File, level string) *StepError {
	_ = f.SetReadDeadline(time.Now().Add(statusGrace))
	b, _ := io.ReadAll(io.LimitReader(f, maxStatus+1))
	if len(b) == 0 {
		return nil
	}
	var st helperStatus
	if err := json.Unmarshal(b, &st); err == nil {
		switch st.Stage {
		case StageConfine, StagePrepare, StageExec, StageMerge:
			return &StepError{Stage: st.Stage, Level: level, Msg: st.Message}
		}
	}
	// Fail closed: the helper failed somewhere, and nothing says the step
	// was confined.
	return &StepError{Stage: StageConfine, Level: level, Msg: fmt.Sprintf("unreadable status from the sandbox helper: %.200q", b)}
}

// command builds the process to start: the command itself when
// unconfined, the helper otherwise. With the helper, it also returns the
// read end of the helper's status pipe (the write end is ExtraFiles[0]).
func (r *Exec) command(ctx context.Context, step *Step, absent []string) (*exec.Cmd, *os.File, error) {
	attr := &syscall.SysProcAttr{
		Setpgid: true,
		// If the engine dies, the step dies with it. (With a PID
		// namespace, the helper is its init: its death ends them all.)
		Pdeathsig: syscall.SIGKILL,
	}
	if !step.Profile.Confined && step.Prepare == nil && step.Profile.Merge == nil {
		path, err := lookPath(step.Args[0], step.Env)
		if err != nil {
			return nil, nil, &StepError{Stage: StageExec, Level: step.Profile.Level, Msg: err.Error()}
		}
		cmd := exec.CommandContext(ctx, path, step.Args[1:]...)
		cmd.Args[0] = step.Args[0]
		cmd.Env = step.Env
		cmd.SysProcAttr = attr
		return cmd, nil, nil
	}
	has := func(name string) bool {
		for _, m := range absent {
			if m == name {
				return false
			}
		}
		return true
	}
	// An unconfined step gets here only to run its Prepare, or to mount
	// its merged folder: then in a mount namespace, nothing more.
	if step.Profile.Confined && has("pid-namespace") {
		attr.Cloneflags |= syscall.CLONE_NEWPID
	}
	if step.Profile.Confined && step.Profile.Network == NetNone && has("network-namespace") {
		attr.Cloneflags |= syscall.CLONE_NEWNET
	}
	// A mount namespace, in which the helper builds the step's file
	// system view (mount_linux.go).
	if step.Profile.Confined && has("mount-namespace") || !step.Profile.Confined && step.Profile.Merge != nil {
		attr.Cloneflags |= syscall.CLONE_NEWNS
	}
	if attr.Cloneflags != 0 && !r.Host.Root {
		// Without root, a user namespace in which the engine's own ids map
		// to themselves is what allows the other namespaces.
		attr.Cloneflags |= syscall.CLONE_NEWUSER
		attr.UidMappings = []syscall.SysProcIDMap{{ContainerID: os.Geteuid(), HostID: os.Geteuid(), Size: 1}}
		attr.GidMappings = []syscall.SysProcIDMap{{ContainerID: os.Getegid(), HostID: os.Getegid(), Size: 1}}
		attr.GidMappingsEnableSetgroups = false
		if attr.Cloneflags&syscall.CLONE_NEWNS != 0 {
			// The helper keeps, across its own exec, the capability its
			// user namespace gives, to build the view; it drops every
			// capability before the step's exec (mount_linux.go).
			attr.AmbientCaps = viewAmbientCaps
			if step.Profile.Merge != nil {
				// The overlay works in its work folder (mode 0) with the
				// mounter's credentials: over the engine's own files.
				attr.AmbientCaps = append(slices.Clone(viewAmbientCaps), mergeAmbientCaps...)
			}
		}
	}
	p := step.Profile
	if !r.Host.Root {
		p.UID, p.GID = -1, -1
	}
	// The helper checks Missing itself too: it applies what the host has.
	spec, err := json.Marshal(helperSpec{Args: step.Args, Profile: p, Skip: absent, Prepare: step.Prepare, Parent: os.Getpid(),
		Dir: step.Dir, EngineMountNS: engineMountNS()})
	if err != nil {
		return nil, nil, err
	}
	// The helper reports why it gave up on this pipe (statusFD), so a
	// failure to confine is not mistaken for a build that exited 125.
	pr, pw, err := os.Pipe()
	if err != nil {
		return nil, nil, fmt.Errorf("sandbox: status pipe: %w", err)
	}
	cmd := exec.CommandContext(ctx, r.Self, HelperArg)
	cmd.Env = append(withoutSpec(step.Env), specVars(spec)...)
	cmd.SysProcAttr = attr
	cmd.ExtraFiles = []*os.File{pw}
	return cmd, pr, nil
}

// startLabelled starts cmd so that it execs into the SELinux context
// label. The exec attribute belongs to one OS thread, so the start runs
// on a goroutine of its own, locked to its thread from the write to the
// reset, and the fork happens on that thread. The caller's goroutine (a
// long-lived scheduler worker) never runs on a thread that carries a
// label. If the attribute cannot be reset (or its write failed half-way),
// the goroutine exits still locked, and the runtime destroys the thread
// instead of reusing it. Every failure of a labelled start wraps
// ErrUnsupported: the step was refused its confinement.
func startLabelled(cmd *exec.Cmd, label string, enabled bool) error {
	if label == "" || !enabled {
		return cmd.Start()
	}
	done := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		if err := selinux.SetExecLabel(label); err != nil {
			done <- fmt.Errorf("%w: set the SELinux exec context %s: %v", ErrUnsupported, label, err)
			return // locked: the thread goes with the goroutine
		}
		startErr := cmd.Start()
		if err := selinux.SetExecLabel(""); err != nil {
			done <- errors.Join(startErr, fmt.Errorf("%w: reset the SELinux exec context (was %s): %v", ErrUnsupported, label, err))
			return // locked: the thread goes with the goroutine
		}
		runtime.UnlockOSThread()
		if startErr != nil && !errors.Is(startErr, context.Canceled) && !errors.Is(startErr, context.DeadlineExceeded) {
			// Most likely the policy refused the transition into label.
			startErr = fmt.Errorf("%w: start in SELinux context %s: %w", ErrUnsupported, label, startErr)
		}
		done <- startErr
	}()
	return <-done
}

// lookPath finds a command in the PATH of the step's environment, not the
// engine's.
func lookPath(name string, env []string) (string, error) {
	if strings.Contains(name, "/") {
		return name, nil
	}
	path := ""
	for _, e := range env {
		if v, ok := strings.CutPrefix(e, "PATH="); ok {
			path = v
		}
	}
	for _, dir := range filepath.SplitList(path) {
		if dir == "" {
			dir = "."
		}
		p := filepath.Join(dir, name)
		if info, err := os.Stat(p); err == nil && !info.IsDir() && info.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", fmt.Errorf("%s: %w in the step's PATH %q", name, exec.ErrNotFound, path)
}

// killGroup sends SIGKILL to the process group led by pid.
func killGroup(pid int) error {
	err := syscall.Kill(-pid, syscall.SIGKILL)
	if errors.Is(err, syscall.ESRCH) {
		return nil
	}
	return err
}
