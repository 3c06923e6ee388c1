//go:build !linux

package publish

import (
	"io/fs"
	"os"

	"golang.org/x/sys/unix"
)

// readDirAt lists the folder fd (which stays open), from its offset (a
// descriptor is listed once), with each entry's type (looked up without
// following a symlink where the file system does not give it).
func readDirAt(fd int) (names []string, types []fs.FileMode, err error) {
	dup, err := unix.Dup(fd)
	if err != nil {
		return nil, nil, err
	}
	unix.CloseOnExec(dup)
	f := os.NewFile(uintptr(dup), "")
	defer f.Close()
	ents, err := f.ReadDir(-1)
	if err != nil {
		return nil, nil, err
	}
	for _, e := range ents {
		names = append(names, e.Name())
		types = append(types, e.Type())
	}
	return names, types, nil
}
