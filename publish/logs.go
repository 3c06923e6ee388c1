package publish

import (
	"errors"
	"fmt"
	"os"
)

// A module's log is written once, by its build, and then only read: by
// the site of every run that shows it and by the build archive. So it is
// stored once, in the log folder where the engine created it, and the
// site and the archive hard-link it instead of copying it. A link is a way
// to change what was published, so a log is linked only when nothing can
// write it any more:
//
//   - it is a regular file owned by the engine's uid, reached without a
//     symlink (the caller opened it so). An engine running as root builds
//     each module as a uid of its own, which can neither reopen the log
//     for writing nor change its mode; an engine running as an ordinary
//     user builds as that user, and only the builds' confinement keeps
//     them from the log folder, as it keeps them from the sites;
//   - it is read-only and readable by all: mode 0444. A log with write
//     bits is made 0444 first, but only when it is readable by all and
//     has no other name (one link): a file linked in from elsewhere is
//     never changed;
//   - for the site, no process holds it open for writing: a build step
//     may write its log through a descriptor it inherited, and a process
//     of the step that survived the step would still hold it. The kernel
//     tells: a read lease (F_SETLEASE) is refused while the file is open
//     for writing anywhere, and the lease is held until the link is made,
//     so a writer that opens it meanwhile is seen too;
//   - it has the SELinux type of the folder it is linked into (none on a
//     host without SELinux): a link keeps its file's label, and the site
//     and the archive keep their own types.
//
// Anything else is copied: into a new file the site or the archive
// creates. Root can still reopen a 0444 file for writing, and so
// can a process of the engine's own uid after a chmod: both are the
// engine's, which can change the site anyway.

// ErrLogNotShared is what LinkLog returns when it did not link: the
// caller copies the log instead. errors.Is sees it; the message says why.
var ErrLogNotShared = errors.New("log not linked")

type notShared struct{ why string }

func (e *notShared) Error() string { return "log not linked: " + e.why }
func (e *notShared) Is(target error) bool {
	return target == ErrLogNotShared
}

func notSharedf(format string, args ...any) error {
	return &notShared{why: fmt.Sprintf(format, args...)}
}

// LinkLog makes name in the folder dirfd (a name that must not exist) a
// hard link to the log open at src, when the rules above allow it,
// making the log read-only first where they say so. Unless writersOK,
// it also makes sure no process holds the log open for writing, and
// links nothing otherwise. An error (always ErrLogNotShared) means
// nothing was linked; the log may have been made read-only all the same.
//
// writersOK is for the build archive, which stores a module's log as
// soon as its build ends, while the engine still holds it open: the
// archive checks every file against its manifest before using it, so a
// later write costs the entry, never a wrong result.
func LinkLog(src *os.File, dirfd int, name string, writersOK bool) error {
	return linkLog(src, dirfd, name, writersOK)
}
