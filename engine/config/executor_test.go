package config

import (
	"strings"
	"testing"
)

func TestExecutor(t *testing.T) {
	p := write(t, `modules:
  - {name: a, source: {url: repo}}
  - {name: b, source: {url: repo}, trust: trusted}
executor:
  kind: slurm
  partition: build
  bin: /opt/autobuild/bin/autobuild
  slurm_conf: cluster/slurm.conf
  srun_args: [--account=ci]
  levels:
    trusted: {constraint: "big&level-trusted", partition: secure}
`)
	c, err := Load(p)
	if err != nil {
		t.Fatal(err)
	}
	e := c.Executor
	if e.Kind != ExecutorSlurm || e.NodeRoot != DefaultNodeRoot || e.TransferLimitMB != DefaultTransferLimitMB || !strings.HasSuffix(e.SlurmConf, "/cluster/slurm.conf") {
		t.Errorf("executor = %+v", e)
	}
	if got := e.Place("isolated"); got != (Placement{Partition: "build", Constraint: "level-isolated"}) {
		t.Errorf("isolated is placed at %+v", got)
	}
	if got := e.Place("trusted"); got != (Placement{Partition: "secure", Constraint: "big&level-trusted"}) {
		t.Errorf("trusted is placed at %+v", got)
	}
	c, err = Load(write(t, "modules: [{name: a, source: {url: repo}}]\n"))
	if err != nil || c.Executor.Kind != ExecutorLocal {
		t.Errorf("no executor: %+v, %v; want the local one", c.Executor, err)
	}
}

func TestExecutorErrors(t *testing.T) {
	for _, tc := range []struct{ executor, want string }{
		{`{kind: pbs}`, `:3: executor.kind: must be "local" or "slurm", not "pbs"`},
		{`{partition: x}`, `executor.partition: only an executor of kind "slurm" has it`},
		{`{kind: local, levels: {isolated: {constraint: x}}}`, `executor.levels: only an executor of kind "slurm"`},
		{`{kind: slurm, partition: "a b"}`, `executor.partition: a partition name is letters`},
		{`{kind: slurm, levels: {nosuch: {constraint: x}}}`, `executor.levels.nosuch: unknown trust level "nosuch"`},
		{`{kind: slurm, levels: {isolated: {constraint: "a b"}}}`, `executor.levels.isolated.constraint: a feature expression has no blanks`},
		{`{kind: slurm, bin: autobuild}`, `executor.bin: must be an absolute path on the nodes`},
		{`{kind: slurm, node_root: /}`, `executor.node_root: must be a folder of its own`},
		{`{kind: slurm, srun_args: [-A ci]}`, `executor.srun_args[0]: must be one long option`},
		{`{kind: slurm, transfer_limit_mb: -1}`, `executor.transfer_limit_mb: must not be negative`},
		{`{kind: slurm, nodes: 3}`, `executor.nodes: unknown key`},
	} {
		p := write(t, "modules: [{name: a, source: {url: repo}}]\nexecutor:\n  "+tc.executor+"\n")
		_, err := Load(p)
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), p+":") {
			t.Errorf("executor %s: %v\nwant an error of %s saying %q", tc.executor, err, p, tc.want)
		}
	}
}
