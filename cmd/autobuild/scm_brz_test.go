package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/autobuild/autobuild/internal/testutil"
)

// brzTool runs brz in dir, with no configuration or plugins but the
// test's.
func brzTool(t *testing.T, dir string, args ...string) {
	t.Helper()
	testutil.NeedTool(t, "brz", "brz")
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
	write("autobuild.sh", scmE2EScript)
	write("version", "one\n")
	brzTool(t, trunk, "add", "-q")
	brzTool(t, trunk, "commit", "-q", "-m", "first")
	f.config("modules:\n  - {name: brzmod, source: {kind: brz, url: \"" + top + "\", branch: trunk}}\n")

	checkSCMModule(t, f, "brzmod", false, func() {
		write("version", "two\n")
		brzTool(t, trunk, "commit", "-q", "-m", "second")
	})
}
