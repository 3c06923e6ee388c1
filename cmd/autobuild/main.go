// Command autobuild is a sandboxed continuous build engine: run from cron,
// each iteration checks out every module, builds it confined at its trust
// level in dependency order, and publishes a status site atomically.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/autobuild/autobuild/engine"
	"github.com/autobuild/autobuild/engine/checkout"
	"github.com/autobuild/autobuild/engine/config"
	"github.com/autobuild/autobuild/engine/executor/slurm"
	"github.com/autobuild/autobuild/engine/runlock"
	"github.com/autobuild/autobuild/sandbox"
	_ "github.com/autobuild/autobuild/scm/brz"    // wires the brz SCM into the registry
	_ "github.com/autobuild/autobuild/scm/cvs"    // wires the cvs SCM into the registry
	_ "github.com/autobuild/autobuild/scm/darcs"  // wires the darcs SCM into the registry
	_ "github.com/autobuild/autobuild/scm/dir"    // wires the dir SCM into the registry
	_ "github.com/autobuild/autobuild/scm/fossil" // wires the fossil SCM into the registry
	_ "github.com/autobuild/autobuild/scm/git"    // wires the git SCM into the registry
	_ "github.com/autobuild/autobuild/scm/hg"     // wires the hg SCM into the registry
	_ "github.com/autobuild/autobuild/scm/svn"    // wires the svn SCM into the registry
	_ "github.com/autobuild/autobuild/scm/tla"    // wires the tla SCM into the registry
)

// Exit codes, for cron. Documented in --help, README.md and the man page.
const (
	exitOK          = 0   // every module built (or was reused)
	exitFailed      = 1   // at least one module failed or was skipped
	exitConfig      = 2   // usage or configuration error
	exitLocked      = 3   // another run holds the lock
	exitConfinement = 4   // a trust level cannot be enforced on this host
	exitInternal    = 5   // the engine itself failed
	exitInterrupted = 130 // SIGINT or SIGTERM
)

const exitCodesHelp = `Exit status:
  0    every module built or was reused
  1    at least one module failed (or was skipped because a dependency failed)
  2    usage or configuration error (the message names the file, key and line)
  3    another autobuild run holds the lock (it is released when that run exits)
  4    a trust level cannot be enforced on this host (see "autobuild doctor"):
       found before the run (nothing ran), or by a step that could not be
       confined (that module failed; the others built and were published)
  5    internal error: the engine could not do its job, or a publisher failed
       (the message names it; the other publishers still ran)
  130  interrupted (SIGINT or SIGTERM); the previous site is left in place`

func main() {
	// The sandbox helper must run before anything else: it is the code
	// between fork and the confined exec.
	sandbox.RunHelperIfRequested()
	// The checkout step's child side: the engine runs it confined.
	checkout.RunIfRequested()
	// What srun runs on a cluster node: a build step, or the probe.
	slurm.RunNodeIfRequested()
	// Descriptors the engine inherited (from cron, a shell, a job runner)
	// must not reach its steps: Go only opens its own close-on-exec.
	closeInheritedFDs()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := execute(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// execute runs the CLI with args and returns the exit code.
func execute(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	g := &globals{stdout: stdout, stderr: stderr}
	root := newRootCommand(g)
	root.SetArgs(args)
	root.SetOut(stdout)
	root.SetErr(stderr)
	err := root.ExecuteContext(ctx)
	var silent *silentError
	// The journal mails nobody: there an error kept quiet for cron is
	// still said, with its priority.
	if err != nil && (!errors.As(err, &silent) || toJournal(stderr)) {
		fmt.Fprint(stderr, journalText(stderr, errorLevel(err), fmt.Sprintf("autobuild: %v\n", err)))
	}
	return exitCode(ctx, err)
}

// exitCode maps the error a command returned to the exit status: the one
// place that decides it. The order matters where an error is two things
// at once: a run cancelled by a signal exits 130 whatever its steps said,
// and a step that could not be confined outranks modules that failed.
func exitCode(ctx context.Context, err error) int {
	var ce *config.Error
	var ue *usageError
	switch {
	case err == nil:
		return exitOK
	case errors.As(err, &ce), errors.As(err, &ue):
		return exitConfig
	case errors.Is(err, runlock.ErrLocked):
		return exitLocked
	case ctx.Err() != nil:
		return exitInterrupted
	case errors.Is(err, engine.ErrConfinement), errors.Is(err, sandbox.ErrUnsupported):
		return exitConfinement
	case errors.Is(err, engine.ErrModulesFailed):
		return exitFailed
	}
	return exitInternal
}

// usageError is a bad command line.
type usageError struct{ err error }

func (e *usageError) Error() string { return e.err.Error() }
func (e *usageError) Unwrap() error { return e.err }
