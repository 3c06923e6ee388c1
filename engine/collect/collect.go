// Package collect is the collect stage: it lists, with their sizes and
// checksums, the files a build left in its package folder.
package collect

import (
	"io/fs"
	"path/filepath"
	"sort"

	"github.com/autobuild/autobuild/engine/archive"
	"github.com/autobuild/autobuild/engine/report"
)

// Artifacts lists the regular files below root, sorted by path. Files
// that vanish or cannot be read while it walks are left out.
func Artifacts(root string) []report.Artifact {
	var out []report.Artifact
	_ = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return nil
		}
		sum, err := archive.FileSHA256(p)
		if err != nil {
			return nil
		}
		rel, _ := filepath.Rel(root, p)
		out = append(out, report.Artifact{Path: rel, Size: info.Size(), SHA256: sum})
		return nil
	})
	sort.Slice(out, func(a, b int) bool { return out[a].Path < out[b].Path })
	return out
}
