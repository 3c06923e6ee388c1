package main

import (
	"crypto/sha256"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/opencontainers/selinux/go-selinux"

	"github.com/autobuild/autobuild/engine/report"
	"github.com/autobuild/autobuild/internal/testutil"
	"github.com/autobuild/autobuild/sandbox"
)

// Test-AutoBuild's build scripts, as its manual (auto-build(1), "CONTROL
// FILE EXAMPLES") shows them: configure with --prefix=$AUTOBUILD_INSTALL_ROOT,
// make, make install; a program finds its library's header and archive
// with -I$AUTOBUILD_INSTALL_ROOT/include and -L$AUTOBUILD_INSTALL_ROOT/lib,
// where Test-AutoBuild's shared install root held them.
const (
	tabConfigure = `#!/bin/sh
# configure: the usual --prefix=DIR.
prefix=/usr/local
for arg; do
  case $arg in
    --prefix=*) prefix=${arg#--prefix=} ;;
  esac
done
echo "prefix = $prefix" > config.mk
echo "configured for $prefix"
`
	tabLibScript = `#!/bin/sh

set -e

# Pull in config scripts
PATH=$AUTOBUILD_INSTALL_ROOT/bin:$PATH
export PATH

# Clean up build area
[ -f config.mk ] && make -k clean ||:

# Configure the build
./configure --prefix=$AUTOBUILD_INSTALL_ROOT

# Make & install
make
make install
`
	tabLibMakefile = "include config.mk\n" +
		"all: libp.a\n" +
		"libp.a: p.c p.h\n\t$(CC) $(CFLAGS) -c p.c -o p.o\n\tar rcs libp.a p.o\n" +
		"install: libp.a\n\tmkdir -p $(prefix)/lib $(prefix)/include\n\tcp libp.a $(prefix)/lib/\n\tcp p.h $(prefix)/include/\n" +
		"clean:\n\trm -f p.o libp.a config.mk\n"
	tabAppScript = `#!/bin/sh

set -e

CFLAGS=-I$AUTOBUILD_INSTALL_ROOT/include
LDFLAGS=-L$AUTOBUILD_INSTALL_ROOT/lib
export CFLAGS LDFLAGS

./configure --prefix=$AUTOBUILD_INSTALL_ROOT

make
make install
`
	tabAppMakefile = "include config.mk\n" +
		"all: prog\n" +
		"prog: main.c\n\t$(CC) $(CFLAGS) -o prog main.c $(LDFLAGS) -lp\n" +
		"install: prog\n\tmkdir -p $(prefix)/bin $(prefix)/lib/pkgconfig\n\tcp prog $(prefix)/bin/\n\tcp app.pc $(prefix)/lib/pkgconfig/\n"
)

// tabRepo makes a module's repository whose configure is executable.
func (f *farm) tabRepo(name string, files map[string]string) string {
	f.t.Helper()
	files["configure"] = tabConfigure
	repo := f.repo(name, files)
	if err := os.Chmod(filepath.Join(repo, "configure"), 0o755); err != nil {
		f.t.Fatal(err)
	}
	testutil.Git(f.t, repo, "add", "-A")
	testutil.Git(f.t, repo, "commit", "-q", "-m", "configure is a program")
	return repo
}

// tabLibrary and tabProgram are the two modules: a C library, and a
// program that links it.
func (f *farm) tabLibrary() {
	f.tabRepo("lib", map[string]string{
		"autobuild.sh": tabLibScript, "Makefile": tabLibMakefile,
		"p.h": "int p_answer(void);\n", "p.c": "#include \"p.h\"\nint p_answer(void) { return 42; }\n",
	})
}

func (f *farm) tabProgram(main string) string {
	return f.tabRepo("app", map[string]string{
		"autobuild.sh": tabAppScript, "Makefile": tabAppMakefile, "main.c": main, "app.pc": "Name: app\n",
	})
}

// appFiles are what the program installs: beside its own folder, one in
// the library's lib/ folder.
var appFiles = []string{"bin", "bin/prog", "lib", "lib/pkgconfig", "lib/pkgconfig/app.pc"}

const tabMain = "#include <stdio.h>\n#include <p.h>\nint main(void) { printf(\"answer %d\\n\", p_answer()); return 0; }\n"

// needCompiler skips where there is no C compiler or make (.ci/run
// installs both).
func needCompiler(t *testing.T) {
	for _, tool := range []string{"cc", "make", "ar"} {
		if _, err := exec.LookPath(tool); err != nil {
			testutil.Skip(t, tool+" is not installed")
		}
	}
}

// snapshot describes every file under root: type, mode, owner, inode,
// modification time, content hash, extended attributes (but SELinux's)
// and device numbers. Equal snapshots: nothing there changed, nor was
// replaced.
func snapshot(t *testing.T, root string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		var st unix.Stat_t
		if err := unix.Lstat(p, &st); err != nil {
			return err
		}
		desc := fmt.Sprintf("%o %d:%d ino %d mtime %d.%d", st.Mode, st.Uid, st.Gid, st.Ino, st.Mtim.Sec, st.Mtim.Nsec)
		if x := xattrs(p); len(x) > 0 {
			desc += " xattrs " + strings.Join(x, ",")
		}
		switch st.Mode & unix.S_IFMT {
		case unix.S_IFREG:
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			desc += fmt.Sprintf(" sha256 %x", sha256.Sum256(b))
		case unix.S_IFCHR, unix.S_IFBLK:
			desc += fmt.Sprintf(" device %d", st.Rdev)
		}
		out[rel] = desc
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// xattrs are the extended attributes of p, but SELinux's.
func xattrs(p string) []string {
	size, err := unix.Llistxattr(p, nil)
	if err != nil || size == 0 {
		return nil
	}
	buf := make([]byte, size)
	n, _ := unix.Llistxattr(p, buf)
	var out []string
	for _, x := range strings.Split(strings.TrimRight(string(buf[:n]), "\x00"), "\x00") {
		if x != "" && !strings.HasPrefix(x, "security.") {
			out = append(out, x)
		}
	}
	sort.Strings(out)
	return out
}

// files lists the paths under root, sorted, and fails on anything an
// overlay leaves behind (a character device, an overlay's extended
// attribute).
func files(t *testing.T, root string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		if d.Type()&fs.ModeCharDevice != 0 || d.Type()&fs.ModeDevice != 0 {
			t.Errorf("%s: %s is a device (an overlay's whiteout?)", root, rel)
		}
		for _, x := range xattrs(p) {
			if strings.Contains(x, "overlay.") {
				t.Errorf("%s: %s carries the overlay's mark %s", root, rel, x)
			}
		}
		if rel != "." {
			out = append(out, rel)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(out)
	return out
}

// A library and a program whose scripts are Test-AutoBuild's, unchanged,
// build: the program finds the library's header and archive in its own
// install root, installs beside them (into the library's lib/ folder
// too), and its install root holds only what it installed afterwards; the library's
// install root is not touched by the program's build. With Test-AutoBuild's
// time counter (a new value every run), a run with no change still reuses
// both. The control: with install_root: own, the same program script
// cannot find the header.
func TestTestAutoBuildScripts(t *testing.T) {
	needCompiler(t)
	f := newFarm(t)
	f.tabLibrary()
	app := f.tabProgram(tabMain)
	f.config(`counter: time
timestamp_format: epoch
modules:
  - {name: lib, source: {url: repos/lib}}
  - {name: app, source: {url: repos/app}, depends: [lib]}
`)
	r := f.run()
	if r.code != 0 {
		t.Fatalf("run:\n%s", r.dump())
	}
	for _, m := range f.status().Modules {
		if m.State != report.Built {
			t.Errorf("%s: %s (%s)", m.Name, m.State, m.Reason)
		}
	}
	libRoot, appRoot := filepath.Join(f.root, "install-root", "lib"), filepath.Join(f.root, "install-root", "app")
	if got, want := files(t, libRoot), []string{"include", "include/p.h", "lib", "lib/libp.a"}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("lib's install root holds %q, want %q", got, want)
	}
	if got, want := files(t, appRoot), appFiles; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("app's install root holds %q, want only what its build installed, %q", got, want)
	}
	if out, err := exec.Command(filepath.Join(appRoot, "bin", "prog")).Output(); err != nil || string(out) != "answer 42\n" {
		t.Errorf("the program prints %q (%v), want the library's answer", out, err)
	}

	// The program changes: only it builds, over the library's install
	// root, which stays exactly as it was.
	before := snapshot(t, libRoot)
	testutil.Commit(t, app, map[string]string{"main.c": strings.Replace(tabMain, "answer", "the answer", 1)})
	if r := f.run(); r.code != 0 {
		t.Fatalf("second run:\n%s", r.dump())
	}
	st := f.status()
	if lib, a := module(st, "lib"), module(st, "app"); lib.State != report.Reused || a.State != report.Built {
		t.Errorf("second run: lib %s, app %s; want lib reused, app built", lib.State, a.State)
	}
	if after := snapshot(t, libRoot); fmt.Sprint(after) != fmt.Sprint(before) {
		t.Errorf("the program's build changed the library's install root:\nbefore %q\nafter  %q", before, after)
	}
	if out, _ := exec.Command(filepath.Join(appRoot, "bin", "prog")).Output(); string(out) != "the answer 42\n" {
		t.Errorf("the rebuilt program prints %q", out)
	}

	// Nothing changed: both reused, though the counter did.
	if r := f.run(); r.code != 0 {
		t.Fatalf("third run:\n%s", r.dump())
	}
	for _, m := range f.status().Modules {
		if m.State != report.Reused {
			t.Errorf("a run with no change: %s %s (%s), want reused", m.Name, m.State, m.Reason)
		}
	}

	// The control: the program's own install root only.
	f.config(`modules:
  - {name: lib, source: {url: repos/lib}}
  - {name: app, source: {url: repos/app}, depends: [lib], install_root: own}
`)
	r = f.run()
	if r.code != 1 || module(f.status(), "app").State != report.Failed {
		t.Fatalf("control: app with install_root: own did not fail:\n%s", r.dump())
	}
	log, _ := os.ReadFile(filepath.Join(f.root, "public_html", module(f.status(), "app").Log))
	if !strings.Contains(string(log), "p.h") {
		t.Errorf("control: app's log does not say what it missed:\n%s", log)
	}
}

// A hostile program script deletes and replaces the library's files in
// its merged install root, and tries its install root by the library's
// own path: the library's install root does not change; the program's
// holds what it wrote, as plain files (no whiteout, no overlay mark),
// which the archive keeps and restores. The control (unconfined, by the
// library's own path) shows the snapshot sees such a change.
func TestTestAutoBuildHostileScript(t *testing.T) {
	needCompiler(t)
	f := newFarm(t)
	f.tabLibrary()
	f.repo("evil", script(`I=$AUTOBUILD_INSTALL_ROOT
rm -f "$I/include/p.h" && echo deleted-p.h
echo evil > "$I/lib.tmp" && mv "$I/lib.tmp" "$I/lib/libp.a" && echo replaced-libp.a
rm -rf "$I/lib" && mkdir "$I/lib" && echo own > "$I/lib/own.a" && echo emptied-lib
echo evil > "$AUTOBUILD_DEP_LIB_ROOT/include/p.h" 2>/dev/null && echo WROTE-THE-LIBRARY
rm -f "$AUTOBUILD_DEP_LIB_ROOT/lib/libp.a" 2>/dev/null && [ ! -e "$AUTOBUILD_DEP_LIB_ROOT/lib/libp.a" ] && echo DELETED-FROM-THE-LIBRARY
true`))
	// The library first, alone: its install root as it built it.
	f.config("modules:\n  - {name: lib, source: {url: repos/lib}}\n")
	if r := f.run(); r.code != 0 {
		t.Fatalf("run:\n%s", r.dump())
	}
	libRoot, evilRoot := filepath.Join(f.root, "install-root", "lib"), filepath.Join(f.root, "install-root", "evil")
	before := snapshot(t, libRoot)
	f.config(`modules:
  - {name: lib, source: {url: repos/lib}}
  - {name: evil, source: {url: repos/evil}, depends: [lib]}
`)
	if r := f.run(); r.code != 0 {
		t.Fatalf("run:\n%s", r.dump())
	}
	st := f.status()
	if module(st, "lib").State != report.Reused || module(st, "evil").State != report.Built {
		t.Fatalf("lib %s, evil %s (%s)", module(st, "lib").State, module(st, "evil").State, module(st, "evil").Reason)
	}
	log, _ := os.ReadFile(filepath.Join(f.root, "public_html", module(st, "evil").Log))
	// In the merged view a build may delete or replace a dependency's
	// file (its own upper layer records it), but not where SELinux
	// enforces: the file keeps its dependency's read-only label there.
	wantOwn := []string{"lib", "lib/own.a"}
	if selinux.GetEnabled() {
		wantOwn = []string{"lib.tmp"}
		if !strings.Contains(string(log), "cannot remove") {
			t.Errorf("under SELinux, the build's deletion of a dependency's file was not refused:\n%s", log)
		}
	}
	for _, w := range []string{"deleted-p.h", "replaced-libp.a", "emptied-lib"} {
		if did := strings.Contains(string(log), w); did == selinux.GetEnabled() {
			t.Errorf("the build changed its merged view (%s): %v, want %v:\n%s", w, did, !did, log)
		}
	}
	if strings.Contains(string(log), "WROTE-THE-LIBRARY") || strings.Contains(string(log), "DELETED-FROM-THE-LIBRARY") {
		t.Errorf("the build wrote the library's install root by its path:\n%s", log)
	}
	if got, want := files(t, evilRoot), wantOwn; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("evil's install root holds %q, want %q", got, want)
	}
	if after := snapshot(t, libRoot); fmt.Sprint(after) != fmt.Sprint(before) {
		t.Errorf("the hostile build changed the library's install root:\nbefore %q\nafter  %q", before, after)
	}

	// The archive keeps what the build wrote: with its install root
	// gone, the module is restored from it, and holds the same.
	if err := os.RemoveAll(evilRoot); err != nil {
		t.Fatal(err)
	}
	if r := f.run(); r.code != 0 {
		t.Fatalf("restore run:\n%s", r.dump())
	}
	if e := module(f.status(), "evil"); e.State != report.Reused {
		t.Errorf("evil: %s (%s), want restored from the archive", e.State, e.Reason)
	}
	if got, want := files(t, evilRoot), wantOwn; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("restored, evil's install root holds %q, want %q", got, want)
	}
	if after := snapshot(t, libRoot); fmt.Sprint(after) != fmt.Sprint(before) {
		t.Errorf("the library's install root changed:\nbefore %q\nafter  %q", before, after)
	}

	// The control: unconfined, by the library's own path, the same
	// script changes the library, and the snapshot shows it.
	f.config(`modules:
  - {name: lib, source: {url: repos/lib}}
  - {name: evil, source: {url: repos/evil}, depends: [lib], trust: unconfined}
`)
	if r := f.run(); r.code != 0 {
		t.Fatalf("control run:\n%s", r.dump())
	}
	if after := snapshot(t, libRoot); fmt.Sprint(after) == fmt.Sprint(before) {
		t.Errorf("control (unconfined): the library's install root did not change, so the check proves nothing")
	}
}

// envScript writes Test-AutoBuild's variables (and two of the
// configuration's) into the module's package folder.
const envScript = `for v in AUTO_BUILD_ROOT AUTO_BUILD_COUNTER AUTOBUILD_COUNTER AUTOBUILD_TIMESTAMP AUTOBUILD_INSTALL_ROOT AUTOBUILD_PACKAGE_ROOT AUTOBUILD_SOURCE_ROOT AUTOBUILD_MODULE GLOBAL OWN; do
  eval "echo $v=\${$v-unset}"
done > "$AUTOBUILD_PACKAGE_ROOT/env"`

// readEnv reads what envScript wrote for module m.
func (f *farm) readEnv(m string) map[string]string {
	f.t.Helper()
	b, err := os.ReadFile(filepath.Join(f.root, "package-root", m, "env"))
	if err != nil {
		f.t.Fatal(err)
	}
	out := map[string]string{}
	for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		k, v, _ := strings.Cut(l, "=")
		out[k] = v
	}
	return out
}

// Every name Test-AutoBuild's build stage set, with its meaning, under
// each counter: the engine's run counter (the default), time (the run's
// start), timestamp (the time the sources are as of), changelist (the
// newest revision number: Subversion's); the timestamp in RFC 3339 or,
// as Test-AutoBuild wrote it, in seconds since the epoch; the global env
// under the module's own.
func TestTestAutoBuildEnvironment(t *testing.T) {
	f := newFarm(t)
	f.repo("env", script(envScript))
	repo := filepath.Join(f.dir, "repos", "svnmod")
	svnTool(t, f.dir, "svnadmin", "create", repo)
	svnTool(t, f.dir, "svn", "mkdir", "-m", "layout", "file://"+repo+"/trunk")
	wc := filepath.Join(t.TempDir(), "wc")
	svnTool(t, f.dir, "svn", "checkout", "file://"+repo+"/trunk", wc)
	if err := os.WriteFile(filepath.Join(wc, "autobuild.sh"), []byte("#!/bin/sh\ntrue\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	svnTool(t, wc, "svn", "add", "autobuild.sh")
	svnTool(t, wc, "svn", "propset", "svn:executable", "on", "autobuild.sh")
	svnTool(t, wc, "svn", "commit", "-m", "first") // r2
	modules := `env: [GLOBAL=everyone, OWN=global]
modules:
  - {name: env, source: {url: repos/env}, env: [OWN=module]}
  - {name: svnmod, source: {kind: svn, url: "file://` + repo + `"}}
`
	check := func(mode string, counter func(string) bool, timestamp func(string) bool) {
		t.Helper()
		e := f.readEnv("env")
		root := filepath.Join(f.root, "install-root", "env")
		want := map[string]string{
			"AUTO_BUILD_ROOT": root, "AUTOBUILD_INSTALL_ROOT": root, "AUTOBUILD_PACKAGE_ROOT": filepath.Join(f.root, "package-root", "env"),
			"AUTOBUILD_SOURCE_ROOT": filepath.Join(f.root, "source-root", "env"), "AUTOBUILD_MODULE": "env",
			"GLOBAL": "everyone", "OWN": "module",
		}
		for k, w := range want {
			if e[k] != w {
				t.Errorf("%s: %s=%q, want %q", mode, k, e[k], w)
			}
		}
		if e["AUTO_BUILD_COUNTER"] != e["AUTOBUILD_COUNTER"] || !counter(e["AUTOBUILD_COUNTER"]) {
			t.Errorf("%s: AUTOBUILD_COUNTER=%q, AUTO_BUILD_COUNTER=%q", mode, e["AUTOBUILD_COUNTER"], e["AUTO_BUILD_COUNTER"])
		}
		if !timestamp(e["AUTOBUILD_TIMESTAMP"]) {
			t.Errorf("%s: AUTOBUILD_TIMESTAMP=%q", mode, e["AUTOBUILD_TIMESTAMP"])
		}
	}
	is := func(want string) func(string) bool { return func(s string) bool { return s == want } }
	epochWithin := func(from, to time.Time) func(string) bool {
		return func(s string) bool {
			n, err := strconv.ParseInt(s, 10, 64)
			return err == nil && n >= from.Unix() && n <= to.Unix()
		}
	}
	rfc3339 := func(s string) bool {
		_, err := time.Parse(time.RFC3339, s)
		return err == nil && strings.HasSuffix(s, "Z")
	}
	run := func(config string, args ...string) (time.Time, time.Time) {
		t.Helper()
		f.config(config + modules)
		if len(args) > 0 {
			// As of a time: git's commits have whole seconds, which the
			// time covers; Subversion's do not.
			f.config(config + strings.Split(modules, "  - {name: svnmod")[0])
		}
		from := time.Now()
		r := f.run(append([]string{"--force=env"}, args...)...)
		if r.code != 0 {
			t.Fatalf("run:\n%s", r.dump())
		}
		return from, time.Now()
	}

	run("")
	check("run", is("1"), rfc3339)
	from, to := run("counter: time\ntimestamp_format: epoch\n")
	check("time", epochWithin(from, to), epochWithin(from, to))
	asOf := time.Now().Unix()
	run("counter: timestamp\ntimestamp_format: epoch\n", "--timestamp", "@"+strconv.FormatInt(asOf, 10))
	check("timestamp as of", is(strconv.FormatInt(asOf, 10)), is(strconv.FormatInt(asOf, 10)))
	from, to = run("counter: timestamp\n")
	check("timestamp", epochWithin(from, to), rfc3339)
	run("counter: changelist\n")
	check("changelist", is("2"), rfc3339)

	// A new revision: a new counter; the env module, unchanged, is
	// reused, its package keeping the counter it was built with.
	if err := os.WriteFile(filepath.Join(wc, "autobuild.sh"), []byte("#!/bin/sh\necho r3\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	svnTool(t, wc, "svn", "commit", "-m", "second") // r3
	f.config("counter: changelist\n" + modules)
	if r := f.run(); r.code != 0 {
		t.Fatalf("run:\n%s", r.dump())
	}
	if e := module(f.status(), "env"); e.State != report.Reused {
		t.Errorf("the env module, unchanged, is %s (%s) when the counter changed: the counter is in its key", e.State, e.Reason)
	}
	check("changelist, reused", is("2"), rfc3339)
	if r := f.run("--force=env"); r.code != 0 {
		t.Fatalf("run:\n%s", r.dump())
	}
	check("changelist, r3", is("3"), rfc3339)

	// The global env is an input of every module's key: changed, the
	// env module builds again, unforced, and sees the new value.
	f.config(strings.Replace("counter: changelist\n"+modules, "GLOBAL=everyone", "GLOBAL=changed", 1))
	if r := f.run(); r.code != 0 {
		t.Fatalf("run:\n%s", r.dump())
	}
	if e := module(f.status(), "env"); e.State != report.Built || f.readEnv("env")["GLOBAL"] != "changed" {
		t.Errorf("with the global env changed, the env module is %s (%s) and saw GLOBAL=%q", e.State, e.Reason, f.readEnv("env")["GLOBAL"])
	}
}

// Where this host cannot mount an overlay, a module with dependencies
// fails with a reason that says so and how to do without (and the run
// exits 1, not as a confinement failure); with install_root: own it
// builds. A module without dependencies needs no overlay.
func TestMergedInstallRootRefused(t *testing.T) {
	f := newFarm(t)
	f.repo("lib", script(`mkdir -p "$AUTOBUILD_INSTALL_ROOT/include"; echo p > "$AUTOBUILD_INSTALL_ROOT/include/p.h"`))
	f.repo("app", script(`test -f "$AUTOBUILD_DEP_LIB_ROOT/include/p.h"`))
	cfg := func(extra string) {
		f.config("modules:\n  - {name: lib, source: {url: repos/lib}}\n  - {name: app, source: {url: repos/app}, depends: [lib]" + extra + "}\n")
	}
	cfg("")
	noOverlay := []string{"AUTOBUILD_SANDBOX_DISABLE=overlay"}
	r := ab(t, noOverlay, "run", "--config", f.cfg)
	if r.code != 1 {
		t.Fatalf("want exit 1:\n%s", r.dump())
	}
	st := f.status()
	if lib := module(st, "lib"); lib.State != report.Built {
		t.Errorf("lib, without dependencies: %s (%s)", lib.State, lib.Reason)
	}
	app := module(st, "app")
	if app.State != report.Failed || !strings.Contains(app.Reason, "cannot mount an overlay") || !strings.Contains(app.Reason, "install_root: own") {
		t.Errorf("app: %s (%s), want failed, saying why and what to do", app.State, app.Reason)
	}
	cfg(", install_root: own")
	if r := ab(t, noOverlay, "run", "--config", f.cfg); r.code != 0 {
		t.Fatalf("with install_root: own:\n%s", r.dump())
	}
}

// Every engine gives builds their merged install root, at every level:
// as root, the secure engine (in a user namespace of its own), and an
// engine that is not root (its steps' namespaces in a user namespace).
func TestTestAutoBuildScriptsEveryEngine(t *testing.T) {
	requireConfinement(t)
	needCompiler(t)
	const nobody = 65534
	engines := map[string]func(t *testing.T, f *farm) result{
		"root": func(t *testing.T, f *farm) result { return f.run() },
		"secure": func(t *testing.T, f *farm) result {
			secureRoot(t, f)
			return ab(t, nil, "run", "--secure", "--config", f.cfg)
		},
		"unprivileged": func(t *testing.T, f *farm) result {
			if !sandbox.ProbeHost().UserNS || sandbox.ProbeHost().SELinux {
				testutil.Skip(t, "needs user namespaces (and no SELinux: the farm is not labelled for it)")
			}
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
			r := result{stdout: string(out)}
			if ee, ok := err.(*exec.ExitError); ok {
				r.code = ee.ExitCode()
			} else if err != nil {
				t.Fatal(err)
			}
			return r
		},
	}
	for name, run := range engines {
		for _, level := range []string{"isolated", "trusted", "unconfined"} {
			t.Run(name+"/"+level, func(t *testing.T) {
				f := newFarm(t)
				f.tabLibrary()
				f.tabProgram(tabMain)
				f.config(`modules:
  - {name: lib, source: {url: repos/lib}}
  - {name: app, source: {url: repos/app}, depends: [lib], trust: ` + level + `}
`)
				if r := run(t, f); r.code != 0 {
					t.Fatalf("run:\n%s", r.dump())
				}
				appRoot := filepath.Join(f.root, "install-root", "app")
				if got, want := files(t, appRoot), appFiles; fmt.Sprint(got) != fmt.Sprint(want) {
					t.Errorf("app's install root holds %q, want %q", got, want)
				}
				if out, err := exec.Command(filepath.Join(appRoot, "bin", "prog")).Output(); err != nil || string(out) != "answer 42\n" {
					t.Errorf("the program prints %q (%v)", out, err)
				}
			})
		}
	}
}
