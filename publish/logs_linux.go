package publish

import (
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

func linkLog(src *os.File, dirfd int, name string, writersOK bool) error {
	fd := int(src.Fd())
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return notSharedf("%v", err)
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG {
		return notSharedf("not a regular file")
	}
	if int(st.Uid) != euid {
		return notSharedf("owned by uid %d, not the engine's", st.Uid)
	}
	perm := st.Mode & 0o7777
	seal := perm != 0o444
	if seal && (perm&^0o222 != 0o444 || st.Nlink != 1) {
		return notSharedf("mode %04o with %d links", perm, st.Nlink)
	}
	if !sameSELinuxType(fd, dirfd) {
		return notSharedf("its SELinux type is not its new folder's")
	}
	if !writersOK {
		// Refused while any process has the file open for writing; held,
		// it is broken by anyone who opens it for writing.
		if _, err := unix.FcntlInt(uintptr(fd), unix.F_SETLEASE, unix.F_RDLCK); err != nil {
			return notSharedf("open for writing (or no leases here): %v", err)
		}
		defer unix.FcntlInt(uintptr(fd), unix.F_SETLEASE, unix.F_UNLCK)
	}
	if seal {
		if err := unix.Fchmod(fd, 0o444); err != nil {
			return notSharedf("make it read-only: %v", err)
		}
	}
	if err := linkFd(fd, dirfd, name); err != nil {
		return notSharedf("link: %v", err)
	}
	var got unix.Stat_t
	ok := unix.Fstatat(dirfd, name, &got, unix.AT_SYMLINK_NOFOLLOW) == nil && got.Dev == st.Dev && got.Ino == st.Ino
	if ok && !writersOK {
		// A writer that opened it meanwhile broke the lease.
		lease, err := unix.FcntlInt(uintptr(fd), unix.F_GETLEASE, 0)
		ok = err == nil && lease == unix.F_RDLCK
	}
	if !ok {
		unix.Unlinkat(dirfd, name, 0)
		return notSharedf("it changed while it was being linked")
	}
	return nil
}

// linkFd links the file open at fd as name in dirfd: the very file that
// was checked, whatever its path now names.
func linkFd(fd, dirfd int, name string) error {
	if unix.Linkat(fd, "", dirfd, name, unix.AT_EMPTY_PATH) == nil { // needs CAP_DAC_READ_SEARCH
		return nil
	}
	return unix.Linkat(unix.AT_FDCWD, "/proc/self/fd/"+strconv.Itoa(fd), dirfd, name, unix.AT_SYMLINK_FOLLOW)
}

// sameSELinuxType reports whether the files open at a and b have the
// same SELinux type, or neither has a label.
func sameSELinuxType(a, b int) bool {
	ta, oka := selinuxType(a)
	tb, okb := selinuxType(b)
	return oka == okb && ta == tb
}

func selinuxType(fd int) (string, bool) {
	buf := make([]byte, 512)
	n, err := unix.Fgetxattr(fd, "security.selinux", buf)
	if err != nil || n <= 0 {
		return "", false
	}
	label := strings.TrimRight(string(buf[:n]), "\x00")
	if parts := strings.SplitN(label, ":", 4); len(parts) >= 3 { // user:role:type:level
		return parts[2], true
	}
	return label, true
}
