package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/autobuild/autobuild/engine/executor"
	"github.com/autobuild/autobuild/engine/report"
	"github.com/autobuild/autobuild/internal/testutil"
)

// moduleLog reads module name's log of the run's only log folder.
func moduleLog(t *testing.T, f *farm, name string) []byte {
	t.Helper()
	logs, _ := filepath.Glob(filepath.Join(f.root, "log-root", "*", name+".log"))
	if len(logs) != 1 {
		t.Fatalf("logs of %s: %v", name, logs)
	}
	b, err := os.ReadFile(logs[0])
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// A build whose output is beyond its file size limit and its log limit
// succeeds: its log keeps the output's start and end within the limit,
// and says how much it discarded. (Writing its log itself, the step died
// of SIGXFSZ at its file size limit.)
func TestLargeOutputIsCutNotFatal(t *testing.T) {
	f := newFarm(t)
	const out = executor.DefaultLogLimit + 8<<20
	f.repo("chatty", script(fmt.Sprintf(`yes output-line | head -c %d
echo the-last-line`, out)))
	f.config(`levels:
  small-files: {base: isolated, limits: {file_size_mb: 16}}
modules:
  - {name: chatty, source: {url: repos/chatty}, trust: small-files}
`)
	r := f.run()
	if r.code != 0 {
		t.Fatalf("want exit 0\n%s", r.dump())
	}
	if m := module(f.status(), "chatty"); m.State != report.Built {
		t.Errorf("chatty is %s (%s)", m.State, m.Reason)
	}
	log := moduleLog(t, f, "chatty")
	// The log holds the engine's own lines beside the output.
	if len(log) > executor.DefaultLogLimit+16<<10 {
		t.Errorf("the log is %d bytes, over the limit %d", len(log), executor.DefaultLogLimit)
	}
	if !bytes.Contains(log, []byte("autobuild: log truncated: output beyond the log limit of 64 MiB discarded (")) {
		t.Errorf("the log does not say it was cut")
	}
	if !bytes.Contains(log, []byte("output-line\nthe-last-line\n")) {
		t.Errorf("the log lost the output's end")
	}
}

// log_limit_mb bounds a module's log (globally, and per module); the cut
// is on the site and in status.json.
func TestLogLimitSetting(t *testing.T) {
	f := newFarm(t)
	for _, n := range []string{"global", "own"} {
		f.repo(n, script(`yes output-line | head -c 3145728; echo the-last-line`))
	}
	f.config(`log_limit_mb: 1
modules:
  - {name: global, source: {url: repos/global}}
  - {name: own, source: {url: repos/own}, log_limit_mb: 8}
`)
	if r := f.run(); r.code != 0 {
		t.Fatalf("want exit 0\n%s", r.dump())
	}
	st := f.status()
	g, o := module(st, "global"), module(st, "own")
	if g.LogDiscarded < 1<<20 || o.LogDiscarded != 0 {
		t.Errorf("log_discarded: global %d (want over 1 MiB), own %d (want 0)", g.LogDiscarded, o.LogDiscarded)
	}
	if log := moduleLog(t, f, "global"); len(log) > 1<<20+16<<10 || !bytes.Contains(log, []byte("the-last-line")) {
		t.Errorf("global's log: %d bytes, end kept %v", len(log), bytes.Contains(log, []byte("the-last-line")))
	}
	page, _ := os.ReadFile(filepath.Join(f.root, "public_html", "index.html"))
	if !bytes.Contains(page, []byte("log cut: ")) {
		t.Error("index.html does not say global's log was cut")
	}
}

// A build that writes a file beyond its level's file size limit fails
// with the limit named, on the site, not as a bare exit status.
func TestFileSizeLimitNamedOnTheSite(t *testing.T) {
	f := newFarm(t)
	f.repo("big", script(`head -c 2097152 /dev/zero > "$AUTOBUILD_PACKAGE_ROOT/big.bin"`))
	f.repo("small", script(`head -c 524288 /dev/zero > "$AUTOBUILD_PACKAGE_ROOT/small.bin"`))
	f.config(`levels:
  small-files: {base: isolated, limits: {file_size_mb: 1}}
modules:
  - {name: big, source: {url: repos/big}, trust: small-files}
  - {name: small, source: {url: repos/small}, trust: small-files}
`)
	r := f.run()
	if r.code != 1 {
		t.Fatalf("want exit 1 (a module failed)\n%s", r.dump())
	}
	st := f.status()
	if m := module(st, "small"); m.State != report.Built {
		t.Errorf("control: small is %s (%s)", m.State, m.Reason)
	}
	m := module(st, "big")
	if m.State != report.Failed || !strings.Contains(m.Reason, "file size limit exceeded (SIGXFSZ): a file the step wrote reached 1 MiB") {
		t.Errorf("big is %s, reason %q: want the file size limit named", m.State, m.Reason)
	}
}

// doctor reports the build root's free space and inodes, and warns when
// either is nearly gone; a warning does not change its exit status. Each
// case is a tmpfs of its own: roomy (the control), small, and roomy but
// with its inodes almost all taken.
func TestDoctorWarnsOfAFullBuildRoot(t *testing.T) {
	if os.Geteuid() != 0 {
		testutil.Skip(t, "mounting a small file system needs root")
	}
	doctor := func(t *testing.T, opts string, files int) result {
		f := newFarm(t)
		f.repo("m", script("true"))
		f.config("modules:\n  - {name: m, source: {url: repos/m}}\n")
		if err := os.MkdirAll(f.root, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := syscall.Mount("tmpfs", f.root, "tmpfs", 0, opts); err != nil {
			testutil.Skip(t, "cannot mount a tmpfs: "+err.Error())
		}
		t.Cleanup(func() { syscall.Unmount(f.root, syscall.MNT_DETACH) })
		for i := range files {
			if err := os.WriteFile(filepath.Join(f.root, fmt.Sprint("f", i)), nil, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		return ab(t, nil, "doctor", "--config", f.cfg)
	}
	roomy := doctor(t, "size=8g,nr_inodes=100000,mode=0755", 0)
	if !strings.Contains(roomy.stdout, "build root: ") || !strings.Contains(roomy.stdout, "8 GiB free of 8 GiB (100%)") || strings.Contains(roomy.stdout, "warning") {
		t.Fatalf("control, a roomy build root: want its space and no warning\n%s", roomy.dump())
	}
	for _, tc := range []struct {
		name, opts string
		files      int
		want       string
	}{
		{"little space", "size=64m,mode=0755", 0, "nearly full: 64 MiB of space free"},
		{"few inodes", "size=8g,nr_inodes=100,mode=0755", 97, "nearly full: 2 inodes free"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := doctor(t, tc.opts, tc.files)
			if !strings.Contains(r.stdout, "warning: the build root's file system is "+tc.want) {
				t.Errorf("want a warning with %q\n%s", tc.want, r.dump())
			}
			if r.code != roomy.code {
				t.Errorf("exit %d, the control's %d: a warning changed the exit status", r.code, roomy.code)
			}
		})
	}
}

// A build that fails because it filled the build root's file system has
// that named on the site. (The sandbox's tests hold the control: a step
// that fails with room to spare names nothing.)
func TestDiskFullNamedOnTheSite(t *testing.T) {
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
	f.repo("filler", script(`dd if=/dev/zero of="$AUTOBUILD_INSTALL_ROOT/big" bs=1M count=100 2>&1`))
	f.config(`archive: {disabled: true}
modules:
  - {name: filler, source: {url: repos/filler}}
`)
	if r := f.run(); r.code != 1 {
		t.Fatalf("want exit 1 (a module failed)\n%s", r.dump())
	}
	m := module(f.status(), "filler")
	t.Logf("reason: %s", m.Reason)
	if m.State != report.Failed || !strings.Contains(m.Reason, "no space left on the file system of "+f.root) {
		t.Errorf("filler is %s, reason %q: want the full file system named", m.State, m.Reason)
	}
}
