package sandbox_test

import (
	"fmt"
	"os"
	"testing"

	"github.com/autobuild/autobuild/sandbox"
	"github.com/autobuild/autobuild/sandbox/sandboxtest"
)

// helper is a copy of this test binary in a folder the build uids may
// traverse; confined steps re-execute it in its helper mode.
var helper string

func TestMain(m *testing.M) {
	// First thing, as in main: a re-executed copy of this binary is the
	// sandbox helper and never returns from here.
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

func TestExecConformance(t *testing.T) {
	sandboxtest.Run(t, &sandbox.Exec{Self: helper, Host: sandbox.ProbeHost()})
}

func TestExecUnsupported(t *testing.T) {
	tests := []struct {
		name string
		lack func(h *sandbox.Host)
	}{
		{"no Landlock", func(h *sandbox.Host) { h.LandlockABI = 0 }},
		{"Landlock without network rules (ABI 3)", func(h *sandbox.Host) { h.LandlockABI = 3 }},
		{"Landlock without scopes (ABI 5)", func(h *sandbox.Host) { h.LandlockABI = 5 }},
		{"no PID namespace", func(h *sandbox.Host) { h.PidNS = false }},
		{"no network namespace", func(h *sandbox.Host) { h.NetNS = false }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := sandbox.ProbeHost()
			tc.lack(&h)
			sandboxtest.Unsupported(t, &sandbox.Exec{Self: helper, Host: h})
		})
	}
}
