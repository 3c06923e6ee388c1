// Package report holds the plain data of a run: what happened to each
// module. It is the only engine type the publishers see.
package report

import "time"

// State is how a module's run ended.
type State string

const (
	// Built: the build ran and succeeded.
	Built State = "built"
	// Reused: the module's inputs matched an archived good build, which
	// was restored instead of building.
	Reused State = "reused"
	// Failed: the checkout or the build failed.
	Failed State = "failed"
	// Skipped: a dependency did not succeed, so the module was not built.
	Skipped State = "skipped"
)

// OK reports whether dependents may build on a module in this state.
func (s State) OK() bool { return s == Built || s == Reused }

// Module is one module's result.
type Module struct {
	Name string `json:"name"`
	// Label is the module's name for people; Links are pages about it.
	Label    string   `json:"label,omitempty"`
	Links    []Link   `json:"links,omitempty"`
	State    State    `json:"state"`
	Reason   string   `json:"reason,omitempty"`
	Depends  []string `json:"depends,omitempty"`
	Groups   []string `json:"groups,omitempty"`
	Revision string   `json:"revision,omitempty"`
	// Key is the build's cache key.
	Key string `json:"key,omitempty"`
	// ReusedFrom is the run whose build was reused (State Reused).
	ReusedFrom int `json:"reused_from,omitempty"`
	// FailedSince is the run whose build failed with the same inputs:
	// the module was not built again (State Failed).
	FailedSince int      `json:"failed_since,omitempty"`
	Level       string   `json:"level"`
	Enforced    []string `json:"enforced,omitempty"`
	Missing     []string `json:"missing,omitempty"`
	// Node is the cluster node the build ran on; empty for this host.
	Node string `json:"node,omitempty"`
	// Start is when the module's pipeline started; absent for a module
	// that never started (skipped).
	Start    time.Time     `json:"start,omitzero"`
	Duration time.Duration `json:"duration_ns"`
	// Log is the module's log, relative to the published site.
	Log string `json:"log,omitempty"`
	// LogDiscarded is how many bytes of the module's output this run were
	// left out of its log (beyond the log limit; the log says where).
	LogDiscarded int64 `json:"log_discarded,omitempty"`
	// LogUnavailable says why the module's log is not on the site (it
	// was named outside the log folder, or could not be read safely).
	LogUnavailable string `json:"log_unavailable,omitempty"`
	// Artifacts are the files the build left in its package root; on the
	// site, those that were published.
	Artifacts []Artifact `json:"artifacts,omitempty"`
	// Unpublished says why the module's artifacts are not on the site:
	// its package root could not be listed within bounds (collect), or
	// one of its files could not be published as it was collected (a
	// symlink, a special file, a vanished or changed file, too long a
	// path, too large). None of its artifacts is published then; the
	// rest of the run is.
	Unpublished string `json:"unpublished,omitempty"`
	// Tests are what the build's results file reported (absent: it wrote
	// none); a reused module keeps those of the build it reuses. They do
	// not decide State: the build's exit status does.
	Tests *Tests `json:"tests,omitempty"`
	// Changes are the commits this run's checkout brought since the
	// module's last good build (ChangesSince; none: the newest few),
	// newest first.
	Changes      []Change `json:"changes,omitempty"`
	ChangesSince string   `json:"changes_since,omitempty"`
}

// Change is one commit of a module's source.
type Change struct {
	ID           string    `json:"id"`
	Author       string    `json:"author,omitempty"`
	Date         time.Time `json:"date"`
	Subject      string    `json:"subject"`
	Files        []string  `json:"files,omitempty"`
	FilesOmitted int       `json:"files_omitted,omitempty"`
	// Source is the folder of the source it belongs to, in a module of
	// several.
	Source string `json:"source,omitempty"`
}

// Tests sum up a build's results file (README.md, "The results file").
type Tests struct {
	// Format is "junit" or "tap"; empty when the file could not be read.
	Format  string `json:"format,omitempty"`
	Passed  int    `json:"passed"`
	Failed  int    `json:"failed"`
	Skipped int    `json:"skipped"`
	// Failures are the first failing cases, in the file's order;
	// FailuresOmitted counts the others.
	Failures        []TestFailure `json:"failures,omitempty"`
	FailuresOmitted int           `json:"failures_omitted,omitempty"`
	// Unreadable says why the file could not be read or parsed.
	Unreadable string `json:"unreadable,omitempty"`
}

// TestFailure is a failing test case, its name and message printable
// and bounded.
type TestFailure struct {
	Name    string `json:"name"`
	Message string `json:"message,omitempty"`
}

// Artifact is a file a build left in its package root.
type Artifact struct {
	// Path is relative to the module's package folder on the site.
	Path   string `json:"path"`
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
	// Package describes the artifact when it is a package
	// (engine/packages); NotPackage says why a file named as one (.deb,
	// .rpm, a tarball, .zip) is not.
	Package    *Package `json:"package,omitempty"`
	NotPackage string   `json:"not_package,omitempty"`
}

// Package is what a package artifact says of itself: its kind ("deb",
// "rpm", "tar", "zip"), name, version and architecture (none for a
// tarball or zip, whose name and version come from the file name), and
// its number of entries (files and folders; an RPM's: the files its
// header lists).
type Package struct {
	Kind    string `json:"kind"`
	Name    string `json:"name"`
	Version string `json:"version,omitempty"`
	Arch    string `json:"arch,omitempty"`
	Entries int    `json:"entries"`
}

// Link is a page about a module.
type Link struct {
	Href  string `json:"href"`
	Label string `json:"label,omitempty"`
}

// Run is a whole run.
type Run struct {
	Counter  int           `json:"counter"`
	Start    time.Time     `json:"start"`
	Duration time.Duration `json:"duration_ns"`
	Modules  []Module      `json:"modules"`
	// AsOf, when set, is the time every module's source was checked out
	// as (run --timestamp, or the timestamp setting).
	AsOf time.Time `json:"as_of,omitzero"`
	// Disabled names the modules the configuration leaves out of every
	// run (enabled: false).
	Disabled []string `json:"disabled,omitempty"`
	// History is the summary of earlier runs, newest first.
	History []Summary `json:"history,omitempty"`
}

// Summary is one line of run history.
type Summary struct {
	Counter  int           `json:"counter"`
	Start    time.Time     `json:"start"`
	Duration time.Duration `json:"duration_ns"`
	Built    int           `json:"built"`
	Reused   int           `json:"reused"`
	Failed   int           `json:"failed"`
	Skipped  int           `json:"skipped"`
}

// Summarize counts a run's modules by state.
func (r *Run) Summarize() Summary {
	s := Summary{Counter: r.Counter, Start: r.Start, Duration: r.Duration}
	for _, m := range r.Modules {
		switch m.State {
		case Built:
			s.Built++
		case Reused:
			s.Reused++
		case Failed:
			s.Failed++
		case Skipped:
			s.Skipped++
		}
	}
	return s
}

// OK reports whether every module built (or was reused).
func (s Summary) OK() bool { return s.Failed == 0 && s.Skipped == 0 }
