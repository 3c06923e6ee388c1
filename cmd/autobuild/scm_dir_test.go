package main

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// scmE2EScript is the build of the SCM end-to-end tests: it publishes the
// file "version" and the list of the files the build was given.
const scmE2EScript = "#!/bin/sh\nset -eu\ncp version \"$AUTOBUILD_PACKAGE_ROOT/version\"\nls -a > \"$AUTOBUILD_PACKAGE_ROOT/files\"\n"

// checkSCMModule runs the module mod (configured by f.config already,
// its source holding scmE2EScript and version "one") three times, calling
// change between the first two to make version "two": the first run
// builds the source's files and nothing else, the second picks up the
// change, and the third, with no change, reuses the module (and, with
// revFile, runs no checkout: its metadata folder's revision file is not
// rewritten). The second run lists the change; a fourth, --timestamp of
// a time between the two versions, gives the first build back (a source
// without history, kind dir, fails it: it no longer holds that content).
func checkSCMModule(t *testing.T, f *farm, mod string, revFile bool, change func()) {
	t.Helper()
	published := func(name string) string {
		t.Helper()
		b, err := os.ReadFile(filepath.Join(f.root, "public_html", "packages", mod, name))
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
	// Exactly the source's files: no metadata of the SCM's.
	if got := published("files"); got != ".\n..\nautobuild.sh\nversion\n" {
		t.Errorf("the build saw the files %q", got)
	}

	// Commit times are whole seconds: the time between the versions
	// lies a second after the first and a second before the change.
	now := time.Now()
	at := now.Truncate(time.Second).Add(time.Second)
	time.Sleep(at.Add(time.Second + 10*time.Millisecond).Sub(now))
	first := module(f.status(), mod).Revision
	change()
	if r := f.run(); r.code != 0 {
		t.Fatal(r.dump())
	}
	m := module(f.status(), mod)
	if !m.State.OK() || strings.Contains(m.Reason, "unchanged") {
		t.Fatalf("after a change: %s (%s)", m.State, m.Reason)
	}
	if mod == "dirmod" {
		if len(m.Changes) != 0 {
			t.Errorf("a plain folder listed changes %+v", m.Changes)
		}
	} else if len(m.Changes) == 0 || !slices.Contains(m.Changes[0].Files, "version") || m.ChangesSince != first {
		t.Errorf("after a change: changes %+v since %q; want the commit of version, since %s", m.Changes, m.ChangesSince, first)
	}
	if got := published("version"); got != "two\n" {
		t.Errorf("the run after a change built %q", got)
	}

	rev := filepath.Join(f.root, "scm-root", mod, "revision")
	var before os.FileInfo
	if revFile {
		var err error
		if before, err = os.Stat(rev); err != nil {
			t.Fatalf("the checkout recorded no revision: %v", err)
		}
		time.Sleep(20 * time.Millisecond) // past a coarse clock's tick
	}
	if r := f.run(); r.code != 0 {
		t.Fatal(r.dump())
	}
	if m := module(f.status(), mod); !strings.Contains(m.Reason, "unchanged since run 2") {
		t.Errorf("a run with no change: %s (%s), want unchanged since run 2", m.State, m.Reason)
	}
	if revFile {
		if after, err := os.Stat(rev); err != nil || !after.ModTime().Equal(before.ModTime()) {
			t.Errorf("a run with no change ran a checkout (revision file %v, %v)", after, err)
		}
	}

	r := f.run("--timestamp", at.UTC().Format(time.RFC3339))
	m = module(f.status(), mod)
	if mod == "dirmod" {
		if r.code != 1 || !strings.Contains(m.Reason, "no revision at or before") {
			t.Errorf("--timestamp of a changed folder: %s (%s); want it failed\n%s", m.State, m.Reason, r.dump())
		}
		return
	}
	if r.code != 0 || m.Revision != first || published("version") != "one\n" {
		t.Errorf("--timestamp %v: %s (%s) at %s, built %q; want the first build's %s\n%s", at, m.State, m.Reason, m.Revision, published("version"), first, r.dump())
	}
}

// A module from a plain folder (kind dir) builds at the default trust
// level, picks up a changed file, and a run with no change reuses it
// without a checkout.
func TestDirModule(t *testing.T) {
	f := newFarm(t)
	src := filepath.Join(f.dir, "repos", "dirmod")
	if err := os.MkdirAll(src, 0o755); err != nil {
		t.Fatal(err)
	}
	write := func(name, body string, mode os.FileMode) {
		if err := os.WriteFile(filepath.Join(src, name), []byte(body), mode); err != nil {
			t.Fatal(err)
		}
	}
	write("autobuild.sh", scmE2EScript, 0o755)
	write("version", "one\n", 0o644)
	f.config("modules:\n  - {name: dirmod, source: {kind: dir, url: repos/dirmod}}\n")
	checkSCMModule(t, f, "dirmod", true, func() { write("version", "two\n", 0o644) })
}
