//go:build unix

package stream

import (
	"os"
	"path"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// openFlags are added when Pack opens a file: no symlink is followed, and
// a FIFO put in a file's place meanwhile does not block the open.
const openFlags = syscall.O_NOFOLLOW | syscall.O_NONBLOCK

// lchtimes sets the times of the symlink name of root, not of what it
// points to. Its parent must be a folder (Unpack checks that first).
func lchtimes(root *os.Root, name string, t time.Time) error {
	dir, base := path.Split(name)
	if dir == "" {
		dir = "."
	}
	d, err := root.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	ts, err := unix.TimeToTimespec(t)
	if err != nil {
		return &os.PathError{Op: "utimensat", Path: name, Err: err}
	}
	if err := unix.UtimesNanoAt(int(d.Fd()), base, []unix.Timespec{ts, ts}, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return &os.PathError{Op: "utimensat", Path: name, Err: err}
	}
	return nil
}
