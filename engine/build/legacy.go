package build

import "slices"

// Test-AutoBuild (2004–2010) gave every module's control file
// (autobuild.sh) these variables (Test::AutoBuild::Runtime's
// get_shell_environment): AUTOBUILD_MODULE, AUTOBUILD_SOURCE_ROOT,
// AUTOBUILD_INSTALL_ROOT, AUTOBUILD_PACKAGE_ROOT, AUTOBUILD_COUNTER and
// AUTOBUILD_TIMESTAMP, which Env sets for every build, and the older
// AUTO_BUILD_ROOT and AUTO_BUILD_COUNTER, which LegacyEnv adds. Its
// modules shared one install root, which held their dependencies'
// installed files; Request.Merged shows a build the same.

// Stamp is what a build's AUTOBUILD_COUNTER (and AUTO_BUILD_COUNTER) and
// AUTOBUILD_TIMESTAMP say when they are not the run counter and the
// run's start in RFC 3339 (Test-AutoBuild's counters, and its timestamp
// in seconds since the epoch: the engine makes it from the
// configuration). Neither is an input of the build's cache key: a build
// reused in a later run was made with an earlier run's values.
type Stamp struct {
	// Counter and Timestamp, where not empty, are the values.
	Counter, Timestamp string
	// Note, where not empty, goes into the module's log (how the
	// counter was made, when that is not what was asked).
	Note string
}

// LegacyEnv are Test-AutoBuild's older names: AUTO_BUILD_ROOT, the
// install root (its AUTOBUILD_INSTALL_ROOT), and AUTO_BUILD_COUNTER, the
// counter (its AUTOBUILD_COUNTER).
func LegacyEnv(install, counter string) []string {
	return []string{"AUTO_BUILD_ROOT=" + install, "AUTO_BUILD_COUNTER=" + counter}
}

// MergedLower are the folders beneath a merged install root: the
// dependencies' install roots, the last of deps (in topological order,
// every dependency after those it depends on) on top, so that where two
// install the same file a module's is seen over those of the modules it
// depends on, as it replaced theirs in Test-AutoBuild's shared root,
// which modules were installed into in that order.
func MergedLower(deps []Dep) []string {
	out := make([]string, len(deps))
	for i, d := range deps {
		out[i] = d.Root
	}
	slices.Reverse(out)
	return out
}

// mergeHint says, after a merged install root could not be made, how a
// module does without one.
const mergeHint = "the build sees its dependencies' installed files in its own install root through an overlay mount; where this host cannot make one, set install_root: own for the module, and its build finds them in $AUTOBUILD_DEP_<NAME>_ROOT"
