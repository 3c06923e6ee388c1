package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/autobuild/autobuild/internal/testutil"
)

// hgTool runs hg in dir, with no configuration but the test's.
func hgTool(t *testing.T, dir string, args ...string) {
	t.Helper()
	testutil.NeedTool(t, "hg", "mercurial")
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
	write("autobuild.sh", scmE2EScript)
	write("version", "one\n")
	hgTool(t, repo, "commit", "--addremove", "-m", "first")
	f.config("modules:\n  - {name: hgmod, source: {kind: hg, url: \"" + repo + "\"}}\n")

	checkSCMModule(t, f, "hgmod", false, func() {
		write("version", "two\n")
		hgTool(t, repo, "commit", "-m", "second")
	})
}
