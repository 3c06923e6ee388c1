package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
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
	write("autobuild.sh", scmE2EScript)
	write("version", "one\n")
	svnTool(t, wc, "svn", "add", "autobuild.sh", "version")
	svnTool(t, wc, "svn", "propset", "svn:executable", "on", "autobuild.sh")
	svnTool(t, wc, "svn", "commit", "-m", "first")
	f.config("modules:\n  - {name: svnmod, source: {kind: svn, url: \"file://" + repo + "\"}}\n")

	checkSCMModule(t, f, "svnmod", false, func() {
		write("version", "two\n")
		svnTool(t, wc, "svn", "commit", "-m", "second")
	})
}
