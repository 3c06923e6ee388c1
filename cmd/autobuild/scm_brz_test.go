package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// brzTool runs brz in dir, with no configuration or plugins but the
// test's.
func brzTool(t *testing.T, dir string, args ...string) {
	t.Helper()
	if _, err := exec.LookPath("brz"); err != nil {
		t.Skip("no brz command (Debian package brz)")
	}
	home := t.TempDir()
	cmd := exec.Command("brz", append([]string{"--no-plugins"}, args...)...)
	cmd.Dir = dir
	cmd.Env = []string{"PATH=/usr/bin:/bin", "HOME=" + home, "BRZ_HOME=" + home, "BRZ_LOG=/dev/null",
		"BRZ_EMAIL=test <test@localhost>", "LC_ALL=C.UTF-8"}
	var errb bytes.Buffer
	cmd.Stderr = &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("brz %q: %v: %s", args, err, errb.String())
	}
}

// A module from a Bazaar branch (the branch "trunk" below a local
// folder) builds at the default trust level, picks up a new commit, and a
// run with no change reuses it without a checkout. The build sees the
// revision's files and no .bzr.
func TestBrzModule(t *testing.T) {
	f := newFarm(t)
	top := filepath.Join(f.dir, "repos", "brzmod")
	trunk := filepath.Join(top, "trunk")
	if err := os.MkdirAll(top, 0o755); err != nil {
		t.Fatal(err)
	}
	brzTool(t, top, "init", "-q", "trunk")
	write := func(name, body string) {
		if err := os.WriteFile(filepath.Join(trunk, name), []byte(body), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	write("autobuild.sh", "#!/bin/sh\nset -eu\ncp version \"$AUTOBUILD_PACKAGE_ROOT/version\"\nls -a > \"$AUTOBUILD_PACKAGE_ROOT/files\"\n")
	write("version", "one\n")
	brzTool(t, trunk, "add", "-q")
	brzTool(t, trunk, "commit", "-q", "-m", "first")
	f.config("modules:\n  - {name: brzmod, source: {kind: brz, url: \"" + top + "\", branch: trunk}}\n")

	published := func(name string) string {
		b, err := os.ReadFile(filepath.Join(f.root, "public_html", "packages", "brzmod", name))
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	if r := f.run(); r.code != 0 {
		t.Fatal(r.dump())
	}
	if got := published("version"); got != "one\n" {
		t.Errorf("first run built %q", got)
	}
	if got := published("files"); got != ".\n..\nautobuild.sh\nversion\n" {
		t.Errorf("the build saw the files %q", got)
	}

	write("version", "two\n")
	brzTool(t, trunk, "commit", "-q", "-m", "second")
	if r := f.run(); r.code != 0 {
		t.Fatal(r.dump())
	}
	if m := module(f.status(), "brzmod"); !m.State.OK() || strings.Contains(m.Reason, "unchanged") {
		t.Fatalf("after a commit: %s (%s)", m.State, m.Reason)
	}
	if got := published("version"); got != "two\n" {
		t.Errorf("the run after a commit built %q", got)
	}

	if r := f.run(); r.code != 0 {
		t.Fatal(r.dump())
	}
	if m := module(f.status(), "brzmod"); !strings.Contains(m.Reason, "unchanged since run 2") {
		t.Errorf("a run with no change: %s (%s), want unchanged since run 2", m.State, m.Reason)
	}
}
