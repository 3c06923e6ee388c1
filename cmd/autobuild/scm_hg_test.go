package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// hgTool runs hg in dir, with no configuration but the test's.
func hgTool(t *testing.T, dir string, args ...string) {
	t.Helper()
	if _, err := exec.LookPath("hg"); err != nil {
		t.Skip("no hg command (Debian package mercurial)")
	}
	cmd := exec.Command("hg", args...)
	cmd.Dir = dir
	cmd.Env = []string{"PATH=/usr/bin:/bin", "HOME=" + t.TempDir(), "HGRCPATH=", "HGPLAIN=1", "HGUSER=test", "LC_ALL=C.UTF-8"}
	var errb bytes.Buffer
	cmd.Stderr = &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("hg %q: %v: %s", args, err, errb.String())
	}
}

// A module from a Mercurial repository (a local path) builds at the
// default trust level, picks up a new commit, and a run with no change
// reuses it without a checkout. The build sees the node's files and no
// .hg.
func TestHgModule(t *testing.T) {
	f := newFarm(t)
	repo := filepath.Join(f.dir, "repos", "hgmod")
	if err := os.MkdirAll(repo, 0o755); err != nil {
		t.Fatal(err)
	}
	hgTool(t, repo, "init")
	write := func(name, body string) {
		if err := os.WriteFile(filepath.Join(repo, name), []byte(body), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	write("autobuild.sh", "#!/bin/sh\nset -eu\ncp version \"$AUTOBUILD_PACKAGE_ROOT/version\"\nls -a > \"$AUTOBUILD_PACKAGE_ROOT/files\"\n")
	write("version", "one\n")
	hgTool(t, repo, "commit", "--addremove", "-m", "first")
	f.config("modules:\n  - {name: hgmod, source: {kind: hg, url: \"" + repo + "\"}}\n")

	published := func(name string) string {
		b, err := os.ReadFile(filepath.Join(f.root, "public_html", "packages", "hgmod", name))
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
	hgTool(t, repo, "commit", "-m", "second")
	if r := f.run(); r.code != 0 {
		t.Fatal(r.dump())
	}
	if m := module(f.status(), "hgmod"); !m.State.OK() || strings.Contains(m.Reason, "unchanged") {
		t.Fatalf("after a commit: %s (%s)", m.State, m.Reason)
	}
	if got := published("version"); got != "two\n" {
		t.Errorf("the run after a commit built %q", got)
	}

	if r := f.run(); r.code != 0 {
		t.Fatal(r.dump())
	}
	if m := module(f.status(), "hgmod"); !strings.Contains(m.Reason, "unchanged since run 2") {
		t.Errorf("a run with no change: %s (%s), want unchanged since run 2", m.State, m.Reason)
	}
}
