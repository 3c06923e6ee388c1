package sandbox

import (
	"fmt"
	"sync"
)

// Prepare asks the helper to run a registered function inside the step's
// confinement, after it is applied and before the step's command is
// executed: work the step needs done on its own folders, with no more
// rights than the step itself (the engine uses it to reset and clean a
// module's work tree, which the module's previous build may have planted
// with symlinks).
type Prepare struct {
	Name string `json:"name"`
	Arg  string `json:"arg"`
}

var (
	prepMu   sync.Mutex
	prepares = map[string]func(arg string) error{}
)

// RegisterPrepare makes fn available to steps as Prepare{Name: name}. The
// binary that provides the helper mode registers it at init, before main
// calls RunHelperIfRequested.
func RegisterPrepare(name string, fn func(arg string) error) {
	prepMu.Lock()
	defer prepMu.Unlock()
	prepares[name] = fn
}

func runPrepare(p *Prepare) error {
	if p == nil {
		return nil
	}
	prepMu.Lock()
	fn, ok := prepares[p.Name]
	prepMu.Unlock()
	if !ok {
		return fmt.Errorf("prepare %q is not registered in this binary", p.Name)
	}
	if err := fn(p.Arg); err != nil {
		return fmt.Errorf("prepare %s: %w", p.Name, err)
	}
	return nil
}
