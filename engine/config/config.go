// Package config loads and validates autobuild's configuration.
//
// The file (YAML by default; TOML and JSON by file extension) is parsed
// into a tree that keeps every key's case and line, then decoded strictly
// into a typed Config: a key the Config does not know, a value of the
// wrong type (a number where a string or a duration is expected, a
// fraction where a whole number is) or a duration without a unit is an
// error, never a conversion. Viper layers the four documented
// environment variables (see Load) over the file, and no others. The
// result is validated before anything touches the disk. Every problem is an
// *Error that names the file, the dotted key and the line, in every
// format; a bad value from the environment names its variable instead.
package config

import (
	"time"

	"github.com/autobuild/autobuild/scm"
)

// DefaultPath is where autobuild looks for its configuration when neither
// --config nor AUTOBUILD_CONFIG says otherwise.
const DefaultPath = "/etc/autobuild/autobuild.yaml"

// DefaultCommand is the build command of a module that names none: the
// Test-AutoBuild convention of a script in the module's top folder.
const DefaultCommand = "./autobuild.sh"

// DefaultSourceKind is the SCM of a module whose source names no kind.
const DefaultSourceKind = "git"

// DefaultLevel is the trust level of a module that names none: the most
// restrictive built-in level.
const DefaultLevel = "isolated"

// Config is a loaded, validated configuration. Paths in it are absolute.
type Config struct {
	// File is the absolute path of the configuration file.
	File string `config:"-"`
	// BuildRoot holds source-root/, install-root/, package-root/,
	// build-archive/, log-root/, public_html and state/.
	BuildRoot string `config:"build_root"`
	// Workers is the number of modules built at once (0: one per CPU), at
	// most MaxWorkers.
	Workers int `config:"workers"`
	// AllowWeakerConfinement lets a run go on when this host cannot
	// enforce every mechanism a trust level asks for. The status site then
	// shows, per module, what was not enforced.
	AllowWeakerConfinement bool `config:"allow_weaker_confinement"`
	// SCMLevel is the trust level of checkout steps.
	SCMLevel string `config:"scm_level"`
	// Levels are admin-defined trust levels, by name.
	Levels map[string]Level `config:"levels"`
	// Modules are the modules to build, in file order.
	Modules []Module `config:"modules"`
	// Publish says where the status site goes.
	Publish Publish `config:"publish"`
	// Archive configures the build archive (the cache of good builds).
	Archive Archive `config:"archive"`
	// Alerts, when set, mails modules' state changes (alerts.go).
	Alerts *Alerts `config:"alerts"`
	// Executor says where builds run: this host or a Slurm cluster
	// (executor.go).
	Executor Executor `config:"executor"`
	// BuildUIDs is the range module builds run as (when the engine is
	// root), less the host's accounts and subordinate ranges.
	BuildUIDs UIDRange `config:"build_uids"`
	// Disabled names the modules the file sets enabled: false, in file
	// order; they are not in Modules.
	Disabled []string `config:"-"`
	// LogLimitMB bounds, in MiB, the output one step writes to its
	// module's log (0: the default, 64); a module may set its own.
	LogLimitMB int `config:"log_limit_mb"`
	// StaleLockAfter is how long a run may hold the lock before the runs
	// it keeps out say so (younger, they exit 3 quietly).
	StaleLockAfter time.Duration `config:"stale_lock_after"`
	// Env holds KEY=VALUE pairs for every module's build; Load merges
	// them into each module's Env, where the module's own win.
	Env []string `config:"env"`
	// Counter is what AUTOBUILD_COUNTER says: CounterRun (the default)
	// or one of Test-AutoBuild's counters (legacy.go).
	Counter string `config:"counter"`
	// TimestampFormat is how AUTOBUILD_TIMESTAMP is written:
	// TimestampRFC3339 (the default) or TimestampEpoch.
	TimestampFormat string `config:"timestamp_format"`
	// InstallRoot is the install_root of every module that sets none
	// (InstallRootMerged when this is empty too).
	InstallRoot string `config:"install_root"`
	// Timestamp, when set, builds every module as its source was at that
	// time (see ParseTimestamp); AsOf is the time it names.
	Timestamp string    `config:"timestamp"`
	AsOf      time.Time `config:"-"`
}

// DefaultStaleLockAfter is StaleLockAfter when the file sets none.
const DefaultStaleLockAfter = 2 * time.Hour

// MaxLogLimitMB bounds log_limit_mb.
const MaxLogLimitMB = 1 << 20

// UIDRange is a range of uids: First, First+1, …, First+Count-1.
type UIDRange struct {
	First int `config:"first"`
	Count int `config:"count"`
}

// Module is one buildable unit: a source, a build command and its settings.
type Module struct {
	Name string `config:"name"`
	// Source is the module's source; a module of several sources names
	// them in Sources instead, each with its Path. After Load, Sources
	// holds every source of every module (Source alone, with no Path,
	// for a module of one).
	Source  Source   `config:"source"`
	Sources []Source `config:"sources"`
	Depends []string `config:"depends"`
	// Command is run with /bin/sh -c in the module's source folder.
	Command string `config:"command"`
	// Env holds extra KEY=VALUE pairs for the build (after Load, with
	// the global env's it does not set).
	Env    []string `config:"env"`
	Groups []string `config:"groups"`
	// Timeout is written with a unit (90s, 5m, 1h30m): a bare number is
	// an error.
	Timeout time.Duration `config:"timeout"`
	// Trust names the trust level the build runs at.
	Trust string `config:"trust"`
	// LogLimitMB overrides the global log_limit_mb for this module.
	LogLimitMB int `config:"log_limit_mb"`
	// RetryFailed builds the module again on every run even when its
	// last build failed with the same inputs (a flaky test suite).
	RetryFailed bool `config:"retry_failed"`
	// Enabled: false leaves the module out of every run (Load drops it
	// from Modules and names it in Disabled); no enabled module may
	// depend on it.
	Enabled *bool `config:"enabled"`
	// Label is the module's name for people (the site shows it).
	Label string `config:"label"`
	// Links are pages about the module (its home page, its bug tracker).
	Links []Link `config:"links"`
	// Admins receive the module's alerts (alerts.go).
	Admins []string `config:"admins"`

	// InstallRoot is InstallRootMerged (the default) or InstallRootOwn:
	// what the build sees at its install root (legacy.go).
	InstallRoot string `config:"install_root"`
}

// Link is a page about a module.
type Link struct {
	Href  string `config:"href"`
	Label string `config:"label"`
}

// LogLimit is the bound, in bytes, of what one step of module m writes to
// its log (0: the executor's default).
func (c *Config) LogLimit(m *Module) int64 {
	if m.LogLimitMB > 0 {
		return int64(m.LogLimitMB) << 20
	}
	return int64(c.LogLimitMB) << 20
}

// Source says where a module's code comes from.
type Source struct {
	// Kind is the SCM, a kind registered in package scm: "git" (the
	// default).
	Kind string `config:"kind"`
	// URL is a git URL or a local path (relative to the config file).
	URL    string `config:"url"`
	Branch string `config:"branch"`
	Tag    string `config:"tag"`
	Commit string `config:"commit"`
	// Path is the folder of the module's source folder that one of its
	// several sources is checked out into (one plain name).
	Path string `config:"path"`
}

// MaxSources bounds the sources of one module.
const MaxSources = 32

// SCM is the source as the SCMs see it.
func (s Source) SCM() scm.Source {
	return scm.Source{Kind: s.Kind, URL: s.URL, Branch: s.Branch, Tag: s.Tag, Commit: s.Commit}
}

// Level is an admin-defined trust level. Unset fields inherit from Base.
type Level struct {
	Base        string   `config:"base"`
	Description string   `config:"description"`
	Network     string   `config:"network"`
	SELinuxType string   `config:"selinux_type"`
	Read        []string `config:"read"`
	Write       []string `config:"write"`
	Limits      Limits   `config:"limits"`
}

// Limits are resource limits of a step; zero means "the level's default".
type Limits struct {
	Processes  int `config:"processes"`
	FileSizeMB int `config:"file_size_mb"`
	MemoryMB   int `config:"memory_mb"`
	CPUSeconds int `config:"cpu_seconds"`
	OpenFiles  int `config:"open_files"`
}

// Publish configures the status site.
type Publish struct {
	// Dir is the published site: a symlink swapped atomically on every run.
	Dir string `config:"dir"`
	// Keep is how many past sites are kept beside the live one.
	Keep int `config:"keep"`
	// URL is the site's address (http:// or https://), when it is served:
	// the run's report links each failed module's log there.
	URL string `config:"url"`
	// FilesURL is a separate origin that serves the site's packages/ and
	// logs/ (see README, "Build root"): every link to a file points there.
	FilesURL string `config:"files_url"`
	// Mirrors copy the live site to other hosts with rsync, in order,
	// after the site (mirror.go).
	Mirrors []Mirror `config:"mirrors"`
	// Repos, when set, publishes the packages as signed apt and yum
	// repositories in the site (repos.go).
	Repos *Repos `config:"repos"`
	// Title names the site on its pages, feeds and overall badge
	// (default "autobuild"); URL, when set, also makes the feeds' links
	// absolute and their IDs this installation's.
	Title string `config:"title"`
	// CommitURL is the web address of a commit, with {module} and
	// {revision} in it ("https://git.example.org/{module}/commit/{revision}"):
	// the site's pages link every revision and change there.
	CommitURL string `config:"commit_url"`
	// Templates is a folder of page templates replacing the site's
	// built-in ones (index.html.tmpl, …; templates.go). Relative to the
	// config file.
	Templates string `config:"templates"`
}

// Archive configures the build archive.
type Archive struct {
	// Disabled turns the archive off: every module is built every run.
	Disabled bool `config:"disabled"`
	// Keep is how many entries are kept per module.
	Keep int `config:"keep"`
}

// Module returns the module with the given name, or nil.
func (c *Config) Module(name string) *Module {
	for i := range c.Modules {
		if c.Modules[i].Name == name {
			return &c.Modules[i]
		}
	}
	return nil
}
