package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/autobuild/autobuild/engine/executor"
	"github.com/autobuild/autobuild/engine/executor/slurm"
	"github.com/autobuild/autobuild/internal/slurmtest"
	"github.com/autobuild/autobuild/sandbox"
)

// lastCPU is the machine's CPU time per build of the last noop series.
var lastCPU time.Duration

// clusterRuns is how many no-op builds (and srun round trips) the
// overhead figure takes the median of.
const clusterRuns = 30

// benchCluster starts a two-node Slurm cluster on this machine (two
// slots per node, the nodes in network namespaces of their own with
// private folders) and measures, in the same run:
//
//   - a no-op build (`true` at the isolated level, a one-file source
//     tree, one dependency) run through the Slurm executor, against
//     srun's own round trip of /bin/true on the same nodes: the
//     difference is what autobuild adds per module (target: < 30 ms); the
//     same step through the local executor shows what confinement costs
//     wherever it runs;
//   - the makespan figure's DAG on the cluster at -j 4 (2 nodes × 2
//     slots), against the same DAG built here at -j 4.
func benchCluster(bin, dir string) {
	fmt.Printf("\n== cluster: a two-node Slurm cluster on this machine (2 slots per node)\n")
	if os.Geteuid() != 0 {
		fmt.Println("  skipped: a test cluster needs root")
		return
	}
	for _, tool := range []string{"slurmctld", "slurmd", "srun", "munged", "ip", "nsenter"} {
		if _, err := exec.LookPath(tool); err != nil {
			fmt.Printf("  skipped: %s is not installed (slurmctld, slurmd, slurm-client, munge, iproute2)\n", tool)
			return
		}
	}
	must(os.MkdirAll(dir, 0o755))
	cdir, err := os.MkdirTemp("", "bench-slurm-")
	must(err)
	defer os.RemoveAll(cdir)
	start := func(name string, scheduling []string) *slurmtest.Cluster {
		dir := filepath.Join(cdir, name)
		must(os.MkdirAll(dir, 0o755))
		c, err := slurmtest.StartIn(dir, slurmtest.Options{
			Nodes: []slurmtest.NodeSpec{
				{Name: "n1", Features: []string{"level-isolated", "level-unconfined"}, CPUs: 2},
				{Name: "n2", Features: []string{"level-isolated", "level-unconfined"}, CPUs: 2},
			},
			Share:      []string{filepath.Dir(bin)},
			Scheduling: scheduling,
		})
		must(err)
		return c
	}
	c := start("default", nil)
	defer c.Stop()

	// srun's own round trip.
	fmt.Printf("  (CPU times below: the machine's busy time, all processes, less its idle rate of %.0f ms/s)\n", 1000*func() float64 { machineBusy(); return idleRate }())
	var trips []time.Duration
	busy := machineBusy()
	for range clusterRuns {
		cmd := exec.Command("srun", "--nodes=1", "--ntasks=1", "--quiet", "--constraint=level-isolated", "/bin/true")
		cmd.Env = append(os.Environ(), c.Env()...)
		t := time.Now()
		if out, err := cmd.CombinedOutput(); err != nil {
			must(fmt.Errorf("srun /bin/true: %v: %s", err, out))
		}
		trips = append(trips, time.Since(t))
	}
	trip := median(trips)
	tripCPU := (machineBusy() - busy) / clusterRuns

	// A no-op build, the Slurm executor against the local one.
	host := sandbox.ProbeHost()
	noop := func(ex executor.Executor, root string) time.Duration {
		ws := ex.Workspace()
		must(ws.Init())
		l := ws.Layout()
		id := sandbox.AssignIDs([]string{"m"})["m"]
		src, inst, pkg, tmp, dep := l.SourceDir("m"), l.InstallDir("m"), l.PackageDir("m"), l.TmpDir("m"), l.InstallDir("dep")
		for _, d := range []string{src, inst, pkg, tmp, dep} {
			must(ws.PrepareDir(d, id, true))
		}
		must(os.WriteFile(filepath.Join(src, "autobuild.sh"), []byte("#!/bin/sh\ntrue\n"), 0o755))
		must(os.WriteFile(filepath.Join(dep, "lib.h"), []byte("#define DEP 1\n"), 0o644))
		lv := sandbox.Builtin()["isolated"]
		p := sandbox.Profile{Level: "isolated", Confined: true, Network: lv.Network, Limits: lv.Limits, UID: -1, GID: -1}
		if ex.SeparateUIDs() {
			p.UID, p.GID = id.UID, id.UID
		}
		var ds []time.Duration
		busy := machineBusy()
		defer func() { lastCPU = (machineBusy() - busy) / clusterRuns }()
		for range clusterRuns {
			t := time.Now()
			res, err := ex.Run(context.Background(), &executor.Step{
				Module: "m", ID: id, Args: []string{"/bin/true"}, Dir: src, Env: executor.BaseEnv(tmp),
				Stdout: io.Discard, Stderr: io.Discard, Profile: p, Timeout: time.Minute,
				Inputs: []string{dep}, Outputs: []string{src, inst, pkg, tmp}, Scratch: []string{src},
			})
			if err != nil || res.ExitCode != 0 {
				must(fmt.Errorf("no-op build: exit %d, %v", res.ExitCode, err))
			}
			ds = append(ds, time.Since(t))
		}
		return median(ds)
	}
	localRoot := filepath.Join(dir, "local")
	local := executor.NewLocal(&sandbox.Exec{Self: sandbox.HelperBeside(bin), Host: host}, host, bin, localRoot)
	here := noop(local, localRoot)
	hereCPU := lastCPU
	remoteRoot := filepath.Join(dir, "remote")
	rl := executor.NewLocal(&sandbox.Exec{Self: sandbox.HelperBeside(bin), Host: host}, host, bin, remoteRoot)
	sx := slurm.New(rl, slurm.Options{Env: c.Env(), Bin: bin, NodeRoot: c.NodeRoot,
		Place: func(level string) slurm.Placement { return slurm.Placement{Constraint: "level-" + level} }})
	must(sx.Probe(context.Background(), []string{"isolated"}))
	remote := noop(sx, remoteRoot)
	remoteCPU := lastCPU
	over := remote - trip
	fmt.Printf("  %-34s %7.1f ms (median of %d; CPU %.0f ms each, all processes)\n", "srun /bin/true round trip", ms(trip), clusterRuns, ms(tripCPU))
	fmt.Printf("  %-34s %7.1f ms (CPU %.0f ms)\n", "no-op build here (isolated)", ms(here), ms(hereCPU))
	fmt.Printf("  %-34s %7.1f ms (CPU %.0f ms): %.1f ms beyond srun's round trip %s\n", "no-op build on a node (isolated)", ms(remote), ms(remoteCPU), ms(over), verdict(over < 30*time.Millisecond))

	// The makespan DAG: 2 nodes × 2 slots against -j 4 here.
	n, j := *dagNodes, 4
	dur, deps := sleepDAG(n)
	url := filepath.Join(dir, "repos", "sleep")
	makeRepo(url, map[string]string{"README": "sleep\n"})
	fmt.Printf("  makespan of the %d-module DAG of sleep builds (isolated), median of 3 forced runs:\n", n)
	busy = machineBusy()
	hereSpan := dagSpan(bin, filepath.Join(dir, "dag-local"), url, "", "isolated", dur, deps, j)
	hereBusy := machineBusy() - busy
	fmt.Printf("  %-34s %7.0f ms (the machine's CPUs busy %.1f s over the 4 runs)\n", fmt.Sprintf("here, -j %d", j), ms(hereSpan), hereBusy.Seconds())
	onCluster := func(c *slurmtest.Cluster, name, what string) {
		extra := fmt.Sprintf("executor: {kind: slurm, slurm_conf: %s, node_root: %s}\n", c.Conf, c.NodeRoot)
		busy := machineBusy()
		span := dagSpan(bin, filepath.Join(dir, "dag-"+name), url, extra, "isolated", dur, deps, j)
		used := machineBusy() - busy
		fmt.Printf("  %-34s %7.0f ms (%.2f × here; CPUs busy %.1f s: the nodes, Slurm and the engine share this machine's %d CPUs)\n",
			fmt.Sprintf("2 nodes × 2 slots, -j %d, %s", j, what), ms(span), float64(span)/float64(hereSpan), used.Seconds(), cpus())
	}
	onCluster(c, "cluster", "Slurm's default scheduling")
	c.Stop()
	fast := start("fast", slurmtest.FastScheduling)
	defer fast.Stop()
	onCluster(fast, "cluster-fast", "scheduling as slots free")
}

// idleRate is how much CPU time per second this machine spends busy
// while nothing of the benchmark runs (kernel threads, other guests'
// steal), measured over 2 s at machineBusy's first call, from which
// machineBusy counts.
var (
	idleRate  float64
	busySince time.Time
)

// machineBusy is the CPU time this machine has spent busy since its
// first call, all CPUs together, less what it spends busy when idle.
func machineBusy() time.Duration {
	if busySince.IsZero() {
		a, t := rawBusy(), time.Now()
		time.Sleep(2 * time.Second)
		idleRate = float64(rawBusy()-a) / float64(time.Since(t))
		busySince = time.Now()
	}
	return rawBusy() - time.Duration(idleRate*float64(time.Since(busySince)))
}

// rawBusy is the CPU time this machine has spent not idle since it
// booted (/proc/stat), all CPUs together.
func rawBusy() time.Duration {
	b, err := os.ReadFile("/proc/stat")
	must(err)
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line) // cpu user nice system idle iowait irq softirq steal ...
	var ticks int64
	for i, v := range f[1:] {
		if i == 3 || i == 4 { // idle, iowait
			continue
		}
		if i >= 8 { // guest time is in user already
			break
		}
		n, _ := strconv.ParseInt(v, 10, 64)
		ticks += n
	}
	return time.Duration(ticks) * time.Second / 100 // USER_HZ
}
