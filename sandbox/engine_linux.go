package sandbox

import (
	"fmt"
	"os"
	"runtime"
	"syscall"

	"github.com/opencontainers/selinux/go-selinux"
)

// EngineType is the SELinux domain of the engine in secure mode.
const EngineType = "autobuild_t"

// EnterEngineDomain re-executes the running binary in the engine's SELinux
// domain when SELinux is enabled and the process is not in it yet. It
// returns only when no transition is needed (or possible: an error).
func EnterEngineDomain() error {
	if !selinux.GetEnabled() {
		return nil
	}
	cur, err := selinux.CurrentLabel()
	if err != nil {
		return err
	}
	ctx, err := selinux.NewContext(cur)
	if err != nil {
		return err
	}
	if ctx["type"] == EngineType {
		return nil
	}
	ctx["type"] = EngineType
	// Plain s0: autobuild_t is not bound by MCS, so it still labels each
	// module's folders with its categories and starts its steps at them;
	// and the pipes it makes are at s0, which a step at s0:cA,cB may
	// write (made at s0-s0:c0.c1023, MCS denies it, and the kernel closes
	// the step's status pipe at exec).
	ctx["level"] = "s0"
	self, err := os.Executable()
	if err != nil {
		return err
	}
	// The exec attribute belongs to this thread, and the exec below
	// happens on it.
	runtime.LockOSThread()
	if err := selinux.SetExecLabel(ctx.Get()); err != nil {
		return fmt.Errorf("enter %s: %w", ctx.Get(), err)
	}
	err = syscall.Exec(self, os.Args, os.Environ())
	_ = selinux.SetExecLabel("")
	return fmt.Errorf("enter %s: exec %s: %w", ctx.Get(), self, err)
}

// Elsewhere (no SELinux) the engine confines itself with a file system
// view of its own, in a user namespace: EnterEngineView
// (engineview_linux.go). It replaces a Landlock domain on the engine:
// Landlock forbids every mount to all of the engine's children, so under
// it no confined step could build its own view.
