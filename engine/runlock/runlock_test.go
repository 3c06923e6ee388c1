package runlock

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

func TestExclusiveAndReleased(t *testing.T) {
	p := filepath.Join(t.TempDir(), "lock")
	l, err := Acquire(p)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Acquire(p); !errors.Is(err, ErrLocked) {
		t.Fatalf("second acquire: %v, want ErrLocked", err)
	}
	if err := l.Release(); err != nil {
		t.Fatal(err)
	}
	l2, err := Acquire(p)
	if err != nil {
		t.Fatalf("after release: %v", err)
	}
	l2.Release()
}

func TestDeadHolderIsTakenOver(t *testing.T) {
	p := filepath.Join(t.TempDir(), "lock")
	// A process that takes the lock and is killed while holding it. It
	// waits for the lock: the loop below holds it for moments.
	cmd := exec.Command("flock", "--close", p, "sleep", "60")
	// Its own process group: the kill reaches the sleep it forks too,
	// which holds the lock for a moment between its fork and exec.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Skip("flock(1) not available:", err)
	}
	held := false
	for range 500 {
		l, err := Acquire(p)
		if errors.Is(err, ErrLocked) {
			held = true
			break
		}
		if err == nil {
			l.Release() // flock(1) has not taken it yet
		}
		time.Sleep(10 * time.Millisecond)
	}
	if !held {
		t.Fatal("flock(1) never took the lock")
	}
	syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	cmd.Wait()
	// The kernel drops the lock with the last descriptor of the dead
	// group: taken over as soon as that is gone.
	var l *Lock
	var err error
	for range 500 {
		if l, err = Acquire(p); err == nil {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("lock of a dead holder not taken over: %v", err)
	}
	l.Release()
	_ = os.Remove(p)
}
