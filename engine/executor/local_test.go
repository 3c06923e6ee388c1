package executor_test

import (
	"testing"

	"github.com/autobuild/autobuild/engine/executor"
	"github.com/autobuild/autobuild/engine/executor/executortest"
	"github.com/autobuild/autobuild/sandbox"
	"github.com/autobuild/autobuild/sandbox/sandboxtest"
)

// helper is a copy of this test binary that confined steps re-execute in
// its sandbox helper mode.
var helper string

func TestMain(m *testing.M) { sandboxtest.Main(m, &helper) }

func TestLocalConformance(t *testing.T) {
	executortest.Run(t, func(t *testing.T, root string) executor.Executor {
		return executor.NewLocal(&sandbox.Exec{Self: helper, Host: sandbox.ProbeHost()}, sandbox.ProbeHost(), helper, root)
	})
}

// Where the host has no cgroup v2 for the steps, they are tracked by
// records in the state folder: the suite holds all the same.
func TestLocalConformanceWithoutCgroup(t *testing.T) {
	h := sandbox.ProbeHost()
	h.NoCgroup = true
	executortest.Run(t, func(t *testing.T, root string) executor.Executor {
		return executor.NewLocal(&sandbox.Exec{Self: helper, Host: h}, h, helper, root)
	})
}
