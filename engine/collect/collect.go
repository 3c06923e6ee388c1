// Package collect is the collect stage: it lists, with their sizes and
// checksums, the files a build left in its package folder, and describes
// those that are packages (engine/packages).
//
// The package folder belongs to the module's uid, so its content is the
// build's to choose: collect never follows a symlink (a file's or a
// folder's), opens only regular files (a FIFO cannot block it), and
// bounds what it lists. It walks by file descriptor (openat with
// O_NOFOLLOW from the opened package folder), so a folder swapped for a
// symlink while it walks is not followed either.
package collect

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/autobuild/autobuild/engine/report"
)

const (
	// MaxFiles bounds the entries (files, folders, anything) of one
	// package folder: beyond it, none of the module's artifacts is
	// published.
	MaxFiles = 10000
	// MaxDepth bounds how deep folders nest in a package folder.
	MaxDepth = 64
	// MaxSize bounds the size of one artifact collect reads to checksum.
	// (The publisher has its own, usually lower, limit.)
	MaxSize int64 = 64 << 30
)

// Artifacts lists the regular files below root, sorted by path. Symlinks,
// special files and files that vanish or cannot be read while it walks are
// left out; a missing root has none. When the folder cannot be listed
// within bounds (more than MaxFiles entries, folders nested deeper than
// MaxDepth, a file larger than MaxSize, root not a folder), it returns no
// artifacts and the reason, for report.Module.Unpublished.
func Artifacts(root string) ([]report.Artifact, string) {
	fd, err := unix.Open(root, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if errors.Is(err, unix.ENOENT) {
		return nil, ""
	}
	if err != nil {
		if fi, lerr := os.Lstat(root); lerr == nil && fi.Mode()&os.ModeSymlink != 0 {
			return nil, "the package folder is a symlink"
		}
		return nil, fmt.Sprintf("the package folder: %s", describe(err))
	}
	w := &walker{}
	if err := w.dir(fd, "", 0); err != nil {
		return nil, err.Error()
	}
	sort.Slice(w.out, func(a, b int) bool { return w.out[a].Path < w.out[b].Path })
	return w.out, ""
}

type walker struct {
	out     []report.Artifact
	entries int
}

// errBound is a bound the folder exceeds: it fails the whole listing.
type errBound struct{ msg string }

func (e *errBound) Error() string { return e.msg }

// dir lists the folder open at fd (which it closes), whose path below the
// package folder is prefix ("" or ending in "/"). Each entry's type comes
// from fstatat on the folder's descriptor, never from a path.
func (w *walker) dir(fd int, prefix string, depth int) error {
	f := os.NewFile(uintptr(fd), prefix)
	defer f.Close()
	for {
		names, err := f.Readdirnames(256)
		for _, name := range names {
			w.entries++
			if w.entries > MaxFiles {
				return &errBound{fmt.Sprintf("the package folder holds more than %d files", MaxFiles)}
			}
			if err := w.entry(fd, prefix, name, depth); err != nil {
				return err
			}
		}
		if err != nil || len(names) == 0 {
			return nil // the end, or unreadable: what was listed stands
		}
	}
}

func (w *walker) entry(dirfd int, prefix, name string, depth int) error {
	var st unix.Stat_t
	if err := unix.Fstatat(dirfd, name, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return nil // vanished
	}
	switch uint32(st.Mode) & unix.S_IFMT {
	case unix.S_IFDIR:
		if depth+1 > MaxDepth {
			return &errBound{fmt.Sprintf("the package folder nests folders deeper than %d", MaxDepth)}
		}
		sub, err := unix.Openat(dirfd, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		if err != nil {
			return nil // vanished, or swapped for a symlink: left out
		}
		return w.dir(sub, prefix+name+"/", depth+1)
	case unix.S_IFREG:
		a, err := artifact(dirfd, name)
		if err != nil {
			var b *errBound
			if errors.As(err, &b) {
				b.msg = fmt.Sprintf("artifact %s: %s", short(prefix+name), b.msg)
				return b
			}
			return nil // vanished or not a regular file any more: left out
		}
		a.Path = prefix + name
		w.out = append(w.out, a)
	}
	// Symlinks, FIFOs, sockets, devices: not artifacts.
	return nil
}

// artifact opens name in dirfd as a regular file, without following a
// symlink or blocking on a FIFO, and checksums it.
func artifact(dirfd int, name string) (report.Artifact, error) {
	fd, err := unix.Openat(dirfd, name, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	if err != nil {
		return report.Artifact{}, err
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		unix.Close(fd)
		return report.Artifact{}, err
	}
	if uint32(st.Mode)&unix.S_IFMT != unix.S_IFREG {
		unix.Close(fd)
		return report.Artifact{}, errors.New("not a regular file")
	}
	if st.Size > MaxSize {
		unix.Close(fd)
		return report.Artifact{}, &errBound{fmt.Sprintf("larger than %d bytes", MaxSize)}
	}
	if err := unix.SetNonblock(fd, false); err != nil {
		unix.Close(fd)
		return report.Artifact{}, err
	}
	f := os.NewFile(uintptr(fd), name)
	defer f.Close()
	h := sha256.New()
	// A file that grows while it is read is checksummed as far as its
	// size when opened, plus one byte: the publisher sees the difference.
	n, err := io.Copy(h, io.LimitReader(f, st.Size+1))
	if err != nil {
		return report.Artifact{}, err
	}
	a := report.Artifact{Size: n, SHA256: hex.EncodeToString(h.Sum(nil))}
	recognise(&a, f, name, st.Size)
	return a, nil
}

func describe(err error) string {
	switch {
	case errors.Is(err, unix.ELOOP):
		return "is a symlink"
	case errors.Is(err, unix.ENOTDIR):
		return "is not a folder"
	}
	return err.Error()
}

// short shortens a path for a reason shown on the site.
func short(p string) string {
	const max = 200
	if len(p) <= max {
		return fmt.Sprintf("%q", p)
	}
	return fmt.Sprintf("%q… (%d bytes)", strings.ToValidUTF8(p[:max], ""), len(p))
}

// Fingerprint identifies a package folder's listing: every artifact's
// path, size and checksum, and the reason it was not listed, if any. A
// module is reused only while its package folder still has the
// fingerprint recorded with its key.
func Fingerprint(arts []report.Artifact, unpublished string) string {
	h := sha256.New()
	for _, a := range arts {
		fmt.Fprintf(h, "%q %d %s\n", a.Path, a.Size, a.SHA256)
	}
	fmt.Fprintf(h, "unpublished %q\n", unpublished)
	return hex.EncodeToString(h.Sum(nil))
}
