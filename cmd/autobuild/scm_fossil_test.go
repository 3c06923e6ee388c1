package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/autobuild/autobuild/internal/testutil"
)

// fossilTool runs fossil in dir with a home of the test's own.
func fossilTool(t *testing.T, home, dir string, args ...string) {
	t.Helper()
	cmd := exec.Command("fossil", args...)
	cmd.Dir = dir
	cmd.Env = []string{"PATH=/usr/bin:/bin", "HOME=" + home, "FOSSIL_HOME=" + home, "FOSSIL_USER=test"}
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("fossil %q: %v: %s", args, err, out)
	}
}

// A module from a Fossil repository file builds at the default trust
// level, picks up a new check-in, and a run with no change reuses it
// without a checkout.
func TestFossilModule(t *testing.T) {
	testutil.NeedTool(t, "fossil", "fossil")
	f := newFarm(t)
	home, wc := t.TempDir(), t.TempDir()
	repo := filepath.Join(f.dir, "repos", "fslmod.fossil")
	if err := os.MkdirAll(filepath.Dir(repo), 0o755); err != nil {
		t.Fatal(err)
	}
	fossilTool(t, home, f.dir, "init", repo)
	fossilTool(t, home, wc, "open", repo)
	fossilTool(t, home, wc, "settings", "mtime-changes", "off")
	write := func(name, body string, mode os.FileMode) {
		if err := os.WriteFile(filepath.Join(wc, name), []byte(body), mode); err != nil {
			t.Fatal(err)
		}
	}
	write("autobuild.sh", scmE2EScript, 0o755)
	write("version", "one\n", 0o644)
	fossilTool(t, home, wc, "add", "autobuild.sh", "version")
	fossilTool(t, home, wc, "commit", "--no-warnings", "-m", "first")
	f.config("modules:\n  - {name: fslmod, source: {kind: fossil, url: repos/fslmod.fossil}}\n")
	checkSCMModule(t, f, "fslmod", true, func() {
		write("version", "two\n", 0o644)
		fossilTool(t, home, wc, "commit", "--no-warnings", "-m", "second")
	})
}
