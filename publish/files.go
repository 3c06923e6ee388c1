package publish

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"golang.org/x/sys/unix"
)

// The files a site publishes come from folders a module's uid owns (its
// package root) or that a state file names (a reused module's log). So
// the publisher copies them, never links them; opens them without
// following a symlink anywhere below the folder it trusts; opens only
// regular files, without blocking on a FIFO; and writes each into a file
// it creates in the new site. It never changes a file it did not create.

// inputError is a problem with a file to publish (the module's or the
// state file's doing): it costs that file's module its artifacts (or its
// log), never the run its site. Every other error is the site's own (it
// could not write the new site) and fails the Publish.
type inputError struct {
	msg   string
	cause error
}

func (e *inputError) Error() string { return e.msg }
func (e *inputError) Unwrap() error { return e.cause }

func inputErr(format string, args ...any) error {
	return &inputError{msg: fmt.Sprintf(format, args...)}
}

// inputErrno is an inputError caused by err (errors.Is sees it).
func inputErrno(err error, format string, args ...any) error {
	return &inputError{msg: fmt.Sprintf(format, args...), cause: err}
}

const (
	// maxPath bounds an artifact's path below its package folder, in
	// bytes: what the site serves as packages/<module>/<path>.
	maxPath = 1024
	// maxName bounds one element of it (NAME_MAX).
	maxName = 255
)

// splitRel checks that rel is a clean relative path a site can hold and
// returns its elements.
func splitRel(rel string) ([]string, error) {
	if len(rel) > maxPath {
		return nil, inputErr("path too long for the site (%d bytes, at most %d)", len(rel), maxPath)
	}
	if rel == "" || strings.HasPrefix(rel, "/") || strings.ContainsRune(rel, 0) {
		return nil, inputErr("not a relative path")
	}
	parts := strings.Split(rel, "/")
	for _, p := range parts {
		switch {
		case p == "" || p == "." || p == "..":
			return nil, inputErr("not a clean relative path")
		case len(p) > maxName:
			return nil, inputErr("a name of its path is too long for the site (%d bytes, at most %d)", len(p), maxName)
		}
	}
	return parts, nil
}

// euid is the engine's uid, the owner of every file a site makes (read
// once: the engine does not change it).
var euid = os.Geteuid()

const (
	dirFlags  = unix.O_RDONLY | unix.O_DIRECTORY | unix.O_NOFOLLOW | unix.O_CLOEXEC
	fileFlags = unix.O_RDONLY | unix.O_NOFOLLOW | unix.O_NONBLOCK | unix.O_NOCTTY | unix.O_CLOEXEC
)

// openRoot opens a folder the engine made (a package folder, the log
// folder), refusing a symlink in its place.
func openRoot(dir string) (int, error) {
	fd, err := unix.Open(dir, dirFlags, 0)
	if err != nil {
		return -1, inputErrno(err, "%s", describeAt(unix.AT_FDCWD, dir, err))
	}
	return fd, nil
}

// openBeneath opens the regular file at parts below the folder rootfd,
// walking each element with openat and O_NOFOLLOW: a symlink anywhere on
// the way is refused, and so is anything but a regular file (checked
// before and after the open, which never blocks: O_NONBLOCK). Every error
// is an *inputError.
func openBeneath(rootfd int, parts []string) (*os.File, unix.Stat_t, error) {
	var st unix.Stat_t
	fd := rootfd
	closeFd := func() {
		if fd != rootfd {
			unix.Close(fd)
		}
	}
	for _, p := range parts[:len(parts)-1] {
		next, err := unix.Openat(fd, p, dirFlags, 0)
		if err != nil {
			why := describeAt(fd, p, err)
			closeFd()
			return nil, st, inputErrno(err, "has a folder %s on its path that %s", short(p), why)
		}
		closeFd()
		fd = next
	}
	defer closeFd()
	name := parts[len(parts)-1]
	// The type first, so that nothing but a regular file is opened.
	if err := unix.Fstatat(fd, name, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return nil, st, inputErrno(err, "%s", describe(err))
	}
	if err := regular(&st); err != nil {
		return nil, st, err
	}
	ffd, err := unix.Openat(fd, name, fileFlags, 0)
	if err != nil {
		return nil, st, inputErrno(err, "%s", describe(err))
	}
	// And again on what was opened: it may have been swapped meanwhile.
	if err := unix.Fstat(ffd, &st); err != nil {
		unix.Close(ffd)
		return nil, st, inputErrno(err, "%s", describe(err))
	}
	if err := regular(&st); err != nil {
		unix.Close(ffd)
		return nil, st, err
	}
	if err := unix.SetNonblock(ffd, false); err != nil {
		unix.Close(ffd)
		return nil, st, inputErrno(err, "%s", describe(err))
	}
	return os.NewFile(uintptr(ffd), name), st, nil
}

func regular(st *unix.Stat_t) error {
	switch uint32(st.Mode) & unix.S_IFMT {
	case unix.S_IFREG:
		return nil
	case unix.S_IFLNK:
		return inputErr("is a symlink")
	case unix.S_IFDIR:
		return inputErr("is a folder")
	case unix.S_IFIFO:
		return inputErr("is a FIFO")
	case unix.S_IFSOCK:
		return inputErr("is a socket")
	case unix.S_IFCHR, unix.S_IFBLK:
		return inputErr("is a device")
	}
	return inputErr("is not a regular file")
}

// describeAt describes why name in dirfd could not be opened as a folder
// (O_NOFOLLOW|O_DIRECTORY fails with ENOTDIR on a symlink).
func describeAt(dirfd int, name string, err error) string {
	var st unix.Stat_t
	if errors.Is(err, unix.ENOTDIR) && unix.Fstatat(dirfd, name, &st, unix.AT_SYMLINK_NOFOLLOW) == nil &&
		uint32(st.Mode)&unix.S_IFMT == unix.S_IFLNK {
		return "is a symlink"
	}
	return describe(err)
}

func describe(err error) string {
	switch {
	case errors.Is(err, unix.ENOENT):
		return "does not exist"
	case errors.Is(err, unix.ELOOP):
		return "is a symlink"
	case errors.Is(err, unix.ENOTDIR):
		return "is not a folder"
	case errors.Is(err, unix.ENAMETOOLONG):
		return "has too long a name"
	}
	return err.Error()
}

// mkdirs opens the folder at parts below dirfd, creating (0755) each
// element that is missing. The folders are the new site's own.
func mkdirs(dirfd int, parts []string) (int, error) {
	fd := dirfd
	for _, p := range parts {
		err := unix.Mkdirat(fd, p, 0o755)
		made := err == nil
		if err != nil && !errors.Is(err, unix.EEXIST) {
			if fd != dirfd {
				unix.Close(fd)
			}
			return -1, err
		}
		next, err := unix.Openat(fd, p, dirFlags, 0)
		if fd != dirfd {
			unix.Close(fd)
		}
		if err != nil {
			return -1, err
		}
		fd = next
		if made {
			if err := unix.Fchmod(fd, 0o755); err != nil { // whatever the umask
				unix.Close(fd)
				return -1, err
			}
		}
	}
	if fd == dirfd {
		return unix.Dup(dirfd)
	}
	return fd, nil
}

// readErr marks an error of reading the input apart from one of writing
// the site.
type readErr struct{ err error }

func (e *readErr) Error() string { return e.err.Error() }

type tagReader struct{ r io.Reader }

func (t tagReader) Read(p []byte) (int, error) {
	n, err := t.r.Read(p)
	if err != nil && err != io.EOF {
		err = &readErr{err}
	}
	return n, err
}

// copied is what copyNew put in the site.
type copied struct {
	size   int64
	sha256 string
}

// copyNew creates name in the site folder dirfd (O_EXCL: a new file,
// never one that exists) and copies src into it, at most limit+1 bytes,
// returning the size and SHA-256 of what it wrote. It clones the file
// (FICLONE) where the file system can and copies it otherwise; either
// way the new file is an inode of its own, made 0444. An error reading
// src is an *inputError; the new file is removed on any error.
func copyNew(dirfd int, name string, src *os.File, limit int64) (c copied, err error) {
	fd, err := unix.Openat(dirfd, name, unix.O_RDWR|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o444)
	if err != nil {
		if errors.Is(err, unix.EEXIST) {
			return c, inputErr("listed twice")
		}
		return c, err
	}
	dst := os.NewFile(uintptr(fd), name)
	defer func() {
		if cerr := dst.Close(); err == nil && cerr != nil {
			err = cerr
		}
		if err != nil {
			unix.Unlinkat(dirfd, name, 0)
		}
	}()
	h := sha256.New()
	if reflink(dst, src) == nil {
		// The clone is the content published: checksum it, not src.
		n, err := io.Copy(h, io.LimitReader(dst, limit+1))
		if err != nil {
			return c, err
		}
		c.size = n
	} else {
		if err := dst.Truncate(0); err != nil {
			return c, err
		}
		buf := make([]byte, 256<<10)
		n, err := io.CopyBuffer(io.MultiWriter(dst, h), tagReader{io.LimitReader(src, limit+1)}, buf)
		if err != nil {
			var re *readErr
			if errors.As(err, &re) {
				return c, inputErr("read: %v", re.err)
			}
			return c, err
		}
		c.size = n
	}
	if err := dst.Chmod(0o444); err != nil { // the new file, whatever the umask
		return c, err
	}
	c.sha256 = hex.EncodeToString(h.Sum(nil))
	return c, nil
}

// short quotes a path for a reason shown on the site, shortened.
func short(p string) string {
	const max = 120
	if len(p) <= max {
		return fmt.Sprintf("%q", p)
	}
	return fmt.Sprintf("%q… (%d bytes)", strings.ToValidUTF8(p[:max], ""), len(p))
}
