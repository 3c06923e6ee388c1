package sandbox

import (
	"errors"
	"fmt"
	"os"
	"io/fs"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// A step's merged folder (Profile.Merge) is an overlay mount: Dir is its
// upper layer, the Lower folders its lower layers, Work its work folder.
// The helper mounts it in the step's mount namespace, inside the view
// (buildView, through the host's root before it is let go) or, for an
// unconfined step, over the host's own path (mergeInPlace), before
// Landlock, which forbids mounting and binds its rules to the inodes
// they name: the rule for Dir then names the merged folder.
//
// Which extended attributes the overlay keeps its marks in: user.overlay.*
// (the userxattr option, Linux 5.11), which a mount in a user namespace
// needs, so every engine (root, unprivileged, or the secure one in a user
// namespace of its own) makes the same marks, and cleanMerged removes the
// same ones (and trusted.overlay.*, which no build can set).
//
// Ownership: the step runs as its module's uid, and a folder of a lower
// layer keeps its owner (another module's uid) in the merged view, where
// the step could not add a file. So before the mount, Dir gets the step's
// own empty folder at the path of every folder of the lower layers it may
// read (the skeleton), made as the step's uid: in the merged view those
// folders are the step's, holding the lower layers' files. After the
// step, those still empty are removed, with the overlay's whiteouts and
// marks. The overlay itself works with the helper's credentials (root's,
// or those of the engine's user namespace), which its work folder (mode
// 0, made by the kernel) needs; the step has no capability left.

// mergeAmbientCaps are what a helper started without root keeps, beside
// viewAmbientCaps, in its own user namespace (where they reach only the
// engine's own files), when it mounts a merged folder: the overlay works
// with the mounter's credentials, in a work folder the kernel makes with
// mode 0, and marks the engine's folders. They go with the others before
// the step's exec.
var mergeAmbientCaps = []uintptr{unix.CAP_DAC_OVERRIDE, unix.CAP_DAC_READ_SEARCH, unix.CAP_FOWNER}

// overlayMaxLayers is the most lower layers one overlay mount stacks.
const overlayMaxLayers = 500

// mergeError is a merged folder that could not be made (StageMerge).
type mergeError struct{ err error }

func (e *mergeError) Error() string { return e.err.Error() }
func (e *mergeError) Unwrap() error { return e.err }

func mergeErr(format string, args ...any) error {
	return &mergeError{fmt.Errorf(format, args...)}
}

// probeOverlay reports whether this kernel mounts overlay file systems:
// listed in /proc/filesystems, or (as root, which may make a file
// system context) loaded on demand by asking for one. Without root and
// the listing, the first mount says.
func probeOverlay() bool {
	if b, err := os.ReadFile("/proc/filesystems"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if strings.TrimSpace(strings.TrimPrefix(l, "nodev")) == "overlay" {
				return true
			}
		}
	}
	if os.Geteuid() != 0 {
		return true
	}
	fd, err := unix.Fsopen("overlay", unix.FSOPEN_CLOEXEC)
	if err != nil {
		return errors.Is(err, unix.ENOSYS) // no fsopen: mount(2) decides
	}
	unix.Close(fd)
	return true
}

// checkMerge refuses, before it starts, a step whose merged folder this
// host cannot make. absent are the mechanisms the step goes without.
func (r *Exec) checkMerge(p Profile, absent []string) error {
	m := p.Merge
	fail := func(format string, args ...any) error {
		return &StepError{Stage: StageMerge, Level: p.Level, Msg: fmt.Sprintf(format, args...)}
	}
	switch {
	case m.Dir == "" || !filepath.IsAbs(m.Dir):
		return fail("the merged folder %q is not an absolute path", m.Dir)
	case m.Work == "" || !filepath.IsAbs(m.Work):
		return fail("the merged folder %s has no work folder (an absolute path), not %q", m.Dir, m.Work)
	case !r.Host.Overlay:
		return fail("%s: this host cannot mount an overlay file system", m.Dir)
	case p.Confined && slices.Contains(absent, "mount-namespace"):
		return fail("%s: the step gets no mount namespace of its own on this host, to mount its merged folder in", m.Dir)
	case !p.Confined && !r.Host.Root && !r.Host.UserNS:
		return fail("%s: an unconfined step of an engine that is not root needs a user namespace to mount its merged folder in, which this host does not give", m.Dir)
	case p.Confined && !slices.Contains(p.Write, m.Dir):
		return fail("the merged folder %s is not one of the step's Write paths", m.Dir)
	}
	return nil
}

// mergeInPlace mounts the merged folder of an unconfined step over its
// own path, in the mount namespace the engine's clone gave the helper
// (made private first, so nothing reaches the host's).
func mergeInPlace(p Profile, engine uint64) error {
	if self := mountNS(); engine == 0 || self == 0 || self == engine {
		return mergeErr("the helper is not in a mount namespace of its own (engine %d, helper %d)", engine, self)
	}
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		return mergeErr("make / private: %w", err)
	}
	defer unix.Umask(unix.Umask(0))
	if err := mergeMount(p.Merge, "", p.UID, p.GID); err != nil {
		return err
	}
	if os.Geteuid() != 0 {
		// The capability of the helper's user namespace was for the
		// mount only.
		return dropCapabilities()
	}
	return nil
}

// mergeMount mounts m's overlay over m.Dir. host is where the host's root
// is reached (hostDir while a view is built, "" in place); paths are
// resolved as the host resolves them, and the overlay is mounted at Dir's
// canonical path (where the view bound it). The skeleton is made as
// uid:gid (-1: as the caller is). Every failure is a *mergeError.
func mergeMount(m *Merge, host string, uid, gid int) error {
	resolve := func(p string) (string, error) {
		if host == "" {
			return filepath.EvalSymlinks(p)
		}
		return walkHost(p, false)
	}
	dir, err := resolve(m.Dir)
	if err != nil {
		return mergeErr("merged folder %s: %w", m.Dir, err)
	}
	work, err := resolve(m.Work)
	if err != nil {
		return mergeErr("merged folder %s: work folder %s: %w", m.Dir, m.Work, err)
	}
	upper, err := openDir(host + dir)
	if err != nil {
		return mergeErr("merged folder %s: %w", m.Dir, err)
	}
	defer unix.Close(upper)
	var lowers []string
	var fds []int
	defer func() {
		for _, fd := range fds {
			unix.Close(fd)
		}
	}()
	for _, l := range m.Lower {
		real, err := resolve(l)
		if errors.Is(err, unix.ENOENT) || errors.Is(err, unix.ENOTDIR) {
			continue
		}
		if err != nil {
			return mergeErr("merged folder %s: lower folder %s: %w", m.Dir, l, err)
		}
		fd, err := openDir(host + real)
		if err != nil {
			return mergeErr("merged folder %s: lower folder %s: %w", m.Dir, l, err)
		}
		if empty, err := emptyDir(fd); err != nil || empty {
			unix.Close(fd)
			if err != nil {
				return mergeErr("merged folder %s: lower folder %s: %w", m.Dir, l, err)
			}
			continue
		}
		lowers, fds = append(lowers, host+real), append(fds, fd)
	}
	if len(lowers) == 0 {
		return nil // nothing beneath: the folder as it is
	}
	if err := makeSkeleton(upper, fds, uid, gid); err != nil {
		return mergeErr("merged folder %s: make its folders: %w", m.Dir, err)
	}
	if len(lowers) > overlayMaxLayers {
		stacked, mounted, err := stackLayers(lowers, host+work)
		defer func() {
			// The merged folder holds them: their own mounts go.
			for _, at := range mounted {
				unix.Unmount(at, unix.MNT_DETACH)
			}
		}()
		if err != nil {
			return mergeErr("merged folder %s: %w", m.Dir, err)
		}
		lowers = stacked
	}
	if err := mountOverlay(dir, host+dir, host+work, lowers); err != nil {
		return mergeErr("merged folder %s: %w", m.Dir, err)
	}
	settle(dir)
	return nil
}

// settle reads every folder of a merged folder once, before the step.
// The first read of a merged folder changes its ctime (the overlay marks
// its upper folder then; seen on tmpfs), and a step that stats a folder,
// reads it and stats it again, as tar(1) does, would take that for the
// folder changing under it ("file changed as we read it").
func settle(dir string) {
	_ = filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err != nil && d != nil && d.IsDir() {
			return fs.SkipDir
		}
		return nil
	})
}

// stackLayers stacks more layers than one overlay takes: each run of
// overlayMaxLayers of them (in order) becomes one read-only overlay,
// mounted on a folder of work's layers/ (in the step's mount namespace
// only; the folders go when work is emptied), and those are the layers
// of the merged folder: one level of nesting, which the kernel allows.
// It returns the stacked layers, and the overlays it mounted (also on
// failure: those mounted so far).
func stackLayers(lowers []string, work string) (layers, mounted []string, err error) {
	if n := (len(lowers) + overlayMaxLayers - 1) / overlayMaxLayers; n > overlayMaxLayers {
		return nil, nil, fmt.Errorf("%d lower folders hold files: more than the %d an overlay of overlays stacks", len(lowers), overlayMaxLayers*overlayMaxLayers)
	}
	for k := 0; k*overlayMaxLayers < len(lowers); k++ {
		chunk := lowers[k*overlayMaxLayers : min(len(lowers), (k+1)*overlayMaxLayers)]
		if len(chunk) == 1 {
			layers = append(layers, chunk[0]) // no overlay needed for one
			continue
		}
		at := filepath.Join(work, "layers", strconv.Itoa(k))
		if err := os.MkdirAll(at, 0o700); err != nil {
			return layers, mounted, err
		}
		if err := mountOverlay(at, "", "", chunk); err != nil {
			return layers, mounted, fmt.Errorf("layers %d to %d: %w", k*overlayMaxLayers+1, k*overlayMaxLayers+len(chunk), err)
		}
		layers, mounted = append(layers, at), append(mounted, at)
	}
	return layers, mounted, nil
}

// mountOverlay mounts the overlay of upper over lowers (first on top),
// with work (with no upper, a read-only one of lowers alone), at target:
// through the file system context API, which reports the kernel's
// reasons and (Linux 6.8) takes any number of layers one by one; older
// kernels take them in one option; with mount(2) where that API is
// missing. Always with userxattr (Linux 5.11): without it, a mount in a
// user namespace would be made without the marks it needs, and fail
// later, file by file.
func mountOverlay(target, upper, work string, lowers []string) error {
	err := overlayContext(target, upper, work, lowers, true)
	switch {
	case errors.Is(err, unix.ENOSYS):
		return mountOverlayLegacy(target, upper, work, lowers)
	case errors.Is(err, unix.EINVAL):
		// Before Linux 6.8 (lowerdir+ unknown); the first reason is the
		// one to give where this fails too.
		if overlayContext(target, upper, work, lowers, false) == nil {
			return nil
		}
	}
	return err
}

// overlayContext is one attempt of mountOverlay.
func overlayContext(target, upper, work string, lowers []string, oneByOne bool) error {
	fd, err := unix.Fsopen("overlay", unix.FSOPEN_CLOEXEC)
	if err != nil {
		return fmt.Errorf("overlay: %w", err)
	}
	defer unix.Close(fd)
	fail := func(what string, err error) error {
		if msg := contextLog(fd); msg != "" {
			return fmt.Errorf("overlay: %s: %w (%s)", what, err, msg)
		}
		return fmt.Errorf("overlay: %s: %w", what, err)
	}
	if oneByOne {
		for _, l := range lowers {
			if err := unix.FsconfigSetString(fd, "lowerdir+", l); err != nil {
				return fail("lowerdir+ "+l, err)
			}
		}
	} else if err := unix.FsconfigSetString(fd, "lowerdir", lowerdirOption(lowers)); err != nil {
		return fail("lowerdir", err)
	}
	if upper != "" {
		if err := unix.FsconfigSetString(fd, "upperdir", upper); err != nil {
			return fail("upperdir "+upper, err)
		}
		if err := unix.FsconfigSetString(fd, "workdir", work); err != nil {
			return fail("workdir "+work, err)
		}
	}
	if err := unix.FsconfigSetFlag(fd, "userxattr"); err != nil {
		return fail("userxattr", err)
	}
	for _, o := range []string{"index", "metacopy"} {
		if err := unix.FsconfigSetString(fd, o, "off"); err != nil {
			return fail(o+"=off", err)
		}
	}
	if err := unix.FsconfigCreate(fd); err != nil {
		return fail("create", err)
	}
	mfd, err := unix.Fsmount(fd, unix.FSMOUNT_CLOEXEC, unix.MOUNT_ATTR_NOSUID|unix.MOUNT_ATTR_NODEV|unix.MOUNT_ATTR_NOATIME)
	if err != nil {
		return fail("fsmount", err)
	}
	defer unix.Close(mfd)
	if err := unix.MoveMount(mfd, "", unix.AT_FDCWD, target, unix.MOVE_MOUNT_F_EMPTY_PATH); err != nil {
		return fmt.Errorf("overlay: mount on %s: %w", target, err)
	}
	return nil
}

// mountOverlayLegacy is mountOverlay with mount(2), whose options must
// fit one page.
func mountOverlayLegacy(target, upper, work string, lowers []string) error {
	esc := strings.NewReplacer(`\`, `\\`, `,`, `\,`)
	data := "lowerdir=" + esc.Replace(lowerdirOption(lowers))
	if upper != "" {
		data += ",upperdir=" + esc.Replace(upper) + ",workdir=" + esc.Replace(work)
	}
	data += ",userxattr,index=off,metacopy=off"
	if len(data) >= os.Getpagesize() {
		return fmt.Errorf("overlay: the paths of its %d lower folders take %d bytes, more than this kernel's mount(2) takes (%d)", len(lowers), len(data), os.Getpagesize())
	}
	if err := unix.Mount("overlay", target, "overlay", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOATIME, data); err != nil {
		return fmt.Errorf("overlay: mount on %s: %w", target, err)
	}
	return nil
}

// lowerdirOption joins layers for overlay's lowerdir option: each ':'
// and '\' escaped with '\'.
func lowerdirOption(lowers []string) string {
	esc := strings.NewReplacer(`\`, `\\`, `:`, `\:`)
	parts := make([]string, len(lowers))
	for i, l := range lowers {
		parts[i] = esc.Replace(l)
	}
	return strings.Join(parts, ":")
}

// contextLog drains the messages the kernel left in a file system
// context, for an error.
func contextLog(fd int) string {
	var msgs []string
	buf := make([]byte, 1024)
	for range 16 {
		n, err := unix.Read(fd, buf)
		if err != nil || n <= 0 {
			break
		}
		msg := strings.TrimSpace(string(buf[:n]))
		// "e overlayfs: ..." (error), "w ..." (warning), "i ..." (info).
		if len(msg) > 2 && msg[1] == ' ' {
			msg = msg[2:]
		}
		msgs = append(msgs, msg)
	}
	return strings.Join(msgs, "; ")
}

// openDir opens a folder (not through a symlink at its last component).
func openDir(path string) (int, error) {
	return unix.Open(path, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
}

// emptyDir reports whether the open folder fd holds nothing.
func emptyDir(fd int) (bool, error) {
	names, err := readNames(fd, 1)
	return len(names) == 0, err
}

// readNames lists the open folder fd (all of it when n < 0), without "."
// and "..".
func readNames(fd, n int) ([]string, error) {
	if _, err := unix.Seek(fd, 0, 0); err != nil {
		return nil, err
	}
	buf := make([]byte, 8192)
	var names []string
	for n < 0 || len(names) < n {
		c, err := unix.Getdents(fd, buf)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return names, err
		}
		if c <= 0 {
			break
		}
		_, _, names = unix.ParseDirent(buf[:c], -1, names)
	}
	return names, nil
}

// mergedDir is a folder of the union of lower layers: its path relative
// to their tops, and its mode bits in the layer that decides it.
type mergedDir struct {
	rel  string
	perm uint32
}

// overlayOpaque are the marks of a folder that hides the layers beneath.
var overlayOpaque = []string{"user.overlay.opaque", "trusted.overlay.opaque"}

// mergedDirs lists the folders of the union of the open layer tops
// (first on top), parents first, as an overlay merges them: the topmost
// layer that has a path decides whether it is a folder, and a folder
// merges the folders at its path of the layers beneath, down to one that
// has something else there or marks it opaque. A folder that one of its
// layers does not let the caller read is left out, with all below it
// (readable, its names would show in the merged folder, which the
// overlay lists with its own credentials).
func mergedDirs(tops []int) []mergedDir {
	var out []mergedDir
	// walk lists the folder rel of the open folders layers (top first)
	// and goes down each of its folders, holding the folders of one path
	// open at a time per layer.
	var walk func(rel string, layers []int)
	walk = func(rel string, layers []int) {
		type child struct {
			name    string
			perm    uint32
			in      []int // the layers (their folders at rel) that hold it as a folder
			stopped bool  // a layer beneath holds something else there
		}
		byName := map[string]*child{}
		var children []*child
		for _, fd := range layers {
			names, err := readNames(fd, -1)
			if err != nil {
				continue
			}
			for _, n := range names {
				c := byName[n]
				if c != nil && c.stopped {
					continue
				}
				var st unix.Stat_t
				if err := unix.Fstatat(fd, n, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
					continue
				}
				isDir := st.Mode&unix.S_IFMT == unix.S_IFDIR
				switch {
				case c == nil && !isDir:
					byName[n] = &child{stopped: true}
				case c == nil:
					c = &child{name: n, perm: st.Mode & 0o7777, in: []int{fd}}
					byName[n] = c
					children = append(children, c)
				case !isDir:
					c.stopped = true
				default:
					c.in = append(c.in, fd)
				}
			}
		}
		slices.SortFunc(children, func(a, b *child) int { return strings.Compare(a.name, b.name) })
		for _, c := range children {
			var subs []int
			denied := false
			for _, fd := range c.in {
				sub, err := unix.Openat(fd, c.name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
				if err != nil {
					denied = true
					break
				}
				subs = append(subs, sub)
				if opaque(sub) {
					break
				}
			}
			if !denied {
				r := filepath.Join(rel, c.name)
				out = append(out, mergedDir{rel: r, perm: c.perm})
				walk(r, subs)
			}
			for _, fd := range subs {
				unix.Close(fd)
			}
		}
	}
	walk("", tops)
	return out
}

// opaque reports whether an open folder of a layer hides the layers
// beneath it.
func opaque(fd int) bool {
	for _, x := range overlayOpaque {
		if v, err := getxattr(fd, x); err == nil && v == "y" {
			return true
		}
	}
	return false
}

// getxattr reads a short extended attribute of an open file.
func getxattr(fd int, name string) (string, error) {
	buf := make([]byte, 16)
	n, err := unix.Fgetxattr(fd, name, buf)
	if err != nil {
		return "", err
	}
	return string(buf[:n]), nil
}

// makeSkeleton makes in the open folder upper an empty folder for every
// folder of the layers (mergedDirs), with its mode bits and the owner's
// rwx, as uid:gid (-1: as the caller is). Folders are walked and made
// with those ids, so a layer's folder they may not read is left out; a
// path upper already holds stays as it is (what is not a folder, with
// all below it).
func makeSkeleton(upper int, layers []int, uid, gid int) error {
	if uid >= 0 && os.Geteuid() == 0 {
		// This thread only (the helper's is locked): its file system ids,
		// which drop its file capabilities until they are 0 again.
		unix.Setfsgid(gid)
		unix.Setfsuid(uid)
		defer func() {
			unix.Setfsuid(0)
			unix.Setfsgid(0)
		}()
		if id, _ := unix.SetfsuidRetUid(-1); id != uid {
			return fmt.Errorf("setfsuid %d: still %d", uid, id)
		}
	}
	// Reopened with those ids: a top they may not read is left out.
	var tops []int
	for _, fd := range layers {
		if t, err := unix.Openat(fd, ".", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0); err == nil {
			tops = append(tops, t)
		}
	}
	dirs := mergedDirs(tops)
	for _, fd := range tops {
		unix.Close(fd)
	}
	var skip []string
	for _, d := range dirs {
		if slices.ContainsFunc(skip, func(s string) bool { return strings.HasPrefix(d.rel, s+"/") }) {
			continue
		}
		err := unix.Mkdirat(upper, d.rel, d.perm|0o700)
		if errors.Is(err, unix.EEXIST) {
			var st unix.Stat_t
			if err := unix.Fstatat(upper, d.rel, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil || st.Mode&unix.S_IFMT != unix.S_IFDIR {
				skip = append(skip, d.rel)
			}
			continue
		}
		if err != nil {
			return fmt.Errorf("mkdir %s: %w", d.rel, err)
		}
	}
	return nil
}

// overlayXattr says whether an extended attribute is an overlay's mark.
func overlayXattr(name string) bool {
	return strings.HasPrefix(name, "user.overlay.") || strings.HasPrefix(name, "trusted.overlay.")
}

// cleanMerged removes, once the step is over, what the overlay left in
// m.Dir: whiteouts (character devices 0/0), its marks (extended
// attributes) on folders and files, and the skeleton's folders (those of
// the lower layers) the step left empty; and empties m.Work. Nothing is
// followed through a symlink. Dir then holds what the step wrote.
func cleanMerged(m *Merge) error {
	dir, err := filepath.EvalSymlinks(m.Dir)
	if err != nil {
		return err
	}
	upper, err := openDir(dir)
	if err != nil {
		return err
	}
	defer unix.Close(upper)
	var tops []int
	for _, l := range m.Lower {
		if fd, err := openDir(l); err == nil {
			tops = append(tops, fd)
		}
	}
	skeleton := map[string]bool{}
	for _, d := range mergedDirs(tops) {
		skeleton[d.rel] = true
	}
	for _, fd := range tops {
		unix.Close(fd)
	}
	if err := cleanTree(upper, "", skeleton); err != nil {
		return fmt.Errorf("%s: %w", dir, err)
	}
	return EmptyMergeWork(m.Work)
}

// cleanTree cleans the open folder fd (rel below the merged folder's
// top) and everything below it; see cleanMerged.
func cleanTree(fd int, rel string, skeleton map[string]bool) error {
	if err := dropMarks(fd, ""); err != nil {
		return fmt.Errorf("%s: %w", rel, err)
	}
	names, err := readNames(fd, -1)
	if err != nil {
		return fmt.Errorf("%s: %w", rel, err)
	}
	for _, n := range names {
		r := filepath.Join(rel, n)
		var st unix.Stat_t
		if err := unix.Fstatat(fd, n, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
			return fmt.Errorf("%s: %w", r, err)
		}
		switch st.Mode & unix.S_IFMT {
		case unix.S_IFCHR:
			if st.Rdev == 0 {
				if err := unix.Unlinkat(fd, n, 0); err != nil {
					return fmt.Errorf("%s: remove the whiteout: %w", r, err)
				}
			}
		case unix.S_IFREG:
			if err := dropMarks(fd, n); err != nil {
				return fmt.Errorf("%s: %w", r, err)
			}
		case unix.S_IFDIR:
			sub, err := unix.Openat(fd, n, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
			if err != nil {
				return fmt.Errorf("%s: %w", r, err)
			}
			err = cleanTree(sub, r, skeleton)
			empty := false
			if err == nil && skeleton[r] {
				empty, err = emptyDir(sub)
			}
			unix.Close(sub)
			if err != nil {
				return err
			}
			if empty {
				if err := unix.Unlinkat(fd, n, unix.AT_REMOVEDIR); err != nil {
					return fmt.Errorf("%s: %w", r, err)
				}
			}
		}
	}
	return nil
}

// dropMarks removes the overlay's extended attributes from the file name
// of the open folder dir (the folder itself when name is ""), a folder
// or a regular file, never through a symlink. Removing a user.*
// attribute needs write access: an engine that is not root lends its own
// file that access for the while.
func dropMarks(dir int, name string) error {
	path := fmt.Sprintf("/proc/self/fd/%d/%s", dir, name)
	list := func(buf []byte) (int, error) {
		if name == "" {
			return unix.Flistxattr(dir, buf)
		}
		return unix.Llistxattr(path, buf)
	}
	remove := func(x string) error {
		if name == "" {
			return unix.Fremovexattr(dir, x)
		}
		return unix.Lremovexattr(path, x)
	}
	size, err := list(nil)
	if errors.Is(err, unix.ENOTSUP) || err == nil && size == 0 {
		return nil
	}
	if err != nil {
		return err
	}
	buf := make([]byte, size)
	if size, err = list(buf); err != nil {
		return err
	}
	for _, x := range strings.Split(strings.TrimRight(string(buf[:size]), "\x00"), "\x00") {
		if !overlayXattr(x) {
			continue
		}
		err := remove(x)
		if errors.Is(err, unix.EACCES) || errors.Is(err, unix.EPERM) {
			err = withOwnerWrite(dir, name, func() error { return remove(x) })
		}
		if err != nil && !errors.Is(err, unix.ENODATA) {
			return fmt.Errorf("remove %s: %w", x, err)
		}
	}
	return nil
}

// withOwnerWrite runs fn with the owner's write bit set on the file name
// of the open folder dir (dir itself when name is ""), when the engine
// owns it and the bit is not set; the mode is restored after.
func withOwnerWrite(dir int, name string, fn func() error) error {
	var st unix.Stat_t
	var err error
	if name == "" {
		err = unix.Fstat(dir, &st)
	} else {
		err = unix.Fstatat(dir, name, &st, unix.AT_SYMLINK_NOFOLLOW)
	}
	if err != nil {
		return err
	}
	if int(st.Uid) != os.Geteuid() || st.Mode&0o200 != 0 {
		return fn()
	}
	chmod := func(mode uint32) error {
		if name == "" {
			return unix.Fchmod(dir, mode)
		}
		return unix.Fchmodat(dir, name, mode, 0)
	}
	if err := chmod(st.Mode&0o7777 | 0o200); err != nil {
		return err
	}
	err = fn()
	if cerr := chmod(st.Mode & 0o7777); err == nil {
		err = cerr
	}
	return err
}

// EmptyMergeWork removes everything in a merged folder's work folder
// (Merge.Work), keeping the folder: what an overlay left there, whose
// folders the kernel makes with mode 0, is made removable first. A
// missing folder is not an error.
func EmptyMergeWork(dir string) error {
	fd, err := openDir(dir)
	if errors.Is(err, unix.ENOENT) {
		return nil
	}
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	return emptyFolder(fd, dir)
}

// emptyFolder removes everything in the open folder fd (named path).
func emptyFolder(fd int, path string) error {
	names, err := readNames(fd, -1)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	for _, n := range names {
		p := filepath.Join(path, n)
		var st unix.Stat_t
		if err := unix.Fstatat(fd, n, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
			return fmt.Errorf("%s: %w", p, err)
		}
		if st.Mode&unix.S_IFMT == unix.S_IFDIR {
			if st.Mode&0o700 != 0o700 {
				if err := unix.Fchmodat(fd, n, 0o700, 0); err != nil {
					return fmt.Errorf("%s: %w", p, err)
				}
			}
			sub, err := unix.Openat(fd, n, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
			if err != nil {
				return fmt.Errorf("%s: %w", p, err)
			}
			err = emptyFolder(sub, p)
			unix.Close(sub)
			if err != nil {
				return err
			}
			if err := unix.Unlinkat(fd, n, unix.AT_REMOVEDIR); err != nil {
				return fmt.Errorf("%s: %w", p, err)
			}
			continue
		}
		if err := unix.Unlinkat(fd, n, 0); err != nil {
			return fmt.Errorf("%s: %w", p, err)
		}
	}
	return nil
}
