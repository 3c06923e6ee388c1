// Package trust is the one home of trust levels as the engine, `plan` and
// `doctor` see them: an admin-defined level laid over its built-in base,
// the rules line a cache key hashes, each module's identity (uid and MCS
// categories), the confinement profile of every step, and the preflight
// that refuses a run whose levels this executor cannot enforce.
//
// The built-in levels themselves are defined in sandbox (sandbox.Builtin):
// they are what the sandbox knows how to enforce. Everything derived from
// them lives here.
package trust

import (
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/autobuild/autobuild/engine/config"
	"github.com/autobuild/autobuild/sandbox"
)

// ErrUnenforceable is returned by Preflight when a trust level cannot be
// enforced and the configuration does not allow weaker enforcement.
var ErrUnenforceable = errors.New("confinement unavailable")

// Levels resolves level names of one configuration.
type Levels struct {
	builtin map[string]sandbox.Level
	custom  map[string]config.Level
}

// NewLevels returns the built-in levels plus the configuration's own.
func NewLevels(custom map[string]config.Level) Levels {
	return Levels{builtin: sandbox.Builtin(), custom: custom}
}

// Get returns the resolved level name: a built-in one, or an admin-defined
// one laid over its base. ok is false for an unknown name (config
// validation makes that unreachable for a loaded configuration).
func (ls Levels) Get(name string) (lv sandbox.Level, ok bool) {
	if lv, ok := ls.builtin[name]; ok {
		return lv, true
	}
	c, ok := ls.custom[name]
	if !ok {
		return sandbox.Level{}, false
	}
	lv = ls.builtin[c.Base]
	lv.Name = name
	if c.Description != "" {
		lv.Description = c.Description
	}
	if c.Network != "" {
		lv.Network = sandbox.Network(c.Network)
	}
	if c.SELinuxType != "" {
		lv.SELinuxType = c.SELinuxType
	}
	lv.Read = append(append([]string{}, lv.Read...), c.Read...)
	lv.Write = append(append([]string{}, lv.Write...), c.Write...)
	const mib = 1 << 20
	set := func(dst *int64, v int64) {
		if v > 0 {
			*dst = v
		}
	}
	set(&lv.Limits.Processes, int64(c.Limits.Processes))
	set(&lv.Limits.FileSize, int64(c.Limits.FileSizeMB)*mib)
	set(&lv.Limits.Memory, int64(c.Limits.MemoryMB)*mib)
	set(&lv.Limits.CPUSeconds, int64(c.Limits.CPUSeconds))
	set(&lv.Limits.OpenFiles, int64(c.Limits.OpenFiles))
	return lv, true
}

// Level is Get without the ok.
func (ls Levels) Level(name string) sandbox.Level {
	lv, _ := ls.Get(name)
	return lv
}

// Names returns every level name, built-in and custom, sorted.
func (ls Levels) Names() []string {
	var names []string
	for n := range ls.builtin {
		names = append(names, n)
	}
	for n := range ls.custom {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Rules is the resolved level as one line, for the cache key: a change of
// the rules a module builds under rebuilds it.
func (ls Levels) Rules(name string) string {
	lv := ls.Level(name)
	return fmt.Sprintf("confined=%v network=%s selinux=%s readall=%v read=%q write=%q limits=%+v",
		lv.Confined, lv.Network, lv.SELinuxType, lv.ReadAllInstallRoots, lv.Read, lv.Write, lv.Limits)
}

// StepMCS is the MCS level a module's step runs at: its own pair of
// categories, and nothing more, at every level. Categories give write
// access to the folders that carry them, so a step never gets another
// module's: it reads its dependencies' install roots (every module's, at
// a level that reads all of them) because the engine seals each finished
// install root to a read-only type at plain s0 (sandbox.SealInstallRoot),
// which every build domain may read, and none write, by type alone.
// lv and deps no longer change the answer; they stay for the callers.
func StepMCS(lv sandbox.Level, ids map[string]sandbox.ID, module string, deps []string) string {
	return ids[module].MCS()
}

// Policy is the confinement of one configuration's steps: its levels, each
// module's identity, and whether steps get uids of their own.
type Policy struct {
	Levels Levels
	// IDs are each module's uid and MCS categories.
	IDs map[string]sandbox.ID
	// SeparateUIDs: steps run as their module's uid (the executor is root).
	SeparateUIDs bool
	// AllowWeaker lets steps run when a mechanism is missing.
	AllowWeaker bool
	// InstallRoot is the folder holding every module's install root (read
	// by levels that read all of them).
	InstallRoot string
	// Hide are the engine's own places (its build root, its
	// configuration) that no confined step's view shows, even where they
	// lie under a system folder the view binds (/etc, /opt): a step sees
	// of them only the folders its profile names.
	Hide []string
	// Label makes the SELinux exec context of a level's type at an MCS
	// level, or "" when SELinux is off or the level has no type
	// (sandbox.NewLabeler, resolved once by NewPolicy: it cannot fail).
	Label func(typ, mcs string) string
}

// NewPolicy resolves cfg's confinement. installRoot is the workspace's
// folder of install roots; reserved are the uids the executor's machine
// gives to someone, which no module gets. The error is a *config.Error
// when the configured uid range has too few free uids here, and wraps
// ErrUnenforceable (and sandbox.ErrUnsupported) when this SELinux host's
// step contexts cannot be made: steps are never started without them.
func NewPolicy(cfg *config.Config, separateUIDs bool, installRoot string, reserved []sandbox.IDRange) (*Policy, error) {
	names := make([]string, len(cfg.Modules))
	for i, m := range cfg.Modules {
		names[i] = m.Name
	}
	space := IDSpace(cfg, reserved)
	ids, err := space.Assign(names)
	if err != nil {
		return nil, &config.Error{File: cfg.File, Key: "build_uids", Msg: fmt.Sprintf("%v (this host's accounts and subordinate ranges take the rest; choose another range)", err), Err: err}
	}
	label, err := sandbox.NewLabeler()
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrUnenforceable, err)
	}
	return &Policy{
		Levels: NewLevels(cfg.Levels), IDs: ids,
		SeparateUIDs: separateUIDs, AllowWeaker: cfg.AllowWeakerConfinement,
		InstallRoot: installRoot, Label: label,
		Hide: []string{cfg.BuildRoot, cfg.File},
	}, nil
}

// IDSpace is the uid space of cfg's modules on a machine that reserves
// reserved.
func IDSpace(cfg *config.Config, reserved []sandbox.IDRange) sandbox.IDSpace {
	first, count := cfg.BuildUIDs.First, cfg.BuildUIDs.Count
	if count == 0 {
		first, count = sandbox.BuildUIDBase, sandbox.BuildUIDRange
	}
	return sandbox.IDSpace{First: first, Count: count, Reserved: reserved}
}

// Profile resolves level for one step of module. deps are the modules
// whose install roots the step reads, depRoots those roots. The caller
// adds the folders the step writes. With module "", it is the level's
// profile in general (for preflight and doctor).
func (p *Policy) Profile(level, module string, deps, depRoots []string) sandbox.Profile {
	lv := p.Levels.Level(level)
	pr := sandbox.Profile{
		Level: level, Confined: lv.Confined, Network: lv.Network, Limits: lv.Limits,
		UID: -1, GID: -1, AllowWeaker: p.AllowWeaker,
	}
	switch {
	case module != "" && lv.Confined:
		id := p.IDs[module]
		if p.SeparateUIDs {
			pr.UID, pr.GID = id.UID, id.UID
		}
		pr.SELinuxLabel = p.Label(lv.SELinuxType, StepMCS(lv, p.IDs, module, deps))
	case module == "" && lv.Confined && lv.SELinuxType != "":
		// Any label stands for the level's need of SELinux.
		pr.SELinuxLabel = p.Label(lv.SELinuxType, "s0")
	}
	if lv.ReadAllInstallRoots {
		pr.Read = append(pr.Read, p.InstallRoot)
	} else {
		pr.Read = append(pr.Read, depRoots...)
	}
	pr.Read = append(pr.Read, lv.Read...)
	pr.Write = append(pr.Write, lv.Write...)
	if lv.Confined {
		pr.Hide = append(pr.Hide, p.Hide...)
	}
	return pr
}

// Checker says which mechanisms a profile gets and which it lacks; an
// executor implements it.
type Checker interface {
	Check(p sandbox.Profile) (enforced, missing []string)
}

// Used returns the levels a configuration uses: its SCM level and every
// module's, each once, in that order.
func Used(cfg *config.Config) []string {
	seen := map[string]bool{}
	var out []string
	for _, l := range append([]string{cfg.SCMLevel}, trustOf(cfg.Modules)...) {
		if !seen[l] {
			seen[l] = true
			out = append(out, l)
		}
	}
	return out
}

func trustOf(ms []config.Module) []string {
	out := make([]string, len(ms))
	for i, m := range ms {
		out[i] = m.Trust
	}
	return out
}

// Preflight refuses a configuration whose levels c cannot enforce, unless
// it allows weaker confinement. The error wraps ErrUnenforceable.
func (p *Policy) Preflight(cfg *config.Config, c Checker) error {
	if p.AllowWeaker {
		return nil
	}
	var problems []string
	for _, level := range Used(cfg) {
		if _, missing := c.Check(p.Profile(level, "", nil, nil)); len(missing) > 0 {
			problem := fmt.Sprintf("trust level %q needs %s", level, strings.Join(missing, ", "))
			if slices.Contains(missing, "selinux") {
				// The level's context: SELinux is not enforcing here, or
				// the loaded policy does not know the level's type.
				problem += " (SELinux must be enforcing and the autobuild policy module loaded)"
			}
			problems = append(problems, problem)
		}
	}
	if len(problems) > 0 {
		return fmt.Errorf("%w on this host: %s (see `autobuild doctor`; set allow_weaker_confinement: true in %s to run anyway)",
			ErrUnenforceable, strings.Join(problems, "; "), cfg.File)
	}
	return nil
}

// Module is a module's confinement as `plan` shows it.
type Module struct {
	Level sandbox.Level
	ID    sandbox.ID
	// StepMCS is the level its steps run at: its own categories (see
	// StepMCS).
	StepMCS string
}

// Module resolves module's confinement. It needs nothing of its
// dependencies (a step's MCS level is its module's own), so a plan of n
// modules takes n calls, not the n² names of their closures.
func (p *Policy) Module(name, level string) Module {
	lv := p.Levels.Level(level)
	return Module{Level: lv, ID: p.IDs[name], StepMCS: StepMCS(lv, p.IDs, name, nil)}
}
