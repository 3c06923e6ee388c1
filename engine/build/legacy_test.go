package build

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/autobuild/autobuild/engine/executor"
	"github.com/autobuild/autobuild/internal/testutil"
	"github.com/autobuild/autobuild/sandbox"
)

// Test-AutoBuild's names beside autobuild's: AUTO_BUILD_ROOT is the
// install root, AUTO_BUILD_COUNTER the counter; a Stamp replaces the
// counter (in both names) and the timestamp, and its note is logged.
func TestLegacyEnv(t *testing.T) {
	req := Request{
		Module: "app", Dirs: Dirs{Source: "/b/src/app", Install: "/b/inst/app", Package: "/b/pkg/app", Tmp: "/b/tmp/app"},
		Counter: 7, Start: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), Env: []string{"OWN=1"},
	}
	get := func(env []string, name string) (string, int) {
		n, v := 0, ""
		for _, e := range env {
			if k, val, _ := strings.Cut(e, "="); k == name {
				n, v = n+1, val
			}
		}
		return v, n
	}
	check := func(env []string, want map[string]string) {
		t.Helper()
		for k, w := range want {
			if v, n := get(env, k); v != w || n != 1 {
				t.Errorf("%s=%q (set %d times), want %q once", k, v, n, w)
			}
		}
	}
	env, notes := Env(req, func(string) bool { return false })
	check(env, map[string]string{
		"AUTOBUILD_MODULE": "app", "AUTOBUILD_SOURCE_ROOT": "/b/src/app", "AUTOBUILD_INSTALL_ROOT": "/b/inst/app",
		"AUTOBUILD_PACKAGE_ROOT": "/b/pkg/app", "AUTOBUILD_COUNTER": "7", "AUTOBUILD_TIMESTAMP": "2026-01-02T03:04:05Z",
		"AUTO_BUILD_ROOT": "/b/inst/app", "AUTO_BUILD_COUNTER": "7",
	})
	if len(notes) > 0 {
		t.Errorf("notes without a Stamp: %q", notes)
	}
	if env[len(env)-1] != "OWN=1" {
		t.Errorf("the module's own settings do not come last: %q", env)
	}

	req.Stamp = Stamp{Counter: "1767323045", Timestamp: "1767322000", Note: "how it was made"}
	env, notes = Env(req, func(string) bool { return false })
	check(env, map[string]string{"AUTOBUILD_COUNTER": "1767323045", "AUTO_BUILD_COUNTER": "1767323045", "AUTOBUILD_TIMESTAMP": "1767322000"})
	if !slices.Contains(notes, "how it was made") {
		t.Errorf("the Stamp's note is not logged: %q", notes)
	}
}

// MergedLower puts the last dependency (in topological order) on top.
func TestMergedLower(t *testing.T) {
	got := MergedLower([]Dep{{"base", "/r/base"}, {"mid", "/r/mid"}, {"lib", "/r/lib"}})
	if want := []string{"/r/lib", "/r/mid", "/r/base"}; !slices.Equal(got, want) {
		t.Errorf("MergedLower = %q, want %q", got, want)
	}
}

// depRoots makes the install roots of named dependencies, each holding
// files (path → content), owned by another uid than the build's where
// the test is root.
func depRoots(t *testing.T, layers []map[string]string) []Dep {
	t.Helper()
	dir := testutil.Dir(t)
	var deps []Dep
	for i, files := range layers {
		root := filepath.Join(dir, fmt.Sprintf("dep%d", i))
		for rel, body := range files {
			p := filepath.Join(root, rel)
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		if err := os.MkdirAll(root, 0o755); err != nil {
			t.Fatal(err)
		}
		if os.Geteuid() == 0 {
			uid := sandbox.BuildUID("build-test-dep")
			filepath.WalkDir(root, func(p string, _ os.DirEntry, err error) error {
				if err == nil {
					err = os.Lchown(p, uid, uid)
				}
				return err
			})
		}
		deps = append(deps, Dep{Name: fmt.Sprintf("dep%d", i), Root: root})
	}
	return deps
}

// A merged install root: the build finds its dependencies' files at
// $AUTOBUILD_INSTALL_ROOT (a dependency's over those of the modules it
// depends on), installs beside them, and its install root holds only
// what it installed after.
func TestMergedInstallRoot(t *testing.T) {
	deps := depRoots(t, []map[string]string{
		{"include/v.h": "base\n", "lib/libbase.a": "base lib\n"},
		{"include/v.h": "lib\n", "include/lib.h": "lib header\n"},
	})
	for _, level := range []string{"unconfined", "isolated"} {
		t.Run(level, func(t *testing.T) {
			f := newFixture(t, level, deps, nil)
			f.req.Merged = true
			_, err := f.run(t, `set -e
cat "$AUTOBUILD_INSTALL_ROOT/include/v.h" "$AUTOBUILD_INSTALL_ROOT/include/lib.h" "$AUTO_BUILD_ROOT/lib/libbase.a" > "$AUTOBUILD_PACKAGE_ROOT/seen"
mkdir -p "$AUTOBUILD_INSTALL_ROOT/include" "$AUTOBUILD_INSTALL_ROOT/bin"
echo app > "$AUTOBUILD_INSTALL_ROOT/include/app.h"
echo prog > "$AUTOBUILD_INSTALL_ROOT/bin/app"`)
			if err != nil {
				t.Fatalf("build: %v\n%s", err, f.logText(t))
			}
			if b, _ := os.ReadFile(filepath.Join(f.req.Dirs.Package, "seen")); string(b) != "lib\nlib header\nbase lib\n" {
				t.Errorf("the build saw %q in its install root", b)
			}
			var got []string
			filepath.WalkDir(f.req.Dirs.Install, func(p string, d os.DirEntry, err error) error {
				rel, _ := filepath.Rel(f.req.Dirs.Install, p)
				got = append(got, rel)
				return err
			})
			if want := []string{".", "bin", "bin/app", "include", "include/app.h"}; !slices.Equal(got, want) {
				t.Errorf("the install root holds %q, want %q", got, want)
			}
		})
	}
}

// More dependencies than one overlay stacks (500) still merge: 600, each
// installing a file of its own into one folder.
func TestMergedManyDependencies(t *testing.T) {
	const n = 600
	layers := make([]map[string]string, n)
	for i := range layers {
		layers[i] = map[string]string{fmt.Sprintf("share/data/%03d", i): "x"}
	}
	f := newFixture(t, "isolated", depRoots(t, layers), nil)
	f.req.Merged = true
	_, err := f.run(t, `ls "$AUTOBUILD_INSTALL_ROOT/share/data" | wc -l > "$AUTOBUILD_PACKAGE_ROOT/count"`)
	if err != nil {
		t.Fatalf("build: %v\n%s", err, f.logText(t))
	}
	if b, _ := os.ReadFile(filepath.Join(f.req.Dirs.Package, "count")); strings.TrimSpace(string(b)) != fmt.Sprint(n) {
		t.Errorf("the build saw %q files, want %d", b, n)
	}
	if ents, err := os.ReadDir(f.req.Dirs.Install); err != nil || len(ents) > 0 {
		t.Errorf("the install root holds %v (%v), want nothing", ents, err)
	}
}

// Where the host mounts no overlay, a build with a merged install root
// does not run: its reason says so and how to do without, and it is no
// confinement failure.
func TestMergedRefused(t *testing.T) {
	deps := depRoots(t, []map[string]string{{"include/p.h": "p\n"}})
	f := newFixture(t, "isolated", deps, nil)
	h := sandbox.ProbeHost()
	h.Overlay = false
	f.ex = executor.NewLocal(&sandbox.Exec{Self: helper, Host: h}, h, helper, f.ex.WS.Root)
	f.req.Merged = true
	_, err := f.run(t, `touch "$AUTOBUILD_PACKAGE_ROOT/ran"`)
	var be *Error
	if !errors.As(err, &be) || be.Err == nil || errors.Is(err, sandbox.ErrUnsupported) {
		t.Fatalf("build = %v, want an *Error with its cause, not a confinement failure", err)
	}
	for _, s := range []string{"cannot mount an overlay", "install_root: own"} {
		if !strings.Contains(be.Reason, s) {
			t.Errorf("the reason %q does not say %q", be.Reason, s)
		}
	}
	if _, err := os.Stat(filepath.Join(f.req.Dirs.Package, "ran")); err == nil {
		t.Error("the build ran without its merged install root")
	}
	f.req.Merged = false
	if _, err := f.run(t, `touch "$AUTOBUILD_PACKAGE_ROOT/ran"`); err != nil {
		t.Errorf("without the merged install root: %v", err)
	}
}
