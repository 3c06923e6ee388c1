package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// svnTool runs svn or svnadmin in dir, with a clean environment.
func svnTool(t *testing.T, dir, tool string, args ...string) {
	t.Helper()
	cfg := filepath.Join(t.TempDir(), "cfg")
	if tool == "svn" {
		args = append([]string{"--non-interactive", "--config-dir", cfg}, args...)
	}
	cmd := exec.Command(tool, args...)
	cmd.Dir = dir
	cmd.Env = []string{"PATH=/usr/bin:/bin", "HOME=" + cfg, "LC_ALL=C.UTF-8"}
	var errb bytes.Buffer
	cmd.Stderr = &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s %q: %v: %s", tool, args, err, errb.String())
	}
}

// A module from a Subversion repository (standard layout, file:// URL)
// builds at the default trust level, picks up a new commit, and a run
// with no change reuses it without a checkout.
func TestSvnModule(t *testing.T) {
	f := newFarm(t)
	repo := filepath.Join(f.dir, "repos", "svnmod")
	if err := os.MkdirAll(filepath.Dir(repo), 0o755); err != nil {
		t.Fatal(err)
	}
	svnTool(t, f.dir, "svnadmin", "create", repo)
	wc := filepath.Join(t.TempDir(), "wc")
	svnTool(t, f.dir, "svn", "mkdir", "-m", "layout", "file://"+repo+"/trunk", "file://"+repo+"/branches", "file://"+repo+"/tags")
	svnTool(t, f.dir, "svn", "checkout", "file://"+repo+"/trunk", wc)
	write := func(name, body string) {
		if err := os.WriteFile(filepath.Join(wc, name), []byte(body), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	write("autobuild.sh", "#!/bin/sh\nset -eu\ncp version \"$AUTOBUILD_PACKAGE_ROOT/version\"\nls -a > \"$AUTOBUILD_PACKAGE_ROOT/files\"\n")
	write("version", "one\n")
	svnTool(t, wc, "svn", "add", "autobuild.sh", "version")
	svnTool(t, wc, "svn", "propset", "svn:executable", "on", "autobuild.sh")
	svnTool(t, wc, "svn", "commit", "-m", "first")
	f.config("modules:\n  - {name: svnmod, source: {kind: svn, url: \"file://" + repo + "\"}}\n")

	published := func(name string) string {
		b, err := os.ReadFile(filepath.Join(f.root, "public_html", "packages", "svnmod", name))
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
	// The work tree holds the revision's files and no .svn.
	if got := published("files"); got != ".\n..\nautobuild.sh\nversion\n" {
		t.Errorf("the build saw the files %q", got)
	}

	write("version", "two\n")
	svnTool(t, wc, "svn", "commit", "-m", "second")
	if r := f.run(); r.code != 0 {
		t.Fatal(r.dump())
	}
	if m := module(f.status(), "svnmod"); !m.State.OK() || strings.Contains(m.Reason, "unchanged") {
		t.Fatalf("after a commit: %s (%s)", m.State, m.Reason)
	}
	if got := published("version"); got != "two\n" {
		t.Errorf("the run after a commit built %q", got)
	}

	if r := f.run(); r.code != 0 {
		t.Fatal(r.dump())
	}
	if m := module(f.status(), "svnmod"); !strings.Contains(m.Reason, "unchanged since run 2") {
		t.Errorf("a run with no change: %s (%s), want unchanged since run 2", m.State, m.Reason)
	}
}
