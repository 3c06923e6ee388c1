package sandbox

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"
)

// ErrUnsupported is returned when a profile asks for confinement this
// host cannot give. It is never silently ignored: the caller refuses to
// run unless the configuration allows weaker enforcement.
var ErrUnsupported = errors.New("confinement not supported on this host")

// Profile is the confinement of one step: everything the sandbox needs to
// know, already resolved to absolute paths.
type Profile struct {
	// Level is the trust level's name, for logs and the status site.
	Level    string  `json:"level"`
	Confined bool    `json:"confined"`
	Network  Network `json:"network"`
	// Read paths may be read and executed; Write paths may also be
	// written. Both are folder trees (or single files).
	Read  []string `json:"read,omitempty"`
	Write []string `json:"write,omitempty"`
	// Hide are host folders (or files) the step's file system view leaves
	// out even where a folder it sees holds them: the engine's build root
	// and configuration when they live under /etc or /opt, say. Read and
	// Write paths inside them are still there. (Landlock cannot take a
	// path back: only the view enforces this.)
	Hide []string `json:"hide,omitempty"`
	// Limits are applied as rlimits in the child.
	Limits Limits `json:"limits"`
	// UID and GID, when the engine runs as root, are the ids the step runs
	// as. -1 keeps the engine's ids.
	UID int `json:"uid"`
	GID int `json:"gid"`
	// SELinuxLabel is the full context the step starts in on an SELinux
	// host, MCS categories included. Empty: no SELinux transition.
	SELinuxLabel string `json:"selinux_label,omitempty"`
	// AllowWeaker lets the step run when a mechanism is missing; the
	// missing ones are reported in Result.Missing.
	AllowWeaker bool `json:"allow_weaker,omitempty"`
	// Merge, when set, shows the step a folder merged with others
	// beneath it (see Merge). It is never weakened: a step whose merged
	// folder cannot be made does not run (StageMerge), AllowWeaker or not.
	Merge *Merge `json:"merge,omitempty"`
}

// Merge is a folder a step sees as the union of other folders beneath
// what it holds: an overlay mount, made by the helper in the step's own
// mount namespace before its confinement (so that Landlock's rule for
// Dir, which binds the inode it names, covers the merged folder).
//
// The step reads Lower through Dir and writes into Dir only: a file of a
// lower folder it changes is copied up into Dir first, one it deletes is
// hidden by a whiteout in Dir; the lower folders never change. Before the
// mount, Dir gets an empty folder (the step's own) for every folder of
// the lower ones the step may read, so that it may add files beside
// theirs; after the step, Run removes from Dir what the overlay left
// there (whiteouts, its extended attributes, those folders where they
// are still empty) and empties Work, so Dir holds what the step wrote,
// as plain files. A file of a lower folder keeps its owner in the merged
// folder: a step running as another uid may delete or replace it (as
// install(1) does), not change it in place.
type Merge struct {
	// Dir is the merged folder, at its own path; what the step writes
	// there lands in it. Confined, it must be one of the profile's Write
	// paths.
	Dir string `json:"dir"`
	// Lower are the folders beneath Dir, read-only: where two hold the
	// same path, the first one's is seen. Missing and empty ones are left
	// out; with none left, the step sees Dir as it is.
	Lower []string `json:"lower,omitempty"`
	// Work is the overlay's own folder: empty, on Dir's file system and
	// under the same mount, and in no step's view.
	Work string `json:"work"`
}

// Step is one process the engine starts.
type Step struct {
	// Args is the command; Args[0] is looked up in PATH of Env.
	Args []string
	Dir  string
	Env  []string
	// Stdout and Stderr receive the step's output (usually its log file).
	Stdout, Stderr io.Writer
	// OutputLimit bounds the bytes of output each of Stdout and Stderr
	// receives (one bound when they are the same writer, as a log is);
	// 0: none. The step's output then goes through a pipe the engine
	// reads, never straight into a file, so no file size limit of the
	// step applies to it. What lies beyond the limit is read and
	// discarded (the step runs on unaware), except its end: the writer
	// gets the first part of the output, a line that says how much was
	// discarded ("autobuild: log truncated: ..."), and the output's last
	// part (a quarter of the limit, at most 1 MiB), which together stay
	// within the limit.
	OutputLimit int64
	// Timeout bounds the step's wall-clock time (0: none). When it
	// expires, the step's whole process tree is killed.
	Timeout time.Duration
	Profile Profile
	// Prepare, when set, runs in the step's helper once the confinement
	// is applied, before Args is executed. If it fails, Args never runs.
	Prepare *Prepare
	// Name names the step where it is tracked (its cgroup): "lib-build".
	Name string
	// Scope, when set, tracks the step with the other steps of its build
	// root, so that if the engine dies the step is killed all the same
	// (see Scope.Reap).
	Scope *Scope
}

// Result is how a step ended. A step that ran and failed is a Result with
// a non-zero ExitCode, not an error.
type Result struct {
	ExitCode int
	Duration time.Duration
	// TimedOut is true when the step was killed at its timeout.
	TimedOut bool
	// Enforced lists the mechanisms that confined the step.
	Enforced []string
	// Missing lists mechanisms the profile asked for that this host lacks
	// (only non-empty with Profile.AllowWeaker).
	Missing []string
	// OutputDiscarded is how many bytes of the step's output did not reach
	// Stdout and Stderr: beyond Step.OutputLimit, or lost to a writer
	// that failed.
	OutputDiscarded int64
	// Exhausted names the resource the step ran out of, when that is
	// known to have ended it: a file size or CPU time limit (its signal,
	// SIGXFSZ or SIGXCPU, killed the command, or a process of it as a
	// shell reports that: exit status 128+n), or a full file system among
	// the folders it writes. Empty otherwise, and when it timed out or
	// was cancelled. A memory limit (RLIMIT_AS) makes allocations fail
	// rather than kill: the step's own messages say so.
	Exhausted string
	// Node names the machine the step ran on when an executor ran it on
	// another (a cluster node); empty for this host.
	Node string `json:",omitempty"`
}

// Runner starts steps. It is the one place the engine starts processes.
//
// Run blocks until the step's whole process tree is gone. It may be called
// concurrently. It returns an error only when the step could not be
// started at all (or confinement could not be applied); a step that
// starts and fails is reported in Result. In particular:
//
//   - Confinement that cannot be applied, whether refused up front or
//     failing in the child, is an error for which
//     errors.Is(err, ErrUnsupported): never an ordinary build failure.
//   - A Prepare that failed, or a command that could not be found or
//     executed, is a *StepError that is not ErrUnsupported: the engine
//     reports the module as failed with its message.
//
// In both cases the command never ran. An error from a step that got as
// far as a child process comes with the Result known so far (Duration).
type Runner interface {
	Run(ctx context.Context, step *Step) (Result, error)
}

// Mechanism is one confinement feature of this host, as `autobuild doctor`
// reports it.
type Mechanism struct {
	Name      string
	Available bool
	// Optional mechanisms are applied when available; their absence is no
	// reason to refuse (Landlock on a host where SELinux enforces the
	// same rules).
	Optional bool
	Detail   string
}

// TimeoutError is the cause of a step's context when its timeout expired,
// so "module X timed out" is told apart from "run cancelled".
type TimeoutError struct{ After time.Duration }

func (e *TimeoutError) Error() string { return "timed out after " + e.After.String() }

// Stages of a step that failed before its command ran (StepError.Stage).
const (
	// StageConfine: the confinement could not be applied.
	StageConfine = "confine"
	// StagePrepare: the step's Prepare failed.
	StagePrepare = "prepare"
	// StageExec: the command could not be found or executed.
	StageExec = "exec"
	// StageMerge: the step's merged folder (Profile.Merge) could not be
	// made, or what the overlay left in it could not be removed after.
	StageMerge = "merge"
)

// StepError is a step that failed before its command ran: it could not
// be confined, its Prepare failed, its merged folder could not be made,
// or its command could not be executed (or, StageMerge, what the overlay
// left in its merged folder could not be removed after it ran). Only a
// confinement failure is ErrUnsupported; the others are failures of the
// step, not of the host.
type StepError struct {
	Stage string // StageConfine, StagePrepare, StageMerge or StageExec
	Level string // the profile's trust level
	Msg   string
}

func (e *StepError) Error() string {
	what := "failed before its command ran"
	switch e.Stage {
	case StageConfine:
		what = "cannot confine the step"
	case StagePrepare:
		what = "prepare failed"
	case StageExec:
		what = "cannot execute the command"
	case StageMerge:
		what = "cannot merge its folder"
	}
	if e.Level != "" {
		return fmt.Sprintf("sandbox: trust level %q: %s: %s", e.Level, what, e.Msg)
	}
	return fmt.Sprintf("sandbox: %s: %s", what, e.Msg)
}

// Is makes a confinement failure ErrUnsupported, so the CLI tells it
// apart from a module that failed.
func (e *StepError) Is(target error) bool {
	return target == ErrUnsupported && e.Stage == StageConfine
}

// Space is what a file system has (DiskSpace).
type Space struct {
	// Free and Total are bytes; Free is what an ordinary user may still
	// write.
	Free, Total int64
	// Inodes is 0 on a file system with no fixed number of them.
	FreeInodes, Inodes int64
}

// Size writes a byte count the way limits are given: "64 MiB", "1 GiB",
// "1.5 MiB", "512 bytes".
func Size(n int64) string {
	units := []struct {
		size int64
		name string
	}{{1 << 40, "TiB"}, {1 << 30, "GiB"}, {1 << 20, "MiB"}, {1 << 10, "KiB"}}
	for _, u := range units {
		if n >= u.size {
			if n%u.size == 0 {
				return fmt.Sprintf("%d %s", n/u.size, u.name)
			}
			return fmt.Sprintf("%.1f %s", float64(n)/float64(u.size), u.name)
		}
	}
	return fmt.Sprintf("%d bytes", n)
}
