package fossil

import (
	"context"
	"errors"
	"time"

	"github.com/autobuild/autobuild/scm"
)

// ResolveAt is not written yet.
func (Fossil) ResolveAt(ctx context.Context, src scm.Source, at time.Time, d scm.Dirs) (scm.Revision, error) {
	return scm.Revision{}, errors.New("fossil: resolving at a time is not supported yet")
}

// Changes is not written yet.
func (Fossil) Changes(ctx context.Context, src scm.Source, d scm.Dirs, from, to scm.Revision, max int) ([]scm.Change, error) {
	return nil, errors.New("fossil: listing changes is not supported yet")
}
