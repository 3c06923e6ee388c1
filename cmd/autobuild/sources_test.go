package main

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/autobuild/autobuild/internal/testutil"
)

// A module of two sources gets each in its own folder, its revision names
// both, a commit in either rebuilds it with that commit among its
// changes, and what a build leaves beside the sources' folders is gone
// before the next build.
func TestModuleOfTwoSources(t *testing.T) {
	f := newFarm(t)
	code := f.repo("code", map[string]string{"autobuild.sh": "#!/bin/sh\nset -eu\n" +
		"cat ../data/value > \"$AUTOBUILD_PACKAGE_ROOT/value\"\n" +
		"ls -a .. > \"$AUTOBUILD_PACKAGE_ROOT/top\"\n" +
		"echo left by the build > ../junk\n"})
	data := f.repo("data", map[string]string{"value": "one\n"})
	f.config("modules:\n  - name: both\n    sources:\n      - {path: code, url: repos/code}\n      - {path: data, url: repos/data}\n")
	published := func(name string) string {
		t.Helper()
		b, err := os.ReadFile(filepath.Join(f.root, "public_html", "packages", "both", name))
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	if r := f.run(); r.code != 0 {
		t.Fatal(r.dump())
	}
	headCode, headData := testutil.Git(t, code, "rev-parse", "HEAD"), testutil.Git(t, data, "rev-parse", "HEAD")
	m := module(f.status(), "both")
	if want := "code=" + headCode + " data=" + headData; m.Revision != want {
		t.Errorf("revision %q, want %q", m.Revision, want)
	}
	if got := published("value"); got != "one\n" {
		t.Errorf("built %q", got)
	}
	if got := published("top"); got != ".\n..\ncode\ndata\n" {
		t.Errorf("the module's folder held %q, want the two sources' folders", got)
	}

	newData := testutil.Commit(t, data, map[string]string{"value": "two\n"})
	if r := f.run(); r.code != 0 {
		t.Fatal(r.dump())
	}
	m = module(f.status(), "both")
	if m.State != "built" || published("value") != "two\n" {
		t.Fatalf("after a commit in data: %s (%s), built %q", m.State, m.Reason, published("value"))
	}
	if got := published("top"); got != ".\n..\ncode\ndata\n" {
		t.Errorf("the second build found %q at the top: what the first left was not removed", got)
	}
	if len(m.Changes) != 1 || m.Changes[0].ID != newData || m.Changes[0].Source != "data" || !slices.Equal(m.Changes[0].Files, []string{"value"}) {
		t.Errorf("changes %+v, want the one commit in data", m.Changes)
	}
	if want := "code=" + headCode + " data=" + headData; m.ChangesSince != want {
		t.Errorf("changes since %q, want the first build's %q", m.ChangesSince, want)
	}

	if r := f.run(); r.code != 0 {
		t.Fatal(r.dump())
	}
	if m := module(f.status(), "both"); !strings.Contains(m.Reason, "unchanged since run 2") {
		t.Errorf("a run with no change: %s (%s)", m.State, m.Reason)
	}
}

// run --timestamp builds every module as it was then, says so, and the
// next run without it builds the newest again (from the archive).
func TestRunAsOfTimestamp(t *testing.T) {
	f := newFarm(t)
	repo := f.repo("app", map[string]string{"autobuild.sh": "#!/bin/sh\ncp version \"$AUTOBUILD_PACKAGE_ROOT/\"\n", "version": "one\n"})
	old := testutil.Git(t, repo, "rev-parse", "HEAD")
	// Commit times are whole seconds: the time asked for lies a second
	// after the first commit, and before the second.
	now := time.Now()
	at := now.Truncate(time.Second).Add(time.Second)
	time.Sleep(at.Add(time.Second + 10*time.Millisecond).Sub(now))
	testutil.Commit(t, repo, map[string]string{"version": "two\n"})
	f.config("modules:\n  - {name: app, source: {url: repos/app}}\n")
	version := func() string {
		t.Helper()
		b, err := os.ReadFile(filepath.Join(f.root, "public_html", "packages", "app", "version"))
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	if r := f.run(); r.code != 0 || version() != "two\n" {
		t.Fatalf("%s\nbuilt %q", r.dump(), version())
	}

	if r := f.run("--timestamp", at.UTC().Format(time.RFC3339)); r.code != 0 {
		t.Fatal(r.dump())
	}
	st := f.status()
	if m := module(st, "app"); m.Revision != old || version() != "one\n" {
		t.Errorf("as of %v: revision %s, built %q; want %s and one", at, m.Revision, version(), old)
	}
	if !st.AsOf.Equal(at) {
		t.Errorf("status.json as_of = %v, want %v", st.AsOf, at)
	}
	page, err := os.ReadFile(filepath.Join(f.root, "public_html", "index.html"))
	if err != nil || !strings.Contains(string(page), "Sources as of "+at.UTC().Format("2006-01-02 15:04:05 UTC")) {
		t.Errorf("the site does not say the sources are as of %v (%v)", at, err)
	}

	if r := f.run(); r.code != 0 {
		t.Fatal(r.dump())
	}
	if m := module(f.status(), "app"); version() != "two\n" || !strings.Contains(m.Reason, "restored from the build archive") {
		t.Errorf("back to the newest: %s (%s), built %q", m.State, m.Reason, version())
	}
	if r := f.run("--timestamp", "1999-01-01"); r.code == 0 {
		t.Errorf("as of before the first commit: exit 0, want the module failed")
	} else if m := module(f.status(), "app"); m.State != "failed" || !strings.Contains(m.Reason, "no revision at or before") {
		t.Errorf("as of before the first commit: %s (%s)", m.State, m.Reason)
	}
	if r := f.run("--timestamp", "soon"); r.code != 2 || !strings.Contains(r.stderr, "--timestamp") {
		t.Errorf("--timestamp soon: %s; want a usage error", r.dump())
	}
}
