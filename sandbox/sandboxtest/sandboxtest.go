package sandboxtest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/autobuild/autobuild/internal/testutil"
	"github.com/autobuild/autobuild/sandbox"
)

// Main is the TestMain of a package whose tests start confined steps
// through the test binary itself. A re-executed copy of the binary is the
// sandbox helper (or, through modes, another hidden mode of autobuild,
// such as the checkout step) and never returns from here; otherwise Main
// sets *helper to a copy every build uid can execute, runs the tests and
// exits.
func Main(m *testing.M, helper *string, modes ...func()) {
	sandbox.RunHelperIfRequested()
	for _, mode := range modes {
		mode()
	}
	path, cleanup, err := HelperBinary()
	if err != nil {
		fmt.Fprintln(os.Stderr, "copy the test binary for the sandbox helper:", err)
		os.Exit(2)
	}
	*helper = path
	code := m.Run()
	cleanup()
	os.Exit(code)
}

// HelperBinary copies the running test binary into a fresh folder every
// uid may traverse, so a Runner can re-execute it as the helper after
// dropping to a build uid. (go test keeps its binary in a folder private
// to root.) TestMain calls it after sandbox.RunHelperIfRequested; cleanup
// removes the copy.
func HelperBinary() (path string, cleanup func(), err error) {
	self, err := os.Executable()
	if err != nil {
		return "", nil, err
	}
	dir, err := os.MkdirTemp("", "autobuild-helper-")
	if err != nil {
		return "", nil, err
	}
	cleanup = func() { os.RemoveAll(dir) }
	if err := os.Chmod(dir, 0o755); err != nil {
		cleanup()
		return "", nil, err
	}
	path = filepath.Join(dir, filepath.Base(self))
	in, err := os.Open(self)
	if err != nil {
		cleanup()
		return "", nil, err
	}
	defer in.Close()
	out, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o755)
	if err != nil {
		cleanup()
		return "", nil, err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		cleanup()
		return "", nil, err
	}
	if err := out.Close(); err != nil {
		cleanup()
		return "", nil, err
	}
	return path, cleanup, nil
}

// env is the base environment of every step: no variable of the test
// process leaks in, so "exactly Env" is checkable.
func env(extra ...string) []string {
	return append([]string{"PATH=/usr/local/bin:/usr/bin:/bin", "LC_ALL=C"}, extra...)
}

// buildIDs are the uid and gid a confined step runs as: a module uid of
// its own when the test runs as root, the test's own ids otherwise.
func buildIDs() (uid, gid int) {
	if os.Geteuid() != 0 {
		return -1, -1
	}
	id := sandbox.BuildUID("sandboxtest")
	return id, id
}

// unconfined is the explicit opt-out level: the control of every attack.
func unconfined() sandbox.Profile {
	return sandbox.Profile{Level: "unconfined", Confined: false, Network: sandbox.NetOutgoing, UID: -1, GID: -1}
}

// isolated is the default trust level, allowed to write only write.
func isolated(write string) sandbox.Profile {
	uid, gid := buildIDs()
	return sandbox.Profile{
		Level: "isolated", Confined: true, Network: sandbox.NetNone,
		Write: []string{write}, Read: []string{},
		UID: uid, GID: gid,
		Limits: sandbox.Builtin()["isolated"].Limits,
	}
}

// requireHost skips (or, with AUTOBUILD_TEST_DISALLOW_SKIP, fails) when
// this host cannot enforce p.
func requireHost(t *testing.T, p sandbox.Profile) {
	t.Helper()
	if _, missing := sandbox.ProbeHost().Check(p); len(missing) > 0 {
		testutil.Skip(t, fmt.Sprintf("host cannot enforce the %s level: lacks %s", p.Level, strings.Join(missing, ", ")))
	}
}

// writeDir returns a fresh folder the step may write: owned by the build
// uid when the test is root, inside a folder every uid may traverse.
func writeDir(t *testing.T) string {
	t.Helper()
	d := filepath.Join(testutil.Dir(t), "w")
	if err := os.Mkdir(d, 0o755); err != nil {
		t.Fatal(err)
	}
	if uid, gid := buildIDs(); uid >= 0 {
		if err := os.Chown(d, uid, gid); err != nil {
			t.Fatal(err)
		}
	}
	return d
}

// profileCase is one profile the generic checks run under.
type profileCase struct {
	name string
	make func(write string) sandbox.Profile
}

var profiles = []profileCase{
	{"unconfined", func(string) sandbox.Profile { return unconfined() }},
	{"isolated", isolated},
}

// output is how a step ended and what it wrote.
type output struct {
	res            sandbox.Result
	err            error
	stdout, stderr string
}

// run runs step, capturing its output.
func run(ctx context.Context, r sandbox.Runner, step sandbox.Step) output {
	var o, e bytes.Buffer
	step.Stdout, step.Stderr = &o, &e
	res, err := r.Run(ctx, &step)
	return output{res: res, err: err, stdout: o.String(), stderr: e.String()}
}

// sh is the command that runs script with /bin/sh.
func sh(script string) []string { return []string{"/bin/sh", "-c", script} }

func (o output) String() string {
	return fmt.Sprintf("exit %d, timed out %v, err %v, stdout %q, stderr %q", o.res.ExitCode, o.res.TimedOut, o.err, o.stdout, o.stderr)
}

// Run runs the conformance suite against r.
func Run(t *testing.T, r sandbox.Runner) {
	t.Run("ExitCodeAndOutput", func(t *testing.T) { t.Parallel(); testExitCodeAndOutput(t, r) })
	t.Run("DirAndEnv", func(t *testing.T) { t.Parallel(); testDirAndEnv(t, r) })
	t.Run("CommandFromEnvPATH", func(t *testing.T) { t.Parallel(); testPATH(t, r) })
	t.Run("CommandNotFound", func(t *testing.T) { t.Parallel(); testNotFound(t, r) })
	t.Run("Timeout", func(t *testing.T) { t.Parallel(); testTimeout(t, r) })
	t.Run("CancelIsNotATimeout", func(t *testing.T) { t.Parallel(); testCancel(t, r) })
	t.Run("LeftoverProcessesDie", func(t *testing.T) { t.Parallel(); testLeftovers(t, r) })
	t.Run("LeftoverHoldingOutput", func(t *testing.T) { t.Parallel(); testOutputHolder(t, r) })
	t.Run("Confinement", func(t *testing.T) { t.Parallel(); testConfinement(t, r) })
	t.Run("OutputLimit", func(t *testing.T) { t.Parallel(); testOutputLimit(t, r) })
	t.Run("MergedFolder", func(t *testing.T) { t.Parallel(); testMerge(t, r) })
	t.Run("MergedFolderAttacks", func(t *testing.T) { t.Parallel(); testMergeAttacks(t, r) })
}

// truncated is the line a limited output's writer gets in place of what
// was discarded.
var truncated = regexp.MustCompile(`autobuild: log truncated: output beyond the log limit of 256 KiB discarded \((\d+) bytes\); the end of the output follows\n`)

// testOutputLimit: output beyond Step.OutputLimit is discarded, save its
// end, and the writer is told how much; the step runs on and succeeds. A
// log file (opened for appending, as the engine opens a module's log)
// that already holds a line keeps it. Confined, the step's file size limit
// is below its output: the output must not meet it.
func testOutputLimit(t *testing.T, r sandbox.Runner) {
	const limit = 256 << 10
	const lines = 300000 // 2.0 MB
	var want bytes.Buffer
	for i := 1; i <= lines; i++ {
		fmt.Fprintf(&want, "%d\n", i)
	}
	forEachProfile(t, func(t *testing.T, w string, prof sandbox.Profile) {
		if prof.Confined {
			prof.Limits.FileSize = limit / 2
		}
		logPath := filepath.Join(testutil.Dir(t), "log")
		if err := os.WriteFile(logPath, []byte("before\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		log, err := os.OpenFile(logPath, os.O_WRONLY|os.O_APPEND, 0)
		if err != nil {
			t.Fatal(err)
		}
		defer log.Close()
		var other bytes.Buffer
		res, err := r.Run(context.Background(), &sandbox.Step{
			Args: sh(fmt.Sprintf("seq 1 %d; echo apart >&2", lines)), Dir: w, Env: env(), Timeout: 60 * time.Second,
			Profile: prof, Stdout: log, Stderr: &other, OutputLimit: limit,
		})
		if err != nil || res.ExitCode != 0 {
			t.Fatalf("Run: %+v, %v", res, err)
		}
		b, err := os.ReadFile(logPath)
		if err != nil {
			t.Fatal(err)
		}
		got, ok := bytes.CutPrefix(b, []byte("before\n"))
		if !ok {
			t.Fatalf("the log lost what it held: %.40q", b)
		}
		loc := truncated.FindSubmatchIndex(got)
		if loc == nil {
			t.Fatalf("no truncation line in the log (%d bytes)", len(got))
		}
		said, _ := strconv.ParseInt(string(got[loc[2]:loc[3]]), 10, 64)
		head, tail := got[:loc[0]], got[loc[1]:]
		if !bytes.HasPrefix(want.Bytes(), head) {
			head = bytes.TrimSuffix(head, []byte("\n")) // the line's own start
		}
		if len(head)+len(tail) > limit || !bytes.HasPrefix(want.Bytes(), head) || !bytes.HasSuffix(want.Bytes(), tail) || len(tail) == 0 {
			t.Errorf("the log keeps %d + %d bytes: not the output's start and end within %d", len(head), len(tail), limit)
		}
		if dropped := int64(want.Len() - len(head) - len(tail)); said != dropped || res.OutputDiscarded != dropped {
			t.Errorf("the log says %d bytes were discarded, the Result %d; %d were", said, res.OutputDiscarded, dropped)
		}
		if other.String() != "apart\n" {
			t.Errorf("the other writer got %q, want its own output in full", other.String())
		}
	})
}

func testExitCodeAndOutput(t *testing.T, r sandbox.Runner) {
	tests := []struct {
		name           string
		script         string
		code           int
		stdout, stderr string
	}{
		{"success", "echo hello", 0, "hello\n", ""},
		{"failure with output on both streams", "echo out; echo err >&2; exit 3", 3, "out\n", "err\n"},
		{"exit 255", "exit 255", 255, "", ""},
		// Exec's helper exits 125 when it gives up; a command's own 125 is
		// still just an exit code.
		{"exit 125", "exit 125", 125, "", ""},
		{"failing command", "false", 1, "", ""},
		{"large output", "head -c 1048576 /dev/zero | tr '\\0' x; echo; echo done >&2", 0, strings.Repeat("x", 1<<20) + "\n", "done\n"},
	}
	for _, p := range profiles {
		for _, tc := range tests {
			t.Run(p.name+"/"+tc.name, func(t *testing.T) {
				t.Parallel()
				w := writeDir(t)
				prof := p.make(w)
				if prof.Confined {
					requireHost(t, prof)
				}
				o := run(context.Background(), r, sandbox.Step{Args: sh(tc.script), Dir: w, Env: env(), Timeout: 20 * time.Second, Profile: prof})
				if o.err != nil {
					t.Fatalf("Run: %v", o.err)
				}
				if o.res.ExitCode != tc.code || o.stdout != tc.stdout || o.stderr != tc.stderr {
					t.Errorf("got %.300s\nwant exit %d, stdout %.100q, stderr %q", o, tc.code, tc.stdout, tc.stderr)
				}
				if o.res.TimedOut {
					t.Error("TimedOut set on a step that did not time out")
				}
				if o.res.Duration <= 0 {
					t.Errorf("Duration = %v", o.res.Duration)
				}
			})
		}
	}
}

func testDirAndEnv(t *testing.T, r sandbox.Runner) {
	forEachProfile(t, func(t *testing.T, w string, prof sandbox.Profile) {
		src := filepath.Join(w, "src", "module")
		if err := os.MkdirAll(src, 0o755); err != nil {
			t.Fatal(err)
		}
		if uid, gid := buildIDs(); uid >= 0 {
			os.Chown(filepath.Dir(src), uid, gid)
			os.Chown(src, uid, gid)
		}
		// A name the test process itself does not have, and a value with
		// spaces, '=' and a newline.
		want := env("HOME="+w, "AUTOBUILD_MODULE=demo", "WEIRD=a b=c\nd", "EMPTY=")
		o := run(context.Background(), r, sandbox.Step{Args: []string{"/usr/bin/env", "-0"}, Dir: src, Env: want, Timeout: 20 * time.Second, Profile: prof})
		if o.err != nil || o.res.ExitCode != 0 {
			t.Fatalf("env: %v", o)
		}
		got := strings.Split(strings.TrimSuffix(o.stdout, "\x00"), "\x00")
		if !slices.Equal(got, want) {
			t.Errorf("the step's environment is\n%q\nwant exactly\n%q", got, want)
		}

		o = run(context.Background(), r, sandbox.Step{Args: []string{"/bin/pwd", "-P"}, Dir: src, Env: env(), Timeout: 20 * time.Second, Profile: prof})
		real, _ := filepath.EvalSymlinks(src)
		if o.err != nil || o.res.ExitCode != 0 || strings.TrimSpace(o.stdout) != real {
			t.Errorf("pwd: %v, want %s", o, real)
		}
	})
}

func testPATH(t *testing.T, r sandbox.Runner) {
	forEachProfile(t, func(t *testing.T, w string, prof sandbox.Profile) {
		// Step.Args doc: Args[0] is looked up in PATH of Env (not in
		// the engine's PATH).
		bin := filepath.Join(w, "bin")
		if err := os.Mkdir(bin, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(bin, "autobuild-probe-tool"), []byte("#!/bin/sh\necho found \"$@\"\n"), 0o755); err != nil {
			t.Fatal(err)
		}
		o := run(context.Background(), r, sandbox.Step{Args: []string{"autobuild-probe-tool", "x"}, Dir: w,
			Env: []string{"PATH=" + bin + ":/usr/bin:/bin"}, Timeout: 20 * time.Second, Profile: prof})
		if o.err != nil || o.res.ExitCode != 0 || o.stdout != "found x\n" {
			if !prof.Confined {
			}
			t.Errorf("a command in the step's PATH: %v", o)
		}
	})
}

func testNotFound(t *testing.T, r sandbox.Runner) {
	forEachProfile(t, func(t *testing.T, w string, prof sandbox.Profile) {
		// Runner doc: a command that cannot be found or executed is a
		// *StepError of stage exec, not ErrUnsupported and not a Result.
		for _, name := range []string{"autobuild-no-such-command", filepath.Join(w, "no-such-command")} {
			o := run(context.Background(), r, sandbox.Step{Args: []string{name}, Dir: w, Env: env(), Timeout: 20 * time.Second, Profile: prof})
			var se *sandbox.StepError
			if !errors.As(o.err, &se) || se.Stage != sandbox.StageExec || errors.Is(o.err, sandbox.ErrUnsupported) {
				t.Errorf("%s: %v, want a *StepError of stage %q, not ErrUnsupported", name, o, sandbox.StageExec)
			}
		}
	})
}

// procs returns the pids of processes whose command line holds token.
// Zombies have an empty command line and do not count: they are dead.
func procs(token string) []int {
	ents, _ := os.ReadDir("/proc")
	var pids []int
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err == nil && bytes.Contains(b, []byte(token)) {
			pids = append(pids, pid)
		}
	}
	return pids
}

var tokenSeq atomic.Int64

// sleeper returns a sleep command whose argument is unique to this test
// process, so procs can find it (and nothing else) from outside any
// namespace.
func sleeper(t *testing.T) (cmd, token string) {
	arg := fmt.Sprintf("%d.%09d", 1000+tokenSeq.Add(1), os.Getpid())
	token = "sleep\x00" + arg
	t.Cleanup(func() {
		// If the runner failed to kill it, do not leave it behind.
		for _, pid := range procs(token) {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	})
	return "sleep " + arg, token
}

// gone waits until no process holds token, and reports the ones left.
func gone(token string, within time.Duration) []int {
	deadline := time.Now().Add(within)
	for {
		left := procs(token)
		if len(left) == 0 || time.Now().After(deadline) {
			return left
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func testTimeout(t *testing.T, r sandbox.Runner) {
	forEachProfile(t, func(t *testing.T, w string, prof sandbox.Profile) {
		child, childTok := sleeper(t)
		grandchild, grandTok := sleeper(t)
		// The grandchild keeps stdout open: if it survived, the runner
		// would also block on the output pipe.
		script := fmt.Sprintf("(%s; echo never) & echo started; %s; echo never", grandchild, child)
		var daemonTok string
		if prof.Confined {
			// A daemon in a session of its own escapes the process
			// group; a confined step's tree must die anyway.
			var daemon string
			daemon, daemonTok = sleeper(t)
			script = fmt.Sprintf("setsid %s >/dev/null 2>&1 < /dev/null & %s", daemon, script)
		}
		// Long enough for a confined start on a loaded machine to print
		// "started"; the script itself never ends before it.
		const timeout = 2 * time.Second
		start := time.Now()
		o := run(context.Background(), r, sandbox.Step{Args: sh(script), Dir: w, Env: env(), Timeout: timeout, Profile: prof})
		took := time.Since(start)
		if o.err != nil {
			t.Fatalf("Run: %v", o.err)
		}
		if !o.res.TimedOut {
			t.Errorf("TimedOut = false: %v", o)
		}
		if o.res.ExitCode == 0 {
			t.Errorf("a killed step has exit code 0")
		}
		if o.stdout != "started\n" {
			t.Errorf("stdout = %q, want the output before the kill and nothing after", o.stdout)
		}
		if took > timeout+5*time.Second {
			t.Errorf("Run took %v for a %v timeout", took, timeout)
		}
		for what, tok := range map[string]string{"step's child": childTok, "background grandchild": grandTok, "setsid daemon": daemonTok} {
			if tok == "" {
				continue
			}
			if left := gone(tok, 2*time.Second); len(left) > 0 {
				t.Errorf("the %s survived the timeout: pids %v", what, left)
			}
		}
	})
}

func testCancel(t *testing.T, r sandbox.Runner) {
	forEachProfile(t, func(t *testing.T, w string, prof sandbox.Profile) {
		cmd, tok := sleeper(t)
		ctx, cancel := context.WithCancelCause(context.Background())
		time.AfterFunc(300*time.Millisecond, func() { cancel(errors.New("run cancelled")) })
		o := run(ctx, r, sandbox.Step{Args: sh(cmd), Dir: w, Env: env(), Timeout: time.Minute, Profile: prof})
		if o.err != nil {
			t.Fatalf("Run: %v", o.err)
		}
		if o.res.TimedOut {
			t.Error("a cancelled step is reported as timed out")
		}
		if o.res.ExitCode == 0 {
			t.Error("a cancelled step has exit code 0")
		}
		if left := gone(tok, 2*time.Second); len(left) > 0 {
			t.Errorf("the step survived cancellation: pids %v", left)
		}
	})
}

func testLeftovers(t *testing.T, r sandbox.Runner) {
	forEachProfile(t, func(t *testing.T, w string, prof sandbox.Profile) {
		cmd, tok := sleeper(t)
		// The step exits at once, leaving a background process in its
		// process group (with output closed, so only a kill ends it).
		o := run(context.Background(), r, sandbox.Step{Args: sh(cmd + " >/dev/null 2>&1 </dev/null & echo bye"), Dir: w, Env: env(), Timeout: 20 * time.Second, Profile: prof})
		if o.err != nil || o.res.ExitCode != 0 || o.stdout != "bye\n" {
			t.Fatalf("step: %v", o)
		}
		if left := gone(tok, 2*time.Second); len(left) > 0 {
			t.Errorf("a background process outlived its step: pids %v", left)
		}
	})
}

func testOutputHolder(t *testing.T, r sandbox.Runner) {
	forEachProfile(t, func(t *testing.T, w string, prof sandbox.Profile) {
		cmd, tok := sleeper(t)
		// The step exits at once; its background process keeps the
		// output pipe open. Run must still return promptly.
		start := time.Now()
		o := run(context.Background(), r, sandbox.Step{Args: sh(cmd + " & echo bye"), Dir: w, Env: env(), Timeout: 20 * time.Second, Profile: prof})
		if took := time.Since(start); took > 2*time.Second {
			t.Errorf("Run took %v for a step that exited at once", took)
		}
		if o.err != nil || o.res.ExitCode != 0 || o.stdout != "bye\n" {
			t.Errorf("step: %v", o)
		}
		if left := gone(tok, 2*time.Second); len(left) > 0 {
			t.Errorf("a background process outlived its step: pids %v", left)
		}
	})
}

// attackEnv is what the confinement checks attack: things outside the
// step's Write and Read paths that plain file modes do not protect.
type attackEnv struct {
	write   string // the step's Write folder
	read    string // the step's Read folder: world-writable, holding a world-writable file
	outside string // a world-writable folder outside Write
	secret  string // a world-readable file outside Read
	port    int    // a TCP listener on 127.0.0.1
	conns   *atomic.Int32
	victim  int // a process of the step's own uid, outside the step
	// token is unique to this attack run: names of the test's own files
	// and processes carry it.
	token string
	// confined: the run is confined (for checks of what its file system
	// view must allow).
	confined bool
	// Set by an attack's setup: the argv[0] of a process the test started,
	// a world-writable named Unix socket the test listens on (and its
	// accept count), host paths the step must not see.
	marker  string
	sock    string
	accepts *atomic.Int32
	paths   []string
}

func newAttackEnv(t *testing.T) *attackEnv {
	t.Helper()
	a := &attackEnv{write: writeDir(t), conns: new(atomic.Int32), token: uniqueToken()}
	a.read = filepath.Join(testutil.Dir(t), "read")
	if err := os.Mkdir(a.read, 0o777); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(a.read, "file"), []byte("READABLE\n"), 0o666); err != nil {
		t.Fatal(err)
	}
	// Past the umask: file modes alone would let the step write both.
	if err := os.Chmod(a.read, 0o777); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(filepath.Join(a.read, "file"), 0o666); err != nil {
		t.Fatal(err)
	}
	a.outside = filepath.Join(testutil.Dir(t), "outside")
	if err := os.Mkdir(a.outside, 0o777); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(a.outside, 0o777); err != nil { // past the umask
		t.Fatal(err)
	}
	a.secret = filepath.Join(testutil.Dir(t), "secret")
	if err := os.WriteFile(a.secret, []byte("TOP-SECRET\n"), 0o644); err != nil {
		t.Fatal(err)
	}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	a.port = ln.Addr().(*net.TCPAddr).Port
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			a.conns.Add(1)
			c.Close()
		}
	}()

	// The victim runs as the step's uid, so file modes and uid checks
	// would let the step signal it: only the sandbox can keep it apart.
	victim := exec.Command("/bin/sleep", "60")
	if uid, gid := buildIDs(); uid >= 0 {
		victim.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}}
	}
	if err := victim.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { victim.Process.Kill(); victim.Wait() })
	a.victim = victim.Process.Pid
	return a
}

// attack is one thing a hostile build tries, with a check of its real
// effect: did it work?
type attack struct {
	name string
	// setup, when set, prepares what this attack needs beyond
	// newAttackEnv's (it may skip the attack where the host lacks it).
	setup  func(t *testing.T, a *attackEnv)
	script func(a *attackEnv) string
	// worked inspects the side effects (and the step's output).
	worked func(t *testing.T, a *attackEnv, o output) bool
	// proof, when set, is what the control run must show instead of
	// worked: the real side effect, where worked also counts a mere sign.
	proof func(t *testing.T, a *attackEnv, o output) bool
	// allowed: the isolated level must allow it too (a sanity check that
	// confinement is not "deny everything").
	allowed bool
}

const bigFile = "big"

var attacks = []attack{
	{name: "write inside Write", allowed: true,
		script: func(a *attackEnv) string {
			return fmt.Sprintf("echo built > %s/out && mkdir %s/sub && echo ok > %s/sub/f", a.write, a.write, a.write)
		},
		worked: func(t *testing.T, a *attackEnv, o output) bool {
			b, err := os.ReadFile(filepath.Join(a.write, "sub", "f"))
			return err == nil && string(b) == "ok\n"
		}},
	{name: "read a system file", allowed: true,
		script: func(*attackEnv) string { return "cat /etc/passwd" },
		worked: func(t *testing.T, a *attackEnv, o output) bool { return strings.Contains(o.stdout, "root:") }},
	{name: "write outside Write",
		script: func(a *attackEnv) string {
			return fmt.Sprintf("echo pwned > %s/pwned; touch %s/marker", a.outside, a.outside)
		},
		worked: func(t *testing.T, a *attackEnv, o output) bool {
			_, err1 := os.Stat(filepath.Join(a.outside, "pwned"))
			_, err2 := os.Stat(filepath.Join(a.outside, "marker"))
			return err1 == nil || err2 == nil
		}},
	{name: "read outside Read",
		script: func(a *attackEnv) string { return fmt.Sprintf("cat %s; ls %s", a.secret, filepath.Dir(a.secret)) },
		worked: func(t *testing.T, a *attackEnv, o output) bool {
			return strings.Contains(o.stdout, "TOP-SECRET") || strings.Contains(o.stdout, "secret")
		}},
	{name: "TCP connect to the host's loopback",
		script: func(a *attackEnv) string {
			return fmt.Sprintf("exec bash -c 'echo hello > /dev/tcp/127.0.0.1/%d && echo connected'", a.port)
		},
		worked: func(t *testing.T, a *attackEnv, o output) bool {
			// Accept may lag the step's exit a little.
			for i := 0; i < 20 && a.conns.Load() == 0 && strings.Contains(o.stdout, "connected"); i++ {
				time.Sleep(10 * time.Millisecond)
			}
			return a.conns.Load() > 0 || strings.Contains(o.stdout, "connected")
		}},
	{name: "see and signal a process outside the step",
		script: func(a *attackEnv) string {
			return fmt.Sprintf("kill -0 %d && echo victim-seen; kill -0 %d && echo engine-seen", a.victim, os.Getpid())
		},
		worked: func(t *testing.T, a *attackEnv, o output) bool {
			if os.Geteuid() == 0 && strings.Contains(o.stdout, "engine-seen") {
				return true
			}
			return strings.Contains(o.stdout, "victim-seen")
		}},
	{name: "write a file beyond RLIMIT_FSIZE",
		script: func(a *attackEnv) string {
			// Sparse: one byte just past the isolated level's limit.
			seek := sandbox.Builtin()["isolated"].Limits.FileSize
			return fmt.Sprintf("dd if=/dev/zero of=%s/%s bs=1 count=1 seek=%d", a.write, bigFile, seek)
		},
		worked: func(t *testing.T, a *attackEnv, o output) bool {
			info, err := os.Stat(filepath.Join(a.write, bigFile))
			return err == nil && info.Size() > sandbox.Builtin()["isolated"].Limits.FileSize
		}},
	// What only the step's own file system view keeps from it.
	{name: "list the host's processes",
		setup: func(t *testing.T, a *attackEnv) { a.marker = markerProcess(t, a.token) },
		script: func(a *attackEnv) string {
			// Only what the check needs is printed: other processes'
			// command lines are theirs. (The pattern does not match the
			// step's own command line, which holds it.)
			pattern := strings.Replace(a.marker, "marker", "marke[r]", 1)
			return fmt.Sprintf(`n=0; for f in /proc/[0-9]*/cmdline; do n=$((n+1)); tr '\0' ' ' < "$f" | grep -q -- '%s' && echo seen-marker; done
echo "processes $n"; echo "init $(tr '\0' ' ' < /proc/1/cmdline | cut -d' ' -f1-2)"`, pattern)
		},
		worked: func(t *testing.T, a *attackEnv, o output) bool {
			// Only the step's own, when confined: its first process (pid
			// 1) is the step's shell, and there are a handful at most.
			var n int
			fmt.Sscanf(o.stdout[strings.Index(o.stdout, "processes ")+len("processes "):], "%d", &n)
			if a.confined && (!strings.Contains(o.stdout, "init /bin/sh -c") || n > 5) {
				t.Errorf("the step's /proc lists more than the step's own processes: %v", o)
			}
			return strings.Contains(o.stdout, "seen-marker")
		}},
	{name: "connect to a named Unix socket in a host folder",
		setup: func(t *testing.T, a *attackEnv) {
			dir := filepath.Join(testutil.Dir(t), "sockets")
			a.sock, a.accepts = unixListener(t, dir)
		},
		script: func(a *attackEnv) string { return unixConnect(a.sock) },
		worked: func(t *testing.T, a *attackEnv, o output) bool { return unixWorked(a, o) },
		proof:  func(t *testing.T, a *attackEnv, o output) bool { return unixWorked(a, o) && a.accepts.Load() > 0 }},
	{name: "connect to a named Unix socket under /run",
		setup: func(t *testing.T, a *attackEnv) {
			if st, err := os.Stat("/run"); err != nil || !st.IsDir() {
				testutil.Skip(t, "this host has no /run")
			}
			a.sock, a.accepts = unixListener(t, "/run/autobuild-test-"+a.token)
		},
		script: func(a *attackEnv) string { return unixConnect(a.sock) },
		worked: func(t *testing.T, a *attackEnv, o output) bool { return unixWorked(a, o) },
		proof:  func(t *testing.T, a *attackEnv, o output) bool { return unixWorked(a, o) && a.accepts.Load() > 0 }},
	{name: "connect to an abstract Unix socket of the host",
		setup: func(t *testing.T, a *attackEnv) {
			a.sock, a.accepts = abstractListener(t, "autobuild-test-"+a.token)
		},
		script: func(a *attackEnv) string { return abstractConnect(a.sock) },
		worked: func(t *testing.T, a *attackEnv, o output) bool { return unixWorked(a, o) },
		proof:  func(t *testing.T, a *attackEnv, o output) bool { return unixWorked(a, o) && a.accepts.Load() > 0 }},
	{name: "read a file beside the Write folder by exact path",
		setup: func(t *testing.T, a *attackEnv) {
			f := filepath.Join(filepath.Dir(a.write), "sibling")
			if err := os.WriteFile(f, []byte("SIBLING-SECRET\n"), 0o644); err != nil {
				t.Fatal(err)
			}
		},
		script: func(a *attackEnv) string { return "cat " + filepath.Join(filepath.Dir(a.write), "sibling") },
		worked: func(t *testing.T, a *attackEnv, o output) bool { return strings.Contains(o.stdout, "SIBLING-SECRET") }},
	{name: "see the host's other folders",
		setup: func(t *testing.T, a *attackEnv) {
			for _, d := range []string{"/home", "/root", "/run", "/var", "/srv", "/mnt", "/media", filepath.Dir(a.secret), filepath.Dir(a.outside)} {
				if _, err := os.Stat(d); err == nil {
					a.paths = append(a.paths, d)
				}
			}
		},
		script: func(a *attackEnv) string {
			return fmt.Sprintf("for d in %s; do test -e \"$d\" && echo \"present $d\"; done; true", strings.Join(a.paths, " "))
		},
		worked: func(t *testing.T, a *attackEnv, o output) bool { return strings.Contains(o.stdout, "present") }},
	{name: "read the Read folder", allowed: true,
		script: func(a *attackEnv) string { return "cat " + filepath.Join(a.read, "file") },
		worked: func(t *testing.T, a *attackEnv, o output) bool { return strings.Contains(o.stdout, "READABLE") }},
	{name: "write into the Read folder",
		script: func(a *attackEnv) string {
			// The mount's options show the view's read-only bind: a second
			// layer under Landlock's rule.
			return fmt.Sprintf(`echo pwned > %[1]s/file; touch %[1]s/new; awk -v d=%[1]s '$5 == d { print "mount:" $6 }' /proc/self/mountinfo`, a.read)
		},
		worked: func(t *testing.T, a *attackEnv, o output) bool {
			if a.confined && !strings.Contains(o.stdout, "mount:ro,") {
				t.Errorf("the Read folder is not a read-only mount in the step's view: %v", o)
			}
			b, _ := os.ReadFile(filepath.Join(a.read, "file"))
			_, err := os.Stat(filepath.Join(a.read, "new"))
			return string(b) != "READABLE\n" || err == nil
		}},
	{name: "see a file in the host's /tmp",
		setup: func(t *testing.T, a *attackEnv) {
			f := "/tmp/autobuild-hostfile-" + a.token
			if err := os.WriteFile(f, []byte("HOST-TMP\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { os.Remove(f) })
		},
		script: func(a *attackEnv) string { return "cat /tmp/autobuild-hostfile-" + a.token },
		worked: func(t *testing.T, a *attackEnv, o output) bool { return strings.Contains(o.stdout, "HOST-TMP") }},
	{name: "leave a file in the host's /tmp",
		setup: func(t *testing.T, a *attackEnv) {
			t.Cleanup(func() { os.Remove("/tmp/autobuild-stepfile-" + a.token) })
		},
		script: func(a *attackEnv) string {
			return fmt.Sprintf("echo from-step > /tmp/autobuild-stepfile-%[1]s && cat /tmp/autobuild-stepfile-%[1]s && echo wrote", a.token)
		},
		worked: func(t *testing.T, a *attackEnv, o output) bool {
			if a.confined && !strings.Contains(o.stdout, "from-step\nwrote") {
				t.Errorf("the step's private /tmp is not writable: %v", o)
			}
			_, err := os.Stat("/tmp/autobuild-stepfile-" + a.token)
			return err == nil
		}},
	{name: "leave a file in the host's /dev/shm",
		setup: func(t *testing.T, a *attackEnv) {
			if st, err := os.Stat("/dev/shm"); err != nil || !st.IsDir() {
				testutil.Skip(t, "this host has no /dev/shm")
			}
			t.Cleanup(func() { os.Remove("/dev/shm/autobuild-test-" + a.token) })
		},
		script: func(a *attackEnv) string {
			return fmt.Sprintf("echo from-step > /dev/shm/autobuild-test-%[1]s && cat /dev/shm/autobuild-test-%[1]s && echo wrote", a.token)
		},
		worked: func(t *testing.T, a *attackEnv, o output) bool {
			if a.confined && !strings.Contains(o.stdout, "from-step\nwrote") {
				t.Errorf("the step's private /dev/shm is not writable: %v", o)
			}
			_, err := os.Stat("/dev/shm/autobuild-test-" + a.token)
			return err == nil
		}},
	{name: "see the host's devices",
		setup: func(t *testing.T, a *attackEnv) {
			a.paths = hostDevices()
			if len(a.paths) == 0 {
				testutil.Skip(t, "this host's /dev has no disk, /dev/mem, /dev/kmsg or console to look for")
			}
		},
		script: func(a *attackEnv) string {
			return fmt.Sprintf("for d in %s; do test -e \"$d\" && echo \"present $d\"; done; true", strings.Join(a.paths, " "))
		},
		worked: func(t *testing.T, a *attackEnv, o output) bool { return strings.Contains(o.stdout, "present") }},
	{name: "use /dev/null, /dev/zero and /dev/urandom", allowed: true,
		script: func(*attackEnv) string {
			return "echo x > /dev/null && head -c 16 /dev/urandom | wc -c && head -c 4 /dev/zero | wc -c"
		},
		worked: func(t *testing.T, a *attackEnv, o output) bool {
			return o.res.ExitCode == 0 && strings.Join(strings.Fields(o.stdout), " ") == "16 4"
		}},
}

// uniqueToken names what one attack run creates on the host: nothing
// else on the machine carries it.
func uniqueToken() string {
	return fmt.Sprintf("%d-%d-%d", os.Getpid(), time.Now().UnixNano(), tokenSeq.Add(1))
}

// markerProcess starts a sleep whose argv[0] is a marker only this test
// knows, and returns the marker.
func markerProcess(t *testing.T, token string) string {
	t.Helper()
	path, err := exec.LookPath("sleep")
	if err != nil {
		testutil.Skip(t, "no sleep command")
	}
	marker := "autobuild-marker-" + token
	cmd := &exec.Cmd{Path: path, Args: []string{marker, "60"}}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	return marker
}

// unixListener listens on a named Unix socket in a fresh folder dir (which
// it creates and removes), both world-writable, so that file modes would
// let any uid connect. It counts the connections.
func unixListener(t *testing.T, dir string) (string, *atomic.Int32) {
	t.Helper()
	if unixClient() == "" {
		testutil.Skip(t, "neither python3 nor perl to connect to a Unix socket with")
	}
	if err := os.Mkdir(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "sock")
	ln, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	if err := os.Chmod(path, 0o777); err != nil {
		t.Fatal(err)
	}
	accepts := new(atomic.Int32)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			accepts.Add(1)
			// Read to the client's end before closing: a close first
			// would fail its write.
			go func() {
				c.SetDeadline(time.Now().Add(5 * time.Second))
				io.Copy(io.Discard, c)
				c.Close()
			}()
		}
	}()
	return path, accepts
}

// abstractListener listens on the abstract Unix socket name (no file:
// file modes and folders do not apply; only the network namespace and
// Landlock's scoping stand in the way). It counts the connections.
func abstractListener(t *testing.T, name string) (string, *atomic.Int32) {
	t.Helper()
	if unixClient() == "" {
		testutil.Skip(t, "neither python3 nor perl to connect to a Unix socket with")
	}
	ln, err := net.Listen("unix", "@"+name)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	accepts := new(atomic.Int32)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			accepts.Add(1)
			c.Close()
		}
	}()
	return name, accepts
}

// abstractConnect is a script that connects to the abstract socket name
// and says so.
func abstractConnect(name string) string {
	if unixClient() == "/usr/bin/python3" {
		return fmt.Sprintf(`/usr/bin/python3 -c 'import socket, sys
s = socket.socket(socket.AF_UNIX); s.connect("\0" + sys.argv[1]); print("connected")' %s`, name)
	}
	return fmt.Sprintf(`/usr/bin/perl -MIO::Socket::UNIX -e 'IO::Socket::UNIX->new(Peer => "\0".$ARGV[0]) or die "connect: $!\n"; print "connected\n"' %s`, name)
}

// unixClient is the interpreter the step connects with: "" when the host
// has neither.
func unixClient() string {
	for _, c := range []string{"/usr/bin/python3", "/usr/bin/perl"} {
		if _, err := os.Stat(c); err == nil {
			return c
		}
	}
	return ""
}

// unixConnect is a script that says whether sock exists, then connects to
// it and says so.
func unixConnect(sock string) string {
	connect := `/usr/bin/perl -MIO::Socket::UNIX -e '$s = IO::Socket::UNIX->new(Peer => $ARGV[0]) or die "connect: $!\n"; print $s "hi\n"; print "connected\n"'`
	if unixClient() == "/usr/bin/python3" {
		connect = `/usr/bin/python3 -c 'import socket, sys
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); s.sendall(b"hi\n"); print("connected")'`
	}
	return fmt.Sprintf("test -e %[1]s && echo exists; %[2]s %[1]s", sock, connect)
}

// unixWorked: the socket was there, or reached (the listener may accept a
// moment after the step exits).
func unixWorked(a *attackEnv, o output) bool {
	for i := 0; i < 50 && a.accepts.Load() == 0 && strings.Contains(o.stdout, "connected"); i++ {
		time.Sleep(10 * time.Millisecond)
	}
	return a.accepts.Load() > 0 || strings.Contains(o.stdout, "connected") || strings.Contains(o.stdout, "exists")
}

// hostDevices lists device nodes of the host's /dev a build has no use
// for: disks (block devices), memory, the kernel log, the console.
func hostDevices() []string {
	var out []string
	ents, _ := os.ReadDir("/dev")
	for _, e := range ents {
		p := filepath.Join("/dev", e.Name())
		info, err := os.Lstat(p)
		if err != nil {
			continue
		}
		block := info.Mode()&os.ModeDevice != 0 && info.Mode()&os.ModeCharDevice == 0
		switch {
		case block, e.Name() == "mem", e.Name() == "kmem", e.Name() == "port", e.Name() == "kmsg", e.Name() == "console":
			out = append(out, p)
		}
	}
	return out
}

func testConfinement(t *testing.T, r sandbox.Runner) {
	if _, err := exec.LookPath("bash"); err != nil {
		testutil.Skip(t, "the TCP check needs bash (for /dev/tcp)")
	}
	for _, at := range attacks {
		for _, p := range profiles {
			t.Run(at.name+"/"+p.name, func(t *testing.T) {
				t.Parallel()
				a := newAttackEnv(t)
				prof := p.make(a.write)
				if prof.Confined {
					requireHost(t, prof)
					prof.Read = append(prof.Read, a.read)
				}
				a.confined = prof.Confined
				if at.setup != nil {
					at.setup(t, a)
				}
				o := run(context.Background(), r, sandbox.Step{Args: sh(at.script(a)), Dir: a.write, Env: env("HOME="+a.write, "TMPDIR="+a.write), Timeout: 20 * time.Second, Profile: prof})
				if o.err != nil {
					t.Fatalf("Run: %v", o.err)
				}
				worked := at.worked(t, a, o)
				proved := worked
				if at.proof != nil && !prof.Confined {
					proved = at.proof(t, a, o)
				}
				switch {
				case !prof.Confined && !proved:
					t.Errorf("control run (unconfined): the attack did not work, so the check proves nothing: %v", o)
				case prof.Confined && at.allowed && !worked:
					t.Errorf("the %s level denied something it must allow: %v", prof.Level, o)
				case prof.Confined && !at.allowed && worked:
					t.Errorf("the %s level did not stop it: %v", prof.Level, o)
					dumpLandlockAudit(t)
				}
			})
		}
	}
	t.Run("build uid without capabilities", func(t *testing.T) {
		t.Parallel()
		w := writeDir(t)
		prof := isolated(w)
		requireHost(t, prof)
		o := run(context.Background(), r, sandbox.Step{Args: sh("id -u; id -g; id -G; grep -E '^Cap(Eff|Prm|Amb):|^NoNewPrivs:' /proc/self/status"),
			Dir: w, Env: env(), Timeout: 20 * time.Second, Profile: prof})
		if o.err != nil || o.res.ExitCode != 0 {
			t.Fatalf("id: %v", o)
		}
		lines := strings.Split(strings.TrimSpace(o.stdout), "\n")
		if len(lines) < 7 {
			t.Fatalf("id: %v", o)
		}
		if prof.UID >= 0 {
			want := strconv.Itoa(prof.UID)
			if lines[0] != want || lines[1] != strconv.Itoa(prof.GID) || lines[2] != strconv.Itoa(prof.GID) {
				t.Errorf("uid, gid, groups = %q, want %s, %d, %d only", lines[:3], want, prof.GID, prof.GID)
			}
		}
		for _, l := range lines[3:] {
			f := strings.Fields(l)
			switch {
			case f[0] == "NoNewPrivs:" && f[1] != "1":
				t.Errorf("no_new_privs is not set: %s", l)
			case strings.HasPrefix(f[0], "Cap") && strings.Trim(f[1], "0") != "":
				t.Errorf("the step has capabilities: %s", l)
			}
		}
	})
	t.Run("own network namespace", func(t *testing.T) {
		t.Parallel()
		w := writeDir(t)
		prof := isolated(w)
		requireHost(t, prof)
		mine, err := os.Readlink("/proc/self/ns/net")
		if err != nil {
			t.Fatal(err)
		}
		o := run(context.Background(), r, sandbox.Step{Args: []string{"/usr/bin/readlink", "/proc/self/ns/net"}, Dir: w, Env: env(), Timeout: 20 * time.Second, Profile: prof})
		if o.err != nil || o.res.ExitCode != 0 {
			t.Fatalf("readlink /proc/self/ns/net: %v", o)
		}
		if strings.TrimSpace(o.stdout) == mine {
			t.Errorf("the %s level shares the test's network namespace %s", prof.Level, mine)
		}
	})
	t.Run("own PID namespace", func(t *testing.T) {
		t.Parallel()
		w := writeDir(t)
		prof := isolated(w)
		requireHost(t, prof)
		// The namespace's identity: the step's /proc is its own, so the
		// depth of NSpid says nothing there.
		mine, err := os.Readlink("/proc/self/ns/pid")
		if err != nil {
			t.Fatal(err)
		}
		o := run(context.Background(), r, sandbox.Step{Args: []string{"/usr/bin/readlink", "/proc/self/ns/pid"}, Dir: w, Env: env(), Timeout: 20 * time.Second, Profile: prof})
		if o.err != nil || o.res.ExitCode != 0 {
			t.Fatalf("readlink /proc/self/ns/pid: %v", o)
		}
		if got := strings.TrimSpace(o.stdout); got == mine || !strings.HasPrefix(got, "pid:[") {
			t.Errorf("the step's PID namespace is %q, the test's %s: not a namespace of its own", got, mine)
		}
	})
	t.Run("Write path through a symlink", func(t *testing.T) { testSymlinkedWrite(t, r) })
	t.Run("Hide", func(t *testing.T) { testHide(t, r) })
}

// testHide: Profile.Hide takes a folder and a file out of a folder the
// step reads (as the engine's build root and configuration under /etc),
// while the step's Write folder inside the hidden one is still there.
func testHide(t *testing.T, r sandbox.Runner) {
	forEachProfile(t, func(t *testing.T, _ string, prof sandbox.Profile) {
		base := testutil.Dir(t) // read by the step
		root := filepath.Join(base, "build")
		w := filepath.Join(root, "w")
		for _, d := range []string{filepath.Join(root, "state"), w} {
			if err := os.MkdirAll(d, 0o755); err != nil {
				t.Fatal(err)
			}
		}
		if uid, gid := buildIDs(); uid >= 0 && prof.Confined {
			if err := os.Chown(w, uid, gid); err != nil {
				t.Fatal(err)
			}
		}
		files := map[string]string{"public": "PUBLIC\n", "conf.yaml": "CONFIG-SECRET\n", "build/state/modules.json": "STATE-SECRET\n"}
		for name, body := range files {
			if err := os.WriteFile(filepath.Join(base, name), []byte(body), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		if prof.Confined {
			prof.Write = []string{w}
			prof.Read = append(prof.Read, base)
			prof.Hide = []string{root, filepath.Join(base, "conf.yaml")}
		}
		o := run(context.Background(), r, sandbox.Step{Args: sh(fmt.Sprintf(
			`cat %[1]s/public %[1]s/conf.yaml %[1]s/build/state/modules.json; ls %[2]s; echo built > %[3]s/out && echo wrote`, base, root, w)),
			Dir: w, Env: env(), Timeout: 20 * time.Second, Profile: prof})
		if o.err != nil {
			t.Fatalf("Run: %v", o.err)
		}
		if !strings.Contains(o.stdout, "PUBLIC") || !strings.Contains(o.stdout, "wrote") {
			t.Errorf("the step could not read beside the hidden paths, or write its folder inside them: %v", o)
		}
		if b, _ := os.ReadFile(filepath.Join(w, "out")); string(b) != "built\n" {
			t.Errorf("the step's file is not on the host: %q", b)
		}
		leaked := strings.Contains(o.stdout, "CONFIG-SECRET") || strings.Contains(o.stdout, "STATE-SECRET") || strings.Contains(o.stdout, "state")
		switch {
		case !prof.Confined && !leaked:
			t.Errorf("control run (unconfined): the hidden files were not readable, so the check proves nothing: %v", o)
		case prof.Confined && leaked:
			t.Errorf("the %s level shows what Hide names: %v", prof.Level, o)
		}
	})
}

// testSymlinkedWrite: a Write path named through a symlink (as a build
// root under a symlinked home would be) is the same folder in the step as
// on the host, under the same name.
func testSymlinkedWrite(t *testing.T, r sandbox.Runner) {
	t.Parallel()
	base := testutil.Dir(t)
	real := filepath.Join(base, "real")
	if err := os.Mkdir(real, 0o755); err != nil {
		t.Fatal(err)
	}
	if uid, gid := buildIDs(); uid >= 0 {
		if err := os.Chown(real, uid, gid); err != nil {
			t.Fatal(err)
		}
	}
	link := filepath.Join(base, "link")
	if err := os.Symlink("real", link); err != nil {
		t.Fatal(err)
	}
	prof := isolated(link)
	requireHost(t, prof)
	o := run(context.Background(), r, sandbox.Step{Args: sh(`echo via-link > "$W/f" && readlink "$W" && pwd -P`), Dir: link,
		Env: env("W=" + link), Timeout: 20 * time.Second, Profile: prof})
	if o.err != nil || o.res.ExitCode != 0 {
		t.Fatalf("step: %v", o)
	}
	resolved, _ := filepath.EvalSymlinks(real)
	if got := strings.Fields(o.stdout); len(got) != 2 || got[0] != "real" || got[1] != resolved {
		t.Errorf("in the step, readlink %s and pwd -P print %q; want real and %s", link, got, resolved)
	}
	if b, err := os.ReadFile(filepath.Join(real, "f")); err != nil || string(b) != "via-link\n" {
		t.Errorf("the file written through the symlink is not on the host: %q, %v", b, err)
	}
}

// dumpLandlockAudit logs recent Landlock audit records (ABI 7 logs denials
// through the audit subsystem), to show what was or was not denied.
func dumpLandlockAudit(t *testing.T) {
	out, err := exec.Command("dmesg").CombinedOutput()
	if err != nil {
		return
	}
	var lines []string
	for _, l := range strings.Split(string(out), "\n") {
		if strings.Contains(strings.ToLower(l), "landlock") {
			lines = append(lines, l)
		}
	}
	if len(lines) > 20 {
		lines = lines[len(lines)-20:]
	}
	t.Logf("Landlock audit records:\n%s", strings.Join(lines, "\n"))
}

// Unsupported checks a runner that lacks a mechanism the isolated level
// needs: Run must refuse with sandbox.ErrUnsupported without starting the
// step, and with AllowWeaker it runs and reports what it lacked.
func Unsupported(t *testing.T, r sandbox.Runner) {
	w := writeDir(t)
	marker := filepath.Join(w, "started")
	step := sandbox.Step{Args: sh("touch " + marker), Dir: w, Env: env(), Timeout: 20 * time.Second, Profile: isolated(w)}
	o := run(context.Background(), r, step)
	if !errors.Is(o.err, sandbox.ErrUnsupported) {
		t.Fatalf("Run = %v, want ErrUnsupported", o)
	}
	if _, err := os.Stat(marker); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the step ran although confinement was refused (%v)", err)
	}
	if o.res.ExitCode != 0 || o.res.Duration != 0 {
		t.Errorf("a refused step has a result: %+v", o.res)
	}

	step.Profile.AllowWeaker = true
	o = run(context.Background(), r, step)
	if o.err != nil || o.res.ExitCode != 0 {
		t.Fatalf("with AllowWeaker: %v", o)
	}
	if _, err := os.Stat(marker); err != nil {
		t.Errorf("with AllowWeaker the step did not run: %v", err)
	}
	if len(o.res.Missing) == 0 {
		t.Error("with AllowWeaker, Result.Missing does not say what was not enforced")
	}
}

// forEachProfile runs fn in parallel subtests, one per profile (unconfined
// and isolated), with a fresh writable folder w; confined profiles are
// skipped (or failed, when skips are disallowed) where the host lacks
// what they need.
func forEachProfile(t *testing.T, fn func(t *testing.T, w string, prof sandbox.Profile)) {
	for _, p := range profiles {
		t.Run(p.name, func(t *testing.T) {
			t.Parallel()
			w := writeDir(t)
			prof := p.make(w)
			if prof.Confined {
				requireHost(t, prof)
			}
			fn(t, w, prof)
		})
	}
}
