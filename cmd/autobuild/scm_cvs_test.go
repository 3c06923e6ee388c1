package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
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
	write(imp, "autobuild.sh", "#!/bin/sh\nset -eu\ncp version \"$AUTOBUILD_PACKAGE_ROOT/version\"\nls -a > \"$AUTOBUILD_PACKAGE_ROOT/files\"\n")
	write(imp, "version", "one\n")
	cvsTool(t, imp, "-d", root, "import", "-m", "first", "cvsmod", "vendor", "start")
	f.config("modules:\n  - {name: cvsmod, source: {kind: cvs, url: \"" + root + "#cvsmod\"}}\n")

	published := func(name string) string {
		b, err := os.ReadFile(filepath.Join(f.root, "public_html", "packages", "cvsmod", name))
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
	// The work tree holds the revision's files and no CVS folder.
	if got := published("files"); got != ".\n..\nautobuild.sh\nversion\n" {
		t.Errorf("the build saw the files %q", got)
	}

	wc := filepath.Join(t.TempDir(), "wc")
	cvsTool(t, filepath.Dir(wc), "-d", root, "checkout", "-d", "wc", "cvsmod")
	write(wc, "version", "two\n")
	cvsTool(t, wc, "commit", "-m", "second")
	if r := f.run(); r.code != 0 {
		t.Fatal(r.dump())
	}
	if m := module(f.status(), "cvsmod"); !m.State.OK() || strings.Contains(m.Reason, "unchanged") {
		t.Fatalf("after a commit: %s (%s)", m.State, m.Reason)
	}
	if got := published("version"); got != "two\n" {
		t.Errorf("the run after a commit built %q", got)
	}

	if r := f.run(); r.code != 0 {
		t.Fatal(r.dump())
	}
	if m := module(f.status(), "cvsmod"); !strings.Contains(m.Reason, "unchanged since run 2") {
		t.Errorf("a run with no change: %s (%s), want unchanged since run 2", m.State, m.Reason)
	}
}
