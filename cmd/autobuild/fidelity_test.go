package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/autobuild/autobuild/engine/report"
	"github.com/autobuild/autobuild/internal/testutil"
)

// The real binary checks a module out exactly as committed, in its
// confined step: a symlink to / stays a symlink to /, a file whose name
// holds a newline is there, and a repository whose .git is a "gitdir:"
// file (a linked worktree; a clone made with --separate-git-dir, its git
// dir in a folder of its own) is a source like any other. Each build
// checks its tree and publishes what it found.
func TestCheckoutFidelity(t *testing.T) {
	f := newFarm(t)
	odd := f.repo("odd", script(`test "$(readlink root)" = /
test "$(readlink escape)" = ../../../etc
cat "$(printf 'new\nline')" > "$AUTOBUILD_PACKAGE_ROOT/newline"
readlink root > "$AUTOBUILD_PACKAGE_ROOT/root-link"`))
	if err := os.WriteFile(filepath.Join(odd, "new\nline"), []byte("a newline in its name\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for link, target := range map[string]string{"root": "/", "escape": "../../../etc"} {
		if err := os.Symlink(target, filepath.Join(odd, link)); err != nil {
			t.Fatal(err)
		}
	}
	testutil.Git(t, odd, "add", "-A")
	testutil.Git(t, odd, "commit", "-q", "-m", "links and odd names")

	// A linked worktree on a branch of its own, and a clone whose git dir
	// is elsewhere.
	main := f.repo("main", script(`cat which > "$AUTOBUILD_PACKAGE_ROOT/which"`))
	testutil.Commit(t, main, map[string]string{"which": "main\n"})
	wt := filepath.Join(f.dir, "worktrees", "wt")
	testutil.Git(t, main, "worktree", "add", "-q", "-b", "feature", wt)
	testutil.Commit(t, wt, map[string]string{"which": "feature\n"})
	store := filepath.Join(f.dir, "store")
	if err := os.Mkdir(store, 0o755); err != nil {
		t.Fatal(err)
	}
	testutil.Git(t, f.dir, "clone", "-q", "--separate-git-dir", filepath.Join(store, "sep.git"), main, "sep")
	sep := filepath.Join(f.dir, "sep")
	for _, p := range []string{wt, sep} {
		if st, err := os.Stat(filepath.Join(p, ".git")); err != nil || !st.Mode().IsRegular() {
			t.Fatalf("control: %s/.git is not a gitdir: file (%v)", p, err)
		}
	}

	f.config(`modules:
  - {name: odd, source: {url: repos/odd}}
  - {name: wt, source: {url: worktrees/wt}}
  - {name: sep, source: {url: "file://` + sep + `"}}
`)
	r := f.run()
	if r.code != 0 {
		t.Fatalf("want exit 0:\n%s", r.dump())
	}
	st := f.status()
	for _, name := range []string{"odd", "wt", "sep"} {
		if m := module(st, name); m.State != report.Built {
			t.Errorf("%s: %s (%s), want built", name, m.State, m.Reason)
		}
	}
	for file, want := range map[string]string{
		"odd/newline":   "a newline in its name\n",
		"odd/root-link": "/\n",
		"wt/which":      "feature\n",
		"sep/which":     "main\n",
	} {
		b, err := os.ReadFile(filepath.Join(f.root, "public_html", "packages", filepath.FromSlash(file)))
		if string(b) != want {
			t.Errorf("published %s = %q (%v), want %q", file, b, err, want)
		}
	}
	src := filepath.Join(f.root, "source-root", "odd")
	for link, want := range map[string]string{"root": "/", "escape": "../../../etc"} {
		if got, err := os.Readlink(filepath.Join(src, link)); err != nil || got != want {
			t.Errorf("source-root/odd/%s links to %q (%v), want %q", link, got, err, want)
		}
	}
	ents, _ := os.ReadDir(src)
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	if want := "autobuild.sh escape new\nline root"; strings.Join(names, " ") != want {
		t.Errorf("source-root/odd holds %q, want %q", strings.Join(names, " "), want)
	}
}

// A module whose commit holds a git submodule fails its checkout with a
// reason that names the submodule, never builds without it; the module
// beside it builds.
func TestSubmoduleIsRefusedClearly(t *testing.T) {
	f := newFarm(t)
	lib := f.repo("lib", script(`true`))
	super := f.repo("super", script(`echo built > "$AUTOBUILD_PACKAGE_ROOT/super.bin"`))
	testutil.Git(t, super, "-c", "protocol.file.allow=always", "submodule", "add", "-q", lib, "vendor/lib")
	testutil.Git(t, super, "commit", "-q", "-m", "submodule")
	f.config("modules:\n  - {name: super, source: {url: repos/super}}\n  - {name: lib, source: {url: repos/lib}}\n")
	r := f.run()
	if r.code != 1 {
		t.Fatalf("want exit 1\n%s", r.dump())
	}
	st := f.status()
	if m := module(st, "super"); m.State != report.Failed || !strings.Contains(m.Reason, "vendor/lib is a git submodule") {
		t.Errorf("super: %s (%s), want failed naming the submodule", m.State, m.Reason)
	}
	if m := module(st, "lib"); m.State != report.Built {
		t.Errorf("control: lib is %s (%s)", m.State, m.Reason)
	}
	if !strings.Contains(r.stdout, "FAILED super: checkout failed: vendor/lib is a git submodule") {
		t.Errorf("the run's report does not say why:\n%s", r.dump())
	}
}
