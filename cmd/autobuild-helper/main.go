// Command autobuild-helper is the sandbox helper of autobuild: the small
// program a confined step starts as, which confines itself (rlimits, the
// module's uid, Landlock, its file system view) between fork and exec and
// then execs the step's command. It links only the sandbox package, so it
// starts in about half the time of the whole autobuild binary, and every
// confined step pays that start.
//
// autobuild finds it beside itself (make installs both); without it, the
// autobuild binary serves as its own helper. It is for the engine only.
package main

import (
	"fmt"
	"os"

	"github.com/autobuild/autobuild/sandbox"
)

func main() {
	sandbox.RunHelperIfRequested()
	fmt.Fprintln(os.Stderr, "autobuild-helper: the sandbox helper of autobuild; it is started by the engine only")
	os.Exit(2)
}
