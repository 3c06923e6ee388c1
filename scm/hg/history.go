package hg

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/autobuild/autobuild/scm"
)

// ResolveAt implements scm.SCM. A tag or a commit resolves as Resolve
// does. A branch (or the default one) is resolved as Resolve does, its
// head and ancestors are pulled into the metadata folder's repository
// (as Checkout pulls, and for Checkout to reuse), and the revision is
// the newest node of the head's first-parent line (the history of the
// branch itself, not what merges brought in) dated at or before at.
func (h Hg) ResolveAt(ctx context.Context, src scm.Source, at time.Time, d scm.Dirs) (scm.Revision, error) {
	if err := d.Validate(); err != nil {
		return scm.Revision{}, err
	}
	head, err := h.Resolve(ctx, src)
	if err != nil || src.Commit != "" || src.Tag != "" {
		return head, err
	}
	node := ""
	// hg keeps whole seconds, never before 1970 (it refuses a negative
	// date).
	if at.Unix() >= 0 {
		if err := scm.Afresh(ctx, "fetch", repoDir(d), os.RemoveAll, func() error { return fetch(ctx, src, head.ID, d) }); err != nil {
			return scm.Revision{}, fmt.Errorf("%s: %s: %w", src.URL, src.Ref(), err)
		}
		// date('<T') is "at or before T". The node was checked by nodeRE
		// and the time is a number: nothing here is read as a name.
		revset := fmt.Sprintf("max(_firstancestors(id(%s)) and date('<%d 0'))", head.ID, at.Unix())
		out, err := run(ctx, repoDir(d), "log", "--rev="+revset, "--template={node}\n")
		if err != nil {
			return scm.Revision{}, fmt.Errorf("%s: %s: find the node at %s: %w", src.URL, src.Ref(), at.UTC().Format(time.RFC3339), err)
		}
		node = strings.TrimSpace(out)
	}
	if node == "" {
		return scm.Revision{}, fmt.Errorf("%s: %s: no node of %s dated at or before %s: %w",
			src.URL, src.Ref(), head.ID, at.UTC().Format(time.RFC3339), scm.ErrNoRevisionAt)
	}
	if !nodeRE.MatchString(node) {
		return scm.Revision{}, fmt.Errorf("%s: %s: hg answered %q, not a node", src.URL, src.Ref(), node)
	}
	return scm.Revision{ID: node}, nil
}

// logEntry is what Changes asks hg log for, one node per entry (hg's
// json template: every string escaped, whatever the commit holds).
type logEntry struct {
	Node   string    `json:"node"`
	Author string    `json:"author"`
	Date   []float64 `json:"date"` // seconds since the epoch, zone offset
	Desc   string    `json:"desc"`
	Files  []string  `json:"files"`
}

// logTemplate selects logEntry's fields.
const logTemplate = "json(node, author, date, desc, files)"

// Changes implements scm.SCM, reading the metadata folder's repository
// only: the ancestors of to that are not from's (hg's only(to, from)),
// or all of to's ancestors when from is empty or not one of them,
// children before parents (the repository's revision order, reversed).
// A change's files are those hg records for it; a merge records only the
// files the merge itself had to change.
func (Hg) Changes(ctx context.Context, src scm.Source, d scm.Dirs, from, to scm.Revision, max int) ([]scm.Change, error) {
	if !nodeRE.MatchString(to.ID) {
		return nil, fmt.Errorf("revision %q is not a full 40-digit node", to.ID)
	}
	if max <= 0 {
		return nil, nil
	}
	repo := repoDir(d)
	if _, err := os.Stat(filepath.Join(repo, ".hg", "requires")); err != nil {
		return nil, fmt.Errorf("%s holds no repository: check %s out first", d.Meta, to.ID)
	}
	// Nodes are matched by id(), never looked up as names (a bookmark
	// may be called like a node); a from that is not an ancestor of to
	// excludes nothing.
	revset := "reverse(ancestors(id(" + to.ID + ")))"
	if nodeRE.MatchString(from.ID) {
		revset = fmt.Sprintf("reverse(only(id(%s), id(%s) and ::id(%s)))", to.ID, from.ID, to.ID)
	}
	out, err := run(ctx, repo, "log", "--rev="+revset, "--limit="+strconv.Itoa(max), "--template="+logTemplate)
	if err != nil {
		return nil, fmt.Errorf("log of %s: %w", to.ID, err)
	}
	var entries []logEntry
	if err := json.Unmarshal([]byte(out), &entries); err != nil {
		return nil, fmt.Errorf("log of %s: hg's output is not JSON: %w", to.ID, err)
	}
	if len(entries) == 0 {
		// None: from is to, or to is not there.
		if have, err := hasNode(ctx, repo, to.ID); err != nil {
			return nil, err
		} else if !have {
			return nil, fmt.Errorf("%s does not hold %s: check it out first", repo, to.ID)
		}
	}
	cs := make([]scm.Change, 0, len(entries))
	for _, e := range entries {
		if !nodeRE.MatchString(e.Node) || len(e.Date) != 2 {
			return nil, fmt.Errorf("log of %s: hg answered an entry %+v", to.ID, e)
		}
		c := scm.Change{
			ID:      e.Node,
			Author:  e.Author,
			Date:    time.Unix(int64(e.Date[0]), 0).UTC(),
			Subject: scm.Subject(e.Desc),
		}
		c.SetFiles(e.Files)
		cs = append(cs, c)
	}
	return cs, nil
}
