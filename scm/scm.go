// Package scm checks out module sources.
//
// An SCM works in two steps, resolve then act. Resolve pins a module's
// branch, tag or commit to a Revision; it is cheap (no objects are
// downloaded) and its result feeds the build's cache key. Checkout then
// makes a folder's work tree exactly that Revision, keeping the SCM's
// metadata in a second folder that no build is given (see Dirs). The
// engine runs both confined, each in a separate process under the
// module's timeout (the resolve and checkout modes of the binary,
// engine/checkout): the engine itself never reads a repository nor talks
// to a server, so a hostile or silent server or repository can only
// damage the module's own folders, or cost the module its timeout.
//
// SCMs register by kind ("git") in a small registry; the engine reaches
// them only through it and through this interface, so it knows nothing of
// any one kind. Adding a kind means a package with an SCM registered at
// init (imported by cmd/autobuild, which wires implementations), passing
// the conformance suite in scm/scmtest.
package scm

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"
	"unicode/utf8"
)

// Source says where a module's code comes from.
type Source struct {
	Kind   string `json:"kind"`
	URL    string `json:"url"`
	Branch string `json:"branch,omitempty"`
	Tag    string `json:"tag,omitempty"`
	Commit string `json:"commit,omitempty"`
}

// Ref is the human name of what Source asks for: "branch main", "tag v1".
func (s Source) Ref() string {
	switch {
	case s.Commit != "":
		return "commit " + s.Commit
	case s.Tag != "":
		return "tag " + s.Tag
	case s.Branch != "":
		return "branch " + s.Branch
	}
	return "default branch"
}

// Revision is a pinned version of a source.
type Revision struct {
	// ID identifies the exact content (a git commit hash).
	ID string `json:"id"`
}

// Dirs are the two folders of one module's checkout.
//
// Work is the work tree: exactly the files of the revision, and nothing
// else (no metadata of the SCM's, not even a pointer to it). It is handed
// to the build, which may change anything in it.
//
// Meta is the SCM's own metadata (for git: the git dir, its config, refs,
// objects and index), in a folder of its own that only the checkout step
// writes. A build never gets it, so nothing a build writes can steer a
// later checkout, which runs with more rights (the network).
type Dirs struct {
	Work string `json:"work"`
	Meta string `json:"meta"`
}

// SCM is one kind of source control.
//
// Resolve and Checkout may be called concurrently for different folders.
// Checkout is idempotent: checking out the revision a folder already has
// leaves it as it is, and it discards local changes and untracked files,
// so a build always starts from the pinned content. Validate, Inputs,
// Current and HasCheckout are cheap and have no side effects.
//
// Nothing in the work tree is trusted: Checkout reads its metadata only
// from Dirs.Meta, takes the repository's address from the Source every
// time (never from metadata a step could have written, such as stored
// remotes or URL rewrites), and removes whatever in the work tree looks
// like metadata (a planted ".git", at any depth) before it resets it.
type SCM interface {
	// Validate checks src's settings when the configuration loads.
	Validate(src Source) error
	// Inputs are the local paths a checkout of src reads (a local
	// repository): the confined checkout step must be allowed to read
	// them, and so must a confined engine.
	Inputs(src Source) []string
	// HasCheckout reports whether d.Meta holds a checkout's metadata, so
	// that a Checkout of a revision it already has needs no network.
	HasCheckout(d Dirs) bool
	// Resolve pins src. It must not download objects or write any
	// folder; it may read only the paths Inputs names (and the network).
	Resolve(ctx context.Context, src Source) (Revision, error)
	// Checkout makes d.Work exactly rev, keeping its metadata in d.Meta
	// (created when it holds none yet). A remote repository is fetched
	// into d.Meta, only when rev is not there already; a local one may
	// be read where it is. Symlinks are written as the text they hold,
	// and never followed.
	Checkout(ctx context.Context, src Source, rev Revision, d Dirs) error
	// Current returns the revision last checked out with d, or an error
	// if d.Meta holds no checkout.
	Current(d Dirs) (Revision, error)
	// ResolveAt pins src as it was at a time: the newest revision of its
	// branch (or default branch) committed at or before at. A Source
	// pinned to a tag or a commit resolves to that pin, whatever the
	// time. Unlike Resolve it may need history that only a fetch brings:
	// it may fetch into d.Meta (creating it), and nothing else; a later
	// Checkout with d reuses what it fetched. No revision that old is an
	// error that says so.
	ResolveAt(ctx context.Context, src Source, at time.Time, d Dirs) (Revision, error)
	// Changes lists the commits that lead from revision from (excluded)
	// to to (included), newest first, at most max of them, read from
	// d.Meta after a Checkout of to (and, where the SCM keeps its history
	// on the server, from the server). With from empty, or not an
	// ancestor of to (the history was rewritten), it lists the newest max
	// commits up to to. An SCM that keeps no history returns none.
	Changes(ctx context.Context, src Source, d Dirs, from, to Revision, max int) ([]Change, error)
}

// Change is one commit of a source, as Changes lists it.
type Change struct {
	// ID names the commit the way its SCM does (a hash, "r42"), so a
	// reader can look it up.
	ID     string    `json:"id"`
	Author string    `json:"author,omitempty"`
	Date   time.Time `json:"date"`
	// Subject is the first line of the commit's message.
	Subject string `json:"subject"`
	// Files are the files (not folders) the commit added, changed or
	// removed, slash-separated and relative to the top of the source (the
	// work tree), sorted; at most MaxChangeFiles of them, with
	// FilesOmitted counting the rest.
	Files        []string `json:"files,omitempty"`
	FilesOmitted int      `json:"files_omitted,omitempty"`
}

// MaxChangeFiles bounds the files a Change lists.
const MaxChangeFiles = 100

// Subject is the first line of a commit message, without surrounding
// space, cut to 200 bytes at a rune boundary.
func Subject(msg string) string {
	msg = strings.TrimSpace(msg)
	if i := strings.IndexByte(msg, '\n'); i >= 0 {
		msg = strings.TrimSpace(msg[:i])
	}
	if len(msg) > 200 {
		cut := 200
		for cut > 0 && !utf8.RuneStart(msg[cut]) {
			cut--
		}
		msg = msg[:cut] + "…"
	}
	return msg
}

// SetFiles sorts files into c.Files, keeping at most MaxChangeFiles and
// counting the others in c.FilesOmitted.
func (c *Change) SetFiles(files []string) {
	files = slices.Clone(files)
	sort.Strings(files)
	files = slices.Compact(files)
	if len(files) > MaxChangeFiles {
		c.FilesOmitted = len(files) - MaxChangeFiles
		files = files[:MaxChangeFiles]
	}
	c.Files = files
}

// ErrNoRevisionAt is the error ResolveAt wraps when the source had no
// revision at or before the time asked for.
var ErrNoRevisionAt = errors.New("no revision at or before that time")

var (
	mu       sync.RWMutex
	registry = map[string]SCM{}
)

// Register makes an SCM available under kind. It is called from init.
func Register(kind string, s SCM) {
	mu.Lock()
	defer mu.Unlock()
	registry[kind] = s
}

// Get returns the SCM registered under kind.
func Get(kind string) (SCM, error) {
	mu.RLock()
	defer mu.RUnlock()
	s, ok := registry[kind]
	if !ok {
		return nil, fmt.Errorf("unknown source kind %q (known: %v)", kind, kindsLocked())
	}
	return s, nil
}

// FieldError is a problem with one setting of a Source.
type FieldError struct {
	// Field is the setting: "url", "branch", "tag" or "commit".
	Field string
	Msg   string
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Msg }

func kindsLocked() []string {
	var ks []string
	for k := range registry {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

// Validate checks that d names two separate folders, neither inside the
// other: metadata in the work tree would be the build's to change, and a
// work tree in the metadata would let a build write it.
func (d Dirs) Validate() error {
	if d.Work == "" || d.Meta == "" {
		return fmt.Errorf("checkout needs a work tree and a metadata folder (have %q and %q)", d.Work, d.Meta)
	}
	w, m := filepath.Clean(d.Work), filepath.Clean(d.Meta)
	if within(m, w) || within(w, m) {
		return fmt.Errorf("metadata folder %s and work tree %s overlap", d.Meta, d.Work)
	}
	return nil
}

// within reports whether p is dir or below it.
func within(p, dir string) bool {
	rel, err := filepath.Rel(dir, p)
	return err == nil && rel != ".." && !strings.HasPrefix(rel, "../")
}
