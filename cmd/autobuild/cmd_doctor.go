package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/autobuild/autobuild/engine"
	"github.com/autobuild/autobuild/engine/config"
	"github.com/autobuild/autobuild/engine/trust"
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
		RunE: func(cmd *cobra.Command, _ []string) error { return runDoctor(cmd.Context(), g) },
	}
}

func runDoctor(_ context.Context, g *globals) error {
	h := sandbox.ProbeHost()
	fmt.Fprintf(g.stdout, "host: root=%v landlock-abi=%d pid-ns=%v net-ns=%v user-ns=%v mount-ns=%v selinux=%s\n",
		h.Root, h.LandlockABI, h.PidNS, h.NetNS, h.UserNS, h.MountNS, sandbox.SELinuxMode())
	if self, err := os.Executable(); err == nil {
		helper := sandbox.HelperBeside(self)
		what := "the small helper"
		if helper == self {
			what = "this binary itself: install " + sandbox.HelperName + " beside it for faster confined starts"
		}
		fmt.Fprintf(g.stdout, "sandbox helper: %s (%s)\n", helper, what)
	}
	used := map[string]bool{}
	cfg, err := g.load()
	switch {
	case err == nil:
		for _, l := range trust.Used(cfg) {
			used[l] = true
		}
		fmt.Fprintf(g.stdout, "config: %s (allow_weaker_confinement: %v)\n", cfg.File, cfg.AllowWeakerConfinement)
	case errors.Is(err, os.ErrNotExist):
		cfg = nil
	default:
		var ce *config.Error
		if !errors.As(err, &ce) || ce.Line != 0 || ce.Key != "" {
			return err
		}
		fmt.Fprintf(g.stdout, "config: %v (showing built-in levels only)\n", err)
		cfg = nil
	}
	if cfg == nil {
		cfg = &config.Config{}
	}
	reserved, err := sandbox.HostReservedIDs("/")
	if err != nil {
		return err
	}
	space := trust.IDSpace(cfg, reserved)
	note := ""
	if !h.Root {
		note = "; used only when the engine runs as root"
	}
	fmt.Fprintf(g.stdout, "build uids: %d–%d, %d free (this host's accounts and subordinate ranges take %d)%s\n",
		space.First, space.First+space.Count-1, space.Free(), space.Count-space.Free(), note)
	policy, err := trust.NewPolicy(cfg, h.Root, "", reserved)
	if err != nil {
		return err
	}
	var unenforced []string
	for _, n := range policy.Levels.Names() {
		lv := policy.Levels.Level(n)
		p := policy.Profile(n, "", nil, nil)
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
				if used[n] && !cfg.AllowWeakerConfinement && !slices.Contains(unenforced, n) {
					unenforced = append(unenforced, n)
				}
			}
			fmt.Fprintf(g.stdout, "  %s  %-18s %s\n", state, m.Name, m.Detail)
		}
	}
	fmt.Fprintln(g.stdout, "\n(yes: in force; NO: missing, the level is refused; --: absent, SELinux enforces it instead)")
	if len(unenforced) > 0 {
		fmt.Fprintln(g.stdout, "\nsome level the configuration uses cannot be fully enforced here: `autobuild run` will refuse")
		return fmt.Errorf("%w: trust levels %s cannot be fully enforced here", engine.ErrConfinement, strings.Join(unenforced, ", "))
	}
	return nil
}
