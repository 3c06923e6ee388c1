// Package workspace owns the build root: the layout of its folders, and on
// this host their creation, ownership (each module's folders belong to its
// build uid) and SELinux labels.
package workspace

import (
	"path/filepath"
	"strconv"
)

// Layout names the folders of a build root.
//
//	source-root/<module>   checkouts' work trees, handed to builds
//	scm-root/<module>      their SCM metadata (git dir, config, index):
//	                       written only by the checkout step, never
//	                       given to a build
//	install-root/<module>  virtual install roots (make install DESTDIR=…)
//	package-root/<module>  packages and artifacts a build leaves
//	tmp/<module>           a build's private HOME and TMPDIR
//	build-archive/         archived good builds, by module and cache key
//	log-root/<run>/        logs of one run, one per module
//	sites/<run>/           published sites; public_html links to the live one
//	state/                 lock, run counter, run history, module state
type Layout struct{ Root string }

// SourceDir is module m's checkout.
func (l Layout) SourceDir(m string) string { return filepath.Join(l.Root, "source-root", m) }

// ScmDir is the SCM metadata of module m's checkout (for git, its git
// dir). Only the module's checkout step may write it: no build step is
// given it, so nothing a build writes is read by the next checkout.
func (l Layout) ScmDir(m string) string { return filepath.Join(l.Root, "scm-root", m) }

// InstallDir is module m's virtual install root.
func (l Layout) InstallDir(m string) string { return filepath.Join(l.Root, "install-root", m) }

// InstallRoots holds every module's install root.
func (l Layout) InstallRoots() string { return filepath.Join(l.Root, "install-root") }

// PackageDir is where module m's build leaves packages and artifacts.
func (l Layout) PackageDir(m string) string { return filepath.Join(l.Root, "package-root", m) }

// TmpDir is module m's private HOME and TMPDIR.
func (l Layout) TmpDir(m string) string { return filepath.Join(l.Root, "tmp", m) }

// ArchiveDir holds the build archive.
func (l Layout) ArchiveDir() string { return filepath.Join(l.Root, "build-archive") }

// LogRoot holds the logs of every run.
func (l Layout) LogRoot() string { return filepath.Join(l.Root, "log-root") }

// LogDir holds the logs of run number run.
func (l Layout) LogDir(run int) string { return filepath.Join(l.LogRoot(), strconv.Itoa(run)) }

// SitesDir holds the published sites.
func (l Layout) SitesDir() string { return filepath.Join(l.Root, "sites") }

// StateDir holds the lock, the counter, the history and module state.
func (l Layout) StateDir() string { return filepath.Join(l.Root, "state") }

// LockFile is the run lock.
func (l Layout) LockFile() string { return filepath.Join(l.StateDir(), "lock") }

// Tops are the folders created at the start of every run.
func (l Layout) Tops() []string {
	var out []string
	for _, d := range []string{"source-root", "scm-root", "install-root", "package-root", "tmp", "build-archive", "log-root", "sites", "state"} {
		out = append(out, filepath.Join(l.Root, d))
	}
	return out
}

// topFileType is the SELinux file type of a top folder of the build root
// (policy/selinux/autobuild.fc gives the same types at the default path).
func topFileType(dir string) string {
	switch filepath.Base(dir) {
	case "source-root":
		return "autobuild_source_t"
	case "scm-root":
		return "autobuild_scm_meta_t"
	case "install-root":
		return "autobuild_install_t"
	case "package-root":
		return "autobuild_package_t"
	case "tmp":
		return "autobuild_tmp_t"
	case "build-archive":
		return "autobuild_archive_t"
	case "log-root":
		return "autobuild_log_t"
	case "sites":
		return "autobuild_site_t"
	default:
		return "autobuild_state_t"
	}
}
