package main

import (
	"fmt"
	"runtime"
	"runtime/debug"

	"github.com/autobuild/autobuild/engine"
)

// commit is the source revision the binary was built from, for builds
// outside a git checkout (a source tarball):
//
//	go build -ldflags "-X main.commit=8ada307" ./cmd/autobuild
//
// In a checkout it stays empty: go build records the revision itself
// (vcs.revision, vcs.modified), with or without -trimpath.
var commit string

// versionLine is what --version prints after the program's name: the
// engine version (part of every cache key), the commit and the Go release,
// e.g. "0.1.0 (commit 8ada307+dirty, go1.26.8)".
func versionLine() string {
	return fmt.Sprintf("%s (commit %s, %s)", engine.Version, buildCommit(), runtime.Version())
}

// buildCommit is the short commit the binary was built from, "+dirty" when
// the work tree had changes, or "unknown".
func buildCommit() string {
	if commit != "" {
		return commit
	}
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return "unknown"
	}
	rev, dirty := "", false
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			dirty = s.Value == "true"
		}
	}
	if rev == "" {
		return "unknown"
	}
	if len(rev) > 7 {
		rev = rev[:7]
	}
	if dirty {
		rev += "+dirty"
	}
	return rev
}
