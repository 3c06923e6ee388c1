package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/autobuild/autobuild/engine/report"
	"github.com/autobuild/autobuild/internal/testutil"
)

// gitMetaScript is a build that tries to steer its module's next checkout
// (which runs with the network) towards another repository: through a
// .git planted in its work tree, and through the checkout's metadata
// folder, written by its path. Each write that worked is recorded in its
// package root as "<attack>:ok". First it records what the checkout gave
// it: the content, and whether a .git or a hook's marker was there.
const gitMetaScript = `#!/bin/bash
pkg="$AUTOBUILD_PACKAGE_ROOT"
: > "$pkg/results"
ok() { echo "$1:ok" >> "$pkg/results"; }
cp content "$pkg/seen-content"
ls -A > "$pkg/seen-files"
root=$(cd "$AUTOBUILD_SOURCE_ROOT/../.." && pwd)
meta="$root/scm-root/$AUTOBUILD_MODULE"
# What the checkout left in the metadata folder, where the build can read it.
cp "$meta/config" "$pkg/seen-meta-config" 2>/dev/null
for p in hooks objects/info/alternates; do test -e "$meta/$p" && echo "$p" >> "$pkg/seen-meta"; done
hook="#!/bin/sh
touch '$OUTSIDE/hook-ran' '$meta/hook-ran' '$AUTOBUILD_SOURCE_ROOT/hook-ran' 2>/dev/null
exit 0"
rewrite="[url \"$EVIL\"]
	insteadOf = $REAL"

# (a)-(c) in the work tree: a .git as an attacker would write it.
mkdir -p .git/hooks .git/objects/info .git/refs/heads
echo "ref: refs/heads/main" > .git/HEAD
printf '[core]\n\trepositoryformatversion = 0\n\tbare = false\n[remote "origin"]\n\turl = %s\n\tfetch = +refs/heads/*:refs/remotes/origin/*\n%s\n' "$REAL" "$rewrite" > .git/config
printf '%s\n' "$hook" > .git/hooks/post-checkout && chmod +x .git/hooks/post-checkout
echo "$EVIL/.git/objects" > .git/objects/info/alternates && ok work-git

# (a)-(c) in the metadata folder, by its path.
printf '%s\n' "$rewrite" >> "$meta/config" 2>/dev/null && ok meta-config
mkdir -p "$meta/hooks" 2>/dev/null && printf '%s\n' "$hook" > "$meta/hooks/post-checkout" 2>/dev/null && chmod +x "$meta/hooks/post-checkout" && ok meta-hook
mkdir -p "$meta/objects/info" 2>/dev/null && echo "$EVIL/.git/objects" > "$meta/objects/info/alternates" 2>/dev/null && ok meta-alternates
exit 0
`

type gitMetaEnv struct {
	f                *farm
	real, evil, meta string
	outside          string
}

// gitMetaFarm: module m, whose build is gitMetaScript, at trust level
// trust ("" for the default); an unrelated repository "evil" its build
// points the URL rewrite, hooks and alternates to.
func gitMetaFarm(t *testing.T, trust string) *gitMetaEnv {
	f := newFarm(t)
	outside := testutil.Dir(t)
	os.Chmod(outside, 0o777)
	evil := f.repo("evil", map[string]string{"content": "evil\n"})
	files := map[string]string{"autobuild.sh": gitMetaScript, "content": "real one\n"}
	real := f.repo("m", files)
	level := ""
	if trust != "" {
		level = ", trust: " + trust
	}
	f.config(fmt.Sprintf("modules:\n  - {name: m, source: {url: repos/m}%s, env: [\"REAL=%s\", \"EVIL=%s\", \"OUTSIDE=%s\"]}\n",
		level, real, evil, outside))
	return &gitMetaEnv{f: f, real: real, evil: evil, meta: filepath.Join(f.root, "scm-root", "m"), outside: outside}
}

// results are the attacks the last build recorded as done.
func (e *gitMetaEnv) results(t *testing.T) map[string]bool {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(e.f.root, "package-root", "m", "results"))
	if err != nil {
		t.Fatalf("the build's results are missing: %v", err)
	}
	got := map[string]bool{}
	for _, l := range strings.Fields(string(b)) {
		got[strings.TrimSuffix(l, ":ok")] = true
	}
	return got
}

// seenMeta is what the last build found in the metadata folder when it
// started, when it could read it: the config, and which of hooks and
// alternates were there.
func (e *gitMetaEnv) seenMeta(t *testing.T) (config string, readable bool, planted []string) {
	t.Helper()
	c, err := os.ReadFile(filepath.Join(e.f.root, "package-root", "m", "seen-meta-config"))
	l, _ := os.ReadFile(filepath.Join(e.f.root, "package-root", "m", "seen-meta"))
	return string(c), err == nil, strings.Fields(string(l))
}

// seen is what the last build found in its work tree when it started:
// the content file and the top-level names.
func (e *gitMetaEnv) seen(t *testing.T) (content string, files []string) {
	t.Helper()
	c, err := os.ReadFile(filepath.Join(e.f.root, "package-root", "m", "seen-content"))
	if err != nil {
		t.Fatal(err)
	}
	l, _ := os.ReadFile(filepath.Join(e.f.root, "package-root", "m", "seen-files"))
	return string(c), strings.Fields(string(l))
}

// lsRemote is the commit the git command would fetch as origin's HEAD
// with the metadata folder as its git dir: what its config steers to.
func (e *gitMetaEnv) lsRemote(t *testing.T) string {
	t.Helper()
	out, err := exec.Command("git", "-c", "safe.directory=*", "--git-dir="+e.meta, "ls-remote", "origin", "HEAD").CombinedOutput()
	if err != nil {
		t.Fatalf("git ls-remote with the metadata folder: %v\n%s", err, out)
	}
	return strings.Fields(string(out) + " ")[0]
}

// newCommitThenRun commits a change to the real repository and runs: the
// checkout must fetch exactly that commit, and the build must start from
// its content, with no .git and no hook's trace in its work tree.
//
// When the build could write the metadata folder (unconfined), its
// attack is there again after each run; what the checkout made of it is
// what the next build saw when it started.
func (e *gitMetaEnv) newCommitThenRun(t *testing.T, metaWritable bool) {
	t.Helper()
	id := testutil.Commit(t, e.real, map[string]string{"content": "real two\n"})
	if r := e.f.run(); r.code != 0 {
		e.logs(t)
		t.Fatalf("the run after the attack failed:\n%s", r.dump())
	}
	if m := module(e.f.status(), "m"); m.State != report.Built || m.Revision != id {
		t.Errorf("m: %s at %s (%s), want built at the real commit %s", m.State, m.Revision, m.Reason, id)
	}
	e.checkCheckout(t, "real two\n")
	if !metaWritable {
		if cur := e.lsRemote(t); cur != id {
			t.Errorf("origin's HEAD as the metadata folder's config has it: %s, want the real %s", cur, id)
		}
	}
	// --force: the folder holds the revision, changed by the build; the
	// SCM step resets it (no fetch needed) and the build runs again.
	if r := e.f.run("--force"); r.code != 0 {
		t.Fatalf("--force after the attack failed:\n%s", r.dump())
	}
	if m := module(e.f.status(), "m"); m.State != report.Built {
		t.Errorf("--force: m %s (%s)", m.State, m.Reason)
	}
	e.checkCheckout(t, "real two\n")
	e.checkNoHookRan(t)
}

// checkCheckout checks what the last build found: content, and only the
// committed files; and in the metadata folder (when it could read it) a
// config with no rewrite, no hooks and no alternates.
func (e *gitMetaEnv) checkCheckout(t *testing.T, content string) {
	t.Helper()
	c, files := e.seen(t)
	if c != content {
		t.Errorf("the build started from content %q, want %q", c, content)
	}
	if strings.Join(files, " ") != "autobuild.sh content" {
		t.Errorf("the build's work tree held %v, want only the committed files", files)
	}
	config, readable, planted := e.seenMeta(t)
	if readable && (strings.Contains(config, "insteadOf") || strings.Contains(config, e.evil) || !strings.Contains(config, e.real)) {
		t.Errorf("the checkout left a config that is not the engine's:\n%s", config)
	}
	if len(planted) > 0 {
		t.Errorf("the checkout left %v in the metadata folder", planted)
	}
}

func (e *gitMetaEnv) checkNoHookRan(t *testing.T) {
	t.Helper()
	for _, p := range []string{filepath.Join(e.outside, "hook-ran"), filepath.Join(e.meta, "hook-ran")} {
		if _, err := os.Stat(p); err == nil {
			t.Errorf("a planted hook ran: %s exists", p)
		}
	}
}

// TestBuildCannotSteerTheNextCheckout: a build at the default level
// rewrites its .git/config (URL rewrite to another repository), adds a
// hook and alternates, in its work tree and through the metadata folder's
// path. The metadata folder is out of its reach, the planted .git is
// ignored and removed, and the next checkout fetches exactly the real new
// commit.
func TestBuildCannotSteerTheNextCheckout(t *testing.T) {
	requireConfinement(t)
	e := gitMetaFarm(t, "")
	if r := e.f.run(); r.code != 0 {
		t.Fatal(r.dump())
	}
	e.checkCheckout(t, "real one\n")
	got := e.results(t)
	if !got["work-git"] {
		t.Errorf("the build could not even write a .git in its own work tree: the test proves nothing")
	}
	for _, a := range []string{"meta-config", "meta-hook", "meta-alternates"} {
		if got[a] {
			t.Errorf("a build at the default level wrote the metadata folder: %s", a)
		}
	}
	if b, _ := os.ReadFile(filepath.Join(e.meta, "config")); strings.Contains(string(b), "insteadOf") || strings.Contains(string(b), e.evil) {
		t.Errorf("the metadata folder's config holds the build's rewrite:\n%s", b)
	}
	for _, p := range []string{"hooks/post-checkout", "objects/info/alternates"} {
		if _, err := os.Stat(filepath.Join(e.meta, p)); err == nil {
			t.Errorf("the build planted %s in the metadata folder", p)
		}
	}
	e.newCommitThenRun(t, false)
}

// TestBuildCannotSteerTheNextCheckoutControl: the same build, unconfined,
// does write the metadata folder (the attack is real: the git command
// with that folder as its git dir then fetches from the other
// repository). The engine resists even then, since each checkout writes
// the config anew from the module's configuration and removes hooks and
// alternates: the next run still fetches the real commit.
func TestBuildCannotSteerTheNextCheckoutControl(t *testing.T) {
	requireConfinement(t)
	e := gitMetaFarm(t, "unconfined")
	if r := e.f.run(); r.code != 0 {
		t.Fatal(r.dump())
	}
	got := e.results(t)
	for _, a := range []string{"work-git", "meta-config", "meta-hook", "meta-alternates"} {
		if !got[a] {
			t.Errorf("control: attack %s did not succeed unconfined", a)
		}
	}
	b, _ := os.ReadFile(filepath.Join(e.meta, "config"))
	if !strings.Contains(string(b), "insteadOf = "+e.real) {
		t.Errorf("control: the metadata folder's config does not hold the rewrite:\n%s", b)
	}
	for _, p := range []string{"hooks/post-checkout", "objects/info/alternates"} {
		if _, err := os.Stat(filepath.Join(e.meta, p)); err != nil {
			t.Errorf("control: %s did not land in the metadata folder: %v", p, err)
		}
	}
	evilHead := testutil.Git(t, e.evil, "rev-parse", "HEAD")
	if cur := e.lsRemote(t); cur != evilHead {
		t.Errorf("control: with the planted config, origin's HEAD is %s, want the other repository's %s", cur, evilHead)
	}
	e.newCommitThenRun(t, true)
	// The build saw the metadata folder as the checkout left it: the
	// evidence that the checkout itself undid the attack.
	if _, readable, _ := e.seenMeta(t); !readable {
		t.Errorf("control: the unconfined build could not read the metadata folder")
	}
}

func (e *gitMetaEnv) logs(t *testing.T) {
	logs, _ := filepath.Glob(filepath.Join(e.f.root, "log-root", "*", "*.log"))
	for _, l := range logs {
		b, _ := os.ReadFile(l)
		t.Logf("%s:\n%s", l, b)
	}
}

// A build that takes its own rights away in its work tree (folders
// unreadable, a read-only tracked file, a .git that cannot be emptied)
// does not stop the next checkout, which runs as the same uid.
func TestBuildCannotLockItsCheckout(t *testing.T) {
	requireConfinement(t)
	f := newFarm(t)
	files := script(`grep -q original tracked || { echo "the reset did not restore tracked"; exit 8; }
test ! -e d || { echo "the clean left d"; exit 9; }
mkdir -p d/e sub .git/x; touch d/e/f sub/g .git/x/y
chmod 000 d .git/x; chmod 555 sub .git; chmod 444 tracked; chmod 000 .`)
	files["tracked"] = "original\n"
	f.repo("m", files)
	f.config("modules:\n  - {name: m, source: {url: repos/m}}\n")
	t.Cleanup(func() { exec.Command("chmod", "-R", "u+rwx", f.root).Run() })
	f.mustRun()
	if r := f.run("--force"); r.code != 0 {
		t.Fatalf("the checkout after a build that locked its work tree:\n%s", r.dump())
	}
}
