// Package archive is the build archive: results of good builds, by module
// and cache key, so an unchanged module is restored instead of rebuilt.
//
// An entry is a folder build-archive/<module>/<key>/ holding install/,
// package/, build.log and meta.json. It is written aside and renamed into
// place, so a reader sees a whole entry or none. meta.json carries a
// manifest of every file's SHA-256; an entry that does not match its
// manifest is corrupt: Lookup removes it and reports a miss, so it is
// rebuilt, never used.
//
// A log is stored once. build.log is a hard link to the engine's log,
// and a restored log a hard link to build.log, wherever publish.LinkLog
// allows it (the engine's own file, read-only: its write bits are
// cleared on the way when it has no other link; the same file system and
// SELinux type); else a copy. Either way build.log is read-only (0444).
// The engine may still hold the log open when its build is archived: a
// later write to it would make the entry fail its manifest, and be
// rebuilt, never used.
package archive

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/autobuild/autobuild/engine/report"
	"github.com/autobuild/autobuild/publish"
)

// Meta describes an entry.
type Meta struct {
	Module   string            `json:"module"`
	Key      string            `json:"key"`
	Run      int               `json:"run"`
	Revision string            `json:"revision"`
	Duration time.Duration     `json:"duration_ns"`
	Created  time.Time         `json:"created"`
	Files    map[string]string `json:"files"` // path → "sha256:…" or "link:…" or "dir"
	// Tests are what the build's results file reported: a restore
	// reports them again.
	Tests *report.Tests `json:"tests,omitempty"`
}

// ErrCorrupt reports an entry that failed verification (and was removed).
var ErrCorrupt = errors.New("corrupt archive entry")

// Archive is a build archive rooted at Dir.
type Archive struct {
	Dir  string
	Keep int
}

func (a *Archive) entry(module, key string) string { return filepath.Join(a.Dir, module, key) }

// Parts are the folders and files an entry holds.
type Parts struct {
	Install, Package, Log string
}

// Store archives a good build. It is atomic: on any error nothing is left.
func (a *Archive) Store(m Meta, p Parts) (err error) {
	dir := filepath.Join(a.Dir, m.Module)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	tmp, err := os.MkdirTemp(dir, ".tmp-")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			os.RemoveAll(tmp)
		}
	}()
	for _, c := range []struct{ from, to string }{{p.Install, "install"}, {p.Package, "package"}} {
		if err := CopyTree(c.from, filepath.Join(tmp, c.to)); err != nil {
			return fmt.Errorf("archive %s: %w", m.Module, err)
		}
	}
	if p.Log != "" {
		if err := shareLog(p.Log, filepath.Join(tmp, "build.log")); err != nil {
			return fmt.Errorf("archive %s: log: %w", m.Module, err)
		}
	}
	if m.Files, err = manifest(tmp); err != nil {
		return err
	}
	b, err := json.MarshalIndent(m, "", " ")
	if err != nil {
		return err
	}
	// No fsync: an entry torn by a power loss fails its manifest check
	// and is rebuilt, so durability is not needed for correctness, and
	// fsyncs would stall every build writing to the same filesystem.
	if err := os.WriteFile(filepath.Join(tmp, "meta.json"), b, 0o644); err != nil {
		return err
	}
	final := a.entry(m.Module, m.Key)
	_ = os.RemoveAll(final)
	if err := os.Rename(tmp, final); err != nil {
		return err
	}
	return a.prune(m.Module, m.Key)
}

// Lookup returns the verified entry for module and key. It returns
// fs.ErrNotExist on a miss, and ErrCorrupt (after removing the entry)
// when the entry does not match its manifest.
func (a *Archive) Lookup(module, key string) (*Meta, error) {
	dir := a.entry(module, key)
	b, err := os.ReadFile(filepath.Join(dir, "meta.json"))
	if errors.Is(err, fs.ErrNotExist) {
		if _, serr := os.Stat(dir); serr == nil {
			os.RemoveAll(dir)
			return nil, fmt.Errorf("%w: %s has no meta.json", ErrCorrupt, dir)
		}
		return nil, fs.ErrNotExist
	}
	if err != nil {
		return nil, err
	}
	var m Meta
	if err := json.Unmarshal(b, &m); err != nil || m.Key != key || m.Module != module {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("%w: %s: bad meta.json", ErrCorrupt, dir)
	}
	got, err := manifest(dir)
	if err != nil {
		return nil, err
	}
	delete(got, "meta.json")
	if !sameManifest(got, m.Files) {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("%w: %s: files do not match the manifest", ErrCorrupt, dir)
	}
	return &m, nil
}

// Restore copies a verified entry's install root, packages and log to p.
func (a *Archive) Restore(module, key string, p Parts) error {
	dir := a.entry(module, key)
	for _, c := range []struct{ from, to string }{{"install", p.Install}, {"package", p.Package}} {
		if err := os.RemoveAll(c.to); err != nil {
			return err
		}
		if err := CopyTree(filepath.Join(dir, c.from), c.to); err != nil {
			return err
		}
	}
	if p.Log != "" {
		if err := os.Remove(p.Log); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		return shareLog(filepath.Join(dir, "build.log"), p.Log)
	}
	return nil
}

// shareLog makes to, a new file, the log at from: a hard link when
// publish.LinkLog allows it, else a copy; read-only either way.
func shareLog(from, to string) error {
	in, err := os.OpenFile(from, os.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_NONBLOCK|syscall.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer in.Close()
	info, err := in.Stat()
	if err != nil {
		return err
	}
	if !info.Mode().IsRegular() {
		return fmt.Errorf("%s is not a regular file", from)
	}
	dir, err := os.Open(filepath.Dir(to))
	if err != nil {
		return err
	}
	defer dir.Close()
	if publish.LinkLog(in, int(dir.Fd()), filepath.Base(to), true) == nil {
		return nil
	}
	out, err := os.OpenFile(to, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o444)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		os.Remove(to)
		return err
	}
	if err := out.Chmod(0o444); err != nil { // exact, whatever the umask
		out.Close()
		os.Remove(to)
		return err
	}
	if err := out.Close(); err != nil {
		os.Remove(to)
		return err
	}
	return nil
}

// prune keeps the newest Keep entries of module, never the one just
// stored (whatever the clock says), and removes folders of stores that
// were killed half-way (only one run stores at a time: it holds the lock).
func (a *Archive) prune(module, stored string) error {
	dir := filepath.Join(a.Dir, module)
	ents, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	type e struct {
		name string
		t    time.Time
	}
	var list []e
	for _, d := range ents {
		switch {
		case strings.HasPrefix(d.Name(), ".tmp-"):
			os.RemoveAll(filepath.Join(dir, d.Name()))
		case d.Name() == stored:
		default:
			if info, err := d.Info(); err == nil {
				list = append(list, e{d.Name(), info.ModTime()})
			}
		}
	}
	sort.Slice(list, func(i, j int) bool { return list[i].t.After(list[j].t) })
	for i := a.Keep - 1; i < len(list) && a.Keep > 0; i++ {
		os.RemoveAll(filepath.Join(dir, list[i].name))
	}
	return nil
}

func sameManifest(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// manifest lists every path under root with its content hash.
func manifest(root string) (map[string]string, error) {
	out := map[string]string{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		if rel == "." || rel == "meta.json" {
			return nil
		}
		switch {
		case d.Type()&fs.ModeSymlink != 0:
			t, err := os.Readlink(p)
			if err != nil {
				return err
			}
			out[rel] = "link:" + t
		case d.IsDir():
			out[rel] = "dir"
		case d.Type().IsRegular():
			sum, err := FileSHA256(p)
			if err != nil {
				return err
			}
			out[rel] = "sha256:" + sum
		}
		return nil
	})
	return out, err
}

// FileSHA256 returns the hex SHA-256 of a file.
func FileSHA256(p string) (string, error) {
	f, err := os.Open(p)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// CopyTree copies a folder tree (files, folders, symlinks; modes kept).
// A missing source copies as an empty folder.
func CopyTree(from, to string) error {
	if _, err := os.Lstat(from); errors.Is(err, fs.ErrNotExist) {
		return os.MkdirAll(to, 0o755)
	}
	return filepath.WalkDir(from, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(from, p)
		dst := filepath.Join(to, rel)
		info, err := d.Info()
		if err != nil {
			return err
		}
		switch {
		case d.Type()&fs.ModeSymlink != 0:
			t, err := os.Readlink(p)
			if err != nil {
				return err
			}
			return os.Symlink(t, dst)
		case d.IsDir():
			if err := os.MkdirAll(dst, 0o700); err != nil {
				return err
			}
			return os.Chmod(dst, info.Mode().Perm()|0o700) // exact, whatever the umask
		case d.Type().IsRegular():
			return copyFile(p, dst, info.Mode().Perm())
		}
		return nil // sockets, fifos, devices are not build results
	})
}

func copyFile(from, to string, mode fs.FileMode) error {
	in, err := os.Open(from)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(to, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, mode)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	if err := out.Chmod(mode); err != nil { // exact, whatever the umask
		out.Close()
		return err
	}
	return out.Close()
}
