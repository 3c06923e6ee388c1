package slurmtest

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// slurmConf is the cluster's slurm.conf: host the controller's short host
// name (slurmctld runs only where it matches), sock munged's socket.
// Every daemon and command reads it; nothing of it points outside the
// cluster folder.
func (c *Cluster) slurmConf(o Options, host, sock string) string {
	lines := []string{
		"# A test cluster of package slurmtest; its folder is " + c.Dir,
		fmt.Sprintf("ClusterName=slt%02x%02x", c.net.x, c.net.y),
		// The controller's address is this host's on the bridge, which
		// every node reaches.
		fmt.Sprintf("SlurmctldHost=%s(%s)", host, c.net.hostAddr()),
		fmt.Sprintf("SlurmctldPort=%d", c.ctrlPort),
		// Each slurmd listens in its node's own network namespace.
		"SlurmdPort=6818",
		"SlurmUser=root",
		"SlurmdUser=root",
		"AuthType=auth/munge",
		"CredType=cred/munge",
		"AuthInfo=socket=" + sock,
		"MailProg=/bin/true",
		"StateSaveLocation=" + filepath.Join(c.Dir, "ctld"),
		"SlurmctldPidFile=" + filepath.Join(c.Dir, "ctld", "slurmctld.pid"),
		// On a node, the cluster folder is a tmpfs of its own.
		"SlurmdSpoolDir=" + filepath.Join(c.Dir, "slurmd", "spool"),
		"SlurmdPidFile=" + filepath.Join(c.Dir, "slurmd", "slurmd.pid"),
		// No log file: the daemons run in the foreground, and their
		// standard error is their log.
		"SlurmctldSyslogDebug=quiet",
		"SlurmdSyslogDebug=quiet",
		// No cgroups: processes are tracked by their parents, nothing is
		// confined or accounted.
		"ProctrackType=proctrack/linuxproc",
		"TaskPlugin=task/none",
		"JobAcctGatherType=jobacct_gather/none",
		"AccountingStorageType=accounting_storage/none",
		"JobCompType=jobcomp/none",
		"SwitchType=switch/none",
		"MpiDefault=none",
		"SelectType=select/cons_tres",
		"SelectTypeParameters=CR_Core",
		// A node declares the CPUs of its NodeSpec, not this host's.
		"SlurmdParameters=config_overrides",
		"ReturnToService=2",
	}
	for i, n := range o.Nodes {
		l := fmt.Sprintf("NodeName=%s NodeAddr=%s NodeHostname=%s CPUs=%d State=UNKNOWN", n.Name, c.net.nodeAddr(i), n.Name, n.CPUs)
		if len(n.Features) > 0 {
			l += " Features=" + strings.Join(n.Features, ",")
		}
		lines = append(lines, l)
	}
	lines = append(lines, o.Scheduling...)
	lines = append(lines, "PartitionName="+DefaultPartition+" Nodes=ALL Default=YES MaxTime=INFINITE State=UP")
	names := make([]string, 0, len(o.Partitions))
	for name := range o.Partitions {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		lines = append(lines, fmt.Sprintf("PartitionName=%s Nodes=%s MaxTime=INFINITE State=UP", name, strings.Join(o.Partitions[name], ",")))
	}
	return strings.Join(lines, "\n") + "\n"
}

// hiddenDir is a folder that a node sees as a fresh tmpfs of its own.
type hiddenDir struct {
	path string
	mode os.FileMode // its permissions, with the sticky bit as 01000
	// holdsCluster: the cluster folder is this folder or inside it. A
	// node's staging mounts are in the cluster folder, so this one is
	// moved into place last.
	holdsCluster bool
}

// hiddenCandidates are the folders nodes must not see: /tmp and the temp
// folder (where tests keep their files) and the cluster folder (its
// munge key, the controller's state).
func hiddenCandidates(dir string) []string {
	return []string{"/tmp", filepath.Clean(os.TempDir()), dir}
}

// hiddenDirs are hiddenCandidates that exist, without those inside
// another, the one holding the cluster folder last.
func (c *Cluster) hiddenDirs() ([]hiddenDir, error) {
	var paths []string
	for _, p := range hiddenCandidates(c.Dir) {
		if _, err := os.Stat(p); err == nil && !slices.Contains(paths, p) {
			paths = append(paths, p)
		}
	}
	var hs []hiddenDir
	for _, p := range paths {
		inner := false
		for _, q := range paths {
			if within(p, q) {
				inner = true
			}
		}
		if inner {
			continue
		}
		fi, err := os.Stat(p)
		if err != nil {
			return nil, err
		}
		mode := fi.Mode().Perm()
		if fi.Mode()&os.ModeSticky != 0 {
			mode |= 0o1000
		}
		hs = append(hs, hiddenDir{path: p, mode: mode, holdsCluster: p == c.Dir || within(c.Dir, p)})
	}
	slices.SortStableFunc(hs, func(a, b hiddenDir) int {
		switch {
		case a.holdsCluster == b.holdsCluster:
			return 0
		case b.holdsCluster:
			return -1
		}
		return 1
	})
	return hs, nil
}

// nodeScript is what a node's init runs (sh, PID 1 of the node's PID
// namespace, in its fresh mount and UTS namespaces, in its network
// namespace): it makes the node's view of the file system, names the
// host, and runs slurmd as its child, reaping every orphan of the node
// while it waits.
//
// The view: each hidden folder is replaced by a tmpfs, prepared at a
// staging mount point in stageRoot (on this host, the cluster folder's
// nodes/<name>), where the paths a node shares are bind-mounted read-only
// while their sources are still in sight, then moved into place. The
// cluster's etc/ (slurm.conf, munged's socket) is shared that way, and
// its hosts file is mounted over /etc/hosts.
func (c *Cluster) nodeScript(name, stageRoot string, hidden []hiddenDir, share []string) (string, error) {
	type bind struct{ src, dst string }
	etc := filepath.Join(c.Dir, "etc")
	binds := []bind{{etc, etc}, {filepath.Join(etc, "hosts"), "/etc/hosts"}}
	for _, p := range share {
		binds = append(binds, bind{p, p})
	}
	// A folder before what is in it.
	slices.SortFunc(binds, func(a, b bind) int { return strings.Compare(a.dst, b.dst) })

	var b strings.Builder
	w := func(format string, a ...any) { fmt.Fprintf(&b, format+"\n", a...) }
	w("set -eu")
	// This host's mounts of network namespaces, copied into this mount
	// namespace, would keep those namespaces alive as long as the node.
	w(`grep ' - nsfs ' /proc/self/mountinfo | cut -d' ' -f5 | while read -r m; do umount -l "$m" || true; done`)
	stage := func(j int) string { return filepath.Join(stageRoot, fmt.Sprintf("stage%d", j)) }
	for j, h := range hidden {
		w("mount -t tmpfs -o mode=%o slurmtest %s", h.mode, q(stage(j)))
	}
	for _, bd := range binds {
		fi, err := os.Stat(bd.src)
		if err != nil {
			return "", err
		}
		target := bd.dst
		for j, h := range hidden {
			if within(bd.dst, h.path) {
				target = stage(j) + strings.TrimPrefix(bd.dst, h.path)
			}
		}
		if fi.IsDir() {
			w("[ -e %s ] || mkdir -p %s", q(target), q(target))
		} else {
			w("[ -e %s ] || { mkdir -p %s; : > %s; }", q(target), q(filepath.Dir(target)), q(target))
		}
		w("mount --bind %s %s", q(bd.src), q(target))
		w("mount -o remount,bind,ro %s", q(target))
	}
	for j, h := range hidden {
		w("mount --move %s %s", q(stage(j)), q(h.path))
	}
	w("mkdir -p %s %s", q(filepath.Join(c.Dir, "slurmd", "spool")), q(c.NodeRoot))
	w("mount -t tmpfs -o mode=0755 slurmtest %s", q(c.NodeRoot))
	w("hostname %s", q(name))
	w("%s -D -N %s -f %s &", slurmd, q(name), q(c.Conf))
	w("wait $!")
	return b.String(), nil
}

// slurmd is the command line that starts slurmd on a node (a test makes
// it fail).
var slurmd = "slurmd"

// q quotes s for sh.
func q(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
