// Package engine runs one iteration of autobuild: from a validated
// configuration to a published site.
//
//	config ─► graph ─► for each module, as soon as its dependencies are done:
//	            resolve revision ─► checkout (confined SCM step)
//	            ─► cache key ─► reuse (state or archive) or build (confined)
//	            ─► collect artifacts ─► archive
//	        ─► publish the site atomically ─► history
//
// Run is the only orchestration. A module that fails is a result; Run
// returns an error only when the engine itself could not do its job.
package engine

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/autobuild/autobuild/engine/archive"
	"github.com/autobuild/autobuild/engine/cachekey"
	"github.com/autobuild/autobuild/engine/config"
	"github.com/autobuild/autobuild/engine/graph"
	"github.com/autobuild/autobuild/engine/report"
	"github.com/autobuild/autobuild/engine/runlock"
	"github.com/autobuild/autobuild/engine/schedule"
	"github.com/autobuild/autobuild/publish"
	"github.com/autobuild/autobuild/sandbox"
	"github.com/autobuild/autobuild/scm"
	scmgit "github.com/autobuild/autobuild/scm/git" // also registers the git SCM
)

// Version is the engine version; it is part of every cache key.
var Version = "0.1.0"

// ErrConfinement is returned when a trust level cannot be enforced on this
// host and the configuration does not allow weaker enforcement.
var ErrConfinement = errors.New("confinement unavailable")

// Options are the choices of one run.
type Options struct {
	// Workers overrides the configuration's worker count when > 0.
	Workers int
	// ForceAll rebuilds every module; Force rebuilds the named ones.
	ForceAll bool
	Force    []string
}

// Event is a progress report; the engine never imports the UI.
type Event struct {
	Module string
	// Phase is "start" or "done".
	Phase  string
	State  report.State
	Reason string
	Took   time.Duration
}

// Deps are the engine's boundaries, injected so tests can swap them.
type Deps struct {
	// Runner starts every process: SCM steps and builds.
	Runner sandbox.Runner
	// Host is what this host can enforce.
	Host sandbox.Host
	// Self is the autobuild binary; SCM steps run it in its scm mode.
	Self     string
	Progress func(Event)
	Log      *slog.Logger
	Now      func() time.Time
}

// Run performs one iteration. It takes the build root's lock first and
// returns runlock.ErrLocked, without touching anything, when another run
// holds it.
func Run(ctx context.Context, cfg *config.Config, opts Options, deps Deps) (*report.Run, error) {
	if deps.Now == nil {
		deps.Now = time.Now
	}
	if deps.Log == nil {
		deps.Log = slog.New(slog.DiscardHandler)
	}
	if deps.Progress == nil {
		deps.Progress = func(Event) {}
	}
	layout := Layout{Root: cfg.BuildRoot}
	nodes := make([]graph.Node, len(cfg.Modules))
	for i, m := range cfg.Modules {
		nodes[i] = graph.Node{Name: m.Name, Deps: m.Depends}
	}
	g, err := graph.New(nodes)
	if err != nil {
		return nil, err // config.Load validated this already
	}
	for _, f := range opts.Force {
		if cfg.Module(f) == nil {
			return nil, &config.Error{File: cfg.File, Key: "modules", Msg: fmt.Sprintf("--force names unknown module %q", f)}
		}
	}
	names := make([]string, len(cfg.Modules))
	for i, m := range cfg.Modules {
		names[i] = m.Name
	}
	r := &runner{cfg: cfg, opts: opts, deps: deps, layout: layout, g: g, ids: sandbox.AssignIDs(names)}
	if err := r.preflight(); err != nil {
		return nil, err
	}

	// The build root is traversable by every module's uid; what each may
	// write is decided per folder.
	if err := os.MkdirAll(cfg.BuildRoot, 0o755); err != nil {
		return nil, err
	}
	for _, d := range layout.Tops() {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, err
		}
		// On an SELinux host the folders get their file types wherever
		// the build root is, not only at the policy's default path.
		if err := sandbox.LabelDir(d, topFileType(d)); err != nil {
			return nil, fmt.Errorf("label %s: %w", d, err)
		}
	}
	lock, err := runlock.Acquire(layout.LockFile())
	if err != nil {
		return nil, err
	}
	defer lock.Release()

	return r.run(ctx)
}

type runner struct {
	cfg    *config.Config
	opts   Options
	deps   Deps
	layout Layout
	g      *graph.Graph
	ids    map[string]sandbox.ID // each module's uid and MCS categories

	counter int
	start   time.Time
	st      *state
	arch    *archive.Archive
	logDir  string
	keys    []string // cache key per module, set when it finished OK

	archiving sync.WaitGroup // archive stores in flight
	dirs      sync.Map       // path → bool: folders of finished modules that exist

	mu  sync.Mutex // guards st and rep.Modules[i] writes from workers
	rep *report.Run
}

// preflight refuses the run when a level cannot be enforced here.
func (r *runner) preflight() error {
	var problems []string
	seen := map[string]bool{}
	check := func(level string) {
		if seen[level] {
			return
		}
		seen[level] = true
		p := r.profile(level, "", nil, nil)
		if _, missing := r.deps.Host.Check(p); len(missing) > 0 && !r.cfg.AllowWeakerConfinement {
			problems = append(problems, fmt.Sprintf("trust level %q needs %s", level, strings.Join(missing, ", ")))
		}
	}
	check(r.cfg.SCMLevel)
	for _, m := range r.cfg.Modules {
		check(m.Trust)
	}
	if len(problems) > 0 {
		return fmt.Errorf("%w on this host: %s (see `autobuild doctor`; set allow_weaker_confinement: true in %s to run anyway)",
			ErrConfinement, strings.Join(problems, "; "), r.cfg.File)
	}
	if r.deps.Host.Root {
		// Steps run as uids of their own: every folder on the way to the
		// build root, the sources and this binary must let them pass.
		paths := []string{r.cfg.BuildRoot, r.deps.Self}
		for _, m := range r.cfg.Modules {
			if p := scmgit.LocalPath(m.Source.URL); p != "" {
				paths = append(paths, p)
			}
		}
		for _, p := range paths {
			if err := traversable(p); err != nil {
				return fmt.Errorf("%w: module builds run as uids of their own and cannot reach %s: %v", ErrConfinement, p, err)
			}
		}
	}
	return nil
}

// traversable checks that every existing folder above p lets others pass
// (mode o+x).
func traversable(p string) error {
	for dir := filepath.Dir(p); ; dir = filepath.Dir(dir) {
		if info, err := os.Stat(dir); err == nil && info.Mode().Perm()&0o001 == 0 {
			return fmt.Errorf("%s is mode %04o; make it o+x (chmod o+x %s) or move the build root and sources elsewhere", dir, info.Mode().Perm(), dir)
		}
		if dir == "/" || dir == "." {
			return nil
		}
	}
}

func (r *runner) run(ctx context.Context) (*report.Run, error) {
	var err error
	if r.counter, err = nextCounter(r.layout.StateDir()); err != nil {
		return nil, fmt.Errorf("run counter: %w", err)
	}
	r.start = r.deps.Now()
	r.deps.Log = r.deps.Log.With("run", r.counter)
	if r.st, err = loadState(r.layout.StateDir()); err != nil {
		return nil, fmt.Errorf("state: %w", err)
	}
	r.logDir = r.layout.LogDir(r.counter)
	if err := os.MkdirAll(r.logDir, 0o755); err != nil {
		return nil, err
	}
	r.arch = &archive.Archive{Dir: r.layout.ArchiveDir(), Keep: r.cfg.Archive.Keep}
	r.keys = make([]string, r.g.Len())
	r.rep = &report.Run{Counter: r.counter, Start: r.start, Modules: make([]report.Module, r.g.Len())}
	for i, m := range r.cfg.Modules {
		r.rep.Modules[i] = report.Module{Name: m.Name, Depends: m.Depends, Groups: m.Groups, Level: m.Trust}
	}

	workers := r.cfg.Workers
	if r.opts.Workers > 0 {
		workers = r.opts.Workers
	}
	if workers == 0 {
		workers = runtime.NumCPU()
	}
	// Critical path by expected durations learned from earlier runs;
	// a module never built counts as one second.
	prio := r.g.CriticalPath(func(i int) float64 {
		if d := r.st.Modules[r.g.Name(i)].Duration; d > 0 {
			return d.Seconds()
		}
		return 1
	})
	outcomes := schedule.Run(ctx, r.g, workers, prio, r.module)
	r.archiving.Wait()
	for i, o := range outcomes {
		if o.SkippedFor != "" {
			m := &r.rep.Modules[i]
			m.State = report.Skipped
			if o.SkippedFor == "cancelled" {
				m.Reason = "run cancelled"
			} else {
				m.Reason = fmt.Sprintf("dependency %s failed", o.SkippedFor)
			}
			r.deps.Progress(Event{Module: m.Name, Phase: "done", State: m.State, Reason: m.Reason})
		}
	}
	r.rep.Duration = r.deps.Now().Sub(r.start)
	if err := r.st.save(); err != nil {
		return r.rep, fmt.Errorf("save state: %w", err)
	}
	if ctx.Err() != nil {
		// An interrupted run publishes nothing: the previous site stays.
		return r.rep, context.Cause(ctx)
	}
	hist, err := appendHistory(r.layout.StateDir(), r.rep.Summarize())
	if err != nil {
		return r.rep, fmt.Errorf("history: %w", err)
	}
	r.rep.History = hist
	if err := r.publish(); err != nil {
		return r.rep, fmt.Errorf("publish: %w", err)
	}
	r.pruneLogs()
	return r.rep, nil
}

// logsKept is how many runs' log folders are kept (beyond those a reused
// module still points at).
const logsKept = 50

// pruneLogs removes the log folders of old runs that no module's current
// result refers to.
func (r *runner) pruneLogs() {
	keep := map[string]bool{}
	for _, m := range r.st.Modules {
		if m.Log != "" {
			keep[filepath.Dir(m.Log)] = true
		}
	}
	root := filepath.Dir(r.logDir)
	ents, err := os.ReadDir(root)
	if err != nil {
		return
	}
	for _, e := range ents {
		n, err := strconv.Atoi(e.Name())
		dir := filepath.Join(root, e.Name())
		if err != nil || n > r.counter-logsKept || keep[dir] {
			continue
		}
		os.RemoveAll(dir)
	}
}

// module checks out, reuses or builds module i. It returns whether its
// dependents may build.
func (r *runner) module(ctx context.Context, i int) bool {
	m := &r.cfg.Modules[i]
	res := report.Module{Name: m.Name, Depends: m.Depends, Groups: m.Groups, Level: m.Trust, Start: r.deps.Now()}
	r.deps.Progress(Event{Module: m.Name, Phase: "start"})
	log := r.deps.Log.With("module", m.Name)

	logPath := filepath.Join(r.logDir, m.Name+".log")
	logf, err := os.OpenFile(logPath, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		res.State, res.Reason = report.Failed, "open log: "+err.Error()
		return r.finish(i, res, log)
	}
	defer logf.Close()
	res.Log = logPath
	// say writes to the module's log, and to the structured log at debug
	// level (--log-level debug --log-format json gives every step).
	say := func(format string, args ...any) {
		msg := fmt.Sprintf(format, args...)
		fmt.Fprintf(logf, "autobuild: %s\n", msg)
		log.Debug(msg)
	}

	// 1. Resolve the revision: cheap, and it feeds the cache key.
	src := scm.Source{Kind: m.Source.Kind, URL: m.Source.URL, Branch: m.Source.Branch, Tag: m.Source.Tag, Commit: m.Source.Commit}
	s, err := scm.Get(src.Kind)
	if err == nil {
		var rev scm.Revision
		rev, err = s.Resolve(ctx, src)
		res.Revision = rev.ID
	}
	if err != nil {
		say("checkout failed: %v", err)
		res.State, res.Reason = report.Failed, "checkout: "+err.Error()
		return r.finish(i, res, log)
	}
	say("module %s: %s of %s is %s", m.Name, src.Ref(), src.URL, res.Revision)

	// 2. The cache key: the revision, the dependencies' keys, the settings.
	deps := map[string]string{}
	for _, d := range r.g.Deps(i) {
		deps[r.g.Name(d)] = r.keys[d]
	}
	key := cachekey.Key(cachekey.Inputs{
		Module: m.Name, Revision: res.Revision, DepKeys: deps, Command: m.Command, Env: m.Env,
		Level: m.Trust, LevelRules: r.levelRules(m.Trust), Version: Version,
	})
	res.Key = key

	// 3. Reuse an identical earlier build: nothing is fetched, checked out
	// or run.
	if !r.forced(m.Name) && !r.cfg.Archive.Disabled {
		if ok := r.reuse(m, &res, say); ok {
			r.keys[i] = key
			return r.finish(i, res, log)
		}
	}

	// 4. Check out: fetch only if the commit is new, then reset the work
	// tree and remove what an earlier build left, so every build starts
	// from exactly the pinned content.
	prep, err := r.checkout(ctx, m, src, res.Revision, logf, say)
	if err != nil {
		res.State, res.Reason = report.Failed, err.Error()
		return r.finish(i, res, log)
	}

	// 5. Build.
	if err := r.build(ctx, i, m, &res, prep, logf, say); err != nil {
		return r.finish(i, res, log)
	}
	r.keys[i] = key
	return r.finish(i, res, log)
}

func (r *runner) forced(name string) bool {
	if r.opts.ForceAll {
		return true
	}
	for _, f := range r.opts.Force {
		if f == name {
			return true
		}
	}
	return false
}

// finish records a module's result and reports progress.
func (r *runner) finish(i int, res report.Module, log *slog.Logger) bool {
	res.Duration = r.deps.Now().Sub(res.Start)
	r.mu.Lock()
	r.rep.Modules[i] = res
	r.mu.Unlock()
	log.Info("module done", "state", res.State, "reason", res.Reason, "took", res.Duration)
	r.deps.Progress(Event{Module: res.Name, Phase: "done", State: res.State, Reason: res.Reason, Took: res.Duration})
	return res.State.OK()
}

// checkout makes the source folder hold exactly rev. When it holds rev
// already, only a reset and clean is needed, and that needs no network:
// it returns a Prepare that the build step runs in its own confinement,
// saving a process. Otherwise it runs the confined SCM step (which may
// fetch) and returns nil.
func (r *runner) checkout(ctx context.Context, m *config.Module, src scm.Source, rev string, logf *os.File, say func(string, ...any)) (*sandbox.Prepare, error) {
	dir := r.layout.SourceDir(m.Name)
	spec, err := scmSpec(src, rev, dir)
	if err != nil {
		return nil, err
	}
	r.mu.Lock()
	prev := r.st.Modules[m.Name]
	r.mu.Unlock()
	if prev.Checkout == rev {
		if _, err := os.Stat(filepath.Join(dir, ".git")); err == nil {
			if fp, err := treeFingerprint(dir); err == nil && fp == prev.Pristine {
				say("source folder holds %s, untouched since its checkout", rev)
				return nil, nil
			}
			say("source folder holds %s: the build step resets and cleans it first", rev)
			return &sandbox.Prepare{Name: PrepareCheckout, Arg: spec}, nil
		}
	}
	return nil, r.scmStep(ctx, m, src, rev, spec, logf, say)
}

// scmStep runs the confined SCM step.
func (r *runner) scmStep(ctx context.Context, m *config.Module, src scm.Source, rev, spec string, logf *os.File, say func(string, ...any)) error {
	dir := r.layout.SourceDir(m.Name)
	if err := r.prepareDir(m.Name, dir, false); err != nil {
		return fmt.Errorf("checkout: %w", err)
	}
	tmp := r.layout.TmpDir(m.Name)
	if err := r.prepareDir(m.Name, tmp, true); err != nil {
		return fmt.Errorf("checkout: %w", err)
	}
	p := r.profile(r.cfg.SCMLevel, m.Name, nil, nil)
	p.Write = append(p.Write, dir, tmp)
	// The step runs this very binary in its SCM mode.
	p.Read = append(p.Read, r.deps.Self)
	if local := scmgit.LocalPath(src.URL); local != "" {
		p.Read = append(p.Read, local)
	}
	say("checkout %s into %s (trust level %s)", rev, dir, p.Level)
	res, err := r.deps.Runner.Run(ctx, &sandbox.Step{
		Args:    []string{r.deps.Self, SCMArg, spec},
		Dir:     tmp,
		Env:     baseEnv(tmp),
		Stdout:  logf,
		Stderr:  logf,
		Timeout: m.Timeout,
		Profile: p,
	})
	if err != nil {
		say("checkout could not start: %v", err)
		return fmt.Errorf("checkout: %w", err)
	}
	if res.ExitCode != 0 {
		r.setCheckout(m.Name, "", "")
		if res.TimedOut {
			return fmt.Errorf("checkout timed out after %s", m.Timeout)
		}
		return fmt.Errorf("checkout failed (exit %d): see the log", res.ExitCode)
	}
	fp, err := treeFingerprint(dir)
	if err != nil {
		fp = "" // unknown: the next build resets first
	}
	r.setCheckout(m.Name, rev, fp)
	return nil
}

func (r *runner) setCheckout(name, rev, pristine string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := r.st.Modules[name]
	s.Checkout, s.Pristine = rev, pristine
	r.st.Modules[name] = s
}

// reuse restores the module's result from the live folders or the archive
// when an identical build exists.
func (r *runner) reuse(m *config.Module, res *report.Module, say func(string, ...any)) bool {
	r.mu.Lock()
	prev := r.st.Modules[m.Name]
	r.mu.Unlock()
	if prev.Key == res.Key {
		if _, err := os.Stat(r.layout.InstallDir(m.Name)); err == nil {
			res.State, res.CachedFrom, res.Log = report.Cached, prev.Run, prev.Log
			res.Reason = fmt.Sprintf("unchanged since run %d", prev.Run)
			res.Artifacts = r.artifacts(m.Name)
			say("unchanged since run %d: not rebuilt", prev.Run)
			return true
		}
	}
	meta, err := r.arch.Lookup(m.Name, res.Key)
	if err != nil {
		if !errors.Is(err, fs.ErrNotExist) {
			say("build archive: %v; rebuilding", err)
		}
		return false
	}
	// The previous result in the folders is no longer valid from here on.
	r.setKey(m.Name, moduleState{})
	logPath := filepath.Join(r.logDir, m.Name+".cached.log")
	if err := r.arch.Restore(m.Name, res.Key, archive.Parts{
		Install: r.layout.InstallDir(m.Name), Package: r.layout.PackageDir(m.Name), Log: logPath,
	}); err != nil {
		say("build archive: restore failed: %v; rebuilding", err)
		return false
	}
	res.State, res.CachedFrom, res.Log = report.Cached, meta.Run, logPath
	res.Reason = fmt.Sprintf("cached from run %d", meta.Run)
	res.Artifacts = r.artifacts(m.Name)
	say("cached from run %d: restored from the build archive", meta.Run)
	r.setKey(m.Name, moduleState{Key: res.Key, Revision: res.Revision, Run: meta.Run, Duration: meta.Duration, Log: logPath})
	return true
}

// setKey records what the module's folders hold, keeping its checkout.
func (r *runner) setKey(name string, s moduleState) {
	r.mu.Lock()
	defer r.mu.Unlock()
	prev := r.st.Modules[name]
	s.Checkout, s.Pristine = prev.Checkout, prev.Pristine
	if s.Duration == 0 {
		s.Duration = prev.Duration // keep the learned duration
	}
	r.st.Modules[name] = s
}

// build runs the module's build command, confined at its trust level.
func (r *runner) build(ctx context.Context, i int, m *config.Module, res *report.Module, prep *sandbox.Prepare, logf *os.File, say func(string, ...any)) error {
	name := m.Name
	// The folders are about to change: forget what they held.
	r.setKey(name, moduleState{})
	for _, d := range []string{r.layout.InstallDir(name), r.layout.PackageDir(name), r.layout.TmpDir(name)} {
		if err := r.prepareDir(name, d, true); err != nil {
			res.State, res.Reason = report.Failed, "prepare: "+err.Error()
			say("%s", res.Reason)
			return err
		}
	}
	closure := r.g.Closure(i)
	var depRoots []string
	for _, j := range closure[:len(closure)-1] {
		depRoots = append(depRoots, r.layout.InstallDir(r.g.Name(j)))
	}
	depNames := names(r.g, closure[:len(closure)-1])
	p := r.profile(m.Trust, name, depNames, depRoots)
	p.Write = append(p.Write, r.layout.SourceDir(name), r.layout.InstallDir(name), r.layout.PackageDir(name), r.layout.TmpDir(name))
	env := buildEnv(buildContext{
		Module: name, Source: r.layout.SourceDir(name), Install: r.layout.InstallDir(name),
		Package: r.layout.PackageDir(name), Tmp: r.layout.TmpDir(name), Counter: r.counter,
		Timestamp: r.start, Revision: res.Revision, Level: m.Trust, DepRoots: depRoots,
		DepNames: depNames, Extra: m.Env, IsDir: r.isDir,
	})
	say("build: %s (trust level %s, timeout %s)", m.Command, p.Level, m.Timeout)
	sr, err := r.deps.Runner.Run(ctx, &sandbox.Step{
		Args:    []string{"/bin/sh", "-c", m.Command},
		Dir:     r.layout.SourceDir(name),
		Env:     env,
		Stdout:  logf,
		Stderr:  logf,
		Timeout: m.Timeout,
		Profile: p,
		Prepare: prep,
	})
	res.Enforced, res.Missing = sr.Enforced, sr.Missing
	switch {
	case err != nil:
		res.State, res.Reason = report.Failed, err.Error()
	case sr.TimedOut:
		res.State, res.Reason = report.Failed, fmt.Sprintf("timed out after %s", m.Timeout)
	case sr.ExitCode != 0:
		res.State, res.Reason = report.Failed, fmt.Sprintf("build failed: exit status %d", sr.ExitCode)
	default:
		res.State = report.Built
	}
	if res.State == report.Failed {
		say("%s", res.Reason)
		return errors.New(res.Reason)
	}
	say("build succeeded in %s", sr.Duration.Round(time.Millisecond))
	res.Artifacts = r.artifacts(name)
	ms := moduleState{Key: res.Key, Revision: res.Revision, Run: r.counter, Duration: sr.Duration, Log: res.Log}
	r.setKey(name, ms)
	if !r.cfg.Archive.Disabled {
		// Archiving copies and fsyncs; it is off the critical path, so
		// dependents start at once. The run waits for it before publishing.
		meta := archive.Meta{Module: name, Key: res.Key, Run: r.counter, Revision: res.Revision,
			Duration: sr.Duration, Created: r.deps.Now()}
		parts := archive.Parts{Install: r.layout.InstallDir(name), Package: r.layout.PackageDir(name), Log: res.Log}
		r.archiving.Go(func() {
			if err := r.arch.Store(meta, parts); err != nil {
				r.deps.Log.Warn("build archive: store failed", "module", name, "err", err)
			}
		})
	}
	return nil
}

// isDir reports whether a folder exists, asking the file system once per
// path and run: every dependent asks about the same install roots.
func (r *runner) isDir(p string) bool {
	if v, ok := r.dirs.Load(p); ok {
		return v.(bool)
	}
	info, err := os.Stat(p)
	ok := err == nil && info.IsDir()
	r.dirs.Store(p, ok)
	return ok
}

// artifacts lists the files a module's package folder holds.
func (r *runner) artifacts(name string) []report.Artifact {
	root := r.layout.PackageDir(name)
	var out []report.Artifact
	_ = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return nil
		}
		sum, err := archive.FileSHA256(p)
		if err != nil {
			return nil
		}
		rel, _ := filepath.Rel(root, p)
		out = append(out, report.Artifact{Path: rel, Size: info.Size(), SHA256: sum})
		return nil
	})
	sort.Slice(out, func(a, b int) bool { return out[a].Path < out[b].Path })
	return out
}

func (r *runner) publish() error {
	in := publish.Input{Run: r.rep, Files: map[string]publish.ModuleFiles{}}
	for _, m := range r.rep.Modules {
		f := publish.ModuleFiles{Log: m.Log}
		if m.State.OK() {
			f.Packages = r.layout.PackageDir(m.Name)
		}
		in.Files[m.Name] = f
	}
	return publish.Site(r.cfg.Publish.Dir, r.layout.SitesDir(), r.cfg.Publish.Keep, in)
}

func names(g *graph.Graph, idx []int) []string {
	out := make([]string, len(idx))
	for k, i := range idx {
		out[k] = g.Name(i)
	}
	return out
}
