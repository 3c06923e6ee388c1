// Package mirrortest starts a real rsync daemon on loopback for tests:
// the test's child, with its own configuration, log, pid and secrets
// files in the test's temporary folder, reaped when the test ends.
package mirrortest

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/autobuild/autobuild/internal/testutil"
)

// Daemon is a real rsync daemon on loopback with one module, "site"
// (writable, for User with Password), in its own folder Root.
type Daemon struct {
	Root string // the module's folder
	Port int
	dir  string // the daemon's files
	cmd  *exec.Cmd
	done chan struct{}
}

// The daemon's only login.
const (
	User     = "mirror"
	Password = "s3cret"
)

// Start starts the daemon and waits until it listens. A port taken
// between choosing it and the daemon's bind costs a retry.
func Start(t *testing.T) *Daemon {
	t.Helper()
	testutil.NeedTool(t, "rsync", "rsync")
	dir := t.TempDir()
	d := &Daemon{dir: dir, Root: filepath.Join(dir, "module")}
	if err := os.Mkdir(d.Root, 0o755); err != nil {
		t.Fatal(err)
	}
	secrets := filepath.Join(dir, "secrets")
	if err := os.WriteFile(secrets, []byte(User+":"+Password+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	conf := filepath.Join(dir, "rsyncd.conf")
	// munge symlinks = no: a link that arrives is stored as sent, so the
	// symlink test sees exactly what the mirror sent.
	body := fmt.Sprintf(`pid file = %[1]s/rsyncd.pid
log file = %[1]s/rsyncd.log
use chroot = no
munge symlinks = no
numeric ids = yes
uid = %[2]d
gid = %[3]d
[site]
  path = %[4]s
  read only = no
  auth users = %[5]s
  secrets file = %[6]s
  strict modes = yes
`, dir, os.Getuid(), os.Getgid(), d.Root, User, secrets)
	if err := os.WriteFile(conf, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	for attempt := 0; attempt < 5; attempt++ {
		d.Port = freePort(t)
		os.Remove(filepath.Join(dir, "rsyncd.log"))
		d.cmd = exec.Command("rsync", "--daemon", "--no-detach", "--config="+conf,
			"--address=127.0.0.1", fmt.Sprintf("--port=%d", d.Port))
		d.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		var out bytes.Buffer
		d.cmd.Stdout, d.cmd.Stderr = &out, &out
		if err := d.cmd.Start(); err != nil {
			t.Fatal(err)
		}
		d.done = make(chan struct{})
		go func(cmd *exec.Cmd, done chan struct{}) { cmd.Wait(); close(done) }(d.cmd, d.done)
		if d.ready(t) {
			t.Cleanup(d.Stop)
			return d
		}
		d.Stop()
		t.Logf("rsync daemon did not start on port %d (retrying): %s %s", d.Port, out.String(), d.log())
	}
	t.Fatal("the rsync daemon never started")
	return nil
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// ready waits until the daemon's log says it listens on its port, or it
// exits.
func (d *Daemon) ready(t *testing.T) bool {
	want := fmt.Sprintf("listening on port %d", d.Port)
	for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		select {
		case <-d.done:
			return false
		default:
		}
		if strings.Contains(d.log(), want) {
			return true
		}
	}
	return false
}

func (d *Daemon) log() string {
	b, _ := os.ReadFile(filepath.Join(d.dir, "rsyncd.log"))
	return string(b)
}

// Stop kills the daemon and the connections it forked, and reaps it.
func (d *Daemon) Stop() {
	if d.cmd == nil || d.cmd.Process == nil {
		return
	}
	syscall.Kill(-d.cmd.Process.Pid, syscall.SIGKILL)
	<-d.done
	d.cmd = nil // reaped: its group id may be reused
}

// URL is the daemon's address for sub, a folder of the module, as user.
func (d *Daemon) URL(user, sub string) string {
	return fmt.Sprintf("rsync://%s@127.0.0.1:%d/site/%s", user, d.Port, sub)
}

// PasswordFile writes a password file holding pw, with mode.
func PasswordFile(t *testing.T, pw string, mode os.FileMode) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "password")
	if err := os.WriteFile(p, []byte(pw+"\n"), mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(p, mode); err != nil {
		t.Fatal(err)
	}
	return p
}
