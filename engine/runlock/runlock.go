// Package runlock keeps two cron runs of autobuild from overlapping.
//
// The lock is an flock(2) on state/lock in the build root. The kernel
// drops it when its holder dies, however it dies, so a lock left by a
// dead process is simply taken over by the next run. The file also holds
// the holder's pid and start time, for the error message.
package runlock

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"syscall"
	"time"
)

// ErrLocked is returned (as a *LockedError) when another live run holds
// the lock.
var ErrLocked = errors.New("another autobuild run holds the lock")

// LockedError is a lock held by another live run (the kernel drops an
// flock when its holder dies, so the holder is alive).
type LockedError struct {
	Path string
	// Holder is what the holder recorded ("pid N since T").
	Holder string
	// PID is the holder's pid (0 when its record cannot be read: it is
	// being written). Since is when it took the lock: from its record,
	// else the lock file's modification time (the holder writes its
	// record right after it takes the lock).
	PID   int
	Since time.Time
}

func (e *LockedError) Error() string {
	return fmt.Sprintf("%v (%s: %s); it is released when that process exits", ErrLocked, e.Path, e.Holder)
}

// Is makes errors.Is(err, ErrLocked) true.
func (e *LockedError) Is(target error) bool { return target == ErrLocked }

// parseHolder reads a holder record written by Acquire.
func parseHolder(e *LockedError) {
	var pid int
	var since string
	if _, err := fmt.Sscanf(e.Holder, "pid %d since %s", &pid, &since); err != nil {
		return
	}
	if t, err := time.Parse(time.RFC3339, since); err == nil {
		e.PID, e.Since = pid, t
	}
}

// Lock is a held run lock.
type Lock struct {
	f *os.File
}

// Acquire takes the lock at path without waiting.
func Acquire(path string) (*Lock, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("open lock %s: %w", path, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		holder, _ := os.ReadFile(path)
		f.Close()
		if len(holder) == 0 {
			holder = []byte("no record yet")
		}
		if errors.Is(err, syscall.EWOULDBLOCK) {
			e := &LockedError{Path: path, Holder: strings.TrimSpace(string(holder))}
			if info, err := os.Stat(path); err == nil {
				e.Since = info.ModTime()
			}
			parseHolder(e)
			return nil, e
		}
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	// Record who holds it; a stale record from a dead holder is replaced.
	if err := f.Truncate(0); err == nil {
		fmt.Fprintf(f, "pid %d since %s\n", os.Getpid(), time.Now().Format(time.RFC3339))
	}
	return &Lock{f: f}, nil
}

// Release drops the lock. It is safe to call more than once.
func (l *Lock) Release() error {
	if l == nil || l.f == nil {
		return nil
	}
	_ = l.f.Truncate(0)
	err := l.f.Close() // closing the last descriptor drops the flock
	l.f = nil
	return err
}
