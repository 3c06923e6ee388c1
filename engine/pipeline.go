package engine

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"path/filepath"
	"time"

	"github.com/autobuild/autobuild/engine/archive"
	"github.com/autobuild/autobuild/engine/build"
	"github.com/autobuild/autobuild/engine/cachekey"
	"github.com/autobuild/autobuild/engine/checkout"
	"github.com/autobuild/autobuild/engine/collect"
	"github.com/autobuild/autobuild/engine/config"
	"github.com/autobuild/autobuild/engine/report"
	"github.com/autobuild/autobuild/engine/results"
	"github.com/autobuild/autobuild/engine/state"
	"github.com/autobuild/autobuild/sandbox"
)

// module is one module's pipeline: resolve, key, reuse or check out and
// build, collect, archive. It returns whether its dependents may build.
func (r *runner) module(ctx context.Context, i int) bool {
	m := &r.cfg.Modules[i]
	res := moduleReport(m)
	res.Start = r.deps.Now()
	r.deps.Progress(Event{Module: m.Name, Phase: "start"})
	log := r.deps.Log.With("module", m.Name)
	fail := func(reason string) bool {
		res.State, res.Reason = report.Failed, reason
		return r.finish(i, res, log)
	}
	if _, err := r.logFile(i); err != nil {
		return fail("open log: " + err.Error())
	}
	res.Log = filepath.Join(r.logDir, m.Name+".log")
	say := func(format string, args ...any) { r.say(i, format, args...) }

	// 1. Resolve the revision: cheap, and it feeds the cache key.
	rev, err := r.resolve(ctx, i)
	if err != nil {
		say("checkout failed: %v", err)
		return fail("checkout: " + err.Error())
	}
	res.Revision = rev.ID
	ki := cachekey.Inputs{Module: m.Name, Revision: res.Revision}
	if len(m.Sources) == 1 && m.Sources[0].Path == "" {
		src := m.Sources[0].SCM()
		ki.SourceKind, ki.SourceURL = src.Kind, src.URL
		say("module %s: %s of %s is %s", m.Name, src.Ref(), src.URL, res.Revision)
	} else {
		for _, s := range m.Sources {
			ki.Sources = append(ki.Sources, cachekey.Source{Path: s.Path, Kind: s.Kind, URL: s.URL})
			say("module %s: source %s: %s of %s", m.Name, s.Path, s.SCM().Ref(), s.URL)
		}
		say("module %s is at %s", m.Name, res.Revision)
	}

	// 2. The cache key: the source, the dependencies' keys, the settings.
	deps := map[string]string{}
	for _, d := range r.g.Deps(i) {
		deps[r.g.Name(d)] = r.keys[d]
	}
	ki.DepKeys, ki.Command, ki.Env = deps, m.Command, m.Env
	ki.Level, ki.LevelRules, ki.Version = m.Trust, r.policy.Levels.Rules(m.Trust), Version
	ki.InstallRoot = r.installRootKey(i)
	res.Key = cachekey.Key(ki)

	// 3. A build that failed with these very inputs fails again without
	// running, until they change (or a retry is asked for).
	if f := r.st.Get(m.Name).Failed; f != nil && f.Key == res.Key && !r.forced(m.Name) && !r.opts.RetryFailed && !m.RetryFailed {
		res.State, res.FailedSince = report.Failed, f.Run
		res.Reason = fmt.Sprintf("still failing since run %d: %s", f.Run, f.Reason)
		res.Tests = f.Tests
		if f.Log != "" && r.ws.Exists(f.Log) {
			res.Log = f.Log
		}
		say("%s (not rebuilt: its inputs did not change; --retry-failed builds it again)", res.Reason)
		return r.finish(i, res, log)
	}

	// 4. Reuse an identical earlier build: nothing is fetched, checked out
	// or run.
	if !r.forced(m.Name) && !r.cfg.Archive.Disabled && r.reuse(m, &res, say) {
		// Sealed already, unless restored just now or left by an older
		// engine: cheap when sealed (one getxattr).
		if err := r.ws.SealInstall(r.layout.InstallDir(m.Name)); err != nil {
			r.confinement(m.Name, "reuse", err)
			say("seal the install root: %v", err)
			return fail("seal the install root: " + err.Error())
		}
		r.keys[i] = res.Key
		return r.finish(i, res, log)
	}

	// 5. Check out: fetch only if the revision is new, then reset the work
	// tree and remove what an earlier build left, so every build starts
	// from exactly the pinned content. The SCM's metadata lives in its own
	// folder (Meta), which only this step writes: the build never gets it.
	// The prefetch may have done it while the dependencies built.
	id := r.policy.IDs[m.Name]
	co, err := r.checkout(ctx, i, res.Revision)
	if err != nil {
		r.confinement(m.Name, "checkout", err)
		return fail(err.Error())
	}
	res.Changes, res.ChangesSince = reportChanges(co.Changes), co.ChangesSince

	// 6. Build, confined at the module's level.
	closure := r.g.Closure(i)
	var depNames, depRoots []string
	var buildDeps []build.Dep
	for _, j := range closure[:len(closure)-1] {
		name := r.g.Name(j)
		depNames = append(depNames, name)
		depRoots = append(depRoots, r.layout.InstallDir(name))
		buildDeps = append(buildDeps, build.Dep{Name: name, Root: r.layout.InstallDir(name)})
	}
	// The folders are about to change: the module is marked in progress,
	// on disk, first.
	if err := r.begun(m.Name, "build"); err != nil {
		say("%v", err)
		return fail(err.Error())
	}
	dirs := build.Dirs{
		Source: r.layout.SourceDir(m.Name), Install: r.layout.InstallDir(m.Name),
		Package: r.layout.PackageDir(m.Name), Tmp: r.layout.TmpDir(m.Name),
	}
	sr, err := build.Run(ctx, r.deps.Executor, build.Request{
		Module: m.Name, ID: id, Command: m.Command, Env: m.Env,
		Dirs: dirs,
		Deps: buildDeps, Counter: r.counter, Start: r.start, Revision: res.Revision,
		Timeout: m.Timeout, Profile: r.policy.Profile(m.Trust, m.Name, depNames, depRoots),
		Log: r.sources[i].log, Say: say, LogLimit: r.cfg.LogLimit(m),
		Stamp: r.stamp(ctx), Merged: m.MergedInstallRoot(),
	})
	res.Enforced, res.Missing, res.Node = sr.Enforced, sr.Missing, sr.Node
	res.LogDiscarded += sr.OutputDiscarded
	// The results file the build left, read before a failure empties its
	// temp folder. Reported only: the exit status decides the state.
	if res.Tests = results.Read(filepath.Join(dirs.Tmp, build.ResultsFile)); res.Tests != nil {
		say("results: %s", results.Describe(res.Tests))
	}
	if err != nil {
		r.confinement(m.Name, "build", err)
		say("%s", err)
		r.discard(i, dirs)
		var be *build.Error
		if errors.As(err, &be) && be.Err == nil {
			// The build ran and failed: remembered with its key.
			r.failed(m.Name, state.Failure{Key: res.Key, Run: r.counter, Reason: err.Error(), Log: res.Log, Tests: res.Tests})
		}
		return fail(err.Error())
	}
	res.State = report.Built
	if sr.Node != "" {
		say("build succeeded in %s on node %s", sr.Duration.Round(time.Millisecond), sr.Node)
	} else {
		say("build succeeded in %s", sr.Duration.Round(time.Millisecond))
	}
	// Its install root becomes read-only for every step before any
	// dependent starts (they read it by type, at their own categories).
	if err := r.ws.SealInstall(r.layout.InstallDir(m.Name)); err != nil {
		r.confinement(m.Name, "build", err)
		say("seal the install root: %v", err)
		r.discard(i, dirs)
		return fail("seal the install root: " + err.Error())
	}

	// 7. Collect what the build left in its package folder, and record
	// the result once all of it is on disk.
	res.Artifacts, res.Unpublished = collect.Artifacts(r.layout.PackageDir(m.Name))
	if err := r.done(m.Name, state.Module{Key: res.Key, Revision: res.Revision, Run: r.counter, Duration: sr.Duration, Log: res.Log,
		Artifacts: collect.Fingerprint(res.Artifacts, res.Unpublished), Tests: res.Tests}, i); err != nil {
		say("%v", err)
		r.discard(i, dirs)
		return fail(err.Error())
	}
	r.keys[i] = res.Key

	// 8. Archive it, off the critical path: dependents start at once, and
	// the run waits for the archive before publishing.
	if !r.cfg.Archive.Disabled {
		meta := archive.Meta{Module: m.Name, Key: res.Key, Run: r.counter, Revision: res.Revision,
			Duration: sr.Duration, Created: r.deps.Now(), Tests: res.Tests}
		parts := archive.Parts{Install: r.layout.InstallDir(m.Name), Package: r.layout.PackageDir(m.Name), Log: res.Log}
		r.archiving.Go(func() {
			if err := r.arch.Store(meta, parts); err != nil {
				r.deps.Log.Warn("build archive: store failed", "module", m.Name, "err", err)
			}
		})
	}
	return r.finish(i, res, log)
}

// confinement remembers the first step whose confinement could not be
// applied: the run goes on (the module failed), and ends with it.
func (r *runner) confinement(module, stage string, err error) {
	if !errors.Is(err, sandbox.ErrUnsupported) {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.unenforced == nil {
		r.unenforced = &ModuleError{Module: module, Stage: stage, Err: err}
	}
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

// reuse restores the module's result from the live folders or the archive
// when an identical build exists.
func (r *runner) reuse(m *config.Module, res *report.Module, say func(string, ...any)) bool {
	prev := r.st.Get(m.Name)
	if prev.InProgress != "" {
		say("an earlier run was stopped during its %s: rebuilding", prev.InProgress)
	} else if prev.Key == res.Key {
		arts, unpublished, missing := r.outputs(m.Name, prev)
		if missing == "" {
			res.State, res.ReusedFrom, res.Log = report.Reused, prev.Run, prev.Log
			res.Reason = fmt.Sprintf("unchanged since run %d", prev.Run)
			res.Artifacts, res.Unpublished, res.Tests = arts, unpublished, prev.Tests
			say("unchanged since run %d: not rebuilt", prev.Run)
			return true
		}
		say("unchanged since run %d, but %s: rebuilding", prev.Run, missing)
	}
	meta, err := r.arch.Lookup(m.Name, res.Key)
	if err != nil {
		if !errors.Is(err, fs.ErrNotExist) {
			say("build archive: %v; rebuilding", err)
		}
		return false
	}
	// The previous result in the folders is no longer valid from here on.
	if err := r.begun(m.Name, "restore"); err != nil {
		say("%v; rebuilding", err)
		return false
	}
	logPath := filepath.Join(r.logDir, m.Name+".restored.log")
	if err := r.arch.Restore(m.Name, res.Key, archive.Parts{
		Install: r.layout.InstallDir(m.Name), Package: r.layout.PackageDir(m.Name), Log: logPath,
	}); err != nil {
		say("build archive: restore failed: %v; rebuilding", err)
		return false
	}
	arts, unpublished := collect.Artifacts(r.layout.PackageDir(m.Name))
	if err := r.done(m.Name, state.Module{Key: res.Key, Revision: res.Revision, Run: meta.Run, Duration: meta.Duration, Log: logPath,
		Artifacts: collect.Fingerprint(arts, unpublished), Tests: meta.Tests}, -1); err != nil {
		say("%v; rebuilding", err)
		return false
	}
	res.State, res.ReusedFrom, res.Log = report.Reused, meta.Run, logPath
	res.Reason = fmt.Sprintf("restored from the build archive (built in run %d)", meta.Run)
	res.Artifacts, res.Unpublished, res.Tests = arts, unpublished, meta.Tests
	say("restored from the build archive (built in run %d)", meta.Run)
	return true
}

// outputs lists the module's artifacts when every output its state
// records is there as recorded: the install and package folders, the
// log, and the package folder's content. Otherwise missing says what is
// not.
func (r *runner) outputs(name string, prev state.Module) (arts []report.Artifact, unpublished, missing string) {
	switch {
	case !r.ws.Exists(r.layout.InstallDir(name)):
		return nil, "", "its install folder is gone"
	case !r.ws.Exists(r.layout.PackageDir(name)):
		return nil, "", "its package folder is gone"
	case prev.Log == "" || !r.ws.Exists(prev.Log):
		return nil, "", "its log is gone"
	}
	arts, unpublished = collect.Artifacts(r.layout.PackageDir(name))
	if collect.Fingerprint(arts, unpublished) != prev.Artifacts {
		return nil, "", "its package folder changed since"
	}
	return arts, unpublished, ""
}

// tree is what the module's source folder held after its last checkout.
func (r *runner) tree(name string) checkout.Tree {
	s := r.st.Get(name)
	return checkout.Tree{Revision: s.Checkout, Pristine: s.Pristine}
}

// setTree records what the module's source folder holds. The checkout
// step calls it with an empty tree before it changes the folder.
func (r *runner) setTree(name string, t checkout.Tree) error {
	return r.st.Update(name, func(s *state.Module) {
		s.Checkout, s.Pristine = t.Revision, t.Pristine
	})
}

// begun marks the module's install and package folders as changing, on
// disk, before they change: until done, no run reuses them.
func (r *runner) begun(name, what string) error {
	err := r.st.Update(name, func(s *state.Module) {
		s.Key, s.Revision, s.Run, s.Log, s.Artifacts = "", "", 0, "", ""
		s.InProgress = what
	})
	if err != nil {
		return fmt.Errorf("cannot mark the module in progress: %w", err)
	}
	return nil
}

// done records what the module's folders hold, once they are complete
// and synced (with module i's log, when i >= 0), keeping its checkout and
// its learned duration.
func (r *runner) done(name string, rec state.Module, i int) error {
	if i >= 0 {
		if f, err := r.logFile(i); err == nil {
			if err := f.Sync(); err != nil {
				return fmt.Errorf("sync the log: %w", err)
			}
		}
	}
	if err := r.ws.Sync(r.layout.InstallDir(name), r.layout.PackageDir(name), filepath.Dir(rec.Log)); err != nil {
		return err
	}
	return r.st.Update(name, func(s *state.Module) {
		rec.Checkout, rec.Pristine, rec.LastGood = s.Checkout, s.Pristine, cmp.Or(rec.Revision, s.LastGood)
		if rec.Duration == 0 {
			rec.Duration = s.Duration
		}
		*s = rec
	})
}

// failed remembers a build that failed, so that the same inputs fail
// again without running.
func (r *runner) failed(name string, f state.Failure) {
	if err := r.st.Update(name, func(s *state.Module) { s.Failed = &f }); err != nil {
		r.deps.Log.Warn("cannot remember the failed build", "module", name, "err", err)
	}
}

// discard removes what a failed build left in the module's folders (its
// source folder included: the build may have written there too), so
// that a build that filled the disk frees it, and the next run starts
// from a fresh checkout. The module stays marked in progress if anything
// cannot be removed.
func (r *runner) discard(i int, dirs build.Dirs) {
	name := r.g.Name(i)
	id := r.policy.IDs[name]
	for _, d := range []string{dirs.Install, dirs.Package, dirs.Tmp, dirs.Source} {
		if err := r.ws.PrepareDir(d, id, true); err != nil {
			r.say(i, "remove what the failed build left in %s: %v", d, err)
			return
		}
	}
	if err := r.setTree(name, checkout.Tree{}); err != nil {
		r.say(i, "%v", err)
		return
	}
	if err := r.st.Update(name, func(s *state.Module) { s.InProgress = "" }); err != nil {
		r.say(i, "%v", err)
	}
}

// reportChanges is what the site and status.json show of a checkout's
// changes.
func reportChanges(cs []checkout.Change) []report.Change {
	var out []report.Change
	for _, c := range cs {
		out = append(out, report.Change{ID: c.ID, Author: c.Author, Date: c.Date, Subject: c.Subject,
			Files: c.Files, FilesOmitted: c.FilesOmitted, Source: c.Source})
	}
	return out
}
