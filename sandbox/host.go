package sandbox

import (
	"fmt"
	"strings"
)

// Host is what this host can enforce, probed once per process.
type Host struct {
	Root        bool
	LandlockABI int // 0: no Landlock
	UserNS      bool
	NetNS       bool
	PidNS       bool
	// MountNS: a step can have a mount namespace of its own, and mount in
	// it, to build its file system view (mount_linux.go).
	MountNS bool
	// Overlay: the kernel mounts overlay file systems, which a step's
	// merged folder is (Profile.Merge).
	Overlay bool
	SELinux bool
	// NoCgroup: steps get no cgroup of their own even where the host has
	// a writable cgroup v2 (probed once per process when first needed).
	NoCgroup bool
}

// cgroup is the folder steps' cgroups go in, "" when they get none.
func (h Host) cgroup() string {
	if h.NoCgroup {
		return ""
	}
	return cgroupRoot()
}

// DisableEnv names mechanisms to treat as missing on this host, comma
// separated: landlock, netns, pidns, mountns, overlay, selinux, cgroup. It exists to test
// configurations (and autobuild itself) against weaker hosts: a run then
// refuses, or with allow_weaker_confinement runs and reports what it lacked.
const DisableEnv = "AUTOBUILD_SANDBOX_DISABLE"

func (h *Host) disable(list string) {
	for _, m := range strings.Split(list, ",") {
		switch strings.TrimSpace(m) {
		case "landlock":
			h.LandlockABI = 0
		case "netns":
			h.NetNS = false
		case "pidns":
			h.PidNS = false
		case "mountns":
			h.MountNS = false
		case "overlay":
			h.Overlay = false
		case "selinux":
			h.SELinux = false
		case "cgroup":
			h.NoCgroup = true
		}
	}
}

// need lists the mechanisms a profile asks for, each with whether this
// host has it. It is the single source of truth for fail-closed checks
// and for `autobuild doctor`. Where SELinux is enabled and the profile has
// a domain, SELinux enforces the file and network rules, and Landlock is a
// second layer applied when the kernel has it.
func (h Host) need(p Profile) []Mechanism {
	// Optional: without a cgroup, the process group (and, confined, the
	// PID namespace) still ends the step's tree.
	cleanup := Mechanism{Name: "process-tree cleanup", Available: h.cgroup() != "", Optional: true,
		Detail: "a cgroup of its own, killed whole when the step ends, times out or its engine dies"}
	if !cleanup.Available {
		cleanup.Detail = "no writable cgroup v2: its process group is killed; a process that leaves it (setsid) survives unless a PID namespace holds it"
	}
	if !p.Confined {
		return []Mechanism{cleanup}
	}
	bySELinux := h.SELinux && p.SELinuxLabel != ""
	ms := []Mechanism{
		{Name: "landlock-fs", Available: h.LandlockABI >= 1, Optional: bySELinux, Detail: fmt.Sprintf("Landlock ABI %d: writes only to the step's folders", h.LandlockABI)},
		{Name: "landlock-scope", Available: h.LandlockABI >= 6, Optional: bySELinux, Detail: "no signals or abstract Unix sockets to processes outside the step (Landlock ABI 6)"},
		{Name: "pid-namespace", Available: h.PidNS, Detail: "the step's whole process tree dies with it; it cannot see or signal the engine"},
		{Name: "rlimits", Available: true, Detail: limitsString(p.Limits)},
		cleanup,
	}
	if p.Network == NetNone {
		ms = append(ms,
			Mechanism{Name: "network-namespace", Available: h.NetNS, Detail: "an empty network namespace: no route anywhere"},
			Mechanism{Name: "landlock-net", Available: h.LandlockABI >= 4, Optional: bySELinux, Detail: "TCP bind and connect denied (Landlock ABI 4)"},
		)
	}
	// Required even where SELinux confines the step: the view is what
	// hides the host's processes (/proc) and named Unix sockets.
	ms = append(ms, Mechanism{Name: "mount-namespace", Available: h.MountNS,
		Detail: "a file system of its own: system folders and its Read paths read-only, its Write paths, private /tmp, /dev and /proc; nothing else of the host"})
	if h.Root {
		ms = append(ms, Mechanism{Name: "build-uid", Available: true, Detail: "runs as a uid of its own, without capabilities"})
	}
	if p.SELinuxLabel != "" {
		ms = append(ms, selinuxMechanism(h, p.SELinuxLabel)) // enforcing, and the context valid in the loaded policy
	}
	return ms
}

// Check sorts the mechanisms of p: enforced ones, missing ones (required
// but absent: the profile is not fully enforced) and absent optional
// ones (the helper must not try them).
func (h Host) Check(p Profile) (enforced, missing []string) {
	enforced, missing, _ = h.check(p)
	return enforced, missing
}

func (h Host) check(p Profile) (enforced, missing, absent []string) {
	for _, m := range h.need(p) {
		switch {
		case m.Available:
			enforced = append(enforced, m.Name)
		case m.Optional:
			absent = append(absent, m.Name)
		default:
			missing = append(missing, m.Name)
			absent = append(absent, m.Name)
		}
	}
	return enforced, missing, absent
}

// Mechanisms is the doctor's view of a profile on this host.
func (h Host) Mechanisms(p Profile) []Mechanism { return h.need(p) }

func limitsString(l Limits) string {
	var parts []string
	add := func(name string, v int64, unit int64, suffix string) {
		if v > 0 {
			parts = append(parts, fmt.Sprintf("%s %d%s", name, v/unit, suffix))
		}
	}
	add("processes", l.Processes, 1, "")
	add("file size", l.FileSize, mib, " MiB")
	add("memory", l.Memory, mib, " MiB")
	add("cpu", l.CPUSeconds, 1, " s")
	add("open files", l.OpenFiles, 1, "")
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, ", ")
}
