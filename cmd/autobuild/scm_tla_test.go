package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/autobuild/autobuild/internal/testutil"
)

// tlaTool runs tla in dir with a home of the test's own.
func tlaTool(t *testing.T, home, dir string, args ...string) {
	t.Helper()
	cmd := exec.Command("tla", args...)
	cmd.Dir = dir
	cmd.Env = []string{"PATH=/usr/bin:/bin", "HOME=" + home, "LANG=C"}
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("tla %q: %v: %s", args, err, out)
	}
}

// A module from a GNU Arch archive builds at the default trust level,
// picks up a new revision, and a run with no change reuses it without a
// checkout. The archive is registered in the committer's home only: the
// checkout registers it in its own.
func TestTLAModule(t *testing.T) {
	testutil.NeedTool(t, "tla", "tla")
	f := newFarm(t)
	home := t.TempDir()
	const version = "test@example.org--e2e/tlamod--main--1.0"
	archive := filepath.Join(f.dir, "repos", "tlamod")
	wd := filepath.Join(t.TempDir(), "wd")
	for _, d := range []string{wd, filepath.Dir(archive)} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	tlaTool(t, home, wd, "my-id", "Test <test@example.org>")
	tlaTool(t, home, wd, "make-archive", "test@example.org--e2e", archive)
	tlaTool(t, home, wd, "archive-setup", version)
	tlaTool(t, home, wd, "init-tree", version)
	write := func(name, body string) {
		if err := os.WriteFile(filepath.Join(wd, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// Every file is source, whatever its name (the "names" tagging
	// method).
	write("{arch}/=tagging-method", "names\nuntagged-source source\nexclude ^(\\{arch\\})$\njunk ^$\nprecious ^$\nbackup ^$\nunrecognized ^$\nsource ^.*$\n")
	write("autobuild.sh", scmE2EScript)
	write("version", "one\n")
	tlaTool(t, home, wd, "import", "-s", "first", "-L", "first")
	f.config("modules:\n  - {name: tlamod, command: sh autobuild.sh, source: {kind: tla, url: \"" + archive + "#" + version + "\"}}\n")
	checkSCMModule(t, f, "tlamod", true, func() {
		write("version", "two\n")
		tlaTool(t, home, wd, "commit", "-s", "second", "-L", "second")
	})
}
