//go:build linux

package sandbox_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/autobuild/autobuild/internal/testutil"
	"github.com/autobuild/autobuild/sandbox"
	"github.com/autobuild/autobuild/sandbox/sandboxtest"
)

// pdeathProbeEnv puts a re-executed copy of this test binary into a probe
// that prints its own parent-death signal and exits: a step's command that
// tells what the helper left armed at its exec.
const pdeathProbeEnv = "AUTOBUILD_TEST_PDEATHSIG_PROBE"

// busyPrepare does what a work-tree reset does to the helper's goroutine:
// file I/O, allocation and short waits, each a chance for the runtime to
// move it to another OS thread.
const busyPrepare = "autobuild-test-busy"

func init() {
	if os.Getenv(pdeathProbeEnv) != "" && (len(os.Args) < 2 || os.Args[1] != sandbox.HelperArg) {
		var sig int32
		if err := unix.Prctl(unix.PR_GET_PDEATHSIG, uintptr(unsafe.Pointer(&sig)), 0, 0, 0); err != nil {
			fmt.Println("prctl:", err)
			os.Exit(1)
		}
		fmt.Printf("pdeathsig=%d\n", sig)
		os.Exit(0)
	}
	sandbox.RegisterPrepare(busyPrepare, func(string) error {
		var keep [][]byte
		for i := 0; i < 20; i++ {
			keep = append(keep, make([]byte, 1<<20))
			_, _ = os.ReadFile("/proc/self/status")
			time.Sleep(time.Millisecond)
		}
		_ = keep
		return nil
	})
}

// A confined step changes uid in its helper, which clears the parent-death
// signal the engine asked for; the helper re-arms it. The command the
// helper execs must still carry it, on every try: it is what kills the
// step when the engine dies.
func TestParentDeathSignalArmedAtExec(t *testing.T) {
	if os.Geteuid() != 0 {
		testutil.Skip(t, "the uid change that clears the signal needs root")
	}
	const tries = 40
	prof := confined(t, "", 1024)
	prof.Read = []string{helper}
	r := &sandbox.Exec{Self: helper, Host: sandbox.ProbeHost()}
	var mu sync.Mutex
	lost := 0
	var wg sync.WaitGroup
	for i := 0; i < tries; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var out bytes.Buffer
			res, err := r.Run(context.Background(), &sandbox.Step{
				Args: []string{helper}, Env: []string{"PATH=/usr/bin:/bin", pdeathProbeEnv + "=1"},
				Stdout: &out, Stderr: &out, Timeout: 20 * time.Second, Profile: prof,
				Prepare: &sandbox.Prepare{Name: busyPrepare},
			})
			if err != nil || res.ExitCode != 0 {
				t.Errorf("probe: %+v, %v: %s", res, err, out.String())
				return
			}
			if strings.TrimSpace(out.String()) != fmt.Sprintf("pdeathsig=%d", unix.SIGKILL) {
				mu.Lock()
				lost++
				mu.Unlock()
				t.Logf("probe: %s", strings.TrimSpace(out.String()))
			}
		}()
		if i%4 == 3 {
			wg.Wait()
		}
	}
	wg.Wait()
	if lost > 0 {
		t.Errorf("%d of %d steps exec'd without the parent-death signal", lost, tries)
	}
}

// scoped runs every step in scope, as the engine's executor does.
type scoped struct {
	r     sandbox.Runner
	scope *sandbox.Scope
}

func (s scoped) Run(ctx context.Context, step *sandbox.Step) (sandbox.Result, error) {
	st := *step
	st.Name, st.Scope = "conformance", s.scope
	return s.r.Run(ctx, &st)
}

// hosts are the two ways a scoped step is tracked: its own cgroup where
// this host has one, and the records and process group kill without.
func hosts(t *testing.T) map[string]sandbox.Host {
	h := sandbox.ProbeHost()
	noCgroup := h
	noCgroup.NoCgroup = true
	m := map[string]sandbox.Host{"records": noCgroup}
	if hasCgroup(h) {
		m["cgroup"] = h
	}
	return m
}

// hasCgroup reports whether steps on h get cgroups of their own.
func hasCgroup(h sandbox.Host) bool {
	enforced, _ := h.Check(sandbox.Profile{Level: "unconfined", UID: -1, GID: -1})
	return slices.Contains(enforced, "process-tree cleanup")
}

// The Runner's contract holds for tracked steps too, in both ways.
func TestScopedConformance(t *testing.T) {
	for name, h := range hosts(t) {
		t.Run(name, func(t *testing.T) {
			scope := sandbox.NewScope(testutil.Dir(t), filepath.Join(testutil.Dir(t), "steps"))
			sandboxtest.Run(t, scoped{&sandbox.Exec{Self: helper, Host: h}, scope})
		})
	}
}

// markerEnv marks every process of a step in the tests below: they find
// their processes by it, never by a name other work on the machine could
// use too.
const markerEnv = "AUTOBUILD_SANDBOX_TEST_MARKER"

// newMarker returns a marker only this test uses, and kills what still
// carries it when the test ends.
func newMarker(t *testing.T) string {
	m := fmt.Sprintf("%s-%d-%d", t.Name(), os.Getpid(), time.Now().UnixNano())
	m = strings.NewReplacer("/", "_", " ", "_").Replace(m)
	t.Cleanup(func() {
		for _, pid := range marked(m) {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	})
	return m
}

// marked returns the processes whose environment holds marker as
// markerEnv. Zombies have no environment left: they are dead.
func marked(marker string) []int {
	want := []byte(markerEnv + "=" + marker + "\x00")
	ents, _ := os.ReadDir("/proc")
	var pids []int
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "environ"))
		if err == nil && bytes.Contains(append([]byte{0}, b...), append([]byte{0}, want...)) {
			pids = append(pids, pid)
		}
	}
	return pids
}

// markedGone waits until no process carries marker, and returns those left.
func markedGone(marker string, within time.Duration) []int {
	deadline := time.Now().Add(within)
	for {
		left := marked(marker)
		if len(left) == 0 || time.Now().After(deadline) {
			return left
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// escapeScript starts a daemon in the step's process group, one that
// leaves it (setsid, double fork), and then runs tail.
const escapeScript = `sleep 300 </dev/null >/dev/null 2>&1 &
setsid sh -c 'sleep 300 & exec sleep 301' </dev/null >/dev/null 2>&1 &
`

// With a cgroup, even an unconfined step's processes that left its process
// group die when it ends or times out, and its cgroup is removed.
func TestCgroupKillsEscapees(t *testing.T) {
	h := sandbox.ProbeHost()
	if !hasCgroup(h) {
		testutil.Skip(t, "no writable cgroup v2 here")
	}
	mnt := cgroup2Mount(t)
	r := &sandbox.Exec{Self: helper, Host: h}
	scope := sandbox.NewScope(testutil.Dir(t), filepath.Join(testutil.Dir(t), "steps"))
	for _, tc := range []struct {
		name    string
		tail    string
		timeout time.Duration
	}{
		{"step ends", "sleep 0.3; cat /proc/self/cgroup", 0},
		{"step times out", "cat /proc/self/cgroup; sleep 300", 500 * time.Millisecond},
	} {
		t.Run(tc.name, func(t *testing.T) {
			marker := newMarker(t)
			var out bytes.Buffer
			res, err := r.Run(context.Background(), &sandbox.Step{
				Args: []string{"/bin/sh", "-c", escapeScript + tc.tail}, Env: []string{"PATH=/usr/bin:/bin", markerEnv + "=" + marker},
				Stdout: &out, Stderr: &out, Timeout: tc.timeout, Profile: sandbox.Profile{Level: "unconfined", UID: -1, GID: -1},
				Name: "escape", Scope: scope,
			})
			if err != nil || res.TimedOut != (tc.timeout > 0) {
				t.Fatalf("Run = %+v, %v: %s", res, err, out.String())
			}
			// Gone when Run returns: no polling.
			if left := marked(marker); len(left) > 0 {
				t.Errorf("processes of the step outlived it: %v", left)
			}
			cg := ""
			for _, l := range strings.Split(out.String(), "\n") {
				if v, ok := strings.CutPrefix(l, "0::"); ok {
					cg = v
				}
			}
			if !strings.Contains(cg, "/autobuild/") || !strings.Contains(cg, "/escape-") {
				t.Fatalf("the step ran in cgroup %q, not one of its own", out.String())
			}
			if _, err := os.Stat(filepath.Join(mnt, cg)); err == nil {
				t.Errorf("the step's cgroup %s is left behind", cg)
			}
		})
	}
}

// cgroup2Mount is where cgroup v2 is mounted here.
func cgroup2Mount(t *testing.T) string {
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		pre, post, _ := strings.Cut(l, " - ")
		if f := strings.Fields(pre); strings.HasPrefix(post, "cgroup2 ") && len(f) > 4 && f[3] == "/" {
			return f[4]
		}
	}
	t.Fatal("no cgroup2 mount")
	return ""
}

// Reap, through a new Scope of the same build root, kills the steps that
// an earlier one left running, escaped daemons included where the host
// has cgroups, and removes their records.
func TestReapKillsWhatAnEarlierScopeLeft(t *testing.T) {
	for name, h := range hosts(t) {
		t.Run(name, func(t *testing.T) {
			root := testutil.Dir(t)
			records := filepath.Join(root, "state", "steps")
			marker := newMarker(t)
			script := escapeScript
			if name == "records" {
				// Without a cgroup, what leaves the process group is out of
				// reach (the documented limit): only the group is checked.
				script = "sleep 300 </dev/null >/dev/null 2>&1 &\n"
			}
			r := &sandbox.Exec{Self: helper, Host: h}
			done := make(chan error, 1)
			go func() {
				_, err := r.Run(context.Background(), &sandbox.Step{
					Args: []string{"/bin/sh", "-c", script + "sleep 300"}, Env: []string{"PATH=/usr/bin:/bin", markerEnv + "=" + marker},
					Profile: sandbox.Profile{Level: "unconfined", UID: -1, GID: -1}, Name: "left", Scope: sandbox.NewScope(root, records),
				})
				done <- err
			}()
			want := 3
			if name == "records" {
				want = 2
			}
			deadline := time.Now().Add(10 * time.Second)
			for len(marked(marker)) < want {
				if time.Now().After(deadline) {
					t.Fatalf("the step did not start its processes: %v", marked(marker))
				}
				time.Sleep(20 * time.Millisecond)
			}
			if err := sandbox.NewScope(root, records).Reap(context.Background()); err != nil {
				t.Fatalf("Reap: %v", err)
			}
			if left := markedGone(marker, 2*time.Second); len(left) > 0 {
				t.Errorf("processes left by the earlier scope survived Reap: %v", left)
			}
			select {
			case <-done:
			case <-time.After(10 * time.Second):
				t.Fatal("the earlier step's Run did not return once its processes were killed")
			}
			if ents, _ := os.ReadDir(records); len(ents) > 0 {
				t.Errorf("records left: %v", ents)
			}
		})
	}
}

// fakeEngineEnv makes a re-executed copy of this test binary an engine:
// it runs one tracked step (fakeEngine) and blocks, to be SIGKILLed.
const fakeEngineEnv = "AUTOBUILD_TEST_FAKE_ENGINE"

func init() {
	if v := os.Getenv(fakeEngineEnv); v != "" && len(os.Args) > 1 && os.Args[1] == "fake-engine" {
		fakeEngine(v)
	}
}

// fakeEngine runs, in scope of the build root, a step that leaves
// processes, says so on stdout and never ends.
func fakeEngine(spec string) {
	var s struct {
		Root, Marker, Script string
		NoCgroup, Confined   bool
	}
	if err := json.Unmarshal([]byte(spec), &s); err != nil {
		fmt.Println(err)
		os.Exit(2)
	}
	h := sandbox.ProbeHost()
	h.NoCgroup = s.NoCgroup
	self, _ := os.Executable()
	prof := sandbox.Profile{Level: "unconfined", UID: -1, GID: -1}
	if s.Confined {
		prof = sandbox.Profile{Level: "isolated", Confined: true, Network: sandbox.NetNone, UID: -1, GID: -1,
			Limits: sandbox.Builtin()["isolated"].Limits, Read: []string{self}}
		if os.Geteuid() == 0 {
			prof.UID = sandbox.BuildUID("sandbox-helper-test")
			prof.GID = prof.UID
		}
	}
	go func() {
		time.Sleep(30 * time.Second) // never outlive the test by much
		os.Exit(3)
	}()
	fmt.Println("running")
	_, err := (&sandbox.Exec{Self: self, Host: h}).Run(context.Background(), &sandbox.Step{
		Args: []string{"/bin/sh", "-c", s.Script}, Env: []string{"PATH=/usr/bin:/bin", markerEnv + "=" + s.Marker},
		Profile: prof, Name: "fake", Scope: sandbox.NewScope(s.Root, filepath.Join(s.Root, "steps")),
	})
	fmt.Println("step ended:", err)
	os.Exit(1)
}

// When the engine is SIGKILLed, its steps die at once, those of the
// unconfined level too: the watchdog kills the engine's cgroups (or, with
// records, process groups) the moment the kernel closes its lifeline.
func TestEngineKilledStepsDie(t *testing.T) {
	type tc struct {
		name     string
		noCgroup bool
		confined bool
		script   string
		procs    int
	}
	cases := []tc{
		{"records/unconfined", true, false, "sleep 300 </dev/null >/dev/null 2>&1 & exec sleep 301", 2},
	}
	if hasCgroup(sandbox.ProbeHost()) {
		cases = append(cases, tc{"cgroup/unconfined", false, false, escapeScript + "sleep 302", 4})
	}
	if os.Geteuid() == 0 {
		cases = append(cases,
			tc{"records/confined", true, true, escapeScript + "sleep 302", 4},
			tc{"cgroup/confined", false, true, escapeScript + "sleep 302", 4})
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if c.confined {
				confined(t, "", 1024) // skips where the host cannot
			}
			if !c.noCgroup && !hasCgroup(sandbox.ProbeHost()) {
				testutil.Skip(t, "no writable cgroup v2 here")
			}
			marker := newMarker(t)
			root := testutil.Dir(t)
			spec, _ := json.Marshal(map[string]any{"Root": root, "Marker": marker, "Script": c.script, "NoCgroup": c.noCgroup, "Confined": c.confined})
			eng := exec.Command(helper, "fake-engine")
			eng.Env = append(os.Environ(), fakeEngineEnv+"="+string(spec))
			var out bytes.Buffer
			eng.Stdout, eng.Stderr = &out, &out
			if err := eng.Start(); err != nil {
				t.Fatal(err)
			}
			deadline := time.Now().Add(10 * time.Second)
			for len(marked(marker)) < c.procs {
				if time.Now().After(deadline) {
					eng.Process.Kill()
					eng.Wait()
					t.Fatalf("the step did not start its processes (%v): %s", marked(marker), out.String())
				}
				time.Sleep(20 * time.Millisecond)
			}
			eng.Process.Signal(syscall.SIGKILL)
			eng.Wait()
			if left := markedGone(marker, 2*time.Second); len(left) > 0 {
				t.Errorf("processes of the killed engine's step survived: %v", left)
			}
		})
	}
}
