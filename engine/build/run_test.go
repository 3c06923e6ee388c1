package build

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/autobuild/autobuild/engine/executor"
	"github.com/autobuild/autobuild/internal/testutil"
	"github.com/autobuild/autobuild/sandbox"
	"github.com/autobuild/autobuild/sandbox/sandboxtest"
)

// helper is a copy of this test binary that confined steps re-execute in
// its sandbox helper mode.
var helper string

func TestMain(m *testing.M) { sandboxtest.Main(m, &helper) }

// fixture is one module's build on a real executor, in a build root of
// its own, with its log file opened as the engine opens it.
type fixture struct {
	req  Request
	ex   *executor.Local
	log  string
	says *bytes.Buffer
}

// newFixture prepares module app at the given built-in level (limits
// changed by limits) with the given dependencies, whose roots its
// profile may read. It skips when the host cannot enforce the level.
func newFixture(t *testing.T, level string, deps []Dep, limits func(*sandbox.Limits)) *fixture {
	t.Helper()
	root := filepath.Join(testutil.Dir(t), "build")
	h := sandbox.ProbeHost()
	ex := executor.NewLocal(&sandbox.Exec{Self: helper, Host: h}, h, helper, root)
	ws := ex.Workspace()
	if err := ws.Init(); err != nil {
		t.Fatal(err)
	}
	id := sandbox.AssignIDs([]string{"app"})["app"]
	lv := sandbox.Builtin()[level]
	p := sandbox.Profile{Level: level, Confined: lv.Confined, Network: lv.Network, Limits: lv.Limits, UID: -1, GID: -1}
	if lv.Confined && h.Root {
		p.UID, p.GID = id.UID, id.UID
	}
	if limits != nil {
		limits(&p.Limits)
	}
	for _, d := range deps {
		p.Read = append(p.Read, d.Root)
	}
	if _, missing := ex.Check(p); len(missing) > 0 {
		testutil.Skip(t, "host cannot enforce the "+level+" level: lacks "+strings.Join(missing, ", "))
	}
	l := ws.Layout()
	dirs := Dirs{Source: l.SourceDir("app"), Install: l.InstallDir("app"), Package: l.PackageDir("app"), Tmp: l.TmpDir("app")}
	if err := ws.PrepareDir(dirs.Source, id, true); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(l.LogDir(1), 0o755); err != nil {
		t.Fatal(err)
	}
	logPath := filepath.Join(l.LogDir(1), "app.log")
	log, err := os.OpenFile(logPath, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { log.Close() })
	f := &fixture{ex: ex, log: logPath, says: &bytes.Buffer{}}
	var mu sync.Mutex
	f.req = Request{
		Module: "app", ID: id, Dirs: dirs, Deps: deps, Counter: 1, Start: time.Now(), Revision: "abc",
		Timeout: 5 * time.Minute, Profile: p, Log: log,
		Say: func(format string, args ...any) {
			mu.Lock()
			defer mu.Unlock()
			fmt.Fprintf(f.says, format+"\n", args...)
		},
	}
	return f
}

func (f *fixture) run(t *testing.T, command string) (sandbox.Result, error) {
	t.Helper()
	f.req.Command = command
	return Run(context.Background(), f.ex, f.req)
}

func (f *fixture) logText(t *testing.T) []byte {
	t.Helper()
	b, err := os.ReadFile(f.log)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// A module with 600 dependencies whose names are long starts, and its
// script reaches every dependency's install root through the list in
// $AUTOBUILD_DEPS_FILE. The control shows the size matters: the joined
// roots alone, as one variable, make exec fail with E2BIG. Confined, the
// sandbox's instructions (which name every root) are over 128 KiB too.
func TestManyDependencies(t *testing.T) {
	const n = 600
	depDir := testutil.Dir(t)
	var deps []Dep
	var roots []string
	for i := range n {
		name := fmt.Sprintf("dependency-%03d-%s", i, strings.Repeat("long-name-", 18))
		root := filepath.Join(depDir, name)
		if err := os.Mkdir(root, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(root, "marker"), []byte(name), 0o644); err != nil {
			t.Fatal(err)
		}
		deps = append(deps, Dep{Name: name, Root: root})
		roots = append(roots, root)
	}
	control := exec.Command("/bin/true")
	control.Env = []string{"AUTOBUILD_DEP_ROOTS=" + strings.Join(roots, ":")}
	if err := control.Run(); !errors.Is(err, syscall.E2BIG) {
		t.Fatalf("control: an exec with the %d roots joined in one variable: %v, want E2BIG: the test proves nothing", n, err)
	}
	// Each line: the name, a tab, the root; the marker in the root holds
	// the name. The count goes to the package folder.
	script := `tab=$(printf '\t'); n=0
while IFS=$tab read -r name root; do
	[ "$(cat "$root/marker")" = "$name" ] || { echo "wrong root $root for $name"; exit 1; }
	n=$((n+1))
done < "$AUTOBUILD_DEPS_FILE"
echo "$n" > "$AUTOBUILD_PACKAGE_ROOT/count"`
	for _, level := range []string{"unconfined", "isolated"} {
		t.Run(level, func(t *testing.T) {
			f := newFixture(t, level, deps, nil)
			_, err := f.run(t, script)
			if err != nil {
				t.Fatalf("build: %v\nlog:\n%s\nsaid:\n%s", err, f.logText(t), f.says)
			}
			b, err := os.ReadFile(filepath.Join(f.req.Dirs.Package, "count"))
			if err != nil || strings.TrimSpace(string(b)) != strconv.Itoa(n) {
				t.Errorf("the script read %q dependencies (%v), want %d", b, err, n)
			}
			if !strings.Contains(f.says.String(), "AUTOBUILD_DEP_ROOTS and AUTOBUILD_DEP_<NAME>_ROOT are not set") {
				t.Errorf("the log does not say the variables were left out:\n%s", f.says)
			}
		})
	}
}

// A few dependencies keep their variables, as scripts have always used
// them, beside the list.
func TestFewDependencies(t *testing.T) {
	depDir := testutil.Dir(t)
	var deps []Dep
	for _, name := range []string{"lib-a", "lib.b"} {
		root := filepath.Join(depDir, name)
		if err := os.Mkdir(root, 0o755); err != nil {
			t.Fatal(err)
		}
		deps = append(deps, Dep{Name: name, Root: root})
	}
	f := newFixture(t, "isolated", deps, nil)
	_, err := f.run(t, `{ echo "$AUTOBUILD_DEP_LIB_A_ROOT"; echo "$AUTOBUILD_DEP_LIB_B_ROOT"; echo "$AUTOBUILD_DEP_ROOTS"; cat "$AUTOBUILD_DEPS_FILE"; } > "$AUTOBUILD_PACKAGE_ROOT/env"`)
	if err != nil {
		t.Fatalf("build: %v\n%s", err, f.logText(t))
	}
	b, _ := os.ReadFile(filepath.Join(f.req.Dirs.Package, "env"))
	a, bb := deps[0].Root, deps[1].Root
	want := a + "\n" + bb + "\n" + a + ":" + bb + "\n" + "lib-a\t" + a + "\nlib.b\t" + bb + "\n"
	if string(b) != want {
		t.Errorf("the build saw\n%s\nwant\n%s", b, want)
	}
}

// seqOutput is what seq 1 n prints.
func seqOutput(n int) []byte {
	var b bytes.Buffer
	for i := 1; i <= n; i++ {
		b.WriteString(strconv.Itoa(i))
		b.WriteByte('\n')
	}
	return b.Bytes()
}

var truncatedLine = regexp.MustCompile(`autobuild: log truncated: output beyond the log limit of 1 MiB discarded \((\d+) bytes\); the end of the output follows\n`)

// A build that writes far more than its log limit succeeds, and its log
// holds the first part of the output, the line that says how much was
// discarded, and the output's end, within the limit. Its output is also
// beyond its file size limit: the log does not meet it (the step would
// die of SIGXFSZ if it wrote the log itself; see the sandbox's tests).
func TestLogLimit(t *testing.T) {
	const limit = 1 << 20
	f := newFixture(t, "isolated", nil, func(l *sandbox.Limits) { l.FileSize = 4 << 20 })
	f.req.LogLimit = limit
	const lines = 2000000
	want := seqOutput(lines) // 14.9 MB
	res, err := f.run(t, fmt.Sprintf("seq 1 %d", lines))
	if err != nil || res.ExitCode != 0 {
		t.Fatalf("build: %+v %v", res, err)
	}
	log := f.logText(t)
	loc := truncatedLine.FindSubmatchIndex(log)
	if loc == nil {
		t.Fatalf("no truncation line in the log (%d bytes):\n%.300s", len(log), log)
	}
	said, _ := strconv.ParseInt(string(log[loc[2]:loc[3]]), 10, 64)
	head, tail := log[:loc[0]], log[loc[1]:]
	if !bytes.HasPrefix(want, head) {
		head = bytes.TrimSuffix(head, []byte("\n")) // the line's own start
	}
	if len(head)+len(tail) > limit {
		t.Errorf("the log keeps %d bytes of output, over the limit %d", len(head)+len(tail), limit)
	}
	if !bytes.HasPrefix(want, head) || len(head) < limit/2 {
		t.Errorf("the log's first %d bytes are not the output's first part", len(head))
	}
	if !bytes.HasSuffix(want, tail) || len(tail) == 0 || tail[0] == '\n' || !bytes.HasPrefix(tail, []byte(strconv.Itoa(lines-bytes.Count(tail, []byte("\n"))+1)+"\n")) {
		t.Errorf("the log's last %d bytes are not the output's end, from a line's start: %.40q", len(tail), tail)
	}
	if dropped := int64(len(want) - len(head) - len(tail)); said != dropped || res.OutputDiscarded != dropped {
		t.Errorf("the log says %d bytes were discarded, the result %d; %d were", said, res.OutputDiscarded, dropped)
	}
}

// peakRSS resets this process's peak resident set and returns a function
// that reads it (VmHWM), in bytes.
func peakRSS(t *testing.T) func() int64 {
	t.Helper()
	if err := os.WriteFile("/proc/self/clear_refs", []byte("5"), 0); err != nil {
		testutil.Skip(t, "cannot reset the peak RSS: "+err.Error())
	}
	return func() int64 {
		b, err := os.ReadFile("/proc/self/status")
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(l, "VmHWM:"); ok {
				kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
				return kb << 10
			}
		}
		t.Fatal("no VmHWM in /proc/self/status")
		return 0
	}
}

// The engine reads a step's output as a stream: 512 MiB of it leave its
// memory where it was.
func TestLogLimitMemory(t *testing.T) {
	f := newFixture(t, "unconfined", nil, nil)
	f.req.LogLimit = 1 << 20
	var before syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &before)
	peak := peakRSS(t)
	base := peak()
	start := time.Now()
	res, err := f.run(t, "head -c 536870912 /dev/zero")
	took := time.Since(start)
	if err != nil || res.ExitCode != 0 {
		t.Fatalf("build: %+v %v", res, err)
	}
	grew := peak() - base
	var after syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &after)
	cpu := time.Duration(after.Utime.Nano()+after.Stime.Nano()-before.Utime.Nano()-before.Stime.Nano()) * time.Nanosecond
	t.Logf("512 MiB of output: peak RSS %s (+%s), the engine's CPU %s, %s in all", sandbox.Size(base+grew), sandbox.Size(grew), cpu, took)
	if grew > 16<<20 {
		t.Errorf("the engine's peak RSS grew by %s while it read the output", sandbox.Size(grew))
	}
	if info, err := os.Stat(f.log); err != nil || info.Size() > 1<<20+200 {
		t.Errorf("log: %v, %d bytes", err, info.Size())
	}
}

// A build whose script writes a file beyond the file size limit fails
// with that limit named (the shell reports its command's SIGXFSZ as exit
// status 153), whether the writer is the script's only command or one of
// several. The control, with room enough, succeeds.
func TestFileSizeLimitNamed(t *testing.T) {
	write := `head -c 2097152 /dev/zero > big`
	for _, tc := range []struct {
		name, script string
		limit        int64
		fail         bool
	}{
		{"the script's only command", write, 1 << 20, true},
		{"a command of the script", "set -e; " + write + "; echo not reached", 1 << 20, true},
		{"control: within the limit", "set -e; " + write + "; echo done", 4 << 20, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, "isolated", nil, func(l *sandbox.Limits) { l.FileSize = tc.limit })
			_, err := f.run(t, tc.script)
			if !tc.fail {
				if err != nil {
					t.Fatalf("build: %v", err)
				}
				return
			}
			var be *Error
			if !errors.As(err, &be) {
				t.Fatalf("build: %v, want an *Error", err)
			}
			t.Logf("reason: %s", be.Reason)
			if !strings.Contains(be.Reason, "file size limit exceeded (SIGXFSZ): a file the step wrote reached 1 MiB") {
				t.Errorf("reason %q does not name the file size limit", be.Reason)
			}
		})
	}
}
