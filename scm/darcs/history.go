package darcs

import (
	"context"
	"errors"
	"time"

	"github.com/autobuild/autobuild/scm"
)

// ResolveAt is not written yet.
func (Darcs) ResolveAt(ctx context.Context, src scm.Source, at time.Time, d scm.Dirs) (scm.Revision, error) {
	return scm.Revision{}, errors.New("darcs: resolving at a time is not supported yet")
}

// Changes is not written yet.
func (Darcs) Changes(ctx context.Context, src scm.Source, d scm.Dirs, from, to scm.Revision, max int) ([]scm.Change, error) {
	return nil, errors.New("darcs: listing changes is not supported yet")
}
