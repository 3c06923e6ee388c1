package config

import (
	"fmt"
	"path/filepath"
	"strings"
	"unicode"
)

// Executor says where module builds run: on this host (ExecutorLocal,
// the default) or on the nodes of a Slurm cluster (ExecutorSlurm,
// package engine/executor/slurm). Checkouts always run on this host.
type Executor struct {
	// Kind is ExecutorLocal or ExecutorSlurm.
	Kind string `config:"kind"`
	// Partition is the Slurm partition builds run in, unless their
	// level's placement names one (empty: the cluster's default).
	Partition string `config:"partition"`
	// Levels place each trust level's builds: a level not listed runs
	// on nodes with the feature "level-<name>" (DefaultConstraint).
	Levels map[string]Placement `config:"levels"`
	// Bin is the autobuild binary on the nodes, with autobuild-helper
	// beside it (empty: the same path as this engine's binary).
	Bin string `config:"bin"`
	// NodeRoot is the folder on each node where a build's files are
	// kept while it runs (DefaultNodeRoot when empty).
	NodeRoot string `config:"node_root"`
	// SlurmConf, when set, is the slurm.conf srun, squeue and scancel
	// read (SLURM_CONF); else theirs.
	SlurmConf string `config:"slurm_conf"`
	// Srun is the srun program (default "srun" in the PATH); scancel and
	// squeue are looked up beside it.
	Srun string `config:"srun"`
	// SrunArgs are added to every srun: an account, a QOS, CPUs per
	// task.
	SrunArgs []string `config:"srun_args"`
	// TransferLimitMB bounds what one build's outputs may bring back
	// from a node, in MiB (0: DefaultTransferLimitMB).
	TransferLimitMB int `config:"transfer_limit_mb"`
}

// Placement is where one trust level's builds may run.
type Placement struct {
	// Partition overrides the executor's partition for this level.
	Partition string `config:"partition"`
	// Constraint is the node feature expression srun gets
	// (--constraint): only nodes offering it run this level.
	Constraint string `config:"constraint"`
}

// The executor kinds.
const (
	ExecutorLocal = "local"
	ExecutorSlurm = "slurm"
)

// Defaults of executor: kind: slurm.
const (
	DefaultNodeRoot        = "/var/lib/autobuild/node"
	DefaultTransferLimitMB = 8 << 10
)

// DefaultConstraint is the node feature a trust level's builds need when
// executor.levels does not place the level: "level-<name>".
func DefaultConstraint(level string) string { return "level-" + level }

// Place is where a level's builds run: its placement, its constraint
// defaulted and its partition the executor's when it names none.
func (e *Executor) Place(level string) Placement {
	p := e.Levels[level]
	if p.Constraint == "" {
		p.Constraint = DefaultConstraint(level)
	}
	if p.Partition == "" {
		p.Partition = e.Partition
	}
	return p
}

// executor checks executor: and fills its defaults.
func (l *loader) executor(c *Config, abs func(string) string, knownLevel func(string) bool) error {
	e := &c.Executor
	switch e.Kind {
	case "", ExecutorLocal:
		e.Kind = ExecutorLocal
		for key, set := range map[string]bool{
			"partition": e.Partition != "", "levels": len(e.Levels) > 0, "bin": e.Bin != "", "node_root": e.NodeRoot != "",
			"slurm_conf": e.SlurmConf != "", "srun": e.Srun != "", "srun_args": len(e.SrunArgs) > 0, "transfer_limit_mb": e.TransferLimitMB != 0,
		} {
			if set {
				return l.err("executor."+key, "only an executor of kind %q has it (kind is %q)", ExecutorSlurm, e.Kind)
			}
		}
		return nil
	case ExecutorSlurm:
	default:
		return l.err("executor.kind", "must be %q or %q, not %q", ExecutorLocal, ExecutorSlurm, e.Kind)
	}
	if msg := checkSlurmWord(e.Partition); msg != "" {
		return l.err("executor.partition", "%s", msg)
	}
	for _, name := range l.order["executor.levels"] {
		key := "executor.levels." + name
		if !knownLevel(name) {
			return l.err(key, "unknown trust level %q", name)
		}
		p := e.Levels[name]
		if msg := checkSlurmWord(p.Partition); msg != "" {
			return l.err(key+".partition", "%s", msg)
		}
		if strings.IndexFunc(p.Constraint, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }) >= 0 {
			return l.err(key+".constraint", "a feature expression has no blanks or control characters: %q", p.Constraint)
		}
	}
	for key, p := range map[string]*string{"bin": &e.Bin, "node_root": &e.NodeRoot} {
		if *p != "" && !filepath.IsAbs(*p) {
			return l.err("executor."+key, "must be an absolute path on the nodes, not %q", *p)
		}
		*p = filepath.Clean(*p)
		if *p == "." {
			*p = ""
		}
	}
	if e.NodeRoot == "" {
		e.NodeRoot = DefaultNodeRoot
	}
	if e.NodeRoot == "/" {
		return l.err("executor.node_root", "must be a folder of its own, not /")
	}
	e.SlurmConf = abs(e.SlurmConf)
	for i, a := range e.SrunArgs {
		if !strings.HasPrefix(a, "--") || strings.ContainsAny(a, "\x00\n") {
			return l.err(fmt.Sprintf("executor.srun_args[%d]", i), "must be one long option, --name=value, not %q", a)
		}
	}
	if e.TransferLimitMB < 0 {
		return l.err("executor.transfer_limit_mb", "must not be negative")
	}
	if e.TransferLimitMB == 0 {
		e.TransferLimitMB = DefaultTransferLimitMB
	}
	return nil
}

// checkSlurmWord checks a partition name: empty, or letters, digits and
// . _ -.
func checkSlurmWord(s string) string {
	for _, r := range s {
		if !(r < unicode.MaxASCII && (unicode.IsLetter(r) || unicode.IsDigit(r) || strings.ContainsRune("._-", r))) {
			return fmt.Sprintf("a partition name is letters, digits and . _ -, not %q", s)
		}
	}
	return ""
}
