// Package mirror is the publisher that copies the live site to another
// host with rsync, as Test-AutoBuild's mirror did. It runs after the site
// publisher and copies whatever the site's symlink (publish.dir) points to
// when it runs: the run just published or, when the site failed, the one
// still live.
//
// The destination is an rsync daemon, rsync://[user@]host[:port]/module[/path],
// with a password read only from a file that no one but its owner can
// read, or [user@]host:path over a remote shell (ssh by default, in batch
// mode: it never asks for a password). The destination folder belongs to
// the mirror: whatever the site does not hold is deleted there.
//
// What the remote shows while it is updated. rsync is not atomic the way
// the local symlink swap is. With --delay-updates every changed file is
// first written under a temporary name (in .~tmp~ folders) and all of
// them are renamed into place at the end, one rename each; with
// --delete-after the files the site dropped are removed only after that.
// So a reader of the remote sees the previous site for the whole
// transfer, then, for as long as the renames and deletions take, a site
// that mixes old and new files; a transfer that fails or is killed
// midway leaves the previous site (and the .~tmp~ folders, which the next
// run reuses or clears). A remote that must switch at once needs a
// folder per run and a link swapped on the remote host, which a plain
// rsync daemon cannot do: that is left to the remote.
//
// rsync runs as a program of its own, never through a shell: its
// arguments are a list, "--" comes before the paths, and --protect-args
// keeps the remote shell from reading the remote path. The environment's
// RSYNC_* variables (a password, a remote shell, a proxy or a connect
// program) are not passed on: the configuration alone says how rsync
// connects. rsync's own --timeout bounds every stall of the transfer,
// --contimeout the connection to a daemon, and Timeout (with the run's
// context) the whole transfer, after which rsync and its remote shell are
// killed.
//
// Symlinks are never followed and never sent: a symlink in the site
// (the site publisher makes none: every file is a copy) is skipped by the
// sending rsync. rsync's own --links --safe-links is not enough: the
// check is the receiver's, and a daemon with "use chroot = no" rewrites
// an absolute target (/etc) into a relative one (etc) before it, so the
// remote would get a link where none belongs.
package mirror

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/autobuild/autobuild/publish"
)

// DefaultTimeout is Mirror.Timeout when it is zero.
const DefaultTimeout = time.Hour

// DefaultRSH is the remote shell of a host:path destination that names
// none: ssh that never prompts (a cron job has no one to answer).
const DefaultRSH = "ssh -o BatchMode=yes"

// ioTimeout bounds each stall of a transfer (rsync's --timeout) and
// connectTimeout the connection to a daemon (--contimeout), unless
// Timeout is shorter.
const (
	ioTimeout      = 5 * time.Minute
	connectTimeout = time.Minute
)

// Mirror copies the live site to To with rsync.
type Mirror struct {
	// Site is the live site: the symlink the site publisher swaps. The
	// folder it points to is copied, never the link.
	Site string
	// To is the destination (see ParseDest).
	To string
	// PasswordFile holds the rsync daemon's password (rsync:// only). It
	// must be a regular file that only its owner can read or write.
	PasswordFile string
	// RSH is the remote shell of a host:path destination, split into
	// words by rsync (no shell reads it); empty is DefaultRSH.
	RSH string
	// Timeout bounds the whole transfer; zero is DefaultTimeout.
	Timeout time.Duration
	// Program is the rsync to run; empty is "rsync" on PATH.
	Program string
}

// Dest is a parsed destination.
type Dest struct {
	// Daemon is true for rsync://, false for host:path over a shell.
	Daemon bool
	// Arg is what rsync is given: the destination folder, ending in "/".
	Arg string
}

// ParseDest checks a destination: rsync://[user@]host[:port]/module[/path]
// or [user@]host:path. A password in the URL, a local path, host::module
// (give rsync://host/module), a host that starts with "-", ".." in a
// daemon path, and a shell path that is empty or "/" are refused.
func ParseDest(to string) (Dest, error) {
	if to == "" {
		return Dest{}, errors.New("missing: rsync://host[:port]/module[/path] or [user@]host:path")
	}
	for _, r := range to {
		if r < 0x20 || r == 0x7f {
			return Dest{}, fmt.Errorf("%q holds a control character", to)
		}
	}
	if strings.HasPrefix(to, "rsync://") {
		return parseDaemon(to)
	}
	if strings.Contains(to, "://") {
		return Dest{}, fmt.Errorf("%q: the only URL scheme is rsync:// (for ssh, write [user@]host:path)", to)
	}
	colon := strings.IndexByte(to, ':')
	if strings.HasPrefix(to, "[") { // [IPv6]:path
		if end := strings.Index(to, "]:"); end > 0 {
			colon = end + 1
		}
	}
	if colon < 0 || strings.Contains(to[:colon], "/") {
		return Dest{}, fmt.Errorf("%q is a local path: a mirror goes to another host, as rsync://host[:port]/module[/path] or [user@]host:path", to)
	}
	login, p := to[:colon], to[colon+1:]
	host := login[strings.LastIndexByte(login, '@')+1:]
	switch {
	case strings.HasPrefix(p, ":"):
		return Dest{}, fmt.Errorf("%q: for an rsync daemon write rsync://%s/%s", to, login, strings.TrimPrefix(p, ":"))
	case host == "":
		return Dest{}, fmt.Errorf("%q has no host", to)
	case strings.HasPrefix(login, "-") || strings.HasPrefix(host, "-"):
		return Dest{}, fmt.Errorf("%q: a host may not start with '-'", to)
	case strings.ContainsAny(login, " \t"):
		return Dest{}, fmt.Errorf("%q: a host may not hold a space", to)
	case p == "":
		return Dest{}, fmt.Errorf("%q names no folder on %s (the mirror deletes what the site does not hold: give a folder of its own)", to, host)
	case path.Clean(p) == "/" || path.Clean(p) == "." || path.Clean(p) == "~":
		return Dest{}, fmt.Errorf("%q: %s is not a folder of its own (the mirror deletes what the site does not hold)", to, p)
	}
	return Dest{Arg: login + ":" + strings.TrimSuffix(p, "/") + "/"}, nil
}

func parseDaemon(to string) (Dest, error) {
	u, err := url.Parse(to)
	if err != nil {
		return Dest{}, fmt.Errorf("%q: %v", to, err)
	}
	switch {
	case u.Hostname() == "":
		return Dest{}, fmt.Errorf("%q has no host", to)
	case strings.HasPrefix(u.Hostname(), "-"):
		return Dest{}, fmt.Errorf("%q: a host may not start with '-'", to)
	case u.User != nil && func() bool { _, set := u.User.Password(); return set }():
		return Dest{}, fmt.Errorf("%q holds a password: give it in password_file", to)
	case u.RawQuery != "" || u.ForceQuery || u.Fragment != "" || strings.Contains(to, "#"):
		return Dest{}, fmt.Errorf("%q must not have a query or a fragment", to)
	case strings.Contains(u.EscapedPath(), "%") || strings.ContainsAny(u.Path, "\\"):
		return Dest{}, fmt.Errorf("%q: rsync reads no %%-escapes or backslashes in a path: write the names as they are", to)
	}
	elems := strings.Split(strings.Trim(u.Path, "/"), "/")
	if elems[0] == "" {
		return Dest{}, fmt.Errorf("%q names no module: rsync://host[:port]/module[/path]", to)
	}
	for _, e := range elems {
		if e == "" || e == "." || e == ".." {
			return Dest{}, fmt.Errorf("%q: the path must be plain folder names (no empty, . or .. elements)", to)
		}
	}
	hostPort := u.Host
	if u.User != nil {
		hostPort = u.User.Username() + "@" + hostPort
	}
	return Dest{Daemon: true, Arg: "rsync://" + hostPort + "/" + strings.Join(elems, "/") + "/"}, nil
}

// CheckRSH checks a remote shell command: words, the first a program.
func CheckRSH(rsh string) error {
	w := strings.Fields(rsh)
	if len(w) == 0 {
		return errors.New("is empty")
	}
	if strings.HasPrefix(w[0], "-") {
		return fmt.Errorf("%q: the first word is the program, not an option", rsh)
	}
	for _, r := range rsh {
		if r < 0x20 && r != '\t' || r == 0x7f {
			return fmt.Errorf("%q holds a control character", rsh)
		}
	}
	return nil
}

// Name implements publish.Publisher.
func (m *Mirror) Name() string { return "mirror" }

// Publish implements publish.Publisher: it copies the live site to To.
// Its error names the destination and says what rsync said.
func (m *Mirror) Publish(ctx context.Context, in publish.Input) error {
	if err := publish.CheckInput(in); err != nil {
		return err
	}
	if err := m.publish(ctx); err != nil {
		return fmt.Errorf("to %s: %w", m.To, err)
	}
	return nil
}

func (m *Mirror) publish(ctx context.Context) error {
	dest, err := ParseDest(m.To)
	if err != nil {
		return err
	}
	if m.RSH != "" {
		if dest.Daemon {
			return errors.New("a remote shell is for host:path destinations, not rsync://")
		}
		if err := CheckRSH(m.RSH); err != nil {
			return fmt.Errorf("remote shell %v", err)
		}
	}
	if m.PasswordFile != "" {
		if !dest.Daemon {
			return errors.New("a password file is for rsync:// destinations")
		}
		if err := CheckPasswordFile(m.PasswordFile); err != nil {
			return err
		}
	}
	src, err := filepath.EvalSymlinks(m.Site)
	if err != nil {
		return fmt.Errorf("no live site to copy: %w", err)
	}
	if fi, err := os.Stat(src); err != nil || !fi.IsDir() {
		return fmt.Errorf("the live site %s is not a folder", src)
	}
	if err := ctx.Err(); err != nil {
		return context.Cause(ctx)
	}
	timeout := m.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	tctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	prog := m.Program
	if prog == "" {
		prog = "rsync"
	}
	cmd := exec.CommandContext(tctx, prog, m.args(dest, src+"/", timeout)...)
	cmd.Env = environ()
	out := &tail{max: 4096}
	cmd.Stdout, cmd.Stderr = out, out
	// rsync, its remote shell and anything they start are one session,
	// killed together, with no terminal: no prompt (a password, a host
	// key) can ever wait for an answer.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 10 * time.Second
	err = cmd.Run()
	switch {
	case err == nil:
		return nil
	case ctx.Err() != nil:
		return fmt.Errorf("rsync stopped: %w", context.Cause(ctx))
	case tctx.Err() != nil:
		return fmt.Errorf("rsync still ran after %v (the mirror's timeout): killed%s", timeout, out.said())
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) && ee.ExitCode() > 0 {
		code := ee.ExitCode()
		what := ""
		if s, ok := exitMeaning[code]; ok {
			what = " (" + s + ")"
		}
		return fmt.Errorf("rsync exited with status %d%s%s", code, what, out.said())
	}
	return fmt.Errorf("rsync: %v%s", err, out.said())
}

// args are rsync's arguments.
func (m *Mirror) args(dest Dest, src string, timeout time.Duration) []string {
	secs := func(d time.Duration) string { return strconv.Itoa(max(1, int(min(d, timeout).Seconds()))) }
	args := []string{
		"--recursive",
		"--no-links",                    // a symlink is skipped, never followed (see the package doc)
		"--times", "--modify-window=-1", // unchanged: same size and mtime to the nanosecond
		"--perms", "--chmod=u=rwX,go=rX", // readable by the remote's web server
		"--delete-after", "--delay-updates",
		"--protect-args",
		"--timeout=" + secs(ioTimeout),
	}
	if dest.Daemon {
		args = append(args, "--no-motd", "--contimeout="+secs(connectTimeout))
		if m.PasswordFile != "" {
			args = append(args, "--password-file="+m.PasswordFile)
		}
	} else {
		rsh := m.RSH
		if rsh == "" {
			rsh = DefaultRSH
		}
		args = append(args, "--rsh="+rsh)
	}
	return append(args, "--", src, dest.Arg)
}

// CheckPasswordFile refuses a password file that is not a regular file,
// or that anyone but its owner may read or write.
func CheckPasswordFile(p string) error {
	fi, err := os.Stat(p)
	if err != nil {
		return fmt.Errorf("password file: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("password file %s is not a regular file", p)
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		return fmt.Errorf("password file %s may be read or written by others (mode %04o): chmod 600 it", p, perm)
	}
	return nil
}

// environ is the process's environment without rsync's own variables.
func environ() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "RSYNC_") {
			env = append(env, kv)
		}
	}
	return env
}

// exitMeaning are rsync's exit statuses that a mirror meets (rsync(1)).
var exitMeaning = map[int]string{
	1:  "syntax or usage error",
	2:  "protocol incompatibility",
	3:  "errors selecting input/output files, dirs",
	5:  "error starting client-server protocol",
	10: "error in socket I/O",
	11: "error in file I/O",
	12: "error in rsync protocol data stream",
	23: "partial transfer due to error",
	24: "partial transfer due to vanished source files",
	30: "timeout in data send/receive",
	35: "timeout waiting for daemon connection",
}

// tail keeps the last max bytes written to it.
type tail struct {
	max int
	b   []byte
}

func (t *tail) Write(p []byte) (int, error) {
	t.b = append(t.b, p...)
	if len(t.b) > t.max {
		t.b = t.b[len(t.b)-t.max:]
	}
	return len(p), nil
}

// said is what rsync said, on one line, after ": "; "" when nothing.
// Its lines that only repeat the exit status are left out.
func (t *tail) said() string {
	var keep []string
	for _, l := range strings.Split(string(t.b), "\n") {
		l = strings.TrimSpace(l)
		if l == "" || strings.HasPrefix(l, "rsync error: ") || strings.HasPrefix(l, "skipping non-regular file") {
			continue
		}
		keep = append(keep, l)
	}
	if len(keep) == 0 {
		return ""
	}
	return ": " + strings.Join(keep, "; ")
}
