//go:build !linux

package sandbox

import (
	"context"
	"fmt"
	"runtime"
)

// This file keeps autobuild building elsewhere, and failing closed: no
// step is ever started unconfined because a mechanism is missing.

// ProbeHost reports that this platform enforces nothing.
func ProbeHost() Host { return Host{} }

// Exec is the Runner; on this platform it refuses every step.
type Exec struct {
	Self string
	Host Host
}

// NewExec returns ErrUnsupported: autobuild's sandbox needs Linux.
func NewExec() (*Exec, error) {
	return nil, fmt.Errorf("%w: autobuild needs Linux (this is %s)", ErrUnsupported, runtime.GOOS)
}

// Run implements Runner by refusing.
func (r *Exec) Run(context.Context, *Step) (Result, error) {
	return Result{}, fmt.Errorf("%w on %s", ErrUnsupported, runtime.GOOS)
}

// Scope tracks nothing here: no step ever runs.
type Scope struct{}

// NewScope returns an empty scope.
func NewScope(root, records string) *Scope { return &Scope{} }

// Reap has nothing to kill.
func (s *Scope) Reap(context.Context) error { return nil }

func cgroupRoot() string { return "" }

// RunHelperIfRequested does nothing: there is no helper mode here.
func RunHelperIfRequested() {}

// NewLabeler's function always returns "": no SELinux here.
func NewLabeler() (func(typ, mcs string) string, error) {
	return func(string, string) string { return "" }, nil
}

// SELinuxMode is always "disabled" here.
func SELinuxMode() string { return "disabled" }

// SealInstallRoot does nothing: no SELinux here.
func SealInstallRoot(dir string) error { return nil }

func selinuxMechanism(h Host, label string) Mechanism {
	return Mechanism{Name: "selinux", Detail: label + " (no SELinux on " + runtime.GOOS + ")"}
}

// LabelModuleDir does nothing: no SELinux here.
func LabelModuleDir(dir, fileType, mcs string) error { return nil }

// EnterEngineDomain does nothing: no SELinux here.
func EnterEngineDomain() error { return nil }

// EnterEngineView refuses: there is nothing to confine the engine with.
func EnterEngineView(read, write []string) error {
	return fmt.Errorf("%w: secure mode needs Linux", ErrUnsupported)
}

// LabelDir does nothing: no SELinux here.
func LabelDir(dir, fileType string) error { return nil }

// EmptyMergeWork does nothing: no step ever runs here.
func EmptyMergeWork(dir string) error { return nil }

// DiskSpace is not measured on this platform.
func DiskSpace(string) (Space, error) {
	return Space{}, fmt.Errorf("%w on %s", ErrUnsupported, runtime.GOOS)
}
