package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/autobuild/autobuild/internal/testutil"
)

// darcsTool runs darcs in dir with a home of the test's own.
func darcsTool(t *testing.T, home, dir string, args ...string) {
	t.Helper()
	cmd := exec.Command("darcs", args...)
	cmd.Dir = dir
	cmd.Env = []string{"PATH=/usr/bin:/bin", "HOME=" + home, "DARCS_EMAIL=test <test@example.org>"}
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("darcs %q: %v: %s", args, err, out)
	}
}

// A module from a Darcs repository builds at the default trust level,
// picks up a new patch, and a run with no change reuses it without a
// checkout. (Darcs records no file modes: the build runs the script
// with sh.)
func TestDarcsModule(t *testing.T) {
	testutil.NeedTool(t, "darcs", "darcs")
	f := newFarm(t)
	home := t.TempDir()
	repo := filepath.Join(f.dir, "repos", "darcsmod")
	if err := os.MkdirAll(repo, 0o755); err != nil {
		t.Fatal(err)
	}
	darcsTool(t, home, repo, "init")
	write := func(name, body string) {
		if err := os.WriteFile(filepath.Join(repo, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("autobuild.sh", scmE2EScript)
	write("version", "one\n")
	darcsTool(t, home, repo, "add", "autobuild.sh", "version")
	darcsTool(t, home, repo, "record", "--all", "--name", "first")
	f.config("modules:\n  - {name: darcsmod, command: sh autobuild.sh, source: {kind: darcs, url: repos/darcsmod}}\n")
	checkSCMModule(t, f, "darcsmod", true, func() {
		write("version", "two\n")
		darcsTool(t, home, repo, "record", "--all", "--ignore-times", "--name", "second")
	})
}
