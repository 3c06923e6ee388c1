package sandbox

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"unsafe"

	"github.com/landlock-lsm/go-landlock/landlock"
	llsys "github.com/landlock-lsm/go-landlock/landlock/syscall"
	"golang.org/x/sys/unix"
)

// A confined step sees a file system built for it, in a mount namespace
// of its own (bubblewrap's model): the host's system folders read-only,
// its profile's Write paths read-write and Read paths read-only, each at
// the same absolute path as on the host, a private /tmp, a minimal /dev
// and a /proc of its PID namespace. Nothing else of the host is there:
// not /home, /root, /run, /var, /mnt, /srv, the host's /tmp, nor any part
// of the build root the profile does not name. Named Unix sockets, which
// ignore the network namespace (and Landlock below ABI 9), are out of
// reach because their paths do not exist; other processes are out of
// sight because /proc shows only the step's own.
//
// The helper builds the view between fork and exec (enterView), while it
// still has the capabilities the uid drop takes away: as root, or in the
// user namespace the engine's clone gives an unprivileged engine.
// Landlock, applied after, is the second layer: its rules name the same
// paths.

// viewSystem are the host folders every step sees, read-only: those that
// exist on this host. A symlink among them (/bin -> usr/bin) stays a
// symlink. (Landlock's systemRead also names /proc, which the view mounts
// afresh, and /sys, which the view leaves out.)
var viewSystem = []string{"/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/etc", "/opt"}

// viewDevices are the symlinks of the view's /dev, beside the nodes of
// deviceFiles (bind-mounted from the host) and its own devpts and shm.
var viewDevices = [][2]string{
	{"/proc/self/fd", "/dev/fd"},
	{"/proc/self/fd/0", "/dev/stdin"},
	{"/proc/self/fd/1", "/dev/stdout"},
	{"/proc/self/fd/2", "/dev/stderr"},
	{"pts/ptmx", "/dev/ptmx"},
}

// hostDir is where the host's root hangs in the view while it is built;
// it is detached and removed before the step runs.
const hostDir = "/.autobuild-host"

// viewBases are folders to mount the view's root on before pivoting into
// it: the first that exists. (Hidden at once by the pivot; the host's own
// stays as it was, in the host's mount namespace.)
var viewBases = []string{"/tmp", "/mnt", "/dev"}

// dirError is a working directory outside the step's view: the command
// cannot run there, as a missing Dir fails an unconfined start.
type dirError struct{ err error }

func (e *dirError) Error() string { return e.err.Error() }
func (e *dirError) Unwrap() error { return e.err }

// confineStage is the stage a failure of confine belongs to: the
// confinement's, except a working directory the step cannot have, and a
// merged folder that could not be made.
func confineStage(err error) string {
	var de *dirError
	var me *mergeError
	switch {
	case errors.As(err, &de):
		return StageExec
	case errors.As(err, &me):
		return StageMerge
	}
	return StageConfine
}

var (
	engineNSOnce sync.Once
	engineNS     uint64
)

// mountNS identifies the calling process's mount namespace (0: unknown).
func mountNS() uint64 {
	var st unix.Stat_t
	if err := unix.Stat("/proc/self/ns/mnt", &st); err != nil {
		return 0
	}
	return st.Ino
}

// engineMountNS is the engine's mount namespace, which the helper must
// have left before it builds a view: mounting there would change the
// host's.
func engineMountNS() uint64 {
	engineNSOnce.Do(func() { engineNS = mountNS() })
	return engineNS
}

// bindMount is one host path in the view, or hidden from it.
type bindMount struct {
	path string // canonical (no symlink in it): its place on the host and in the view
	rw   bool
	file bool
	hide bool
}

// viewOptions says what a file system view holds besides the host's
// system folders (viewSystem, read-only) and its own /tmp and /dev: the
// host paths given read-only and read-write, each at its own path. The
// step's view and the engine's (engineview_linux.go) are both built from
// one by buildView.
type viewOptions struct {
	// Read and Write are the host paths the view shows read-only and
	// read-write (a relative one is relative to Dir); Hide are paths taken
	// back out of a folder the view shows.
	Read, Write, Hide []string
	// Resolv adds /etc/resolv.conf (wherever its symlinks lead): name
	// resolution, for a view with network.
	Resolv bool
	// TmpSize bounds the view's private /tmp and /dev/shm, in bytes (0:
	// no bound of its own).
	TmpSize int64
	// Dir is the working directory to end in: "" for /, a relative one
	// for the current one (a step's exec.Cmd entered it already).
	Dir string
	// Merge, when set, is mounted over its Dir (which Write holds) once
	// every host path is bound, the skeleton folders made in Dir as
	// MergeUID and MergeGID (-1: as the caller is). A failure is a
	// *mergeError.
	Merge              *Merge
	MergeUID, MergeGID int
	// HostPID: the process stays in the host's PID namespace (the
	// engine), so the view gets the host's /proc, and its /sys, bound
	// read-only, recursively, instead of a /proc of its own. (A user
	// namespace that does not own the PID namespace could not mount one,
	// and a writable host /proc would hand root's sysctls to any process
	// whose uid is 0 on the host, even inside a user namespace.)
	HostPID bool
}

// enterView builds the step's file system view and moves the process
// into it: after it returns, the host's file system is out of reach, the
// working directory is dir (or / when dir is ""). It returns the Landlock
// rules for the view's own writable places (its /tmp, /dev/shm and
// devpts), which exist only in the view. engine is the engine's mount
// namespace (engineMountNS): the view is built only in another one.
func enterView(p Profile, dir string, engine uint64) ([]landlock.Rule, error) {
	// Refuse to touch the mount table unless the clone gave us a mount
	// namespace of our own: everything below would otherwise change the
	// host's (an engine and a helper of different versions, a bug).
	if self := mountNS(); engine == 0 || self == 0 || self == engine {
		return nil, fmt.Errorf("file system view: the helper is not in a mount namespace of its own (engine %d, helper %d)", engine, self)
	}
	if err := buildView(viewOptions{
		Read: p.Read, Write: p.Write, Hide: p.Hide,
		Resolv: p.Network != NetNone,
		Merge:  p.Merge, MergeUID: p.UID, MergeGID: p.GID,
		// A private tmpfs lives in memory: bound, like a file, by the
		// step's file size limit.
		TmpSize: p.Limits.FileSize,
		Dir:     dir,
	}); err != nil {
		return nil, err
	}

	// Without root, the helper held CAP_SYS_ADMIN of its user namespace
	// (ambient, across its own exec) only to build the view: every
	// capability goes now, on every thread, or the step's exec would keep
	// the ambient one. (As root, the uid drop that follows clears them
	// all.)
	if os.Geteuid() != 0 {
		if err := dropCapabilities(); err != nil {
			return nil, err
		}
	}

	return []landlock.Rule{
		landlock.RWDirs("/tmp", "/dev/shm").WithRefer(),
		// The view's own devpts instance: ptys of the step only.
		landlock.PathAccess(llsys.AccessFSReadFile|llsys.AccessFSWriteFile|llsys.AccessFSIoctlDev, "/dev/pts"),
	}, nil
}

// buildView builds the view o describes and moves the calling thread's
// file system (its root, its working directory) into it. It must run in
// a mount namespace of its own, which the caller has checked: every
// mount below is made there. On return, the host's file system is out of
// reach and the working directory is o.Dir; if only that is missing from
// the view, the error is a *dirError and the view is complete.
//
// Each step says why it sits where it does; the order matters.
func buildView(o viewOptions) error {
	dir := o.Dir
	// A relative working directory is relative to the engine's, which
	// exec.Cmd entered before the helper started: the helper is there now.
	if dir != "" && !filepath.IsAbs(dir) {
		wd, err := unix.Getwd()
		if err != nil {
			return viewErr("getcwd", err)
		}
		dir = wd
	}
	// Folders made for the view are 0755 whatever the caller's umask: a
	// step's uid must traverse them to reach its own folders. The caller
	// gets its umask back.
	defer unix.Umask(unix.Umask(0))

	// 1. Private, recursively, first: the namespace starts as a copy of
	// the host's with shared propagation, and nothing mounted below may
	// propagate back to the host (nor the host's later mounts in).
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		return viewErr("make / private", err)
	}

	// 2. The new root: an empty tmpfs, mounted over a folder of the copy
	// (only this namespace sees it), then pivoted into. The host's root
	// stays reachable at hostDir until every bind is made.
	base := ""
	for _, b := range viewBases {
		if st, err := os.Lstat(b); err == nil && st.IsDir() {
			base = b
			break
		}
	}
	if base == "" {
		return fmt.Errorf("file system view: none of %v to mount the new root on", viewBases)
	}
	if err := unix.Mount("tmpfs", base, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV, "mode=0755"); err != nil {
		return viewErr("mount the root tmpfs", err)
	}
	if err := unix.Chdir(base); err != nil {
		return viewErr("chdir to the new root", err)
	}
	if err := unix.Mkdir("."+hostDir, 0o700); err != nil {
		return viewErr("mkdir "+hostDir, err)
	}
	if err := unix.PivotRoot(".", "."+hostDir); err != nil {
		return viewErr("pivot_root", err)
	}
	if err := unix.Chdir("/"); err != nil {
		return viewErr("chdir /", err)
	}

	// 3. The view's own file systems, before any bind: a host path under
	// /tmp (the build root of a test) then lands inside the private /tmp,
	// and /proc must be mounted while the host's /proc is still in the
	// namespace (an unprivileged user namespace may mount proc only where
	// an unobstructed one is already visible).
	size := ""
	if o.TmpSize > 0 {
		size = ",size=" + strconv.FormatInt(o.TmpSize, 10)
	}
	if err := mountFS("tmpfs", "/tmp", unix.MS_NOSUID|unix.MS_NODEV, "mode=1777"+size); err != nil {
		return err
	}
	if err := buildDev(size); err != nil {
		return err
	}
	if o.HostPID {
		// The host's /proc and /sys, whole (their submounts too) and
		// read-only: the mounts are bound, not made, so nothing new of
		// the kernel's is exposed, and nothing there can be written.
		for _, fs := range []string{"/proc", "/sys"} {
			if _, err := os.Lstat(hostDir + fs); err != nil {
				continue // this host lacks it
			}
			if err := bindHost(&bindMount{path: fs}, false); err != nil {
				return err
			}
		}
	} else {
		const flags = unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC
		if err := mountFS("proc", "/proc", flags, ""); err != nil {
			// Inside a user namespace the kernel mounts a proc only if
			// it is no more writable than one already visible: a step of
			// the secure engine, whose /proc is the host's read-only
			// (engineview_linux.go), gets a read-only one.
			if !errors.Is(err, unix.EPERM) || unix.Mount("proc", "/proc", "proc", flags|unix.MS_RDONLY, "") != nil {
				return err
			}
		}
	}

	// 4. Every host path the view shows, resolved on the host: each
	// symlink on the way is copied into the view, so the name the build
	// contract gives (which may pass through one) leads to the same place
	// as on the host, and each bind lands at its canonical path.
	want := map[string]*bindMount{}
	add := func(path string, rw, hide bool) error {
		switch {
		case path == "":
			return nil // names nothing (Landlock ignores it too)
		case !filepath.IsAbs(path):
			// As Landlock's rule would: relative to the working directory.
			path = filepath.Join("/", dir, path)
		}
		real, err := resolveHost(path)
		if errors.Is(err, unix.ENOENT) || errors.Is(err, unix.ENOTDIR) {
			return nil // missing: skipped, as Landlock's IgnoreIfMissing does
		}
		if err != nil {
			return err
		}
		if real == "/" {
			return fmt.Errorf("file system view: %s is the host's whole file system, not a folder a step may be given or denied", path)
		}
		st, err := os.Stat(hostDir + real)
		if err != nil {
			return nil
		}
		b := want[real]
		switch {
		case b == nil:
			want[real] = &bindMount{path: real, rw: rw, hide: hide, file: !st.IsDir()}
		case hide:
			// A path the profile names is there, hidden surroundings or not.
		case b.hide:
			*b = bindMount{path: real, rw: rw, file: !st.IsDir()}
		default:
			b.rw = b.rw || rw // named twice: the wider right
		}
		return nil
	}
	for _, d := range viewSystem {
		if err := add(d, false, false); err != nil {
			return err
		}
	}
	if o.Resolv {
		// Name resolution: /etc/resolv.conf is often a symlink into /run
		// (systemd-resolved), which the view otherwise leaves out.
		if err := add("/etc/resolv.conf", false, false); err != nil {
			return err
		}
	}
	for _, h := range o.Hide {
		if err := add(h, false, true); err != nil {
			return err
		}
	}
	for _, r := range o.Read {
		if err := add(r, false, false); err != nil {
			return err
		}
	}
	for _, w := range o.Write {
		if err := add(w, true, false); err != nil {
			return err
		}
	}

	// 5. The mounts, parents before children (a parent mounted later
	// would cover a child). A path inside one already bound with the same
	// right is there already; one with the other right is bound over it,
	// so the more specific path decides (a module's install root,
	// writable, inside every module's, readable). A hidden path inside a
	// bound one is covered by an empty tmpfs (a file by /dev/null), in
	// which the view's own paths are bound again.
	paths := make([]string, 0, len(want))
	for p := range want {
		paths = append(paths, p)
	}
	slices.Sort(paths)
	var done, hidden []*bindMount
	for _, path := range paths {
		b := want[path]
		var parent *bindMount
		for _, d := range done {
			if strings.HasPrefix(b.path, d.path+"/") {
				parent = d // the last one is the nearest: sorted
			}
		}
		switch {
		case b.hide && (parent == nil || parent.hide):
			continue // not in sight anyway
		case b.hide:
			if err := hideHost(b); err != nil {
				return err
			}
			hidden = append(hidden, b)
		case parent != nil && !parent.hide && parent.rw == b.rw:
			continue
		default:
			// Inside a host bind the path exists already; elsewhere (the
			// view's own tmpfs, a hidden folder's) it is made.
			if err := bindHost(b, parent != nil && !parent.hide); err != nil {
				return err
			}
		}
		done = append(done, b)
	}
	if len(hidden) > 0 {
		// The hidden folders covered the symlinks copied in step 4 that
		// lie inside them: copied again, into the covering tmpfs.
		for _, path := range append(slices.Clone(o.Read), o.Write...) {
			if filepath.IsAbs(path) {
				if _, err := resolveHost(path); err != nil && !errors.Is(err, unix.ENOENT) && !errors.Is(err, unix.ENOTDIR) {
					return err
				}
			}
		}
		for _, h := range hidden {
			if !h.file {
				if err := unix.Mount("", h.path, "", unix.MS_REMOUNT|unix.MS_BIND|unix.MS_RDONLY|unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, ""); err != nil {
					return viewErr("remount hidden "+h.path+" read-only", err)
				}
			}
		}
	}

	// 5b. The merged folder, over the bind of its Dir: its layers are
	// reached through the host's root (the work folder is in no view,
	// and must be under the same mount as Dir), so it is mounted before
	// the host is let go; the overlay keeps its layers after.
	if o.Merge != nil {
		if err := mergeMount(o.Merge, hostDir, o.MergeUID, o.MergeGID); err != nil {
			return err
		}
	}

	// 6. Let go of the host: after this no path leads out of the view.
	if err := unix.Unmount(hostDir, unix.MNT_DETACH); err != nil {
		return viewErr("detach the host's root", err)
	}
	if err := unix.Rmdir(hostDir); err != nil {
		return viewErr("remove "+hostDir, err)
	}

	// 7. The view's skeleton read-only: the process writes only its Write
	// paths and the private /tmp and /dev/shm (in a user namespace the
	// tmpfs folders would otherwise be its own).
	for m, noexec := range map[string]uintptr{"/dev": unix.MS_NOEXEC, "/": 0} {
		if err := unix.Mount("", m, "", unix.MS_REMOUNT|unix.MS_BIND|unix.MS_RDONLY|unix.MS_NOSUID|unix.MS_NODEV|noexec, ""); err != nil {
			return viewErr("remount "+m+" read-only", err)
		}
	}

	// 8. The working directory, inside the view. The caller's (for a
	// step, the one the engine's exec.Cmd changed to before the helper
	// started) is in the host's tree; the pivot left that behind, so a
	// working directory of the host's is never what the process ends in.
	if dir == "" {
		dir = "/"
	}
	if err := os.Chdir(dir); err != nil {
		return &dirError{fmt.Errorf("working directory %s is not in the step's view (not under its Read or Write paths): %w", dir, err)}
	}
	return nil
}

// viewAmbientCaps is what a helper started without root keeps across its
// exec, in its own user namespace, to build the view.
var viewAmbientCaps = []uintptr{unix.CAP_SYS_ADMIN}

// dropCapabilities empties every capability set of every thread (the
// ambient set empties with the permitted and inheritable ones).
func dropCapabilities() error {
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	if _, _, e := syscall.AllThreadsSyscall(syscall.SYS_CAPSET, uintptr(unsafe.Pointer(&hdr)), uintptr(unsafe.Pointer(&data[0])), 0); e != 0 {
		return fmt.Errorf("file system view: drop capabilities: %w", e)
	}
	return nil
}

// buildDev makes the view's /dev: a tmpfs holding the host's harmless
// nodes (deviceFiles) bind-mounted, a devpts instance of its own, a
// private /dev/shm and the usual symlinks. No disk, no /dev/mem, no
// console, nothing else of the host's /dev.
func buildDev(size string) error {
	if err := mountFS("tmpfs", "/dev", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, "mode=0755"); err != nil {
		return err
	}
	for _, dev := range deviceFiles {
		if err := touch(dev); err != nil {
			return err
		}
		if err := unix.Mount(hostDir+dev, dev, "", unix.MS_BIND, ""); err != nil {
			if errors.Is(err, unix.ENOENT) {
				unix.Unlink(dev) // this host lacks it
				continue
			}
			return viewErr("bind "+dev, err)
		}
	}
	for _, l := range viewDevices {
		if err := os.Symlink(l[0], l[1]); err != nil {
			return viewErr("symlink "+l[1], err)
		}
	}
	// No gid= option: the tty group may not be mapped in a user namespace.
	if err := mountFS("devpts", "/dev/pts", unix.MS_NOSUID|unix.MS_NOEXEC, "newinstance,ptmxmode=0666,mode=0620"); err != nil {
		return err
	}
	return mountFS("tmpfs", "/dev/shm", unix.MS_NOSUID|unix.MS_NODEV, "mode=1777"+size)
}

// touch creates an empty file to mount a file on (os.OpenFile would
// cost a poller registration per file, and every step pays this).
func touch(path string) error {
	fd, err := unix.Open(path, unix.O_CREAT|unix.O_WRONLY|unix.O_CLOEXEC, 0o644)
	if err != nil {
		return viewErr("create "+path, err)
	}
	return unix.Close(fd)
}

// mountFS mounts a new file system of type fs on a folder it creates.
func mountFS(fs, at string, flags uintptr, data string) error {
	if err := os.MkdirAll(at, 0o755); err != nil {
		return viewErr("mkdir "+at, err)
	}
	if err := unix.Mount(fs, at, fs, flags, data); err != nil {
		return viewErr("mount "+fs+" on "+at, err)
	}
	return nil
}

// bindHost binds the host's b.path at the same path in the view,
// recursively (its submounts too: a host's file mounts in /etc, say), and
// makes the whole bound tree nosuid, nodev and, unless b.rw, read-only.
// inside says whether the path is inside a bind already made: then it
// exists already (through that bind) and nothing may be created for it,
// as that would create it on the host.
func bindHost(b *bindMount, inside bool) error {
	if inside {
		if _, err := os.Lstat(b.path); err != nil {
			return nil // gone from the host since it was resolved
		}
	} else if b.file {
		if err := os.MkdirAll(filepath.Dir(b.path), 0o755); err != nil {
			return viewErr("mkdir for "+b.path, err)
		}
		if err := touch(b.path); err != nil {
			return err
		}
	} else if err := os.MkdirAll(b.path, 0o755); err != nil {
		return viewErr("mkdir "+b.path, err)
	}
	if err := unix.Mount(hostDir+b.path, b.path, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
		return viewErr("bind "+b.path, err)
	}
	return restrictTree(b.path, !b.rw)
}

// hideHost covers b.path, which a bind made visible, with an empty tmpfs
// (a file with the view's /dev/null).
func hideHost(b *bindMount) error {
	if _, err := os.Lstat(b.path); err != nil {
		return nil // gone from the host since it was resolved
	}
	if b.file {
		if err := unix.Mount("/dev/null", b.path, "", unix.MS_BIND, ""); err != nil {
			return viewErr("hide "+b.path, err)
		}
		return nil
	}
	if err := unix.Mount("tmpfs", b.path, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, "mode=0755,size=1m"); err != nil {
		return viewErr("hide "+b.path, err)
	}
	return nil
}

// restrictTree makes the mount at path and every mount below it nosuid
// and nodev, and read-only if ro. Only restrictions are added, which is
// allowed even on mounts a user namespace has locked.
func restrictTree(path string, ro bool) error {
	attr := unix.MountAttr{Attr_set: unix.MOUNT_ATTR_NOSUID | unix.MOUNT_ATTR_NODEV}
	if ro {
		attr.Attr_set |= unix.MOUNT_ATTR_RDONLY
	}
	err := unix.MountSetattr(unix.AT_FDCWD, path, unix.AT_RECURSIVE|unix.AT_SYMLINK_NOFOLLOW, &attr)
	if err == nil {
		return nil
	}
	if !errors.Is(err, unix.ENOSYS) {
		return viewErr("mount_setattr "+path, err)
	}
	// Before Linux 5.12: remount each mount of the tree, keeping the
	// flags it has (a user namespace may not clear locked ones).
	mounts, err := mountsUnder(path)
	if err != nil {
		return err
	}
	for _, m := range mounts {
		flags := m.flags | unix.MS_REMOUNT | unix.MS_BIND | unix.MS_NOSUID | unix.MS_NODEV
		if ro {
			flags |= unix.MS_RDONLY
		}
		if err := unix.Mount("", m.path, "", flags, ""); err != nil {
			return viewErr("remount "+m.path, err)
		}
	}
	return nil
}

// mountEntry is a mount of /proc/self/mountinfo: where, and its flags.
type mountEntry struct {
	path  string
	flags uintptr
}

// mountsUnder lists the mounts at path and below it, outermost first.
func mountsUnder(path string) ([]mountEntry, error) {
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return nil, viewErr("read mountinfo", err)
	}
	var out []mountEntry
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 6 {
			continue
		}
		mp := unescapeMountinfo(f[4])
		if mp != path && !strings.HasPrefix(mp, path+"/") {
			continue
		}
		var flags uintptr
		atime := false
		for _, o := range strings.Split(f[5], ",") {
			switch o {
			case "ro":
				flags |= unix.MS_RDONLY
			case "nosuid":
				flags |= unix.MS_NOSUID
			case "nodev":
				flags |= unix.MS_NODEV
			case "noexec":
				flags |= unix.MS_NOEXEC
			case "noatime":
				flags |= unix.MS_NOATIME
				atime = true
			case "relatime":
				flags |= unix.MS_RELATIME
				atime = true
			case "nodiratime":
				flags |= unix.MS_NODIRATIME
			}
		}
		if !atime {
			flags |= unix.MS_STRICTATIME
		}
		out = append(out, mountEntry{path: mp, flags: flags})
	}
	return out, nil
}

// unescapeMountinfo undoes mountinfo's octal escapes (\040 for a space).
func unescapeMountinfo(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// resolveHost returns the canonical host path of path (every symlink
// followed, as the host resolves it) and copies each symlink it follows
// into the view at the same place, with the same target.
func resolveHost(path string) (string, error) { return walkHost(path, true) }

// walkHost is resolveHost, copying the symlinks into the view only when
// copyLinks (a path the view does not show leaves no trace in it).
func walkHost(path string, copyLinks bool) (string, error) {
	cur := "/"
	rest := strings.Split(filepath.Clean("/"+path), "/")
	for hops := 0; len(rest) > 0; {
		name := rest[0]
		rest = rest[1:]
		switch name {
		case "", ".":
			continue
		case "..":
			cur = filepath.Dir(cur)
			continue
		}
		next := filepath.Join(cur, name)
		st, err := os.Lstat(hostDir + next)
		if err != nil {
			return "", err
		}
		if st.Mode()&os.ModeSymlink == 0 {
			if len(rest) > 0 && !st.IsDir() {
				return "", unix.ENOTDIR
			}
			cur = next
			continue
		}
		if hops++; hops > 40 {
			return "", unix.ELOOP
		}
		target, err := os.Readlink(hostDir + next)
		if err != nil {
			return "", err
		}
		if copyLinks {
			if err := os.MkdirAll(cur, 0o755); err != nil {
				return "", viewErr("mkdir "+cur, err)
			}
			if err := os.Symlink(target, next); err != nil && !errors.Is(err, unix.EEXIST) {
				return "", viewErr("symlink "+next, err)
			}
		}
		if strings.HasPrefix(target, "/") {
			cur = "/"
		}
		rest = append(strings.Split(target, "/"), rest...)
	}
	return cur, nil
}

// viewErr is a failure to build the view. A mount refused with EPERM
// where the new namespace allows it usually means an inherited Landlock
// domain: Landlock forbids every mount and pivot_root.
func viewErr(what string, err error) error {
	if errors.Is(err, unix.EPERM) {
		return fmt.Errorf("file system view: %s: %w (is the engine itself confined by Landlock? it forbids every mount)", what, err)
	}
	return fmt.Errorf("file system view: %s: %w", what, err)
}
