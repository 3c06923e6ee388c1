package engine

import (
	"cmp"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"time"

	"github.com/autobuild/autobuild/engine/checkout"
	"github.com/autobuild/autobuild/engine/config"
	"github.com/autobuild/autobuild/scm"
)

// source is one module's log, revision and checkout in this run, each
// made once, by whichever asks first: the module's own pipeline, or the
// prefetch that checks modules out ahead of their dependencies.
type source struct {
	logOnce sync.Once
	log     *os.File
	logErr  error

	resolveOnce sync.Once
	rev         scm.Revision
	resolveErr  error

	checkoutOnce sync.Once
	co           checkout.Result
	coErr        error
}

// logFile opens module i's log of this run (closed by closeLogs).
func (r *runner) logFile(i int) (*os.File, error) {
	s := &r.sources[i]
	s.logOnce.Do(func() {
		p := filepath.Join(r.logDir, r.g.Name(i)+".log")
		s.log, s.logErr = os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	})
	return s.log, s.logErr
}

func (r *runner) closeLogs() {
	for i := range r.sources {
		if f := r.sources[i].log; f != nil {
			f.Close()
		}
	}
}

// say writes a line to module i's log, and to the structured log at
// debug level (--log-level debug --log-format json gives every step).
func (r *runner) say(i int, format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	if f, err := r.logFile(i); err == nil {
		fmt.Fprintf(f, "autobuild: %s\n", msg)
	}
	r.deps.Log.Debug(msg, "module", r.g.Name(i))
}

// resolve pins module i's source, in its confined SCM step (the
// checkout's identity, profile and timeout): once per run.
func (r *runner) resolve(ctx context.Context, i int) (scm.Revision, error) {
	s := &r.sources[i]
	s.resolveOnce.Do(func() {
		m := &r.cfg.Modules[i]
		logf, err := r.logFile(i)
		if err != nil {
			s.resolveErr = fmt.Errorf("open log: %w", err)
			return
		}
		s.rev, s.resolveErr = checkout.Resolve(ctx, r.deps.Executor, checkout.ResolveRequest{
			Module: m.Name, ID: r.policy.IDs[m.Name], Sources: ModuleSources(m),
			Tmp: r.layout.TmpDir(m.Name),
			At:  r.asOf(), Dirs: scm.Dirs{Work: r.layout.SourceDir(m.Name), Meta: r.layout.ScmDir(m.Name)},
			Profile: r.policy.Profile(r.cfg.SCMLevel, m.Name, nil, nil),
			Timeout: m.Timeout, Log: logf, LogLimit: r.cfg.LogLimit(m),
			Say: func(format string, args ...any) { r.say(i, format, args...) },
		})
		r.confinement(m.Name, "resolve", s.resolveErr)
	})
	return s.rev, s.resolveErr
}

// maxChanges bounds the changes a module's run lists; a first build
// lists the newest firstChanges.
const (
	maxChanges   = 20
	firstChanges = 5
)

// asOf is the time the run checks its sources out as (zero: now).
func (r *runner) asOf() time.Time {
	if !r.opts.AsOf.IsZero() {
		return r.opts.AsOf
	}
	return r.cfg.AsOf
}

// checkout makes module i's source folder hold rev, in its confined SCM
// step: once per run. A checkout needs nothing of the module's
// dependencies, so the prefetch may have done it already.
func (r *runner) checkout(ctx context.Context, i int, rev string) (checkout.Result, error) {
	s := &r.sources[i]
	s.checkoutOnce.Do(func() {
		m := &r.cfg.Modules[i]
		logf, err := r.logFile(i)
		if err != nil {
			s.coErr = fmt.Errorf("open log: %w", err)
			return
		}
		// What the source folder holds is forgotten, on disk, before the
		// step may change it.
		prev := r.tree(m.Name)
		// The changes since the last good build; a first build shows
		// the newest few.
		st := r.st.Get(m.Name)
		since, changes := cmp.Or(st.LastGood, st.Revision), maxChanges // (state from before last_good: its revision)
		if since == "" {
			changes = firstChanges
		}
		if err := r.setTree(m.Name, checkout.Tree{}); err != nil {
			s.coErr = err
			return
		}
		s.co, s.coErr = checkout.Run(ctx, r.deps.Executor, checkout.Request{
			Module: m.Name, ID: r.policy.IDs[m.Name], Sources: ModuleSources(m), Revision: rev,
			Dir: r.layout.SourceDir(m.Name), Meta: r.layout.ScmDir(m.Name), Tmp: r.layout.TmpDir(m.Name),
			Prev: prev, From: since, Changes: changes,
			Profile: r.policy.Profile(r.cfg.SCMLevel, m.Name, nil, nil),
			Timeout: m.Timeout, Log: logf, LogLimit: r.cfg.LogLimit(m),
			Say: func(format string, args ...any) { r.say(i, format, args...) },
		})
		if err := r.setTree(m.Name, s.co.Tree); err != nil && s.coErr == nil {
			s.coErr = err
		}
	})
	return s.co, s.coErr
}

// prefetch checks out, ahead of their dependencies and longest critical
// path first, the modules that will build whatever their dependencies do:
// a new revision, no earlier result, a forced rebuild, or no archive. A
// checkout is work off the critical path: done while dependencies build,
// it no longer delays the module when they are done. Modules that may be
// reused are left alone, so a run with no change checks nothing out. The
// run waits for it (r.prefetching) before it saves its state.
func (r *runner) prefetch(ctx context.Context, prio []float64, workers int) {
	order := make([]int, r.g.Len())
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(a, b int) bool { return prio[order[a]] > prio[order[b]] })
	next := make(chan int)
	for range max(1, workers) {
		r.prefetching.Go(func() {
			for i := range next {
				if ctx.Err() != nil {
					continue
				}
				rev, err := r.resolve(ctx, i)
				if err != nil || !r.willBuild(i, rev.ID) {
					continue
				}
				_, _ = r.checkout(ctx, i, rev.ID)
			}
		})
	}
	r.prefetching.Go(func() {
		defer close(next)
		for _, i := range order {
			select {
			case next <- i:
			case <-ctx.Done():
				return
			}
		}
	})
}

// willBuild reports whether module i builds in this run whatever its
// dependencies do.
func (r *runner) willBuild(i int, rev string) bool {
	name := r.g.Name(i)
	if r.forced(name) || r.cfg.Archive.Disabled {
		return true
	}
	prev := r.st.Get(name)
	return prev.Key == "" || prev.InProgress != "" || prev.Revision != rev
}

// ModuleSources are module m's sources as the checkout stage takes them.
func ModuleSources(m *config.Module) []checkout.Source {
	if len(m.Sources) == 1 && m.Sources[0].Path == "" {
		return checkout.Single(m.Sources[0].SCM())
	}
	out := make([]checkout.Source, len(m.Sources))
	for i, s := range m.Sources {
		out[i] = checkout.Source{Source: s.SCM(), Path: s.Path}
	}
	return out
}
