package main

import (
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/autobuild/autobuild/engine/report"
	"github.com/autobuild/autobuild/internal/testutil"
	"github.com/autobuild/autobuild/sandbox"
)

// isolationScript tries, from a module's build, what only the step's own
// file system view stops (Landlock below ABI 9 and the network namespace
// do not): a named Unix socket in the host's temp folders, the host's
// processes in /proc, and files of the engine and of other modules read by
// exact path. It records "<attack>:ok" in its package root for each that
// worked, and copies what it could read there, so the test checks the
// real side effects too.
const isolationScript = `#!/bin/bash
pkg="$AUTOBUILD_PACKAGE_ROOT"
out="$pkg/results"
: > "$out"
ok() { echo "$1:ok" >> "$out"; }
connect() {
  if [ -x /usr/bin/python3 ]; then
    /usr/bin/python3 -c 'import socket, sys
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); s.sendall(b"hi\n")' "$1"
  else
    /usr/bin/perl -MIO::Socket::UNIX -e 'IO::Socket::UNIX->new(Peer => $ARGV[0]) or exit 1' "$1"
  fi
}
root=$(cd "$AUTOBUILD_SOURCE_ROOT/../.." && pwd)

# (a) a world-writable Unix socket the test listens on, in a host folder
test -e "$SOCK" && ok a-socket-visible
connect "$SOCK" 2>/dev/null && ok a-socket-connect
# (b) the host's processes: every command line /proc shows
for f in /proc/[0-9]*/cmdline; do tr '\0' ' ' < "$f"; echo; done > "$pkg/procs" 2>/dev/null
grep -q -- "$MARKER" "$pkg/procs" && ok b-procs
grep -q -- "autobuild run --config" "$pkg/procs" && ok b-engine
# (c) the engine's state and another module's source, by exact path
cat "$root/state/modules/other.json" > "$pkg/modules.json" 2>/dev/null && ok c-state
cat "$root/source-root/other/secret.txt" > "$pkg/other-secret" 2>/dev/null && ok c-source
# What the step holds: capabilities must be none.
grep -E '^Cap(Eff|Prm|Amb):' /proc/self/status > "$pkg/caps"
exit 0
`

// isolationEnv is a farm whose module "prober" runs isolationScript at a
// trust level, beside a module "other" whose source holds a secret, with
// a Unix socket listener and a marked process of the test's own.
type isolationEnv struct {
	f       *farm
	token   string
	marker  string
	accepts *atomic.Int32
}

func isolationFarm(t *testing.T, trust string) *isolationEnv {
	requireConfinement(t)
	if !sandbox.ProbeHost().MountNS {
		testutil.Skip(t, "this host gives no mount namespace")
	}
	if _, err := os.Stat("/usr/bin/python3"); err != nil {
		if _, err := os.Stat("/usr/bin/perl"); err != nil {
			testutil.Skip(t, "neither python3 nor perl to connect to a Unix socket with")
		}
	}
	e := &isolationEnv{f: newFarm(t), token: fmt.Sprintf("%d-%d", os.Getpid(), time.Now().UnixNano()), accepts: &atomic.Int32{}}

	// A world-writable socket in a world-writable folder: file modes let
	// every uid connect.
	sockDir := testutil.Dir(t)
	os.Chmod(sockDir, 0o777)
	sock := filepath.Join(sockDir, "sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	os.Chmod(sock, 0o777)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			e.accepts.Add(1)
			// Read to the client's end before closing: a close first
			// would fail its write, and the script's record with it.
			go func() {
				c.SetDeadline(time.Now().Add(5 * time.Second))
				io.Copy(io.Discard, c)
				c.Close()
			}()
		}
	}()

	// A process only this test knows, by its argv[0].
	sleep, err := exec.LookPath("sleep")
	if err != nil {
		t.Fatal(err)
	}
	e.marker = "autobuild-marker-" + e.token
	marked := &exec.Cmd{Path: sleep, Args: []string{e.marker, "120"}}
	if err := marked.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { marked.Process.Kill(); marked.Wait() })

	e.f.repo("other", map[string]string{"autobuild.sh": "#!/bin/sh\ntrue\n", "secret.txt": "OTHER-SECRET-" + e.token + "\n"})
	e.f.repo("prober", map[string]string{"autobuild.sh": isolationScript})
	// prober depends on other so that other's source is checked out first;
	// a dependency gives it other's install root, never its source.
	e.f.config(fmt.Sprintf(`modules:
  - {name: other, source: {url: repos/other}}
  - name: prober
    source: {url: repos/prober}
    depends: [other]
    trust: %s
    env: ["SOCK=%s", "MARKER=%s"]
`, trust, sock, e.marker))
	return e
}

// runTwice runs the farm, then rebuilds the prober: the engine's state
// (state/modules/other.json) exists only after a first run.
func (e *isolationEnv) runTwice(t *testing.T, run func(args ...string) result) {
	t.Helper()
	for _, args := range [][]string{nil, {"--force=prober"}} {
		if r := run(args...); r.code != 0 {
			t.Fatalf("autobuild run %v:\n%s", args, r.dump())
		}
	}
	for _, m := range e.f.status().Modules {
		if m.State != report.Built && m.State != report.Reused {
			t.Fatalf("%s: %s (%s)", m.Name, m.State, m.Reason)
		}
	}
}

// results are the attacks the script says worked.
func (e *isolationEnv) results(t *testing.T) map[string]bool {
	t.Helper()
	b, err := os.ReadFile(e.pkg("results"))
	if err != nil {
		t.Fatalf("the prober's results are missing: %v", err)
	}
	got := map[string]bool{}
	for _, l := range strings.Fields(string(b)) {
		got[strings.TrimSuffix(l, ":ok")] = true
	}
	return got
}

func (e *isolationEnv) pkg(name string) string {
	return filepath.Join(e.f.root, "package-root", "prober", name)
}

func (e *isolationEnv) read(name string) string {
	b, _ := os.ReadFile(e.pkg(name))
	return string(b)
}

// sideEffects are the attacks' real effects, whatever the script says.
func (e *isolationEnv) sideEffects() map[string]bool {
	// The listener may accept a moment after the step exits.
	for i := 0; i < 50 && e.accepts.Load() == 0 && strings.Contains(e.read("results"), "a-socket-connect:ok"); i++ {
		time.Sleep(10 * time.Millisecond)
	}
	return map[string]bool{
		"a-socket-connect": e.accepts.Load() > 0,
		"b-procs":          strings.Contains(e.read("procs"), e.marker),
		"c-state":          strings.Contains(e.read("modules.json"), `"checkout"`),
		"c-source":         strings.Contains(e.read("other-secret"), "OTHER-SECRET-"+e.token),
	}
}

var isolationAttacks = []string{"a-socket-visible", "a-socket-connect", "b-procs", "b-engine", "c-state", "c-source"}

// checkDenied: nothing worked, by the script's account or by its effects;
// the step saw its own processes only and held no capability.
func (e *isolationEnv) checkDenied(t *testing.T) {
	t.Helper()
	for attack := range e.results(t) {
		t.Errorf("attack %s succeeded at the default level", attack)
	}
	for attack, happened := range e.sideEffects() {
		if happened {
			t.Errorf("attack %s left its mark at the default level", attack)
		}
	}
	// (Not the listing itself in the message: other processes' command
	// lines are theirs.)
	procs := e.read("procs")
	if n := strings.Count(procs, "\n"); !strings.Contains(procs, "autobuild.sh") || n > 6 {
		t.Errorf("the build's /proc shows %d processes: more than its own", n)
	}
	for _, l := range strings.Split(strings.TrimSpace(e.read("caps")), "\n") {
		if f := strings.Fields(l); len(f) != 2 || strings.Trim(f[1], "0") != "" {
			t.Errorf("the build holds capabilities: %q", l)
		}
	}
}

// checkWorked: the control run, unconfined, did every attack for real.
func (e *isolationEnv) checkWorked(t *testing.T) {
	t.Helper()
	got := e.results(t)
	for _, attack := range isolationAttacks {
		if !got[attack] {
			t.Errorf("control: attack %s did not succeed unconfined", attack)
		}
	}
	for attack, happened := range e.sideEffects() {
		if !happened {
			t.Errorf("control: attack %s left no mark unconfined", attack)
		}
	}
}

func TestIsolatedBuildSeesOnlyItsView(t *testing.T) {
	e := isolationFarm(t, "isolated")
	e.runTwice(t, e.f.run)
	e.checkDenied(t)
}

// TestIsolationControl runs the same script unconfined: every attack must
// work, so the test above cannot pass with the view missing.
func TestIsolationControl(t *testing.T) {
	e := isolationFarm(t, "unconfined")
	e.runTwice(t, e.f.run)
	e.checkWorked(t)
}

// An unprivileged engine builds the view through the user namespace of
// its steps; the step must end up without the capability that took.
func TestUnprivilegedEngineIsolation(t *testing.T) {
	for _, trust := range []string{"isolated", "unconfined"} {
		t.Run(trust, func(t *testing.T) {
			if !sandbox.ProbeHost().UserNS {
				testutil.Skip(t, "needs user namespaces")
			}
			e := isolationFarm(t, trust)
			const nobody = 65534
			if err := filepath.WalkDir(e.f.dir, func(p string, _ os.DirEntry, err error) error {
				if err != nil {
					return err
				}
				return os.Lchown(p, nobody, nobody)
			}); err != nil {
				t.Fatal(err)
			}
			e.runTwice(t, func(args ...string) result {
				cmd := exec.Command(bin, append([]string{"run", "--config", e.f.cfg}, args...)...)
				cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: nobody, Gid: nobody}}
				cmd.Env = []string{"PATH=/usr/bin:/bin", "HOME=" + e.f.dir}
				out, err := cmd.CombinedOutput()
				r := result{stdout: string(out)}
				if ee, ok := err.(*exec.ExitError); ok {
					r.code = ee.ExitCode()
				} else if err != nil {
					t.Fatal(err)
				}
				return r
			})
			if trust == "unconfined" {
				e.checkWorked(t)
			} else {
				e.checkDenied(t)
			}
		})
	}
}

// The mount namespace is required: a host without it refuses the default
// level, and allow_weaker_confinement runs it without a view and says so.
func TestMountNamespaceFailsClosed(t *testing.T) {
	requireConfinement(t)
	f := newFarm(t)
	// What the build sees of the host's root: the view has no /run.
	f.repo("m", script(`if test -e /run; then echo host > "$AUTOBUILD_PACKAGE_ROOT/root"; else echo view > "$AUTOBUILD_PACKAGE_ROOT/root"; fi`))
	f.config("modules:\n  - {name: m, source: {url: repos/m}}\n")
	seen := func() string {
		b, _ := os.ReadFile(filepath.Join(f.root, "package-root", "m", "root"))
		return strings.TrimSpace(string(b))
	}
	if _, err := os.Stat("/run"); err != nil {
		testutil.Skip(t, "this host has no /run to tell its root from the view's")
	}
	if r := f.run(); r.code != 0 || seen() != "view" {
		t.Fatalf("with a mount namespace the build saw %q, want the view:\n%s", seen(), r.dump())
	}

	if d := ab(t, nil, "doctor", "--config", f.cfg); !strings.Contains(d.stdout, "yes  mount-namespace") {
		t.Errorf("doctor on this host does not list the mount namespace:\n%s", d.dump())
	}
	weak := []string{sandbox.DisableEnv + "=mountns"}
	if d := ab(t, weak, "doctor", "--config", f.cfg); d.code != 4 || !strings.Contains(d.stdout, "NO   mount-namespace") {
		t.Errorf("doctor without a mount namespace: want exit 4 and mount-namespace missing:\n%s", d.dump())
	}
	r := ab(t, weak, "run", "--config", f.cfg)
	if r.code != 4 || !strings.Contains(r.stderr, "mount-namespace") {
		t.Errorf("run without a mount namespace: want exit 4 naming it:\n%s", r.dump())
	}
	r = ab(t, append(weak, "AUTOBUILD_ALLOW_WEAKER_CONFINEMENT=true"), "run", "--config", f.cfg, "--force=m")
	if r.code != 0 {
		t.Fatalf("allowed weaker run:\n%s", r.dump())
	}
	if seen() != "host" {
		t.Errorf("without a mount namespace the build saw %q, want the host's root: no view", seen())
	}
	if m := module(f.status(), "m"); !strings.Contains(strings.Join(m.Missing, ","), "mount-namespace") {
		t.Errorf("status does not show the missing mount namespace: %+v", m)
	}
}
