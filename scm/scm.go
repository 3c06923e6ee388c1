// Package scm checks out module sources.
//
// An SCM works in two steps, resolve then act. Resolve pins a module's
// branch, tag or commit to a Revision; it is cheap (no objects are
// downloaded) and its result feeds the build's cache key. Checkout then
// makes a folder's work tree exactly that Revision. The engine runs
// Checkout confined, in a separate process (see cmd/autobuild's scm
// mode), so a hostile server or repository can only damage the module's
// own source folder.
//
// SCMs register by kind ("git") in a small registry; the engine reaches
// them only through it and through this interface, so it knows nothing of
// any one kind. Adding a kind means a package with an SCM registered at
// init (imported by cmd/autobuild, which wires implementations), passing
// the conformance suite in scm/scmtest.
package scm

import (
	"context"
	"fmt"
	"sort"
	"sync"
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

// SCM is one kind of source control.
//
// Resolve and Checkout may be called concurrently for different folders.
// Checkout is idempotent: checking out the revision a folder already has
// leaves it as it is, and it discards local changes and untracked files,
// so a build always starts from the pinned content. Validate, Inputs,
// IsMetadata and HasCheckout are cheap and have no side effects.
type SCM interface {
	// Validate checks src's settings when the configuration loads.
	Validate(src Source) error
	// Inputs are the local paths a checkout of src reads (a local
	// repository): the confined checkout step must be allowed to read
	// them, and so must a confined engine.
	Inputs(src Source) []string
	// IsMetadata reports whether rel, a path relative to a work tree's
	// top, is the SCM's own metadata (".git") rather than source.
	IsMetadata(rel string) bool
	// HasCheckout reports whether dir holds a checkout, so that a
	// Checkout of a revision it already has needs no network.
	HasCheckout(dir string) bool
	// Resolve pins src. It must not download objects or touch dir.
	Resolve(ctx context.Context, src Source) (Revision, error)
	// Checkout makes dir's work tree exactly rev, cloning into dir if it
	// holds no checkout yet.
	Checkout(ctx context.Context, src Source, rev Revision, dir string) error
	// Current returns the revision checked out in dir, or an error if
	// dir holds no checkout.
	Current(dir string) (Revision, error)
}

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
