package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
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
the level asks for and whether it is in force here. With a configuration, also
how much space and how many inodes the build root's file system has free, with
a warning when either is nearly gone (below 5%, or 1 GiB of space). Exits 4
when a level used by the configuration cannot be fully enforced, 0 otherwise
(a nearly full disk is a warning only).`,
		Args: noArgs,
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
		diskReport(g.stdout, cfg.BuildRoot)
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

// Below these, doctor warns that the build root's file system is nearly
// full: builds then fail with "no space left" (which the site names).
const (
	lowSpaceFraction = 0.05
	lowSpaceBytes    = 1 << 30
)

// diskReport prints the free space and inodes of the build root's file
// system (of its nearest existing parent, before the first run), and a
// warning when either is nearly gone.
func diskReport(w io.Writer, root string) {
	dir := root
	for {
		if _, err := os.Stat(dir); err == nil {
			break
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return
		}
		dir = parent
	}
	where := root
	if dir != root {
		where = fmt.Sprintf("%s (not created yet: on the file system of %s)", root, dir)
	}
	sp, err := sandbox.DiskSpace(dir)
	if err != nil {
		fmt.Fprintf(w, "build root: %s: %v\n", where, err)
		return
	}
	pct := func(free, total int64) float64 {
		if total <= 0 {
			return 100
		}
		return 100 * float64(free) / float64(total)
	}
	line := fmt.Sprintf("build root: %s: %s free of %s (%.0f%%)", where, sandbox.Size(sp.Free), sandbox.Size(sp.Total), pct(sp.Free, sp.Total))
	if sp.Inodes > 0 {
		line += fmt.Sprintf(", %d inodes free of %d (%.0f%%)", sp.FreeInodes, sp.Inodes, pct(sp.FreeInodes, sp.Inodes))
	}
	fmt.Fprintln(w, line)
	var low []string
	if sp.Free < lowSpaceBytes || float64(sp.Free) < lowSpaceFraction*float64(sp.Total) {
		low = append(low, fmt.Sprintf("%s of space free", sandbox.Size(sp.Free)))
	}
	if sp.Inodes > 0 && float64(sp.FreeInodes) < lowSpaceFraction*float64(sp.Inodes) {
		low = append(low, fmt.Sprintf("%d inodes free", sp.FreeInodes))
	}
	if len(low) > 0 {
		fmt.Fprintf(w, "warning: the build root's file system is nearly full: %s (doctor warns below %.0f%% or %s of space, %.0f%% of inodes); builds that need more fail with no space left\n",
			strings.Join(low, " and "), 100*lowSpaceFraction, sandbox.Size(lowSpaceBytes), 100*lowSpaceFraction)
	}
}
