package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sort"

	"github.com/spf13/cobra"

	"github.com/autobuild/autobuild/engine"
	"github.com/autobuild/autobuild/engine/config"
	"github.com/autobuild/autobuild/sandbox"
)

func newDoctorCommand(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "doctor",
		Short: "show which confinement mechanisms this host enforces, per trust level",
		Long: `Probe this host (Landlock ABI, namespaces, SELinux, root) and print, for every
trust level (built-in, and the configuration's own if it loads), each mechanism
the level asks for and whether it is in force here. Exits 4 when a level used
by the configuration cannot be fully enforced, 0 otherwise.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			code, err := runDoctor(cmd.Context(), g)
			g.code = code
			return err
		},
	}
}

func runDoctor(_ context.Context, g *globals) (int, error) {
	h := sandbox.ProbeHost()
	fmt.Fprintf(g.stdout, "host: root=%v landlock-abi=%d pid-ns=%v net-ns=%v user-ns=%v selinux=%v\n",
		h.Root, h.LandlockABI, h.PidNS, h.NetNS, h.UserNS, h.SELinux)
	levels := sandbox.Builtin()
	used := map[string]bool{}
	var custom map[string]config.Level
	cfg, err := g.load()
	switch {
	case err == nil:
		custom = cfg.Levels
		used[cfg.SCMLevel] = true
		for _, m := range cfg.Modules {
			used[m.Trust] = true
		}
		fmt.Fprintf(g.stdout, "config: %s (allow_weaker_confinement: %v)\n", cfg.File, cfg.AllowWeakerConfinement)
	case errors.Is(err, os.ErrNotExist):
	default:
		var ce *config.Error
		if errors.As(err, &ce) && ce.Line == 0 && ce.Key == "" {
			fmt.Fprintf(g.stdout, "config: %v (showing built-in levels only)\n", err)
		} else {
			return exitConfig, err
		}
	}
	var names []string
	for n := range levels {
		names = append(names, n)
	}
	for n := range custom {
		names = append(names, n)
	}
	sort.Strings(names)
	code := exitOK
	for _, n := range names {
		lv := engine.Level(levels, custom, n)
		p := sandbox.Profile{Level: n, Confined: lv.Confined, Network: lv.Network, Limits: lv.Limits,
			SELinuxLabel: sandbox.ExecLabel(lv.SELinuxType, "s0")}
		if h.SELinux && lv.SELinuxType != "" && p.SELinuxLabel == "" {
			p.SELinuxLabel = lv.SELinuxType
		}
		mark := ""
		if used[n] {
			mark = " (used)"
		}
		fmt.Fprintf(g.stdout, "\nlevel %s%s: %s\n", n, mark, lv.Description)
		for _, m := range h.Mechanisms(p) {
			state := "yes"
			switch {
			case !m.Available && m.Optional:
				state = "-- "
			case !m.Available:
				state = "NO "
				if used[n] && (cfg == nil || !cfg.AllowWeakerConfinement) {
					code = exitConfinement
				}
			}
			fmt.Fprintf(g.stdout, "  %s  %-18s %s\n", state, m.Name, m.Detail)
		}
	}
	fmt.Fprintln(g.stdout, "\n(yes: in force; NO: missing, the level is refused; --: absent, SELinux enforces it instead)")
	if code != exitOK {
		fmt.Fprintln(g.stdout, "\nsome level the configuration uses cannot be fully enforced here: `autobuild run` will refuse")
	}
	return code, nil
}
