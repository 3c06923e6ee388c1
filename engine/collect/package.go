package collect

import (
	"os"

	"github.com/autobuild/autobuild/engine/packages"
	"github.com/autobuild/autobuild/engine/report"
)

// recognise describes the artifact open as f (size bytes, named name)
// when it is a package, through the descriptor collect opened: no path
// is looked up again, no symlink followed. A file named as a package
// that does not parse gets the reason instead.
func recognise(a *report.Artifact, f *os.File, name string, size int64) {
	if packages.Kind(name) == "" {
		return
	}
	p, err := packages.Read(f, size, name)
	if err != nil {
		a.NotPackage = err.Error()
		return
	}
	a.Package = p
}
