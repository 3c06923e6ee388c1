package main

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/autobuild/autobuild/engine/report"
	"github.com/autobuild/autobuild/internal/testutil"
	"github.com/autobuild/autobuild/sandbox"
	"github.com/opencontainers/selinux/go-selinux"
)

// hostileScript attempts every attack and records, in its own package
// root, "<attack>:ok" for each that succeeded. The test checks the real
// side effects too; the records make the control run's evidence readable.
const hostileScript = `#!/bin/bash
out="$AUTOBUILD_PACKAGE_ROOT/results"
: > "$out"
ok() { echo "$1:ok" >> "$out"; }
root=$(cd "$AUTOBUILD_SOURCE_ROOT/../.." && pwd)

# (a) the engine's state, lock and published site
echo pwned > "$root/state/pwned" 2>/dev/null && ok a-state
echo pwned >> "$root/state/lock" 2>/dev/null && ok a-lock
touch "$root/sites/pwned" 2>/dev/null && ok a-site
# (b) another module's source and install root
echo evil > "$root/source-root/victim/evil" 2>/dev/null && ok b-source
cat "$root/source-root/victim/autobuild.sh" > /dev/null 2>&1 && ok b-read-source
echo evil > "$AUTOBUILD_DEP_VICTIM_ROOT/evil" 2>/dev/null && ok b-install
# (c) a secret outside the build root
cat "$SECRET" > "$AUTOBUILD_PACKAGE_ROOT/stolen" 2>/dev/null && ok c-secret
touch "$OUTSIDE/pwned" 2>/dev/null && ok c-write-outside
# (d) a TCP listener on the host's loopback
(echo hello > /dev/tcp/127.0.0.1/$PORT) 2>/dev/null && ok d-connect
# (e) the engine: find it and signal it (only probe in the control run);
# this test's engine only, by its configuration's path
for p in $(pgrep -f "autobuild run --config $(dirname "$root")/autobuild.yaml"); do
  if kill -0 "$p" 2>/dev/null; then
    ok e-signal
    [ -z "$CONTROL" ] && kill -9 "$p"
  fi
done
# (f) many processes: more than the default limit of 256. Each child
# records its start and sleeps for good (no slot frees while the count is
# watched, however slow the machine); the count is polled with shell
# builtins only (no fork is possible at the limit), until 400 run or it
# has not grown for $STALL_US microseconds. Job control puts them in a
# process group of their own, killed after.
: > "$TMPDIR/started"
set -m
yes 3600 | head -n 400 | xargs -P 400 -n 1 sh -c 'echo >> "$0"; exec sleep "$1"' "$TMPDIR/started" 2>/dev/null &
set +m
t=${EPOCHREALTIME/./}; last=$t; prev=0
while :; do
  mapfile -t started < "$TMPDIR/started"
  n=${#started[@]}
  [ "$n" -ge 390 ] && { ok f-processes; break; }
  t=${EPOCHREALTIME/./}
  [ "$n" -ne "$prev" ] && { prev=$n; last=$t; }
  [ $(( t - last )) -ge "$STALL_US" ] && break
done
kill -KILL %1 2>/dev/null
wait 2>/dev/null
# (g) a huge file (sparse: no disk is used)
dd if=/dev/zero of="$TMPDIR/huge" bs=1 count=1 seek=3G 2>/dev/null && ok g-huge
rm -f "$TMPDIR/huge"
# (i) a daemon that outlives the build
cp /bin/sleep "$TMPDIR/hostile-daemon-$DAEMON"
setsid "$TMPDIR/hostile-daemon-$DAEMON" 600 > /dev/null 2>&1 < /dev/null &
sleep 0.2
pgrep -f "hostile-daemon-$DAEMON" > /dev/null && ok i-daemon-started
exit 0
`

type attackEnv struct {
	f      *farm
	secret string
	out    string
	port   int
	conns  *atomic.Int32
	daemon string
	bomb   string // marks the fork bomb's processes
}

// hostileFarm sets up the victim, the attacker, a fork bomb, a build that
// never ends and a bystander, all at the given trust level.
func hostileFarm(t *testing.T, trust string, control bool) *attackEnv {
	f := newFarm(t)
	secretDir := testutil.Dir(t)
	secret := filepath.Join(secretDir, "secret")
	// World-readable: only confinement, not file modes, keeps it safe.
	os.WriteFile(secret, []byte("TOP-SECRET\n"), 0o644)
	outside := testutil.Dir(t)
	os.Chmod(outside, 0o777)

	port, conns := tcpListener(t)
	daemon := fmt.Sprintf("%d", time.Now().UnixNano())
	t.Cleanup(func() {
		for _, pid := range procsWithMarker("hostile-daemon-" + daemon) {
			syscall.Kill(pid, syscall.SIGKILL)
		}
	})
	bombMarker := newMarker(t)

	f.repo("victim", script(`mkdir -p "$AUTOBUILD_INSTALL_ROOT/usr/lib"; echo victim > "$AUTOBUILD_INSTALL_ROOT/usr/lib/v"`))
	f.repo("attacker", map[string]string{"autobuild.sh": hostileScript})
	f.repo("bomb", script(`bomb() { bomb | bomb & }; bomb; sleep 60`))
	f.repo("forever", script(`sleep 100000`))
	f.repo("bystander", script(`echo fine > "$AUTOBUILD_PACKAGE_ROOT/ok"`))
	ctl := ""
	if control {
		ctl = "1"
	}
	f.config(fmt.Sprintf(`workers: 2
modules:
  - {name: victim, source: {url: repos/victim}, trust: %[1]s}
  - name: attacker
    source: {url: repos/attacker}
    depends: [victim]
    trust: %[1]s
    timeout: %[7]s
    env: ["SECRET=%[2]s", "OUTSIDE=%[3]s", "PORT=%[4]d", "DAEMON=%[5]s", "CONTROL=%[6]s", "STALL_US=%[8]d"]
  - {name: forever, source: {url: repos/forever}, trust: %[1]s, timeout: 2s}
  - {name: bystander, source: {url: repos/bystander}, trust: %[1]s}
`, trust, secret, outside, port, daemon, ctl,
		// Bounded by count; the waits scale with this machine's speed now.
		scaled(t, time.Minute), scaled(t, 2*time.Second).Microseconds()))
	if !control {
		// The real fork bomb runs only confined.
		b, _ := os.ReadFile(f.cfg)
		os.WriteFile(f.cfg, append(b, []byte("  - {name: bomb, source: {url: repos/bomb}, timeout: 5s, env: [\""+markerEnvEntry(bombMarker)+"\"]}\n")...), 0o644)
	}
	return &attackEnv{f: f, secret: secret, out: outside, port: port, conns: conns, daemon: daemon, bomb: bombMarker}
}

func (e *attackEnv) results(t *testing.T) map[string]bool {
	if testing.Verbose() {
		logs, _ := filepath.Glob(filepath.Join(e.f.root, "log-root", "*", "attacker.log"))
		for _, l := range logs {
			b, _ := os.ReadFile(l)
			t.Logf("%s:\n%s", l, b)
		}
	}
	b, err := os.ReadFile(filepath.Join(e.f.root, "package-root", "attacker", "results"))
	if err != nil {
		var states []string
		for _, m := range e.f.status().Modules {
			states = append(states, fmt.Sprintf("%s=%s(%s)", m.Name, m.State, m.Reason))
		}
		logs, _ := filepath.Glob(filepath.Join(e.f.root, "log-root", "*", "*.log"))
		for _, l := range logs {
			b, _ := os.ReadFile(l)
			t.Logf("%s:\n%s", l, b)
		}
		t.Fatalf("the attacker's results are missing: %v; modules: %v", err, states)
	}
	got := map[string]bool{}
	for _, l := range strings.Fields(string(b)) {
		got[strings.TrimSuffix(l, ":ok")] = true
	}
	return got
}

// sideEffects checks, independently of the script's records, which attacks
// left a trace.
func (e *attackEnv) sideEffects() map[string]bool {
	root := e.f.root
	exists := func(p string) bool { _, err := os.Stat(p); return err == nil }
	stolen, _ := os.ReadFile(filepath.Join(root, "package-root", "attacker", "stolen"))
	daemonAlive := len(procsWithMarker("hostile-daemon-"+e.daemon)) > 0
	return map[string]bool{
		"a-state":         exists(filepath.Join(root, "state", "pwned")),
		"a-site":          exists(filepath.Join(root, "sites", "pwned")),
		"b-source":        exists(filepath.Join(root, "source-root", "victim", "evil")),
		"b-install":       exists(filepath.Join(root, "install-root", "victim", "evil")),
		"c-secret":        strings.Contains(string(stolen), "TOP-SECRET"),
		"c-write-outside": exists(filepath.Join(e.out, "pwned")),
		"d-connect":       e.conns.Load() > 0,
		"i-daemon":        daemonAlive,
	}
}

// tcpListener listens on the host's loopback and counts connections.
func tcpListener(t *testing.T) (int, *atomic.Int32) {
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	conns := &atomic.Int32{}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns.Add(1)
			c.Close()
		}
	}()
	return ln.Addr().(*net.TCPAddr).Port, conns
}

func requireConfinement(t *testing.T) {
	h := sandbox.ProbeHost()
	if (h.LandlockABI < 6 && !h.SELinux) || !h.PidNS || !h.NetNS {
		testutil.Skip(t, fmt.Sprintf("needs Landlock ABI ≥ 6 or SELinux, and PID/network namespaces (have %+v)", h))
	}
	if !h.Root {
		testutil.Skip(t, "the hostile suite runs as root, so builds run as uids of their own")
	}
}

func TestHostileModulesAreContained(t *testing.T) {
	requireConfinement(t)
	e := hostileFarm(t, "isolated", false)
	start := time.Now()
	r := e.f.run()
	t.Logf("hostile run took %s", time.Since(start))
	if r.code != 1 {
		t.Fatalf("want exit 1 (bomb and forever fail):\n%s", r.dump())
	}
	st := checkContained(t, e, "at the default level")
	if m := module(st, "forever"); !strings.Contains(m.Reason, "timed out") {
		t.Errorf("forever: %q, want a timeout", m.Reason)
	}
	// The site is correct and whole: the bystander's artifact is there.
	if b, _ := os.ReadFile(filepath.Join(e.f.root, "public_html", "packages", "bystander", "ok")); string(b) != "fine\n" {
		t.Errorf("bystander's artifact: %q", b)
	}
	// Nothing of the fork bomb is left.
	if left := procsWithMarker(e.bomb); len(left) > 0 {
		t.Errorf("%d processes of the fork bomb survive", len(left))
	}
}

// TestHostileControl runs the same attacks unconfined: they must succeed,
// so the suite above cannot pass with confinement off.
func TestHostileControl(t *testing.T) {
	requireConfinement(t)
	e := hostileFarm(t, "unconfined", true)
	r := e.f.run()
	if r.code != 1 {
		t.Fatalf("want exit 1 (forever fails):\n%s", r.dump())
	}
	got := e.results(t)
	for _, attack := range []string{"a-state", "a-lock", "a-site", "b-source", "b-read-source", "b-install", "c-secret", "c-write-outside", "d-connect", "e-signal", "f-processes", "g-huge"} {
		if !got[attack] {
			t.Errorf("control: attack %s did not succeed unconfined", attack)
		}
	}
	for attack, happened := range e.sideEffects() {
		// With a cgroup per step, even an unconfined step's daemon dies
		// with it: that mark must be gone.
		if attack == "i-daemon" && cgroupCleanup() {
			if happened {
				t.Errorf("control: the unconfined build's daemon outlived its step and cgroup")
			}
			continue
		}
		if !happened {
			t.Errorf("control: attack %s left no mark unconfined", attack)
		}
	}
}

// cgroupCleanup reports whether steps get a cgroup of their own here.
func cgroupCleanup() bool {
	enforced, _ := sandbox.ProbeHost().Check(sandbox.Profile{Level: "unconfined", UID: -1, GID: -1})
	return slices.Contains(enforced, "process-tree cleanup")
}

func TestNetworkLevelAllowsOutgoing(t *testing.T) {
	requireConfinement(t)
	f := newFarm(t)
	port, conns := tcpListener(t)
	body := fmt.Sprintf("#!/bin/bash\necho hi > /dev/tcp/127.0.0.1/%d\n", port)
	f.repo("net", map[string]string{"autobuild.sh": body})
	f.repo("nonet", map[string]string{"autobuild.sh": body})
	f.config(`modules:
  - {name: net, source: {url: repos/net}, trust: network}
  - {name: nonet, source: {url: repos/nonet}}
`)
	f.run()
	st := f.status()
	if m := module(st, "net"); m.State != report.Built {
		t.Errorf("network level: %s %s, want built", m.State, m.Reason)
	}
	if m := module(st, "nonet"); m.State != report.Failed {
		t.Errorf("isolated level: %s, want failed (no network)", m.State)
	}
	if conns.Load() != 1 {
		t.Errorf("listener saw %d connections, want 1 (from the network level only)", conns.Load())
	}
}

func TestFailClosedAndDoctor(t *testing.T) {
	requireConfinement(t)
	f := newFarm(t)
	f.repo("m", script(`true`))
	f.config("modules:\n  - {name: m, source: {url: repos/m}}\n")

	d := ab(t, nil, "doctor", "--config", f.cfg)
	if d.code != 0 || !strings.Contains(d.stdout, "yes  landlock-fs") || !strings.Contains(d.stdout, "level isolated (used)") {
		t.Errorf("doctor on this host:\n%s", d.dump())
	}
	weak := []string{sandbox.DisableEnv + "=landlock"}
	d = ab(t, weak, "doctor", "--config", f.cfg)
	if d.code != 4 || !strings.Contains(d.stdout, "NO   landlock-fs") {
		t.Errorf("doctor without Landlock: want exit 4 and landlock-fs missing:\n%s", d.dump())
	}
	r := ab(t, weak, "run", "--config", f.cfg)
	if r.code != 4 || !strings.Contains(r.stderr, `trust level "isolated" needs landlock-fs`) {
		t.Errorf("run without Landlock: want exit 4 naming what is missing:\n%s", r.dump())
	}
	if _, err := os.Stat(filepath.Join(f.root, "public_html")); err == nil {
		t.Errorf("a refused run published a site")
	}
	// Explicitly allowed: it runs, and the site says what was missing.
	r = ab(t, append(weak, "AUTOBUILD_ALLOW_WEAKER_CONFINEMENT=true"), "run", "--config", f.cfg)
	if r.code != 0 {
		t.Fatalf("allowed weaker run:\n%s", r.dump())
	}
	m := module(f.status(), "m")
	if !strings.Contains(strings.Join(m.Missing, ","), "landlock-fs") {
		t.Errorf("status does not show the missing mechanism: %+v", m)
	}
	page, _ := os.ReadFile(filepath.Join(f.root, "public_html", "index.html"))
	if !strings.Contains(string(page), "not enforced: landlock-fs") {
		t.Errorf("index.html does not show what was not enforced")
	}
}

// secureRoot readies f's build root for the secure engine. On an SELinux
// host secure mode is the engine's domain (autobuild_t), which creates
// and writes only folders of the engine's types, not the temporary folder
// the farm lives in (user_tmp_t): the build root is made and labelled
// autobuild_var_lib_t first, as an administrator labels a build root
// outside /var/lib/autobuild (semanage fcontext, or chcon as test/vm
// does). Elsewhere it does nothing: the engine's view binds the build
// root's parent writable.
func secureRoot(t *testing.T, f *farm) {
	t.Helper()
	if !sandbox.ProbeHost().SELinux {
		return
	}
	if err := os.MkdirAll(f.root, 0o755); err != nil {
		t.Fatal(err)
	}
	label, err := selinux.FileLabel(f.root)
	if err != nil {
		t.Fatal(err)
	}
	ctx, err := selinux.NewContext(label)
	if err != nil {
		t.Fatal(err)
	}
	ctx["type"] = "autobuild_var_lib_t"
	if err := selinux.SetFileLabel(f.root, ctx.Get()); err != nil {
		t.Fatalf("label the build root %s: %v", ctx.Get(), err)
	}
}

func TestSecureModeConfinesTheEngine(t *testing.T) {
	requireConfinement(t)
	f := newFarm(t)
	secureRoot(t, f)
	outside := testutil.Dir(t)
	os.Chmod(outside, 0o777)
	// Even an unconfined build inherits the engine's confinement.
	f.repo("m", script(`touch "`+outside+`/escaped" || true; echo ok > "$AUTOBUILD_PACKAGE_ROOT/ok"`))
	f.config("modules:\n  - {name: m, source: {url: repos/m}, trust: unconfined}\n")
	r := ab(t, nil, "run", "--secure", "--config", f.cfg)
	if r.code != 0 {
		t.Fatal(r.dump())
	}
	if _, err := os.Stat(filepath.Join(outside, "escaped")); err == nil {
		t.Errorf("an unconfined build under autobuild-secure wrote outside the build root")
	}
	// Control: without --secure the same build does write there.
	testutil.Commit(t, filepath.Join(f.dir, "repos", "m"), nil)
	if r := f.run(); r.code != 0 {
		t.Fatal(r.dump())
	}
	if _, err := os.Stat(filepath.Join(outside, "escaped")); err != nil {
		t.Errorf("control: the unconfined build could not write outside without --secure")
	}
}

// undoViewScript tries, from an unconfined build, to undo the secure
// engine's view and write the host's /etc: remount /etc read-write,
// unmount it to reach what is below, both again from a mount namespace of
// the build's own, remount / read-write, and write a sysctl through
// /proc. It records "<attack>:ok" in its package root for each that
// worked. With CONTROL set it runs the /etc attacks where nothing locks
// the mounts: on a read-only bind of /etc it makes itself, as real root,
// in a mount namespace of its own (unshare -m).
const undoViewScript = `#!/bin/sh
out="$AUTOBUILD_PACKAGE_ROOT/results"
ok() { echo "$1:ok" >> "$out"; }
case "$1" in
remount) mount -o remount,bind,rw /etc && touch "/etc/$NAME-$2" && ok "$2"; exit 0 ;;
umount) umount /etc && touch "/etc/$NAME-$2" && ok "$2"; exit 0 ;;
protect) mount --bind /etc /etc && mount -o remount,bind,ro /etc || exit 1
  touch "/etc/$NAME-ro" 2>/dev/null && ok ro-write
  "$0" "$2" "$3"; exit 0 ;;
esac
: > "$out"
sysctl() {
  v=$(cat /proc/sys/kernel/printk_ratelimit) && echo "$v" > /proc/sys/kernel/printk_ratelimit && ok sysctl
}
if [ -n "$CONTROL" ]; then
  unshare -m --propagation private "$0" protect remount remount
  unshare -m --propagation private "$0" protect umount umount
  sysctl
  exit 0
fi
touch "/etc/$NAME-ro" && ok ro-write
"$0" remount remount
"$0" umount umount
unshare -m --propagation private "$0" remount nested-remount
unshare -m --propagation private "$0" umount nested-umount
mount -o remount,rw / && touch "/$NAME-root" && ok remount-root
sysctl
exit 0
`

// TestSecureModeViewCannotBeUndone: the secure engine's view is locked.
// An unconfined build is root in the engine's user namespace, with every
// capability there, yet cannot make a read-only mount of its view
// writable, unmount one, or write through the host's /proc; the control
// shows the same commands work where the mounts are not locked, and that
// the sysctl write works without --secure.
func TestSecureModeViewCannotBeUndone(t *testing.T) {
	requireConfinement(t)
	if !sandbox.ProbeHost().UserNS {
		testutil.Skip(t, "secure mode needs user namespaces")
	}
	for _, tool := range []string{"mount", "umount", "unshare"} {
		if _, err := exec.LookPath(tool); err != nil {
			testutil.Skip(t, "needs "+tool+" (util-linux)")
		}
	}
	name := fmt.Sprintf("autobuild-test-%d-%d", os.Getpid(), time.Now().UnixNano())
	t.Cleanup(func() {
		for _, p := range []string{"ro", "remount", "umount", "nested-remount", "nested-umount"} {
			os.Remove(filepath.Join("/etc", name+"-"+p))
		}
		os.Remove("/" + name + "-root")
	})
	run := func(control bool, args ...string) map[string]bool {
		t.Helper()
		f := newFarm(t)
		secureRoot(t, f)
		f.repo("m", map[string]string{"autobuild.sh": undoViewScript})
		ctl := ""
		if control {
			ctl = "1"
		}
		f.config(fmt.Sprintf("modules:\n  - {name: m, source: {url: repos/m}, trust: unconfined, env: [NAME=%s, CONTROL=%s]}\n", name, ctl))
		if r := f.run(args...); r.code != 0 {
			t.Fatal(r.dump())
		}
		b, err := os.ReadFile(filepath.Join(f.root, "package-root", "m", "results"))
		if err != nil {
			t.Fatalf("the build's results are missing: %v", err)
		}
		if testing.Verbose() {
			logs, _ := filepath.Glob(filepath.Join(f.root, "log-root", "*", "m.log"))
			for _, l := range logs {
				b, _ := os.ReadFile(l)
				t.Logf("%s:\n%s", l, b)
			}
		}
		got := map[string]bool{}
		for _, l := range strings.Fields(string(b)) {
			got[strings.TrimSuffix(l, ":ok")] = true
		}
		return got
	}
	onHost := func(p string) bool { _, err := os.Stat(p); return err == nil }

	for attack := range run(false, "--secure") {
		t.Errorf("attack %s succeeded from an unconfined build under --secure", attack)
	}
	for _, p := range []string{"ro", "remount", "umount", "nested-remount", "nested-umount"} {
		if onHost(filepath.Join("/etc", name+"-"+p)) {
			t.Errorf("/etc/%s-%s was written under --secure", name, p)
		}
	}
	if onHost("/" + name + "-root") {
		t.Errorf("/%s-root was written under --secure", name)
	}

	// Control: unlocked, the same remount and unmount reach the host's
	// /etc; and without --secure the sysctl is written.
	got := run(true)
	for _, attack := range []string{"remount", "umount"} {
		if !got[attack] || !onHost(filepath.Join("/etc", name+"-"+attack)) {
			t.Errorf("control: %s of an unlocked read-only /etc did not reach the host's /etc (results %v)", attack, got)
		}
	}
	if got["ro-write"] {
		t.Errorf("control: the read-only bind of /etc was writable as it was: the control proves nothing")
	}
	if onHost("/proc/sys/kernel/printk_ratelimit") && !got["sysctl"] {
		t.Errorf("control: the unconfined build could not write a sysctl without --secure")
	}
}

// TestSecureModeKeepsStepsIsolated runs the hostile suite's isolated farm
// under --secure: every confined step builds its own view inside the
// engine's (a nested mount namespace), the modules build as without
// --secure, and every attack is still denied.
func TestSecureModeKeepsStepsIsolated(t *testing.T) {
	requireConfinement(t)
	if !sandbox.ProbeHost().UserNS {
		testutil.Skip(t, "secure mode needs user namespaces")
	}
	e := hostileFarm(t, "isolated", false)
	secureRoot(t, e.f)
	r := e.f.run("--secure")
	if r.code != 1 {
		t.Fatalf("want exit 1 (bomb and forever fail):\n%s", r.dump())
	}
	st := checkContained(t, e, "under --secure")
	if m := module(st, "attacker"); !slices.Contains(m.Enforced, "mount-namespace") || len(m.Missing) > 0 {
		t.Errorf("attacker: enforced %v, missing %v: want its own view, nothing missing", m.Enforced, m.Missing)
	}
	if b, _ := os.ReadFile(filepath.Join(e.f.root, "public_html", "packages", "bystander", "ok")); string(b) != "fine\n" {
		t.Errorf("bystander's artifact: %q", b)
	}
	if left := procsWithMarker(e.bomb); len(left) > 0 {
		t.Errorf("%d processes of the fork bomb survive", len(left))
	}
}

// TestSecureModeExitCodes: the run's exit codes hold under --secure (the
// engine runs in a child; its code is the run's), and a mark of the
// re-execution set from outside does not pass for the view.
func TestSecureModeExitCodes(t *testing.T) {
	requireConfinement(t)
	if !sandbox.ProbeHost().UserNS {
		testutil.Skip(t, "secure mode needs user namespaces")
	}
	f := newFarm(t)
	secureRoot(t, f)
	repo := f.repo("m", script(`echo ok > "$AUTOBUILD_PACKAGE_ROOT/ok"`))
	f.config("modules:\n  - {name: m, source: {url: repos/m}}\n")
	if r := f.run("--secure"); r.code != exitOK {
		t.Errorf("a good run under --secure: want exit 0:\n%s", r.dump())
	}
	testutil.Commit(t, repo, script(`exit 3`))
	if r := f.run("--secure"); r.code != exitFailed || !strings.Contains(r.stdout, "FAILED m: ") {
		t.Errorf("a failing module under --secure: want exit 1:\n%s", r.dump())
	}
	if sandbox.ProbeHost().SELinux {
		secureMarkSELinux(t, f, repo)
		return
	}
	before, _ := os.Readlink(filepath.Join(f.root, "public_html"))
	for _, mark := range []string{"entered", fmt.Sprintf("entered:%d", os.Getpid())} {
		r := ab(t, []string{"AUTOBUILD_ENGINE_VIEW=" + mark}, "run", "--secure", "--config", f.cfg)
		if r.code != exitConfinement || !strings.Contains(r.stderr, "the engine's view") {
			t.Errorf("a faked mark %q on the host: want exit 4:\n%s", mark, r.dump())
		}
	}
	if after, _ := os.Readlink(filepath.Join(f.root, "public_html")); after != before {
		t.Errorf("a run with a faked mark published a site")
	}
}

// secureMarkSELinux: on an SELinux host secure mode has no view (the
// process re-executes into autobuild_t), so there is no mark to pass for
// one: a faked mark must neither stop the re-execution nor reach the
// engine. An unconfined build runs in the engine's domain and records
// it: autobuild_t with the faked marks too; unconfined_t (the test's own
// domain) without --secure, the control that the record tells them apart.
func secureMarkSELinux(t *testing.T, f *farm, repo string) {
	t.Helper()
	testutil.Commit(t, repo, script(`tr -d '\0' < /proc/self/attr/current > "$AUTOBUILD_PACKAGE_ROOT/context"`))
	f.config("modules:\n  - {name: m, source: {url: repos/m}, trust: unconfined}\n")
	domain := func() string {
		b, _ := os.ReadFile(filepath.Join(f.root, "package-root", "m", "context"))
		ctx, err := selinux.NewContext(strings.TrimSpace(string(b)))
		if err != nil {
			return fmt.Sprintf("%q", b)
		}
		return ctx["type"]
	}
	for _, mark := range []string{"entered", fmt.Sprintf("entered:%d", os.Getpid())} {
		r := ab(t, []string{"AUTOBUILD_ENGINE_VIEW=" + mark}, "run", "--secure", "--force=m", "--config", f.cfg)
		if r.code != exitOK || domain() != sandbox.EngineType {
			t.Errorf("a faked mark %q on an SELinux host: want exit 0 and the build in %s, got %s:\n%s", mark, sandbox.EngineType, domain(), r.dump())
		}
	}
	cur, err := selinux.CurrentLabel()
	if err != nil {
		t.Fatal(err)
	}
	self, _ := selinux.NewContext(cur)
	if r := f.run("--force=m"); r.code != exitOK || domain() != self["type"] {
		t.Errorf("control: without --secure the unconfined build ran in %s, want %s (this test's):\n%s", domain(), self["type"], r.dump())
	}
}

// TestSecureModeSignals: SIGINT to the process cron started reaches the
// engine (exit 130, the previous site kept, the build gone); SIGKILL ends
// the engine with it (the build gone, the lock free for the next run).
func TestSecureModeSignals(t *testing.T) {
	requireConfinement(t)
	if !sandbox.ProbeHost().UserNS {
		testutil.Skip(t, "secure mode needs user namespaces")
	}
	f := newFarm(t)
	secureRoot(t, f)
	marker := newMarker(t)
	repo := f.repo("mod", script(`echo one > "$AUTOBUILD_PACKAGE_ROOT/out"`))
	f.config("modules:\n  - {name: mod, source: {url: repos/mod}, env: [\"" + markerEnvEntry(marker) + "\"]}\n")
	if r := f.run("--secure"); r.code != 0 {
		t.Fatal(r.dump())
	}
	before, _ := os.Readlink(filepath.Join(f.root, "public_html"))
	started := filepath.Join(f.root, "package-root", "mod", "started")
	for i, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGKILL} {
		testutil.Commit(t, repo, script(fmt.Sprintf(`touch "$AUTOBUILD_PACKAGE_ROOT/started"; sleep 30%d`, i)))
		os.Remove(started)
		eng := exec.Command(bin, "run", "--secure", "--config", f.cfg)
		var errb strings.Builder
		eng.Stderr = &errb
		if err := eng.Start(); err != nil {
			t.Fatal(err)
		}
		waitFile(t, started, 30*time.Second)
		start := time.Now()
		eng.Process.Signal(sig)
		err := eng.Wait()
		ee, _ := err.(*exec.ExitError)
		switch {
		case sig == syscall.SIGINT && (ee == nil || ee.ExitCode() != exitInterrupted):
			t.Errorf("SIGINT: %v, want exit 130\n%s", err, errb.String())
		case time.Since(start) > 10*time.Second:
			t.Errorf("%v: the run took %s to stop", sig, time.Since(start))
		}
		if after, _ := os.Readlink(filepath.Join(f.root, "public_html")); after != before {
			t.Errorf("%v: a stopped run published a site", sig)
		}
		if left := waitNoMarker(marker, 5*time.Second); left != "" {
			t.Errorf("%v: the build outlived the stopped run:%s", sig, left)
		}
	}
	testutil.Commit(t, repo, script(`echo three > "$AUTOBUILD_PACKAGE_ROOT/out"`))
	if r := f.run("--secure"); r.code != 0 {
		t.Fatalf("run after the kill (is the lock free?):\n%s", r.dump())
	}
}

func TestCustomLevel(t *testing.T) {
	requireConfinement(t)
	f := newFarm(t)
	shared := testutil.Dir(t)
	os.Chmod(shared, 0o777)
	// "small" is isolated with an extra writable folder and a 1 MiB file
	// size limit: the first write works, the 4 MiB one is stopped.
	f.repo("m", script(`echo ok > "`+shared+`/from-build"
if dd if=/dev/zero of="$TMPDIR/big" bs=1M count=4 2>/dev/null; then echo "big file written"; exit 7; fi
true`))
	f.config(`levels:
  small:
    base: isolated
    write: [` + shared + `]
    limits: {file_size_mb: 1}
modules:
  - {name: m, source: {url: repos/m}, trust: small}
`)
	if r := f.run(); r.code != 0 {
		t.Fatal(r.dump())
	}
	if b, _ := os.ReadFile(filepath.Join(shared, "from-build")); string(b) != "ok\n" {
		t.Errorf("the level's extra writable folder was not writable")
	}
	if m := module(f.status(), "m"); m.Level != "small" {
		t.Errorf("level %q", m.Level)
	}
}

// A build that plants symlinks in its own work tree must not make the
// next checkout (a reset inside the next build step) write outside it.
func TestPlantedSymlinksDoNotEscapeTheReset(t *testing.T) {
	requireConfinement(t)
	f := newFarm(t)
	outside := testutil.Dir(t)
	os.Chmod(outside, 0o777)
	target := filepath.Join(outside, "target")
	os.WriteFile(target, []byte("safe\n"), 0o666)
	os.Chmod(target, 0o666)
	files := script(`if [ -L tracked ]; then echo "reset left the planted symlink"; exit 5; fi
rm -f tracked; ln -s "` + target + `" tracked; ln -s "` + outside + `" dirlink`)
	files["tracked"] = "tracked content\n"
	f.repo("m", files)
	f.config("modules:\n  - {name: m, source: {url: repos/m}}\n")
	f.mustRun()
	if r := f.run("--force"); r.code != 0 {
		t.Fatalf("second build:\n%s", r.dump())
	}
	if b, _ := os.ReadFile(target); string(b) != "safe\n" {
		t.Errorf("the reset wrote through a planted symlink: target now %q", b)
	}
	if ents, _ := os.ReadDir(outside); len(ents) != 1 {
		t.Errorf("files appeared outside the work tree: %v", ents)
	}
}

// TestUnprivilegedEngine runs the engine as an ordinary user, as a build
// farm's "builder" account would: namespaces come from a user namespace,
// and Landlock still keeps a build away from the engine's state.
func TestUnprivilegedEngine(t *testing.T) {
	requireConfinement(t)
	if !sandbox.ProbeHost().UserNS {
		testutil.Skip(t, "needs user namespaces")
	}
	f := newFarm(t)
	f.repo("lib", script(`mkdir -p "$AUTOBUILD_INSTALL_ROOT/usr/lib"; echo lib > "$AUTOBUILD_INSTALL_ROOT/usr/lib/x"`))
	f.repo("app", script(`cat "$AUTOBUILD_DEP_LIB_ROOT/usr/lib/x"
if echo pwned > "$AUTOBUILD_SOURCE_ROOT/../../state/pwned"; then exit 7; fi
if (echo hi > /dev/tcp/127.0.0.1/9) 2>/dev/null; then exit 8; fi
test "$(id -u)" = 65534`))
	f.config("modules:\n  - {name: lib, source: {url: repos/lib}}\n  - {name: app, source: {url: repos/app}, depends: [lib]}\n")
	const nobody = 65534
	if err := filepath.WalkDir(f.dir, func(p string, _ os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(p, nobody, nobody)
	}); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "run", "--config", f.cfg)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: nobody, Gid: nobody}}
	cmd.Env = []string{"PATH=/usr/bin:/bin", "HOME=" + f.dir}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("run as nobody: %v\n%s", err, out)
	}
	st := f.status()
	for _, m := range st.Modules {
		if m.State != report.Built {
			t.Errorf("%s: %s (%s)", m.Name, m.State, m.Reason)
		}
	}
	if _, err := os.Stat(filepath.Join(f.root, "state", "pwned")); err == nil {
		t.Errorf("a build of an unprivileged engine wrote the engine's state")
	}
}

// checkContained: every attack of the hostile farm was denied (by the
// script's account and by its real side effects), the daemon started and
// was contained, and the modules ended as they should. It returns the
// published status for further checks.
func checkContained(t *testing.T, e *attackEnv, where string) *report.Run {
	t.Helper()
	got := e.results(t)
	if !got["i-daemon-started"] {
		t.Errorf("the daemon did not even start: the containment check below proves nothing")
	}
	delete(got, "i-daemon-started") // contained, not denied: checked by the caller
	for attack := range got {
		t.Errorf("attack %s succeeded %s", attack, where)
	}
	for attack, happened := range e.sideEffects() {
		if happened {
			t.Errorf("attack %s left its mark %s", attack, where)
		}
	}
	st := e.f.status()
	want := map[string]report.State{
		"victim": report.Built, "attacker": report.Built, "bystander": report.Built,
		"forever": report.Failed, "bomb": report.Failed,
	}
	for name, s := range want {
		if m := module(st, name); m.State != s {
			t.Errorf("%s: %s (%s), want %s", name, m.State, m.Reason, s)
		}
	}
	return st
}

// slowness is how much slower than an unloaded machine this one starts
// processes now (1 at best): 20 starts of /bin/true against 2 ms each.
// Tests scale the waits they cannot avoid with it (a loaded CI host, an
// emulated VM), never the counts that bound an attack.
func slowness(t *testing.T) float64 {
	t.Helper()
	const n, each = 20, 2 * time.Millisecond
	start := time.Now()
	for range n {
		if err := exec.Command("/bin/true").Run(); err != nil {
			t.Fatal(err)
		}
	}
	f := float64(time.Since(start)) / float64(n*each)
	return min(max(f, 1), 50)
}

// scaled is d scaled by this machine's slowness.
func scaled(t *testing.T, d time.Duration) time.Duration {
	f := slowness(t)
	t.Logf("machine slowness %.1f: %s waits %s", f, d, time.Duration(float64(d)*f).Round(time.Millisecond))
	return time.Duration(float64(d) * f).Round(time.Millisecond)
}
