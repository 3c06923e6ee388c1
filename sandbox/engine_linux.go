package sandbox

import (
	"fmt"
	"os"
	"runtime"
	"strings"
	"syscall"

	"github.com/landlock-lsm/go-landlock/landlock"
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
	ctx["level"] = "s0-s0:c0.c1023" // the engine gives each module its own categories
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

// ConfineEngine restricts the engine itself with Landlock: it may write
// only the given folders (its build root) and read the system, its own
// binary and the given read paths. Everything it starts inherits this,
// so even an "unconfined" build cannot write outside the build root.
func ConfineEngine(read, write []string) error {
	h := ProbeHost()
	if h.LandlockABI < 1 {
		return fmt.Errorf("%w: secure mode needs Landlock or SELinux", ErrUnsupported)
	}
	cfg := landlock.V7.BestEffort() // the file rights this kernel has
	cfg.HandledAccessNet = 0        // remote SCMs need the network
	// Signals and abstract sockets stay usable: the engine must signal
	// its steps' process groups, which live in nested domains anyway.
	cfg.Scoped = 0
	rules := []landlock.Rule{
		landlock.RODirs(systemRead...).IgnoreIfMissing(),
		landlock.RWFiles(deviceFiles...).IgnoreIfMissing(),
	}
	if self, err := os.Executable(); err == nil {
		rules = append(rules, landlock.ROFiles(self))
	}
	for _, r := range read {
		rules = append(rules, pathRule(r, false))
	}
	for _, w := range write {
		rules = append(rules, pathRule(w, true))
	}
	if err := cfg.Restrict(rules...); err != nil {
		return fmt.Errorf("confine engine (%s): %w", strings.TrimSpace(cfg.String()), err)
	}
	return nil
}
