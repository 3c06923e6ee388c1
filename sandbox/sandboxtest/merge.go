package sandboxtest

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/autobuild/autobuild/internal/testutil"
	"github.com/autobuild/autobuild/sandbox"
)

// mergeEnv is a merged folder and its layers: two lower folders owned by
// another uid than the step's (when the test is root), a step's own
// folder, and the overlay's work folder.
type mergeEnv struct {
	base, dir, work string
	lower           []string // top first
}

// depIDs are the uid and gid of the lower folders' files: another
// module's when the test is root.
func depIDs() (uid, gid int) {
	if os.Geteuid() != 0 {
		return os.Geteuid(), os.Getegid()
	}
	id := sandbox.BuildUID("sandboxtest-dep")
	return id, id
}

func newMergeEnv(t *testing.T) *mergeEnv {
	t.Helper()
	base := testutil.Dir(t)
	m := &mergeEnv{base: base, dir: filepath.Join(base, "install", "app"), work: filepath.Join(base, "work", "app")}
	layers := map[string]map[string]string{
		"lib": {"include/p.h": "p from lib\n", "lib/libp.a": "lib archive\n", "share/doc/lib/README": "lib doc\n", "share/man/man1/p.1": "page\n"},
		"mid": {"include/p.h": "p from mid\n", "include/q.h": "q\n", "bin/tool": "#!/bin/sh\necho tool\n"},
	}
	uid, gid := depIDs()
	for _, name := range []string{"mid", "lib"} {
		root := filepath.Join(base, "install", name)
		for rel, body := range layers[name] {
			p := filepath.Join(root, rel)
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				t.Fatal(err)
			}
			mode := os.FileMode(0o644)
			if strings.HasPrefix(rel, "bin/") {
				mode = 0o755
			}
			if err := os.WriteFile(p, []byte(body), mode); err != nil {
				t.Fatal(err)
			}
		}
		if err := filepath.WalkDir(root, func(p string, _ fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			return os.Lchown(p, uid, gid)
		}); err != nil {
			t.Fatal(err)
		}
		m.lower = append(m.lower, root)
	}
	for _, d := range []string{m.dir, m.work} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		if uid, gid := buildIDs(); uid >= 0 {
			if err := os.Chown(d, uid, gid); err != nil {
				t.Fatal(err)
			}
		}
	}
	return m
}

// profile is prof with the merged folder: m.dir written, the lower
// folders read.
func (m *mergeEnv) profile(prof sandbox.Profile) sandbox.Profile {
	if prof.Confined {
		prof.Write = []string{m.dir}
		prof.Read = append(prof.Read, m.lower...)
	}
	prof.Merge = &sandbox.Merge{Dir: m.dir, Lower: m.lower, Work: m.work}
	return prof
}

// tree lists everything under root: each path with its type, mode,
// owner, extended attributes and content (or device number).
func tree(t *testing.T, root string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		var st unix.Stat_t
		if err := unix.Lstat(p, &st); err != nil {
			return err
		}
		desc := fmt.Sprintf("%o %d:%d", st.Mode, st.Uid, st.Gid)
		if size, err := unix.Llistxattr(p, nil); err == nil && size > 0 {
			buf := make([]byte, size)
			n, _ := unix.Llistxattr(p, buf)
			names := strings.Split(strings.TrimRight(string(buf[:n]), "\x00"), "\x00")
			var kept []string
			for _, x := range names {
				if !strings.HasPrefix(x, "security.") {
					kept = append(kept, x)
				}
			}
			sort.Strings(kept)
			if len(kept) > 0 {
				desc += " xattrs " + strings.Join(kept, ",")
			}
		}
		switch st.Mode & unix.S_IFMT {
		case unix.S_IFREG:
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			desc += " " + string(b)
		case unix.S_IFCHR, unix.S_IFBLK:
			desc += fmt.Sprintf(" device %d", st.Rdev)
		}
		out[rel] = desc
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// testMerge: a step sees its merged folder as its own files over the
// lower folders' (the first on top), writes only into its own (adding
// files in the lower folders' folders, replacing and deleting theirs);
// after the step its folder holds exactly what it wrote, as plain files
// and folders (no whiteout, no overlay mark, no empty folder of the
// lower folders'), the lower folders are as they were and the work
// folder is empty.
func testMerge(t *testing.T, r sandbox.Runner) {
	forEachProfile(t, func(t *testing.T, _ string, prof sandbox.Profile) {
		m := newMergeEnv(t)
		before := map[string]map[string]string{}
		for _, l := range m.lower {
			before[l] = tree(t, l)
		}
		prof = m.profile(prof)
		script := `set -e
cd "$D"
cat include/p.h include/q.h lib/libp.a
test "$(bin/tool)" = tool
echo mine > include/app.h
mkdir -p bin && printf '#!/bin/sh\necho app\n' > bin/app && chmod +x bin/app
test "$(bin/app)" = app
rm share/doc/lib/README
rm -rf lib && mkdir lib && echo own > lib/libapp.a
echo new > q.tmp && mv q.tmp include/q.h
ls lib
echo done`
		o := run(context.Background(), r, sandbox.Step{Args: sh(script), Dir: m.base, Env: env("D=" + m.dir), Timeout: 20 * time.Second, Profile: prof})
		if o.err != nil || o.res.ExitCode != 0 {
			t.Fatalf("step: %v", o)
		}
		if want := "p from mid\nq\nlib archive\nlibapp.a\ndone\n"; o.stdout != want {
			t.Errorf("the step saw\n%s\nwant\n%s", o.stdout, want)
		}
		got := tree(t, m.dir)
		uid, gid := os.Geteuid(), os.Getegid()
		if u, g := buildIDs(); u >= 0 && prof.Confined {
			uid, gid = u, g
		}
		own := fmt.Sprintf("%d:%d", uid, gid)
		top := fmt.Sprintf("%d:%d", os.Geteuid(), os.Getegid())
		if u, g := buildIDs(); u >= 0 {
			top = fmt.Sprintf("%d:%d", u, g) // the test made it
		}
		want := map[string]string{
			".":             "40755 " + top,
			"include":       "40755 " + own,
			"include/app.h": "100644 " + own + " mine\n",
			"include/q.h":   "100644 " + own + " new\n",
			"bin":           "40755 " + own,
			"bin/app":       "100755 " + own + " #!/bin/sh\necho app\n",
			"lib":           "40755 " + own,
			"lib/libapp.a":  "100644 " + own + " own\n",
		}
		for rel, w := range want {
			if got[rel] != w {
				t.Errorf("merged folder: %s is %q, want %q", rel, got[rel], w)
			}
		}
		for rel, g := range got {
			if _, ok := want[rel]; !ok {
				t.Errorf("merged folder: %s (%q) is left over: not something the step wrote", rel, g)
			}
		}
		for _, l := range m.lower {
			if after := tree(t, l); fmt.Sprint(after) != fmt.Sprint(before[l]) {
				t.Errorf("lower folder %s changed:\nbefore %q\nafter  %q", l, before[l], after)
			}
		}
		if names, err := os.ReadDir(m.work); err != nil || len(names) > 0 {
			t.Errorf("the work folder holds %v (%v), want nothing", names, err)
		}
	})
}

// testMergeAttacks: a step with a merged folder cannot write the lower
// folders by their own paths, nor the work folder, nor give the step's
// own folder another mount; the control (unconfined) shows each attack
// working.
func testMergeAttacks(t *testing.T, r sandbox.Runner) {
	attacks := []struct {
		name   string
		script string
		// root: only an engine that is root can show it working
		// unconfined (the step is root then).
		root bool
	}{
		{"write a lower folder", `echo planted > "$L/include/p.h" && echo ATTACK-WORKED`, false},
		{"delete from a lower folder", `rm "$L/lib/libp.a" && echo ATTACK-WORKED`, false},
		// Worked only if the folder written is the host's work folder
		// (a path of the step's private /tmp is not).
		{"write the work folder", `touch "$W/planted" && test "$(stat -c %d:%i "$W")" = "$WID" && echo ATTACK-WORKED`, false},
		{"unmount the merged folder", `umount "$D" && echo ATTACK-WORKED`, true},
	}
	for _, at := range attacks {
		if at.root && os.Geteuid() != 0 {
			continue
		}
		t.Run(at.name, func(t *testing.T) {
			t.Parallel()
			forEachProfile(t, func(t *testing.T, _ string, prof sandbox.Profile) {
				m := newMergeEnv(t)
				before := tree(t, m.lower[1])
				var st unix.Stat_t
				if err := unix.Stat(m.work, &st); err != nil {
					t.Fatal(err)
				}
				prof = m.profile(prof)
				o := run(context.Background(), r, sandbox.Step{Args: sh(at.script), Dir: m.base,
					Env:     env("D="+m.dir, "L="+m.lower[1], "W="+m.work, fmt.Sprintf("WID=%d:%d", st.Dev, st.Ino)),
					Timeout: 20 * time.Second, Profile: prof})
				if o.err != nil {
					t.Fatalf("Run: %v", o)
				}
				worked := strings.Contains(o.stdout, "ATTACK-WORKED")
				changed := fmt.Sprint(tree(t, m.lower[1])) != fmt.Sprint(before)
				switch {
				case !prof.Confined && !worked:
					t.Errorf("control run (unconfined): the attack did not work, so the check proves nothing: %v", o)
				case prof.Confined && (worked || changed):
					t.Errorf("the %s level did not stop it (lower folder changed: %v): %v", prof.Level, changed, o)
				}
			})
		})
	}
}

// MergeRefused checks a runner that cannot make a step's merged folder
// (this host mounts no overlay, or the step gets no mount namespace):
// Run refuses the step with a *sandbox.StepError of StageMerge, which is
// not ErrUnsupported, without running it, AllowWeaker or not; the same
// step without Merge runs.
func MergeRefused(t *testing.T, r sandbox.Runner, allowWeaker bool) {
	m := newMergeEnv(t)
	marker := filepath.Join(m.dir, "started")
	prof := isolated(m.dir)
	prof.AllowWeaker = allowWeaker
	prof = m.profile(prof)
	o := run(context.Background(), r, sandbox.Step{Args: sh("touch " + marker), Dir: m.dir, Env: env(), Timeout: 20 * time.Second, Profile: prof})
	var se *sandbox.StepError
	if !errors.As(o.err, &se) || se.Stage != sandbox.StageMerge || errors.Is(o.err, sandbox.ErrUnsupported) {
		t.Fatalf("Run = %v, want a StepError of stage %q", o, sandbox.StageMerge)
	}
	if _, err := os.Stat(marker); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the step ran although its merged folder was refused (%v)", err)
	}
	prof.Merge = nil
	prof.AllowWeaker = true
	if o := run(context.Background(), r, sandbox.Step{Args: sh("touch " + marker), Dir: m.dir, Env: env(), Timeout: 20 * time.Second, Profile: prof}); o.err != nil || o.res.ExitCode != 0 {
		t.Fatalf("without Merge: %v", o)
	}
	if _, err := os.Stat(marker); err != nil {
		t.Errorf("without Merge the step did not run: %v", err)
	}
}
