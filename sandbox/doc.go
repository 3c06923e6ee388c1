// Package sandbox starts every process of autobuild, confined.
//
// A Profile says, for one step, what it may do: which folders it may read
// and write, whether it has network, its resource limits, the uid it runs
// as and its SELinux context. A Runner starts a step under a Profile;
// Exec is the Linux Runner.
//
// The mechanisms, and where each is applied:
//
//   - PID and network namespaces: clone flags on the child, chosen by the
//     parent. The PID namespace makes the step's first process its init,
//     so when it dies every process of the step dies, daemons included,
//     and the step cannot see or signal the engine.
//   - SELinux: the parent writes the level's context (with the module's
//     MCS categories) to /proc/thread-self/attr/exec on a locked OS
//     thread, starts the child, and resets the attribute, always.
//   - rlimits, the module's uid, no_new_privs and Landlock: applied in the
//     child by the helper mode of the autobuild binary
//     (RunHelperIfRequested), between fork and the exec of the step's
//     command. Landlock restricts the calling process and its future
//     children, so it cannot be applied from the parent.
//
// Fail closed: Host.Check lists what a profile needs and this host lacks;
// Run refuses such a step with ErrUnsupported unless the profile allows
// weaker enforcement, and then Result.Missing says what was not enforced.
package sandbox
