package main

import (
	"context"
	"slices"

	"github.com/autobuild/autobuild/engine/config"
	"github.com/autobuild/autobuild/engine/executor"
	"github.com/autobuild/autobuild/engine/executor/slurm"
	"github.com/autobuild/autobuild/sandbox"
)

// newExecutor is where the configuration says builds run: this host, or
// a Slurm cluster (whose nodes are asked, before anything runs, what
// each level's placement can enforce). local keeps the folders and runs
// the checkouts either way.
func newExecutor(ctx context.Context, cfg *config.Config, runner *sandbox.Exec, self string) (ex executor.Executor, local *executor.Local, err error) {
	local = executor.NewLocal(runner, runner.Host, self, cfg.BuildRoot)
	e := cfg.Executor
	if e.Kind != config.ExecutorSlurm {
		return local, local, nil
	}
	var env []string
	if e.SlurmConf != "" {
		env = append(env, "SLURM_CONF="+e.SlurmConf)
	}
	bin := e.Bin
	if bin == "" {
		bin = self
	}
	s := slurm.New(local, slurm.Options{
		Srun: e.Srun, Env: env, Args: e.SrunArgs, Bin: bin, NodeRoot: e.NodeRoot,
		TransferLimit: int64(e.TransferLimitMB) << 20,
		Place: func(level string) slurm.Placement {
			p := e.Place(level)
			return slurm.Placement{Partition: p.Partition, Constraint: p.Constraint}
		},
	})
	var levels []string
	for _, m := range cfg.Modules {
		if !slices.Contains(levels, m.Trust) {
			levels = append(levels, m.Trust)
		}
	}
	if err := s.Probe(ctx, levels); err != nil {
		return nil, nil, err
	}
	return s, local, nil
}
