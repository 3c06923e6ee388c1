package dir

import (
	"context"
	"fmt"
	"time"

	"github.com/autobuild/autobuild/scm"
)

// ResolveAt implements scm.SCM: the folder's one revision, if nothing in
// it was modified after at (see the package doc). The metadata folder is
// not used.
func (Dir) ResolveAt(ctx context.Context, src scm.Source, at time.Time, d scm.Dirs) (scm.Revision, error) {
	if err := (Dir{}).Validate(src); err != nil {
		return scm.Revision{}, err
	}
	from := LocalPath(src.URL)
	m, err := walk(from, "", nil)
	if err != nil {
		return scm.Revision{}, fmt.Errorf("hash %s: %w", src.URL, err)
	}
	if m.newest.After(at) {
		return scm.Revision{}, fmt.Errorf("%s: %q was modified at %s, after %s, and a plain folder keeps nothing older: %w",
			from, m.newestPath, m.newest.UTC().Format(time.RFC3339Nano), at.UTC().Format(time.RFC3339Nano), scm.ErrNoRevisionAt)
	}
	return scm.Revision{ID: m.hash()}, nil
}

// Changes implements scm.SCM: a plain folder keeps no history, so there
// are none.
func (Dir) Changes(ctx context.Context, src scm.Source, d scm.Dirs, from, to scm.Revision, max int) ([]scm.Change, error) {
	return nil, nil
}
