package sandbox

import (
	"os"
	"sync"

	llsys "github.com/landlock-lsm/go-landlock/landlock/syscall"
	"github.com/opencontainers/selinux/go-selinux"
	"syscall"
)

var (
	hostOnce sync.Once
	host     Host
)

// ProbeHost returns what this host can enforce. The result is cached.
func ProbeHost() Host {
	hostOnce.Do(func() {
		host.Root = os.Geteuid() == 0
		if v, err := llsys.LandlockGetABIVersion(); err == nil {
			host.LandlockABI = v
		}
		host.SELinux = selinux.GetEnabled() && selinux.EnforceMode() == selinux.Enforcing // permissive enforces nothing (SELinuxMode says which)
		// Namespaces are probed by creating them in a throw-away child:
		// the only answer that cannot lie.
		host.NetNS = probeClone(syscall.CLONE_NEWNET)
		host.PidNS = probeClone(syscall.CLONE_NEWPID)
		host.UserNS = probeClone(syscall.CLONE_NEWUSER)
		host.MountNS = probeMountNS()
		host.Overlay = probeOverlay()
		host.disable(os.Getenv(DisableEnv))
	})
	return host
}

// probeClone reports whether a child can be started in new namespaces of
// the given kinds (with a user namespace when not root).
func probeClone(flags uintptr) bool {
	return probeChild(&syscall.SysProcAttr{Cloneflags: flags})
}

// probeMountNS reports whether a child can get a mount namespace of its
// own and mount in it, as the helper does to build a step's view: a clone
// with CLONE_NEWNS (and a user namespace when not root) whose child then
// unshares another mount namespace, which makes Go's fork code remount /
// private in it before the exec. That mount fails where mounting is
// denied (a seccomp filter, a Landlock domain the process inherited).
func probeMountNS() bool {
	return probeChild(&syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWNS, Unshareflags: syscall.CLONE_NEWNS})
}

// probeChild starts /bin/true with attr, in a user namespace of its own
// when not root (which is what allows the other namespaces then), and
// reports whether it ran.
func probeChild(attr *syscall.SysProcAttr) bool {
	if os.Geteuid() != 0 && attr.Cloneflags&syscall.CLONE_NEWUSER == 0 {
		attr.Cloneflags |= syscall.CLONE_NEWUSER
		attr.UidMappings = []syscall.SysProcIDMap{{ContainerID: os.Geteuid(), HostID: os.Geteuid(), Size: 1}}
		attr.GidMappings = []syscall.SysProcIDMap{{ContainerID: os.Getegid(), HostID: os.Getegid(), Size: 1}}
	}
	pid, err := forkTrue(attr)
	if err != nil {
		return false
	}
	var ws syscall.WaitStatus
	_, _ = syscall.Wait4(pid, &ws, 0, nil)
	return ws.Exited() && ws.ExitStatus() == 0
}
