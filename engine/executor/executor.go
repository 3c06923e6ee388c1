// Package executor is the boundary between the engine and the machine its
// module steps run on. An Executor owns the module folders of the
// workspace (creating them, their ownership and labels) and runs steps,
// each confined by a sandbox.Profile; it says which confinement mechanisms
// it can enforce, so "can this level be enforced here" is asked of it and
// not of the engine's own host.
//
// Local runs steps on this host through sandbox.Runner. An executor that
// runs steps elsewhere (a cluster node) implements the same interface: a
// Step declares the folders it reads (Inputs) and writes (Outputs), so such
// an executor knows what to ship to the node and what to bring back. The
// conformance suite in executortest is what any implementation must pass.
package executor

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/autobuild/autobuild/engine/workspace"
	"github.com/autobuild/autobuild/sandbox"
)

// Step is one process a module needs: its checkout or its build.
type Step struct {
	// Kind is what the step does: a Build (the zero value) or a
	// Checkout. An executor that runs builds on other machines runs
	// checkouts here: they reach the repositories, builds get the
	// checked-out tree.
	Kind Kind
	// Module is the module the step belongs to, and ID its identity (the
	// uid and MCS categories its folders carry).
	Module string
	ID     sandbox.ID
	// Args is the command; Args[0] is looked up in the PATH of Env.
	Args []string
	Dir  string
	Env  []string
	// Stdout and Stderr receive the step's output (the module's log).
	Stdout, Stderr io.Writer
	// LogLimit bounds the output the log receives from this one step
	// (0: DefaultLogLimit): what lies beyond is discarded, save the
	// output's end, and a line in the log says how much was
	// (sandbox.Step.OutputLimit); Result.OutputDiscarded counts it. The
	// log never meets the step's file size limit.
	LogLimit int64
	// Timeout bounds the step's wall-clock time; its whole process tree is
	// killed when it expires.
	Timeout time.Duration
	// Profile is the step's trust level resolved for the module, without
	// the step's own folders: the executor adds Inputs and Outputs.
	Profile sandbox.Profile
	// Inputs are the folders and files the step reads beyond the system:
	// its dependencies' install roots, a local repository.
	Inputs []string
	// Outputs are the module's folders the step writes. What they hold
	// when it ends is its result; what they hold when it starts (a
	// build's list of its dependencies, in its temp folder) it reads too.
	Outputs []string
	// Scratch are Outputs whose content after the step is no result:
	// the source tree a build may write in. An executor that runs the
	// step elsewhere sends them but does not bring them back.
	Scratch []string
	// Merge, when set, shows the step one of its Outputs merged over some
	// of its Inputs (a build's install root over its dependencies'):
	// see Merge.
	Merge *Merge
}

// Kind is what a step does.
type Kind int

const (
	// Build runs a module's build command.
	Build Kind = iota
	// Checkout runs this binary's SCM modes: a resolve or a checkout.
	Checkout
)

func (k Kind) String() string {
	if k == Checkout {
		return "checkout"
	}
	return "build"
}

// Merge asks for a merged folder (sandbox.Merge): the step sees Dir, one
// of its Outputs, at its own path, over Lower, folders of its Inputs
// (where two hold the same path, the first one's is seen), and writes
// into Dir only. When the step ends, Dir holds what it wrote, as plain
// files; Lower never changes. The executor keeps the overlay's work
// folder, out of every step's sight. A step whose merged folder cannot be
// made does not run: the error is a *sandbox.StepError of stage
// sandbox.StageMerge.
type Merge struct {
	Dir   string
	Lower []string
}

// DefaultLogLimit is a step's LogLimit when none is given: 64 MiB, far
// beyond what anyone reads of a log (a verbose compiler run writes a few
// MiB), small enough that a module's log in each run the site keeps, and
// in its build archive entries, costs little, and that a browser still
// opens it.
const DefaultLogLimit = 64 << 20

// Executor runs module steps and keeps their folders.
//
// Run may be called concurrently for different modules. PrepareDir is
// idempotent without wipe. Check has no side effects.
type Executor interface {
	// Check sorts the mechanisms a profile asks for into those this
	// executor enforces and those it lacks.
	Check(p sandbox.Profile) (enforced, missing []string)
	// SeparateUIDs reports whether steps run as their module's own uid.
	SeparateUIDs() bool
	// ReservedIDs are the uids and gids that machine gives to someone
	// (accounts, subordinate ranges): never a module's.
	ReservedIDs() ([]sandbox.IDRange, error)
	// Self is the autobuild binary as steps see it; checkout steps run
	// it in its checkout mode.
	Self() string
	// Workspace is the build root as this executor keeps it.
	Workspace() Workspace
	// Run runs step to completion: until its whole process tree is gone.
	// A step that ran and failed is a Result with a non-zero exit code;
	// the error is for a step that could not start, and wraps
	// sandbox.ErrUnsupported when its confinement could not be applied.
	Run(ctx context.Context, step *Step) (sandbox.Result, error)
	// Reap kills whatever steps of the workspace an earlier engine left
	// running (it was killed before it could), with all their processes.
	// The engine calls it under the run lock, before it touches a module
	// folder; it fails when it could not kill them.
	Reap(ctx context.Context) error
}

// Workspace is the build root's folders as an executor keeps them.
type Workspace interface {
	// Layout names the folders.
	Layout() workspace.Layout
	// Init creates the top folders.
	Init() error
	// PrepareDir creates one of a module's folders (emptied first when
	// wipe), owned and labelled so that only that module's steps use it.
	PrepareDir(dir string, id sandbox.ID, wipe bool) error
	// SealInstall makes a module's finished install root read-only for
	// every step (sandbox.SealInstallRoot). It runs after the module's
	// build succeeded or its install root was restored, before any
	// dependent starts.
	SealInstall(dir string) error
	// IsDir reports whether a folder exists; the answer may be memoized
	// until PrepareDir wipes it.
	IsDir(path string) bool
	// Exists reports whether a path exists now (never memoized): a reuse
	// checks every output of the module with it.
	Exists(path string) bool
	// Sync makes what the folders hold durable (on this host, the file
	// system's syncfs): a module's key is recorded only after its outputs
	// are synced.
	Sync(dirs ...string) error
	// Reachable checks that module steps can reach the given paths.
	Reachable(paths ...string) error
}

// Local runs steps on this host.
type Local struct {
	Runner sandbox.Runner
	Host   sandbox.Host
	// Bin is the autobuild binary that provides the helper and checkout
	// modes.
	Bin string
	WS  *workspace.Local
	// Scope tracks the steps of the build root (their cgroups, or records
	// in the state folder), so that Reap finds those of a dead engine.
	Scope *sandbox.Scope
}

// NewLocal returns the executor of this host for a build root.
func NewLocal(runner sandbox.Runner, host sandbox.Host, bin, buildRoot string) *Local {
	ws := workspace.NewLocal(buildRoot, host.Root)
	return &Local{Runner: runner, Host: host, Bin: bin, WS: ws,
		Scope: sandbox.NewScope(buildRoot, filepath.Join(ws.StateDir(), "steps"))}
}

// Check implements Executor.
func (l *Local) Check(p sandbox.Profile) (enforced, missing []string) { return l.Host.Check(p) }

// SeparateUIDs implements Executor.
func (l *Local) SeparateUIDs() bool { return l.Host.Root }

// ReservedIDs implements Executor: this host's accounts and subordinate
// ranges.
func (l *Local) ReservedIDs() ([]sandbox.IDRange, error) { return sandbox.HostReservedIDs("/") }

// Self implements Executor.
func (l *Local) Self() string { return l.Bin }

// Workspace implements Executor.
func (l *Local) Workspace() Workspace { return localWS{l.WS} }

// Run implements Executor. The step's Inputs become read rules of its
// profile, its Outputs write rules: the folders are the same here. A
// merged folder's work folder is the module's folder of overlay-work/ in
// the build root, which no step's view holds.
func (l *Local) Run(ctx context.Context, s *Step) (sandbox.Result, error) {
	p := s.Profile
	p.Read = union(p.Read, s.Inputs)
	p.Write = union(p.Write, s.Outputs)
	if s.Merge != nil {
		work, err := l.mergeWork(s.Module, s.ID)
		if err != nil {
			return sandbox.Result{}, &sandbox.StepError{Stage: sandbox.StageMerge, Level: p.Level, Msg: "prepare the work folder: " + err.Error()}
		}
		p.Merge = &sandbox.Merge{Dir: s.Merge.Dir, Lower: s.Merge.Lower, Work: work}
	}
	limit := s.LogLimit
	if limit <= 0 {
		limit = DefaultLogLimit
	}
	return l.Runner.Run(ctx, &sandbox.Step{
		Args: s.Args, Dir: s.Dir, Env: s.Env, Stdout: s.Stdout, Stderr: s.Stderr,
		OutputLimit: limit, Timeout: s.Timeout, Profile: p,
		Name: s.Module + "-" + s.Kind.String(), Scope: l.Scope,
	})
}

// MergeWorkDir is the top folder, in the build root, of the work folders
// of modules' merged folders (Merge): one per module, empty between its
// steps.
const MergeWorkDir = "overlay-work"

// mergeWork prepares module's work folder for a merged folder: empty,
// the module's (owned by its uid when steps run as their own, labelled
// as an install root at its categories, which its step mounts with),
// under the same mount as its install root.
func (l *Local) mergeWork(module string, id sandbox.ID) (string, error) {
	top := filepath.Join(l.WS.Root, MergeWorkDir)
	dir := filepath.Join(top, module)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", err
	}
	if err := sandbox.LabelDir(top, "autobuild_var_lib_t"); err != nil {
		return "", err
	}
	if err := sandbox.EmptyMergeWork(dir); err != nil {
		return "", err
	}
	if l.WS.SeparateUIDs {
		if err := os.Chown(dir, id.UID, id.UID); err != nil {
			return "", err
		}
	}
	if err := sandbox.LabelModuleDir(dir, sandbox.InstallType, id.MCS()); err != nil {
		return "", err
	}
	return dir, nil
}

// union is a followed by the paths of b it lacks, in a new slice: a
// build's dependencies are in its profile's Read and its Inputs alike,
// and each path costs the step's helper a bind mount, a Landlock rule and
// its place in the helper's instructions.
func union(a, b []string) []string {
	out := make([]string, 0, len(a)+len(b))
	seen := make(map[string]bool, len(a)+len(b))
	for _, p := range slices.Concat(a, b) {
		if !seen[p] {
			seen[p] = true
			out = append(out, p)
		}
	}
	return out
}

// Reap implements Executor.
func (l *Local) Reap(ctx context.Context) error { return l.Scope.Reap(ctx) }

type localWS struct{ *workspace.Local }

func (w localWS) Layout() workspace.Layout { return w.Local.Layout }

// BaseEnv is the environment every step starts from: nothing of the
// engine's own environment leaks into a step.
func BaseEnv(tmp string) []string {
	return []string{
		"PATH=" + SystemPath,
		"HOME=" + tmp,
		"TMPDIR=" + tmp,
		"LANG=C.UTF-8",
		"SHELL=/bin/sh",
	}
}

// SystemPath is a step's PATH before its dependencies' folders.
const SystemPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
