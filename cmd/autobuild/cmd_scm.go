package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/opencontainers/selinux/go-selinux"

	"github.com/autobuild/autobuild/engine"
	"github.com/autobuild/autobuild/sandbox"
	"github.com/autobuild/autobuild/scm"
)

func init() {
	// The build step resets and cleans its own work tree through this,
	// inside its confinement (see engine.PrepareCheckout).
	sandbox.RegisterPrepare(engine.PrepareCheckout, func(arg string) error {
		spec, s, err := decodeSCMSpec(arg)
		if err != nil {
			return err
		}
		return s.Checkout(context.Background(), spec.Source, scm.Revision{ID: spec.Revision}, spec.Dir)
	})
}

func decodeSCMSpec(raw string) (engine.SCMSpec, scm.SCM, error) {
	var spec engine.SCMSpec
	if err := json.Unmarshal([]byte(raw), &spec); err != nil {
		return spec, nil, fmt.Errorf("bad spec: %w", err)
	}
	s, err := scm.Get(spec.Source.Kind)
	return spec, s, err
}

// runSCMStep is the hidden mode the engine runs, confined, as a module's
// checkout step. Its output goes to the module's log.
func runSCMStep(ctx context.Context, raw string, stdout, stderr io.Writer) int {
	spec, s, err := decodeSCMSpec(raw)
	if err != nil {
		fmt.Fprintf(stderr, "autobuild scm: %v\n", err)
		return 2
	}
	if selinux.GetEnabled() {
		if label, err := os.ReadFile("/proc/thread-self/attr/current"); err == nil {
			fmt.Fprintf(stdout, "autobuild scm: running in %s\n", strings.TrimRight(string(label), "\x00\n"))
		}
	}
	if err := s.Checkout(ctx, spec.Source, scm.Revision{ID: spec.Revision}, spec.Dir); err != nil {
		fmt.Fprintf(stderr, "autobuild scm: %v\n", err)
		return 1
	}
	fmt.Fprintf(stdout, "autobuild scm: %s is at %s\n", spec.Dir, spec.Revision)
	return 0
}
