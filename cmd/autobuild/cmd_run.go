package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"golang.org/x/term"

	"github.com/autobuild/autobuild/engine"
	"github.com/autobuild/autobuild/engine/config"
	"github.com/autobuild/autobuild/engine/report"
	"github.com/autobuild/autobuild/engine/runlock"
	"github.com/autobuild/autobuild/publish"
	"github.com/autobuild/autobuild/publish/mirror"
	"github.com/autobuild/autobuild/publish/repo"
	"github.com/autobuild/autobuild/sandbox"
)

// RunOptions are the flags of `autobuild run`.
type RunOptions struct {
	Jobs  int
	Force []string
	// RetryFailed builds again modules that failed with unchanged inputs.
	RetryFailed bool
	Progress    string
	Secure      bool
	// Timestamp checks every module out as it was then.
	Timestamp string
}

// AddFlags binds the options to the run command's flags.
func (o *RunOptions) AddFlags(fs *pflag.FlagSet) {
	fs.IntVarP(&o.Jobs, "jobs", "j", 0, "modules built at once (default: workers from the config, else one per CPU)")
	fs.StringSliceVar(&o.Force, "force", nil, "rebuild even if unchanged: --force for all modules, --force=a,b for some")
	fs.Lookup("force").NoOptDefVal = "*"
	fs.BoolVar(&o.RetryFailed, "retry-failed", false, "build again the modules whose last build failed with the same inputs (by default they are reported still failing, not rebuilt)")
	fs.BoolVar(&o.Secure, "secure", invokedSecure(), "run the engine itself confined (the default when invoked as autobuild-secure)")
	fs.StringVar(&o.Timestamp, "timestamp", "", "build every module as its source was at this time (2009-03-01T12:00:00Z, \"2009-03-01 12:00\" UTC, 2009-03-01, @epoch-seconds); over the config's timestamp")
	fs.StringVar(&o.Progress, "progress", "auto", "progress on stderr: auto (lines on a terminal, nothing under cron), plain, quiet")
}

func newRunCommand(g *globals) *cobra.Command {
	o := &RunOptions{}
	cmd := &cobra.Command{
		Use:   "run",
		Short: "run one build iteration (what cron calls)",
		Long: `Run one iteration: take the build root's lock, check out every module,
build the ones whose inputs changed (in dependency order, in parallel where
the graph allows, each confined at its trust level), reuse the others from the
build archive, and publish the status site atomically.

` + exitCodesHelp,
		Example: `  # what cron runs: quiet unless something is wrong
  autobuild run --config /etc/autobuild/autobuild.yaml

  # by hand: progress lines, four modules at once, rebuild libfoo
  autobuild run -j 4 --force=libfoo --progress=plain

  # rebuild the sources as they were on the day of a release
  autobuild run --timestamp 2025-06-30T18:00:00Z --progress=plain

  # the engine itself confined too
  autobuild-secure run`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runRun(cmd.Context(), o, g) },
	}
	o.AddFlags(cmd.Flags())
	return cmd
}

// runRun performs `autobuild run`: it wires the engine's boundaries (the
// local executor, the site publisher) and reports the run. Its error
// decides the exit code (see exitCode).
func runRun(ctx context.Context, o *RunOptions, g *globals) error {
	if err := oneOf("--progress", o.Progress, "auto", "plain", "quiet"); err != nil {
		return err
	}
	if err := config.ValidateWorkers(o.Jobs); err != nil {
		return &usageError{fmt.Errorf("--jobs: %w", err)}
	}
	var asOf time.Time
	if o.Timestamp != "" {
		t, err := config.ParseTimestamp(o.Timestamp, time.Now())
		if err != nil {
			return &usageError{fmt.Errorf("--timestamp: %w", err)}
		}
		asOf = t
	}
	cfg, err := g.load()
	if err != nil {
		return err
	}
	if o.Secure {
		if err := confineEngine(cfg); err != nil {
			return fmt.Errorf("%w: secure mode: %w", engine.ErrConfinement, err)
		}
	}
	runner, err := sandbox.NewExec()
	if err != nil {
		return err
	}
	opts := engine.Options{Workers: o.Jobs, RetryFailed: o.RetryFailed, AsOf: asOf}
	for _, f := range o.Force {
		if f == "*" {
			opts.ForceAll = true
		} else {
			opts.Force = append(opts.Force, f)
		}
	}
	// Confined steps start as the helper (runner.Self); checkout steps run
	// this very binary in its checkout mode.
	self, err := os.Executable()
	if err != nil {
		return err
	}
	ex, local, err := newExecutor(ctx, cfg, runner, self)
	if err != nil {
		return err
	}
	site := &publish.Site{Dir: cfg.Publish.Dir, Sites: local.WS.SitesDir(), Keep: cfg.Publish.Keep, LogRoot: local.WS.LogRoot(),
		FilesURL: cfg.Publish.FilesURL, Title: cfg.Publish.Title, URL: cfg.Publish.URL, CommitURL: cfg.Publish.CommitURL,
		Templates: cfg.Publish.Templates}
	// The site first: the alerts link to it once it is live.
	publishers := []publish.Publisher{site}
	if r := cfg.Publish.Repos; r != nil { // made in the site before it goes live; reports after it
		title := cfg.Publish.Title
		if title == "" {
			title = publish.DefaultTitle
		}
		repos := &repo.Repos{KeyFile: r.SigningKey, PassphraseFile: r.PassphraseFile, Timeout: r.Timeout, Label: title}
		site.Parts = append(site.Parts, repos)
		publishers = append(publishers, repos)
	}
	for _, m := range cfg.Publish.Mirrors { // copies of the live site, each failing alone
		publishers = append(publishers, &mirror.Mirror{Site: cfg.Publish.Dir, To: m.To, PasswordFile: m.PasswordFile, RSH: m.RSH, Timeout: m.Timeout})
	}
	if alerts, err := newAlerts(cfg, local.WS.Layout); err != nil {
		return err
	} else if alerts != nil {
		publishers = append(publishers, alerts)
	}
	rep, err := engine.Run(ctx, cfg, opts, engine.Deps{
		Executor: ex, Publishers: publishers,
		Progress: newProgress(o.Progress, g.stderr), Log: g.logger(),
	})
	return reportRun(g.stdout, o.Progress, runReport{rep: rep, site: cfg.Publish.Dir, baseURL: cfg.Publish.URL, filesURL: cfg.Publish.FilesURL}, err, cfg.StaleLockAfter)
}

// reportRun prints what the run says on stdout and returns the error that
// decides the exit code. Under cron (stdout not a terminal) a run says
// nothing unless something needs the admin, so cron mails only then: a
// module that failed in this run (its reason, log and the log's last
// lines), an error of the run itself, or a lock held for longer than
// staleAfter. A run kept out by a younger lock, or whose only failures are
// modules still failing with unchanged inputs, exits with its status
// quietly.
func reportRun(w io.Writer, progress string, rr runReport, err error, staleAfter time.Duration) error {
	var le *runlock.LockedError
	if errors.As(err, &le) && time.Since(le.Since) < staleAfter {
		return &silentError{err}
	}
	if rr.rep == nil || !(err == nil || errors.Is(err, engine.ErrModulesFailed) || errors.Is(err, engine.ErrConfinement)) {
		return err
	}
	if progress != "quiet" && (progress == "plain" || isTerminal(w) || rr.news()) {
		rr.write(w)
	}
	if errors.Is(err, engine.ErrModulesFailed) {
		return &silentError{err} // the report said it
	}
	return err
}

// isTerminal reports whether w is a terminal.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// silentError is an error already reported (or deliberately not): its
// exit code stands, and nothing more is printed.
type silentError struct{ err error }

func (e *silentError) Error() string { return e.err.Error() }
func (e *silentError) Unwrap() error { return e.err }

// newProgress returns the progress renderer for a mode.
func newProgress(mode string, w io.Writer) func(engine.Event) {
	if mode == "auto" {
		mode = "quiet"
		if isTerminal(w) {
			mode = "plain"
		}
	}
	if mode != "plain" {
		return nil
	}
	return func(e engine.Event) {
		switch {
		case e.Phase == "start":
			fmt.Fprintf(w, "  …  %s\n", e.Module)
		case e.State == report.Built:
			fmt.Fprintf(w, "  ok  %s built in %s\n", e.Module, e.Took.Round(time.Millisecond))
		case e.State == report.Reused:
			fmt.Fprintf(w, "  ok  %s %s\n", e.Module, e.Reason)
		default:
			fmt.Fprintf(w, "  !!  %s %s: %s\n", e.Module, e.State, e.Reason)
		}
	}
}
