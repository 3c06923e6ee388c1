package sandbox

import (
	"fmt"
	"os"
	"syscall"

	"golang.org/x/sys/unix"
)

// exhausted names the resource a failed step ran out of (Result.Exhausted),
// or "". ps is how its command ended; p its profile (rlimits apply only
// to confined steps).
func exhausted(p Profile, ps *os.ProcessState) string {
	sig := syscall.Signal(0)
	if ws, ok := ps.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		sig = ws.Signal()
	} else if code := ps.ExitCode(); code > 128 && code < 128+65 {
		// A shell reports a command that a signal ended as 128+n.
		sig = syscall.Signal(code - 128)
	}
	if p.Confined {
		switch {
		case sig == syscall.SIGXFSZ && p.Limits.FileSize > 0:
			return fmt.Sprintf("file size limit exceeded (SIGXFSZ): a file the step wrote reached %s, the limit of trust level %q",
				Size(p.Limits.FileSize), p.Level)
		case sig == syscall.SIGXCPU && p.Limits.CPUSeconds > 0:
			return fmt.Sprintf("CPU time limit exceeded (SIGXCPU): a process of the step used %d s of CPU time, the limit of trust level %q",
				p.Limits.CPUSeconds, p.Level)
		}
	}
	return diskFull(p.Write)
}

// fullBelow is the free space under which a file system counts as full
// for a step that failed: what a write that failed for want of space
// leaves.
const fullBelow = 1 << 20

// diskFull names the first of the folders a step writes whose file system
// is full (less than fullBelow bytes, or no inode, free for an ordinary
// user), or "".
func diskFull(dirs []string) string {
	seen := map[uint64]bool{}
	for _, d := range dirs {
		var id unix.Stat_t
		if unix.Stat(d, &id) != nil || seen[id.Dev] {
			continue
		}
		seen[id.Dev] = true
		sp, err := DiskSpace(d)
		switch {
		case err != nil:
		case sp.Free < fullBelow:
			return fmt.Sprintf("no space left on the file system of %s (%s free)", d, Size(sp.Free))
		case sp.Inodes > 0 && sp.FreeInodes == 0:
			return fmt.Sprintf("no inode left on the file system of %s", d)
		}
	}
	return ""
}

// DiskSpace is what the file system holding path has, and has free for
// an ordinary user (a build: not the blocks reserved for root).
func DiskSpace(path string) (Space, error) {
	var st unix.Statfs_t
	if err := unix.Statfs(path, &st); err != nil {
		return Space{}, &os.PathError{Op: "statfs", Path: path, Err: err}
	}
	return Space{
		Free: int64(st.Bavail) * st.Bsize, Total: int64(st.Blocks) * st.Bsize,
		FreeInodes: int64(st.Ffree), Inodes: int64(st.Files),
	}, nil
}
