// Package build is the build stage: it runs a module's build command,
// confined at its trust level, with the environment of the build
// contract (README.md, "The build contract", documents every variable
// Env sets).
package build

import (
	"context"
	"fmt"
	"io"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
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
	// Command runs with /bin/sh -c in the source folder.
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
	// Say writes a line to the module's log.
	Say func(format string, args ...any)
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

// Run prepares the module's install, package and temp folders (emptied)
// and runs the build. The error is an *Error. The result carries the
// mechanisms that confined the step even when it failed.
func Run(ctx context.Context, ex executor.Executor, req Request) (sandbox.Result, error) {
	ws := ex.Workspace()
	for _, d := range []string{req.Dirs.Install, req.Dirs.Package, req.Dirs.Tmp} {
		if err := ws.PrepareDir(d, req.ID, true); err != nil {
			return sandbox.Result{}, &Error{Reason: "prepare: " + err.Error(), Err: err}
		}
	}
	inputs := make([]string, len(req.Deps))
	for i, d := range req.Deps {
		inputs[i] = d.Root
	}
	req.Say("build: %s (trust level %s, timeout %s)", req.Command, req.Profile.Level, req.Timeout)
	res, err := ex.Run(ctx, &executor.Step{
		Module:  req.Module,
		ID:      req.ID,
		Args:    []string{"/bin/sh", "-c", req.Command},
		Dir:     req.Dirs.Source,
		Env:     Env(req, ws.IsDir),
		Stdout:  req.Log,
		Stderr:  req.Log,
		Timeout: req.Timeout,
		Profile: req.Profile,
		Inputs:  inputs,
		Outputs: []string{req.Dirs.Source, req.Dirs.Install, req.Dirs.Package, req.Dirs.Tmp},
	})
	switch {
	case err != nil:
		return res, &Error{Reason: err.Error(), Err: err}
	case res.TimedOut:
		return res, &Error{Reason: fmt.Sprintf("timed out after %s", req.Timeout)}
	case res.ExitCode != 0:
		return res, &Error{Reason: fmt.Sprintf("build failed: exit status %d", res.ExitCode)}
	}
	return res, nil
}

var nonIdent = regexp.MustCompile(`[^A-Z0-9_]`)

// Env is the build contract: the AUTOBUILD_* variables, and the
// dependencies' install roots made usable through the usual variables.
// isDir reports whether a folder exists. README.md documents every
// variable set here.
func Env(req Request, isDir func(string) bool) []string {
	env := executor.BaseEnv(req.Dirs.Tmp)
	// Only folders that exist: every process of the build searches these
	// lists (the dynamic loader, for each library), and a long list of
	// missing folders costs thousands of failed opens per process.
	paths := func(subdirs ...string) []string {
		var out []string
		for _, d := range req.Deps {
			for _, s := range subdirs {
				if p := filepath.Join(d.Root, s); isDir(p) {
					out = append(out, p)
				}
			}
		}
		return out
	}
	prepend := func(name string, list []string, base string) {
		if len(list) == 0 && base == "" {
			return
		}
		all := list
		if base != "" {
			all = append(all, base)
		}
		env = append(env, name+"="+strings.Join(all, ":"))
	}
	// PATH replaces the base one, with the dependencies first.
	env = env[1:]
	prepend("PATH", paths("usr/local/bin", "usr/bin", "bin"), executor.SystemPath)
	prepend("PKG_CONFIG_PATH", paths("usr/local/lib/pkgconfig", "usr/lib/pkgconfig", "usr/lib64/pkgconfig", "usr/share/pkgconfig"), "")
	prepend("LD_LIBRARY_PATH", paths("usr/local/lib", "usr/lib", "usr/lib64", "lib"), "")
	prepend("LIBRARY_PATH", paths("usr/local/lib", "usr/lib", "usr/lib64", "lib"), "")
	prepend("CPATH", paths("usr/local/include", "usr/include"), "")
	roots := make([]string, len(req.Deps))
	for i, d := range req.Deps {
		roots[i] = d.Root
	}
	env = append(env,
		"AUTOBUILD_MODULE="+req.Module,
		"AUTOBUILD_SOURCE_ROOT="+req.Dirs.Source,
		"AUTOBUILD_INSTALL_ROOT="+req.Dirs.Install,
		"AUTOBUILD_PACKAGE_ROOT="+req.Dirs.Package,
		"AUTOBUILD_COUNTER="+strconv.Itoa(req.Counter),
		"AUTOBUILD_TIMESTAMP="+req.Start.UTC().Format(time.RFC3339),
		"AUTOBUILD_REVISION="+req.Revision,
		"AUTOBUILD_LEVEL="+req.Profile.Level,
		"AUTOBUILD_DEP_ROOTS="+strings.Join(roots, ":"),
	)
	for _, d := range req.Deps {
		v := nonIdent.ReplaceAllString(strings.ToUpper(d.Name), "_")
		env = append(env, "AUTOBUILD_DEP_"+v+"_ROOT="+d.Root)
	}
	return append(env, req.Env...)
}
