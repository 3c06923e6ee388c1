package git

import (
	"container/heap"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/storer"

	"github.com/autobuild/autobuild/scm"
)

// ResolveAt implements scm.SCM: the newest commit of the branch's
// first-parent history (what the branch pointed to, merge after merge)
// whose committer date is at or before at. A tag or a commit resolves as
// Resolve does. A local repository is read where it is; a remote one's
// branches and tags are fetched into d.Meta first, as Checkout fetches
// them, and only when the branch's head is not there yet.
func (g Git) ResolveAt(ctx context.Context, src scm.Source, at time.Time, d scm.Dirs) (scm.Revision, error) {
	if src.Commit != "" || src.Tag != "" {
		return g.Resolve(ctx, src)
	}
	p := LocalPath(src.URL)
	if p == "" {
		if err := d.Validate(); err != nil {
			return scm.Revision{}, err
		}
	}
	head, err := g.Resolve(ctx, src)
	if err != nil {
		return scm.Revision{}, err
	}
	h := plumbing.NewHash(head.ID)
	if p != "" {
		st, err := openLocal(p)
		if err != nil {
			return scm.Revision{}, err
		}
		return revisionAt(ctx, st, src, h, at)
	}
	var rev scm.Revision
	err = scm.Afresh(ctx, "resolve at a time", d.Meta, scm.Empty, func() error {
		st, err := openMeta(src, d.Meta)
		if err != nil {
			return err
		}
		if err := fetchFor(ctx, st, src, h); err != nil {
			return err
		}
		rev, err = revisionAt(ctx, st, src, h, at)
		return err
	})
	return rev, err
}

// revisionAt walks the first-parent history from head back to the first
// commit committed at or before at.
func revisionAt(ctx context.Context, objs storer.EncodedObjectStorer, src scm.Source, head plumbing.Hash, at time.Time) (scm.Revision, error) {
	h := head
	for {
		if err := ctx.Err(); err != nil {
			return scm.Revision{}, err
		}
		c, err := object.GetCommit(objs, h)
		if err != nil {
			return scm.Revision{}, fmt.Errorf("%s: %s: commit %s: %w", src.URL, src.Ref(), h, err)
		}
		if !c.Committer.When.After(at) {
			return scm.Revision{ID: h.String()}, nil
		}
		if len(c.ParentHashes) == 0 {
			return scm.Revision{}, fmt.Errorf("%s: %s has no commit at or before %s (its first, %s, was committed %s): %w",
				src.URL, src.Ref(), at.UTC().Format(time.RFC3339), h, c.Committer.When.UTC().Format(time.RFC3339), scm.ErrNoRevisionAt)
		}
		h = c.ParentHashes[0]
	}
}

// Changes implements scm.SCM: the commits reachable from to and not from
// from (git log from..to), newest first by committer date; a merge's
// files are those it changed against its first parent, and the first
// commit's are all its files. A local repository is read where it is, a
// remote one from d.Meta, where the Checkout of to fetched it. When from
// is not an ancestor of to (or not in the repository at all: the history
// was rewritten), it lists the newest max commits up to to.
func (Git) Changes(ctx context.Context, src scm.Source, d scm.Dirs, from, to scm.Revision, max int) ([]scm.Change, error) {
	if !plumbing.IsHash(to.ID) {
		return nil, fmt.Errorf("revision %q is not a full commit hash", to.ID)
	}
	if max <= 0 || from == to {
		return nil, nil
	}
	var objs storer.EncodedObjectStorer
	if p := LocalPath(src.URL); p != "" {
		st, err := openLocal(p)
		if err != nil {
			return nil, err
		}
		objs = st
	} else {
		if d.Meta == "" {
			return nil, errors.New("no metadata folder")
		}
		if _, err := os.Stat(filepath.Join(d.Meta, "HEAD")); err != nil {
			return nil, fmt.Errorf("%s holds no checkout: %w", d.Meta, err)
		}
		objs = storage(d.Meta)
	}
	toHash := plumbing.NewHash(to.ID)
	if _, err := object.GetCommit(objs, toHash); err != nil {
		return nil, fmt.Errorf("%s: commit %s: %w", src.URL, to.ID, err)
	}

	var commits []*node
	reached := false
	if plumbing.IsHash(from.ID) {
		fromHash := plumbing.NewHash(from.ID)
		if _, err := object.GetCommit(objs, fromHash); err == nil {
			w := newWalker(ctx, objs)
			var err error
			if commits, reached, err = w.between(toHash, fromHash); err != nil {
				return nil, err
			}
		}
	}
	if !reached {
		var err error
		if commits, err = newWalker(ctx, objs).newest(toHash, max); err != nil {
			return nil, err
		}
	}
	slices.SortStableFunc(commits, func(a, b *node) int { return b.when.Compare(a.when) })
	if len(commits) > max {
		commits = commits[:max]
	}

	out := make([]scm.Change, 0, len(commits))
	for _, n := range commits {
		c, err := object.GetCommit(objs, n.hash)
		if err != nil {
			return nil, fmt.Errorf("%s: commit %s: %w", src.URL, n.hash, err)
		}
		files, err := changedFiles(ctx, objs, c)
		if err != nil {
			return nil, fmt.Errorf("%s: files of commit %s: %w", src.URL, c.Hash, err)
		}
		ch := scm.Change{
			ID:      c.Hash.String(),
			Author:  ident(c.Author),
			Date:    c.Committer.When.UTC(),
			Subject: scm.Subject(c.Message),
		}
		ch.SetFiles(files)
		out = append(out, ch)
	}
	return out, nil
}

// ident is a signature as git shows it: "name <email>".
func ident(s object.Signature) string {
	switch {
	case s.Email == "":
		return s.Name
	case s.Name == "":
		return "<" + s.Email + ">"
	}
	return s.Name + " <" + s.Email + ">"
}

// changedFiles are the paths c added, changed or removed against its
// first parent: all its files when it has none (or the parent is not in
// the repository, past a shallow clone's end).
func changedFiles(ctx context.Context, objs storer.EncodedObjectStorer, c *object.Commit) ([]string, error) {
	tree, err := object.GetTree(objs, c.TreeHash)
	if err != nil {
		return nil, err
	}
	var parent *object.Tree
	if len(c.ParentHashes) > 0 {
		pc, err := object.GetCommit(objs, c.ParentHashes[0])
		switch {
		case errors.Is(err, plumbing.ErrObjectNotFound):
		case err != nil:
			return nil, err
		default:
			if parent, err = object.GetTree(objs, pc.TreeHash); err != nil {
				return nil, err
			}
		}
	}
	diff, err := object.DiffTreeWithOptions(ctx, parent, tree, nil)
	if err != nil {
		return nil, err
	}
	files := make([]string, 0, len(diff))
	for _, ch := range diff {
		name := ch.To.Name
		if name == "" {
			name = ch.From.Name
		}
		files = append(files, strings.TrimPrefix(name, "/"))
	}
	return files, nil
}

// walker walks commits as git log does: a queue ordered by committer
// date, newest first, each commit taken from it pushing its parents. A
// commit is uninteresting when it is reachable from the revision a range
// starts from; the mark spreads to its ancestors, including those already
// walked. A parent that is not in the repository (past a shallow clone's
// end) ends its line of history.
type walker struct {
	ctx         context.Context
	objs        storer.EncodedObjectStorer
	nodes       map[plumbing.Hash]*node
	queue       queue
	seq         int
	interesting int // interesting nodes in the queue
}

// node is one commit of a walk: only what the walk needs, so that a long
// walk holds no messages.
type node struct {
	hash    plumbing.Hash
	when    time.Time
	parents []plumbing.Hash
	seq     int // the order it was first pushed in: the tie break of equal dates

	uninteresting, queued, walked bool
}

func newWalker(ctx context.Context, objs storer.EncodedObjectStorer) *walker {
	return &walker{ctx: ctx, objs: objs, nodes: map[plumbing.Hash]*node{}}
}

// push queues commit h, once; pushed again uninteresting, it is marked.
func (w *walker) push(h plumbing.Hash, uninteresting bool) error {
	if n, ok := w.nodes[h]; ok {
		if uninteresting {
			w.mark(n)
		}
		return nil
	}
	c, err := object.GetCommit(w.objs, h)
	if errors.Is(err, plumbing.ErrObjectNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("commit %s: %w", h, err)
	}
	n := &node{hash: h, when: c.Committer.When, parents: c.ParentHashes, seq: w.seq, uninteresting: uninteresting, queued: true}
	w.seq++
	w.nodes[h] = n
	if !uninteresting {
		w.interesting++
	}
	heap.Push(&w.queue, n)
	return nil
}

// mark makes n and every ancestor of it already walked uninteresting.
func (w *walker) mark(n *node) {
	todo := []*node{n}
	for len(todo) > 0 {
		n := todo[len(todo)-1]
		todo = todo[:len(todo)-1]
		if n.uninteresting {
			continue
		}
		n.uninteresting = true
		if n.queued {
			w.interesting--
		}
		if n.walked {
			for _, p := range n.parents {
				if pn, ok := w.nodes[p]; ok {
					todo = append(todo, pn)
				}
			}
		}
	}
}

// next takes the newest commit from the queue and pushes its parents.
func (w *walker) next() (*node, error) {
	if err := w.ctx.Err(); err != nil {
		return nil, err
	}
	n := heap.Pop(&w.queue).(*node)
	n.queued = false
	if !n.uninteresting {
		w.interesting--
	}
	n.walked = true
	for _, p := range n.parents {
		if err := w.push(p, n.uninteresting); err != nil {
			return nil, err
		}
	}
	return n, nil
}

// newest lists the newest max commits up to to.
func (w *walker) newest(to plumbing.Hash, max int) ([]*node, error) {
	if err := w.push(to, false); err != nil {
		return nil, err
	}
	var out []*node
	for len(out) < max && w.queue.Len() > 0 {
		n, err := w.next()
		if err != nil {
			return nil, err
		}
		out = append(out, n)
	}
	return out, nil
}

// between lists the commits reachable from to and not from from, and
// reports whether from is an ancestor of to. It walks until every commit
// in the queue is reachable from from.
func (w *walker) between(to, from plumbing.Hash) ([]*node, bool, error) {
	for _, s := range []struct {
		h             plumbing.Hash
		uninteresting bool
	}{{to, false}, {from, true}} {
		if err := w.push(s.h, s.uninteresting); err != nil {
			return nil, false, err
		}
	}
	var walked []*node
	reached := false
	for w.interesting > 0 {
		n, err := w.next()
		if err != nil {
			return nil, false, err
		}
		if !n.uninteresting {
			walked = append(walked, n)
			reached = reached || slices.Contains(n.parents, from)
		}
	}
	var out []*node
	for _, n := range walked {
		if !n.uninteresting {
			out = append(out, n)
		}
	}
	return out, reached, nil
}

// queue is a heap of nodes, the newest committer date first, then the
// first pushed.
type queue []*node

func (q queue) Len() int { return len(q) }
func (q queue) Less(i, j int) bool {
	if c := q[i].when.Compare(q[j].when); c != 0 {
		return c > 0
	}
	return q[i].seq < q[j].seq
}
func (q queue) Swap(i, j int) { q[i], q[j] = q[j], q[i] }
func (q *queue) Push(x any)   { *q = append(*q, x.(*node)) }
func (q *queue) Pop() any {
	old := *q
	n := old[len(old)-1]
	old[len(old)-1] = nil
	*q = old[:len(old)-1]
	return n
}
