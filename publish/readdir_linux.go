package publish

import (
	"encoding/binary"
	"errors"
	"io/fs"
	"sync"

	"golang.org/x/sys/unix"
)

// direntBufs are the buffers readDirAt reads entries into.
var direntBufs = sync.Pool{New: func() any { b := make([]byte, 16<<10); return &b }}

// readDirAt lists the folder fd (which stays open), from its offset (a
// descriptor is listed once), with each entry's type (looked up without
// following a symlink where the file system does not give it). It reads
// the entries with getdents64 on fd itself: a site's folders are many
// and small, and os.File's ReadDir would cost a dup, two fcntl and a close
// more for each.
func readDirAt(fd int) (names []string, types []fs.FileMode, err error) {
	bp := direntBufs.Get().(*[]byte)
	defer direntBufs.Put(bp)
	buf := *bp
	for {
		n, err := unix.Getdents(fd, buf)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return nil, nil, err
		}
		if n <= 0 {
			return names, types, nil
		}
		// struct linux_dirent64: d_ino (8 bytes), d_off (8), d_reclen (2),
		// d_type (1), d_name (NUL-terminated).
		for b := buf[:n]; len(b) >= 19; {
			reclen := int(binary.NativeEndian.Uint16(b[16:18]))
			if reclen < 19 || reclen > len(b) {
				return nil, nil, errors.New("malformed directory entry")
			}
			ino, typ, name := binary.NativeEndian.Uint64(b[0:8]), b[18], b[19:reclen]
			b = b[reclen:]
			for i, c := range name {
				if c == 0 {
					name = name[:i]
					break
				}
			}
			if ino == 0 || string(name) == "." || string(name) == ".." {
				continue
			}
			var mode fs.FileMode
			switch typ {
			case unix.DT_REG:
			case unix.DT_DIR:
				mode = fs.ModeDir
			case unix.DT_LNK:
				mode = fs.ModeSymlink
			case unix.DT_FIFO:
				mode = fs.ModeNamedPipe
			case unix.DT_SOCK:
				mode = fs.ModeSocket
			case unix.DT_CHR:
				mode = fs.ModeDevice | fs.ModeCharDevice
			case unix.DT_BLK:
				mode = fs.ModeDevice
			default: // DT_UNKNOWN: the file system does not say
				var st unix.Stat_t
				if err := unix.Fstatat(fd, string(name), &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
					if errors.Is(err, unix.ENOENT) {
						continue // removed meanwhile
					}
					return nil, nil, err
				}
				mode = statMode(st.Mode)
			}
			names = append(names, string(name))
			types = append(types, mode)
		}
	}
}

// statMode is the type bits of a stat mode as an fs.FileMode.
func statMode(m uint32) fs.FileMode {
	switch m & unix.S_IFMT {
	case unix.S_IFREG:
		return 0
	case unix.S_IFDIR:
		return fs.ModeDir
	case unix.S_IFLNK:
		return fs.ModeSymlink
	case unix.S_IFIFO:
		return fs.ModeNamedPipe
	case unix.S_IFSOCK:
		return fs.ModeSocket
	case unix.S_IFCHR:
		return fs.ModeDevice | fs.ModeCharDevice
	case unix.S_IFBLK:
		return fs.ModeDevice
	}
	return fs.ModeIrregular
}
