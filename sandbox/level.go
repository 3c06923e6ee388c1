package sandbox

import (
	"fmt"
	"hash/fnv"
	"sort"
	"strings"
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
// writes only the module's work tree and SCM metadata.
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
			Description: "checkout steps: network allowed, writes only the module's work tree and SCM metadata",
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

// ID is a module's identity in the sandbox: the uid its steps run as when
// the engine is root, and its pair of SELinux MCS categories.
type ID struct {
	UID  int
	Cats [2]int
}

// MCS is the SELinux MLS/MCS part of the module's context: "s0:cA,cB".
func (id ID) MCS() string { return MCSWith(id) }

// MCSWith is the level of a step that may use the folders of all the given
// modules: the union of their categories. A build gets its dependencies'
// categories so it can read their install roots (writing them is denied
// by Landlock and by their owners' uids).
func MCSWith(ids ...ID) string {
	var cats []int
	for _, id := range ids {
		cats = append(cats, id.Cats[0], id.Cats[1])
	}
	sort.Ints(cats)
	var b strings.Builder
	b.WriteString("s0")
	for i, c := range cats {
		if i > 0 && c == cats[i-1] {
			continue
		}
		if i == 0 {
			b.WriteString(":")
		} else {
			b.WriteString(",")
		}
		fmt.Fprintf(&b, "c%d", c)
	}
	return b.String()
}

// AllCategories is the level of a step that may use every module's folders.
const AllCategories = "s0:c0.c1023"

const (
	// BuildUIDBase is the first uid of the range module builds run as.
	BuildUIDBase = 200000
	// BuildUIDRange is the size of that range.
	BuildUIDRange = 100000
	// catPairs is the number of distinct pairs of categories c0..c1023.
	catPairs = 1024 * 1023 / 2
)

// BuildUID is the uid a module prefers in the default range: a hash of
// its name. AssignIDs gives it unless another module, or the host, took it.
func BuildUID(module string) int { return BuildUIDBase + int(hash("uid:"+module)%BuildUIDRange) }

// AssignIDs gives every module an identity from the default uid range,
// reserving nothing (IDSpace.Assign is the full form).
func AssignIDs(modules []string) map[string]ID {
	ids, _ := IDSpace{First: BuildUIDBase, Count: BuildUIDRange}.Assign(modules)
	return ids
}

// pairAt maps 0..catPairs-1 onto the pairs (a, b), a < b ≤ 1023.
func pairAt(k int) [2]int {
	a := 0
	for row := 1023; k >= row; row-- {
		k -= row
		a++
	}
	return [2]int{a, a + 1 + k}
}

func hash(s string) uint32 {
	h := fnv.New32a()
	h.Write([]byte(s))
	return h.Sum32()
}
