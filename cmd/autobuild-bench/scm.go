package main

// The scm figure: a no-change run over modules of every source kind
// (local repositories made with the real tools, -scm-modules of them,
// spread evenly), against a sequential shell loop of each tool's own
// cheapest "newest revision" query over the same repositories, one
// process per query, measured in turn in the same run. Each no-change
// run must reuse every module at the first run's revision without a
// checkout step (its log of that run says none ran). Per-module times
// come from status.json. When the run is slower than the loop, the figure
// shows where a module's time goes (scmBreakdown).

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/autobuild/autobuild/engine/checkout"
	"github.com/autobuild/autobuild/engine/executor"
	"github.com/autobuild/autobuild/engine/report"
	"github.com/autobuild/autobuild/sandbox"
	"github.com/autobuild/autobuild/scm"
	// The source kinds, for the engine's resolve run from here.
	_ "github.com/autobuild/autobuild/scm/brz"
	_ "github.com/autobuild/autobuild/scm/cvs"
	_ "github.com/autobuild/autobuild/scm/darcs"
	_ "github.com/autobuild/autobuild/scm/dir"
	_ "github.com/autobuild/autobuild/scm/fossil"
	_ "github.com/autobuild/autobuild/scm/git"
	_ "github.com/autobuild/autobuild/scm/hg"
	_ "github.com/autobuild/autobuild/scm/svn"
)

var scmN = flag.Int("scm-modules", 200, "modules in the scm figure, spread evenly over the source kinds")

// scmRuns is how many no-change runs, and loops, the figure measures.
const scmRuns = 3

// scmKind is one source kind of the figure: how to make a repository of
// it with the real tool, and the shell loop's query of it.
type scmKind struct {
	name string
	// tool is the command the kind needs ("" for none).
	tool string
	// make creates a one-commit repository holding files in dir (a
	// folder that does not exist yet), using scratch as it likes, and
	// returns the module's url and the loop's argument.
	make func(dir, scratch string, files map[string]string) (url, arg string)
	// query is the loop's body for one repository "$u": the tool's
	// cheapest answer to "what is the newest revision".
	query string
}

// toolEnv is the environment the repositories are made and the loop runs
// in: no user configuration, a home of the figure's own.
func toolEnv(home string) []string {
	return []string{"PATH=/usr/bin:/bin", "HOME=" + home, "LC_ALL=C.UTF-8", "TZ=UTC",
		"TMPDIR=" + os.TempDir(),
		"GIT_CONFIG_NOSYSTEM=1", "GIT_AUTHOR_NAME=bench", "GIT_AUTHOR_EMAIL=b@example.invalid",
		"GIT_COMMITTER_NAME=bench", "GIT_COMMITTER_EMAIL=b@example.invalid",
		"HGRCPATH=", "HGPLAIN=1", "HGUSER=bench",
		"BRZ_HOME=" + home, "BRZ_LOG=/dev/null", "BRZ_EMAIL=bench <b@example.invalid>",
		"DARCS_EMAIL=bench <b@example.invalid>",
		"FOSSIL_HOME=" + home, "FOSSIL_USER=bench"}
}

// tool runs a command in dir with a home in scratch, or ends the bench.
func tool(dir, scratch string, args ...string) {
	home := filepath.Join(scratch, "home")
	must(os.MkdirAll(home, 0o755))
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Dir = dir
	cmd.Env = toolEnv(home)
	if out, err := cmd.CombinedOutput(); err != nil {
		must(fmt.Errorf("%q: %v\n%s", args, err, out))
	}
}

func writeFiles(dir string, files map[string]string) []string {
	must(os.MkdirAll(dir, 0o755))
	var names []string
	for name, body := range files {
		must(os.WriteFile(filepath.Join(dir, name), []byte(body), 0o755))
		names = append(names, name)
	}
	return names
}

var scmKinds = []scmKind{
	{name: "git", tool: "git",
		make: func(dir, scratch string, files map[string]string) (string, string) {
			writeFiles(dir, files)
			tool(dir, scratch, "git", "init", "-q")
			tool(dir, scratch, "git", "add", ".")
			tool(dir, scratch, "git", "commit", "-q", "-m", "first")
			return dir, dir
		},
		// A local repository: no transport, as the engine reads it.
		query: `git -C "$u" rev-parse HEAD`},
	{name: "svn", tool: "svn",
		make: func(dir, scratch string, files map[string]string) (string, string) {
			must(os.MkdirAll(filepath.Dir(dir), 0o755))
			tool(scratch, scratch, "svnadmin", "create", dir)
			imp := filepath.Join(scratch, "import")
			writeFiles(imp, files)
			tool(scratch, scratch, "svn", "import", "-q", "--non-interactive", "-m", "first", imp, "file://"+dir+"/trunk")
			return "file://" + dir, "file://" + dir + "/trunk"
		},
		query: `svn info --non-interactive --show-item last-changed-revision "$u"`},
	{name: "cvs", tool: "cvs",
		make: func(dir, scratch string, files map[string]string) (string, string) {
			must(os.MkdirAll(dir, 0o755))
			tool(scratch, scratch, "cvs", "-f", "-d", dir, "init")
			imp := filepath.Join(scratch, "import")
			writeFiles(imp, files)
			tool(imp, scratch, "cvs", "-f", "-d", dir, "import", "-m", "first", "mod", "vendor", "start")
			return dir + "#mod", dir
		},
		// The newest change on the trunk, read-only (no lock files). The
		// backend itself runs rls -e as well as this rlog (two cvs per
		// resolve: the files a checkout holds, and removals).
		query: `cvs -f -Q -R -d "$u" rlog -N -S -b mod`},
	{name: "hg", tool: "hg",
		make: func(dir, scratch string, files map[string]string) (string, string) {
			writeFiles(dir, files)
			tool(dir, scratch, "hg", "init")
			tool(dir, scratch, "hg", "commit", "--addremove", "-m", "first")
			return dir, dir
		},
		query: `hg identify -r default "$u"`},
	{name: "brz", tool: "brz",
		make: func(dir, scratch string, files map[string]string) (string, string) {
			must(os.MkdirAll(filepath.Dir(dir), 0o755))
			tool(scratch, scratch, "brz", "--no-plugins", "init", "-q", dir)
			writeFiles(dir, files)
			tool(dir, scratch, "brz", "--no-plugins", "add", "-q")
			tool(dir, scratch, "brz", "--no-plugins", "commit", "-q", "-m", "first")
			return dir, dir
		},
		query: `brz --no-plugins revno "$u"`},
	{name: "darcs", tool: "darcs",
		make: func(dir, scratch string, files map[string]string) (string, string) {
			must(os.MkdirAll(dir, 0o755))
			tool(dir, scratch, "darcs", "init")
			writeFiles(dir, files)
			tool(dir, scratch, "darcs", "record", "--all", "--look-for-adds", "--name", "first")
			return dir, dir
		},
		query: `darcs log --last 1 --repo "$u"`},
	{name: "fossil", tool: "fossil",
		make: func(dir, scratch string, files map[string]string) (string, string) {
			repo := dir + ".fossil"
			must(os.MkdirAll(filepath.Dir(repo), 0o755))
			tool(scratch, scratch, "fossil", "init", repo)
			wc := filepath.Join(scratch, "wc")
			must(os.MkdirAll(wc, 0o755))
			tool(wc, scratch, "fossil", "open", repo)
			names := writeFiles(wc, files)
			tool(wc, scratch, append([]string{"fossil", "add"}, names...)...)
			tool(wc, scratch, "fossil", "commit", "--no-warnings", "-m", "first")
			return repo, repo
		},
		query: `fossil timeline -n 1 -t ci -R "$u"`},
	{name: "dir",
		make: func(dir, scratch string, files map[string]string) (string, string) {
			writeFiles(dir, files)
			return dir, dir
		},
		// A content hash of the folder's files.
		query: `find "$u" -type f -exec sha256sum {} + | sha256sum`},
}

// scmModule is one module of the figure.
type scmModule struct {
	name, kind, url, arg string
	// path is the repository on disk: what the resolve step reads.
	path string
}

func benchSCM(bin, dir string) {
	began := time.Now()
	var kinds []scmKind
	var missing []string
	for _, k := range scmKinds {
		if k.tool != "" {
			if _, err := exec.LookPath(k.tool); err != nil {
				missing = append(missing, k.name)
				continue
			}
		}
		kinds = append(kinds, k)
	}
	n := *scmN
	if n < len(kinds) {
		must(fmt.Errorf("-scm-modules %d: at least one module of each of the %d source kinds", n, len(kinds)))
	}
	fmt.Printf("\n== scm: no-change run over %d modules of %d source kinds, against a sequential shell loop of each tool's newest-revision query over the same repositories (target: no slower than the loop)\n",
		n, len(kinds))
	if len(missing) > 0 {
		fmt.Printf("  left out, tool not installed: %s\n", strings.Join(missing, ", "))
	}

	// The repositories, made with the real tools, a few at a time.
	var mods []scmModule
	for i := range n {
		k := kinds[i%len(kinds)]
		mods = append(mods, scmModule{name: fmt.Sprintf("%s-%03d", k.name, i/len(kinds)), kind: k.name})
	}
	byName := map[string]scmKind{}
	for _, k := range kinds {
		byName[k.name] = k
	}
	t := time.Now()
	work := make(chan int)
	var wg sync.WaitGroup
	for range 2 * cpus() {
		wg.Go(func() {
			for i := range work {
				m := &mods[i]
				files := map[string]string{
					"autobuild.sh": "#!/bin/sh\necho ok > \"$AUTOBUILD_PACKAGE_ROOT/out\"\n",
					"version":      m.name + "\n",
				}
				m.path = filepath.Join(dir, "repos", m.kind, m.name)
				m.url, m.arg = byName[m.kind].make(m.path, filepath.Join(dir, "scratch", m.name), files)
				if m.kind == "fossil" {
					m.path += ".fossil"
				}
			}
		})
	}
	for i := range mods {
		work <- i
	}
	close(work)
	wg.Wait()
	must(os.RemoveAll(filepath.Join(dir, "scratch")))
	made := time.Since(t)

	var b strings.Builder
	b.WriteString("build_root: build\nmodules:\n")
	for _, m := range mods {
		fmt.Fprintf(&b, "  - name: %s\n    source: {kind: %s, url: %q}\n    command: \"sh autobuild.sh\"\n", m.name, m.kind, m.url)
	}
	cfg := filepath.Join(dir, "autobuild.yaml")
	must(os.WriteFile(cfg, []byte(b.String()), 0o644))
	kindOf := map[string]string{}
	count := map[string]int{}
	for _, m := range mods {
		kindOf[m.name] = m.kind
		count[m.kind]++
	}

	first, _, r := runCPU(bin, cfg)
	if s := r.Summarize(); s.Built != n {
		must(fmt.Errorf("scm: the first run did not build every module: %+v", s))
	}
	revs := map[string]string{}
	for _, m := range r.Modules {
		revs[m.Name] = m.Revision
	}

	// The no-change runs and the loops, interleaved so that both see the
	// same machine.
	home := filepath.Join(dir, "home")
	must(os.MkdirAll(home, 0o755))
	var runs, runCPUs, loopTotals, loopCPUs []time.Duration
	perKind := map[string][]time.Duration{}
	loops := map[string][]time.Duration{}
	for range scmRuns {
		d, cpu, r := runCPU(bin, cfg)
		checkNoChange(dir, r, revs)
		runs, runCPUs = append(runs, d), append(runCPUs, cpu)
		for _, m := range r.Modules {
			perKind[kindOf[m.Name]] = append(perKind[kindOf[m.Name]], m.Duration)
		}

		var total, totalCPU time.Duration
		for _, k := range kinds {
			var args []string
			for _, m := range mods {
				if m.kind == k.name {
					args = append(args, shellQuote(m.arg))
				}
			}
			// One process per query (a pipeline for dir), one after
			// the other, as a cron script would; a query that fails
			// fails the figure.
			script := fmt.Sprintf("for u in %s; do %s >/dev/null || exit 1; done", strings.Join(args, " "), k.query)
			cmd := exec.Command("sh", "-c", script)
			cmd.Dir = home
			cmd.Env = toolEnv(home)
			var errb bytes.Buffer
			cmd.Stderr = &errb
			t := time.Now()
			if err := cmd.Run(); err != nil {
				must(fmt.Errorf("scm: the %s loop: %v\n%s", k.name, err, errb.String()))
			}
			d := time.Since(t)
			loops[k.name] = append(loops[k.name], d)
			total += d
			totalCPU += cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
		}
		loopTotals, loopCPUs = append(loopTotals, total), append(loopCPUs, totalCPU)
	}
	m, loop := median(runs), median(loopTotals)
	fmt.Printf("  %-40s %8.0f ms\n", "repositories made with the real tools", ms(made))
	fmt.Printf("  %-40s %8.0f ms\n", "first run (checkout+build)", ms(first))
	fmt.Printf("  %-40s %8.0f ms  (%.1f ms per module, CPU %.1f ms per module; %d workers: one per CPU)\n",
		fmt.Sprintf("no-change run (median of %d)", scmRuns), ms(m), ms(m)/float64(n), ms(median(runCPUs))/float64(n), cpus())
	fmt.Printf("  %-40s %8.0f ms  (%.1f ms per repository, CPU %.1f ms per repository)\n",
		fmt.Sprintf("shell loop (median of %d)", scmRuns), ms(loop), ms(loop)/float64(n), ms(median(loopCPUs))/float64(n))
	fmt.Printf("  %-40s %8.2f × the loop %s\n", "no-change run", float64(m)/float64(loop), verdict(m <= loop))
	fmt.Printf("  per kind, ms per module: in the no-change runs (median) | the loop's query (per repository)\n")
	for _, k := range kinds {
		fmt.Printf("    %-7s %3d modules %7.1f | %7.1f  %s\n", k.name, count[k.name],
			ms(median(perKind[k.name])), ms(median(loops[k.name]))/float64(count[k.name]), strings.ReplaceAll(k.query, `"$u"`, "URL"))
	}
	if m > loop {
		scmBreakdown(bin, dir, kinds, mods, revs)
	}
	fmt.Printf("  %-40s %8.0f s\n", "the figure took", time.Since(began).Seconds())
}

// scmBreakdown shows where a module's time goes in a no-change run: for
// a few modules of each kind, one at a time, the loop's query, then the
// module's resolve step as the engine runs it (checkout.Resolve: the
// autobuild binary in its resolve mode, in a cgroup of its own),
// unconfined, then confined at the SCM level; then what a step costs
// before any work: the binary's start, and a confined /bin/true.
func scmBreakdown(bin, dir string, kinds []scmKind, mods []scmModule, revs map[string]string) {
	const per = 5
	byName := map[string]scmKind{}
	for _, k := range kinds {
		byName[k.name] = k
	}
	st := newStepper(bin, dir)
	plain, unconfined, confined := map[string][]time.Duration{}, map[string][]time.Duration{}, map[string][]time.Duration{}
	for _, m := range mods {
		if len(plain[m.kind]) == per {
			continue
		}
		plain[m.kind] = append(plain[m.kind], st.query(byName[m.kind], m))
		unconfined[m.kind] = append(unconfined[m.kind], st.resolve(m, false, revs[m.name]))
		confined[m.kind] = append(confined[m.kind], st.resolve(m, true, revs[m.name]))
	}
	fmt.Printf("  where the time goes, ms per module, one at a time (median of %d modules): the loop's query (through sh -c) | the module's resolve step unconfined | confined (level %s, in a cgroup of its own)\n",
		per, sandbox.SCMLevel)
	for _, k := range kinds {
		fmt.Printf("    %-7s %7.1f | %7.1f | %7.1f\n", k.name, ms(median(plain[k.name])), ms(median(unconfined[k.name])),
			ms(median(confined[k.name])))
	}
	var starts, trues, bare []time.Duration
	for range 20 {
		starts = append(starts, st.start())
		trues = append(trues, st.spawn())
		t := time.Now()
		must(exec.Command("/bin/true").Run())
		bare = append(bare, time.Since(t))
	}
	fmt.Printf("  %-40s %8.2f ms  (autobuild __scm-resolve given a spec it refuses at once; plain fork/exec of /bin/true %.2f ms)\n",
		"a resolve step's binary start", ms(median(starts)), ms(median(bare)))
	fmt.Printf("  %-40s %8.2f ms  (/bin/true at level %s, in a cgroup of its own)\n", "a resolve step's confinement", ms(median(trues)), sandbox.SCMLevel)
}

// stepper runs one resolve step at a time, through the engine's own
// checkout.Resolve on an executor of a build root of its own, or one of
// the loop's queries.
type stepper struct {
	bin, dir string
	host     sandbox.Host
	ex       *executor.Local
}

func newStepper(bin, dir string) *stepper {
	host := sandbox.ProbeHost()
	ex := executor.NewLocal(&sandbox.Exec{Self: sandbox.HelperBeside(bin), Host: host}, host, bin, filepath.Join(dir, "steps-root"))
	must(ex.WS.Init())
	return &stepper{bin: bin, dir: dir, host: host, ex: ex}
}

// query runs the loop's query of module m once.
func (st *stepper) query(k scmKind, m scmModule) time.Duration {
	home := filepath.Join(st.dir, "home")
	cmd := exec.Command("sh", "-c", k.query+" >/dev/null", "sh")
	cmd.Dir = home
	cmd.Env = append(toolEnv(home), "u="+m.arg)
	t := time.Now()
	if out, err := cmd.CombinedOutput(); err != nil {
		must(fmt.Errorf("scm: %s: %v\n%s", k.query, err, out))
	}
	return time.Since(t)
}

// profile is a step's profile at level for module, as the engine makes
// it on a host without SELinux.
func (st *stepper) profile(level, module string) (sandbox.ID, sandbox.Profile) {
	lv := sandbox.Builtin()[level]
	id := sandbox.ID{UID: sandbox.BuildUID(module)}
	p := sandbox.Profile{Level: level, Confined: lv.Confined, Network: lv.Network, Limits: lv.Limits, UID: -1, GID: -1}
	if lv.Confined && st.host.Root {
		p.UID, p.GID = id.UID, id.UID
	}
	return id, p
}

// resolve runs module m's resolve step, confined at the SCM level or
// unconfined, and checks that it answers rev.
func (st *stepper) resolve(m scmModule, confined bool, rev string) time.Duration {
	level := sandbox.SCMLevel
	if !confined {
		level = "unconfined"
	}
	id, p := st.profile(level, m.name)
	var log bytes.Buffer
	t := time.Now()
	got, err := checkout.Resolve(context.Background(), st.ex, checkout.ResolveRequest{
		Module: m.name, ID: id, Sources: checkout.Single(scm.Source{Kind: m.kind, URL: m.url}),
		Tmp: st.ex.WS.Layout.TmpDir(m.name), Profile: p, Timeout: time.Minute, Log: &log,
		Say: func(format string, args ...any) { fmt.Fprintf(&log, format+"\n", args...) },
	})
	d := time.Since(t)
	if err != nil || got.ID != rev {
		must(fmt.Errorf("scm: module %s: the resolve step answered %q (%v), the run %q\n%s", m.name, got.ID, err, rev, log.String()))
	}
	return d
}

// start runs the autobuild binary in its resolve mode with a spec it
// refuses at once: the binary's start.
func (st *stepper) start() time.Duration {
	cmd := exec.Command(st.bin, checkout.ResolveArg, "{")
	t := time.Now()
	err := cmd.Run()
	d := time.Since(t)
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 2 {
		must(fmt.Errorf("scm: %s %s with a bad spec: %v, want exit 2", st.bin, checkout.ResolveArg, err))
	}
	return d
}

// spawn runs /bin/true confined at the SCM level, in a cgroup of its own,
// as the engine runs a step.
func (st *stepper) spawn() time.Duration {
	const name = "bench-true"
	tmp := st.ex.WS.Layout.TmpDir(name)
	id, p := st.profile(sandbox.SCMLevel, name)
	must(st.ex.WS.PrepareDir(tmp, id, true))
	t := time.Now()
	res, err := st.ex.Run(context.Background(), &executor.Step{Module: name, ID: id, Args: []string{"/bin/true"},
		Dir: tmp, Env: executor.BaseEnv(tmp), Stdout: io.Discard, Stderr: io.Discard, Profile: p, Outputs: []string{tmp}})
	d := time.Since(t)
	must(err)
	if res.ExitCode != 0 {
		must(fmt.Errorf("scm: a confined /bin/true exited %d", res.ExitCode))
	}
	return d
}

// runCPU runs autobuild with the extra arguments args, and returns its
// wall time, the CPU time of its whole process tree and the published
// status.
func runCPU(bin, cfg string, args ...string) (time.Duration, time.Duration, *report.Run) {
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
	return d, cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime(), &r
}

// checkNoChange ends the bench unless every module of r was reused with
// the revision of the first run, and no module's log of that run says a
// checkout ran.
func checkNoChange(dir string, r *report.Run, revs map[string]string) {
	if s := r.Summarize(); s.Reused != len(revs) {
		must(fmt.Errorf("scm: a no-change run rebuilt modules: %+v", s))
	}
	logs := filepath.Join(dir, "build", "log-root", fmt.Sprint(r.Counter))
	for _, m := range r.Modules {
		if m.Revision != revs[m.Name] {
			must(fmt.Errorf("scm: module %s: revision %q, the first run's was %q", m.Name, m.Revision, revs[m.Name]))
		}
		if !strings.HasPrefix(m.Reason, "unchanged since run ") {
			must(fmt.Errorf("scm: module %s: %s (%s), want unchanged", m.Name, m.State, m.Reason))
		}
		b, err := os.ReadFile(filepath.Join(logs, m.Name+".log"))
		must(err)
		for _, line := range strings.Split(string(b), "\n") {
			if strings.HasPrefix(line, "autobuild: checkout ") || strings.HasPrefix(line, "autobuild: source folder holds ") {
				must(fmt.Errorf("scm: module %s: a no-change run ran its checkout: %s", m.Name, line))
			}
		}
	}
}

// shellQuote quotes s for sh.
func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }
