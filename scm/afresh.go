package scm

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// Afresh runs op, which works with a cache of a source's in the folder
// cache (a clone, a branch, a git dir), and runs it once more when it
// fails, after reset (os.RemoveAll, or Empty for a folder that must stay)
// cleared the cache. The cache is the source's copy: one a step killed
// while it fetched left locked or half written must not break every
// later step; a source that really fails fails again. A canceled op, or
// one that found no revision old enough (ErrNoRevisionAt), is not run
// again. What it says goes to stderr: the module's log.
func Afresh(ctx context.Context, what, cache string, reset func(string) error, op func() error) error {
	err := op()
	if err == nil || ctx.Err() != nil || errors.Is(err, ErrNoRevisionAt) {
		return err
	}
	fmt.Fprintf(os.Stderr, "autobuild scm: %s failed (%v); starting %s afresh\n", what, err, cache)
	if rerr := reset(cache); rerr != nil {
		return fmt.Errorf("%w (and clearing %s: %v)", err, cache, rerr)
	}
	return op()
}

// Empty removes everything in dir, but dir itself.
func Empty(dir string) error {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, e := range ents {
		if err := os.RemoveAll(filepath.Join(dir, e.Name())); err != nil {
			return err
		}
	}
	return nil
}
