package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"runtime"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/autobuild/autobuild/engine/config"
	"github.com/autobuild/autobuild/engine/graph"
	"github.com/autobuild/autobuild/engine/trust"
	"github.com/autobuild/autobuild/sandbox"
)

// PlanOptions are the flags of `autobuild plan`.
type PlanOptions struct{ JSON bool }

// planModule is one module of the plan, as `plan --json` prints it.
type planSource struct {
	Path   string `json:"path"`
	Kind   string `json:"kind"`
	Source string `json:"source"`
	Ref    string `json:"ref"`
}

type planModule struct {
	Name    string   `json:"name"`
	Depends []string `json:"depends,omitempty"`
	Source  string   `json:"source"`
	Ref     string   `json:"ref"`
	// Sources are a module's several sources, each with its folder.
	Sources     []planSource `json:"sources,omitempty"`
	Command     string       `json:"command"`
	Trust       string       `json:"trust"`
	Network     string       `json:"network"`
	Confined    bool         `json:"confined"`
	SELinuxType string       `json:"selinux_type,omitempty"`
	MCS         string       `json:"mcs"`
	// StepMCS is the level its steps run at: its own MCS categories.
	StepMCS string `json:"step_mcs"`
	UID     int    `json:"uid"`
	Timeout string `json:"timeout"`
}

func newPlanCommand(g *globals) *cobra.Command {
	o := &PlanOptions{}
	cmd := &cobra.Command{
		Use:   "plan",
		Short: "validate the configuration and print the build order",
		Long: `Load and validate the configuration, then print the modules in build order
with their dependencies and trust levels. Nothing is checked out or built.
With --json, print the plan as JSON (including each module's SELinux type,
MCS categories and build uid).`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runPlan(cmd.Context(), o, g) },
	}
	cmd.Flags().BoolVar(&o.JSON, "json", false, "print JSON")
	return cmd
}

func runPlan(_ context.Context, o *PlanOptions, g *globals) error {
	cfg, err := g.load()
	if err != nil {
		return err
	}
	nodes := make([]graph.Node, len(cfg.Modules))
	for i, m := range cfg.Modules {
		nodes[i] = graph.Node{Name: m.Name, Deps: m.Depends}
	}
	gr, err := graph.New(nodes)
	if err != nil {
		return err
	}
	// Whether steps get uids of their own is the executor's to say; plan
	// shows the uids they get when the engine runs as root.
	reserved, err := sandbox.HostReservedIDs("/")
	if err != nil {
		return err
	}
	policy, err := trust.NewPolicy(cfg, true, "", reserved)
	if err != nil {
		return err
	}
	// Linear in the configuration: each module's own entry, never the
	// closure of its dependencies.
	plan := make([]planModule, 0, len(cfg.Modules))
	for _, i := range gr.Order() {
		m := cfg.Modules[i]
		t := policy.Module(m.Name, m.Trust)
		var srcs []planSource
		src, ref := m.Sources[0].URL, m.Sources[0].SCM().Ref()
		if len(m.Sources) > 1 || m.Sources[0].Path != "" {
			var paths []string
			for _, s := range m.Sources {
				srcs = append(srcs, planSource{Path: s.Path, Kind: s.Kind, Source: s.URL, Ref: s.SCM().Ref()})
				paths = append(paths, s.Path+"="+s.URL)
			}
			src, ref = strings.Join(paths, " "), ""
		}
		plan = append(plan, planModule{
			Name: m.Name, Depends: m.Depends, Source: src, Ref: ref, Sources: srcs,
			Command: m.Command, Trust: m.Trust, Network: string(t.Level.Network), Confined: t.Level.Confined,
			SELinuxType: t.Level.SELinuxType, MCS: t.ID.MCS(), UID: t.ID.UID, StepMCS: t.StepMCS,
			Timeout: m.Timeout.String(),
		})
	}
	// The workers a run of this configuration uses (run -j overrides it).
	workers, perCPU := cfg.Workers, ""
	if workers == 0 {
		workers, perCPU = runtime.NumCPU(), " (one per CPU)"
	}
	// Where each level's builds run, on a cluster.
	var placed []planPlacement
	if cfg.Executor.Kind == config.ExecutorSlurm {
		for _, m := range cfg.Modules {
			if !slices.ContainsFunc(placed, func(p planPlacement) bool { return p.Level == m.Trust }) {
				pl := cfg.Executor.Place(m.Trust)
				placed = append(placed, planPlacement{Level: m.Trust, Partition: pl.Partition, Constraint: pl.Constraint})
			}
		}
	}
	if o.JSON {
		out := map[string]any{"config": cfg.File, "build_root": cfg.BuildRoot, "workers": workers, "modules": plan, "disabled": cfg.Disabled,
			"executor": cfg.Executor.Kind}
		if placed != nil {
			out["placement"] = placed
		}
		b, err := json.MarshalIndent(out, "", "  ")
		if err != nil {
			return err
		}
		fmt.Fprintln(g.stdout, string(b))
		return nil
	}
	w := bufio.NewWriter(g.stdout)
	fmt.Fprintf(w, "%s: %d modules, build root %s, %d workers%s\n", cfg.File, len(plan), cfg.BuildRoot, workers, perCPU)
	for _, p := range placed {
		part := ""
		if p.Partition != "" {
			part = " --partition=" + p.Partition
		}
		fmt.Fprintf(w, "level %s builds on the Slurm cluster: srun --constraint=%s%s\n", p.Level, p.Constraint, part)
	}
	for k, p := range plan {
		deps := ""
		if len(p.Depends) > 0 {
			deps = " (needs " + strings.Join(p.Depends, ", ") + ")"
		}
		fmt.Fprintf(w, "%3d. %-20s %-10s uid %-6d %-10s %s%s\n", k+1, p.Name, p.Trust, p.UID, p.MCS, p.Source, deps)
	}
	if len(cfg.Disabled) > 0 {
		fmt.Fprintf(w, "disabled (enabled: false): %s\n", strings.Join(cfg.Disabled, ", "))
	}
	return w.Flush()
}

// planPlacement is where one level's builds run on a cluster.
type planPlacement struct {
	Level      string `json:"level"`
	Partition  string `json:"partition,omitempty"`
	Constraint string `json:"constraint"`
}
