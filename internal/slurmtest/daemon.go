package slurmtest

import (
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"sync"
	"syscall"
	"time"
)

// daemon is a process of the cluster, started in the foreground as a
// child of this process (which reaps it), in a process group of its own.
type daemon struct {
	name string
	cmd  *exec.Cmd
	done chan struct{} // closed once the process is reaped; err is then set
	err  error
}

// startDaemon starts prog with its output appended to log.
func startDaemon(name, log, prog string, args ...string) (*daemon, error) {
	f, err := os.OpenFile(log, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	cmd := exec.Command(prog, args...)
	cmd.Dir = "/"
	cmd.Stdout, cmd.Stderr = f, f
	// Its own process group, so that stopping it reaches what it starts;
	// and it dies with this process if that is killed before Stop.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := spawn(cmd); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	d := &daemon{name: name, cmd: cmd, done: make(chan struct{})}
	go func() {
		d.err = cmd.Wait()
		close(d.done)
	}()
	return d, nil
}

// wait waits up to timeout for the daemon to exit and reports whether it
// has.
func (d *daemon) wait(timeout time.Duration) bool {
	select {
	case <-d.done:
		return true
	case <-time.After(timeout):
		return false
	}
}

// stopWait bounds each wait of stop.
const stopWait = 10 * time.Second

// stop sends sig to the daemon (which stops what it started), then
// SIGKILL to its process group if it has not exited within stopWait;
// whatever is left of the group is killed once it has.
func (d *daemon) stop(sig syscall.Signal) error {
	pgid := d.cmd.Process.Pid
	syscall.Kill(pgid, sig)
	if !d.wait(stopWait) {
		syscall.Kill(-pgid, syscall.SIGKILL)
		if !d.wait(stopWait) {
			return fmt.Errorf("%s (pid %d) did not exit after SIGKILL", d.name, pgid)
		}
	}
	syscall.Kill(-pgid, syscall.SIGKILL)
	return nil
}

// The parent-death signal is sent when the thread that started the child
// exits, not only the process: every daemon is started from one goroutine
// locked to its thread for good, so that none dies while this process
// lives.
var (
	spawnOnce sync.Once
	spawns    = make(chan spawnRequest)
)

type spawnRequest struct {
	cmd *exec.Cmd
	err chan error
}

func spawn(cmd *exec.Cmd) error {
	spawnOnce.Do(func() {
		go func() {
			runtime.LockOSThread()
			for r := range spawns {
				r.err <- r.cmd.Start()
			}
		}()
	})
	r := spawnRequest{cmd: cmd, err: make(chan error)}
	spawns <- r
	return <-r.err
}
