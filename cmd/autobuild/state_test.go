package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/autobuild/autobuild/engine/report"
	"github.com/autobuild/autobuild/internal/testutil"
)

// A run killed while a forced rebuild had already emptied a module's
// folders leaves the module marked in progress: the next run, whose key
// for it is the very key of the build before, does not take the empty
// folders for that build. Its dependent builds against complete files.
func TestKilledForcedRebuildIsNotReused(t *testing.T) {
	for _, archive := range []string{"on", "off"} {
		t.Run("archive "+archive, func(t *testing.T) {
			f := newFarm(t)
			f.repo("lib", script(`if [ "${HOLD:-}" = 1 ]; then touch "$AUTOBUILD_PACKAGE_ROOT/started"; sleep 300; fi
echo lib-one > "$AUTOBUILD_INSTALL_ROOT/lib.txt"
echo lib > "$AUTOBUILD_PACKAGE_ROOT/lib.bin"`))
			f.repo("app", script(`cat "$AUTOBUILD_DEP_LIB_ROOT/lib.txt" > "$AUTOBUILD_PACKAGE_ROOT/app.bin"`))
			cfg := func(env string) {
				extra := ""
				if archive == "off" {
					extra = "archive: {disabled: true}\n"
				}
				f.config(extra + `modules:
  - {name: lib, source: {url: repos/lib}` + env + `}
  - {name: app, source: {url: repos/app}, depends: [lib]}
`)
			}
			cfg("")
			if r := f.run(); r.code != 0 {
				t.Fatal(r.dump())
			}
			// Run 2: a forced rebuild of lib that hangs, killed in the middle.
			cfg(`, env: ["HOLD=1"]`)
			eng := exec.Command(bin, "run", "--config", f.cfg, "--force=lib")
			if err := eng.Start(); err != nil {
				t.Fatal(err)
			}
			waitFile(t, filepath.Join(f.root, "package-root", "lib", "started"), 30*time.Second)
			eng.Process.Signal(syscall.SIGKILL)
			eng.Wait()
			if _, err := os.Stat(filepath.Join(f.root, "install-root", "lib", "lib.txt")); err == nil {
				t.Fatal("control: the killed rebuild did not empty lib's install folder")
			}

			// Run 3: lib's inputs are those of run 1 again.
			cfg("")
			r := f.run("--force=app")
			if r.code != 0 {
				t.Fatalf("run after the kill:\n%s", r.dump())
			}
			lib := module(f.status(), "lib")
			if strings.Contains(lib.Reason, "unchanged since run 1") {
				t.Errorf("lib taken as unchanged since run 1 over the folders the killed run emptied")
			}
			if b, err := os.ReadFile(filepath.Join(f.root, "install-root", "lib", "lib.txt")); err != nil || string(b) != "lib-one\n" {
				t.Errorf("lib's install folder holds %q (%v), want lib-one", b, err)
			}
			if b, err := os.ReadFile(filepath.Join(f.root, "public_html", "packages", "app", "app.bin")); err != nil || string(b) != "lib-one\n" {
				t.Errorf("app was built against %q (%v), want lib-one", b, err)
			}
			if _, err := os.Stat(filepath.Join(f.root, "public_html", "packages", "lib", "lib.bin")); err != nil {
				t.Errorf("lib's artifact is not published: %v", err)
			}
		})
	}
}

// Reuse checks every output the state records: a deleted package folder
// or a changed one, or a deleted log, is rebuilt (or restored), never
// reported unchanged with its artifacts gone.
func TestReuseChecksEveryOutput(t *testing.T) {
	for _, tt := range []struct {
		name   string
		damage func(f *farm)
	}{
		{"package folder deleted", func(f *farm) { os.RemoveAll(filepath.Join(f.root, "package-root", "mod")) }},
		{"artifact deleted", func(f *farm) { os.Remove(filepath.Join(f.root, "package-root", "mod", "mod.bin")) }},
		{"artifact changed", func(f *farm) {
			os.WriteFile(filepath.Join(f.root, "package-root", "mod", "mod.bin"), []byte("tampered\n"), 0o644)
		}},
		{"log deleted", func(f *farm) { os.RemoveAll(filepath.Join(f.root, "log-root", "1")) }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := newFarm(t)
			f.repo("mod", script(`echo built > "$AUTOBUILD_PACKAGE_ROOT/mod.bin"`))
			f.config("modules:\n  - {name: mod, source: {url: repos/mod}}\n")
			if r := f.run(); r.code != 0 {
				t.Fatal(r.dump())
			}
			// Control: untouched, it is reused.
			if r := f.run(); r.code != 0 || !strings.Contains(module(f.status(), "mod").Reason, "unchanged since run 1") {
				t.Fatalf("control: an untouched module was not reused:\n%s", r.dump())
			}
			tt.damage(f)
			if r := f.run(); r.code != 0 {
				t.Fatal(r.dump())
			}
			// Rebuilt, or restored from the build archive: either way whole.
			m := module(f.status(), "mod")
			if !m.State.OK() || strings.Contains(m.Reason, "unchanged since") {
				t.Errorf("mod is %s (%s), want rebuilt or restored", m.State, m.Reason)
			}
			if b, err := os.ReadFile(filepath.Join(f.root, "public_html", "packages", "mod", "mod.bin")); err != nil || string(b) != "built\n" {
				t.Errorf("published artifact %q (%v)", b, err)
			}
			if m.Log == "" {
				t.Errorf("mod's log is not published: %s", m.LogUnavailable)
			}
		})
	}
}

// The history lists the runs that were published: a run whose site could
// not be published is not in the next run's history or feed.
func TestHistoryListsOnlyPublishedRuns(t *testing.T) {
	f := newFarm(t)
	f.repo("mod", script(`echo built > "$AUTOBUILD_PACKAGE_ROOT/mod.bin"`))
	f.config("modules:\n  - {name: mod, source: {url: repos/mod}}\n")
	if r := f.run(); r.code != 0 {
		t.Fatal(r.dump())
	}
	// Run 2 cannot publish: public_html is not the engine's symlink.
	public := filepath.Join(f.root, "public_html")
	link, err := os.Readlink(public)
	if err != nil {
		t.Fatal(err)
	}
	os.Remove(public)
	os.Mkdir(public, 0o755)
	if r := f.run(); r.code != 5 {
		t.Fatalf("run 2 with an unpublishable site: want exit 5\n%s", r.dump())
	}
	os.Remove(public)
	if err := os.Symlink(link, public); err != nil {
		t.Fatal(err)
	}
	if r := f.run(); r.code != 0 {
		t.Fatal(r.dump())
	}
	st := f.status()
	var runs []int
	for _, h := range st.History {
		runs = append(runs, h.Counter)
	}
	if st.Counter != 3 || len(runs) != 2 || runs[0] != 3 || runs[1] != 1 {
		t.Errorf("run %d, history %v; want run 3 with history [3 1]", st.Counter, runs)
	}
	feed, _ := os.ReadFile(filepath.Join(f.root, "public_html", "feed.atom"))
	if strings.Contains(string(feed), "run 2") {
		t.Errorf("the feed lists run 2, which was never published:\n%s", feed)
	}
}

// A damaged run counter is never silently restarted: the run after it
// counts on from the log folders, and no run appends to an earlier run's
// logs.
func TestDamagedCounterCountsOn(t *testing.T) {
	for _, bad := range []string{"garbage\n", "-7\n", "1\n"} {
		t.Run(strings.TrimSpace(bad), func(t *testing.T) {
			f := newFarm(t)
			f.repo("mod", script(`echo built`))
			f.config("modules:\n  - {name: mod, source: {url: repos/mod}}\n")
			for range 2 {
				if r := f.run("--force"); r.code != 0 {
					t.Fatal(r.dump())
				}
			}
			old, _ := os.ReadFile(filepath.Join(f.root, "log-root", "2", "mod.log"))
			os.WriteFile(filepath.Join(f.root, "state", "counter"), []byte(bad), 0o644)
			r := f.run("--force")
			if r.code != 0 {
				t.Fatal(r.dump())
			}
			if st := f.status(); st.Counter != 3 {
				t.Errorf("run after a counter of %q is run %d, want 3", bad, st.Counter)
			}
			if now, _ := os.ReadFile(filepath.Join(f.root, "log-root", "2", "mod.log")); string(now) != string(old) {
				t.Error("run 2's log was changed by a later run")
			}
			if !strings.Contains(r.stderr, "run counter recovered") {
				t.Errorf("the recovery was silent:\n%s", r.dump())
			}
		})
	}
	// A counter at its end is refused, with the file named.
	f := newFarm(t)
	f.repo("mod", script(`echo built`))
	f.config("modules:\n  - {name: mod, source: {url: repos/mod}}\n")
	os.MkdirAll(filepath.Join(f.root, "state"), 0o755)
	os.WriteFile(filepath.Join(f.root, "state", "counter"), []byte("9223372036854775807\n"), 0o644)
	if r := f.run(); r.code != 5 || !strings.Contains(r.stderr, filepath.Join("state", "counter")) {
		t.Errorf("an exhausted counter: want exit 5 naming the file\n%s", r.dump())
	}
}

// A build that fills the disk fails alone: what it left is removed, the
// run publishes, and once the module is fixed the next run recovers with
// no hand work.
func TestDiskFullIsAModuleFailure(t *testing.T) {
	if os.Geteuid() != 0 {
		testutil.Skip(t, "mounting a small file system needs root")
	}
	f := newFarm(t)
	if err := os.MkdirAll(f.root, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mount("tmpfs", f.root, "tmpfs", 0, "size=48m,mode=0755"); err != nil {
		testutil.Skip(t, "cannot mount a tmpfs: "+err.Error())
	}
	t.Cleanup(func() { syscall.Unmount(f.root, syscall.MNT_DETACH) })
	f.repo("ok", script(`echo ok > "$AUTOBUILD_PACKAGE_ROOT/ok.bin"`))
	filler := f.repo("filler", script(`dd if=/dev/zero of="$AUTOBUILD_INSTALL_ROOT/big" bs=1M count=100 2>&1
echo done > "$AUTOBUILD_PACKAGE_ROOT/filler.bin"`))
	f.config(`archive: {disabled: true}
modules:
  - {name: ok, source: {url: repos/ok}}
  - {name: filler, source: {url: repos/filler}, depends: [ok]}
`)
	r := f.run()
	if r.code != 1 {
		t.Fatalf("a build that fills the disk: want exit 1 (a module failed)\n%s", r.dump())
	}
	st := f.status()
	if m := module(st, "filler"); m.State != report.Failed {
		t.Errorf("filler is %s", m.State)
	}
	if m := module(st, "ok"); m.State != report.Built {
		t.Errorf("ok is %s (%s)", m.State, m.Reason)
	}
	if _, err := os.Stat(filepath.Join(f.root, "install-root", "filler", "big")); err == nil {
		t.Error("the failed build's output is still there")
	}
	// Fixed: the next run recovers by itself.
	testutil.Commit(t, filler, script(`dd if=/dev/zero of="$AUTOBUILD_INSTALL_ROOT/big" bs=1M count=4 2>&1
echo done > "$AUTOBUILD_PACKAGE_ROOT/filler.bin"`))
	if r := f.run(); r.code != 0 {
		t.Fatalf("run after the fix:\n%s", r.dump())
	}
	if b, err := os.ReadFile(filepath.Join(f.root, "public_html", "packages", "filler", "filler.bin")); err != nil || string(b) != "done\n" {
		t.Errorf("filler's artifact after the fix: %q (%v)", b, err)
	}
}
