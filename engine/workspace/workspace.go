package workspace

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/autobuild/autobuild/sandbox"
)

// Local is a build root on this host: its folders, who owns them and how
// they are labelled. Steps run as uids of their own when SeparateUIDs, so
// each module's folders belong to its uid; on an SELinux host every folder
// carries the file type of its kind and the module's MCS categories.
type Local struct {
	Layout
	// SeparateUIDs: module folders are owned by the module's build uid
	// (the engine runs as root).
	SeparateUIDs bool

	dirs sync.Map // path → bool: folders known to exist (see IsDir)
}

// NewLocal returns the workspace of a build root.
func NewLocal(root string, separateUIDs bool) *Local {
	return &Local{Layout: Layout{Root: root}, SeparateUIDs: separateUIDs}
}

// Init creates the build root and its top folders, traversable by every
// module's uid (what each may write is decided per folder), each labelled
// with its file type wherever the build root is, not only at the policy's
// default path.
func (w *Local) Init() error {
	if err := os.MkdirAll(w.Root, 0o755); err != nil {
		return err
	}
	// The build root itself carries the engine's type too: one first made
	// by an engine in one SELinux domain (a plain run from root's shell)
	// is then usable by one in another (autobuild_t, from cron or
	// systemd), which may use only its own types. (What the engine makes
	// in it, such as the site's symlink, inherits the type.)
	if err := sandbox.LabelDir(w.Root, "autobuild_var_lib_t"); err != nil {
		return fmt.Errorf("label %s: %w", w.Root, err)
	}
	for _, d := range w.Tops() {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return err
		}
		if err := sandbox.LabelDir(d, topLabel(d)); err != nil {
			return fmt.Errorf("label %s: %w", d, err)
		}
	}
	return nil
}

// PrepareDir creates one of a module's folders (emptied first when wipe),
// owned by the module's build uid when SeparateUIDs, and labelled with the
// module's MCS categories on an SELinux host.
func (w *Local) PrepareDir(dir string, id sandbox.ID, wipe bool) error {
	if wipe {
		if err := os.RemoveAll(dir); err != nil {
			return err
		}
		w.dirs.Delete(dir)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if w.SeparateUIDs {
		if err := chownTree(dir, id.UID, id.UID); err != nil {
			return err
		}
	}
	return sandbox.LabelModuleDir(dir, fileType(dir), id.MCS())
}

// IsDir reports whether a folder exists, asking the file system once per
// path: every dependent asks about the same install roots, which do not
// change once their module finished.
func (w *Local) IsDir(p string) bool {
	if v, ok := w.dirs.Load(p); ok {
		return v.(bool)
	}
	info, err := os.Stat(p)
	ok := err == nil && info.IsDir()
	w.dirs.Store(p, ok)
	return ok
}

// Exists reports whether a path exists now (not memoized).
func (w *Local) Exists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// Sync makes what the folders hold durable: one syncfs per file system
// they are on (usually one: the build root's).
func (w *Local) Sync(dirs ...string) error {
	done := map[uint64]bool{}
	for _, d := range dirs {
		f, err := os.Open(d)
		if err != nil {
			return err
		}
		var st unix.Stat_t
		err = unix.Fstat(int(f.Fd()), &st)
		if err == nil && !done[st.Dev] {
			done[st.Dev] = true
			err = unix.Syncfs(int(f.Fd()))
		}
		f.Close()
		if err != nil {
			return fmt.Errorf("sync %s: %w", d, err)
		}
	}
	return nil
}

// Reachable checks that the uids of module steps can reach every path
// given: every existing folder above each must let others pass (o+x).
// It matters only with SeparateUIDs.
func (w *Local) Reachable(paths ...string) error {
	if !w.SeparateUIDs {
		return nil
	}
	for _, p := range paths {
		if err := traversable(p); err != nil {
			return fmt.Errorf("module builds run as uids of their own and cannot reach %s: %w", p, err)
		}
	}
	return nil
}

// traversable checks that every existing folder above p lets others pass
// (mode o+x).
func traversable(p string) error {
	for dir := filepath.Dir(p); ; dir = filepath.Dir(dir) {
		if info, err := os.Stat(dir); err == nil && info.Mode().Perm()&0o001 == 0 {
			return fmt.Errorf("%s is mode %04o; make it o+x (chmod o+x %s) or move the build root and sources elsewhere", dir, info.Mode().Perm(), dir)
		}
		if dir == "/" || dir == "." {
			return nil
		}
	}
}

// SealInstall makes a module's finished install root read-only for every
// step (sandbox.SealInstallRoot): once its build succeeded or it was
// restored from the archive, before a dependent starts.
func (w *Local) SealInstall(dir string) error { return sandbox.SealInstallRoot(dir) }

// topLabel is the SELinux type of a top folder itself: the build root's
// own for the tops of module folders (steps pass through them; only the
// engine creates entries there), its kind's for the others.
func topLabel(dir string) string {
	switch filepath.Base(dir) {
	case "source-root", "scm-root", "install-root", "package-root", "tmp":
		return "autobuild_var_lib_t"
	}
	return topFileType(dir)
}

// fileType is the SELinux file type of a module folder: its top folder's.
func fileType(dir string) string { return topFileType(filepath.Dir(dir)) }

// chownTree gives dir and everything below it to uid:gid, changing only
// what belongs to someone else: a first checkout, a module whose uid
// changed, or what an unconfined build (which runs as the engine does)
// left in its source folder, which the checkout step, running as the
// module's uid, must be able to reset and remove. Symlinks are not
// followed.
func chownTree(dir string, uid, gid int) error {
	return filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		if st, ok := info.Sys().(*syscall.Stat_t); ok && int(st.Uid) == uid && int(st.Gid) == gid {
			return nil
		}
		return os.Lchown(p, uid, gid)
	})
}
