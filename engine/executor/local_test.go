package executor_test

import (
	"fmt"
	"os"
	"testing"

	"github.com/autobuild/autobuild/engine/executor"
	"github.com/autobuild/autobuild/engine/executor/executortest"
	"github.com/autobuild/autobuild/sandbox"
	"github.com/autobuild/autobuild/sandbox/sandboxtest"
)

// helper is a copy of this test binary that confined steps re-execute in
// its sandbox helper mode.
var helper string

func TestMain(m *testing.M) {
	sandbox.RunHelperIfRequested()
	path, cleanup, err := sandboxtest.HelperBinary()
	if err != nil {
		fmt.Fprintln(os.Stderr, "copy the test binary for the sandbox helper:", err)
		os.Exit(2)
	}
	helper = path
	code := m.Run()
	cleanup()
	os.Exit(code)
}

func TestLocalConformance(t *testing.T) {
	executortest.Run(t, func(t *testing.T, root string) executor.Executor {
		return executor.NewLocal(&sandbox.Exec{Self: helper, Host: sandbox.ProbeHost()}, sandbox.ProbeHost(), helper, root)
	})
}
