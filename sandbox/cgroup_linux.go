package sandbox

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// This file is how a step's whole process tree is found and killed, even
// the processes that left its process group (setsid, a double fork):
//
//   - where the host has a writable cgroup v2, each step starts straight
//     in a cgroup of its own (CLONE_INTO_CGROUP, so not even its first
//     instruction runs outside), which is killed whole (cgroup.kill) and
//     removed when the step ends, times out or is cancelled;
//   - elsewhere, a record of the step's first process (pid, start time,
//     PID namespace init or process group leader) in the build root's
//     state folder, and the process group kill of before;
//   - a Scope groups the steps of one build root, so that what an engine
//     left running when it was killed dies at once, by the engine's
//     watchdog, and at the latest when the next run reaps it.
//
// The folders: <cgroup2 mount>/autobuild/<build root hash>/<engine
// token>/<module>-<step>-<random>, the engine token being one per engine
// process and scope.

// cgroupGrace bounds the wait for a killed cgroup to empty. A SIGKILLed
// process leaves at once unless it sits in an uninterruptible sleep; one
// that outlasts this is left for the watchdog or the next run's Reap.
const cgroupGrace = 5 * time.Second

var (
	cgroupOnce sync.Once
	cgroupDir  string
)

// cgroupRoot is the folder under which steps get cgroups of their own
// (<cgroup2 mount>/autobuild), or "" where this host has no writable
// cgroup v2 that can start a child straight into a cgroup and kill it
// whole. Probed once per process.
func cgroupRoot() string {
	cgroupOnce.Do(func() { cgroupDir = probeCgroup() })
	return cgroupDir
}

// probeCgroup makes a throw-away cgroup, starts a child straight into it,
// kills it and removes it: the only answer that cannot lie (a read-only
// mount, a kernel without cgroup.kill or a seccomp filter that refuses
// clone3 all say no here rather than fail every step).
func probeCgroup() string {
	mnt := cgroupMount()
	if mnt == "" {
		return ""
	}
	root := filepath.Join(mnt, "autobuild")
	if err := os.Mkdir(root, 0o755); err != nil && !errors.Is(err, fs.ErrExist) {
		return ""
	}
	dir := filepath.Join(root, "probe-"+strconv.Itoa(os.Getpid())+"-"+randomName())
	if err := os.Mkdir(dir, 0o755); err != nil {
		return ""
	}
	defer removeCgroup(context.Background(), dir)
	if _, err := os.Stat(filepath.Join(dir, "cgroup.kill")); err != nil {
		return "" // Linux before 5.14
	}
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return ""
	}
	pid, err := forkTrue(&syscall.SysProcAttr{UseCgroupFD: true, CgroupFD: fd})
	unix.Close(fd)
	if err != nil {
		return ""
	}
	var ws syscall.WaitStatus
	_, _ = syscall.Wait4(pid, &ws, 0, nil)
	if !ws.Exited() || ws.ExitStatus() != 0 || killCgroup(dir) != nil {
		return ""
	}
	return root
}

// cgroupMount is where cgroup v2 is mounted, from /proc/self/mountinfo
// (/sys/fs/cgroup on a pure v2 host, /sys/fs/cgroup/unified on a hybrid
// one); "" when it is nowhere. A mount of the hierarchy's root is
// preferred over a bind mount of a part of it.
func cgroupMount() string {
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return ""
	}
	found := ""
	for _, line := range strings.Split(string(b), "\n") {
		pre, post, ok := strings.Cut(line, " - ")
		if !ok {
			continue
		}
		f, pf := strings.Fields(post), strings.Fields(pre)
		if len(f) == 0 || f[0] != "cgroup2" || len(pf) < 5 {
			continue
		}
		if pf[3] == "/" {
			return unescapeMountinfo(pf[4])
		}
		if found == "" {
			found = unescapeMountinfo(pf[4])
		}
	}
	return found
}

// killCgroup kills every process in the cgroup dir and below it. The
// kernel also kills what is forked while it does so.
func killCgroup(dir string) error {
	f, err := os.OpenFile(filepath.Join(dir, "cgroup.kill"), os.O_WRONLY, 0)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	_, err = f.Write([]byte("1"))
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if errors.Is(err, syscall.ENODEV) || errors.Is(err, syscall.ENOENT) {
		return nil // removed meanwhile
	}
	return err
}

// populated reports whether a process is still in the cgroup dir or below.
func populated(dir string) bool {
	b, err := os.ReadFile(filepath.Join(dir, "cgroup.events"))
	if err != nil {
		return false
	}
	return bytes.Contains(b, []byte("populated 1"))
}

// removeCgroup waits (bounded by cgroupGrace and ctx) until the cgroup
// dir is empty and removes it, its children first. A cgroup that does not
// empty in time stays: it was killed, and the next Reap removes it.
func removeCgroup(ctx context.Context, dir string) bool {
	deadline := time.Now().Add(cgroupGrace)
	for wait := time.Millisecond; populated(dir); wait = min(2*wait, 50*time.Millisecond) {
		if time.Now().After(deadline) || ctx.Err() != nil {
			return false
		}
		time.Sleep(wait)
	}
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		if e.IsDir() {
			removeCgroup(ctx, filepath.Join(dir, e.Name()))
		}
	}
	err := unix.Rmdir(dir)
	return err == nil || errors.Is(err, syscall.ENOENT)
}

// randomName is a short random name part.
func randomName() string { return strconv.FormatUint(rand.Uint64()>>16, 36) }

// cleanName keeps a name usable as a file name.
func cleanName(s string) string {
	s = strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.' {
			return r
		}
		return '_'
	}, s)
	if len(s) > 64 {
		s = s[:64]
	}
	if s == "" || s == "." || s == ".." {
		s = "step"
	}
	return s
}

// Scope is the steps of one build root as the sandbox tracks them, so
// that what an engine left running when it was killed is killed after
// all: by the engine's watchdog the moment it dies, and at the latest by
// the next run, which calls Reap before it touches a module folder.
type Scope struct {
	key     string // hash of the build root: its cgroup folder's name
	records string // folder of the records of steps without a cgroup
	token   string // this engine's: its steps' cgroups and records carry it

	watchOnce sync.Once
	lifeline  *os.File // the watchdog's pipe; the kernel closes it when the engine dies
}

// NewScope returns the scope of the build root root, whose steps without
// a cgroup leave their records in the folder records.
func NewScope(root, records string) *Scope {
	if abs, err := filepath.Abs(root); err == nil {
		root = abs
	}
	sum := sha256.Sum256([]byte(root))
	return &Scope{key: hex.EncodeToString(sum[:8]), records: records, token: randomName()}
}

// Reap kills every step an earlier engine of this build root left
// running, with its whole tree, and removes its cgroups and records. It
// must run only where no other engine runs steps of the build root (under
// the run lock). It fails only when a kill could not be sent; a killed
// process that is slow to go (in an uninterruptible sleep) is left to the
// next Reap.
func (s *Scope) Reap(ctx context.Context) error {
	if s == nil {
		return nil
	}
	var errs []error
	if root := cgroupRoot(); root != "" {
		dir := filepath.Join(root, s.key)
		errs = append(errs, reapCgroups(ctx, dir))
		_ = unix.Rmdir(dir) // where all went
	}
	if s.records != "" {
		errs = append(errs, reapRecords(s.records, ""))
	}
	return errors.Join(errs...)
}

// cgroupParent is the folder this engine's step cgroups go in, created.
func (s *Scope) cgroupParent(root string) (string, error) {
	dir := filepath.Join(root, s.key, s.token)
	return dir, os.MkdirAll(dir, 0o755)
}

// watch starts, once per scope, the engine's watchdog: a process of its
// own (the helper binary self in its watchdog mode) that waits for the
// engine to die and then kills the steps it left, cgroup (a folder of
// the engine's steps' cgroups, "" without) and records alike. It learns
// of the death from a pipe whose only write end the engine holds: the
// kernel closes it when the engine dies, however it dies. Without a
// watchdog (it could not start), the next run's Reap still kills them.
func (s *Scope) watch(self, cgroup string) {
	s.watchOnce.Do(func() {
		pr, pw, err := os.Pipe() // close-on-exec: no step inherits the write end
		if err != nil {
			return
		}
		defer pr.Close()
		cmd := exec.Command(self, watchdogArg, cgroup, s.records, s.token)
		cmd.Stdin = pr
		cmd.Env = []string{}
		// Its own process group: a ^C to the engine's group is the
		// engine's to handle, and must not take the watchdog with it.
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		if err := cmd.Start(); err != nil {
			pw.Close()
			return
		}
		go cmd.Wait() // reaps it, should it die before the engine
		s.lifeline = pw
	})
}

// watchdogArg is the first argument of the helper's watchdog mode.
const watchdogArg = "__sandbox-watchdog"

// runWatchdog is the watchdog (see Scope.watch): args are the folder of
// the engine's step cgroups, the records folder and the engine's token.
func runWatchdog(args []string) {
	signal.Ignore(syscall.SIGHUP, syscall.SIGINT)
	if len(args) != 3 {
		fmt.Fprintln(os.Stderr, "autobuild sandbox: the watchdog is for the engine only")
		os.Exit(2)
	}
	// EOF: every write end is closed, so the engine is gone (or done: then
	// there is nothing left to kill).
	_, _ = io.Copy(io.Discard, os.Stdin)
	if cg := args[0]; cg != "" {
		_ = killCgroup(cg)
		// The build root's folder too, unless another engine's is in it.
		if removeCgroup(context.Background(), cg) {
			_ = unix.Rmdir(filepath.Dir(cg))
		}
	}
	if args[1] != "" {
		_ = reapRecords(args[1], args[2]+"-")
	}
	os.Exit(0)
}

// reapCgroups kills each cgroup in dir (one per engine that ran steps of
// the build root), then removes them.
func reapCgroups(ctx context.Context, dir string) error {
	ents, err := os.ReadDir(dir)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		return err
	}
	var errs []error
	for _, e := range ents {
		if e.IsDir() {
			if err := killCgroup(filepath.Join(dir, e.Name())); err != nil {
				errs = append(errs, fmt.Errorf("kill cgroup %s: %w", e.Name(), err))
			}
		}
	}
	// Killed all first, then waited for: they die in parallel.
	for _, e := range ents {
		if e.IsDir() {
			removeCgroup(ctx, filepath.Join(dir, e.Name()))
		}
	}
	return errors.Join(errs...)
}

// tree is one step's process tree as Run tracks it: its cgroup, or the
// record of its first process.
type tree struct {
	scope  *Scope
	name   string
	attr   *syscall.SysProcAttr
	cgroup string // the step's cgroup, "" without one
	fd     int    // open on cgroup until the child started in it
	record string // the record's file, once written
}

// track prepares the tracking of step, which will start with attr: its
// cgroup, created now, where the host has them (else its record, written
// once it started), and the scope's watchdog. A step without a Scope is
// not tracked: its process group is all Run kills.
func (r *Exec) track(step *Step, attr *syscall.SysProcAttr) *tree {
	t := &tree{scope: step.Scope, name: cleanName(step.Name), attr: attr, fd: -1}
	if t.scope == nil {
		return t
	}
	root := r.Host.cgroup()
	if root == "" {
		t.scope.watch(r.Self, "")
		return t
	}
	parent, err := t.scope.cgroupParent(root)
	if err == nil {
		// Started before the step, so no moment of the step goes unwatched.
		t.scope.watch(r.Self, parent)
		dir := filepath.Join(parent, t.name+"-"+randomName())
		err = os.Mkdir(dir, 0o755)
		if errors.Is(err, fs.ErrNotExist) {
			// An earlier engine's watchdog removed the build root's
			// folder as it became empty, just now.
			if _, err = t.scope.cgroupParent(root); err == nil {
				err = os.Mkdir(dir, 0o755)
			}
		}
		if err == nil {
			if t.fd, err = unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0); err == nil {
				t.cgroup = dir
				attr.UseCgroupFD, attr.CgroupFD = true, t.fd
				return t
			}
			t.fd = -1
			_ = unix.Rmdir(dir)
		}
	}
	// The engine may not create cgroups after all (a confined engine):
	// the step runs, tracked by its record.
	t.scope.watch(r.Self, "")
	return t
}

// started is called once the step's first process pid runs.
func (t *tree) started(pid int) {
	if t.fd >= 0 {
		unix.Close(t.fd)
		t.fd = -1
	}
	if t.cgroup != "" || t.scope == nil || t.scope.records == "" {
		return
	}
	start, _, sid, err := procStat(pid)
	if err != nil {
		return // it is gone already
	}
	b, _ := json.Marshal(stepRecord{
		PID: pid, Start: start, Session: sid,
		PIDNamespace: t.attr.Cloneflags&syscall.CLONE_NEWPID != 0, GroupLeader: t.attr.Setpgid,
	})
	if err := os.MkdirAll(t.scope.records, 0o700); err != nil {
		return
	}
	path := filepath.Join(t.scope.records, t.scope.token+"-"+t.name+"-"+randomName()+".json")
	// Written whole or not at all: a torn record would be lost.
	if err := os.WriteFile(path+".new", b, 0o600); err == nil && os.Rename(path+".new", path) == nil {
		t.record = path
	}
}

// kill kills the step's cgroup (the caller kills its process group).
func (t *tree) kill() {
	if t.cgroup != "" {
		_ = killCgroup(t.cgroup)
	}
}

// release kills what is left of the step and forgets it: its cgroup is
// removed, its record deleted. It may be called more than once.
func (t *tree) release() {
	if t.fd >= 0 {
		unix.Close(t.fd)
		t.fd = -1
	}
	if t.cgroup != "" {
		_ = killCgroup(t.cgroup)
		removeCgroup(context.Background(), t.cgroup)
		t.cgroup = ""
	}
	if t.record != "" {
		os.Remove(t.record)
		t.record = ""
	}
}

// stepRecord is what a later engine needs to kill a step of a dead one
// where there are no cgroups.
type stepRecord struct {
	PID int `json:"pid"`
	// Start is the process's start time (/proc/<pid>/stat field 22):
	// pids are reused, and only the same process is killed.
	Start   uint64 `json:"start"`
	Session int    `json:"session"`
	// PIDNamespace: the process is its PID namespace's init, whose death
	// kills every process in it.
	PIDNamespace bool `json:"pid_namespace"`
	// GroupLeader: it leads a process group of its own.
	GroupLeader bool `json:"group_leader"`
}

// reapRecords kills the steps recorded in dir whose file names start with
// prefix ("" for all), and removes their records.
func reapRecords(dir, prefix string) error {
	ents, err := os.ReadDir(dir)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		return err
	}
	var errs []error
	for _, e := range ents {
		if !strings.HasPrefix(e.Name(), prefix) {
			continue
		}
		path := filepath.Join(dir, e.Name())
		if strings.HasSuffix(e.Name(), ".json") {
			if err := reapRecord(path); err != nil {
				errs = append(errs, fmt.Errorf("step record %s: %w", e.Name(), err))
				continue
			}
		}
		os.Remove(path)
	}
	return errors.Join(errs...)
}

// reapRecord kills the step of one record, if it still runs.
func reapRecord(path string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil
	}
	var rec stepRecord
	if json.Unmarshal(b, &rec) != nil || rec.PID <= 1 {
		return nil
	}
	kill := func(pid int) error {
		if err := syscall.Kill(pid, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
			return err
		}
		return nil
	}
	if start, _, _, err := procStat(rec.PID); err == nil && start == rec.Start {
		// The same process: a PID namespace's init takes every process of
		// the namespace with it; a group leader, its group.
		var errs []error
		if rec.GroupLeader {
			errs = append(errs, kill(-rec.PID))
		}
		errs = append(errs, kill(rec.PID))
		return errors.Join(errs...)
	}
	if !rec.GroupLeader {
		return nil
	}
	// The first process is gone (its parent-death signal killed it), but
	// its group may live on: a pid is not reused while a group has it, and
	// members are told apart from a later group of a reused pid by their
	// session and by having started after the leader.
	var errs []error
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		start, pgrp, sid, err := procStat(pid)
		if err == nil && pgrp == rec.PID && sid == rec.Session && start >= rec.Start {
			errs = append(errs, kill(pid))
		}
	}
	return errors.Join(errs...)
}

// procStat reads a process's start time, process group and session from
// /proc/<pid>/stat.
func procStat(pid int) (start uint64, pgrp, session int, err error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, 0, 0, err
	}
	// The command name (field 2) may hold spaces and parentheses: the
	// fields that follow start after its last ')'.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, 0, 0, fmt.Errorf("/proc/%d/stat: no command name", pid)
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 20 {
		return 0, 0, 0, fmt.Errorf("/proc/%d/stat: %d fields", pid, len(f)+2)
	}
	// f[0] is field 3 (state): field n is f[n-3].
	if pgrp, err = strconv.Atoi(f[2]); err == nil {
		if session, err = strconv.Atoi(f[3]); err == nil {
			start, err = strconv.ParseUint(f[19], 10, 64)
		}
	}
	return start, pgrp, session, err
}
