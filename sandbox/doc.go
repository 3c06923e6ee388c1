// Package sandbox starts every process of autobuild, confined.
//
// A Profile says, for one step, what it may do: which folders it may read
// and write, whether it has network, its resource limits, the uid it runs
// as and its SELinux context. A Runner starts a step under a Profile;
// Exec is the Linux Runner.
//
// The mechanisms, and where each is applied:
//
//   - PID, network and mount namespaces: clone flags on the child, chosen
//     by the parent (with a user namespace when the engine is not root).
//     The PID namespace makes the step's first process its init, so when
//     it dies every process of the step dies, daemons included, and the
//     step cannot see or signal the engine.
//   - The step's file system view (mount_linux.go), built by the helper in
//     its mount namespace before the uid drop (bubblewrap's model): a new
//     root on a tmpfs holding the host's system folders read-only, the
//     profile's Write paths read-write and its Read paths read-only at the
//     same absolute paths, a private /tmp and /dev/shm, a minimal /dev and
//     a /proc of the step's PID namespace. Nothing else of the host is
//     there (no /home, /root, /run, /var, /sys, host /tmp, the rest of the
//     build root), so named Unix sockets, which ignore the network
//     namespace, and the host's processes are out of reach. Profile.Hide
//     takes paths back out of a system folder (a build root under /etc).
//   - A merged folder (Profile.Merge, merge_linux.go): an overlay of one
//     Write path over Read paths, mounted by the helper in the view
//     before Landlock (for an unconfined step, over the host's path in a
//     mount namespace of its own); Run removes what the overlay left in
//     the folder once the step is over. Never weakened: a step whose
//     merged folder cannot be made does not run (StageMerge).
//   - SELinux: the parent writes the level's context (with the module's
//     MCS categories) to /proc/thread-self/attr/exec on a locked OS
//     thread, starts the child, and resets the attribute, always.
//   - rlimits, the module's uid, no_new_privs and Landlock: applied in the
//     child by the helper mode of the autobuild binary
//     (RunHelperIfRequested), between fork and the exec of the step's
//     command. Landlock restricts the calling process and its future
//     children, so it cannot be applied from the parent. Its rules name
//     the same paths as the view: a second layer. (It also forbids every
//     mount, so a process already under Landlock cannot give its steps a
//     view: the secure engine is confined by a view of its own instead,
//     EnterEngineView, locked by a user namespace.)
//   - cgroups: each tracked step starts in a cgroup v2 of its own
//     (Scope), killed and removed when it ends; a watchdog kills the
//     engine's steps if the engine dies, and Scope.Reap kills what a dead
//     engine left, before the next run touches its folders.
//
// A step's output reaches its writers through a pipe the engine reads
// when Step.OutputLimit bounds it (output_linux.go, which says when an
// SELinux host rules that out), so the step's file size limit does not
// apply to it; a step that a limit ended says which in Result.Exhausted
// (reason_linux.go).
//
// Fail closed: Host.Check lists what a profile needs and this host lacks;
// Run refuses such a step with ErrUnsupported unless the profile allows
// weaker enforcement, and then Result.Missing says what was not enforced.
package sandbox
