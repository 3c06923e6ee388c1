package engine

import (
	"errors"
	"fmt"

	"github.com/autobuild/autobuild/engine/trust"
)

// The errors Run returns, besides those of its dependencies
// (*config.Error, runlock.ErrLocked, a cancelled context's cause):
//
//   - ErrConfinement (wrapped): a trust level cannot be enforced, found
//     before the run (nothing ran) or by a step whose confinement could
//     not be applied (the run went on without it and published).
//   - ErrModulesFailed (as *ModulesFailedError): the run published, and
//     some module failed or was skipped.
//   - *PublishError: a publisher failed (the others ran).
//   - anything else: the engine could not do its job.

// ErrConfinement is returned when a trust level cannot be enforced and
// the configuration does not allow weaker enforcement.
var ErrConfinement = trust.ErrUnenforceable

// ErrModulesFailed is the sentinel of a run that published but in which
// some module failed or was skipped.
var ErrModulesFailed = errors.New("modules failed")

// ModulesFailedError counts the modules that did not build.
type ModulesFailedError struct{ Failed, Skipped int }

func (e *ModulesFailedError) Error() string {
	return fmt.Sprintf("%d failed, %d skipped", e.Failed, e.Skipped)
}

// Is makes errors.Is(err, ErrModulesFailed) true.
func (e *ModulesFailedError) Is(target error) bool { return target == ErrModulesFailed }

// PublishError is a publisher that failed.
type PublishError struct {
	Publisher string
	Err       error
}

func (e *PublishError) Error() string { return "publish " + e.Publisher + ": " + e.Err.Error() }
func (e *PublishError) Unwrap() error { return e.Err }

// ModuleError is a module that could not be confined at its level: the
// step's cause wraps sandbox.ErrUnsupported, and so errors.Is finds
// ErrConfinement in it too.
type ModuleError struct {
	Module string
	Stage  string
	Err    error
}

func (e *ModuleError) Error() string {
	return fmt.Sprintf("module %s: %s: %v", e.Module, e.Stage, e.Err)
}

func (e *ModuleError) Unwrap() []error { return []error{ErrConfinement, e.Err} }
