package sandbox

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// The secure engine's own file system view (autobuild-secure run, or run
// --secure, where SELinux does not confine the engine): the engine runs
// in a user namespace of its own, mapping every uid and gid to itself,
// and in a mount namespace that holds only its view: the system folders,
// its configuration, local sources and binaries read-only, its build root
// and the publish folder's parent read-write, a private /tmp, a minimal
// /dev, and the host's /proc and /sys read-only (it keeps the host's PID
// namespace: its steps are its children, it signals and reaps them).
// Everything it starts inherits that view, so even an unconfined build
// cannot write outside the build root. Its confined steps still build
// views of their own inside it: they mount in mount namespaces owned by
// the engine's user namespace, where the engine's children are root.
//
// The view is made by the real root, on one thread of the engine's first
// process, in a mount namespace of that thread's own, with the builder
// the steps use (buildView); the engine is then started from that thread
// in a new user and mount namespace, and the kernel copies the view into
// it. A mount namespace copied into one owned by a less privileged user
// namespace has every mount locked: no process inside, not even its root
// with every capability there, can make a read-only mount writable again,
// unmount one to see what lies below, or move it away. Had the engine
// built the view itself, inside its user namespace, its binds would not
// be locked, and an unconfined build (root there) could remount /etc
// writable; and mknod of devices or mounting a disk is refused in a user
// namespace anyway.
//
// The order, in EnterEngineView and awaitEngineIDs:
//
//  1. The engine (real root) locks a goroutine to its thread, unshares a
//     mount namespace for that thread alone and builds the view there:
//     the thread's root is now the view, the rest of the process still
//     sees the host.
//  2. From that thread it starts itself again (same arguments,
//     environment, stdin, stdout and stderr; engineViewEnv=await) with
//     CLONE_NEWUSER|CLONE_NEWNS: the child's mount namespace is a locked
//     copy of the view. Its ids are not mapped yet, so that first exec
//     leaves it without capabilities; it waits (awaitEngineIDs).
//  3. The parent, from a thread still in the host's mount namespace,
//     maps the child's ids (0 0 4294967295, allowed because it is real
//     root; written through the host's /proc, as the view's is
//     read-only) and tells the child to go on.
//  4. The child executes itself once more (engineViewEnv=entered:<the
//     parent's pid>): as uid 0 of its user namespace it now has every
//     capability there. It drops the mark, arms its parent-death signal
//     again (the kernel cleared it when the exec raised its
//     capabilities), runs the command line as usual and, in
//     EnterEngineView, checks that it is where it should be.
//  5. The parent forwards SIGINT and SIGTERM to it, waits, and exits with
//     its exit code.
const engineViewEnv = "AUTOBUILD_ENGINE_VIEW"

const (
	engineViewAwait   = "await"
	engineViewEntered = "entered"
)

// The first exec's descriptors: the parent's go-ahead, read until EOF,
// and the pipe on which the child says why it could not go on (closed by
// its second exec).
const (
	engineGoFD     = 3
	engineStatusFD = 4
)

// engineIDMap maps every id of the engine's user namespace to the same id
// outside: the engine still chowns the module folders to the build uids,
// and the helper still drops to them.
const engineIDMap = "0 0 4294967295\n"

// engineViewMark is this process's mark: engineViewEntered when it is the
// engine re-executed into its view; engineViewErr what was wrong with it.
var (
	engineViewMark string
	engineViewErr  error
)

func init() {
	v, ok := os.LookupEnv(engineViewEnv)
	if !ok {
		return
	}
	if v == engineViewAwait {
		awaitEngineIDs() // never returns
	}
	// Not for anything the engine starts.
	os.Unsetenv(engineViewEnv)
	mark, parent, _ := strings.Cut(v, ":")
	engineViewMark = mark
	if mark != engineViewEntered {
		return
	}
	// The exec that gave the engine its capabilities cleared its
	// parent-death signal: armed again, then the parent checked for,
	// which may have died before.
	ppid, err := strconv.Atoi(parent)
	switch {
	case err != nil:
		engineViewErr = fmt.Errorf("malformed %s=%q", engineViewEnv, v)
	case unix.Prctl(unix.PR_SET_PDEATHSIG, uintptr(syscall.SIGKILL), 0, 0, 0) != nil:
		engineViewErr = errors.New("cannot arm the parent-death signal")
	case os.Getppid() != ppid:
		engineViewErr = fmt.Errorf("the process that started the engine (pid %d) is gone", ppid)
	}
}

// EnterEngineView confines the engine with a file system view of its own
// (see above) holding the system folders read-only, the read paths and
// the running binary read-only, and the write paths read-write. In the
// process that calls it first it never returns unless it fails: the
// engine runs again inside the view, and this process exits with its
// exit code. In that engine it returns nil once it has checked that it
// runs in the view. It needs root; where the host cannot make the user
// namespace or the view, the error wraps ErrUnsupported.
func EnterEngineView(read, write []string) error {
	if engineViewMark == engineViewEntered {
		err := engineViewErr
		if err == nil {
			err = checkEngineView()
		}
		if err != nil {
			return fmt.Errorf("%w: the engine's view: %w", ErrUnsupported, err)
		}
		return nil
	}
	h := ProbeHost()
	switch {
	case !h.Root:
		return fmt.Errorf("%w: the engine's view needs root (its user namespace maps every uid)", ErrUnsupported)
	case !h.UserNS || !h.MountNS:
		return fmt.Errorf("%w: the engine's view needs user and mount namespaces", ErrUnsupported)
	}
	self, err := os.Executable()
	if err != nil {
		return fmt.Errorf("%w: the engine's view: find own binary: %w", ErrUnsupported, err)
	}
	wd, err := os.Getwd()
	if err != nil {
		wd = "/"
	}
	code, err := runEngineInView(self, viewOptions{
		// The engine executes itself again (and its helper, its checkout
		// mode, its watchdog) from inside.
		Read:  append(slices.Clone(read), self),
		Write: write,
		// Remote SCMs need name resolution.
		Resolv:  true,
		Dir:     wd,
		HostPID: true,
	})
	if err != nil {
		return fmt.Errorf("%w: the engine's view: %w", ErrUnsupported, err)
	}
	os.Exit(code)
	return nil
}

// started is what the view's thread reports once the engine started.
type started struct {
	proc *os.Process
	err  error
}

// runEngineInView runs this binary again as the engine, inside the view
// o, and returns its exit code once it has exited.
func runEngineInView(self string, o viewOptions) (int, error) {
	goR, goW, err := os.Pipe()
	if err != nil {
		return 0, err
	}
	defer goW.Close()
	statusR, statusW, err := os.Pipe()
	if err != nil {
		goR.Close()
		return 0, err
	}
	defer statusR.Close()
	// From now on a SIGINT or SIGTERM is the engine's to handle: it
	// exits 130, and so does this process then.
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sigs)

	start := make(chan started, 1)
	exited := make(chan error, 1)
	var cmd *exec.Cmd
	go func() {
		// The thread gets the mount namespace the view is built in and
		// forks the engine, whose parent-death signal belongs to it: it
		// waits for the engine too, and is never unlocked, so the
		// runtime ends it, namespace and all, when this returns.
		runtime.LockOSThread()
		c, err := startInView(self, o, goR, statusW)
		if err != nil {
			start <- started{err: err}
			return
		}
		cmd = c
		start <- started{proc: c.Process}
		exited <- c.Wait()
	}()
	s := <-start
	goR.Close()
	statusW.Close()
	if s.err != nil {
		return 0, s.err
	}
	if err := mapAllIDs(s.proc.Pid); err != nil {
		_ = s.proc.Kill()
		<-exited
		return 0, err
	}
	if _, err := goW.Write([]byte("go")); err != nil {
		_ = s.proc.Kill()
		<-exited
		return 0, err
	}
	goW.Close()
	for {
		select {
		case sig := <-sigs:
			_ = s.proc.Signal(sig)
		case werr := <-exited:
			// A word on the status pipe: the child never became the
			// engine (every write end is closed: it exited, and its
			// second exec closed its copy anyway).
			if msg, _ := io.ReadAll(io.LimitReader(statusR, maxStatus)); len(msg) > 0 {
				return 0, errors.New(strings.TrimSpace(string(msg)))
			}
			st := cmd.ProcessState
			if st == nil {
				return 0, fmt.Errorf("wait for the engine: %w", werr)
			}
			if ws, ok := st.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
				return 128 + int(ws.Signal()), nil
			}
			return st.ExitCode(), nil
		}
	}
}

// startInView builds the view on the calling thread, which the caller
// has locked, in a mount namespace of the thread's own, and starts the
// engine from it in new user and mount namespaces, its ids unmapped
// (awaitEngineIDs). goR and statusW become its descriptors 3 and 4.
func startInView(self string, o viewOptions, goR, statusW *os.File) (*exec.Cmd, error) {
	host := threadMountNS()
	// For this thread alone (its file system attributes go with it).
	if err := unix.Unshare(unix.CLONE_NEWNS | unix.CLONE_FS); err != nil {
		return nil, fmt.Errorf("unshare a mount namespace: %w", err)
	}
	if ns := threadMountNS(); host == 0 || ns == 0 || ns == host {
		return nil, fmt.Errorf("not in a mount namespace of its own (host %d, now %d)", host, ns)
	}
	if err := buildView(o); err != nil {
		var de *dirError
		if !errors.As(err, &de) {
			return nil, err
		}
		// A working directory outside the view: the engine starts at /
		// (a relative --config then fails as a missing file).
		if err := unix.Chdir("/"); err != nil {
			return nil, viewErr("chdir /", err)
		}
	}
	cmd := exec.Command(self)
	cmd.Args = os.Args
	cmd.Env = append(slices.DeleteFunc(os.Environ(), func(e string) bool {
		return strings.HasPrefix(e, engineViewEnv+"=")
	}), engineViewEnv+"="+engineViewAwait)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = usable(os.Stdin), usable(os.Stdout), usable(os.Stderr)
	cmd.ExtraFiles = []*os.File{goR, statusW}
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Cloneflags: syscall.CLONE_NEWUSER | syscall.CLONE_NEWNS,
		// If this process dies, so does the engine (its watchdog then
		// ends its steps).
		Pdeathsig: syscall.SIGKILL,
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start the engine in its namespaces: %w", err)
	}
	return cmd, nil
}

// usable returns f, or nil (the view's /dev/null) when its descriptor is
// closed: a child cannot inherit a closed one.
func usable(f *os.File) *os.File {
	if _, err := unix.FcntlInt(f.Fd(), unix.F_GETFD, 0); err != nil {
		return nil
	}
	return f
}

// threadMountNS identifies the calling thread's mount namespace (0:
// unknown); /proc/self is the main thread's.
func threadMountNS() uint64 {
	var st unix.Stat_t
	if err := unix.Stat("/proc/thread-self/ns/mnt", &st); err != nil {
		return 0
	}
	return st.Ino
}

// mapAllIDs maps every uid and gid of pid's user namespace to the same id
// outside (setgroups stays allowed: the helper clears a step's groups).
func mapAllIDs(pid int) error {
	for _, name := range []string{"uid_map", "gid_map"} {
		path := "/proc/" + strconv.Itoa(pid) + "/" + name
		f, err := os.OpenFile(path, os.O_WRONLY, 0)
		if err != nil {
			return fmt.Errorf("map the engine's ids: %w", err)
		}
		_, err = f.Write([]byte(engineIDMap))
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return fmt.Errorf("map the engine's ids: %s: %w", path, err)
		}
	}
	return nil
}

// awaitEngineIDs is the first exec of the engine in its namespaces: it
// waits until its parent has mapped its ids, then executes itself again,
// as uid 0 of its user namespace, with that namespace's capabilities. A
// failure goes to the status pipe, where the parent reads it.
func awaitEngineIDs() {
	_, _ = unix.FcntlInt(engineStatusFD, unix.F_SETFD, unix.FD_CLOEXEC)
	fail := func(err error) {
		_, _ = unix.Write(engineStatusFD, []byte(err.Error()))
		os.Exit(helperExit)
	}
	var got []byte
	buf := make([]byte, 16)
	for {
		n, err := unix.Read(engineGoFD, buf)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if n <= 0 || err != nil {
			break
		}
		got = append(got, buf[:n]...)
	}
	unix.Close(engineGoFD)
	if string(got) != "go" {
		fail(errors.New("the engine's user namespace was not set up (its parent gave up)"))
	}
	os.Setenv(engineViewEnv, engineViewEntered+":"+strconv.Itoa(os.Getppid()))
	err := syscall.Exec("/proc/self/exe", os.Args, os.Environ())
	fail(fmt.Errorf("execute the engine again in its user namespace: %w", err))
}

// checkEngineView checks, in the engine, that it runs where
// EnterEngineView put it: as uid 0 of a user namespace that maps every id
// and is not the host's, with a read-only root. (The mark is an
// environment variable: it alone proves nothing.)
func checkEngineView() error {
	if os.Geteuid() != 0 {
		return fmt.Errorf("runs as uid %d, not 0, in its user namespace", os.Geteuid())
	}
	b, err := os.ReadFile("/proc/self/uid_map")
	if err != nil {
		return err
	}
	if strings.Join(strings.Fields(string(b)), " ")+"\n" != engineIDMap {
		return fmt.Errorf("its uid map is %q, want %q", strings.TrimSpace(string(b)), strings.TrimSpace(engineIDMap))
	}
	// Not the user namespace of the PID namespace's first process (the
	// host's init, which the engine may not even look at from its own).
	var self, init unix.Stat_t
	if err := unix.Stat("/proc/self/ns/user", &self); err != nil {
		return err
	}
	if err := unix.Stat("/proc/1/ns/user", &init); err == nil && init.Ino == self.Ino && init.Dev == self.Dev {
		return errors.New("not in a user namespace of its own")
	}
	var st unix.Statfs_t
	if err := unix.Statfs("/", &st); err != nil {
		return err
	}
	if int64(st.Flags)&unix.MS_RDONLY == 0 {
		return errors.New("its root is writable: not the view")
	}
	return nil
}
