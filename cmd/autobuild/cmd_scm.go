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
	"github.com/autobuild/autobuild/scm"
)

// runSCMStep is the hidden mode the engine runs, confined, as a module's
// checkout step. Its output goes to the module's log.
func runSCMStep(ctx context.Context, raw string, stdout, stderr io.Writer) int {
	var spec engine.SCMSpec
	if err := json.Unmarshal([]byte(raw), &spec); err != nil {
		fmt.Fprintf(stderr, "autobuild scm: bad spec: %v\n", err)
		return 2
	}
	if selinux.GetEnabled() {
		if label, err := os.ReadFile("/proc/thread-self/attr/current"); err == nil {
			fmt.Fprintf(stdout, "autobuild scm: running in %s\n", strings.TrimRight(string(label), "\x00\n"))
		}
	}
	s, err := scm.Get(spec.Source.Kind)
	if err == nil {
		err = s.Checkout(ctx, spec.Source, scm.Revision{ID: spec.Revision}, spec.Dir)
	}
	if err != nil {
		fmt.Fprintf(stderr, "autobuild scm: %v\n", err)
		return 1
	}
	fmt.Fprintf(stdout, "autobuild scm: %s is at %s\n", spec.Dir, spec.Revision)
	return 0
}
