package sandbox

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"

	"github.com/landlock-lsm/go-landlock/landlock"
	"golang.org/x/sys/unix"
)

// helperExit is the exit code of a helper that could not confine itself,
// prepare or exec. The step is then reported as failed, never run
// unconfined; the status pipe tells the engine why, and tells this apart
// from a command that itself exits 125.
const helperExit = 125

// statusFD is the helper's end of the status pipe: the first of the
// engine's exec.Cmd.ExtraFiles.
const statusFD = 3

// maxStatus bounds a status record: a pipe write of at most PIPE_BUF
// bytes is atomic and fits even a pipe shrunk to one page, so the helper
// never blocks on an engine that reads only after the helper has exited.
const maxStatus = 4096

// helperStatus is the one record a failing helper writes to the status
// pipe before it exits.
type helperStatus struct {
	Stage   string `json:"stage"`
	Message string `json:"message"`
}

// The helper's work between fork and exec happens on one OS thread, the
// main one: the parent-death signal belongs to a thread, and the exec
// keeps the signal of the thread that calls it. Without the lock, the
// runtime may move the goroutine between the prctl and the exec (a
// Prepare's file I/O makes that likely), and the step then runs without
// it. Locked in init, main's goroutine stays on the main thread.
func init() {
	if len(os.Args) > 1 && os.Args[1] == HelperArg {
		runtime.LockOSThread()
	}
}

// RunHelperIfRequested turns the process into the sandbox helper when it
// was started as one (os.Args[1] == HelperArg), and never returns in that
// case. main calls it first, before any other work, so nothing else in the
// binary runs between the fork and the confined exec.
func RunHelperIfRequested() {
	if len(os.Args) > 1 && os.Args[1] == watchdogArg {
		runWatchdog(os.Args[2:]) // the engine's watchdog (cgroup_linux.go)
	}
	if len(os.Args) < 2 || os.Args[1] != HelperArg {
		return
	}
	// The status pipe before anything else: nothing the helper execs
	// (a Prepare's tools, the step's command) may inherit it.
	status, err := openStatus()
	stage := StageConfine
	if err == nil {
		stage, err = helperMain(status)
	}
	fmt.Fprintf(os.Stderr, "autobuild sandbox: %v\n", err)
	writeStatus(status, stage, err)
	os.Exit(helperExit)
}

// openStatus marks the status pipe close-on-exec and returns its fd, or -1
// when the helper was started without one (then the exit code and stderr
// are all the engine learns). If the mark fails the pipe is still
// returned, with an error: the helper must report and stop, not exec.
func openStatus() (int, error) {
	var st unix.Stat_t
	if err := unix.Fstat(statusFD, &st); err != nil || st.Mode&unix.S_IFMT != unix.S_IFIFO {
		return -1, nil
	}
	if _, err := unix.FcntlInt(statusFD, unix.F_SETFD, unix.FD_CLOEXEC); err != nil {
		return statusFD, fmt.Errorf("status pipe: close-on-exec: %w", err)
	}
	return statusFD, nil
}

// writeStatus reports the helper's failure to the engine, cutting the
// message until the record fits maxStatus.
func writeStatus(fd int, stage string, err error) {
	if fd < 0 {
		return
	}
	msg := err.Error()
	for {
		b, jerr := json.Marshal(helperStatus{Stage: stage, Message: msg})
		if jerr == nil && len(b) <= maxStatus {
			_, _ = unix.Write(fd, b)
			return
		}
		if msg == "" {
			return
		}
		msg = msg[:len(msg)/2]
	}
}

// helperMain confines the process and execs the step; it returns only on
// failure, with the stage that failed. The order matters and each step
// says why it sits where it does. status is the status pipe (or -1).
func helperMain(status int) (stage string, err error) {
	if builtWithCgo {
		return StageConfine, fmt.Errorf("this autobuild binary was built with cgo; rebuild it with CGO_ENABLED=0 (make does)")
	}
	raw := readSpec()
	if raw == "" {
		return StageConfine, fmt.Errorf("%s is not set: the helper mode is for the engine only", specEnv)
	}
	var spec helperSpec
	if err := json.Unmarshal([]byte(raw), &spec); err != nil {
		return StageConfine, fmt.Errorf("decode spec: %w", err)
	}
	if len(spec.Args) == 0 {
		return StageConfine, fmt.Errorf("decode spec: no command")
	}
	p := spec.Profile

	// Resolve the command while PATH lookups still see everything.
	path, err := exec.LookPath(spec.Args[0])
	if err != nil {
		return StageExec, fmt.Errorf("find %s: %w", spec.Args[0], err)
	}

	if p.Confined {
		if err := confine(p, spec); err != nil {
			return confineStage(err), err
		}
	} else if p.Merge != nil {
		// Unconfined: the merged folder, over the host's path, in the
		// step's mount namespace; nothing else changes.
		if err := mergeInPlace(p, spec.EngineMountNS); err != nil {
			return StageMerge, err
		}
	}
	// The uid change cleared the parent-death signal: armed again before
	// the Prepare, so a long one still dies with the engine, and the
	// engine checked for, which may have died meanwhile.
	if err := armParentDeath(spec.Parent, status); err != nil {
		return StageConfine, err
	}
	// Preparation runs with exactly the step's rights.
	if err := runPrepare(spec.Prepare); err != nil {
		return StagePrepare, err
	}

	// Armed once more right before the exec, on this (locked) thread: the
	// command keeps what this thread has, whatever ran since.
	if err := armParentDeath(spec.Parent, status); err != nil {
		return StageConfine, err
	}
	// Exec replaces the helper; the confinement is inherited, the status
	// pipe is not.
	err = syscall.Exec(path, spec.Args, os.Environ())
	return StageExec, fmt.Errorf("exec %s: %w", path, err)
}

// readSpec returns the spec the engine put in the environment (specVars)
// and removes it from there: it is for the helper, not for the build.
func readSpec() string {
	var b strings.Builder
	for i := 0; ; i++ {
		name := specEnv
		if i > 0 {
			name += "_" + strconv.Itoa(i)
		}
		part, ok := os.LookupEnv(name)
		if !ok {
			break
		}
		b.WriteString(part)
		os.Unsetenv(name)
	}
	return b.String()
}

// confine applies, in order, the in-child mechanisms of p. spec gives the
// mechanisms to skip and what the file system view needs.
func confine(p Profile, spec helperSpec) error {
	skip := spec.Skip
	if err := checkOwnLabel(p.SELinuxLabel, skip); err != nil { // the engine's exec transition happened (selinux_linux.go)
		return err
	}
	// rlimits first: lowering them needs no privilege, and RLIMIT_NPROC
	// must be in place before the uid change makes it count.
	if err := setLimits(p.Limits); err != nil {
		return err
	}

	// The step's own file system view (mount_linux.go), in the mount
	// namespace the engine's clone gave the helper: before the uid drop,
	// because mounting needs the capabilities the drop takes away (root's,
	// or those of the helper's own user namespace); before Landlock,
	// which forbids every mount and whose rules must open the paths of
	// the view, not the host's. Anything that needs the host's file
	// system (the command's path, a cgroup file) comes before this. It
	// ends in the working directory, inside the view.
	var viewRules []landlock.Rule
	if !slices.Contains(skip, "mount-namespace") {
		var err error
		if viewRules, err = enterView(p, spec.Dir, spec.EngineMountNS); err != nil {
			return err
		}
	}

	// Drop to the module's own uid (only when the engine is root). A
	// change of every uid away from 0 clears all capabilities, so the
	// build cannot undo anything below. Supplementary groups go first,
	// while we still may.
	if p.UID >= 0 && os.Geteuid() == 0 {
		if err := syscall.Setgroups(nil); err != nil {
			return fmt.Errorf("setgroups: %w", err)
		}
		if err := syscall.Setresgid(p.GID, p.GID, p.GID); err != nil {
			return fmt.Errorf("setgid %d: %w", p.GID, err)
		}
		if err := syscall.Setresuid(p.UID, p.UID, p.UID); err != nil {
			return fmt.Errorf("setuid %d: %w", p.UID, err)
		}
		// The change of credentials cleared the parent-death signal the
		// engine asked for at clone time: helperMain arms it again.
	}

	// Landlock last: it sets no_new_privs (so nothing the build execs can
	// gain privileges) and restricts this process and every descendant.
	// Its rules name the same paths as the view, plus the view's own
	// private /tmp, /dev/shm and ptys.
	if !slices.Contains(skip, "landlock-fs") {
		if err := applyLandlock(p, viewRules...); err != nil {
			return err
		}
	} else if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
		return fmt.Errorf("no_new_privs: %w", err)
	}

	return nil
}

// armParentDeath asks, for this thread, for SIGKILL when the engine dies
// (a change of credentials or an SELinux transition at the helper's own
// exec clears it), then checks that the engine still runs: one that died
// before the signal was armed sent none, and nothing else would end the
// step (the classic race of PR_SET_PDEATHSIG).
func armParentDeath(parent, status int) error {
	if err := unix.Prctl(unix.PR_SET_PDEATHSIG, uintptr(syscall.SIGKILL), 0, 0, 0); err != nil {
		return fmt.Errorf("pdeathsig: %w", err)
	}
	// Outside a PID namespace the parent is visible: a dead engine's
	// children belong to init or a subreaper.
	if ppid := unix.Getppid(); ppid != 0 && parent > 0 && ppid != parent {
		return fmt.Errorf("the engine (pid %d) died before the step started", parent)
	}
	// Inside one getppid is 0, but the status pipe tells: its read end is
	// the engine's alone, and the kernel closes it (so that polling the
	// write end reports an error) before it reparents the engine's
	// children.
	if status >= 0 {
		fds := []unix.PollFd{{Fd: int32(status)}}
		for {
			n, err := unix.Poll(fds, 0)
			if errors.Is(err, unix.EINTR) {
				continue
			}
			if err == nil && n > 0 && fds[0].Revents&unix.POLLERR != 0 {
				return fmt.Errorf("the engine (pid %d) died before the step started", parent)
			}
			break
		}
	}
	return nil
}

// setLimits applies l. Each limit is both soft and hard, except CPU
// time: its hard limit lies one second beyond, so a process that reaches
// the limit gets SIGXCPU, which names the cause (at the hard limit the
// kernel sends SIGKILL, which names nothing); one that ignores SIGXCPU is
// killed a second later.
func setLimits(l Limits) error {
	set := func(name string, res int, v int64) error {
		if v <= 0 {
			return nil
		}
		lim := unix.Rlimit{Cur: uint64(v), Max: uint64(v)}
		if res == unix.RLIMIT_CPU {
			lim.Max++
		}
		if err := unix.Setrlimit(res, &lim); err != nil {
			return fmt.Errorf("setrlimit %s=%d: %w", name, v, err)
		}
		return nil
	}
	for _, s := range []struct {
		name string
		res  int
		v    int64
	}{
		{"nproc", unix.RLIMIT_NPROC, l.Processes},
		{"fsize", unix.RLIMIT_FSIZE, l.FileSize},
		{"as", unix.RLIMIT_AS, l.Memory},
		{"cpu", unix.RLIMIT_CPU, l.CPUSeconds},
		{"nofile", unix.RLIMIT_NOFILE, l.OpenFiles},
	} {
		if err := set(s.name, s.res, s.v); err != nil {
			return err
		}
	}
	return nil
}

// systemRead are the paths every confined step may read and execute.
var systemRead = []string{"/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/etc", "/opt", "/proc", "/sys"}

// deviceFiles are the device nodes a step may read and write. /dev as a
// whole is not given: raw disks are there.
var deviceFiles = []string{"/dev/null", "/dev/zero", "/dev/full", "/dev/random", "/dev/urandom", "/dev/tty"}

// applyLandlock restricts the process to p's paths and the extra rules.
func applyLandlock(p Profile, extra ...landlock.Rule) error {
	cfg := landlock.V7
	if p.Network != NetNone {
		cfg.HandledAccessNet = 0 // outgoing network is allowed
	}
	// Best effort applies what this kernel's ABI has. That is safe because
	// the engine refused beforehand (Host.Check) any profile that needs a
	// Landlock feature this kernel lacks and nothing else provides.
	cfg = cfg.BestEffort()
	var rules []landlock.Rule
	rules = append(rules, landlock.RODirs(systemRead...).IgnoreIfMissing())
	rules = append(rules, landlock.RWFiles(deviceFiles...).IgnoreIfMissing())
	for _, r := range p.Read {
		rules = append(rules, pathRule(r, false))
	}
	for _, w := range p.Write {
		rules = append(rules, pathRule(w, true))
	}
	rules = append(rules, extra...)
	if err := cfg.Restrict(rules...); err != nil {
		return fmt.Errorf("landlock (%s): %w", strings.TrimSpace(cfg.String()), err)
	}
	return nil
}

// pathRule grants read (and write) on a folder tree or a single file.
func pathRule(path string, write bool) landlock.Rule {
	st, err := os.Stat(path)
	isDir := err != nil || st.IsDir()
	switch {
	case write && isDir:
		return landlock.RWDirs(path).WithRefer().IgnoreIfMissing()
	case write:
		return landlock.RWFiles(path).IgnoreIfMissing()
	case isDir:
		return landlock.RODirs(path).IgnoreIfMissing()
	default:
		return landlock.ROFiles(path).IgnoreIfMissing()
	}
}
