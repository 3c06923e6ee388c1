// Command autobuild-bench prints autobuild's performance figures beside
// reference points measured in the same run on the same inputs:
//
//   - spawn overhead of each trust level against plain fork/exec and
//     bubblewrap (when installed);
//   - a no-change run over 500 local git modules;
//   - the disk a 60 MB build log takes over four runs (one build, three
//     no-change runs, three sites kept, the build archive on), and the
//     time of those no-change runs, against one copy of it per place and
//     the time of cp;
//   - engine overhead per no-op module (1000 modules whose build is
//     `true`, cache off) against plain fork/exec;
//   - the makespan of a random 200-module DAG of sleep builds at -j N
//     against max(critical path, total work / N) and GNU make -j N;
//   - `plan` of a chain of 10,000 modules against ten times that of
//     1,000 (what linear planning takes);
//   - a no-change run over 200 modules of every source kind (git, svn,
//     cvs, hg, brz, darcs, fossil, dir) against a sequential shell loop
//     of each tool's own newest-revision query over the same
//     repositories (scm.go).
//   - the site's apt and yum repositories over 1,000 .deb and 1,000 .rpm
//     packages with one of each changed, against apt-ftparchive and
//     createrepo_c re-indexing them all (repos.go).
//   - publishing the site of a run of 500 modules (2,000 artifacts) with
//     200 runs of history, by phase (publish.go).
//   - on a two-node Slurm cluster started here: a no-op build's overhead
//     beyond srun's own round trip, and the makespan DAG on 2 nodes × 2
//     slots against the same DAG here at -j 4 (cluster.go).
//
// Synthetic modules are generated in a temporary folder. `make bench` runs it.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"

	gogit "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing/object"

	"github.com/autobuild/autobuild/engine/report"
	"github.com/autobuild/autobuild/sandbox"
)

var (
	binFlag   = flag.String("bin", "bin/autobuild", "the autobuild binary to measure")
	only      = flag.String("only", "", "comma-separated subset: spawn,nochange,biglog,overhead,makespan,plan,scm,repos,publish,cluster")
	spawnN    = flag.Int("spawn-n", 300, "spawns per spawn figure")
	jobs      = flag.Int("j", 4, "workers for the makespan figure")
	dagNodes  = flag.Int("dag", 200, "modules in the makespan DAG")
	keepFlag  = flag.Bool("keep", false, "keep the generated folders")
	dagTrust  = flag.String("dag-trust", "isolated,unconfined", "trust levels of the makespan modules (comma-separated)")
	nochangeN = flag.Int("nochange-modules", 500, "modules in the no-change figure")
	overheadN = flag.Int("overhead-modules", 1000, "modules in the overhead figure")
	bigLogMB  = flag.Int("biglog-mb", 60, "size of the build log in the biglog figure, in MB (a step logs at most 64 MiB by default)")
)

func main() {
	flag.Parse()
	bin, err := filepath.Abs(*binFlag)
	must(err)
	work, err := os.MkdirTemp("", "autobuild-bench-")
	must(err)
	must(os.Chmod(work, 0o755))
	if !*keepFlag {
		defer os.RemoveAll(work)
	}
	want := func(name string) bool { return *only == "" || strings.Contains(","+*only+",", ","+name+",") }
	fmt.Printf("autobuild benchmarks (%s, %d CPUs)\n", time.Now().Format("2006-01-02"), cpus())
	var plain time.Duration
	if want("spawn") || want("overhead") {
		plain = spawnPlain(*spawnN)
	}
	if want("spawn") {
		benchSpawn(bin, work, plain)
	}
	if want("nochange") {
		benchNoChange(bin, filepath.Join(work, "nochange"))
	}
	if want("biglog") {
		benchBigLog(bin, filepath.Join(work, "biglog"))
	}
	if want("overhead") {
		benchOverhead(bin, filepath.Join(work, "overhead"), plain)
	}
	if want("makespan") {
		benchMakespan(bin, filepath.Join(work, "makespan"))
	}
	if want("plan") {
		benchPlan(bin, filepath.Join(work, "plan"))
	}
	if want("scm") {
		benchSCM(bin, filepath.Join(work, "scm"))
	}
	if want("repos") {
		benchRepos(filepath.Join(work, "repos"))
	}
	if want("publish") {
		benchPublish(filepath.Join(work, "publish"))
	}
	if want("cluster") {
		benchCluster(bin, filepath.Join(work, "cluster"))
	}
}

func must(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, "autobuild-bench:", err)
		os.Exit(1)
	}
}

func cpus() int {
	b, _ := exec.Command("nproc").Output()
	var n int
	fmt.Sscan(string(b), &n)
	return n
}

// median of a set of durations.
func median(ds []time.Duration) time.Duration {
	sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
	return ds[len(ds)/2]
}

func spawnPlain(n int) time.Duration {
	var ds []time.Duration
	for range n {
		t := time.Now()
		must(exec.Command("/bin/true").Run())
		ds = append(ds, time.Since(t))
	}
	return median(ds)
}

// benchSpawn: the cost of starting one /bin/true at each trust level,
// beside bubblewrap with a comparable view, in the same run.
func benchSpawn(bin, work string, plain time.Duration) {
	fmt.Printf("\n== spawn overhead per step (/bin/true, median of %d)\n", *spawnN)
	fmt.Printf("  %-44s %8.2f ms\n", "plain fork/exec", ms(plain))
	dir := filepath.Join(work, "spawn")
	must(os.MkdirAll(dir, 0o755))
	if _, err := exec.LookPath("bwrap"); err == nil {
		for _, b := range []struct {
			name string
			args []string
		}{
			{"bwrap --unshare-net/pid, host /", []string{"--unshare-net", "--unshare-pid", "--ro-bind", "/", "/", "--dev", "/dev"}},
			// What isolated gives a step: system folders read-only, its
			// folder writable, fresh /proc, minimal /dev, private /tmp.
			{"bwrap --unshare-all, comparable view", append(bwrapSystem(), "--unshare-all", "--proc", "/proc", "--dev", "/dev",
				"--tmpfs", "/tmp", "--tmpfs", "/dev/shm", "--bind", dir, dir, "--chdir", dir)},
		} {
			var ds []time.Duration
			for range *spawnN {
				t := time.Now()
				must(exec.Command("bwrap", append(b.args, "/bin/true")...).Run())
				ds = append(ds, time.Since(t))
			}
			d := median(ds)
			fmt.Printf("  %-44s %8.2f ms  (+%.2f ms)\n", b.name, ms(d), ms(d-plain))
		}
	} else {
		fmt.Printf("  %-44s not installed (apt-get install bubblewrap)\n", "bwrap")
	}
	host := sandbox.ProbeHost()
	if host.Root {
		must(os.Chown(dir, sandbox.BuildUID("bench"), sandbox.BuildUID("bench")))
	}
	helpers := []struct{ name, path string }{{"autobuild-helper", sandbox.HelperBeside(bin)}, {"autobuild binary", bin}}
	if helpers[0].path == bin {
		helpers = helpers[1:] // no small helper beside the binary
	}
	// As the engine starts steps: each in a cgroup of its own (where the
	// host has cgroup v2), killed and removed when it ends.
	scope := sandbox.NewScope(work, filepath.Join(work, "steps"))
	for _, h := range helpers {
		runner := &sandbox.Exec{Self: h.path, Host: host}
		for _, name := range []string{"unconfined", "isolated", "network", "trusted", "unconfined+cgroup", "isolated+cgroup"} {
			tracked := strings.HasSuffix(name, "+cgroup")
			name := strings.TrimSuffix(name, "+cgroup")
			if name == "unconfined" && h.path == bin {
				continue // no helper at all: measured once
			}
			lv := sandbox.Builtin()[name]
			p := sandbox.Profile{Level: name, Confined: lv.Confined, Network: lv.Network, Limits: lv.Limits,
				UID: -1, GID: -1, Write: []string{dir}}
			if host.Root && lv.Confined {
				p.UID, p.GID = sandbox.BuildUID("bench"), sandbox.BuildUID("bench")
			}
			var ds []time.Duration
			for range *spawnN {
				t := time.Now()
				step := &sandbox.Step{Args: []string{"/bin/true"}, Dir: dir, Env: []string{"PATH=/usr/bin:/bin"}, Profile: p}
				if tracked {
					step.Name, step.Scope = "bench-"+name, scope
				}
				res, err := runner.Run(context.Background(), step)
				must(err)
				if res.ExitCode != 0 {
					must(fmt.Errorf("level %s: exit %d", name, res.ExitCode))
				}
				ds = append(ds, time.Since(t))
			}
			d := median(ds)
			label := "autobuild " + name
			if lv.Confined {
				label += " (" + h.name + ")"
			}
			if tracked {
				label += " + cgroup"
			}
			fmt.Printf("  %-44s %8.2f ms  (+%.2f ms)\n", label, ms(d), ms(d-plain))
		}
	}
}

// bwrapSystem binds the system folders read-only, keeping /bin and /lib
// as the symlinks they are on a merged-/usr system.
func bwrapSystem() []string {
	var args []string
	for _, d := range []string{"/usr", "/etc", "/opt", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"} {
		info, err := os.Lstat(d)
		switch {
		case err != nil:
		case info.Mode()&os.ModeSymlink != 0:
			target, err := os.Readlink(d)
			must(err)
			args = append(args, "--symlink", target, d)
		default:
			args = append(args, "--ro-bind", d, d)
		}
	}
	return args
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// makeRepo creates a one-commit git repository in-process (fast).
func makeRepo(dir string, files map[string]string) {
	must(os.MkdirAll(dir, 0o755))
	r, err := gogit.PlainInit(dir, false)
	must(err)
	w, err := r.Worktree()
	must(err)
	for name, body := range files {
		must(os.WriteFile(filepath.Join(dir, name), []byte(body), 0o755))
		_, err = w.Add(name)
		must(err)
	}
	_, err = w.Commit("bench", &gogit.CommitOptions{Author: &object.Signature{Name: "bench", Email: "b@example.invalid", When: time.Now()}})
	must(err)
}

type module struct {
	name, url, command, trust string
	deps                      []string
}

func writeConfig(path, extra string, mods []module) {
	var b strings.Builder
	b.WriteString("build_root: build\n" + extra + "modules:\n")
	for _, m := range mods {
		fmt.Fprintf(&b, "  - name: %s\n    source: {url: %q}\n", m.name, m.url)
		if m.command != "" {
			fmt.Fprintf(&b, "    command: %q\n", m.command)
		}
		if m.trust != "" {
			fmt.Fprintf(&b, "    trust: %s\n", m.trust)
		}
		if len(m.deps) > 0 {
			fmt.Fprintf(&b, "    depends: [%s]\n", strings.Join(m.deps, ", "))
		}
	}
	must(os.WriteFile(path, []byte(b.String()), 0o644))
}

// run runs autobuild and returns its wall time and the published status.
func run(bin, cfg string, args ...string) (time.Duration, *report.Run) {
	cmd := exec.Command(bin, append([]string{"run", "--config", cfg, "--progress=quiet"}, args...)...)
	var errb bytes.Buffer
	cmd.Stderr = &errb
	t := time.Now()
	err := cmd.Run()
	d := time.Since(t)
	if err != nil {
		must(fmt.Errorf("autobuild run: %v\n%s", err, errb.String()))
	}
	b, err := os.ReadFile(filepath.Join(filepath.Dir(cfg), "build", "public_html", "status.json"))
	must(err)
	var r report.Run
	must(json.Unmarshal(b, &r))
	return d, &r
}

func benchNoChange(bin, dir string) {
	n := *nochangeN
	fmt.Printf("\n== no-change run over %d local git modules (target ≤ 1 s)\n", n)
	var mods []module
	for i := range n {
		name := fmt.Sprintf("m%04d", i)
		url := filepath.Join(dir, "repos", name)
		makeRepo(url, map[string]string{"autobuild.sh": "#!/bin/sh\necho ok > \"$AUTOBUILD_PACKAGE_ROOT/out\"\n"})
		mods = append(mods, module{name: name, url: url})
	}
	cfg := filepath.Join(dir, "autobuild.yaml")
	writeConfig(cfg, "", mods)
	first, _ := run(bin, cfg)
	var ds []time.Duration
	for range 5 {
		d, r := run(bin, cfg)
		s := r.Summarize()
		if s.Reused != n {
			must(fmt.Errorf("no-change run rebuilt modules: %+v", s))
		}
		ds = append(ds, d)
	}
	m := median(ds)
	fmt.Printf("  %-28s %8.0f ms\n", "first run (checkout+build)", ms(first))
	fmt.Printf("  %-28s %8.0f ms  (%.2f ms per module) %s\n", "no-change run (median of 5)", ms(m), ms(m)/float64(n), verdict(m <= time.Second))
}

// benchPlan: `autobuild plan --json` of a chain of n modules (each
// depending on the one before), for 1,000 and 10,000 modules.
func benchPlan(bin, dir string) {
	fmt.Printf("\n== plan of a 10,000-module chain (target ≤ 1 s; linear: ≈ 10 × 1,000 modules)\n")
	must(os.MkdirAll(dir, 0o755))
	var took, cpu [2]time.Duration
	for k, n := range []int{1000, 10000} {
		mods := make([]module, n)
		for i := range mods {
			mods[i] = module{name: fmt.Sprintf("m%d", i), url: "/srv/git/m" + fmt.Sprint(i)}
			if i > 0 {
				mods[i].deps = []string{mods[i-1].name}
			}
		}
		cfg := filepath.Join(dir, fmt.Sprintf("chain%d.yaml", n))
		writeConfig(cfg, "", mods)
		var ds, cs []time.Duration
		for range 3 {
			cmd := exec.Command(bin, "plan", "--json", "--config", cfg)
			var errb bytes.Buffer
			cmd.Stderr = &errb
			t := time.Now()
			if err := cmd.Run(); err != nil {
				must(fmt.Errorf("autobuild plan: %v\n%s", err, errb.String()))
			}
			ds = append(ds, time.Since(t))
			cs = append(cs, cmd.ProcessState.UserTime()+cmd.ProcessState.SystemTime())
		}
		took[k], cpu[k] = median(ds), median(cs)
	}
	// CPU time too: on a shared machine it says more than the wall clock.
	fmt.Printf("  %-28s %8.0f ms  (CPU %.0f ms)\n", "plan, 1,000 modules", ms(took[0]), ms(cpu[0]))
	fmt.Printf("  %-28s %8.0f ms  (CPU %.0f ms, %.1f × the 1,000) %s\n", "plan, 10,000 modules", ms(took[1]), ms(cpu[1]), float64(cpu[1])/float64(cpu[0]), verdict(took[1] <= time.Second))
}

func verdict(ok bool) string {
	if ok {
		return "target met"
	}
	return "TARGET MISSED"
}

// benchBigLog: one module whose build writes a big log, built once
// and then reused by three no-change runs, with three sites kept and the
// build archive on. The disk use counts each inode of log-root,
// build-archive and sites once, as du does.
func benchBigLog(bin, dir string) {
	size := *bigLogMB * 1_000_000
	fmt.Printf("\n== a %d MB build log over 4 runs (1 build, 3 no-change), 3 sites kept, build archive on\n", size/1_000_000)
	url := filepath.Join(dir, "repos", "big")
	makeRepo(url, map[string]string{"autobuild.sh": fmt.Sprintf("#!/bin/sh\nyes 'a line of build output, as long as most' | head -c %d\n", size)})
	cfg := filepath.Join(dir, "autobuild.yaml")
	writeConfig(cfg, "publish: {keep: 3}\n", []module{{name: "big", url: url}})
	first, _ := run(bin, cfg)
	var ds []time.Duration
	for range 3 {
		d, r := run(bin, cfg)
		if s := r.Summarize(); s.Reused != 1 {
			must(fmt.Errorf("no-change run rebuilt: %+v", s))
		}
		ds = append(ds, d)
	}
	root := filepath.Join(dir, "build")
	seen := map[uint64]bool{}
	var use int64
	for _, sub := range []string{"log-root", "build-archive", "sites"} {
		must(filepath.WalkDir(filepath.Join(root, sub), func(p string, d os.DirEntry, err error) error {
			if err != nil || !d.Type().IsRegular() {
				return err
			}
			info, err := d.Info()
			if err != nil {
				return err
			}
			if st := info.Sys().(*syscall.Stat_t); !seen[st.Ino] {
				seen[st.Ino] = true
				use += st.Blocks * 512
			}
			return nil
		}))
	}
	log := filepath.Join(root, "log-root", "1", "big.log")
	info, err := os.Stat(log)
	must(err)
	logUse := info.Sys().(*syscall.Stat_t).Blocks * 512
	// Reference: what copying the log takes, here and now.
	var cps []time.Duration
	for i := range 3 {
		cp := filepath.Join(dir, fmt.Sprintf("copy-%d.log", i))
		t := time.Now()
		must(exec.Command("cp", log, cp).Run())
		cps = append(cps, time.Since(t))
		must(os.Remove(cp))
	}
	mb := func(n int64) float64 { return float64(n) / 1e6 }
	fmt.Printf("  %-28s %8.1f MB  (the log: %.1f MB; a copy in each place, log-root, archive and 3 sites: %.1f MB)\n",
		"disk use after 4 runs", mb(use), mb(logUse), mb(5*logUse))
	fmt.Printf("  %-28s %8.0f ms\n", "first run (build)", ms(first))
	fmt.Printf("  %-28s %8.0f ms  (cp of the log: %.0f ms)\n", "no-change run (median of 3)", ms(median(ds)), ms(median(cps)))
}

func benchOverhead(bin, dir string, plain time.Duration) {
	n := *overheadN
	fmt.Printf("\n== engine overhead per no-op module (%d modules, build `true`, cache off, -j 1; target ≤ 2 ms)\n", n)
	url := filepath.Join(dir, "repos", "noop")
	makeRepo(url, map[string]string{"README": "no-op\n"})
	for _, trust := range []string{"unconfined", "isolated"} {
		var mods []module
		for i := range n {
			mods = append(mods, module{name: fmt.Sprintf("n%04d", i), url: url, command: "true", trust: trust})
		}
		sub := filepath.Join(dir, trust)
		must(os.MkdirAll(sub, 0o755))
		cfg := filepath.Join(sub, "autobuild.yaml")
		writeConfig(cfg, "archive: {disabled: true}\n", mods)
		run(bin, cfg, "-j", "1") // checks out every module once
		d, r := run(bin, cfg, "-j", "1")
		if s := r.Summarize(); s.Built != n {
			must(fmt.Errorf("overhead run: %+v", s))
		}
		per := d / time.Duration(n)
		fmt.Printf("  %-28s %8.0f ms total, %.2f ms per module; minus plain fork/exec (%.2f ms): %.2f ms overhead",
			"level "+trust, ms(d), ms(per), ms(plain), ms(per-plain))
		if trust == "unconfined" {
			fmt.Printf(" %s\n", verdict(per-plain <= 2*time.Millisecond))
		} else {
			fmt.Printf(" (includes the confined spawn above)\n")
		}
	}
}

// benchMakespan: a random DAG of sleep builds at -j N.
func benchMakespan(bin, dir string) {
	n, j := *dagNodes, *jobs
	dur, deps := sleepDAG(n)
	// Bound: max(critical path, total / N).
	finish := make([]time.Duration, n)
	var total, cp time.Duration
	for i := range n {
		var start time.Duration
		for _, d := range deps[i] {
			start = max(start, finish[d])
		}
		finish[i] = start + dur[i]
		cp = max(cp, finish[i])
		total += dur[i]
	}
	bound := max(cp, total/time.Duration(j))
	fmt.Printf("\n== makespan: random %d-module DAG of sleep builds at -j %d (target ≤ 1.05 × bound)\n", n, j)
	fmt.Printf("  %-28s %8.0f ms (critical path %.0f ms, total work %.0f ms / %d)\n", "bound", ms(bound), ms(cp), ms(total), j)

	sim := simulate(dur, deps, j)
	fmt.Printf("  %-28s %8.0f ms  (%.3f × bound)\n", "ideal CP-first (simulated)", ms(sim), float64(sim)/float64(bound))

	url := filepath.Join(dir, "repos", "sleep")
	makeRepo(url, map[string]string{"README": "sleep\n"})
	var mk strings.Builder
	mk.WriteString("all:")
	for i := range n {
		fmt.Fprintf(&mk, " n%03d", i)
	}
	mk.WriteString("\n")
	for i := range n {
		fmt.Fprintf(&mk, "n%03d:", i)
		for _, d := range deps[i] {
			fmt.Fprintf(&mk, " n%03d", d)
		}
		fmt.Fprintf(&mk, "\n\t@sleep %.3f\n", dur[i].Seconds())
	}
	must(os.MkdirAll(dir, 0o755))
	must(os.WriteFile(filepath.Join(dir, "Makefile"), []byte(mk.String()), 0o644))
	t := time.Now()
	mkcmd := exec.Command("make", "-s", "-j", fmt.Sprint(j), "-C", dir, "all")
	if out, err := mkcmd.CombinedOutput(); err != nil {
		must(fmt.Errorf("make: %v\n%s", err, out))
	}
	makeTime := time.Since(t)
	fmt.Printf("  %-28s %8.0f ms  (%.3f × bound)\n", fmt.Sprintf("GNU make -j %d", j), ms(makeTime), float64(makeTime)/float64(bound))

	for _, trust := range strings.Split(*dagTrust, ",") {
		span := dagSpan(bin, filepath.Join(dir, trust), url, "", trust, dur, deps, j)
		fmt.Printf("  %-28s %8.0f ms  (%.3f × bound) %s\n", fmt.Sprintf("autobuild -j %d (%s)", j, trust), ms(span), float64(span)/float64(bound),
			verdict(float64(span) <= 1.05*float64(bound)))
	}
}

// sleepDAG is the makespan figures' random DAG of n sleep builds: their
// durations (20 to 200 ms) and each one's dependencies.
func sleepDAG(n int) ([]time.Duration, [][]int) {
	rng := rand.New(rand.NewPCG(42, 7))
	dur := make([]time.Duration, n)
	deps := make([][]int, n)
	for i := range n {
		dur[i] = time.Duration(20+rng.IntN(180)) * time.Millisecond
		// Edges only to earlier nodes: a DAG. Sparse, with some long chains.
		for k := 0; k < 3 && i > 0; k++ {
			if rng.Float64() < 0.5 {
				d := i - 1 - rng.IntN(min(i, 12))
				deps[i] = append(deps[i], d)
			}
		}
		slices_dedup(&deps[i])
	}
	return dur, deps
}

// dagSpan runs the DAG's modules (all at trust, from the repository url,
// with extra configuration) at -j j in dir: a first run checks out and
// learns the durations, then the median makespan of three forced runs.
func dagSpan(bin, dir, url, extra, trust string, dur []time.Duration, deps [][]int, j int) time.Duration {
	var mods []module
	for i := range dur {
		m := module{name: fmt.Sprintf("n%03d", i), url: url, command: fmt.Sprintf("sleep %.3f", dur[i].Seconds()), trust: trust}
		for _, d := range deps[i] {
			m.deps = append(m.deps, fmt.Sprintf("n%03d", d))
		}
		mods = append(mods, m)
	}
	must(os.MkdirAll(dir, 0o755))
	cfg := filepath.Join(dir, "autobuild.yaml")
	writeConfig(cfg, extra, mods)
	run(bin, cfg, "-j", fmt.Sprint(j))
	var spans []time.Duration
	for range 3 {
		_, r := run(bin, cfg, "-j", fmt.Sprint(j), "--force")
		spans = append(spans, r.Duration)
	}
	return median(spans)
}

func slices_dedup(s *[]int) {
	seen := map[int]bool{}
	out := (*s)[:0]
	for _, v := range *s {
		if !seen[v] {
			seen[v] = true
			out = append(out, v)
		}
	}
	*s = out
}

// simulate list-schedules the DAG on j workers, longest remaining critical
// path first, with no overhead: what the policy alone achieves.
func simulate(dur []time.Duration, deps [][]int, j int) time.Duration {
	n := len(dur)
	rdeps := make([][]int, n)
	pending := make([]int, n)
	for i := range n {
		pending[i] = len(deps[i])
		for _, d := range deps[i] {
			rdeps[d] = append(rdeps[d], i)
		}
	}
	prio := make([]time.Duration, n)
	for i := n - 1; i >= 0; i-- {
		var m time.Duration
		for _, r := range rdeps[i] {
			m = max(m, prio[r])
		}
		prio[i] = dur[i] + m
	}
	var ready []int
	for i := range n {
		if pending[i] == 0 {
			ready = append(ready, i)
		}
	}
	type job struct {
		node int
		end  time.Duration
	}
	var running []job
	var now time.Duration
	for len(ready) > 0 || len(running) > 0 {
		sort.Slice(ready, func(a, b int) bool { return prio[ready[a]] > prio[ready[b]] })
		for len(running) < j && len(ready) > 0 {
			running = append(running, job{ready[0], now + dur[ready[0]]})
			ready = ready[1:]
		}
		sort.Slice(running, func(a, b int) bool { return running[a].end < running[b].end })
		done := running[0]
		running = running[1:]
		now = done.end
		for _, r := range rdeps[done.node] {
			pending[r]--
			if pending[r] == 0 {
				ready = append(ready, r)
			}
		}
	}
	return now
}
