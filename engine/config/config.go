// Package config loads and validates autobuild's configuration.
//
// The configuration is read with viper (YAML by default; TOML and JSON by
// file extension), decoded strictly into a typed Config, and validated
// before anything touches the disk. Every problem is reported as an *Error
// that names the file, the dotted key and, for YAML files, the line.
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
	File string `mapstructure:"-"`
	// BuildRoot holds source-root/, install-root/, package-root/,
	// build-archive/, log-root/, public_html and state/.
	BuildRoot string `mapstructure:"build_root"`
	// Workers is the number of modules built at once (0: one per CPU).
	Workers int `mapstructure:"workers"`
	// AllowWeakerConfinement lets a run go on when this host cannot
	// enforce every mechanism a trust level asks for. The status site then
	// shows, per module, what was not enforced.
	AllowWeakerConfinement bool `mapstructure:"allow_weaker_confinement"`
	// SCMLevel is the trust level of checkout steps.
	SCMLevel string `mapstructure:"scm_level"`
	// Levels are admin-defined trust levels, by name.
	Levels map[string]Level `mapstructure:"levels"`
	// Modules are the modules to build, in file order.
	Modules []Module `mapstructure:"modules"`
	// Publish says where the status site goes.
	Publish Publish `mapstructure:"publish"`
	// Archive configures the build archive (the cache of good builds).
	Archive Archive `mapstructure:"archive"`
	// BuildUIDs is the range module builds run as (when the engine is
	// root), less the host's accounts and subordinate ranges.
	BuildUIDs UIDRange `mapstructure:"build_uids"`
}

// UIDRange is a range of uids: First, First+1, …, First+Count-1.
type UIDRange struct {
	First int `mapstructure:"first"`
	Count int `mapstructure:"count"`
}

// Module is one buildable unit: a source, a build command and its settings.
type Module struct {
	Name    string   `mapstructure:"name"`
	Source  Source   `mapstructure:"source"`
	Depends []string `mapstructure:"depends"`
	// Command is run with /bin/sh -c in the module's source folder.
	Command string `mapstructure:"command"`
	// Env holds extra KEY=VALUE pairs for the build (a list, because
	// configuration map keys lose their case).
	Env     []string      `mapstructure:"env"`
	Groups  []string      `mapstructure:"groups"`
	Timeout time.Duration `mapstructure:"timeout"`
	// Trust names the trust level the build runs at.
	Trust string `mapstructure:"trust"`
}

// Source says where a module's code comes from.
type Source struct {
	// Kind is the SCM, a kind registered in package scm: "git" (the
	// default).
	Kind string `mapstructure:"kind"`
	// URL is a git URL or a local path (relative to the config file).
	URL    string `mapstructure:"url"`
	Branch string `mapstructure:"branch"`
	Tag    string `mapstructure:"tag"`
	Commit string `mapstructure:"commit"`
}

// SCM is the source as the SCMs see it.
func (s Source) SCM() scm.Source {
	return scm.Source{Kind: s.Kind, URL: s.URL, Branch: s.Branch, Tag: s.Tag, Commit: s.Commit}
}

// Level is an admin-defined trust level. Unset fields inherit from Base.
type Level struct {
	Base        string   `mapstructure:"base"`
	Description string   `mapstructure:"description"`
	Network     string   `mapstructure:"network"`
	SELinuxType string   `mapstructure:"selinux_type"`
	Read        []string `mapstructure:"read"`
	Write       []string `mapstructure:"write"`
	Limits      Limits   `mapstructure:"limits"`
}

// Limits are resource limits of a step; zero means "the level's default".
type Limits struct {
	Processes  int `mapstructure:"processes"`
	FileSizeMB int `mapstructure:"file_size_mb"`
	MemoryMB   int `mapstructure:"memory_mb"`
	CPUSeconds int `mapstructure:"cpu_seconds"`
	OpenFiles  int `mapstructure:"open_files"`
}

// Publish configures the status site.
type Publish struct {
	// Dir is the published site: a symlink swapped atomically on every run.
	Dir string `mapstructure:"dir"`
	// Keep is how many past sites are kept beside the live one.
	Keep int `mapstructure:"keep"`
}

// Archive configures the build archive.
type Archive struct {
	// Disabled turns the archive off: every module is built every run.
	Disabled bool `mapstructure:"disabled"`
	// Keep is how many entries are kept per module.
	Keep int `mapstructure:"keep"`
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
