package engine

import (
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/autobuild/autobuild/engine/config"
	"github.com/autobuild/autobuild/sandbox"
	"github.com/autobuild/autobuild/scm"
)

// SCMArg is the hidden subcommand of the autobuild binary that performs a
// checkout; the engine runs it confined, as the SCM step.
const SCMArg = "__scm-checkout"

// PrepareCheckout is the name of the sandbox.Prepare that checks a module
// out inside its build step (cmd/autobuild registers it).
const PrepareCheckout = "checkout"

// SCMSpec is the SCM step's instructions, passed as one JSON argument.
type SCMSpec struct {
	Source   scm.Source `json:"source"`
	Revision string     `json:"revision"`
	Dir      string     `json:"dir"`
}

func scmSpec(src scm.Source, rev, dir string) (string, error) {
	b, err := json.Marshal(SCMSpec{Source: src, Revision: rev, Dir: dir})
	return string(b), err
}

// Level returns the resolved trust level name: a built-in one, or an
// admin-defined one laid over its base.
func Level(levels map[string]sandbox.Level, custom map[string]config.Level, name string) sandbox.Level {
	if lv, ok := levels[name]; ok {
		return lv
	}
	c, ok := custom[name]
	if !ok {
		return sandbox.Level{} // config validation makes this unreachable
	}
	lv := levels[c.Base]
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
	return lv
}

func (r *runner) level(name string) sandbox.Level {
	return Level(sandbox.Builtin(), r.cfg.Levels, name)
}

// levelRules is the resolved level as one line, for the cache key: a
// change of the rules a module builds under rebuilds it.
func (r *runner) levelRules(name string) string {
	lv := r.level(name)
	return fmt.Sprintf("confined=%v network=%s selinux=%s readall=%v read=%q write=%q limits=%+v",
		lv.Confined, lv.Network, lv.SELinuxType, lv.ReadAllInstallRoots, lv.Read, lv.Write, lv.Limits)
}

// profile resolves a level for one module's step. deps are the modules
// whose install roots the step reads (depRoots are those roots). The
// caller adds the folders the step may write.
func (r *runner) profile(levelName, module string, deps, depRoots []string) sandbox.Profile {
	lv := r.level(levelName)
	p := sandbox.Profile{
		Level: levelName, Confined: lv.Confined, Network: lv.Network, Limits: lv.Limits,
		UID: -1, GID: -1, AllowWeaker: r.cfg.AllowWeakerConfinement,
	}
	if module != "" && lv.Confined {
		id := r.ids[module]
		if r.deps.Host.Root {
			p.UID, p.GID = id.UID, id.UID
		}
		p.SELinuxLabel = sandbox.ExecLabel(lv.SELinuxType, StepMCS(lv, r.ids, module, deps))
	} else if module == "" && lv.Confined && lv.SELinuxType != "" {
		// preflight: any label stands for the level's need of SELinux.
		p.SELinuxLabel = sandbox.ExecLabel(lv.SELinuxType, "s0")
	}
	if lv.ReadAllInstallRoots {
		p.Read = append(p.Read, filepath.Join(r.layout.Root, "install-root"))
	} else {
		p.Read = append(p.Read, depRoots...)
	}
	p.Read = append(p.Read, lv.Read...)
	p.Write = append(p.Write, lv.Write...)
	return p
}

// StepMCS is the MCS level a module's step runs at: its own categories
// and those of the modules whose install roots it reads (every category at
// a level that reads all install roots).
func StepMCS(lv sandbox.Level, ids map[string]sandbox.ID, module string, deps []string) string {
	if lv.ReadAllInstallRoots {
		return sandbox.AllCategories
	}
	all := []sandbox.ID{ids[module]}
	for _, d := range deps {
		all = append(all, ids[d])
	}
	return sandbox.MCSWith(all...)
}

// prepareDir creates a module's folder (emptied first when wipe), owned by
// the module's build uid when the engine is root, and labelled with the
// module's SELinux categories on an SELinux host.
func (r *runner) prepareDir(module, dir string, wipe bool) error {
	if wipe {
		if err := os.RemoveAll(dir); err != nil {
			return err
		}
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	id := r.ids[module]
	if r.deps.Host.Root {
		if err := chownTree(dir, id.UID, id.UID); err != nil {
			return err
		}
	}
	return sandbox.LabelModuleDir(dir, fileType(dir), id.MCS())
}

// fileType is the SELinux file type of a module folder: its top folder's.
func fileType(dir string) string { return topFileType(filepath.Dir(dir)) }

// chownTree gives dir to uid:gid; the tree below too when dir belonged to
// someone else (a first checkout, or a module whose uid changed).
func chownTree(dir string, uid, gid int) error {
	info, err := os.Lstat(dir)
	if err != nil {
		return err
	}
	if st, ok := info.Sys().(*syscall.Stat_t); ok && int(st.Uid) == uid && int(st.Gid) == gid {
		return nil
	}
	return filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(p, uid, gid)
	})
}

// baseEnv is the environment every step starts from: nothing of the
// engine's own environment leaks into a build.
func baseEnv(tmp string) []string {
	return []string{
		"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
		"HOME=" + tmp,
		"TMPDIR=" + tmp,
		"LANG=C.UTF-8",
		"SHELL=/bin/sh",
	}
}

// buildContext is everything the build environment is made from.
type buildContext struct {
	Module, Source, Install, Package, Tmp string
	Counter                               int
	Timestamp                             time.Time
	Revision, Level                       string
	DepRoots, DepNames                    []string
	Extra                                 []string
	// IsDir reports whether a folder exists (memoized by the run: the
	// install roots of finished dependencies do not change).
	IsDir func(string) bool
}

var nonIdent = regexp.MustCompile(`[^A-Z0-9_]`)

// buildEnv is the build contract: the AUTOBUILD_* variables, and the
// dependencies' install roots made usable through the usual variables.
// README.md documents every variable set here.
func buildEnv(c buildContext) []string {
	env := baseEnv(c.Tmp)
	// Only folders that exist: every process of the build searches these
	// lists (the dynamic loader, for each library), and a long list of
	// missing folders costs thousands of failed opens per process.
	paths := func(subdirs ...string) []string {
		var out []string
		for _, root := range c.DepRoots {
			for _, s := range subdirs {
				if p := filepath.Join(root, s); c.IsDir(p) {
					out = append(out, p)
				}
			}
		}
		return out
	}
	prepend := func(name string, list []string, base string) {
		if len(list) == 0 && base == "" {
			return
		}
		all := list
		if base != "" {
			all = append(all, base)
		}
		env = append(env, name+"="+strings.Join(all, ":"))
	}
	// PATH replaces the base one, with the dependencies first.
	env = env[1:]
	prepend("PATH", paths("usr/local/bin", "usr/bin", "bin"), "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")
	prepend("PKG_CONFIG_PATH", paths("usr/local/lib/pkgconfig", "usr/lib/pkgconfig", "usr/lib64/pkgconfig", "usr/share/pkgconfig"), "")
	prepend("LD_LIBRARY_PATH", paths("usr/local/lib", "usr/lib", "usr/lib64", "lib"), "")
	prepend("LIBRARY_PATH", paths("usr/local/lib", "usr/lib", "usr/lib64", "lib"), "")
	prepend("CPATH", paths("usr/local/include", "usr/include"), "")
	env = append(env,
		"AUTOBUILD_MODULE="+c.Module,
		"AUTOBUILD_SOURCE_ROOT="+c.Source,
		"AUTOBUILD_INSTALL_ROOT="+c.Install,
		"AUTOBUILD_PACKAGE_ROOT="+c.Package,
		"AUTOBUILD_COUNTER="+strconv.Itoa(c.Counter),
		"AUTOBUILD_TIMESTAMP="+c.Timestamp.UTC().Format(time.RFC3339),
		"AUTOBUILD_REVISION="+c.Revision,
		"AUTOBUILD_LEVEL="+c.Level,
		"AUTOBUILD_DEP_ROOTS="+strings.Join(c.DepRoots, ":"),
	)
	for k, name := range c.DepNames {
		v := nonIdent.ReplaceAllString(strings.ToUpper(name), "_")
		env = append(env, "AUTOBUILD_DEP_"+v+"_ROOT="+c.DepRoots[k])
	}
	return append(env, c.Extra...)
}
