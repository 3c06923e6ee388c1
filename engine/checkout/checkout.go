// Package checkout is the checkout stage: it pins a module's source to a
// revision (resolve) and makes the module's source folder hold exactly
// that revision (act), in a confined step.
//
// Both halves of the step live here. The engine side (Run) decides what
// the step must do and runs it through the executor; the child side
// (RunIfRequested) is the hidden mode of the autobuild binary that the
// confined step executes. The engine never knows which SCM it talks to:
// everything kind-specific is behind scm.SCM.
//
// A checkout has two folders (scm.Dirs): the work tree, which the build
// then gets and may change at will, and the SCM's metadata, which only
// this step writes. Nothing a build can write is trusted by the checkout
// that follows it, which runs with more rights (the network): the SCM
// reads its metadata only from the metadata folder, the repository's URL
// comes from the module's configuration every time, and anything in the
// work tree that looks like metadata is removed.
package checkout

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/opencontainers/selinux/go-selinux"

	"github.com/autobuild/autobuild/engine/executor"
	"github.com/autobuild/autobuild/sandbox"
	"github.com/autobuild/autobuild/scm"
)

// Arg is the hidden subcommand of the autobuild binary that performs a
// checkout; the engine runs it confined, as the module's SCM step.
const Arg = "__scm-checkout"

// spec is the step's instructions, passed as one JSON argument.
type spec struct {
	Source   scm.Source `json:"source"`
	Revision string     `json:"revision"`
	Dirs     scm.Dirs   `json:"dirs"`
}

func encode(src scm.Source, rev string, dirs scm.Dirs) (string, error) {
	b, err := json.Marshal(spec{Source: src, Revision: rev, Dirs: dirs})
	return string(b), err
}

func decode(raw string) (spec, scm.SCM, error) {
	var sp spec
	if err := json.Unmarshal([]byte(raw), &sp); err != nil {
		return sp, nil, fmt.Errorf("bad spec: %w", err)
	}
	s, err := scm.Get(sp.Source.Kind)
	return sp, s, err
}

// RunIfRequested turns the process into the checkout step when it was
// started as one (os.Args[1] == Arg), and never returns in that case.
// main calls it right after sandbox.RunHelperIfRequested.
func RunIfRequested() {
	if len(os.Args) < 3 || os.Args[1] != Arg {
		return
	}
	os.Exit(runStep(context.Background(), os.Args[2], os.Stdout, os.Stderr))
}

// runStep is the child side of the checkout step. Its output goes to the
// module's log.
func runStep(ctx context.Context, raw string, stdout, stderr io.Writer) int {
	sp, s, err := decode(raw)
	if err != nil {
		fmt.Fprintf(stderr, "autobuild scm: %v\n", err)
		return 2
	}
	if selinux.GetEnabled() {
		if label, err := os.ReadFile("/proc/thread-self/attr/current"); err == nil {
			fmt.Fprintf(stdout, "autobuild scm: running in %s\n", strings.TrimRight(string(label), "\x00\n"))
		}
	}
	if err := s.Checkout(ctx, sp.Source, scm.Revision{ID: sp.Revision}, sp.Dirs); err != nil {
		fmt.Fprintf(stderr, "autobuild scm: %v\n", err)
		return 1
	}
	fmt.Fprintf(stdout, "autobuild scm: %s is at %s\n", sp.Dirs.Work, sp.Revision)
	return 0
}

// Resolve pins src to a revision. It is cheap and runs in the engine: its
// result feeds the cache key.
func Resolve(ctx context.Context, src scm.Source) (scm.Revision, error) {
	s, err := scm.Get(src.Kind)
	if err != nil {
		return scm.Revision{}, err
	}
	return s.Resolve(ctx, src)
}

// Inputs are the local paths a checkout of src reads (see scm.SCM.Inputs).
func Inputs(src scm.Source) []string {
	s, err := scm.Get(src.Kind)
	if err != nil {
		return nil
	}
	return s.Inputs(src)
}

// Tree is what the engine remembers of a module's source folder.
type Tree struct {
	// Revision is the revision the folder holds ("" unknown).
	Revision string
	// Pristine is the folder's fingerprint right after its checkout.
	Pristine string
}

// Request is one module's checkout.
type Request struct {
	Module string
	ID     sandbox.ID
	Source scm.Source
	// Revision is what Resolve returned.
	Revision string
	// Dir is the module's source folder (the work tree the build gets),
	// Meta the SCM's metadata of it (a folder no build is given), Tmp
	// the step's private temp folder (emptied first).
	Dir, Meta, Tmp string
	// Prev is what the source folder held after the last checkout.
	Prev Tree
	// Profile is the SCM level resolved for the module.
	Profile sandbox.Profile
	Timeout time.Duration
	Log     io.Writer
	// Say writes a line to the module's log.
	Say func(format string, args ...any)
}

// Result is what the stage did.
type Result struct {
	// Tree is what the source folder holds now.
	Tree Tree
}

// Run makes req.Dir hold exactly req.Revision: not at all when the folder
// holds it untouched since its checkout, and otherwise with the confined
// SCM step, which fetches only when the revision is new, and resets and
// cleans the work tree. The reset needs the metadata (the index), which
// the build must not write, so it is never done in the build's step.
func Run(ctx context.Context, ex executor.Executor, req Request) (Result, error) {
	s, err := scm.Get(req.Source.Kind)
	if err != nil {
		return Result{}, fmt.Errorf("checkout: %w", err)
	}
	dirs := scm.Dirs{Work: req.Dir, Meta: req.Meta}
	if err := dirs.Validate(); err != nil {
		return Result{}, fmt.Errorf("checkout: %w", err)
	}
	arg, err := encode(req.Source, req.Revision, dirs)
	if err != nil {
		return Result{}, err
	}
	if req.Prev.Revision == req.Revision && s.HasCheckout(dirs) {
		if fp, err := treeFingerprint(req.Dir); err == nil && fp == req.Prev.Pristine {
			req.Say("source folder holds %s, untouched since its checkout", req.Revision)
			return Result{Tree: req.Prev}, nil
		}
		req.Say("source folder holds %s but was changed since its checkout: the SCM step resets and cleans it", req.Revision)
	}

	ws := ex.Workspace()
	for _, d := range []struct {
		dir  string
		wipe bool
	}{{req.Dir, false}, {req.Meta, false}, {req.Tmp, true}} {
		if err := ws.PrepareDir(d.dir, req.ID, d.wipe); err != nil {
			return Result{}, fmt.Errorf("checkout: %w", err)
		}
	}
	req.Say("checkout %s into %s (trust level %s)", req.Revision, req.Dir, req.Profile.Level)
	res, err := ex.Run(ctx, &executor.Step{
		Module:  req.Module,
		ID:      req.ID,
		Args:    []string{ex.Self(), Arg, arg},
		Dir:     req.Tmp,
		Env:     executor.BaseEnv(req.Tmp),
		Stdout:  req.Log,
		Stderr:  req.Log,
		Timeout: req.Timeout,
		Profile: req.Profile,
		// The step runs this very binary in its checkout mode.
		Inputs:  append([]string{ex.Self()}, s.Inputs(req.Source)...),
		Outputs: []string{req.Dir, req.Meta, req.Tmp},
	})
	if err != nil {
		req.Say("checkout could not start: %v", err)
		return Result{}, fmt.Errorf("checkout: %w", err)
	}
	if res.ExitCode != 0 {
		if res.TimedOut {
			return Result{}, fmt.Errorf("checkout timed out after %s", req.Timeout)
		}
		return Result{}, fmt.Errorf("checkout failed (exit %d): see the log", res.ExitCode)
	}
	fp, err := treeFingerprint(req.Dir)
	if err != nil {
		fp = "" // unknown: the next run resets it through the SCM step
	}
	return Result{Tree: Tree{Revision: req.Revision, Pristine: fp}}, nil
}
