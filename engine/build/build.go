// Package build is the build stage: it runs a module's build command,
// confined at its trust level, with the environment of the build
// contract (README.md, "The build contract", documents every variable
// Env sets, the list of dependencies in DepsFile, and the budgets that
// keep the environment within what Linux lets a program start with;
// "Running Test-AutoBuild scripts unchanged" the names of Test-AutoBuild
// and the merged install root, legacy.go).
package build

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/autobuild/autobuild/engine/executor"
	"github.com/autobuild/autobuild/sandbox"
)

// Dirs are a module's folders.
type Dirs struct {
	Source, Install, Package, Tmp string
}

// Dep is a dependency whose install root the build reads.
type Dep struct {
	Name string
	Root string
}

// Request is one module's build.
type Request struct {
	Module string
	ID     sandbox.ID
	// Command runs with /bin/sh -c in the source folder (see shellArgs).
	Command string
	// Env are the module's own KEY=VALUE settings.
	Env      []string
	Dirs     Dirs
	Deps     []Dep
	Counter  int
	Start    time.Time
	Revision string
	Timeout  time.Duration
	// Profile is the module's trust level resolved for it.
	Profile sandbox.Profile
	Log     io.Writer
	// LogLimit bounds what the build step writes to the log (0:
	// executor.DefaultLogLimit; see executor.Step.LogLimit).
	LogLimit int64
	// Say writes a line to the module's log.
	Say func(format string, args ...any)
	// Stamp, where set, is what AUTOBUILD_COUNTER and AUTOBUILD_TIMESTAMP
	// say instead of Counter and Start (see Stamp).
	Stamp Stamp
	// Merged shows the build its install root over its dependencies'
	// (executor.Merge), as Test-AutoBuild's one shared install root
	// showed them: at $AUTOBUILD_INSTALL_ROOT, read-only beneath what the
	// build writes there, which is all its install root holds after.
	Merged bool
}

// Error is a build that ran and failed, or could not run.
type Error struct {
	// Reason says what happened, as the status site shows it.
	Reason string
	// Err is the cause when the step could not run (nil when it ran and
	// failed); it wraps sandbox.ErrUnsupported when confinement could not
	// be applied.
	Err error
}

func (e *Error) Error() string { return e.Reason }
func (e *Error) Unwrap() error { return e.Err }

// Run prepares the module's install, package and temp folders (emptied),
// writes the list of its dependencies into its temp folder (DepsFile),
// and runs the build. The error is an *Error. The result carries the
// mechanisms that confined the step even when it failed, and how much of
// its output the log did not take (OutputDiscarded).
func Run(ctx context.Context, ex executor.Executor, req Request) (sandbox.Result, error) {
	ws := ex.Workspace()
	for _, d := range []string{req.Dirs.Install, req.Dirs.Package, req.Dirs.Tmp} {
		if err := ws.PrepareDir(d, req.ID, true); err != nil {
			return sandbox.Result{}, &Error{Reason: "prepare: " + err.Error(), Err: err}
		}
	}
	// The list, then the folder once more: the file becomes the module's
	// and carries its label like the rest of its temp folder.
	if err := os.WriteFile(filepath.Join(req.Dirs.Tmp, DepsFile), DepsList(req.Deps), 0o444); err != nil {
		return sandbox.Result{}, &Error{Reason: "prepare: " + err.Error(), Err: err}
	}
	if err := ws.PrepareDir(req.Dirs.Tmp, req.ID, false); err != nil {
		return sandbox.Result{}, &Error{Reason: "prepare: " + err.Error(), Err: err}
	}
	inputs := make([]string, len(req.Deps))
	for i, d := range req.Deps {
		inputs[i] = d.Root
	}
	var merge *executor.Merge
	if req.Merged && len(req.Deps) > 0 {
		merge = &executor.Merge{Dir: req.Dirs.Install, Lower: MergedLower(req.Deps)}
	}
	env, notes := Env(req, ws.IsDir)
	req.Say("build: %s (trust level %s, timeout %s)", req.Command, req.Profile.Level, req.Timeout)
	for _, n := range notes {
		req.Say("build: %s", n)
	}
	res, err := ex.Run(ctx, &executor.Step{
		Module:   req.Module,
		ID:       req.ID,
		Args:     shellArgs(req.Command, filepath.Join(req.Dirs.Tmp, ResultsFile)),
		Dir:      req.Dirs.Source,
		Env:      env,
		Stdout:   req.Log,
		Stderr:   req.Log,
		LogLimit: req.LogLimit,
		Timeout:  req.Timeout,
		Profile:  req.Profile,
		Inputs:   inputs,
		Outputs:  []string{req.Dirs.Source, req.Dirs.Install, req.Dirs.Package, req.Dirs.Tmp},
		Scratch:  []string{req.Dirs.Source},
		Merge:    merge,
	})
	switch {
	case err != nil:
		reason := err.Error()
		if errors.Is(err, syscall.E2BIG) || strings.Contains(reason, syscall.E2BIG.Error()) {
			reason += ": " + envSize(env)
		}
		if se := (*sandbox.StepError)(nil); errors.As(err, &se) && se.Stage == sandbox.StageMerge {
			reason += " (" + mergeHint + ")"
		}
		return res, &Error{Reason: reason, Err: err}
	case res.TimedOut:
		return res, &Error{Reason: fmt.Sprintf("timed out after %s", req.Timeout)}
	case res.ExitCode != 0 && res.Exhausted != "":
		return res, &Error{Reason: fmt.Sprintf("build failed: %s (exit status %d)", res.Exhausted, res.ExitCode)}
	case res.ExitCode != 0:
		return res, &Error{Reason: fmt.Sprintf("build failed: exit status %d", res.ExitCode)}
	}
	return res, nil
}

// envSize describes an environment too large for an exec.
func envSize(env []string) string {
	total, longest := 0, ""
	for _, e := range env {
		total += len(e) + 1
		if len(e) > len(longest) {
			longest = e
		}
	}
	name, _, _ := strings.Cut(longest, "=")
	return fmt.Sprintf("the build's environment holds %s in %d variables, the longest %s with %s, and the sandbox adds its own (Linux allows 128 KiB for one variable, about 2 MiB for all of them with the arguments)",
		sandbox.Size(int64(total)), len(env), name, sandbox.Size(int64(len(longest)+1)))
}

// DepsFile is the name of the file in the build's temp folder
// (AUTOBUILD_DEPS_FILE) that lists its dependencies: one line each, its
// name, a tab and its install root, in the order of AUTOBUILD_DEP_ROOTS.
// However many dependencies a module has, the file names them all.
const DepsFile = ".autobuild-deps"

// DepsList is the content of DepsFile.
func DepsList(deps []Dep) []byte {
	var b bytes.Buffer
	for _, d := range deps {
		b.WriteString(d.Name + "\t" + d.Root + "\n")
	}
	return b.Bytes()
}

// ResultsFile is the name of the file in the build's temp folder
// (AUTOBUILD_RESULTS_FILE, and the command's $1) where the build may
// leave its test results, JUnit XML or TAP: engine/results reads it after
// the step. The folder is emptied before the build, so whatever is there
// the build wrote.
const ResultsFile = ".autobuild-results"

// programPath is a command that is one path to a program, such as the
// default ./autobuild.sh: letters, digits, "._+-", and a "/".
var programPath = regexp.MustCompile(`^[A-Za-z0-9_.+-]*(/[A-Za-z0-9_.+-]+)+$`)

// shellArgs runs command with /bin/sh -c, the results file its $1. A
// command that is one path to a program (programPath) is given the
// results file as its first argument too, as Test-AutoBuild ran its
// control file: such a script finds it in its own $1.
func shellArgs(command, results string) []string {
	if programPath.MatchString(command) {
		command += ` "$@"`
	}
	return []string{"/bin/sh", "-c", command, "/bin/sh", results}
}

// The environment's budgets. Linux refuses an exec whose environment
// holds one string over 128 KiB (MAX_ARG_STRLEN), or more than about
// 2 MiB with the arguments; the sandbox's own instructions travel in the
// helper's environment too. Within these budgets a build gets the
// variables in full; beyond them the list in DepsFile still names every
// dependency.
const (
	// DepVarsBudget bounds AUTOBUILD_DEP_ROOTS and every
	// AUTOBUILD_DEP_<NAME>_ROOT together: they are all set when they fit,
	// none of them otherwise.
	DepVarsBudget = 128 << 10
	// SearchPathBudget bounds each of PATH, PKG_CONFIG_PATH,
	// LD_LIBRARY_PATH, LIBRARY_PATH and CPATH: the folders of the
	// dependencies that fit, in order, are on it; PATH ends with the
	// system's folders whatever it holds.
	SearchPathBudget = 64 << 10
)

var nonIdent = regexp.MustCompile(`[^A-Z0-9_]`)

// Env is the build contract: the AUTOBUILD_* variables, and the
// dependencies' install roots made usable through the usual variables,
// within the budgets above. isDir reports whether a folder exists. notes
// say what a budget left out, for the log. README.md documents every
// variable set here.
func Env(req Request, isDir func(string) bool) (env, notes []string) {
	env = executor.BaseEnv(req.Dirs.Tmp)
	// Only folders that exist: every process of the build searches these
	// lists (the dynamic loader, for each library), and a long list of
	// missing folders costs thousands of failed opens per process.
	search := func(name, base string, subdirs ...string) {
		var list []string
		size := len(name) + len("=") + len(base) + len("\x00")
		kept, have := 0, 0
		for _, d := range req.Deps {
			var mine []string
			add := 0
			for _, s := range subdirs {
				if p := filepath.Join(d.Root, s); isDir(p) {
					mine = append(mine, p)
					add += len(p) + len(":")
				}
			}
			if len(mine) == 0 {
				continue
			}
			have++
			if kept == have-1 && size+add <= SearchPathBudget {
				list = append(list, mine...)
				size += add
				kept++
			}
		}
		if kept < have {
			notes = append(notes, fmt.Sprintf("%s holds the folders of %d of the %d dependencies that have some: the others' would take it over its budget of %s",
				name, kept, have, sandbox.Size(SearchPathBudget)))
		}
		if base != "" {
			list = append(list, base)
		}
		if len(list) > 0 {
			env = append(env, name+"="+strings.Join(list, ":"))
		}
	}
	// PATH replaces the base one, with the dependencies first.
	env = env[1:]
	search("PATH", executor.SystemPath, "usr/local/bin", "usr/bin", "bin")
	search("PKG_CONFIG_PATH", "", "usr/local/lib/pkgconfig", "usr/lib/pkgconfig", "usr/lib64/pkgconfig", "usr/share/pkgconfig")
	search("LD_LIBRARY_PATH", "", "usr/local/lib", "usr/lib", "usr/lib64", "lib")
	search("LIBRARY_PATH", "", "usr/local/lib", "usr/lib", "usr/lib64", "lib")
	search("CPATH", "", "usr/local/include", "usr/include")
	counter, stamp := strconv.Itoa(req.Counter), req.Start.UTC().Format(time.RFC3339)
	if req.Stamp.Counter != "" {
		counter = req.Stamp.Counter
	}
	if req.Stamp.Timestamp != "" {
		stamp = req.Stamp.Timestamp
	}
	if req.Stamp.Note != "" {
		notes = append(notes, req.Stamp.Note)
	}
	env = append(env,
		"AUTOBUILD_MODULE="+req.Module,
		"AUTOBUILD_SOURCE_ROOT="+req.Dirs.Source,
		"AUTOBUILD_INSTALL_ROOT="+req.Dirs.Install,
		"AUTOBUILD_PACKAGE_ROOT="+req.Dirs.Package,
		"AUTOBUILD_COUNTER="+counter,
		"AUTOBUILD_TIMESTAMP="+stamp,
		"AUTOBUILD_REVISION="+req.Revision,
		"AUTOBUILD_LEVEL="+req.Profile.Level,
		"AUTOBUILD_DEPS_FILE="+filepath.Join(req.Dirs.Tmp, DepsFile),
		"AUTOBUILD_RESULTS_FILE="+filepath.Join(req.Dirs.Tmp, ResultsFile),
	)
	env = append(env, LegacyEnv(req.Dirs.Install, counter)...)
	roots := make([]string, len(req.Deps))
	for i, d := range req.Deps {
		roots[i] = d.Root
	}
	deps := []string{"AUTOBUILD_DEP_ROOTS=" + strings.Join(roots, ":")}
	for _, d := range req.Deps {
		v := nonIdent.ReplaceAllString(strings.ToUpper(d.Name), "_")
		deps = append(deps, "AUTOBUILD_DEP_"+v+"_ROOT="+d.Root)
	}
	size := 0
	for _, v := range deps {
		size += len(v) + len("\x00")
	}
	if size <= DepVarsBudget {
		env = append(env, deps...)
	} else {
		notes = append(notes, fmt.Sprintf("AUTOBUILD_DEP_ROOTS and AUTOBUILD_DEP_<NAME>_ROOT are not set: for %d dependencies they would take %s, over their budget of %s; $AUTOBUILD_DEPS_FILE lists them all",
			len(req.Deps), sandbox.Size(int64(size)), sandbox.Size(DepVarsBudget)))
	}
	return append(env, req.Env...), notes
}
