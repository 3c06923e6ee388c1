package main

import (
	"os"
	"path/filepath"

	"github.com/autobuild/autobuild/engine"
	"github.com/autobuild/autobuild/engine/checkout"
	"github.com/autobuild/autobuild/engine/config"
	"github.com/autobuild/autobuild/sandbox"
)

// secureName is the name under which the binary runs the engine itself
// confined, as Test-AutoBuild's auto-build-secure did. `make` installs
// bin/autobuild-secure as a link to bin/autobuild.
const secureName = "autobuild-secure"

func invokedSecure() bool { return filepath.Base(os.Args[0]) == secureName }

// confineEngine puts the engine in its own confinement before it does
// anything with the configuration's modules: the autobuild_t domain on an
// SELinux host (the process re-executes into it); elsewhere a file system
// view of its own, in a user namespace (sandbox.EnterEngineView: the
// process runs the engine again inside it and exits with its code, so
// this returns only in that engine), where it writes only the build root
// and the publish folder's parent and reads only the system, the
// configuration, the local sources and its own binaries.
func confineEngine(cfg *config.Config) error {
	if err := sandbox.EnterEngineDomain(); err != nil {
		return err
	}
	if sandbox.ProbeHost().SELinux {
		return nil // the policy confines autobuild_t
	}
	if err := os.MkdirAll(cfg.BuildRoot, 0o755); err != nil {
		return err
	}
	write := []string{cfg.BuildRoot, filepath.Dir(cfg.Publish.Dir)}
	read := []string{filepath.Dir(cfg.File)}
	// Steps start as the helper: the confined engine must still exec it
	// (EnterEngineView adds the engine's own binary).
	if self, err := os.Executable(); err == nil {
		read = append(read, sandbox.HelperBeside(self))
	}
	for i := range cfg.Modules {
		read = append(read, checkout.Inputs(engine.ModuleSources(&cfg.Modules[i]))...)
	}
	return sandbox.EnterEngineView(read, write)
}
