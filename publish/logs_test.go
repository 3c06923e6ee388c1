package publish_test

import (
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// holdOpen starts a real process holding path open for writing (its
// stdout, O_APPEND, as a build step holds its log) that writes line to
// it when the returned function is called, and then exits.
func holdOpen(t *testing.T, path string) (writeLate func(line string)) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	cmd := exec.Command("/bin/sh", "-c", `IFS= read -r line; printf '%s\n' "$line"`)
	cmd.Stdout = f
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { stdin.Close(); cmd.Process.Kill(); cmd.Wait() })
	return func(line string) {
		io.WriteString(stdin, line+"\n")
		stdin.Close()
		if err := cmd.Wait(); err != nil {
			t.Fatalf("the writer: %v", err)
		}
	}
}

// diskUse is what du counts for the files below the roots: each inode's
// blocks once, in bytes.
func diskUse(t *testing.T, roots ...string) int64 {
	t.Helper()
	seen := map[uint64]bool{}
	var total int64
	for _, root := range roots {
		err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if err != nil || !d.Type().IsRegular() {
				return err
			}
			info, err := d.Info()
			if err != nil {
				return err
			}
			st := info.Sys().(*syscall.Stat_t)
			if !seen[st.Ino] {
				seen[st.Ino] = true
				total += st.Blocks * 512
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	return total
}

// A 16 MiB log of a module reused run after run (its log is the same
// file each run, as a reused module's is): after four runs, with three
// sites kept, the log folder and the sites take the log's blocks once,
// and every site's copy is the log itself, read-only. Control: a process
// that still holds the log open for writing makes every site copy it,
// and its later write changes no site.
func TestLogsStoredOnce(t *testing.T) {
	const size = 16 << 20
	for _, held := range []bool{false, true} {
		name := "finished log"
		if held {
			name = "control: log still open for writing"
		}
		t.Run(name, func(t *testing.T) {
			f := newFixture(t, 1)
			log := filepath.Join(f.root, "logs", "libfoo.log")
			write(t, log, strings.Repeat("compiling libfoo: a line of a long build log\n", size/45))
			var writeLate func(string)
			if held {
				writeLate = holdOpen(t, log)
			}
			logInfo, _ := os.Stat(log)
			logUse := logInfo.Sys().(*syscall.Stat_t).Blocks * 512
			public, sites := paths(t)
			var published []string
			for c := 1; c <= 4; c++ {
				f.in.Run.Counter = c
				if err := publishFixture(public, sites, 3, f); err != nil {
					t.Fatal(err)
				}
				published = append(published, live(t, public, sites))
			}
			use := diskUse(t, filepath.Join(f.root, "logs"), sites)
			t.Logf("a log of %d bytes (%d on disk): the log folder and 3 sites take %d bytes after 4 runs", logInfo.Size(), logUse, use)
			logIno, _, logMode := inode(t, log)
			for _, site := range published[1:] {
				ino, _, mode := inode(t, filepath.Join(site, "logs", "libfoo.log"))
				if b, _ := os.ReadFile(filepath.Join(site, "logs", "libfoo.log")); int64(len(b)) != logInfo.Size() {
					t.Errorf("%s: the published log has %d bytes, want %d", site, len(b), logInfo.Size())
				}
				if mode.Perm() != 0o444 {
					t.Errorf("%s: the published log is %v", site, mode)
				}
				if (ino == logIno) == held {
					t.Errorf("%s: the published log is the log's inode: %v (held open: %v)", site, ino == logIno, held)
				}
			}
			if !held {
				if use > logUse+logUse/4 {
					t.Errorf("the log folder and the sites take %d bytes for a log of %d: stored more than once", use, logUse)
				}
				if logMode.Perm() != 0o444 {
					t.Errorf("the linked log is %v, want read-only", logMode)
				}
				return
			}
			if use < 3*logUse {
				t.Errorf("control: %d bytes for a log of %d copied into 3 sites", use, logUse)
			}
			if logMode.Perm() != 0o644 {
				t.Errorf("control: the log held open is now %v, want as it was (0644)", logMode)
			}
			before := snapshot(t, published[3])
			writeLate("WRITTEN AFTER THE RUN")
			if b, _ := os.ReadFile(log); !strings.HasSuffix(string(b), "WRITTEN AFTER THE RUN\n") {
				t.Fatal("control: the late write did not reach the log")
			}
			sameSnapshot(t, "the live site after a late write to its log", snapshot(t, published[3]), before)
		})
	}
}

// A log is linked only as LinkLog's rules say; otherwise it is copied and
// its mode and links are left as they were: a log with another link (a
// file linked into the log folder from elsewhere), one not readable by
// all, one with another SELinux label than the site.
func TestLogLinkedOnlyWhenItsOwn(t *testing.T) {
	tests := []struct {
		name  string
		setup func(t *testing.T, log string)
		mode  fs.FileMode
		links uint64
	}{
		{"another link", func(t *testing.T, log string) {
			if err := os.Link(log, filepath.Join(t.TempDir(), "elsewhere")); err != nil {
				t.Fatal(err)
			}
		}, 0o644, 2},
		{"not readable by all", func(t *testing.T, log string) { os.Chmod(log, 0o640) }, 0o640, 1},
		{"setuid", func(t *testing.T, log string) { syscall.Chmod(log, 0o4644) }, 0o644 | fs.ModeSetuid, 1},
		{"another SELinux label", func(t *testing.T, log string) {
			if err := syscall.Setxattr(log, "security.selinux", []byte("system_u:object_r:autobuild_log_t:s0\x00"), 0); err != nil {
				t.Skipf("cannot label the log: %v", err)
			}
		}, 0o644, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, 1)
			log := filepath.Join(f.root, "logs", "libfoo.log")
			tc.setup(t, log)
			public, sites := paths(t)
			if err := publishFixture(public, sites, 3, f); err != nil {
				t.Fatal(err)
			}
			ino, links, mode := inode(t, log)
			if mode != tc.mode || links != tc.links {
				t.Errorf("the log is now %v with %d links, was %v with %d", mode, links, tc.mode, tc.links)
			}
			pino, _, pmode := inode(t, filepath.Join(public, "logs", "libfoo.log"))
			if pino == ino || pmode.Perm() != 0o444 {
				t.Errorf("published as inode %d (the log's %d), %v: want a copy, 0444", pino, ino, pmode)
			}
			if b, _ := os.ReadFile(filepath.Join(public, "logs", "libfoo.log")); string(b) != "compiling libfoo\nok\n" {
				t.Errorf("published log %q", b)
			}
			// Control: another module's log, the engine's own, is linked.
			if aino, _, _ := inode(t, filepath.Join(f.root, "logs", "app.log")); aino != func() uint64 {
				i, _, _ := inode(t, filepath.Join(public, "logs", "app.log"))
				return i
			}() {
				t.Error("control: app's log was not linked")
			}
		})
	}
}
