package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"sort"
	"strings"
	"syscall"
	"testing"

	"github.com/autobuild/autobuild/engine"
	"github.com/autobuild/autobuild/engine/report"
	"github.com/autobuild/autobuild/internal/testutil"
)

// The tests of autobuild as an administrator installs it: `make install`,
// the systemd units and the cron line it installs, --version, log
// priorities under the journal, and the Debian package (`make deb`),
// installed for real in a private mount namespace.
//
// The make targets build into the work tree's bin/ (as `make install`
// does): the tests that run them hold a lock on it (lockBin), so that two
// test runs in one work tree take turns.

// versionRE is --version's line: version, commit (short hash, +dirty for a
// changed work tree, or unknown) and Go release.
var versionRE = regexp.MustCompile(`^autobuild (\S+) \(commit ([0-9a-f]{7}(?:\+dirty)?|unknown), (go\S+)\)\n$`)

// repoRoot is the work tree's top folder (the Makefile's).
func repoRoot(t *testing.T) string {
	t.Helper()
	dir, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "Makefile")); err != nil {
		t.Fatal(err)
	}
	return dir
}

// lockBin holds an flock on the work tree's bin/ until the test ends.
func lockBin(t *testing.T) {
	t.Helper()
	dir := filepath.Join(repoRoot(t), "bin")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(filepath.Join(dir, ".test-lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
}

// runMake runs make with args in the work tree, in an environment without
// the variables an outer make or a caller's shell would pass down to it
// (so the Makefile's defaults are what is tested).
func runMake(t *testing.T, args ...string) {
	t.Helper()
	if _, err := exec.LookPath("make"); err != nil {
		testutil.Skip(t, "no make")
	}
	cmd := exec.Command("make", append([]string{"-C", repoRoot(t)}, args...)...)
	for _, kv := range os.Environ() {
		switch k, _, _ := strings.Cut(kv, "="); k {
		case "MAKEFLAGS", "MFLAGS", "MAKELEVEL", "MAKEOVERRIDES", "DESTDIR", "PREFIX", "BINDIR", "DATADIR",
			"MANDIR", "SYSCONFDIR", "UNITDIR", "ZSHCOMPDIR", "COMMIT", "DEB_COMPRESS", "DEB_MAINTAINER":
		default:
			cmd.Env = append(cmd.Env, kv)
		}
	}
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("make %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// headCommit is the work tree's commit, as --version shows it, or "".
func headCommit(t *testing.T) string {
	cmd := exec.Command("git", "rev-parse", "--short=7", "HEAD")
	cmd.Dir = repoRoot(t)
	out, err := cmd.Output()
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(out))
}

// checkVersion checks one --version output; commit, when not "", is the
// commit it must name.
func checkVersion(t *testing.T, out, commit string) {
	t.Helper()
	m := versionRE.FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("--version printed %q, want %s", out, versionRE)
	}
	if m[1] != engine.Version {
		t.Errorf("--version names version %s, the engine is %s", m[1], engine.Version)
	}
	if m[3] != runtime.Version() {
		t.Errorf("--version names %s, built with %s", m[3], runtime.Version())
	}
	if commit != "" && strings.TrimSuffix(m[2], "+dirty") != commit {
		t.Errorf("--version names commit %s, the work tree is at %s", m[2], commit)
	}
}

// runCmd runs a command with extra environment and returns what it did.
func runCmd(t *testing.T, env []string, name string, args ...string) result {
	t.Helper()
	cmd := exec.Command(name, args...)
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

func TestVersion(t *testing.T) {
	for _, flag := range []string{"--version", "-v"} {
		r := ab(t, nil, flag)
		if r.code != 0 || r.stderr != "" {
			t.Fatalf("%s: %s", flag, r.dump())
		}
		checkVersion(t, r.stdout, "")
	}
	// go build's own VCS stamp, when it is on (-buildvcs=true: this
	// machine's go env may turn it off), names the commit by itself.
	root := repoRoot(t)
	head := headCommit(t)
	if head == "" {
		t.Log("not a git checkout: the VCS stamp is not checked")
		return
	}
	status := exec.Command("git", "status", "--porcelain")
	status.Dir = root
	st, err := status.Output()
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "autobuild")
	build := exec.Command("go", "build", "-buildvcs=true", "-o", out, ".")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build -buildvcs=true: %v\n%s", err, b)
	}
	r := runCmd(t, nil, out, "--version")
	checkVersion(t, r.stdout, head)
	if dirty := len(bytes.TrimSpace(st)) > 0; dirty != strings.Contains(r.stdout, "+dirty") {
		t.Errorf("--version %q, but git status says changed=%v", r.stdout, dirty)
	}
}

// installed is one entry of an install: its type ('f', 'l', hard link
// 'h' to target), mode, and a symlink's or hard link's target.
type installed struct {
	kind   byte
	mode   fs.FileMode
	target string
}

// readInstall lists every file and symlink under root (folders must all
// be 0755), hard links named by the first path of their inode.
func readInstall(t *testing.T, root string) map[string]installed {
	t.Helper()
	got := map[string]installed{}
	inodes := map[uint64]string{}
	var paths []string
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		paths = append(paths, p)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(paths)
	for _, p := range paths {
		info, err := os.Lstat(p)
		if err != nil {
			t.Fatal(err)
		}
		rel, _ := filepath.Rel(root, p)
		switch {
		case p == root:
		case info.IsDir():
			if info.Mode().Perm() != 0o755 {
				t.Errorf("folder %s has mode %v, want 0755", rel, info.Mode().Perm())
			}
		case info.Mode()&fs.ModeSymlink != 0:
			target, err := os.Readlink(p)
			if err != nil {
				t.Fatal(err)
			}
			got[rel] = installed{kind: 'l', mode: 0o777, target: target}
		default:
			ino := info.Sys().(*syscall.Stat_t).Ino
			if first, ok := inodes[ino]; ok {
				got[rel] = installed{kind: 'h', mode: info.Mode().Perm(), target: first}
				continue
			}
			inodes[ino] = rel
			got[rel] = installed{kind: 'f', mode: info.Mode().Perm()}
		}
	}
	return got
}

func diffInstall(t *testing.T, got, want map[string]installed) {
	t.Helper()
	var names []string
	for n := range got {
		names = append(names, n)
	}
	for n := range want {
		if _, ok := got[n]; !ok {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	for _, n := range names {
		g, gok := got[n]
		w, wok := want[n]
		switch {
		case !gok:
			t.Errorf("missing: %s", n)
		case !wok:
			t.Errorf("not expected: %s (%c %v %s)", n, g.kind, g.mode, g.target)
		case g != w:
			t.Errorf("%s: got %c %v %q, want %c %v %q", n, g.kind, g.mode, g.target, w.kind, w.mode, w.target)
		}
	}
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// exampleModules makes the two repositories the example configuration's
// modules stand for, and returns the configuration with its URLs
// replaced by them: libfoo installs a file, app reads it through its
// dependency's install root and publishes a package.
func exampleModules(t *testing.T, dir, example string) string {
	t.Helper()
	libfoo := testutil.Repo(t, dir, "libfoo", script(`mkdir -p "$AUTOBUILD_INSTALL_ROOT/usr/lib"
echo libfoo-data > "$AUTOBUILD_INSTALL_ROOT/usr/lib/libfoo.txt"`))
	app := testutil.Repo(t, dir, "app", script(`cat "$AUTOBUILD_DEP_LIBFOO_ROOT/usr/lib/libfoo.txt" > "$AUTOBUILD_PACKAGE_ROOT/app.txt"`))
	cfg := strings.NewReplacer("https://git.example.org/libfoo.git", libfoo, "https://git.example.org/app.git", app).Replace(example)
	if cfg == example {
		t.Fatal("the example configuration no longer names git.example.org/{libfoo,app}.git")
	}
	return cfg
}

// checkExampleRun checks the run of the adapted example configuration.
func checkExampleRun(t *testing.T, buildRoot string) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(buildRoot, "public_html", "status.json"))
	if err != nil {
		t.Fatal(err)
	}
	var st report.Run
	if err := json.Unmarshal(b, &st); err != nil {
		t.Fatal(err)
	}
	for _, m := range []string{"libfoo", "app"} {
		if got := module(&st, m); got.State != report.Built {
			t.Errorf("module %s: %s (%s)", m, got.State, got.Reason)
		}
	}
	if got := readFile(t, filepath.Join(buildRoot, "public_html", "packages", "app", "app.txt")); got != "libfoo-data\n" {
		t.Errorf("app's package holds %q", got)
	}
}

func TestMakeInstall(t *testing.T) {
	root := repoRoot(t)
	lockBin(t)
	dest := testutil.Dir(t)
	runMake(t, "install", "DESTDIR="+dest, "PREFIX=/usr")

	f := func(mode fs.FileMode) installed { return installed{kind: 'f', mode: mode} }
	want := map[string]installed{
		"usr/bin/autobuild":                                  f(0o755),
		"usr/bin/autobuild-secure":                           {kind: 'h', mode: 0o755, target: "usr/bin/autobuild"},
		"usr/bin/autobuild-helper":                           f(0o755),
		"usr/share/man/man1/autobuild.1":                     f(0o644),
		"usr/share/man/man1/autobuild-secure.1":              {kind: 'l', mode: 0o777, target: "autobuild.1"},
		"usr/share/man/man1/autobuild-helper.1":              {kind: 'l', mode: 0o777, target: "autobuild.1"},
		"usr/share/bash-completion/completions/autobuild":    f(0o644),
		"usr/share/zsh/site-functions/_autobuild":            f(0o644),
		"usr/share/fish/vendor_completions.d/autobuild.fish": f(0o644),
		"usr/lib/systemd/system/autobuild.service":           f(0o644),
		"usr/lib/systemd/system/autobuild.timer":             f(0o644),
		"etc/autobuild/autobuild.yaml.example":               f(0o644),
		"etc/cron.d/autobuild":                               f(0o644),
	}
	diffInstall(t, readInstall(t, dest), want)
	for inst, src := range map[string]string{
		"usr/share/man/man1/autobuild.1":         "docs/autobuild.1",
		"etc/autobuild/autobuild.yaml.example":   "dist/autobuild.yaml.example",
		"usr/lib/systemd/system/autobuild.timer": "dist/autobuild.timer",
	} {
		if readFile(t, filepath.Join(dest, inst)) != readFile(t, filepath.Join(root, src)) {
			t.Errorf("%s differs from %s", inst, src)
		}
	}
	if s := readFile(t, filepath.Join(dest, "usr/lib/systemd/system/autobuild.service")); !strings.Contains(s,
		"\nExecStart=/usr/bin/autobuild-secure run --config /etc/autobuild/autobuild.yaml\n") {
		t.Errorf("autobuild.service does not run the installed autobuild-secure:\n%s", s)
	}
	cron := readFile(t, filepath.Join(dest, "etc/cron.d/autobuild"))
	if line := cronLine(t, cron); !strings.HasPrefix(line, "#") || cronCommand(t, line[1:]) != "/usr/bin/autobuild-secure run --config /etc/autobuild/autobuild.yaml" {
		t.Errorf("/etc/cron.d/autobuild: want a commented-out line running /usr/bin/autobuild-secure, got %q", line)
	}

	// Completions: made by the binary for its own name, valid shell.
	bin := filepath.Join(dest, "usr/bin")
	for file, marker := range map[string]string{
		"usr/share/bash-completion/completions/autobuild":    "complete -o default -F __start_autobuild autobuild",
		"usr/share/zsh/site-functions/_autobuild":            "#compdef autobuild",
		"usr/share/fish/vendor_completions.d/autobuild.fish": "complete -c autobuild ",
	} {
		if !strings.Contains(readFile(t, filepath.Join(dest, file)), marker) {
			t.Errorf("%s lacks %q", file, marker)
		}
	}
	if r := runCmd(t, nil, "bash", "-n", filepath.Join(dest, "usr/share/bash-completion/completions/autobuild")); r.code != 0 {
		t.Errorf("bash -n on the bash completion: %s", r.dump())
	}
	if r := runCmd(t, nil, filepath.Join(bin, "autobuild"), "__complete", "run", "--pro"); !strings.HasPrefix(r.stdout, "--progress\t") {
		t.Errorf("the completions' query (autobuild __complete run --pro): %s", r.dump())
	}

	// The installed binary runs, under both names.
	for _, name := range []string{"autobuild", "autobuild-secure"} {
		r := runCmd(t, nil, filepath.Join(bin, name), "--version")
		if r.code != 0 {
			t.Fatalf("%s --version: %s", name, r.dump())
		}
		checkVersion(t, r.stdout, headCommit(t))
	}

	// It finds its helper beside it; a lone copy uses itself (control).
	work := testutil.Dir(t)
	doctor := func(b string) string {
		r := runCmd(t, nil, b, "doctor", "--config", filepath.Join(work, "none.yaml"))
		for _, line := range strings.Split(r.stdout, "\n") {
			if strings.HasPrefix(line, "sandbox helper: ") {
				return line
			}
		}
		t.Fatalf("%s doctor names no helper: %s", b, r.dump())
		return ""
	}
	if got, want := doctor(filepath.Join(bin, "autobuild")), "sandbox helper: "+filepath.Join(bin, "autobuild-helper")+" (the small helper)"; got != want {
		t.Errorf("installed: %q, want %q", got, want)
	}
	lone := filepath.Join(work, "lone", "autobuild")
	os.MkdirAll(filepath.Dir(lone), 0o755)
	if err := os.WriteFile(lone, []byte(readFile(t, filepath.Join(bin, "autobuild"))), 0o755); err != nil {
		t.Fatal(err)
	}
	if got := doctor(lone); !strings.Contains(got, lone+" (this binary itself") {
		t.Errorf("control, a copy without its helper: %q", got)
	}

	// The installed example configuration plans as it is, and, its
	// repositories made real, runs with the installed binary and helper.
	example := readFile(t, filepath.Join(dest, "etc/autobuild/autobuild.yaml.example"))
	cfg := filepath.Join(work, "autobuild.yaml")
	if err := os.WriteFile(cfg, []byte(example), 0o644); err != nil {
		t.Fatal(err)
	}
	buildRoot := filepath.Join(work, "build")
	env := []string{"AUTOBUILD_BUILD_ROOT=" + buildRoot}
	r := runCmd(t, env, filepath.Join(bin, "autobuild"), "plan", "--config", cfg)
	if r.code != 0 || !strings.Contains(r.stdout, "1. libfoo") || !regexp.MustCompile(`2\. app .*\(needs libfoo\)`).MatchString(r.stdout) {
		t.Fatalf("plan of the installed example: %s", r.dump())
	}
	if err := os.WriteFile(cfg, []byte(exampleModules(t, filepath.Join(work, "repos"), example)), 0o644); err != nil {
		t.Fatal(err)
	}
	if r := runCmd(t, env, filepath.Join(bin, "autobuild"), "run", "--config", cfg); r.code != 0 {
		t.Fatalf("run of the installed example: %s", r.dump())
	}
	checkExampleRun(t, buildRoot)

	// A second install replaces what it owns, and keeps the cron file
	// an administrator changed.
	edited := strings.Replace(cron, "#*/5", "*/5", 1)
	os.WriteFile(filepath.Join(dest, "etc/cron.d/autobuild"), []byte(edited), 0o644)
	os.WriteFile(filepath.Join(dest, "etc/autobuild/autobuild.yaml.example"), []byte("changed\n"), 0o644)
	runMake(t, "install", "DESTDIR="+dest, "PREFIX=/usr")
	if got := readFile(t, filepath.Join(dest, "etc/cron.d/autobuild")); got != edited {
		t.Errorf("a second make install replaced the edited cron file:\n%s", got)
	}
	if readFile(t, filepath.Join(dest, "etc/autobuild/autobuild.yaml.example")) != example {
		t.Error("a second make install did not renew the example configuration")
	}
	diffInstall(t, readInstall(t, dest), want)
}

// cronLine is the one line of a cron.d file that is not a comment, or a
// commented-out entry ("#*/5 ...").
func cronLine(t *testing.T, file string) string {
	t.Helper()
	var lines []string
	for _, l := range strings.Split(file, "\n") {
		if l = strings.TrimSpace(l); l != "" && (!strings.HasPrefix(l, "#") || regexp.MustCompile(`^#[0-9*]`).MatchString(l)) {
			lines = append(lines, l)
		}
	}
	if len(lines) != 1 {
		t.Fatalf("want one cron entry, got %q", lines)
	}
	return lines[0]
}

// cronCommand is the command of a cron.d entry: five time fields, the
// user (root), then the command, which must name its binary by an
// absolute path (cron's PATH is /usr/bin:/bin).
func cronCommand(t *testing.T, line string) string {
	t.Helper()
	f := strings.Fields(line)
	if len(f) < 7 || f[0] != "*/5" || strings.Join(f[1:5], " ") != "* * * *" || f[5] != "root" {
		t.Fatalf("cron entry %q: want */5 * * * * root COMMAND", line)
	}
	if !filepath.IsAbs(f[6]) {
		t.Errorf("cron entry %q: the binary is not named by its full path", line)
	}
	if strings.Contains(line, "%") {
		t.Errorf("cron entry %q: cron turns %% into a newline", line)
	}
	return strings.Join(f[6:], " ")
}

// systemdVerify runs systemd-analyze verify on units and returns what it
// said and its exit code. Documentation=man:autobuild(1) is checked
// against the man pages under manDir when man is there.
func systemdVerify(t *testing.T, manDir string, units ...string) (string, int) {
	t.Helper()
	args := []string{"verify"}
	env := []string{}
	if _, err := exec.LookPath("man"); err == nil && manDir != "" {
		env = append(env, "MANPATH="+manDir)
	} else {
		args = append(args, "--man=no")
	}
	r := runCmd(t, env, "systemd-analyze", append(args, units...)...)
	return strings.TrimSpace(r.stdout + r.stderr), r.code
}

func TestSystemdUnits(t *testing.T) {
	if _, err := exec.LookPath("systemd-analyze"); err != nil {
		testutil.Skip(t, "no systemd-analyze (package systemd)")
	}
	// Installed at a real prefix, so that ExecStart names a binary that
	// is there, as systemd-analyze verify requires.
	lockBin(t)
	p := testutil.Dir(t)
	runMake(t, "install", "PREFIX="+p+"/usr", "SYSCONFDIR="+p+"/etc")
	units := filepath.Join(p, "usr/lib/systemd/system")
	service, timer := filepath.Join(units, "autobuild.service"), filepath.Join(units, "autobuild.timer")
	if out, code := systemdVerify(t, filepath.Join(p, "usr/share/man"), service, timer); code != 0 || out != "" {
		t.Errorf("systemd-analyze verify: exit %d:\n%s", code, out)
	}

	s := readFile(t, service)
	for _, want := range []string{
		"\nType=oneshot\n",
		"\nExecStart=" + p + "/usr/bin/autobuild-secure run --config " + p + "/etc/autobuild/autobuild.yaml\n",
	} {
		if !strings.Contains(s, want) {
			t.Errorf("autobuild.service lacks %q:\n%s", strings.TrimSpace(want), s)
		}
	}
	if strings.Contains(s, "\nUser=") {
		t.Error("autobuild.service names a user: the engine runs as root (per-module build uids)")
	}
	tm := readFile(t, timer)
	for _, want := range []string{"\nOnCalendar=*:0/5\n", "\nPersistent=true\n", "\nWantedBy=timers.target\n"} {
		if !strings.Contains(tm, want) {
			t.Errorf("autobuild.timer lacks %q", strings.TrimSpace(want))
		}
	}
	if strings.Contains(tm, "RandomizedDelaySec") {
		t.Error("autobuild.timer delays its runs at random")
	}
	cal := runCmd(t, nil, "systemd-analyze", "calendar", "--iterations=2", "*:0/5")
	if !regexp.MustCompile(`:[0-5][05]:00 `).MatchString(cal.stdout) {
		t.Errorf("systemd-analyze calendar *:0/5: %s", cal.dump())
	}

	// Controls: the same check fails on a misspelt key and on a binary
	// that is not there.
	bad := testutil.Dir(t)
	for name, body := range map[string]string{
		"typo.service":    strings.Replace(s, "Type=oneshot", "Typ=oneshot", 1),
		"missing.service": strings.Replace(s, p+"/usr/bin/autobuild-secure", p+"/nowhere/autobuild-secure", 1),
	} {
		path := filepath.Join(bad, name)
		os.WriteFile(path, []byte(body), 0o644)
		if out, code := systemdVerify(t, filepath.Join(p, "usr/share/man"), path); out == "" && code == 0 {
			t.Errorf("control %s: systemd-analyze verify found nothing wrong", name)
		}
	}
}

func TestJournalPriorities(t *testing.T) {
	f := newFarm(t)
	f.repo("good", script(`echo ok`))
	f.repo("bad", script(`exit 1`))
	f.config(fmt.Sprintf(`modules:
  - {name: good, source: {url: %s}, trust: unconfined}
  - {name: bad, source: {url: %s}, trust: unconfined}
`, filepath.Join(f.dir, "repos", "good"), filepath.Join(f.dir, "repos", "bad")))

	// Each run finds a damaged counter (a warning) and a damaged history
	// (an error), logs every step (debug) and each module (info), and ends
	// with a failed module (exit 1: under the journal, an error line).
	runWith := func(journal func(stderr *os.File) string, args ...string) []string {
		t.Helper()
		state := filepath.Join(f.root, "state")
		os.MkdirAll(state, 0o755)
		os.WriteFile(filepath.Join(state, "counter"), []byte("garbage\n"), 0o644)
		os.WriteFile(filepath.Join(state, "history.json"), []byte("{"), 0o644)
		stderr, err := os.Create(filepath.Join(f.dir, "stderr"))
		if err != nil {
			t.Fatal(err)
		}
		defer stderr.Close()
		if len(args) == 0 {
			args = []string{"run", "--config", f.cfg, "--log-level", "debug", "--force"}
		}
		cmd := exec.Command(bin, args...)
		for _, kv := range os.Environ() {
			if !strings.HasPrefix(kv, "JOURNAL_STREAM=") {
				cmd.Env = append(cmd.Env, kv)
			}
		}
		if js := journal(stderr); js != "" {
			cmd.Env = append(cmd.Env, "JOURNAL_STREAM="+js)
		}
		cmd.Stderr = stderr
		err = cmd.Run()
		if ee, ok := err.(*exec.ExitError); !ok || (ee.ExitCode() != 1 && args[0] == "run") {
			t.Fatalf("%s: %v, want exit 1\n%s", args[0], err, readFile(t, stderr.Name()))
		}
		return strings.Split(strings.TrimSuffix(readFile(t, stderr.Name()), "\n"), "\n")
	}
	devIno := func(file *os.File) string {
		info, err := file.Stat()
		if err != nil {
			t.Fatal(err)
		}
		st := info.Sys().(*syscall.Stat_t)
		return fmt.Sprintf("%d:%d", st.Dev, st.Ino)
	}
	levelRE := regexp.MustCompile(`^(<[0-7]>)?time=\S+ level=(DEBUG|INFO|WARN|ERROR) `)
	prio := map[string]string{"ERROR": "<3>", "WARN": "<4>", "INFO": "<6>", "DEBUG": "<7>"}

	lines := runWith(devIno)
	seen := map[string]int{}
	for _, l := range lines {
		if m := levelRE.FindStringSubmatch(l); m != nil {
			seen[m[2]]++
			if m[1] != prio[m[2]] {
				t.Errorf("a %s line under the journal starts %q, want %s: %s", m[2], m[1], prio[m[2]], l)
			}
		}
	}
	for lvl := range prio {
		if seen[lvl] == 0 {
			t.Errorf("no %s line in the run's log:\n%s", lvl, strings.Join(lines, "\n"))
		}
	}
	if last := lines[len(lines)-1]; last != "<3>autobuild: 1 failed, 0 skipped" {
		t.Errorf("the final error line under the journal: %q, want <3>autobuild: 1 failed, 0 skipped", last)
	}
	missing := filepath.Join(f.dir, "missing.yaml")
	if got := runWith(devIno, "plan", "--config", missing); len(got) != 1 || !strings.HasPrefix(got[0], "<3>autobuild: ") || !strings.Contains(got[0], missing) {
		t.Errorf("a configuration error under the journal: %q", got)
	}

	// Controls: no JOURNAL_STREAM, or one that names another stream (a
	// child of the service whose stderr went elsewhere): no prefixes.
	other, err := os.Create(filepath.Join(f.dir, "other"))
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	for name, journal := range map[string]func(*os.File) string{
		"unset":          func(*os.File) string { return "" },
		"another stream": func(*os.File) string { return devIno(other) },
	} {
		lines := runWith(journal)
		n := 0
		for _, l := range lines {
			if strings.HasPrefix(l, "<") {
				t.Errorf("JOURNAL_STREAM %s: a line with a priority: %s", name, l)
			}
			if levelRE.MatchString(l) {
				n++
			}
		}
		if n == 0 {
			t.Errorf("JOURNAL_STREAM %s: no log lines:\n%s", name, strings.Join(lines, "\n"))
		}
	}
}

// debScript installs the package ($DEB) in a private mount namespace,
// over overlays of /usr, /etc and /var whose changes stay in $WORK/ov:
// the install is real (dpkg and its database; man-db's trigger, which
// only indexes man pages, is left pending) and invisible outside. Then it checks what an administrator would: the installed
// binary, that nothing is enabled, the units, the cron entry run exactly
// as cron runs it, and a purge. Lines "CHECK name value" report.
// dpkgStatus is what this machine's dpkg database says of autobuild.
func dpkgStatus(t *testing.T) string {
	t.Helper()
	r := runCmd(t, nil, "dpkg-query", "-W", "-f", "${Status} ${Version}", "autobuild")
	return strings.TrimSpace(r.stdout + " " + r.stderr)
}

const debScript = `
for d in usr etc var; do
	mkdir -p "$WORK/ov/$d.up" "$WORK/ov/$d.work"
	mount -t overlay overlay -o "lowerdir=/$d,upperdir=$WORK/ov/$d.up,workdir=$WORK/ov/$d.work" "/$d" || exit 77
done
dpkg -i --no-triggers "$DEB" >"$WORK/dpkg-i.log" 2>&1 || { cat "$WORK/dpkg-i.log"; exit 1; }
echo "CHECK status $(dpkg-query -W -f='${Status}' autobuild)"
echo "CHECK version $(/usr/bin/autobuild --version)"
echo "CHECK enabled $(ls /etc/systemd/system/timers.target.wants/autobuild.timer /etc/systemd/system/multi-user.target.wants/autobuild.service 2>/dev/null | wc -l)"
if command -v systemd-analyze >/dev/null; then
	man=; command -v man >/dev/null || man=--man=no
	systemd-analyze verify $man /lib/systemd/system/autobuild.service /lib/systemd/system/autobuild.timer >"$WORK/verify.out" 2>&1
	echo "CHECK verify exit $?, $(wc -l <"$WORK/verify.out") lines"
fi
printf 'build_root: %s\nmodules:\n  - {name: m, source: {url: %s}}\n' "$WORK/build" "$WORK/repos/m" >/etc/autobuild/autobuild.yaml
env -i PATH=/usr/bin:/bin SHELL=/bin/sh HOME=/root LOGNAME=root /bin/sh -c "$CRON_COMMAND" >"$WORK/cron.out" 2>&1
echo "CHECK cron-exit $?"
echo "CHECK cron-package $(cat "$WORK/build/public_html/packages/m/out.txt")"
dpkg --purge --no-triggers autobuild >"$WORK/dpkg-purge.log" 2>&1
echo "CHECK purged $(ls /usr/bin/autobuild* /etc/cron.d/autobuild /lib/systemd/system/autobuild.service 2>/dev/null | wc -l)"
`

func TestDebPackage(t *testing.T) {
	for _, tool := range []string{"dpkg-deb", "dpkg", "unshare", "strip", "gzip"} {
		if _, err := exec.LookPath(tool); err != nil {
			testutil.Skip(t, "no "+tool)
		}
	}
	if os.Geteuid() != 0 {
		testutil.Skip(t, "installing the package in a private mount namespace needs root")
	}
	root := repoRoot(t)
	lockBin(t)
	runMake(t, "deb")
	arch := strings.TrimSpace(runCmd(t, nil, "dpkg", "--print-architecture").stdout)
	deb := filepath.Join(root, "bin", "autobuild_"+engine.Version+"_"+arch+".deb")

	// The file list, with owners and modes.
	r := runCmd(t, nil, "dpkg-deb", "--contents", deb)
	if r.code != 0 {
		t.Fatalf("dpkg-deb --contents: %s", r.dump())
	}
	var got []string
	for _, l := range strings.Split(strings.TrimSpace(r.stdout), "\n") {
		f := strings.Fields(l)
		if len(f) < 6 || strings.HasSuffix(f[5], "/") {
			continue
		}
		got = append(got, f[0]+" "+f[1]+" "+strings.Join(f[5:], " "))
	}
	sort.Strings(got)
	want := []string{
		"-rw-r--r-- root/root ./etc/autobuild/autobuild.yaml.example",
		"-rw-r--r-- root/root ./etc/cron.d/autobuild",
		"-rw-r--r-- root/root ./lib/systemd/system/autobuild.service",
		"-rw-r--r-- root/root ./lib/systemd/system/autobuild.timer",
		"-rw-r--r-- root/root ./usr/share/bash-completion/completions/autobuild",
		"-rw-r--r-- root/root ./usr/share/doc/autobuild/README.md.gz",
		"-rw-r--r-- root/root ./usr/share/doc/autobuild/changelog.gz",
		"-rw-r--r-- root/root ./usr/share/doc/autobuild/copyright",
		"-rw-r--r-- root/root ./usr/share/fish/vendor_completions.d/autobuild.fish",
		"-rw-r--r-- root/root ./usr/share/lintian/overrides/autobuild",
		"-rw-r--r-- root/root ./usr/share/man/man1/autobuild.1.gz",
		"-rw-r--r-- root/root ./usr/share/zsh/vendor-completions/_autobuild",
		"-rwxr-xr-x root/root ./usr/bin/autobuild",
		"-rwxr-xr-x root/root ./usr/bin/autobuild-helper",
		"hrwxr-xr-x root/root ./usr/bin/autobuild-secure link to ./usr/bin/autobuild",
		"lrwxrwxrwx root/root ./usr/share/man/man1/autobuild-helper.1.gz -> autobuild.1.gz",
		"lrwxrwxrwx root/root ./usr/share/man/man1/autobuild-secure.1.gz -> autobuild.1.gz",
	}
	sort.Strings(want)
	if !slices.Equal(got, want) {
		t.Errorf("package contents:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}

	// The control files: static binaries need nothing; the files in /etc
	// are conffiles; no maintainer script (nothing starts on install).
	ctl := testutil.Dir(t)
	if r := runCmd(t, nil, "dpkg-deb", "--control", deb, ctl); r.code != 0 {
		t.Fatalf("dpkg-deb --control: %s", r.dump())
	}
	entries, _ := os.ReadDir(ctl)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if strings.Join(names, " ") != "conffiles control md5sums" {
		t.Errorf("control files: %v, want conffiles control md5sums", names)
	}
	if c := readFile(t, filepath.Join(ctl, "conffiles")); c != "/etc/autobuild/autobuild.yaml.example\n/etc/cron.d/autobuild\n" {
		t.Errorf("conffiles:\n%s", c)
	}
	control := readFile(t, filepath.Join(ctl, "control"))
	for _, want := range []string{"Package: autobuild\n", "Version: " + engine.Version + "\n", "Architecture: " + arch + "\n", "Recommends: ca-certificates\n"} {
		if !strings.Contains(control, want) {
			t.Errorf("control lacks %q:\n%s", strings.TrimSpace(want), control)
		}
	}
	if strings.Contains(control, "Depends:") {
		t.Errorf("control depends on something:\n%s", control)
	}

	// The cron entry, as packaged (from the folder make deb packed):
	// commented out, naming the package's binary.
	line := cronLine(t, readFile(t, filepath.Join(root, "bin/deb/root/etc/cron.d/autobuild")))
	if !strings.HasPrefix(line, "#") {
		t.Fatalf("the package's cron entry is enabled: %q", line)
	}
	command := cronCommand(t, line[1:])
	if !strings.HasPrefix(command, "/usr/bin/autobuild-secure ") {
		t.Errorf("the package's cron entry runs %q", command)
	}

	// Installed for real, out of everyone's sight.
	before := dpkgStatus(t)
	work := testutil.Dir(t)
	testutil.Repo(t, filepath.Join(work, "repos"), "m", script(`echo built > "$AUTOBUILD_PACKAGE_ROOT/out.txt"`))
	cmd := exec.Command("unshare", "--mount", "--propagation", "private", "/bin/sh", "-u", "-c", debScript)
	cmd.Env = append(os.Environ(), "WORK="+work, "DEB="+deb, "CRON_COMMAND="+command)
	out, err := cmd.CombinedOutput()
	if ee, ok := err.(*exec.ExitError); ok && ee.ExitCode() == 77 {
		testutil.Skip(t, "cannot mount an overlay here: "+string(out))
	} else if err != nil {
		t.Fatalf("install in a private mount namespace: %v\n%s", err, out)
	}
	checks := map[string]string{}
	for _, l := range strings.Split(string(out), "\n") {
		if rest, ok := strings.CutPrefix(l, "CHECK "); ok {
			k, v, _ := strings.Cut(rest, " ")
			checks[k] = strings.TrimSpace(v)
		}
	}
	if checks["status"] != "install ok installed" {
		t.Errorf("dpkg-query after dpkg -i: %q\n%s", checks["status"], out)
	}
	checkVersion(t, checks["version"]+"\n", headCommit(t))
	if checks["enabled"] != "0" {
		t.Errorf("the install enabled %s units", checks["enabled"])
	}
	if v, ok := checks["verify"]; ok && v != "exit 0, 0 lines" {
		t.Errorf("systemd-analyze verify of the installed units: %s:\n%s", v, readFile(t, filepath.Join(work, "verify.out")))
	} else if !ok {
		t.Log("no systemd-analyze: the installed units were not verified")
	}
	if checks["cron-exit"] != "0" || checks["cron-package"] != "built" {
		t.Errorf("the cron entry run as cron would (exit %s, package %q):\n%s", checks["cron-exit"], checks["cron-package"], readFile(t, filepath.Join(work, "cron.out")))
	}
	if checks["purged"] != "0" {
		t.Errorf("after dpkg --purge, %s of its files are left", checks["purged"])
	}
	// Nothing of it outside the namespace.
	if after := dpkgStatus(t); after != before {
		t.Errorf("this machine's dpkg database changed: %q before the test, %q after", before, after)
	}

	// lintian, where it is installed: no errors.
	if _, err := exec.LookPath("lintian"); err != nil {
		t.Log("no lintian: the package was not linted")
		return
	}
	lint := runCmd(t, nil, "lintian", deb)
	for _, l := range strings.Split(lint.stdout, "\n") {
		switch {
		case strings.HasPrefix(l, "E: "):
			t.Errorf("lintian: %s", l)
		case strings.HasPrefix(l, "W: "):
			t.Logf("lintian: %s", l)
		}
	}
	if lint.code != 0 && !strings.Contains(lint.stdout, "E: ") {
		t.Errorf("lintian: %s", lint.dump())
	}
}
