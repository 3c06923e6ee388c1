package main

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/autobuild/autobuild/internal/testutil"
)

// markerEnv marks the processes of a test's builds (a module's env,
// inherited by everything its steps start; AUTOBUILD_* is the engine's). Tests find their processes by
// its value, unique to the test, never by a name that other work on the
// machine may use too.
const markerEnv = "TEST_PROCESS_MARKER"

// newMarker returns a marker only this test uses. Whatever still carries
// it when the test ends is killed, so a failure leaves nothing behind.
func newMarker(t *testing.T) string {
	m := fmt.Sprintf("autobuild-test-%d-%d", os.Getpid(), time.Now().UnixNano())
	t.Cleanup(func() {
		for _, pid := range procsWithMarker(m) {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	})
	return m
}

// markerEnvEntry is the module env entry that marks its processes.
func markerEnvEntry(marker string) string { return markerEnv + "=" + marker }

// procsWithMarker returns the live processes whose environment or command
// line holds marker. Zombies have neither left: they are dead.
func procsWithMarker(marker string) []int {
	ents, _ := os.ReadDir("/proc")
	var pids []int
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		for _, f := range []string{"environ", "cmdline"} {
			if b, err := os.ReadFile(filepath.Join("/proc", e.Name(), f)); err == nil && bytes.Contains(b, []byte(marker)) {
				pids = append(pids, pid)
				break
			}
		}
	}
	return pids
}

// waitNoMarker waits until no process holds marker, and describes those
// still there after within.
func waitNoMarker(marker string, within time.Duration) string {
	deadline := time.Now().Add(within)
	for {
		left := procsWithMarker(marker)
		if len(left) == 0 {
			return ""
		}
		if time.Now().After(deadline) {
			var b strings.Builder
			for _, pid := range left {
				cmd, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
				fmt.Fprintf(&b, "\n  %d: %s", pid, bytes.ReplaceAll(bytes.TrimRight(cmd, "\x00"), []byte{0}, []byte{' '}))
			}
			return b.String()
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// killCount is how many times TestNoSurvivorsAfterEngineKill kills the
// engine: AUTOBUILD_KILL_TEST_COUNT, 100 by default, 10 with -short.
func killCount(t *testing.T) int {
	if v := os.Getenv("AUTOBUILD_KILL_TEST_COUNT"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			t.Fatalf("AUTOBUILD_KILL_TEST_COUNT=%q: want a count", v)
		}
		return n
	}
	if testing.Short() {
		return 10
	}
	return 100
}

// survivorScript is a build that leaves everything a build can leave: a
// daemon in its process group, a double fork into a session of its own
// (setsid), and then a wait (PAUSE seconds) in which the engine is killed.
func survivorScript(exit int) map[string]string {
	return script(fmt.Sprintf(`sleep 300 </dev/null >/dev/null 2>&1 &
setsid sh -c 'sleep 300 & exec sleep 301' </dev/null >/dev/null 2>&1 &
echo built > "$AUTOBUILD_PACKAGE_ROOT/out"
sleep "$PAUSE"
exit %d`, exit))
}

// TestNoSurvivorsAfterEngineKill SIGKILLs the engine at random moments of
// runs (engine start, checkouts of new commits, builds that started
// daemons and escaped their process group, at the unconfined level too),
// and checks after each kill that nothing of the builds is left within
// 2 s, and that the next run succeeds and leaves nothing either.
func TestNoSurvivorsAfterEngineKill(t *testing.T) {
	requireConfinement(t)
	count := killCount(t)
	marker := newMarker(t)
	f := newFarm(t)
	repos := map[string]string{
		"daemons":    f.repo("daemons", survivorScript(0)),
		"unconfined": f.repo("unconfined", survivorScript(0)),
		"broken":     f.repo("broken", survivorScript(3)),
	}
	config := func(pause string) {
		f.config(fmt.Sprintf(`workers: 3
modules:
  - {name: daemons, source: {url: repos/daemons}, env: ["%[1]s", "PAUSE=%[2]s"]}
  - {name: unconfined, source: {url: repos/unconfined}, trust: unconfined, env: ["%[1]s", "PAUSE=%[2]s"]}
  - {name: broken, source: {url: repos/broken}, env: ["%[1]s", "PAUSE=%[2]s"]}
`, markerEnvEntry(marker), pause))
	}
	// A full run: exit 1, only broken failed, nothing left behind.
	complete := func(when string) {
		t.Helper()
		config("0")
		r := f.run()
		if r.code != 1 {
			t.Fatalf("%s: want exit 1 (broken fails):\n%s", when, r.dump())
		}
		st := f.status()
		for _, m := range st.Modules {
			if ok := m.State.OK(); ok == (m.Name == "broken") {
				log, _ := os.ReadFile(filepath.Join(f.root, "log-root", strconv.Itoa(st.Counter), m.Name+".log"))
				t.Fatalf("%s: %s is %s (%s); its log:\n%s", when, m.Name, m.State, m.Reason, log)
			}
		}
		if left := waitNoMarker(marker, 2*time.Second); left != "" {
			t.Fatalf("%s: processes of the builds outlived the run:%s", when, left)
		}
	}
	complete("first run")
	start := time.Now()
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 1))
	midBuild := 0 // kills while build processes ran
	for i := range count {
		// New commits, so steps check out (and reset) their trees.
		for name, repo := range repos {
			if rng.IntN(2) == 0 {
				testutil.Commit(t, repo, map[string]string{"rev": fmt.Sprintf("%d %s\n", i, name)})
			}
		}
		// Builds that would outlast the kill.
		config("30")
		eng := exec.Command(bin, "run", "--config", f.cfg)
		if err := eng.Start(); err != nil {
			t.Fatal(err)
		}
		delay := time.Duration(rng.IntN(151)) * time.Millisecond
		time.Sleep(delay)
		if len(procsWithMarker(marker)) > 0 {
			midBuild++
		}
		eng.Process.Signal(syscall.SIGKILL)
		eng.Wait()
		if left := waitNoMarker(marker, 2*time.Second); left != "" {
			t.Fatalf("kill %d (after %s): processes of the builds outlived the engine by 2 s:%s", i+1, delay, left)
		}
		complete(fmt.Sprintf("run after kill %d (after %s)", i+1, delay))
	}
	t.Logf("%d kills (%d while builds ran) in %s", count, midBuild, time.Since(start).Round(time.Millisecond))
}
