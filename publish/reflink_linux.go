package publish

import (
	"os"

	"golang.org/x/sys/unix"
)

// reflink makes dst, an empty new file, a copy-on-write clone of src
// (ioctl FICLONE). It fails where the file system cannot (ext4, or two
// file systems), and the caller copies instead.
func reflink(dst, src *os.File) error {
	return unix.IoctlFileClone(int(dst.Fd()), int(src.Fd()))
}
