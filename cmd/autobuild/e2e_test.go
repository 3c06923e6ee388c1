package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/autobuild/autobuild/engine/report"
	"github.com/autobuild/autobuild/internal/testutil"
)

// bin is the autobuild binary the end-to-end tests run: AUTOBUILD_BIN, or
// one built from this package by TestMain.
var bin string

func TestMain(m *testing.M) {
	bin = os.Getenv("AUTOBUILD_BIN")
	if bin == "" {
		dir, err := os.MkdirTemp("", "autobuild-bin-")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
		os.Chmod(dir, 0o755)
		bin = filepath.Join(dir, "autobuild")
		// The engine and, beside it as make installs them, the small
		// sandbox helper its confined steps start as.
		for out, pkg := range map[string]string{bin: ".", filepath.Join(dir, "autobuild-helper"): "../autobuild-helper"} {
			build := exec.Command("go", "build", "-o", out, pkg)
			build.Env = append(os.Environ(), "CGO_ENABLED=0")
			build.Stdout, build.Stderr = os.Stderr, os.Stderr
			if err := build.Run(); err != nil {
				fmt.Fprintln(os.Stderr, "build", pkg+":", err)
				os.Exit(2)
			}
		}
		code := m.Run()
		os.RemoveAll(dir)
		os.Exit(code)
	}
	os.Exit(m.Run())
}

// result is one run of the binary.
type result struct {
	code           int
	stdout, stderr string
}

// ab runs the binary with args and the given extra environment.
func ab(t *testing.T, env []string, args ...string) result {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), env...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return result{code, out.String(), errb.String()}
}

// farm is a test build farm: a folder with repositories and a config.
type farm struct {
	t    *testing.T
	dir  string
	cfg  string
	root string
}

func newFarm(t *testing.T) *farm {
	d := testutil.Dir(t)
	return &farm{t: t, dir: d, cfg: filepath.Join(d, "autobuild.yaml"), root: filepath.Join(d, "build")}
}

func (f *farm) repo(name string, files map[string]string) string {
	return testutil.Repo(f.t, filepath.Join(f.dir, "repos"), name, files)
}

func (f *farm) config(body string) {
	f.t.Helper()
	if err := os.WriteFile(f.cfg, []byte("build_root: build\n"+body), 0o644); err != nil {
		f.t.Fatal(err)
	}
}

func (f *farm) run(args ...string) result {
	f.t.Helper()
	return ab(f.t, nil, append([]string{"run", "--config", f.cfg}, args...)...)
}

// status reads the live site's status.json.
func (f *farm) status() *report.Run {
	f.t.Helper()
	b, err := os.ReadFile(filepath.Join(f.root, "public_html", "status.json"))
	if err != nil {
		f.t.Fatal(err)
	}
	var r report.Run
	if err := json.Unmarshal(b, &r); err != nil {
		f.t.Fatal(err)
	}
	return &r
}

func (r *result) dump() string {
	return fmt.Sprintf("exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
}

func module(r *report.Run, name string) report.Module {
	for _, m := range r.Modules {
		if m.Name == name {
			return m
		}
	}
	return report.Module{}
}

// script is a build script body with the usual prologue.
func script(body string) map[string]string {
	return map[string]string{"autobuild.sh": "#!/bin/sh\nset -eu\n" + body + "\n"}
}

func TestDiamond(t *testing.T) {
	f := newFarm(t)
	f.repo("lib", script(`mkdir -p "$AUTOBUILD_INSTALL_ROOT/usr/lib" && echo libdata > "$AUTOBUILD_INSTALL_ROOT/usr/lib/lib.txt"
echo pkg > "$AUTOBUILD_PACKAGE_ROOT/lib-1.tar"`))
	for _, mid := range []string{"left", "right"} {
		f.repo(mid, script(`cat "$AUTOBUILD_DEP_LIB_ROOT/usr/lib/lib.txt" > /dev/null
mkdir -p "$AUTOBUILD_INSTALL_ROOT/usr/bin" && printf '#!/bin/sh\necho `+mid+`\n' > "$AUTOBUILD_INSTALL_ROOT/usr/bin/`+mid+`" && chmod +x "$AUTOBUILD_INSTALL_ROOT/usr/bin/`+mid+`"`))
	}
	// app sees all three install roots: the transitive one too, and the
	// programs of its dependencies on PATH.
	f.repo("app", script(`test "$(left)" = left && test "$(right)" = right
cat "$AUTOBUILD_DEP_LIB_ROOT/usr/lib/lib.txt"
echo "$AUTOBUILD_DEP_ROOTS" | tr : '\n' | wc -l > "$AUTOBUILD_PACKAGE_ROOT/ndeps"
echo "$AUTOBUILD_MODULE $AUTOBUILD_COUNTER" > "$AUTOBUILD_PACKAGE_ROOT/who"`))
	f.config(`modules:
  - {name: app, source: {url: repos/app}, depends: [left, right]}
  - {name: left, source: {url: repos/left}, depends: [lib]}
  - {name: right, source: {url: repos/right}, depends: [lib]}
  - {name: lib, source: {url: repos/lib}}
`)
	r := f.run()
	if r.code != 0 {
		t.Fatal(r.dump())
	}
	st := f.status()
	for _, m := range st.Modules {
		if m.State != report.Built {
			t.Errorf("%s: %s (%s)", m.Name, m.State, m.Reason)
		}
	}
	who, _ := os.ReadFile(filepath.Join(f.root, "public_html", "packages", "app", "who"))
	ndeps, _ := os.ReadFile(filepath.Join(f.root, "public_html", "packages", "app", "ndeps"))
	if strings.TrimSpace(string(who)) != "app 1" || strings.TrimSpace(string(ndeps)) != "3" {
		t.Errorf("app's packages: who=%q ndeps=%q", who, ndeps)
	}
	if _, err := os.Stat(filepath.Join(f.root, "public_html", "packages", "lib", "lib-1.tar")); err != nil {
		t.Errorf("lib's artifact not published: %v", err)
	}
	page, _ := os.ReadFile(filepath.Join(f.root, "public_html", "index.html"))
	if !strings.Contains(string(page), "all modules built") || !strings.Contains(string(page), `href="logs/app.log"`) {
		t.Errorf("index.html lacks the verdict or the log link:\n%s", page)
	}
}

func TestFailureSkipsDependents(t *testing.T) {
	f := newFarm(t)
	f.repo("lib", script(`echo "compiling…"; echo "error: boom" >&2; exit 3`))
	f.repo("app", script(`true`))
	f.repo("tool", script(`true`))
	f.repo("other", script(`true`))
	f.config(`modules:
  - {name: lib, source: {url: repos/lib}}
  - {name: app, source: {url: repos/app}, depends: [lib]}
  - {name: tool, source: {url: repos/tool}, depends: [app]}
  - {name: other, source: {url: repos/other}}
`)
	r := f.run()
	if r.code != 1 {
		t.Fatalf("want exit 1:\n%s", r.dump())
	}
	st := f.status()
	want := map[string]struct {
		state  report.State
		reason string
	}{
		"lib":   {report.Failed, "exit status 3"},
		"app":   {report.Skipped, "dependency lib failed"},
		"tool":  {report.Skipped, "dependency lib failed"},
		"other": {report.Built, ""},
	}
	for name, w := range want {
		m := module(st, name)
		if m.State != w.state || !strings.Contains(m.Reason, w.reason) {
			t.Errorf("%s: %s %q, want %s %q", name, m.State, m.Reason, w.state, w.reason)
		}
	}
	log, err := os.ReadFile(filepath.Join(f.root, "public_html", module(st, "lib").Log))
	if err != nil || !strings.Contains(string(log), "error: boom") {
		t.Errorf("lib's published log lacks its output (%v):\n%s", err, log)
	}
}

func TestNewCommitIsPickedUp(t *testing.T) {
	f := newFarm(t)
	lib := f.repo("lib", script(`cp version "$AUTOBUILD_PACKAGE_ROOT/"`))
	testutil.Commit(t, lib, map[string]string{"version": "1\n"})
	f.repo("other", script(`true`))
	f.config(`modules:
  - {name: lib, source: {url: repos/lib, branch: main}}
  - {name: other, source: {url: repos/other}}
`)
	if r := f.run(); r.code != 0 {
		t.Fatal(r.dump())
	}
	rev := testutil.Commit(t, lib, map[string]string{"version": "2\n"})
	if r := f.run(); r.code != 0 {
		t.Fatal(r.dump())
	}
	st := f.status()
	if m := module(st, "lib"); m.State != report.Built || m.Revision != rev {
		t.Errorf("lib: %s at %s, want built at %s", m.State, m.Revision, rev)
	}
	if m := module(st, "other"); m.State != report.Reused {
		t.Errorf("other: %s, want reused", m.State)
	}
	v, _ := os.ReadFile(filepath.Join(f.root, "public_html", "packages", "lib", "version"))
	if string(v) != "2\n" {
		t.Errorf("published version %q, want 2", v)
	}
	// The work tree holds exactly the new commit.
	src, _ := os.ReadFile(filepath.Join(f.root, "source-root", "lib", "version"))
	if string(src) != "2\n" {
		t.Errorf("checkout holds %q", src)
	}
}

// waitFile waits until path exists.
func waitFile(t *testing.T, path string, limit time.Duration) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) {
		if _, err := os.Stat(path); err == nil {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("%s did not appear within %s", path, limit)
}

func TestConcurrentRunsAndTheLock(t *testing.T) {
	f := newFarm(t)
	// The build says it started (in its own package root), then waits.
	f.repo("slow", script(`touch "$AUTOBUILD_PACKAGE_ROOT/started"; sleep 3`))
	f.config(`modules:
  - {name: slow, source: {url: repos/slow}}
`)
	first := exec.Command(bin, "run", "--config", f.cfg)
	if err := first.Start(); err != nil {
		t.Fatal(err)
	}
	waitFile(t, filepath.Join(f.root, "package-root", "slow", "started"), 30*time.Second)
	start := time.Now()
	second := f.run()
	// The holder is alive and young: exit 3, and nothing for cron to mail.
	if second.code != 3 || second.stdout != "" || second.stderr != "" {
		t.Errorf("second run: want exit 3 and no output:\n%s", second.dump())
	}
	if time.Since(start) > 2*time.Second {
		t.Errorf("second run waited %s instead of exiting at once", time.Since(start))
	}
	if err := first.Wait(); err != nil {
		t.Fatalf("first run: %v", err)
	}
	if r := f.run(); r.code != 0 {
		t.Errorf("third run after the first ended:\n%s", r.dump())
	}
}

func TestKilledRunKeepsPreviousSite(t *testing.T) {
	f := newFarm(t)
	marker := newMarker(t)
	repo := f.repo("mod", script(`echo one > "$AUTOBUILD_PACKAGE_ROOT/out"`))
	f.config(`modules:
  - {name: mod, source: {url: repos/mod}, env: ["` + markerEnvEntry(marker) + `"]}
`)
	if r := f.run(); r.code != 0 {
		t.Fatal(r.dump())
	}
	before, _ := os.Readlink(filepath.Join(f.root, "public_html"))

	// Run 2 builds a new commit whose build starts a daemon and hangs;
	// the engine is killed with SIGKILL in the middle.
	testutil.Commit(t, repo, script(`(sleep 300 & echo $! > "$AUTOBUILD_PACKAGE_ROOT/daemon.pid") ; touch "$AUTOBUILD_PACKAGE_ROOT/started"; sleep 300`))
	eng := exec.Command(bin, "run", "--config", f.cfg)
	if err := eng.Start(); err != nil {
		t.Fatal(err)
	}
	waitFile(t, filepath.Join(f.root, "package-root", "mod", "started"), 30*time.Second)
	eng.Process.Signal(syscall.SIGKILL)
	eng.Wait()

	after, _ := os.Readlink(filepath.Join(f.root, "public_html"))
	if after != before {
		t.Errorf("public_html moved from %s to %s by a killed run", before, after)
	}
	if st := f.status(); st.Counter != 1 || module(st, "mod").State != report.Built {
		t.Errorf("live site is run %d, want run 1 intact", st.Counter)
	}
	out, _ := os.ReadFile(filepath.Join(f.root, "public_html", "packages", "mod", "out"))
	if string(out) != "one\n" {
		t.Errorf("published artifact changed to %q", out)
	}
	// The build's processes died with the engine.
	if left := waitNoMarker(marker, 2*time.Second); left != "" {
		t.Errorf("build processes outlived the killed engine:%s", left)
	}

	testutil.Commit(t, repo, script(`echo three > "$AUTOBUILD_PACKAGE_ROOT/out"`))
	if r := f.run(); r.code != 0 {
		t.Fatalf("run after the kill:\n%s", r.dump())
	}
	if st := f.status(); st.Counter != 3 || module(st, "mod").State != report.Built {
		t.Errorf("after recovery: run %d, mod %s", st.Counter, module(st, "mod").State)
	}
}

func TestConfigErrors(t *testing.T) {
	tests := []struct {
		name, body, want string
	}{
		{"unknown key", "modules:\n  - name: a\n    source: {url: /x}\n    colour: red\n", ":4: modules[0].colour: unknown key"},
		{"duplicate", "modules:\n  - {name: a, source: {url: /x}}\n  - {name: a, source: {url: /y}}\n", ":3: modules[1].name: module \"a\" is defined twice"},
		{"unknown dependency", "modules:\n  - {name: a, source: {url: /x}, depends: [zz]}\n", "modules[0].depends[0]: module \"a\" depends on unknown module \"zz\""},
		{"cycle", "modules:\n  - {name: a, source: {url: /x}, depends: [b]}\n  - {name: b, source: {url: /y}, depends: [c]}\n  - {name: c, source: {url: /z}, depends: [a]}\n", "dependency cycle: a → b → c → a"},
		{"bad value", "workers: many\nmodules:\n  - {name: a, source: {url: /x}}\n", ":1: workers:"},
		{"bad trust", "modules:\n  - {name: a, source: {url: /x}, trust: god}\n", `modules[0].trust: unknown trust level "god"`},
		{"bad timeout", "modules:\n  - {name: a, source: {url: /x}, timeout: forever}\n", "modules[0].timeout"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := testutil.Dir(t)
			cfg := filepath.Join(dir, "bad.yaml")
			os.WriteFile(cfg, []byte(tt.body), 0o644)
			r := ab(t, nil, "run", "--config", cfg)
			if r.code != 2 || !strings.Contains(r.stderr, cfg) || !strings.Contains(r.stderr, tt.want) {
				t.Errorf("want exit 2 and %q naming %s:\n%s", tt.want, cfg, r.dump())
			}
			if _, err := os.Stat(filepath.Join(dir, "build")); err == nil {
				t.Errorf("a config error touched the disk")
			}
		})
	}
	r := ab(t, nil, "run", "--config", "/nonexistent/autobuild.yaml")
	if r.code != 2 || !strings.Contains(r.stderr, "/nonexistent/autobuild.yaml: no such file") {
		t.Errorf("missing config:\n%s", r.dump())
	}
	r = ab(t, nil, "run", "--bogus-flag")
	if r.code != 2 {
		t.Errorf("bad flag: %s", r.dump())
	}
}

func TestTimeoutKillsTheTree(t *testing.T) {
	f := newFarm(t)
	marker := newMarker(t)
	f.repo("hang", script(`sleep 1000 & sleep 1000`))
	f.repo("ok", script(`true`))
	f.config(`modules:
  - {name: hang, source: {url: repos/hang}, timeout: 1s, env: ["` + markerEnvEntry(marker) + `"]}
  - {name: ok, source: {url: repos/ok}}
`)
	r := f.run()
	if r.code != 1 {
		t.Fatal(r.dump())
	}
	if m := module(f.status(), "hang"); m.State != report.Failed || !strings.Contains(m.Reason, "timed out after 1s") {
		t.Errorf("hang: %s %q", m.State, m.Reason)
	}
	if left := procsWithMarker(marker); len(left) > 0 {
		t.Errorf("processes of the timed-out build are still alive: %v", left)
	}
}

func TestInterruptedRunKeepsPreviousSite(t *testing.T) {
	f := newFarm(t)
	marker := newMarker(t)
	repo := f.repo("mod", script(`echo one > "$AUTOBUILD_PACKAGE_ROOT/out"`))
	f.config("modules:\n  - {name: mod, source: {url: repos/mod}, env: [\"" + markerEnvEntry(marker) + "\"]}\n")
	if r := f.run(); r.code != 0 {
		t.Fatal(r.dump())
	}
	before, _ := os.Readlink(filepath.Join(f.root, "public_html"))
	testutil.Commit(t, repo, script(`touch "$AUTOBUILD_PACKAGE_ROOT/started"; sleep 300`))
	eng := exec.Command(bin, "run", "--config", f.cfg)
	var errb bytes.Buffer
	eng.Stderr = &errb
	if err := eng.Start(); err != nil {
		t.Fatal(err)
	}
	waitFile(t, filepath.Join(f.root, "package-root", "mod", "started"), 30*time.Second)
	start := time.Now()
	eng.Process.Signal(syscall.SIGINT)
	err := eng.Wait()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 130 {
		t.Errorf("interrupted run: %v, want exit 130\n%s", err, errb.String())
	}
	if time.Since(start) > 10*time.Second {
		t.Errorf("the run took %s to stop after SIGINT", time.Since(start))
	}
	if after, _ := os.Readlink(filepath.Join(f.root, "public_html")); after != before {
		t.Errorf("an interrupted run published a site")
	}
	if left := procsWithMarker(marker); len(left) > 0 {
		t.Errorf("the build outlived the interrupted run: %v", left)
	}
}
