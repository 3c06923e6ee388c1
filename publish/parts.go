package publish

import (
	"context"
	"os"
	"path/filepath"

	"github.com/autobuild/autobuild/engine/report"
)

// Part writes more into a site before it goes live: a package repository
// (publish/repo) built from the packages the site holds. The site calls
// each of its Parts in turn, after the artifacts and packages.html are in
// the new site's folder and before index.html is written and the folder
// swapped in, so a reader sees a part only with the site it belongs to.
//
// A part writes only below its own folder of the site (Dir, one path
// element), never changes a file it did not create there, and leaves
// every file read-only. When it fails, the site removes its folder and
// goes live without it: a part's failure never holds back the site nor
// changes the live one. A part reports its failure itself (publish/repo
// is also the Publisher that does).
type Part interface {
	// Dir is the part's folder in the site ("repos").
	Dir() string
	WritePart(ctx context.Context, in PartInput) error
}

// PartInput is what a part is built from.
type PartInput struct {
	// Site is the new site's folder (not live yet): the artifacts are in
	// packages/<module>/<path>, read-only copies made by the site.
	Site string
	// Prev is the live site's folder, whose own part the new one may
	// reuse; "" when there is none.
	Prev string
	// Run is the run as the site publishes it: a module whose artifacts
	// were not published lists none.
	Run *report.Run
}

// writeParts runs every part; one that fails has its folder removed.
func (s *Site) writeParts(ctx context.Context, dir, prev string, run *report.Run) {
	for _, p := range s.Parts {
		sub := p.Dir()
		if sub == "" || sub == "." || sub == ".." || filepath.Base(sub) != sub || reservedName(sub) {
			continue
		}
		if err := p.WritePart(ctx, PartInput{Site: dir, Prev: prev, Run: run}); err != nil {
			os.RemoveAll(filepath.Join(dir, sub))
		}
	}
}

// reservedName reports whether name is one of the site's own top-level
// entries, which no part may take.
func reservedName(name string) bool {
	switch name {
	case "packages", "logs", "index.html", "status.json", "packages.html":
		return true
	}
	return false
}
