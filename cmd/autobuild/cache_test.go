package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/autobuild/autobuild/engine/report"
	"github.com/autobuild/autobuild/internal/testutil"
)

// cacheFarm: app depends on lib; other is independent. Each build leaves
// the run counter it was built in, so a reuse is visible in the files.
func cacheFarm(t *testing.T) *farm {
	f := newFarm(t)
	for _, m := range []string{"lib", "app", "other"} {
		f.repo(m, script(`echo "$AUTOBUILD_COUNTER ${FLAVOUR:-}" > "$AUTOBUILD_PACKAGE_ROOT/built-in"; mkdir -p "$AUTOBUILD_INSTALL_ROOT/usr/share"; echo `+m+` > "$AUTOBUILD_INSTALL_ROOT/usr/share/`+m+`"`))
	}
	return f
}

const cacheConfig = `modules:
  - {name: lib, source: {url: repos/lib}%s}
  - {name: app, source: {url: repos/app}, depends: [lib]%s}
  - {name: other, source: {url: repos/other}}
`

func (f *farm) states() map[string]report.State {
	out := map[string]report.State{}
	for _, m := range f.status().Modules {
		out[m.Name] = m.State
	}
	return out
}

func (f *farm) mustRun(args ...string) {
	f.t.Helper()
	if r := f.run(args...); r.code != 0 {
		f.t.Fatal(r.dump())
	}
}

func TestCacheRebuildsExactlyWhatChanged(t *testing.T) {
	B, C := report.Built, report.Reused
	tests := []struct {
		name   string
		libCfg string // extra config for lib, after the first run
		appCfg string
		commit string // module to commit a change to
		want   map[string]report.State
	}{
		{"nothing changed", "", "", "", map[string]report.State{"lib": C, "app": C, "other": C}},
		{"dependency changed", "", "", "lib", map[string]report.State{"lib": B, "app": B, "other": C}},
		{"dependent changed", "", "", "app", map[string]report.State{"lib": C, "app": B, "other": C}},
		{"command changed", `, command: "FLAVOUR=x ./autobuild.sh"`, "", "", map[string]report.State{"lib": B, "app": B, "other": C}},
		{"environment changed", `, env: ["FLAVOUR=y"]`, "", "", map[string]report.State{"lib": B, "app": B, "other": C}},
		{"trust level changed", "", `, trust: network`, "", map[string]report.State{"lib": C, "app": B, "other": C}},
		{"timeout and groups do not matter", `, timeout: 5m, groups: [core]`, "", "", map[string]report.State{"lib": C, "app": C, "other": C}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := cacheFarm(t)
			f.config(strings.Replace(cacheConfig, "%s", "", 2))
			f.mustRun()
			if tt.commit != "" {
				testutil.Commit(t, filepath.Join(f.dir, "repos", tt.commit), map[string]string{"change": "x"})
			}
			f.config(replace2(cacheConfig, tt.libCfg, tt.appCfg))
			f.mustRun()
			got := f.states()
			for m, s := range tt.want {
				if got[m] != s {
					t.Errorf("%s: %s, want %s", m, got[m], s)
				}
			}
			// The files say the same: a reused module still holds run 1's build.
			for m, s := range tt.want {
				b, _ := os.ReadFile(filepath.Join(f.root, "public_html", "packages", m, "built-in"))
				run := strings.Fields(string(b))
				wantRun := "1"
				if s == report.Built {
					wantRun = "2"
				}
				if len(run) == 0 || run[0] != wantRun {
					t.Errorf("%s's published artifact is from run %v, want %s", m, run, wantRun)
				}
			}
		})
	}
}

func TestCacheArchiveRestoreAndCorruption(t *testing.T) {
	f := cacheFarm(t)
	plain := strings.Replace(cacheConfig, "%s", "", 2)
	flavoured := replace2(cacheConfig, "", `, env: ["FLAVOUR=z"]`)
	f.config(plain)
	f.mustRun() // run 1: app built with the plain settings
	f.config(flavoured)
	f.mustRun() // run 2: app rebuilt
	f.config(plain)
	f.mustRun() // run 3: back to run 1's inputs: restored from the archive
	m := module(f.status(), "app")
	if m.State != report.Reused || m.ReusedFrom != 1 || !strings.Contains(m.Reason, "restored from the build archive (built in run 1)") {
		t.Fatalf("app: %s from %d (%s), want restored from the build archive", m.State, m.ReusedFrom, m.Reason)
	}
	page, _ := os.ReadFile(filepath.Join(f.root, "public_html", "index.html"))
	if !strings.Contains(string(page), "restored from the build archive (built in run 1)") {
		t.Errorf("the site does not say where app came from")
	}
	if b, _ := os.ReadFile(filepath.Join(f.root, "install-root", "app", "usr", "share", "app")); string(b) != "app\n" {
		t.Errorf("restored install root: %q", b)
	}

	// Corrupt the flavoured entry of run 2, then ask for it again: it must
	// be rebuilt, never used.
	entries, _ := filepath.Glob(filepath.Join(f.root, "build-archive", "app", "*", "package", "built-in"))
	corrupted := 0
	for _, e := range entries {
		if b, _ := os.ReadFile(e); strings.HasPrefix(string(b), "2 ") {
			os.Chmod(e, 0o644)
			os.WriteFile(e, []byte("2 tampered\n"), 0o644)
			corrupted++
		}
	}
	if corrupted != 1 {
		t.Fatalf("found %d archive entries of run 2 to corrupt (entries: %v)", corrupted, entries)
	}
	f.config(flavoured)
	f.mustRun() // run 4
	if m := module(f.status(), "app"); m.State != report.Built {
		t.Errorf("app with a corrupt archive entry: %s (%s), want rebuilt", m.State, m.Reason)
	}
	if b, _ := os.ReadFile(filepath.Join(f.root, "public_html", "packages", "app", "built-in")); string(b) != "4 z\n" {
		t.Errorf("published artifact %q, want the fresh build of run 4", b)
	}
}

func TestForce(t *testing.T) {
	f := cacheFarm(t)
	f.config(strings.Replace(cacheConfig, "%s", "", 2))
	f.mustRun()
	f.mustRun("--force=other")
	if got := f.states(); got["other"] != report.Built || got["lib"] != report.Reused || got["app"] != report.Reused {
		t.Errorf("--force=other: %v", got)
	}
	f.mustRun("--force")
	for m, s := range f.states() {
		if s != report.Built {
			t.Errorf("--force: %s %s", m, s)
		}
	}
	if r := f.run("--force=nope"); r.code != 2 || !strings.Contains(r.stderr, `unknown module "nope"`) {
		t.Errorf("--force of an unknown module:\n%s", r.dump())
	}
}

func replace2(s, a, b string) string {
	s = strings.Replace(s, "%s", a, 1)
	return strings.Replace(s, "%s", b, 1)
}

func TestEveryBuildStartsFromThePinnedSource(t *testing.T) {
	f := newFarm(t)
	files := script(`test ! -e leftover || { echo "leftover from an earlier build"; exit 9; }
grep -q original tracked || { echo "tracked file was modified"; exit 8; }
touch leftover; echo modified > tracked`)
	files["tracked"] = "original\n"
	f.repo("m", files)
	f.config("modules:\n  - {name: m, source: {url: repos/m}}\n")
	f.mustRun()
	src := filepath.Join(f.root, "source-root", "m", "autobuild.sh")
	before, err := os.Stat(src)
	if err != nil {
		t.Fatal(err)
	}
	// A no-change run does not touch the work tree at all.
	f.mustRun()
	after, _ := os.Stat(src)
	if !after.ModTime().Equal(before.ModTime()) {
		t.Errorf("a no-change run rewrote the work tree")
	}
	if _, err := os.Stat(filepath.Join(f.root, "source-root", "m", "leftover")); err != nil {
		t.Errorf("a no-change run cleaned the work tree (it should not touch it)")
	}
	// A rebuild starts clean: the leftover is gone and the file restored.
	if r := f.run("--force"); r.code != 0 {
		t.Fatalf("rebuild saw the previous build's changes:\n%s", r.dump())
	}
}
