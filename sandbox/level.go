package sandbox

import (
	"fmt"
	"hash/fnv"
	"sort"
)

// Network says what a step may reach.
type Network string

const (
	// NetNone: a new, empty network namespace, and TCP bind/connect denied
	// by Landlock as a second layer.
	NetNone Network = "none"
	// NetOutgoing: the host's network; Landlock still scopes abstract Unix
	// sockets and signals, so a build cannot talk to other builds or
	// the engine through them.
	NetOutgoing Network = "outgoing"
)

// Limits are resource limits of one step. Zero means "no limit".
type Limits struct {
	Processes  int64 `json:"processes,omitempty"`
	FileSize   int64 `json:"file_size,omitempty"` // bytes
	Memory     int64 `json:"memory,omitempty"`    // bytes of address space
	CPUSeconds int64 `json:"cpu_seconds,omitempty"`
	OpenFiles  int64 `json:"open_files,omitempty"`
}

// Level is a trust level: the rules every step run at it obeys.
type Level struct {
	Name        string
	Description string
	// Confined is false only for the explicit opt-out level "unconfined".
	Confined bool
	Network  Network
	// SELinuxType is the domain steps run in on an SELinux host.
	SELinuxType string
	// ReadAllInstallRoots lets a build read every module's install root,
	// not only its dependencies'.
	ReadAllInstallRoots bool
	// Read and Write are extra paths, beyond the module's own folders.
	Read, Write []string
	Limits      Limits
}

const mib = 1 << 20

var defaultLimits = Limits{
	Processes:  256,
	FileSize:   1024 * mib,
	Memory:     8192 * mib,
	CPUSeconds: 3600,
	OpenFiles:  4096,
}

// SCMLevel is the built-in level of checkout steps: network allowed,
// writes only the module's source folder.
const SCMLevel = "scm"

// Builtin returns the built-in trust levels by name.
func Builtin() map[string]Level {
	return map[string]Level{
		"isolated": {
			Name:        "isolated",
			Description: "the default: no network; writes only its own source, install and package folders, private temp and log; reads system paths and its dependencies' install roots",
			Confined:    true, Network: NetNone,
			SELinuxType: "autobuild_build_isolated_t", Limits: defaultLimits,
		},
		"network": {
			Name:        "network",
			Description: "isolated plus outgoing network (for builds that download dependencies)",
			Confined:    true, Network: NetOutgoing,
			SELinuxType: "autobuild_build_network_t", Limits: defaultLimits,
		},
		"trusted": {
			Name:        "trusted",
			Description: "network, plus reading every module's install root, and four times the resources",
			Confined:    true, Network: NetOutgoing, ReadAllInstallRoots: true,
			SELinuxType: "autobuild_build_trusted_t",
			Limits: Limits{
				Processes: 4 * defaultLimits.Processes, FileSize: 4 * defaultLimits.FileSize,
				Memory: 4 * defaultLimits.Memory, CPUSeconds: 4 * defaultLimits.CPUSeconds,
				OpenFiles: 4 * defaultLimits.OpenFiles,
			},
		},
		"unconfined": {
			Name:        "unconfined",
			Description: "the explicit opt-out: runs as the engine does, with only a timeout and process-tree cleanup",
			Confined:    false, Network: NetOutgoing,
		},
		SCMLevel: {
			Name:        SCMLevel,
			Description: "checkout steps: network allowed, writes only the module's source folder",
			Confined:    true, Network: NetOutgoing,
			SELinuxType: "autobuild_scm_t", Limits: defaultLimits,
		},
	}
}

// BuiltinNames returns the names of the built-in levels, sorted.
func BuiltinNames() []string {
	var names []string
	for n := range Builtin() {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// MCSCategories derives a module's pair of MCS categories from its name,
// so it is the same in every cron run. Two modules may hash to the same
// pair; config validation rejects that (see CategoryCollision).
func MCSCategories(module string) (int, int) {
	h := fnv.New32a()
	h.Write([]byte(module))
	v := h.Sum32()
	a := int(v % 1024)
	b := int((v / 1024) % 1023)
	if b >= a {
		b++ // b in [0,1024) and different from a
	}
	if a > b {
		a, b = b, a
	}
	return a, b
}

// MCSLevel is the SELinux MLS/MCS part of a module's context: "s0:cA,cB".
func MCSLevel(module string) string {
	a, b := MCSCategories(module)
	return fmt.Sprintf("s0:c%d,c%d", a, b)
}

// BuildUID derives the user id a module's steps run as when the engine
// runs as root: a uid of its own, so plain file permissions also keep one
// module's build away from another's files, and RLIMIT_NPROC (which root
// ignores) bounds its processes.
func BuildUID(module string) int {
	h := fnv.New32a()
	h.Write([]byte("uid:" + module))
	return BuildUIDBase + int(h.Sum32()%BuildUIDRange)
}

const (
	// BuildUIDBase is the first uid of the range module builds run as.
	BuildUIDBase = 200000
	// BuildUIDRange is the size of that range.
	BuildUIDRange = 100000
)
