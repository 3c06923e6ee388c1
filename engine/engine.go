// Package engine runs one iteration of autobuild: from a validated
// configuration to a published site. Run is the only orchestration; each
// stage is a package of its own that takes what it needs as arguments:
//
//	config ─► graph ─► trust (levels, identities, preflight)
//	       ─► for each module, as soon as its dependencies are done:
//	            checkout.Resolve ─► cachekey ─► reuse (state or archive)
//	            ─► checkout.Run ─► build.Run ─► collect ─► archive
//	       ─► state and history ─► every publish.Publisher
//
// Steps run through an executor.Executor, which owns the module folders
// and what confinement can be enforced; publishers run after the builds,
// each failing alone. A module that fails is a result; Run returns an
// error only when the run as a whole did not do its job (see errors.go).
package engine

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"
	"time"

	"github.com/autobuild/autobuild/engine/archive"
	"github.com/autobuild/autobuild/engine/checkout"
	"github.com/autobuild/autobuild/engine/config"
	"github.com/autobuild/autobuild/engine/executor"
	"github.com/autobuild/autobuild/engine/graph"
	"github.com/autobuild/autobuild/engine/report"
	"github.com/autobuild/autobuild/engine/runlock"
	"github.com/autobuild/autobuild/engine/schedule"
	"github.com/autobuild/autobuild/engine/state"
	"github.com/autobuild/autobuild/engine/trust"
	"github.com/autobuild/autobuild/engine/workspace"
	"github.com/autobuild/autobuild/publish"
)

// Version is the engine version; it is part of every cache key.
var Version = "0.1.0"

// Options are the choices of one run.
type Options struct {
	// Workers overrides the configuration's worker count when > 0.
	Workers int
	// ForceAll rebuilds every module; Force rebuilds the named ones.
	ForceAll bool
	Force    []string
	// RetryFailed builds again the modules whose last build failed with
	// the same inputs (by default they fail again without running).
	RetryFailed bool
	// AsOf, when set, checks every module out as its source was at that
	// time (over the configuration's timestamp).
	AsOf time.Time
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

// Deps are the engine's boundaries, injected so that cmd/autobuild wires
// the implementations and tests can swap them.
type Deps struct {
	// Executor runs every step (checkouts and builds) and keeps the
	// module folders.
	Executor executor.Executor
	// Publishers publish the run, in order, each failing alone.
	Publishers []publish.Publisher
	Progress   func(Event)
	Log        *slog.Logger
	Now        func() time.Time
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
	r, err := plan(cfg, opts, deps)
	if err != nil {
		return nil, err
	}
	if err := r.preflight(); err != nil {
		return nil, err
	}
	if err := r.ws.Init(); err != nil {
		return nil, err
	}
	lock, err := runlock.Acquire(r.layout.LockFile())
	if err != nil {
		return nil, err
	}
	defer lock.Release()
	// An earlier run whose engine was killed may have left steps running,
	// writing into folders this run reuses: they die first, before any
	// module folder is touched (the lock says their engine is gone).
	if err := deps.Executor.Reap(ctx); err != nil {
		return nil, fmt.Errorf("kill the steps an earlier run left: %w", err)
	}
	return r.run(ctx)
}

// runner is one run in progress.
type runner struct {
	cfg    *config.Config
	opts   Options
	deps   Deps
	g      *graph.Graph
	policy *trust.Policy
	ws     executor.Workspace
	layout workspace.Layout

	counter int
	start   time.Time
	legacy  legacyStamp // Test-AutoBuild's counter and timestamp (legacy.go)
	arch    *archive.Archive
	logDir  string
	keys    []string // cache key per module, set when it finished OK

	archiving   sync.WaitGroup // archive stores in flight
	prefetching sync.WaitGroup // checkouts ahead of dependencies in flight
	sources     []source       // per module: log, revision, checkout

	history []report.Summary // the recorded runs, newest first

	mu         sync.Mutex // guards rep.Modules[i] and unenforced
	st         *state.Modules
	rep        *report.Run
	unenforced error // the first step whose confinement could not be applied
}

// plan builds the module graph and resolves the run's confinement.
func plan(cfg *config.Config, opts Options, deps Deps) (*runner, error) {
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
	ws := deps.Executor.Workspace()
	layout := ws.Layout()
	reserved, err := deps.Executor.ReservedIDs()
	if err != nil {
		return nil, fmt.Errorf("the host's reserved uids: %w", err)
	}
	policy, err := trust.NewPolicy(cfg, deps.Executor.SeparateUIDs(), layout.InstallRoots(), reserved)
	if err != nil {
		return nil, err
	}
	return &runner{cfg: cfg, opts: opts, deps: deps, g: g, ws: ws, layout: layout, policy: policy}, nil
}

// preflight refuses the run when a level cannot be enforced by the
// executor, or its steps could not reach what they need.
func (r *runner) preflight() error {
	if err := r.policy.Preflight(r.cfg, r.deps.Executor); err != nil {
		return err
	}
	paths := []string{r.cfg.BuildRoot, r.deps.Executor.Self()}
	for _, m := range r.cfg.Modules {
		paths = append(paths, checkout.Inputs(ModuleSources(&m))...)
	}
	if err := r.ws.Reachable(paths...); err != nil {
		return fmt.Errorf("%w: %v", ErrConfinement, err)
	}
	return nil
}

// run is the run itself, under the lock: its stages in order.
func (r *runner) run(ctx context.Context) (*report.Run, error) {
	if err := r.begin(); err != nil {
		return nil, err
	}
	prio, workers := r.priorities(), r.workers()
	r.prefetch(ctx, prio, workers)
	outcomes := schedule.Run(ctx, r.g, workers, prio, r.module)
	r.prefetching.Wait()
	r.archiving.Wait()
	r.closeLogs()
	r.recordSkipped(outcomes)
	r.rep.Duration = r.deps.Now().Sub(r.start)
	if ctx.Err() != nil {
		// An interrupted run publishes nothing: the previous site stays.
		return r.rep, context.Cause(ctx)
	}
	// The history the site shows includes this run; it is recorded once
	// the site published it, whatever the other publishers said (a
	// mirror or a mail server that is down fails the run, but the next
	// site still lists it).
	r.rep.History = state.WithRun(r.history, r.rep.Summarize())
	shown, err := r.publish(ctx)
	if !shown {
		return r.rep, err
	}
	if herr := state.SaveHistory(r.layout.StateDir(), r.rep.History); herr != nil {
		return r.rep, errors.Join(err, fmt.Errorf("history: %w", herr))
	}
	r.pruneLogs()
	if err != nil {
		return r.rep, err
	}
	return r.rep, r.outcome()
}

// begin counts the run and loads what the engine remembers.
func (r *runner) begin() error {
	hist, aside, err := state.History(r.layout.StateDir())
	if err != nil {
		return fmt.Errorf("history: %w", err)
	}
	if aside != "" {
		r.deps.Log.Error("the run history was damaged: kept aside, the history starts again", "file", aside)
	}
	r.history = hist
	// Every run that left logs or history counts, whatever the counter
	// file says.
	evidence := state.Runs(r.layout.LogRoot())
	for _, h := range hist {
		evidence = append(evidence, h.Counter)
	}
	counter, recovered, err := state.NextCounter(r.layout.StateDir(), evidence...)
	if err != nil {
		return fmt.Errorf("run counter: %w", err)
	}
	r.counter = counter
	r.start = r.deps.Now()
	r.deps.Log = r.deps.Log.With("run", r.counter)
	if recovered != "" {
		r.deps.Log.Warn("run counter recovered from the log folders and history", "why", recovered)
	}
	if r.st, err = state.Load(r.layout.StateDir()); err != nil {
		return fmt.Errorf("state: %w", err)
	}
	for _, name := range r.st.Damaged {
		r.deps.Log.Warn("module state damaged: the module is rebuilt", "module", name)
	}
	r.logDir = r.layout.LogDir(r.counter)
	if err := os.MkdirAll(r.logDir, 0o755); err != nil {
		return err
	}
	r.arch = &archive.Archive{Dir: r.layout.ArchiveDir(), Keep: r.cfg.Archive.Keep}
	r.keys = make([]string, r.g.Len())
	r.sources = make([]source, r.g.Len())
	r.rep = &report.Run{Counter: r.counter, Start: r.start, Modules: make([]report.Module, r.g.Len()), AsOf: r.asOf()}
	for i := range r.cfg.Modules {
		r.rep.Modules[i] = moduleReport(&r.cfg.Modules[i])
	}
	r.rep.Disabled = r.cfg.Disabled
	return nil
}

func (r *runner) workers() int {
	workers := r.cfg.Workers
	if r.opts.Workers > 0 {
		workers = r.opts.Workers
	}
	if workers == 0 {
		workers = runtime.NumCPU()
	}
	return workers
}

// priorities are the critical paths by expected durations learned from
// earlier runs; a module never built counts as one second.
func (r *runner) priorities() []float64 {
	return r.g.CriticalPath(func(i int) float64 {
		if d := r.st.Get(r.g.Name(i)).Duration; d > 0 {
			return d.Seconds()
		}
		return 1
	})
}

// moduleReport is what the report says of module m before it runs.
func moduleReport(m *config.Module) report.Module {
	res := report.Module{Name: m.Name, Label: m.Label, Depends: m.Depends, Groups: m.Groups, Level: m.Trust}
	for _, l := range m.Links {
		res.Links = append(res.Links, report.Link{Href: l.Href, Label: l.Label})
	}
	return res
}

// recordSkipped records the modules that never ran.
func (r *runner) recordSkipped(outcomes []schedule.Outcome) {
	for i, o := range outcomes {
		if o.OK || (o.SkippedFor == "" && !o.Cancelled) {
			continue
		}
		m := &r.rep.Modules[i]
		m.State = report.Skipped
		if o.Cancelled {
			m.Reason = "run cancelled"
		} else {
			m.Reason = fmt.Sprintf("dependency %s failed", o.SkippedFor)
		}
		r.deps.Progress(Event{Module: m.Name, Phase: "done", State: m.State, Reason: m.Reason})
	}
}

// publish runs every publisher; each fails alone, and the run's error
// names each that failed. shown reports whether every publisher that
// shows the run history (publish.Historian: the site) published the run,
// which then belongs in the history.
func (r *runner) publish(ctx context.Context) (shown bool, err error) {
	in := publish.Input{Run: r.rep, Files: map[string]publish.ModuleFiles{}}
	for _, m := range r.rep.Modules {
		f := publish.ModuleFiles{Log: m.Log}
		if m.State.OK() {
			f.Packages = r.layout.PackageDir(m.Name)
		}
		in.Files[m.Name] = f
	}
	var errs []error
	shown = true
	for _, p := range r.deps.Publishers {
		if err := p.Publish(ctx, in); err != nil {
			r.deps.Log.Error("publish failed", "publisher", p.Name(), "err", err)
			errs = append(errs, &PublishError{Publisher: p.Name(), Err: err})
			if h, ok := p.(publish.Historian); ok && h.ShowsHistory() {
				shown = false
			}
		}
	}
	return shown, errors.Join(errs...)
}

// outcome is the run's error once everything is published: a step that
// could not be confined outranks modules that failed.
func (r *runner) outcome() error {
	if r.unenforced != nil {
		return r.unenforced
	}
	if s := r.rep.Summarize(); !s.OK() {
		return &ModulesFailedError{Failed: s.Failed, Skipped: s.Skipped}
	}
	return nil
}

// logsKept is how many runs' log folders are kept (beyond those a reused
// module still points at).
const logsKept = 50

// pruneLogs removes the log folders of old runs that no module's current
// result refers to.
func (r *runner) pruneLogs() {
	keep := map[string]bool{}
	for _, m := range r.st.All() {
		if m.Log != "" {
			keep[filepath.Dir(m.Log)] = true
		}
		if m.Failed != nil && m.Failed.Log != "" {
			keep[filepath.Dir(m.Failed.Log)] = true
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
