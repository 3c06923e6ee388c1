package slurmtest

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/autobuild/autobuild/internal/testutil"
)

// run runs a client command of c (srun, sinfo) and returns its output and
// exit code; it fails the test when the command could not run at all.
func run(t *testing.T, c *Cluster, stdin []byte, name string, args ...string) (string, int) {
	t.Helper()
	cmd := c.command(name, args...)
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		t.Fatalf("%s %q: %v", name, args, err)
	}
	if err != nil {
		t.Logf("%s %q: exit %d: %s", name, args, ee.ExitCode(), strings.TrimSpace(stderr.String()))
		return stdout.String(), ee.ExitCode()
	}
	return stdout.String(), 0
}

// must runs a command of c that must succeed and returns its output.
func must(t *testing.T, c *Cluster, stdin []byte, name string, args ...string) string {
	t.Helper()
	out, code := run(t, c, stdin, name, args...)
	if code != 0 {
		t.Fatalf("%s %q: exit %d, want 0", name, args, code)
	}
	return out
}

// onNode runs args in node's namespaces and returns the output and exit
// code.
func onNode(t *testing.T, c *Cluster, node string, args ...string) (string, int) {
	t.Helper()
	out, err := c.Exec(node, args...).Output()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return string(out), ee.ExitCode()
	}
	if err != nil {
		t.Fatalf("on %s: %q: %v", node, args, err)
	}
	return string(out), 0
}

func marker(t *testing.T) string {
	b := make([]byte, 8)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return "slurmtest-" + hex.EncodeToString(b)
}

// processes lists the processes of c alive now that started before
// since (clock ticks since boot, as /proc/<pid>/stat counts them): those of
// its daemons' process groups, and those in one of its nodes' namespaces.
// Process and namespace numbers are reused, by whatever starts later:
// hence since, and the caller holds the namespaces open while it looks.
func (c *Cluster) processes(since int64) []string {
	pgids := map[int]bool{}
	for _, d := range append([]*daemon{c.munged, c.ctld}, c.slurmds...) {
		if d != nil {
			pgids[d.cmd.Process.Pid] = true
		}
	}
	var found []string
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			continue
		}
		// pid (comm) state ppid pgrp ... starttime (the 22nd): comm may
		// hold spaces.
		i := bytes.LastIndexByte(stat, ')')
		f := strings.Fields(string(stat[i+1:]))
		if len(f) < 20 {
			continue
		}
		pgid, _ := strconv.Atoi(f[2])
		started, _ := strconv.ParseInt(f[19], 10, 64)
		if started > since {
			continue
		}
		mine := pgids[pgid]
		for _, ns := range []string{"pid", "mnt", "net", "uts"} {
			if l, err := os.Readlink(fmt.Sprintf("/proc/%d/ns/%s", pid, ns)); err == nil && c.nsInodes[l] {
				mine = true
			}
		}
		if mine {
			found = append(found, fmt.Sprintf("%d %s (state %s)", pid, stat[:i+1], f[0]))
		}
	}
	return found
}

// ticks is the time since boot in clock ticks (USER_HZ, 100 a second).
func ticks(t *testing.T) int64 {
	t.Helper()
	b, err := os.ReadFile("/proc/uptime")
	if err != nil {
		t.Fatal(err)
	}
	up, err := strconv.ParseFloat(strings.Fields(string(b))[0], 64)
	if err != nil {
		t.Fatal(err)
	}
	return int64(up*100) + 1
}

// holdNamespaces opens the namespaces of c's nodes, so that their numbers
// are not given to others until the returned function closes them.
func holdNamespaces(t *testing.T, c *Cluster) func() {
	t.Helper()
	var held []*os.File
	for _, init := range c.inits {
		for _, ns := range []string{"pid", "mnt", "net", "uts"} {
			f, err := os.Open(fmt.Sprintf("/proc/%d/ns/%s", init, ns))
			if err != nil {
				t.Fatal(err)
			}
			held = append(held, f)
		}
	}
	return func() {
		for _, f := range held {
			f.Close()
		}
	}
}

// mounted lists the mount points of this host inside dir.
func mounted(t *testing.T, dir string) []string {
	t.Helper()
	data, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	var ms []string
	for _, l := range strings.Split(string(data), "\n") {
		if f := strings.Fields(l); len(f) > 4 && (f[4] == dir || within(f[4], dir)) {
			ms = append(ms, f[4])
		}
	}
	return ms
}

// cmdlines lists the processes whose command line names dir.
func cmdlines(dir string) []string {
	var found []string
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		if _, err := strconv.Atoi(e.Name()); err != nil {
			continue
		}
		cl, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err == nil && bytes.Contains(cl, []byte(dir)) {
			found = append(found, e.Name()+" "+string(bytes.ReplaceAll(cl, []byte{0}, []byte{' '})))
		}
	}
	return found
}

// interfaces lists the cluster's interfaces this host still has.
func interfaces(c *Cluster) []string {
	var left []string
	for _, name := range c.net.names() {
		if _, err := net.InterfaceByName(name); err == nil {
			left = append(left, name)
		}
	}
	return left
}

func TestCluster(t *testing.T) {
	Need(t)
	// A shared folder whose name would run a command if the node's
	// script did not quote it: the control is that its file is read on
	// the node, the attack's proof would be the file the command touches.
	base := testutil.Dir(t)
	pwned := filepath.Join(base, "pwned")
	share := filepath.Join(base, "it's $(touch "+pwned+") `touch "+pwned+"` shared")
	if err := os.MkdirAll(share, 0o755); err != nil {
		t.Fatal(err)
	}
	shared := filepath.Join(share, "file")
	if err := os.WriteFile(shared, []byte("shared content\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	hostOnly := filepath.Join(t.TempDir(), "host-only")
	if err := os.WriteFile(hostOnly, []byte("host content\n"), 0o644); err != nil {
		t.Fatal(err)
	}

	start := time.Now()
	c := Start(t, Options{Share: []string{share}})
	t.Logf("cluster up in %v", time.Since(start))
	n1, n2 := c.Nodes[0], c.Nodes[1]

	t.Run("sinfo", func(t *testing.T) {
		out := must(t, c, nil, "sinfo", "-h", "-N", "-o", "%N %t %f")
		lines := strings.Split(strings.TrimSpace(out), "\n")
		slices.Sort(lines)
		want := []string{"n1 idle level-isolated,level-trusted", "n2 idle level-isolated"}
		if !slices.Equal(lines, want) {
			t.Errorf("sinfo: %q, want %q", lines, want)
		}
	})

	t.Run("nodes are hosts of their own", func(t *testing.T) {
		where := "hostname; ip -o -4 addr show"
		out := must(t, c, nil, "srun", "-N1", "--constraint=level-trusted", "sh", "-c", where)
		if !strings.HasPrefix(out, "n1\n") || !strings.Contains(out, " "+n1.Addr+"/24 ") {
			t.Errorf("a job constrained to level-trusted ran with\n%s\nwant host name n1 and address %s", out, n1.Addr)
		}
		if strings.Contains(out, c.net.hostAddr()) {
			t.Errorf("a job sees this host's address %s:\n%s", c.net.hostAddr(), out)
		}
		out = must(t, c, nil, "srun", "-w", "n2", "sh", "-c", where)
		if !strings.HasPrefix(out, "n2\n") || !strings.Contains(out, " "+n2.Addr+"/24 ") {
			t.Errorf("a job on n2 ran with\n%s\nwant host name n2 and address %s", out, n2.Addr)
		}
		// The constraint decides: no node but n1 has level-trusted.
		if _, code := run(t, c, nil, "srun", "-N1", "--constraint=level-trusted", "--exclude=n1", "true"); code == 0 {
			t.Error("a job constrained to level-trusted ran without n1")
		}
		// A step over both nodes (their step daemons talk to each other).
		out = must(t, c, nil, "srun", "-N2", "hostname")
		lines := strings.Fields(out)
		slices.Sort(lines)
		if !slices.Equal(lines, []string{"n1", "n2"}) {
			t.Errorf("srun -N2 hostname: %q, want n1 and n2", lines)
		}
	})

	t.Run("folders are private", func(t *testing.T) {
		m := marker(t)
		inTmp, inRoot := "/tmp/"+m, filepath.Join(c.NodeRoot, m)
		must(t, c, nil, "srun", "-w", "n1", "sh", "-c", fmt.Sprintf("echo node-only > %s && echo node-only > %s", inTmp, inRoot))
		for _, p := range []string{inTmp, inRoot} {
			// The control: the job's files are there, on n1.
			if out := must(t, c, nil, "srun", "-w", "n1", "cat", p); out != "node-only\n" {
				t.Errorf("%s on n1 through srun: %q", p, out)
			}
			if out, code := onNode(t, c, "n1", "cat", p); code != 0 || out != "node-only\n" {
				t.Errorf("%s on n1 through Exec: %q, exit %d", p, out, code)
			}
			if _, err := os.Stat(p); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("%s, written on n1, on this host: %v", p, err)
			}
			if _, code := run(t, c, nil, "srun", "-w", "n2", "test", "-e", p); code != 1 {
				t.Errorf("%s, written on n1, on n2: test -e exits %d", p, code)
			}
			if _, code := onNode(t, c, "n2", "test", "-e", p); code != 1 {
				t.Errorf("%s, written on n1, on n2 through Exec: test -e exits %d", p, code)
			}
		}
		// The test's own temp folder is not on a node; a shared path is,
		// read-only.
		if _, err := os.ReadFile(hostOnly); err != nil {
			t.Fatal(err)
		}
		if out, code := run(t, c, nil, "srun", "-w", "n1", "cat", hostOnly); code == 0 {
			t.Errorf("a node reads %s of this host's temp folder: %q", hostOnly, out)
		}
		// Nor is the cluster's folder, but for its etc.
		key := filepath.Join(c.Dir, "munge", "munge.key")
		if _, err := os.Stat(key); err != nil {
			t.Fatal(err)
		}
		if _, code := run(t, c, nil, "srun", "-w", "n1", "test", "-e", key); code != 1 {
			t.Errorf("the munge key on a node: test -e exits %d", code)
		}
		for _, n := range []string{"n1", "n2"} {
			if out := must(t, c, nil, "srun", "-w", n, "cat", shared); out != "shared content\n" {
				t.Errorf("the shared file on %s: %q", n, out)
			}
		}
		if _, code := run(t, c, nil, "srun", "-w", "n1", "sh", "-c", `echo changed > "$1"`, "sh", shared); code == 0 {
			t.Error("a job wrote a shared file")
		}
		if b, _ := os.ReadFile(shared); string(b) != "shared content\n" {
			t.Errorf("the shared file is now %q", b)
		}
		if _, err := os.Stat(pwned); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("the shared folder's name ran a command: %v", err)
		}
	})

	t.Run("stdin and stdout stream", func(t *testing.T) {
		data := make([]byte, 4<<20)
		if _, err := rand.Read(data); err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		out := must(t, c, data, "srun", "-w", "n2", "cat")
		t.Logf("4 MiB through srun and back in %v", time.Since(start))
		if !bytes.Equal([]byte(out), data) {
			t.Errorf("srun cat returned %d bytes that differ from the %d sent", len(out), len(data))
		}
	})

	t.Run("exit code", func(t *testing.T) {
		if _, code := run(t, c, nil, "srun", "-w", "n1", "sh", "-c", "exit 0"); code != 0 {
			t.Errorf("exit 0 through srun: %d", code)
		}
		if _, code := run(t, c, nil, "srun", "-w", "n1", "sh", "-c", "exit 7"); code != 7 {
			t.Errorf("exit 7 through srun: %d", code)
		}
	})

	t.Run("killing srun ends the job", func(t *testing.T) {
		name := marker(t)
		cmd := c.command("srun", "-J", name, "-w", "n1", "sh", "-c", "echo $$; exec sleep 1000")
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		defer cmd.Process.Kill()
		line, err := bufio.NewReader(stdout).ReadString('\n')
		if err != nil {
			t.Fatalf("the job's first line: %v", err)
		}
		pid := strings.TrimSpace(line)
		// (Jobs of the subtests before may still be listed, completing.)
		jobs, err := c.Jobs()
		if err != nil {
			t.Fatal(err)
		}
		if !slices.ContainsFunc(jobs, func(j Job) bool { return j.Name == name && j.State == "RUNNING" && j.Node == "n1" }) {
			t.Fatalf("jobs: %+v, want %s running on n1", jobs, name)
		}
		if out, code := onNode(t, c, "n1", "cat", "/proc/"+pid+"/cmdline"); code != 0 || !strings.HasPrefix(out, "sleep\x00") {
			t.Fatalf("the job's process %s on n1: %q, exit %d", pid, out, code)
		}
		cmd.Process.Kill()
		cmd.Wait()
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		if err := c.WaitNoJobs(ctx); err != nil {
			t.Fatal(err)
		}
		if out, code := onNode(t, c, "n1", "cat", "/proc/"+pid+"/cmdline"); code == 0 && strings.HasPrefix(out, "sleep\x00") {
			t.Errorf("the job's process %s still runs on n1", pid)
		}
	})

	t.Run("stop leaves nothing", func(t *testing.T) {
		release := holdNamespaces(t, c)
		defer release()
		// The control: the checks find the running cluster.
		procs, ifs := c.processes(ticks(t)), interfaces(c)
		if len(procs) < 5 || len(ifs) != 3 || len(mounted(t, c.Dir)) != 2 {
			t.Fatalf("before Stop: processes %q, interfaces %q, mounts %q", procs, ifs, mounted(t, c.Dir))
		}
		netns := []string{c.net.nodes[0].netns, c.net.nodes[1].netns}
		start, since := time.Now(), ticks(t)
		if err := c.Stop(); err != nil {
			t.Fatal(err)
		}
		t.Logf("stopped in %v", time.Since(start))
		if p := c.processes(since); len(p) > 0 {
			t.Errorf("processes of the cluster left: %q", p)
		}
		if i := interfaces(c); len(i) > 0 {
			t.Errorf("interfaces left: %q", i)
		}
		if m := mounted(t, c.Dir); len(m) > 0 {
			t.Errorf("mounts left: %q", m)
		}
		for _, f := range netns {
			if _, err := os.Stat(f); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("%s: %v", f, err)
			}
		}
		if err := c.Stop(); err != nil {
			t.Errorf("a second Stop: %v", err)
		}
		if _, err := c.Exec("n1", "true").Output(); err == nil {
			t.Error("Exec on a stopped node ran")
		}
	})
}

// Two clusters up at once, started concurrently, have their own names,
// ports, addresses and jobs, and stopping one leaves the other running.
func TestTwoClusters(t *testing.T) {
	Need(t)
	var cs [2]*Cluster
	var errs [2]error
	var wg sync.WaitGroup
	for i := range cs {
		dir, err := os.MkdirTemp("", "slurmtest-")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.RemoveAll(dir) })
		wg.Go(func() { cs[i], errs[i] = StartIn(dir, Options{}) })
	}
	wg.Wait()
	for i, c := range cs {
		if c != nil {
			t.Cleanup(func() {
				if err := c.Stop(); err != nil {
					t.Error(err)
				}
			})
		}
		if errs[i] != nil {
			t.Fatal(errs[i])
		}
	}
	a, b := cs[0], cs[1]
	if a.ctrlPort == b.ctrlPort || a.net.hostAddr() == b.net.hostAddr() || a.net.bridge == b.net.bridge {
		t.Errorf("the clusters share a port (%d, %d), an address (%s, %s) or a bridge (%s, %s)",
			a.ctrlPort, b.ctrlPort, a.net.hostAddr(), b.net.hostAddr(), a.net.bridge, b.net.bridge)
	}
	if a.net.prefix().Contains(b.net.prefix().IP) {
		t.Errorf("the clusters' networks overlap: %s, %s", a.net.prefix(), b.net.prefix())
	}
	for _, c := range cs {
		out := must(t, c, nil, "srun", "-w", "n1", "ip", "-o", "-4", "addr", "show", "dev", "eth0")
		if !strings.Contains(out, " "+c.Nodes[0].Addr+"/24 ") {
			t.Errorf("n1 of the cluster in %s has %q, want %s", c.Dir, out, c.Nodes[0].Addr)
		}
	}

	// A job of b is b's only.
	name := marker(t)
	job := b.command("srun", "-J", name, "-w", "n2", "sh", "-c", "echo up; exec sleep 1000")
	stdout, err := job.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := job.Start(); err != nil {
		t.Fatal(err)
	}
	defer job.Process.Kill()
	if _, err := bufio.NewReader(stdout).ReadString('\n'); err != nil {
		t.Fatal(err)
	}
	// (Jobs that ran before may still be listed, completing.)
	isJob := func(j Job) bool { return j.Name == name }
	if jobs, err := b.Jobs(); err != nil || !slices.ContainsFunc(jobs, isJob) {
		t.Errorf("b's jobs: %+v, %v; want %s", jobs, err, name)
	}
	if jobs, err := a.Jobs(); err != nil || slices.ContainsFunc(jobs, isJob) {
		t.Errorf("a's jobs: %+v, %v; want no %s", jobs, err, name)
	}

	if err := a.Stop(); err != nil {
		t.Fatal(err)
	}
	if out := must(t, b, nil, "srun", "-w", "n1", "hostname"); out != "n1\n" {
		t.Errorf("b after a stopped: %q", out)
	}
	// (The hostname job may still be listed, completing.)
	if jobs, err := b.Jobs(); err != nil || !slices.ContainsFunc(jobs, func(j Job) bool { return j.Name == name && j.State == "RUNNING" }) {
		t.Errorf("b's jobs after a stopped: %+v, %v; want %s running", jobs, err, name)
	}
	job.Process.Kill()
	job.Wait()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := b.WaitNoJobs(ctx); err != nil {
		t.Error(err)
	}
}

// Bad options are refused before anything starts, with an error that
// names the option and the problem.
func TestOptionsRefused(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	node := func(name string, features ...string) NodeSpec { return NodeSpec{Name: name, Features: features} }
	for _, tc := range []struct {
		name string
		o    Options
		want string
	}{
		{"a name that is a shell command", Options{Nodes: []NodeSpec{node("n1;reboot")}}, `nodes[0]: name "n1;reboot"`},
		{"a scheduling line that is another setting", Options{Scheduling: []string{"SlurmUser=nobody"}}, `scheduling[0]: "SlurmUser=nobody"`},
		{"a scheduling line of two lines", Options{Scheduling: []string{"SchedulerType=sched/builtin\nSlurmUser=nobody"}}, `scheduling[0]`},
		{"an upper-case name", Options{Nodes: []NodeSpec{node("N1")}}, `name "N1"`},
		{"two nodes of one name", Options{Nodes: []NodeSpec{node("n1"), node("n1")}}, `nodes[1]: name "n1": two nodes`},
		{"a feature with a comma", Options{Nodes: []NodeSpec{node("n1", "a,b")}}, `node n1: feature "a,b"`},
		{"a feature with a space", Options{Nodes: []NodeSpec{node("n1", "a b")}}, `node n1: feature "a b"`},
		{"negative CPUs", Options{Nodes: []NodeSpec{{Name: "n1", CPUs: -1}}}, "node n1: cpus -1"},
		{"too many nodes", Options{Nodes: make([]NodeSpec, maxNodes+1)}, "65 nodes, at most 64"},
		{"a partition of an unknown node", Options{Partitions: map[string][]string{"p": {"n3"}}}, `partition p: node "n3": no such node`},
		{"a second partition all", Options{Partitions: map[string][]string{"all": {"n1"}}}, `partitions: name "all"`},
		{"an empty partition", Options{Partitions: map[string][]string{"p": nil}}, "partition p: no nodes"},
		{"a relative share", Options{Share: []string{"bin"}}, `share "bin": not an absolute path`},
		{"a missing share", Options{Share: []string{filepath.Join(dir, "missing")}}, "share " + strconv.Quote(filepath.Join(dir, "missing"))},
		{"sharing /tmp", Options{Share: []string{"/tmp"}}, `share "/tmp": holds /tmp`},
		{"sharing /", Options{Share: []string{"/"}}, `share "/": holds /tmp`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cdir := filepath.Join(t.TempDir(), "c")
			_, err := StartIn(cdir, tc.o)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("StartIn: %v, want an error with %q", err, tc.want)
			}
			if _, err := os.Stat(cdir); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("the cluster folder was made: %v", err)
			}
		})
	}
	// The control: the defaults and a good set of options pass.
	if _, err := options(Options{}); err != nil {
		t.Errorf("the default options: %v", err)
	}
	good := Options{Nodes: []NodeSpec{node("a-1", "x.y_z"), {Name: "b", CPUs: 8}}, Share: []string{file}, Partitions: map[string][]string{"big": {"b"}}}
	if _, err := options(good); err != nil {
		t.Errorf("good options: %v", err)
	}

	for _, tc := range []struct {
		name, dir, want string
	}{
		{"a folder with a space", filepath.Join(dir, "a b"), "cluster folder"},
		{"a folder too long for sockets", filepath.Join(dir, strings.Repeat("x", 60)), "at most 50 bytes"},
		{"a folder not empty", dir, "not empty"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := StartIn(tc.dir, Options{}); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("StartIn(%q): %v, want an error with %q", tc.dir, err, tc.want)
			}
		})
	}
}

// startDemo starts democluster with a command that waits, and returns
// once it has listed its nodes: its folder, its process and the rest of
// its standard error.
func startDemo(t *testing.T, bin string) (string, *exec.Cmd, *bufio.Scanner) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "c")
	cmd := exec.Command(bin, "-dir", dir, "--", "sleep", "1000")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	sc := bufio.NewScanner(stderr)
	for sc.Scan() && !strings.Contains(sc.Text(), "node n2 ") {
	}
	return dir, cmd, sc
}

// democluster runs a command with a cluster's environment, exits with its
// code and leaves nothing running, also when it is sent SIGTERM.
func TestDemoCluster(t *testing.T) {
	Need(t)
	bin := filepath.Join(t.TempDir(), "democluster")
	build := exec.Command("go", "build", "-o", bin, "./democluster")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	// leftovers are the processes whose command line names dir, and the
	// mounts in it.
	leftovers := func(dir string) []string {
		return append(cmdlines(dir), mounted(t, dir)...)
	}

	t.Run("exit code", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "c")
		cmd := exec.Command(bin, "-dir", dir, "--", "sh", "-c", "srun -N2 hostname | sort; exit 3")
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err := cmd.Run()
		if cmd.ProcessState == nil || cmd.ProcessState.ExitCode() != 3 {
			t.Errorf("democluster: %v, want exit 3\n%s", err, stderr.String())
		}
		if stdout.String() != "n1\nn2\n" {
			t.Errorf("the command's output: %q, want n1 and n2", stdout.String())
		}
		if !strings.Contains(stderr.String(), "node n1 10.") {
			t.Errorf("democluster does not list its nodes:\n%s", stderr.String())
		}
		if l := leftovers(dir); len(l) > 0 {
			t.Errorf("left behind: %q", l)
		}
	})

	t.Run("SIGTERM", func(t *testing.T) {
		dir, cmd, sc := startDemo(t, bin)
		// The control: the cluster runs.
		if len(leftovers(dir)) == 0 {
			t.Fatal("no process of the cluster found while it runs")
		}
		cmd.Process.Signal(syscall.SIGTERM)
		for sc.Scan() {
		}
		cmd.Wait()
		if code := cmd.ProcessState.ExitCode(); code != 128+int(syscall.SIGTERM) {
			t.Errorf("democluster exits %d after SIGTERM, want %d", code, 128+int(syscall.SIGTERM))
		}
		if l := leftovers(dir); len(l) > 0 {
			t.Errorf("left behind: %q", l)
		}
	})

	// Killed, it cannot stop the cluster: its daemons die with it, and
	// only its network is left (removed here).
	t.Run("SIGKILL", func(t *testing.T) {
		dir, cmd, _ := startDemo(t, bin)
		t.Cleanup(func() {
			conf, _ := os.ReadFile(filepath.Join(dir, "etc", "slurm.conf"))
			_, name, _ := strings.Cut(string(conf), "ClusterName=")
			name, _, _ = strings.Cut(name, "\n")
			links, _ := net.Interfaces()
			for _, l := range links {
				if name != "" && strings.HasPrefix(l.Name, name) {
					exec.Command("ip", "link", "del", l.Name).Run()
				}
			}
			for _, m := range mounted(t, dir) {
				syscall.Unmount(m, syscall.MNT_DETACH)
			}
		})
		if len(cmdlines(dir)) < 4 {
			t.Fatalf("the cluster's processes while it runs: %q", cmdlines(dir))
		}
		cmd.Process.Kill()
		cmd.Wait()
		deadline := time.Now().Add(10 * time.Second)
		for len(cmdlines(dir)) > 0 && time.Now().Before(deadline) {
			time.Sleep(50 * time.Millisecond)
		}
		if p := cmdlines(dir); len(p) > 0 {
			t.Errorf("processes left after democluster was killed: %q", p)
		}
	})
}

// A cluster that does not come up is an error that names what failed,
// with the tails of the daemons' logs, and leaves nothing running.
func TestStartFails(t *testing.T) {
	Need(t)
	defer func(s string) { slurmd = s }(slurmd)
	slurmd = "echo this slurmd refuses to start >&2; false"
	dir := filepath.Join(t.TempDir(), "c")
	c, err := StartIn(dir, Options{})
	if err == nil {
		c.Stop()
		t.Fatal("a cluster whose slurmd does not start came up")
	}
	t.Logf("the error:\n%v", err)
	for _, want := range []string{"slurmd n", "exited", "this slurmd refuses to start", "slurmctld.log"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("the error does not say %q:\n%v", want, err)
		}
	}
	conf, rerr := os.ReadFile(filepath.Join(dir, "etc", "slurm.conf"))
	if rerr != nil {
		t.Fatal(rerr)
	}
	_, name, _ := strings.Cut(string(conf), "ClusterName=")
	name, _, _ = strings.Cut(name, "\n")
	if links, err := net.Interfaces(); err == nil {
		for _, l := range links {
			if strings.HasPrefix(l.Name, name) {
				t.Errorf("interface %s left", l.Name)
			}
		}
	}
	if m := mounted(t, dir); len(m) > 0 {
		t.Errorf("mounts left: %q", m)
	}
	if p := cmdlines(dir); len(p) > 0 {
		t.Errorf("processes left: %q", p)
	}
}
