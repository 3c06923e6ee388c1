package scmtest

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/autobuild/autobuild/scm"
)

// third changes a file of second and removes nothing.
var third = map[string]string{
	"README": "read me, third\n",
}

// history checks what an SCM says of a source's past: the changes
// between two revisions, and the revision it had at a given time.
func history(t *testing.T, s scm.SCM, repos Repos) {
	ctx := context.Background()

	t.Run("ChangesSinceLastBuild", func(t *testing.T) {
		src := repos.New(t, base)
		dir := newDirs(t)
		first := resolve(t, s, src)
		checkout(t, s, src, first, dir)
		repos.Commit(t, src, second)
		repos.Commit(t, src, third)
		last := resolve(t, s, src)
		checkout(t, s, src, last, dir)
		if _, ok := repos.(Historyless); ok {
			cs, err := s.Changes(ctx, src, dir, first, last, 10)
			if err != nil || len(cs) != 0 {
				t.Errorf("Changes of a source without history = %+v, %v; want none", cs, err)
			}
			return
		}

		cs := changes(t, s, src, dir, first, last, 10)
		if len(cs) != 2 {
			t.Fatalf("Changes(first, last) = %d changes, want the 2 commits since: %+v", len(cs), cs)
		}
		wantFiles := [][]string{{"README"}, {"added/new.txt", "src/main.txt"}}
		for i, c := range cs {
			if !slices.Equal(c.Files, wantFiles[i]) {
				t.Errorf("change %d (%s) touched %q, want %q", i, c.ID, c.Files, wantFiles[i])
			}
		}
		if !cs[0].Date.After(cs[1].Date) && !cs[0].Date.Equal(cs[1].Date) {
			t.Errorf("changes not newest first: %v before %v", cs[0].Date, cs[1].Date)
		}
		if cs[0].ID == cs[1].ID {
			t.Errorf("two changes with one ID %q", cs[0].ID)
		}

		// None between a revision and itself.
		if cs := changes(t, s, src, dir, last, last, 10); len(cs) != 0 {
			t.Errorf("Changes(last, last) = %+v, want none", cs)
		}
		// A first build lists the newest few, at most max.
		if cs := changes(t, s, src, dir, scm.Revision{}, last, 2); len(cs) != 2 || !slices.Equal(cs[0].Files, wantFiles[0]) {
			t.Errorf("Changes(none, last, 2) = %+v, want the newest 2", cs)
		}
		if cs := changes(t, s, src, dir, scm.Revision{}, last, 10); len(cs) != 3 {
			t.Errorf("Changes(none, last, 10) = %d changes, want all 3: %+v", len(cs), cs)
		}
		// Up to an older revision: only what leads to it.
		if cs := changes(t, s, src, dir, scm.Revision{}, first, 10); len(cs) != 1 || !slices.Equal(cs[0].Files, []string{".hidden/conf", "README", "src/lib/lib.txt", "src/main.txt"}) {
			t.Errorf("Changes(none, first, 10) = %+v, want the first commit with its 4 files", cs)
		}
	})

	t.Run("ResolveAtTime", func(t *testing.T) {
		src := repos.New(t, base)
		first := resolve(t, s, src)
		// Every SCM keeps commit times to the second: the time asked for
		// lies a whole second after the first commit and before the next.
		at := nextSecond()
		nextSecond()
		repos.Commit(t, src, second)
		last := resolve(t, s, src)
		if last == first {
			t.Fatalf("Resolve after a new commit = %v, the old revision", last)
		}

		dir := newDirs(t)
		if _, ok := repos.(Historyless); ok {
			// What the source held then is gone: no revision of then.
			if rev, err := s.ResolveAt(ctx, src, at, dir); !errors.Is(err, scm.ErrNoRevisionAt) {
				t.Errorf("ResolveAt(before the change) of a source without history = %v, %v; want an error wrapping %v", rev, err, scm.ErrNoRevisionAt)
			}
		} else if rev, err := s.ResolveAt(ctx, src, at, dir); err != nil {
			t.Fatalf("ResolveAt(%v): %v", at, err)
		} else {
			if rev != first {
				t.Errorf("ResolveAt(between the commits) = %v, want the first %v", rev, first)
			}
			// What it fetched serves the checkout.
			checkout(t, s, src, rev, dir)
			assertTree(t, dir, base)
			assertCurrent(t, s, dir, rev)
		}

		if rev, err := s.ResolveAt(ctx, src, time.Now().Add(time.Hour), dir); err != nil || rev != last {
			t.Errorf("ResolveAt(an hour ahead) = %v, %v; want the newest %v", rev, err, last)
		}
		if rev, err := s.ResolveAt(ctx, src, time.Now().Add(time.Hour), newDirs(t)); err != nil || rev != last {
			t.Errorf("ResolveAt(an hour ahead) into fresh folders = %v, %v; want the newest %v", rev, err, last)
		}
		if rev, err := s.ResolveAt(ctx, src, at.Add(-24*time.Hour), newDirs(t)); !errors.Is(err, scm.ErrNoRevisionAt) {
			t.Errorf("ResolveAt(a day before the first commit) = %v, %v; want an error wrapping %v", rev, err, scm.ErrNoRevisionAt)
		}
		if _, ok := repos.(Historyless); ok {
			return
		}
		// A pinned commit stays pinned, whatever the time.
		pinned := src
		pinned.Commit = first.ID
		if rev, err := s.ResolveAt(ctx, pinned, time.Now().Add(time.Hour), newDirs(t)); err != nil || rev != first {
			t.Errorf("ResolveAt(pinned to %s, an hour ahead) = %v, %v; want the pin", first.ID, rev, err)
		}
	})
}

// nextSecond waits for the wall clock's next whole second and returns it.
func nextSecond() time.Time {
	now := time.Now()
	next := now.Truncate(time.Second).Add(time.Second)
	time.Sleep(next.Sub(now) + 10*time.Millisecond)
	return next
}

func changes(t *testing.T, s scm.SCM, src scm.Source, dir scm.Dirs, from, to scm.Revision, max int) []scm.Change {
	t.Helper()
	cs, err := s.Changes(context.Background(), src, dir, from, to, max)
	if err != nil {
		t.Fatalf("Changes(%q, %q, %d): %v", from.ID, to.ID, max, err)
	}
	for _, c := range cs {
		if c.ID == "" || c.Subject == "" || c.Author == "" || c.Date.IsZero() {
			t.Errorf("change %+v lacks its id, subject, author or date", c)
		}
		if time.Since(c.Date) > time.Hour || time.Until(c.Date) > time.Minute {
			t.Errorf("change %s dated %v, not when the test committed it", c.ID, c.Date)
		}
	}
	return cs
}
