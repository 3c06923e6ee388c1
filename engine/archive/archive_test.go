package archive_test

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/autobuild/autobuild/engine/archive"
)

// node is one expected thing in a tree: a file with its content and mode,
// a folder with its mode, or a symlink with its target.
type node struct {
	body string
	mode fs.FileMode // permission bits; fs.ModeDir marks a folder
	link string
}

// writeTree creates the nodes under root. Modes avoid group/other write
// bits so the process umask cannot change them.
func writeTree(t *testing.T, root string, tree map[string]node) {
	t.Helper()
	names := make([]string, 0, len(tree))
	for n := range tree {
		names = append(names, n)
	}
	sort.Strings(names) // parents before children
	if err := os.MkdirAll(root, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, n := range names {
		p := filepath.Join(root, n)
		nd := tree[n]
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		switch {
		case nd.link != "":
			if err := os.Symlink(nd.link, p); err != nil {
				t.Fatal(err)
			}
		case nd.mode.IsDir():
			if err := os.MkdirAll(p, nd.mode.Perm()); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(p, nd.mode.Perm()); err != nil {
				t.Fatal(err)
			}
		default:
			if err := os.WriteFile(p, []byte(nd.body), nd.mode); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(p, nd.mode); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// readTree lists what is under root, in the same shape as writeTree's
// input.
func readTree(t *testing.T, root string) map[string]node {
	t.Helper()
	out := map[string]node{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		if rel == "." {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		switch {
		case info.Mode()&fs.ModeSymlink != 0:
			target, err := os.Readlink(p)
			if err != nil {
				return err
			}
			out[rel] = node{link: target}
		case info.IsDir():
			out[rel] = node{mode: fs.ModeDir | info.Mode().Perm()}
		default:
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			out[rel] = node{body: string(b), mode: info.Mode().Perm()}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func sameTree(t *testing.T, what string, got, want map[string]node) {
	t.Helper()
	for n, w := range want {
		g, ok := got[n]
		if !ok {
			t.Errorf("%s: %s missing", what, n)
			continue
		}
		if g != w {
			t.Errorf("%s: %s = %+v, want %+v", what, n, g, w)
		}
	}
	for n := range got {
		if _, ok := want[n]; !ok {
			t.Errorf("%s: unexpected %s", what, n)
		}
	}
}

// build is the output of one fake build: install and package roots and a log.
type build struct {
	parts   archive.Parts
	install map[string]node
	pkg     map[string]node
	log     string
}

func newBuild(t *testing.T, install, pkg map[string]node, log string) build {
	t.Helper()
	dir := t.TempDir()
	b := build{install: install, pkg: pkg, log: log, parts: archive.Parts{
		Install: filepath.Join(dir, "install"),
		Package: filepath.Join(dir, "package"),
		Log:     filepath.Join(dir, "build.log"),
	}}
	writeTree(t, b.parts.Install, install)
	if pkg != nil {
		writeTree(t, b.parts.Package, pkg)
	}
	if err := os.WriteFile(b.parts.Log, []byte(log), 0o644); err != nil {
		t.Fatal(err)
	}
	return b
}

var richInstall = map[string]node{
	"bin":                 {mode: fs.ModeDir | 0o755},
	"bin/tool":            {body: "#!/bin/sh\necho tool\n", mode: 0o755},
	"bin/tool-alias":      {link: "tool"},
	"lib":                 {mode: fs.ModeDir | 0o755},
	"lib/libx.so.1":       {body: "\x7fELF fake library", mode: 0o644},
	"lib/libx.so":         {link: "libx.so.1"},
	"lib/dangling":        {link: "../nowhere/at/all"},
	"share":               {mode: fs.ModeDir | 0o700},
	"share/doc":           {mode: fs.ModeDir | 0o755},
	"share/doc/a":         {mode: fs.ModeDir | 0o755},
	"share/doc/a/b":       {mode: fs.ModeDir | 0o755},
	"share/doc/a/b/deep":  {body: "deep\n", mode: 0o600},
	"share/doc/a/b/empty": {body: "", mode: 0o640},
	"etc":                 {mode: fs.ModeDir | 0o755},
	"etc/readonly.conf":   {body: "x=1\n", mode: 0o444},
}

func meta(module, key string) archive.Meta {
	return archive.Meta{Module: module, Key: key, Run: 7, Revision: "abc123", Duration: 3 * time.Second,
		Created: time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC)}
}

func TestStoreLookupRestoreRoundTrip(t *testing.T) {
	tests := []struct {
		name    string
		install map[string]node
		pkg     map[string]node // nil: no package folder at all
		log     string
	}{
		{"rich tree", richInstall, map[string]node{
			"demo_1.0_amd64.deb": {body: "!<arch>\nfake deb", mode: 0o644},
			"sub":                {mode: fs.ModeDir | 0o755},
			"sub/demo.tar.gz":    {body: "\x1f\x8b fake", mode: 0o644},
		}, "building...\nok\n"},
		{"empty package folder", map[string]node{"f": {body: "x", mode: 0o644}}, map[string]node{}, "log\n"},
		{"no package folder", map[string]node{"f": {body: "x", mode: 0o644}}, nil, ""},
		{"empty install root", map[string]node{}, map[string]node{"p": {body: "p", mode: 0o644}}, "only a package\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a := &archive.Archive{Dir: t.TempDir(), Keep: 3}
			b := newBuild(t, tc.install, tc.pkg, tc.log)
			if err := a.Store(meta("demo", "k1"), b.parts); err != nil {
				t.Fatalf("Store: %v", err)
			}
			// The source is untouched by archiving.
			sameTree(t, "source after Store", readTree(t, b.parts.Install), tc.install)

			m, err := a.Lookup("demo", "k1")
			if err != nil {
				t.Fatalf("Lookup: %v", err)
			}
			want := meta("demo", "k1")
			if m.Module != want.Module || m.Key != want.Key || m.Run != want.Run || m.Revision != want.Revision ||
				m.Duration != want.Duration || !m.Created.Equal(want.Created) {
				t.Errorf("Lookup meta = %+v, want %+v", m, want)
			}
			if len(m.Files) == 0 {
				t.Error("meta has an empty manifest")
			}

			// Restore over folders that hold stale files: they must go.
			out := t.TempDir()
			p := archive.Parts{Install: filepath.Join(out, "i"), Package: filepath.Join(out, "p"), Log: filepath.Join(out, "log")}
			writeTree(t, p.Install, map[string]node{"stale": {body: "old", mode: 0o644}})
			writeTree(t, p.Package, map[string]node{"stale.deb": {body: "old", mode: 0o644}})
			if err := a.Restore("demo", "k1", p); err != nil {
				t.Fatalf("Restore: %v", err)
			}
			sameTree(t, "install", readTree(t, p.Install), tc.install)
			wantPkg := tc.pkg
			if wantPkg == nil {
				wantPkg = map[string]node{}
			}
			if info, err := os.Stat(p.Package); err != nil || !info.IsDir() {
				t.Fatalf("package folder not restored as a folder: %v", err)
			}
			sameTree(t, "package", readTree(t, p.Package), wantPkg)
			log, err := os.ReadFile(p.Log)
			if err != nil {
				t.Fatal(err)
			}
			if string(log) != tc.log {
				t.Errorf("log = %q, want %q", log, tc.log)
			}

			// Restoring does not consume or damage the entry.
			if _, err := a.Lookup("demo", "k1"); err != nil {
				t.Errorf("Lookup after Restore: %v", err)
			}
		})
	}
}

func TestLookupMiss(t *testing.T) {
	a := &archive.Archive{Dir: t.TempDir(), Keep: 3}
	if _, err := a.Lookup("demo", "nope"); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("Lookup in an empty archive = %v, want fs.ErrNotExist", err)
	}
	b := newBuild(t, map[string]node{"f": {body: "x", mode: 0o644}}, nil, "")
	if err := a.Store(meta("demo", "k1"), b.parts); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ module, key string }{{"demo", "k2"}, {"other", "k1"}} {
		if _, err := a.Lookup(c.module, c.key); !errors.Is(err, fs.ErrNotExist) || errors.Is(err, archive.ErrCorrupt) {
			t.Errorf("Lookup(%s, %s) = %v, want a plain fs.ErrNotExist", c.module, c.key, err)
		}
	}
}

func TestCorruptEntryIsDetectedAndRemoved(t *testing.T) {
	tests := []struct {
		name   string
		damage func(t *testing.T, entry string)
	}{
		{"byte flipped in a file", func(t *testing.T, e string) {
			p := filepath.Join(e, "install", "lib", "libx.so.1")
			b, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			b[3] ^= 0x01
			if err := os.WriteFile(p, b, 0o644); err != nil {
				t.Fatal(err)
			}
		}},
		{"byte flipped in the log", func(t *testing.T, e string) {
			p := filepath.Join(e, "build.log")
			b, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			b[0] ^= 0x20
			if err := os.WriteFile(p, b, 0o644); err != nil {
				t.Fatal(err)
			}
		}},
		{"file added", func(t *testing.T, e string) {
			if err := os.WriteFile(filepath.Join(e, "install", "bin", "trojan"), []byte("evil"), 0o755); err != nil {
				t.Fatal(err)
			}
		}},
		{"empty folder added", func(t *testing.T, e string) {
			if err := os.Mkdir(filepath.Join(e, "package", "extra"), 0o755); err != nil {
				t.Fatal(err)
			}
		}},
		{"file removed", func(t *testing.T, e string) {
			if err := os.Remove(filepath.Join(e, "install", "share", "doc", "a", "b", "deep")); err != nil {
				t.Fatal(err)
			}
		}},
		{"log removed", func(t *testing.T, e string) {
			if err := os.Remove(filepath.Join(e, "build.log")); err != nil {
				t.Fatal(err)
			}
		}},
		{"symlink retargeted", func(t *testing.T, e string) {
			p := filepath.Join(e, "install", "lib", "libx.so")
			if err := os.Remove(p); err != nil {
				t.Fatal(err)
			}
			if err := os.Symlink("/etc/passwd", p); err != nil {
				t.Fatal(err)
			}
		}},
		{"file swapped for a symlink", func(t *testing.T, e string) {
			p := filepath.Join(e, "install", "bin", "tool")
			if err := os.Remove(p); err != nil {
				t.Fatal(err)
			}
			if err := os.Symlink("tool-alias", p); err != nil {
				t.Fatal(err)
			}
		}},
		{"meta.json broken", func(t *testing.T, e string) {
			p := filepath.Join(e, "meta.json")
			b, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(p, b[:len(b)/2], 0o644); err != nil {
				t.Fatal(err)
			}
		}},
		{"meta.json of another key", func(t *testing.T, e string) {
			p := filepath.Join(e, "meta.json")
			b, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			b = bytes.Replace(b, []byte(`"key": "k1"`), []byte(`"key": "k9"`), 1)
			if err := os.WriteFile(p, b, 0o644); err != nil {
				t.Fatal(err)
			}
		}},
		{"manifest entry edited", func(t *testing.T, e string) {
			p := filepath.Join(e, "meta.json")
			b, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			b = bytes.Replace(b, []byte(`"sha256:`), []byte(`"sha256:00`), 1)
			if err := os.WriteFile(p, b, 0o644); err != nil {
				t.Fatal(err)
			}
		}},
		{"meta.json removed", func(t *testing.T, e string) {
			if err := os.Remove(filepath.Join(e, "meta.json")); err != nil {
				t.Fatal(err)
			}
		}},
		{"entry folder without meta.json", func(t *testing.T, e string) {
			if err := os.RemoveAll(e); err != nil {
				t.Fatal(err)
			}
			if err := os.MkdirAll(filepath.Join(e, "install"), 0o755); err != nil {
				t.Fatal(err)
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a := &archive.Archive{Dir: t.TempDir(), Keep: 3}
			// Each entry from a build of its own, with its own log: the
			// entries of one log share its file (stored once), so damage
			// to it would be every such entry's.
			for _, key := range []string{"k0", "k1"} {
				b := newBuild(t, richInstall, map[string]node{"x.deb": {body: "deb", mode: 0o644}}, "the log of "+key+"\n")
				if err := a.Store(meta("demo", key), b.parts); err != nil {
					t.Fatal(err)
				}
			}
			entry := filepath.Join(a.Dir, "demo", "k1")
			if _, err := a.Lookup("demo", "k1"); err != nil {
				t.Fatalf("Lookup before damage: %v", err)
			}
			tc.damage(t, entry)

			_, err := a.Lookup("demo", "k1")
			if !errors.Is(err, archive.ErrCorrupt) {
				t.Fatalf("Lookup of a damaged entry = %v, want ErrCorrupt", err)
			}
			if _, serr := os.Lstat(entry); !errors.Is(serr, fs.ErrNotExist) {
				t.Errorf("damaged entry still on disk (%v)", serr)
			}
			_, err = a.Lookup("demo", "k1")
			if !errors.Is(err, fs.ErrNotExist) || errors.Is(err, archive.ErrCorrupt) {
				t.Errorf("second Lookup = %v, want a plain fs.ErrNotExist", err)
			}
			// The neighbouring entry is not collateral damage.
			if _, err := a.Lookup("demo", "k0"); err != nil {
				t.Errorf("Lookup of the intact entry k0: %v", err)
			}
		})
	}
}

// entries lists the names in the module's archive folder.
func entries(t *testing.T, a *archive.Archive, module string) []string {
	t.Helper()
	ents, err := os.ReadDir(filepath.Join(a.Dir, module))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	return names
}

func TestStoreLeavesNoTempFolders(t *testing.T) {
	a := &archive.Archive{Dir: t.TempDir(), Keep: 5}
	b := newBuild(t, richInstall, nil, "log")
	for _, key := range []string{"k1", "k2", "k1"} { // k1 twice: a replace
		if err := a.Store(meta("demo", key), b.parts); err != nil {
			t.Fatal(err)
		}
	}
	got := entries(t, a, "demo")
	if strings.Join(got, ",") != "k1,k2" {
		t.Errorf("archive folder holds %v, want [k1 k2]", got)
	}
}

func TestStoreFailureLeavesNothing(t *testing.T) {
	tests := []struct {
		name    string
		root    bool // the case also works as root (root reads any file)
		breakIt func(t *testing.T, p *archive.Parts)
	}{
		{"log missing", true, func(t *testing.T, p *archive.Parts) {
			if err := os.Remove(p.Log); err != nil {
				t.Fatal(err)
			}
		}},
		{"log is a folder", true, func(t *testing.T, p *archive.Parts) {
			p.Log = p.Install
		}},
		{"unreadable source file", false, func(t *testing.T, p *archive.Parts) {
			if err := os.Chmod(filepath.Join(p.Install, "lib", "libx.so.1"), 0); err != nil {
				t.Fatal(err)
			}
		}},
		{"unreadable source folder", false, func(t *testing.T, p *archive.Parts) {
			if err := os.Chmod(filepath.Join(p.Install, "share", "doc"), 0); err != nil {
				t.Fatal(err)
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if !tc.root && os.Geteuid() == 0 {
				// Root bypasses file modes, so this failure cannot be made;
				// the root-proof cases above cover the same cleanup path.
				t.Logf("not applicable as root: %s", tc.name)
				return
			}
			a := &archive.Archive{Dir: t.TempDir(), Keep: 3}
			good := newBuild(t, richInstall, nil, "good log")
			if err := a.Store(meta("demo", "old"), good.parts); err != nil {
				t.Fatal(err)
			}
			bad := newBuild(t, richInstall, map[string]node{"p": {body: "p", mode: 0o644}}, "bad log")
			tc.breakIt(t, &bad.parts)
			t.Cleanup(func() { _ = os.Chmod(filepath.Join(bad.parts.Install, "share", "doc"), 0o755) })

			if err := a.Store(meta("demo", "new"), bad.parts); err == nil {
				t.Fatal("Store succeeded with a broken source")
			}
			if got := entries(t, a, "demo"); strings.Join(got, ",") != "old" {
				t.Errorf("after a failed Store the archive holds %v, want only [old]", got)
			}
			if _, err := a.Lookup("demo", "new"); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("Lookup of the failed key = %v, want fs.ErrNotExist", err)
			}
			if _, err := a.Lookup("demo", "old"); err != nil {
				t.Errorf("earlier entry damaged by a failed Store: %v", err)
			}
		})
	}
}

func TestFailedStoreOfSameKeyKeepsNoHalfEntry(t *testing.T) {
	// Replacing an entry with a build that cannot be archived must not
	// leave a half-written entry under the key.
	a := &archive.Archive{Dir: t.TempDir(), Keep: 3}
	b := newBuild(t, richInstall, nil, "log")
	if err := a.Store(meta("demo", "k1"), b.parts); err != nil {
		t.Fatal(err)
	}
	b.parts.Log = filepath.Join(t.TempDir(), "missing.log")
	if err := a.Store(meta("demo", "k1"), b.parts); err == nil {
		t.Fatal("Store succeeded with a missing log")
	}
	if _, err := a.Lookup("demo", "k1"); err != nil && !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Lookup after a failed replace = %v, want the old entry or a miss", err)
	}
	for _, n := range entries(t, a, "demo") {
		if strings.HasPrefix(n, ".tmp-") {
			t.Errorf("temp folder %s left behind", n)
		}
	}
}

func TestPruneKeepsNewest(t *testing.T) {
	for _, keep := range []int{1, 2, 3} {
		t.Run(fmt.Sprintf("keep=%d", keep), func(t *testing.T) {
			a := &archive.Archive{Dir: t.TempDir(), Keep: keep}
			b := newBuild(t, map[string]node{"f": {body: "x", mode: 0o644}}, nil, "log")
			keys := []string{"k1", "k2", "k3", "k4", "k5"}
			base := time.Now().Add(-time.Hour)
			for i, key := range keys {
				if err := a.Store(meta("demo", key), b.parts); err != nil {
					t.Fatal(err)
				}
				// Age each entry clearly, so the order does not hang on the
				// file system's timestamp granularity: k1 oldest.
				ts := base.Add(time.Duration(i) * time.Minute)
				if err := os.Chtimes(filepath.Join(a.Dir, "demo", key), ts, ts); err != nil {
					t.Fatal(err)
				}
			}
			// Another module's entries are not counted or pruned.
			if err := a.Store(meta("other", "o1"), b.parts); err != nil {
				t.Fatal(err)
			}
			want := keys[len(keys)-keep:]
			got := entries(t, a, "demo")
			if strings.Join(got, ",") != strings.Join(want, ",") {
				t.Errorf("kept %v, want %v", got, want)
			}
			for _, k := range want {
				if _, err := a.Lookup("demo", k); err != nil {
					t.Errorf("Lookup(%s) after prune: %v", k, err)
				}
			}
			if _, err := a.Lookup("other", "o1"); err != nil {
				t.Errorf("other module's entry: %v", err)
			}
		})
	}
}

func TestStoreNeverPrunesTheEntryItStored(t *testing.T) {
	// prune orders entries by folder mtime. An earlier entry whose mtime
	// is not older than the new one (the clock was stepped back, or both
	// fall in one coarse timestamp tick) makes Store drop the entry it has
	// just stored, and still report success.
	a := &archive.Archive{Dir: t.TempDir(), Keep: 1}
	b := newBuild(t, map[string]node{"f": {body: "x", mode: 0o644}}, nil, "log")
	if err := a.Store(meta("demo", "k1"), b.parts); err != nil {
		t.Fatal(err)
	}
	future := time.Now().Add(time.Hour)
	if err := os.Chtimes(filepath.Join(a.Dir, "demo", "k1"), future, future); err != nil {
		t.Fatal(err)
	}
	if err := a.Store(meta("demo", "k2"), b.parts); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Lookup("demo", "k2"); err != nil {
		t.Fatalf("Lookup right after a successful Store = %v", err)
	}
}

func TestModesKept(t *testing.T) {
	// CopyTree's doc: "modes kept". Group-writable modes are part of that.
	a := &archive.Archive{Dir: t.TempDir(), Keep: 1}
	tree := map[string]node{
		"shared":      {mode: fs.ModeDir | 0o775},
		"shared/data": {body: "x", mode: 0o664},
	}
	b := newBuild(t, tree, nil, "log")
	if err := a.Store(meta("demo", "k"), b.parts); err != nil {
		t.Fatal(err)
	}
	out := t.TempDir()
	p := archive.Parts{Install: filepath.Join(out, "i"), Package: filepath.Join(out, "p")}
	if err := a.Restore("demo", "k", p); err != nil {
		t.Fatal(err)
	}
	sameTree(t, "install", readTree(t, p.Install), tree)
}

// fileID is a file's inode and link count, mode and disk blocks.
func fileID(t *testing.T, p string) (ino, nlink uint64, mode fs.FileMode, blocks int64) {
	t.Helper()
	info, err := os.Lstat(p)
	if err != nil {
		t.Fatal(err)
	}
	st := info.Sys().(*syscall.Stat_t)
	return st.Ino, uint64(st.Nlink), info.Mode(), st.Blocks
}

// A log is stored once: the entry's build.log is the engine's log (made
// read-only), and so is the log Restore puts back; the disk holds its
// blocks once. A log that has another link, or that not everyone may
// read, is copied and its mode left alone (control).
func TestLogStoredOnce(t *testing.T) {
	body := strings.Repeat("compiling a big module\n", 100000) // 2.3 MB
	tests := []struct {
		name   string
		setup  func(t *testing.T, log string)
		linked bool
		mode   fs.FileMode // of the engine's log afterwards
	}{
		{"the engine's log", func(*testing.T, string) {}, true, 0o444},
		{"already read-only", func(t *testing.T, log string) { os.Chmod(log, 0o444) }, true, 0o444},
		{"another link to it", func(t *testing.T, log string) {
			if err := os.Link(log, filepath.Join(t.TempDir(), "elsewhere")); err != nil {
				t.Fatal(err)
			}
		}, false, 0o644},
		{"not readable by all", func(t *testing.T, log string) { os.Chmod(log, 0o600) }, false, 0o600},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a := &archive.Archive{Dir: t.TempDir(), Keep: 3}
			b := newBuild(t, map[string]node{"f": {body: "x", mode: 0o644}}, nil, body)
			tc.setup(t, b.parts.Log)
			if err := a.Store(meta("demo", "k"), b.parts); err != nil {
				t.Fatal(err)
			}
			out := t.TempDir()
			p := archive.Parts{Install: filepath.Join(out, "i"), Package: filepath.Join(out, "p"), Log: filepath.Join(out, "restored.log")}
			if err := a.Restore("demo", "k", p); err != nil {
				t.Fatal(err)
			}
			logIno, _, logMode, logBlocks := fileID(t, b.parts.Log)
			entryIno, _, entryMode, entryBlocks := fileID(t, filepath.Join(a.Dir, "demo", "k", "build.log"))
			restIno, _, restMode, restBlocks := fileID(t, p.Log)
			if logMode.Perm() != tc.mode {
				t.Errorf("the engine's log is now %v, want %v", logMode, tc.mode)
			}
			if entryMode.Perm() != 0o444 || restMode.Perm() != 0o444 {
				t.Errorf("build.log %v, restored log %v: want both 0444", entryMode, restMode)
			}
			if b, _ := os.ReadFile(p.Log); string(b) != body {
				t.Errorf("the restored log differs (%d bytes)", len(b))
			}
			blocks := map[uint64]int64{logIno: logBlocks, entryIno: entryBlocks, restIno: restBlocks}
			var total int64
			for _, n := range blocks {
				total += n
			}
			t.Logf("log %d blocks; log, entry and restored log take %d blocks in %d files", logBlocks, total, len(blocks))
			if tc.linked {
				if entryIno != logIno || restIno != logIno || total != logBlocks {
					t.Errorf("stored more than once: inodes %d, %d, %d; %d blocks for a log of %d", logIno, entryIno, restIno, total, logBlocks)
				}
			} else if entryIno == logIno {
				t.Errorf("build.log is the engine's log, linked although %s", tc.name)
			}
			if _, err := a.Lookup("demo", "k"); err != nil {
				t.Errorf("Lookup: %v", err)
			}
		})
	}
}

// The engine still holds the log open when its build is archived. Were
// it written after (by the engine, or a process of the build that
// survived its step), the linked build.log changes with it: the entry
// then fails its manifest and is rebuilt, never used.
func TestLogWrittenAfterStoreIsNeverRestored(t *testing.T) {
	a := &archive.Archive{Dir: t.TempDir(), Keep: 3}
	b := newBuild(t, map[string]node{"f": {body: "x", mode: 0o644}}, nil, "the build's log\n")
	w, err := os.OpenFile(b.parts.Log, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if err := a.Store(meta("demo", "k"), b.parts); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Lookup("demo", "k"); err != nil {
		t.Fatalf("Lookup before the late write: %v", err)
	}
	if _, err := w.WriteString("written after the build was archived\n"); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Lookup("demo", "k"); !errors.Is(err, archive.ErrCorrupt) {
		t.Errorf("Lookup after the log changed = %v, want ErrCorrupt", err)
	}
}

// Restore never writes into a file that is there already: a log path
// that is a link to another file is replaced, and that file unchanged.
func TestRestoreReplacesAnExistingLog(t *testing.T) {
	a := &archive.Archive{Dir: t.TempDir(), Keep: 3}
	b := newBuild(t, map[string]node{"f": {body: "x", mode: 0o644}}, nil, "archived log\n")
	if err := a.Store(meta("demo", "k"), b.parts); err != nil {
		t.Fatal(err)
	}
	out := t.TempDir()
	other := filepath.Join(out, "other")
	if err := os.WriteFile(other, []byte("another file\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	p := archive.Parts{Install: filepath.Join(out, "i"), Package: filepath.Join(out, "p"), Log: filepath.Join(out, "restored.log")}
	if err := os.Link(other, p.Log); err != nil {
		t.Fatal(err)
	}
	if err := a.Restore("demo", "k", p); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(other); string(got) != "another file\n" {
		t.Errorf("the file the log path linked to now holds %q", got)
	}
	if got, _ := os.ReadFile(p.Log); string(got) != "archived log\n" {
		t.Errorf("restored log %q", got)
	}
}
