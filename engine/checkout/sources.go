package checkout

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/autobuild/autobuild/scm"
)

// Source is one of a module's sources: what to check out, and where.
type Source struct {
	scm.Source
	// Path is the folder of the module's source folder this source is
	// checked out into (a plain name); "" for a module's only source,
	// which is the folder itself.
	Path string `json:"path,omitempty"`
}

// Single is the sources of a module of one source.
func Single(src scm.Source) []Source { return []Source{{Source: src}} }

// single reports whether srcs is one source checked out into the
// module's folder itself.
func single(srcs []Source) bool { return len(srcs) == 1 && srcs[0].Path == "" }

// dirsOf is where one of a module's sources is checked out, within its
// folders d.
func dirsOf(d scm.Dirs, s Source) scm.Dirs {
	if s.Path == "" {
		return d
	}
	return scm.Dirs{Work: filepath.Join(d.Work, s.Path), Meta: filepath.Join(d.Meta, s.Path)}
}

// JoinRevisions is a module's revision made of its sources' (in the order
// of srcs): the one revision of a single source, else "path=revision" for
// each, separated by spaces (no revision holds a space: validRevision).
func JoinRevisions(srcs []Source, revs []string) string {
	if single(srcs) {
		return revs[0]
	}
	parts := make([]string, len(srcs))
	for i, s := range srcs {
		parts[i] = s.Path + "=" + revs[i]
	}
	return strings.Join(parts, " ")
}

// revisionOf is the revision of source i of srcs in a module's revision
// rev (made by JoinRevisions), or "" when rev holds none for it (a
// revision of another configuration of the module).
func revisionOf(srcs []Source, rev string, i int) string {
	if single(srcs) {
		if strings.Contains(rev, " ") {
			return ""
		}
		return rev
	}
	for _, f := range strings.Split(rev, " ") {
		if p, r, ok := strings.Cut(f, "="); ok && p == srcs[i].Path {
			return r
		}
	}
	return ""
}

// scms are the SCMs of srcs, in order.
func scms(srcs []Source) ([]scm.SCM, error) {
	if len(srcs) == 0 {
		return nil, fmt.Errorf("no source")
	}
	out := make([]scm.SCM, len(srcs))
	for i, s := range srcs {
		b, err := scm.Get(s.Kind)
		if err != nil {
			return nil, err
		}
		out[i] = b
	}
	return out, nil
}

// Inputs are the local paths a checkout of srcs reads (see
// scm.SCM.Inputs).
func Inputs(srcs []Source) []string {
	var out []string
	for _, s := range srcs {
		if b, err := scm.Get(s.Kind); err == nil {
			out = append(out, b.Inputs(s.Source)...)
		}
	}
	return out
}

// named prefixes an error with the source it is about, for a module of
// several.
func named(s Source, err error) error {
	if s.Path == "" {
		return err
	}
	return fmt.Errorf("source %s: %w", s.Path, err)
}

// clearTop removes from a module's source folder whatever is not one of
// its sources' folders (what a build left at the top), so that the next
// build starts from the sources alone. A module of one source has its
// SCM clean its folder.
func clearTop(work string, srcs []Source) error {
	if single(srcs) {
		return nil
	}
	keep := map[string]bool{}
	for _, s := range srcs {
		keep[s.Path] = true
	}
	ents, err := os.ReadDir(work)
	if err != nil {
		return err
	}
	for _, e := range ents {
		if !keep[e.Name()] || !e.IsDir() {
			if err := os.RemoveAll(filepath.Join(work, e.Name())); err != nil {
				return err
			}
		}
	}
	return nil
}
