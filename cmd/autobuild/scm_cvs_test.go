package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// cvsTool runs cvs in dir, with a clean environment.
func cvsTool(t *testing.T, dir string, args ...string) {
	t.Helper()
	cmd := exec.Command("cvs", append([]string{"-f"}, args...)...)
	cmd.Dir = dir
	cmd.Env = []string{"PATH=/usr/bin:/bin", "HOME=" + t.TempDir()}
	var errb bytes.Buffer
	cmd.Stderr = &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("cvs %q: %v: %s", args, err, errb.String())
	}
}

// A module from a CVS repository (a local CVSROOT and a module) builds at
// the default trust level, picks up a new commit, and a run with no
// change reuses it without a checkout.
func TestCvsModule(t *testing.T) {
	f := newFarm(t)
	root := filepath.Join(f.dir, "repos", "cvsroot")
	if err := os.MkdirAll(root, 0o755); err != nil {
		t.Fatal(err)
	}
	cvsTool(t, f.dir, "-d", root, "init")
	imp := t.TempDir()
	write := func(dir, name, body string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	write(imp, "autobuild.sh", scmE2EScript)
	write(imp, "version", "one\n")
	cvsTool(t, imp, "-d", root, "import", "-m", "first", "cvsmod", "vendor", "start")
	f.config("modules:\n  - {name: cvsmod, source: {kind: cvs, url: \"" + root + "#cvsmod\"}}\n")

	checkSCMModule(t, f, "cvsmod", false, func() {
		wc := filepath.Join(t.TempDir(), "wc")
		cvsTool(t, filepath.Dir(wc), "-d", root, "checkout", "-d", "wc", "cvsmod")
		write(wc, "version", "two\n")
		cvsTool(t, wc, "commit", "-m", "second")
	})
}
