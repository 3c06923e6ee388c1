// Package slurmtest starts a real Slurm cluster on this one machine, for
// tests and demonstrations of the Slurm executor: munged, slurmctld and one
// slurmd per node, all children of the calling process, from a folder of
// the cluster's own with a generated slurm.conf.
//
// Each node is made another host: its slurmd runs in namespaces of its
// own.
//   - Network: a namespace bound to a file in the cluster folder, joined
//     by a veth pair to a bridge of the cluster on this host, in a
//     10.x.y.0/24 chosen per cluster and checked against this host's
//     addresses, routes and interfaces. (A bridge, not a routed /30 per
//     node: the nodes of a step over several talk to each other, which
//     routing would need forwarding on this host for.)
//   - Mount: /tmp, the temp folder and the cluster folder are fresh tmpfs
//     mounts, so nothing a test keeps in its temp folders is on a node
//     (there is no shared file system); only the paths of Options.Share
//     are bind-mounted, read-only, at their own paths, with the cluster's
//     etc/ (slurm.conf, munged's socket). The node root
//     (Cluster.NodeRoot) is a tmpfs of its own, and /etc/hosts names the
//     controller and every node.
//   - UTS: the host name is the node's name.
//   - PID: a shell is the namespace's init; it reaps what slurmd's steps
//     leave, and killing it kills every process of the node.
//
// The controller listens on this host, at its address on the bridge
// (SlurmctldHost=<host name>(<address>)), which every node reaches; srun
// reaches the nodes' slurmds from that address, and they reach it there
// for the job's input and output. srun, sinfo, squeue and scancel run on
// this host with Cluster.Env. The daemons log to files in the cluster
// folder's log/, whose tails StartIn's error carries when the cluster does
// not come up. Stop kills every process of the cluster (each host
// daemon's process group, each node's PID namespace) and removes the
// bridge, the veths and the namespaces' files. Should the calling process
// die without Stop, the daemons die with it (their parent-death signal),
// but the bridge and veths stay until removed by hand (ip link del).
//
// It needs root, util-linux (unshare, nsenter), iproute2 and Debian's
// slurmctld, slurmd, slurm-client and munge packages.
package slurmtest

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/autobuild/autobuild/internal/testutil"
)

// NodeSpec describes one node of the cluster.
type NodeSpec struct {
	Name     string   // a lower-case host name: n1, build-2
	Features []string // its Slurm features (srun --constraint)
	CPUs     int      // the CPUs it declares; 0 means 2
}

// Options describe a cluster.
type Options struct {
	// Nodes are the cluster's nodes; none means two: n1 with the features
	// level-isolated and level-trusted, n2 with level-isolated.
	Nodes []NodeSpec
	// Share are host paths (files or folders) every node sees, read-only,
	// at the same path. Nothing else of the temp folder is on a node.
	Share []string
	// Partitions are extra partitions, each with its nodes' names; the
	// default partition (DefaultPartition) has every node.
	Partitions map[string][]string
	// Scheduling, when set, replaces Slurm's default scheduler settings
	// with these lines of slurm.conf (FastScheduling, say).
	Scheduling []string
}

// FastScheduling schedules a job as soon as a slot frees: with Slurm's
// defaults (backfill, and a main scheduling pass at most every
// sched_min_interval) a job submitted just as one ends waits, all slots
// free, for a later pass (seen: about 2 s). For a cluster of short jobs,
// such as one module build each.
var FastScheduling = []string{"SchedulerType=sched/builtin", "SchedulerParameters=sched_min_interval=0"}

// DefaultPartition is the name of the partition that holds every node
// and is Slurm's default.
const DefaultPartition = "all"

// Node is a node of a running cluster.
type Node struct {
	Name     string
	Addr     string // its address, which this host and the other nodes reach
	Features []string
}

// Job is a job squeue lists.
type Job struct {
	ID, Name, State string
	Node            string // the nodes it runs on, as squeue lists them; empty while pending
}

// Cluster is a running cluster.
type Cluster struct {
	Dir      string // the cluster folder
	Conf     string // its slurm.conf
	Nodes    []Node
	NodeRoot string // a folder of the same path on every node, a tmpfs private to the node, empty at start

	ctrlPort int
	net      *clusterNet
	munged   *daemon
	ctld     *daemon
	slurmds  []*daemon // in the order of Nodes
	inits    []int     // each node's init (its PID namespace's first process), 0 if unknown
	nsInodes map[string]bool

	mu      sync.Mutex
	stopped bool
	stopErr error
}

// startTimeout bounds the wait for the daemons to come up and every node
// to be idle.
const startTimeout = 30 * time.Second

// Start starts a cluster in a fresh folder, or skips the test where one
// cannot run (see testutil.NeedTool: in CI a missing tool fails it). It
// fails the test, with the tails of the daemons' logs, when the cluster
// does not come up, and stops the cluster when the test ends.
func Start(t testing.TB, o Options) *Cluster {
	t.Helper()
	Need(t)
	// A short folder of its own: Slurm's and munge's Unix sockets live in
	// it, and a socket's path is at most 107 bytes.
	dir, err := os.MkdirTemp("", "slurmtest-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	c, err := StartIn(dir, o)
	if err != nil {
		t.Fatalf("slurmtest: %v", err)
	}
	t.Cleanup(func() {
		if err := c.Stop(); err != nil {
			t.Errorf("slurmtest: stop: %v", err)
		}
	})
	return c
}

// Need skips the test, or fails it where tools are required (see
// testutil.NeedTool), when this machine cannot run a cluster: a tool is
// missing or the test does not run as root.
func Need(t testing.TB) {
	t.Helper()
	for _, tool := range [][2]string{
		{"slurmctld", "slurmctld"}, {"slurmd", "slurmd"}, {"srun", "slurm-client"},
		{"sinfo", "slurm-client"}, {"squeue", "slurm-client"}, {"scontrol", "slurm-client"}, {"munged", "munge"},
		{"unshare", "util-linux"}, {"nsenter", "util-linux"}, {"ip", "iproute2"},
	} {
		testutil.NeedTool(t, tool[0], tool[1])
	}
	if os.Geteuid() != 0 {
		testutil.Skip(t, "a Slurm cluster on this machine needs root (network and mount namespaces, SlurmUser=root)")
	}
}

var (
	nameRE    = regexp.MustCompile(`^[a-z][a-z0-9-]{0,15}$`)
	featureRE = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,64}$`)
	dirRE     = regexp.MustCompile(`^/[A-Za-z0-9_./+-]*$`)
)

// maxDir bounds the cluster folder's length: a step's socket in slurmd's
// spool folder (dir/slurmd/spool/<node>_<job>.<step>) must stay within a
// Unix socket's 107 bytes.
const maxDir = 50

// options checks o and fills in its defaults.
func options(o Options) (Options, error) {
	if len(o.Nodes) == 0 {
		o.Nodes = []NodeSpec{
			{Name: "n1", Features: []string{"level-isolated", "level-trusted"}},
			{Name: "n2", Features: []string{"level-isolated"}},
		}
	}
	for i, l := range o.Scheduling {
		k, _, ok := strings.Cut(l, "=")
		if !ok || (k != "SchedulerType" && k != "SchedulerParameters") || strings.ContainsAny(l, "\n\r") {
			return o, fmt.Errorf("options: scheduling[%d]: %q: want SchedulerType=… or SchedulerParameters=…", i, l)
		}
	}
	if len(o.Nodes) > maxNodes {
		return o, fmt.Errorf("options: nodes: %d nodes, at most %d", len(o.Nodes), maxNodes)
	}
	nodes := make([]NodeSpec, len(o.Nodes))
	seen := map[string]bool{}
	for i, n := range o.Nodes {
		if !nameRE.MatchString(n.Name) {
			return o, fmt.Errorf("options: nodes[%d]: name %q: want a lower-case letter, then up to 15 lower-case letters, digits or '-'", i, n.Name)
		}
		if seen[n.Name] {
			return o, fmt.Errorf("options: nodes[%d]: name %q: two nodes have this name", i, n.Name)
		}
		seen[n.Name] = true
		for _, f := range n.Features {
			if !featureRE.MatchString(f) {
				return o, fmt.Errorf("options: node %s: feature %q: want letters, digits, '_', '.' or '-'", n.Name, f)
			}
		}
		if n.CPUs == 0 {
			n.CPUs = 2
		}
		if n.CPUs < 1 || n.CPUs > 1024 {
			return o, fmt.Errorf("options: node %s: cpus %d: want 1 to 1024", n.Name, n.CPUs)
		}
		n.Features = slices.Clone(n.Features)
		nodes[i] = n
	}
	o.Nodes = nodes
	for name, members := range o.Partitions {
		if !nameRE.MatchString(name) || name == DefaultPartition {
			return o, fmt.Errorf("options: partitions: name %q: want a lower-case name other than %q", name, DefaultPartition)
		}
		if len(members) == 0 {
			return o, fmt.Errorf("options: partition %s: no nodes", name)
		}
		for _, m := range members {
			if !seen[m] {
				return o, fmt.Errorf("options: partition %s: node %q: no such node", name, m)
			}
		}
	}
	share := make([]string, len(o.Share))
	for i, p := range o.Share {
		if !filepath.IsAbs(p) {
			return o, fmt.Errorf("options: share %q: not an absolute path", p)
		}
		p = filepath.Clean(p)
		if _, err := os.Stat(p); err != nil {
			return o, fmt.Errorf("options: share %q: %w", p, err)
		}
		share[i] = p
	}
	o.Share = share
	return o, nil
}

// StartIn starts a cluster in dir, a folder that is empty or does not
// exist yet (a short path: Slurm's sockets live in it), and returns it
// once every node is idle. When the cluster does not come up, it stops
// what it started and the error carries the tails of the daemons' logs.
func StartIn(dir string, o Options) (*Cluster, error) {
	o, err := options(o)
	if err != nil {
		return nil, err
	}
	dir, err = filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	if !dirRE.MatchString(dir) || len(dir) > maxDir {
		return nil, fmt.Errorf("cluster folder %q: want at most %d bytes of letters, digits and _./+- (it is written into slurm.conf, and Slurm's sockets live in it)", dir, maxDir)
	}
	for _, p := range o.Share {
		for _, h := range hiddenCandidates(dir) {
			if p == h || within(h, p) {
				return nil, fmt.Errorf("options: share %q: holds %s, which nodes must not see", p, h)
			}
		}
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	if ents, err := os.ReadDir(dir); err != nil {
		return nil, err
	} else if len(ents) > 0 {
		return nil, fmt.Errorf("cluster folder %s: not empty", dir)
	}
	c := &Cluster{
		Dir:      dir,
		Conf:     filepath.Join(dir, "etc", "slurm.conf"),
		NodeRoot: filepath.Join(dir, "node"),
		nsInodes: map[string]bool{},
	}
	if err := c.start(o); err != nil {
		stopErr := c.Stop()
		msg := fmt.Sprintf("start a Slurm cluster in %s: %v", dir, err)
		if stopErr != nil {
			msg += fmt.Sprintf("\n(and stop: %v)", stopErr)
		}
		return nil, errors.New(msg + c.logTails())
	}
	return c, nil
}

func (c *Cluster) start(o Options) error {
	for _, d := range []struct {
		path string
		mode os.FileMode
	}{
		{"etc", 0o755}, {"munge", 0o700}, {"ctld", 0o700}, {"log", 0o755}, {"node", 0o755}, {"nodes", 0o755},
	} {
		if err := os.Mkdir(filepath.Join(c.Dir, d.path), d.mode); err != nil {
			return err
		}
	}
	deadline := time.Now().Add(startTimeout)

	// munged, with a key of the cluster's own.
	key := make([]byte, 1024)
	rand.Read(key)
	mdir := filepath.Join(c.Dir, "munge")
	if err := os.WriteFile(filepath.Join(mdir, "munge.key"), key, 0o400); err != nil {
		return err
	}
	sock := filepath.Join(c.Dir, "etc", "munge.sock")
	var err error
	c.munged, err = startDaemon("munged", c.logPath("munged"), "munged", "--foreground", "--force",
		"--socket="+sock, "--key-file="+filepath.Join(mdir, "munge.key"),
		"--pid-file="+filepath.Join(mdir, "munged.pid"), "--seed-file="+filepath.Join(mdir, "munged.seed"),
		"--log-file="+filepath.Join(mdir, "munged.log"))
	if err != nil {
		return err
	}
	if err := waitFor(deadline, "munged's socket", []*daemon{c.munged}, func() error {
		_, err := os.Stat(sock)
		return err
	}); err != nil {
		return err
	}

	// The nodes' networks, then slurm.conf and the nodes' /etc/hosts.
	c.net, err = newClusterNet(c.Dir, len(o.Nodes))
	if err != nil {
		return err
	}
	for i, spec := range o.Nodes {
		ns := filepath.Join(c.Dir, "nodes", spec.Name)
		if err := os.Mkdir(ns, 0o755); err != nil {
			return err
		}
		if err := c.net.addNode(i, filepath.Join(ns, "netns")); err != nil {
			return fmt.Errorf("node %s: network: %w", spec.Name, err)
		}
		c.Nodes = append(c.Nodes, Node{Name: spec.Name, Addr: c.net.nodeAddr(i), Features: spec.Features})
	}
	if c.ctrlPort, err = freePort(); err != nil {
		return err
	}
	host, err := os.Hostname()
	if err != nil {
		return err
	}
	host, _, _ = strings.Cut(host, ".")
	if err := os.WriteFile(c.Conf, []byte(c.slurmConf(o, host, sock)), 0o644); err != nil {
		return err
	}
	hosts := fmt.Sprintf("127.0.0.1\tlocalhost\n%s\t%s\n", c.net.hostAddr(), host)
	for _, n := range c.Nodes {
		hosts += fmt.Sprintf("%s\t%s\n", n.Addr, n.Name)
	}
	if err := os.WriteFile(filepath.Join(c.Dir, "etc", "hosts"), []byte(hosts), 0o644); err != nil {
		return err
	}

	// slurmctld, on this host; the nodes once it answers.
	c.ctld, err = startDaemon("slurmctld", c.logPath("slurmctld"), "slurmctld", "-D", "-i", "-f", c.Conf)
	if err != nil {
		return err
	}
	if err := waitFor(deadline, "slurmctld to answer", []*daemon{c.munged, c.ctld}, func() error {
		out, err := c.command("scontrol", "ping").CombinedOutput()
		if err != nil || !bytes.Contains(out, []byte(" is UP")) {
			return fmt.Errorf("scontrol ping: %v: %s", err, bytes.TrimSpace(out))
		}
		return nil
	}); err != nil {
		return err
	}
	hidden, err := c.hiddenDirs()
	if err != nil {
		return err
	}
	for i, n := range c.Nodes {
		stageRoot := filepath.Join(c.Dir, "nodes", n.Name)
		script, err := c.nodeScript(n.Name, stageRoot, hidden, o.Share)
		if err != nil {
			return err
		}
		for j := range hidden {
			if err := os.Mkdir(filepath.Join(stageRoot, fmt.Sprintf("stage%d", j)), 0o755); err != nil {
				return err
			}
		}
		// sh reads its script from the file it keeps open, which is out of
		// the node's sight once the script has made the node's mounts.
		init := filepath.Join(stageRoot, "init.sh")
		if err := os.WriteFile(init, []byte(script), 0o644); err != nil {
			return err
		}
		d, err := startDaemon("slurmd "+n.Name, c.logPath(n.Name), "nsenter", "--net="+c.net.nodes[i].netns,
			"unshare", "--mount", "--uts", "--pid", "--fork", "--kill-child", "--mount-proc",
			"sh", init)
		if err != nil {
			return err
		}
		c.slurmds = append(c.slurmds, d)
		c.inits = append(c.inits, 0)
	}

	// Every node idle.
	all := append([]*daemon{c.munged, c.ctld}, c.slurmds...)
	if err := waitFor(deadline, "every node to be idle", all, c.allIdle); err != nil {
		return err
	}
	for i, d := range c.slurmds {
		init, err := onlyChild(d.cmd.Process.Pid)
		if err != nil {
			return fmt.Errorf("node %s: its init: %w", c.Nodes[i].Name, err)
		}
		c.inits[i] = init
		for _, ns := range []string{"pid", "mnt", "net", "uts"} {
			if l, err := os.Readlink(fmt.Sprintf("/proc/%d/ns/%s", init, ns)); err == nil {
				c.nsInodes[l] = true
			}
		}
	}
	return nil
}

// allIdle returns nil once sinfo lists every node of the cluster as idle.
func (c *Cluster) allIdle() error {
	out, err := c.command("sinfo", "-h", "-N", "-o", "%N %t").Output()
	if err != nil {
		return fmt.Errorf("sinfo: %w", err)
	}
	state := map[string]string{}
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if f := strings.Fields(l); len(f) == 2 {
			state[f[0]] = f[1]
		}
	}
	for _, n := range c.Nodes {
		if state[n.Name] != "idle" {
			return fmt.Errorf("sinfo: node %s is %q", n.Name, state[n.Name])
		}
	}
	return nil
}

// waitFor calls ready until it returns nil, failing when the deadline
// passes or one of ds exits.
func waitFor(deadline time.Time, what string, ds []*daemon, ready func() error) error {
	for {
		err := ready()
		if err == nil {
			return nil
		}
		for _, d := range ds {
			select {
			case <-d.done:
				return fmt.Errorf("waiting for %s: %s exited: %v", what, d.name, d.err)
			default:
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("waiting for %s: not within %v: %v", what, startTimeout, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Env is what srun, sinfo, squeue and scancel need in their environment
// to use this cluster.
func (c *Cluster) Env() []string {
	return []string{"SLURM_CONF=" + c.Conf}
}

// command is a Slurm client command for this cluster.
func (c *Cluster) command(name string, args ...string) *exec.Cmd {
	cmd := exec.Command(name, args...)
	cmd.Env = append(os.Environ(), c.Env()...)
	return cmd
}

// Jobs lists the cluster's jobs as squeue does: pending, running,
// completing and the other states of jobs not yet gone.
func (c *Cluster) Jobs() ([]Job, error) {
	const sep = "\x1f"
	cmd := c.command("squeue", "-h", "-a", "-o", strings.Join([]string{"%i", "%j", "%T", "%N"}, sep))
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("squeue: %v: %s", err, strings.TrimSpace(stderr.String()))
	}
	var jobs []Job
	for _, l := range strings.Split(string(out), "\n") {
		if l == "" {
			continue
		}
		f := strings.Split(l, sep)
		if len(f) != 4 {
			return nil, fmt.Errorf("squeue: unexpected line %q", l)
		}
		jobs = append(jobs, Job{ID: f[0], Name: f[1], State: f[2], Node: strings.TrimSpace(f[3])})
	}
	return jobs, nil
}

// WaitNoJobs returns once squeue lists no job, or ctx's error (with the
// jobs still listed) when it is done first.
func (c *Cluster) WaitNoJobs(ctx context.Context) error {
	for {
		jobs, err := c.Jobs()
		if err == nil && len(jobs) == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			if err != nil {
				return fmt.Errorf("%w (last: %v)", ctx.Err(), err)
			}
			return fmt.Errorf("%w: jobs still listed: %+v", ctx.Err(), jobs)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// Exec returns a command that runs args in node's namespaces (mount, UTS,
// network, PID), in its folder /: what a job on that node sees.
func (c *Cluster) Exec(node string, args ...string) *exec.Cmd {
	c.mu.Lock()
	defer c.mu.Unlock()
	for i, n := range c.Nodes {
		if n.Name == node && i < len(c.inits) && c.inits[i] != 0 {
			return exec.Command("nsenter", append([]string{"--target", strconv.Itoa(c.inits[i]),
				"--mount", "--uts", "--net", "--pid", "--wdns=/", "--"}, args...)...)
		}
	}
	cmd := exec.Command("false")
	cmd.Err = fmt.Errorf("slurmtest: no running node %q", node)
	return cmd
}

// Stop kills every process of the cluster and removes its network. It may
// be called more than once; each call returns the first one's error.
func (c *Cluster) Stop() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.stopped {
		return c.stopErr
	}
	c.stopped = true
	var errs []error
	// Each node: killing its init kills every process of its PID
	// namespace; unshare then reaps the init and exits.
	for i, d := range c.slurmds {
		init := 0
		if i < len(c.inits) {
			init = c.inits[i]
		}
		if init == 0 {
			init, _ = onlyChild(d.cmd.Process.Pid)
		}
		if init != 0 {
			syscall.Kill(init, syscall.SIGKILL)
			d.wait(stopWait)
		}
		if err := d.stop(syscall.SIGKILL); err != nil {
			errs = append(errs, err)
		}
		if i < len(c.inits) {
			c.inits[i] = 0
		}
	}
	for _, d := range []*daemon{c.ctld, c.munged} {
		if d != nil {
			if err := d.stop(syscall.SIGTERM); err != nil {
				errs = append(errs, err)
			}
		}
	}
	if c.net != nil {
		if err := c.net.remove(); err != nil {
			errs = append(errs, err)
		}
	}
	c.stopErr = errors.Join(errs...)
	return c.stopErr
}

// onlyChild returns the process whose parent is pid (unshare's one child,
// a node's init).
func onlyChild(pid int) (int, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", pid, pid))
	if err != nil {
		return 0, err
	}
	f := strings.Fields(string(b))
	if len(f) != 1 {
		return 0, fmt.Errorf("process %d has children %q, want one", pid, f)
	}
	return strconv.Atoi(f[0])
}

func (c *Cluster) logPath(name string) string {
	return filepath.Join(c.Dir, "log", name+".log")
}

// logTails is the last lines of every daemon's log.
func (c *Cluster) logTails() string {
	names := []string{"munged", "slurmctld"}
	for _, n := range c.Nodes {
		names = append(names, n.Name)
	}
	var b strings.Builder
	for _, n := range names {
		data, err := os.ReadFile(c.logPath(n))
		if err != nil {
			continue
		}
		lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
		if len(lines) > 15 {
			lines = lines[len(lines)-15:]
		}
		fmt.Fprintf(&b, "\n--- %s (last lines):\n%s", c.logPath(n), strings.Join(lines, "\n"))
	}
	return b.String()
}

// within reports whether p is strictly inside dir.
func within(p, dir string) bool {
	return strings.HasPrefix(p, strings.TrimSuffix(dir, "/")+"/")
}
