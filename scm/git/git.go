// Package git is the git SCM, built on go-git.
//
// Resolve reads a local repository's refs directly (a path or a file://
// URL: a work tree, a bare repository, a linked worktree or a clone whose
// .git is a "gitdir:" file), and lists a remote's refs otherwise. The
// engine calls both Resolve and Checkout only inside the module's
// confined SCM step (engine/checkout), under its timeout.
//
// Checkout writes the work tree itself (worktree.go): exactly the
// commit's files, symlinks as the text they hold, any name git accepts,
// every blob streamed from its object to its file. A remote's objects are
// fetched into the metadata folder, only when the commit is not there
// yet; a local repository's are read where they are, so a local checkout
// copies nothing but the files. The repository (git dir) of a checkout is
// kept in the metadata folder of scm.Dirs, apart from the work tree, which
// holds no .git at all.
//
// History (history.go) is read with go-git too, from the local
// repository where it is or from the metadata folder a remote was fetched
// into. ResolveAt walks the first-parent history of the branch (or
// default branch) back from its head, to the newest commit whose
// committer date is at or before the time asked for: what the branch
// pointed to then, merge after merge, not a commit of a branch merged
// later. A remote's branches and tags are fetched into the metadata
// folder first, as Checkout fetches them, so the Checkout that follows
// needs no fetch; a tag or commit pin resolves as Resolve does. Changes
// lists what git log from..to does (every commit reachable from to and
// not from from, merged branches included), newest first by committer
// date; a commit's files are those it changed against its first parent
// (all its files for the first commit), its author is "name <email>",
// and its date the committer date, in UTC.
//
// A fetch from a remote goes through go-git's pack parser, which holds
// each object it indexes in memory once: a remote's largest object bounds
// a fetch's memory. Reading objects to check them out never does.
package git

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"

	gogit "github.com/go-git/go-git/v5"
	gitconfig "github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/storer"
	"github.com/go-git/go-git/v5/storage/filesystem"
	"github.com/go-git/go-git/v5/storage/memory"

	"github.com/autobuild/autobuild/scm"
)

// Kind is the registry name of this SCM.
const Kind = "git"

func init() { scm.Register(Kind, Git{}) }

// Git implements scm.SCM.
type Git struct{}

// Validate implements scm.SCM.
func (Git) Validate(src scm.Source) error {
	if src.Commit != "" && !commitRE.MatchString(src.Commit) {
		return &scm.FieldError{Field: "commit", Msg: fmt.Sprintf("must be a full 40-digit lowercase hash, not %q", src.Commit)}
	}
	return nil
}

var commitRE = regexp.MustCompile(`^[0-9a-f]{40}$`)

// Inputs implements scm.SCM: a local repository is read where it is,
// with its git dir and common dir when a "gitdir:" file puts them
// elsewhere (the .git file and "commondir" are read to know them; a
// symlink in their place would give the same reach).
func (Git) Inputs(src scm.Source) []string {
	p := LocalPath(src.URL)
	if p == "" {
		return nil
	}
	in := []string{p}
	gitdir, common, err := gitDirs(p)
	if err != nil {
		return in
	}
	for _, d := range []string{gitdir, common} {
		if _, err := os.Stat(d); err != nil || slices.ContainsFunc(in, func(have string) bool { return within(d, have) }) {
			continue
		}
		in = append(slices.DeleteFunc(in, func(have string) bool { return within(have, d) }), d)
	}
	return in
}

// HasCheckout implements scm.SCM: d.Meta's HEAD names a commit. (A
// repository that ResolveAt fetched into, or that a failed first checkout
// left, has a HEAD that names none yet.)
func (Git) HasCheckout(d scm.Dirs) bool {
	_, err := Git{}.Current(d)
	return err == nil
}

// Resolve implements scm.SCM.
func (Git) Resolve(ctx context.Context, src scm.Source) (scm.Revision, error) {
	if src.Commit != "" {
		if !plumbing.IsHash(src.Commit) {
			return scm.Revision{}, fmt.Errorf("commit %q is not a full 40-digit hash", src.Commit)
		}
		return scm.Revision{ID: src.Commit}, nil
	}
	if p := LocalPath(src.URL); p != "" {
		return resolveLocal(p, src)
	}
	remote := gogit.NewRemote(memory.NewStorage(), &gitconfig.RemoteConfig{Name: "origin", URLs: []string{src.URL}})
	refs, err := remote.ListContext(ctx, &gogit.ListOptions{PeelingOption: gogit.AppendPeeled})
	if err != nil {
		return scm.Revision{}, fmt.Errorf("list refs of %s: %w", src.URL, err)
	}
	byName := map[plumbing.ReferenceName]*plumbing.Reference{}
	for _, r := range refs {
		byName[r.Name()] = r
	}
	want, err := wantedRef(src, func(n plumbing.ReferenceName) (*plumbing.Reference, bool) {
		r, ok := byName[n]
		return r, ok
	})
	if err != nil {
		return scm.Revision{}, err
	}
	// Follow one symbolic hop (HEAD → refs/heads/main).
	if want.Type() == plumbing.SymbolicReference {
		r, ok := byName[want.Target()]
		if !ok {
			return scm.Revision{}, fmt.Errorf("%s: %s points to missing %s", src.URL, want.Name(), want.Target())
		}
		want = r
	}
	// An annotated tag's peeled commit is listed as "<tag>^{}".
	if peeled, ok := byName[plumbing.ReferenceName(string(want.Name())+"^{}")]; ok {
		want = peeled
	}
	return scm.Revision{ID: want.Hash().String()}, nil
}

func resolveLocal(path string, src scm.Source) (scm.Revision, error) {
	st, err := openLocal(path)
	if err != nil {
		return scm.Revision{}, err
	}
	want, err := wantedRef(src, func(n plumbing.ReferenceName) (*plumbing.Reference, bool) {
		r, err := storer.ResolveReference(st, n)
		return r, err == nil && r != nil
	})
	if err != nil {
		return scm.Revision{}, err
	}
	h := want.Hash()
	// Peel annotated tags (a tag may name a tag) to their commit.
	for range 16 {
		tag, err := object.GetTag(st, h)
		if err != nil {
			break
		}
		h = tag.Target
	}
	return scm.Revision{ID: h.String()}, nil
}

// wantedRef finds the reference src asks for.
func wantedRef(src scm.Source, lookup func(plumbing.ReferenceName) (*plumbing.Reference, bool)) (*plumbing.Reference, error) {
	var name plumbing.ReferenceName
	switch {
	case src.Tag != "":
		name = plumbing.NewTagReferenceName(src.Tag)
	case src.Branch != "":
		name = plumbing.NewBranchReferenceName(src.Branch)
	default:
		name = plumbing.HEAD
	}
	r, ok := lookup(name)
	if !ok {
		return nil, fmt.Errorf("%s: no %s", src.URL, src.Ref())
	}
	return r, nil
}

// Current implements scm.SCM.
func (Git) Current(d scm.Dirs) (scm.Revision, error) {
	if d.Meta == "" {
		return scm.Revision{}, errors.New("no metadata folder")
	}
	if _, err := os.Stat(filepath.Join(d.Meta, "HEAD")); err != nil {
		return scm.Revision{}, fmt.Errorf("%s holds no checkout: %w", d.Meta, err)
	}
	head, err := storer.ResolveReference(storage(d.Meta), plumbing.HEAD)
	if err != nil {
		return scm.Revision{}, err
	}
	return scm.Revision{ID: head.Hash().String()}, nil
}

// fetchSpecs are what a fetch asks for: every branch and tag.
var fetchSpecs = []gitconfig.RefSpec{
	"+refs/heads/*:refs/remotes/origin/*",
	"+refs/tags/*:refs/tags/*",
}

// storage is the repository kept in meta: git dir, config, refs, objects
// and index, none of it in the work tree.
func storage(meta string) *filesystem.Storage { return openStorage(meta, "") }

// Checkout implements scm.SCM.
//
// The work tree is untrusted: a build changed it at will. Before anything
// reads it, every entry named .git in it (a folder, a "gitdir:" file, a
// symlink, at any depth) is removed, so that no git, this one or a later
// one, takes it for a repository, and what the build made unreadable or
// unwritable to its owner is made usable again (prepareWorkTree). The
// metadata folder is the engine's: its config is written anew from src
// on every checkout (the one remote, with src's URL; no URL rewrites,
// hooks path or fsmonitor), the fetch goes to src.URL as given, and what
// git would read beside the config (objects/info/alternates, hooks) is
// removed first.
func (Git) Checkout(ctx context.Context, src scm.Source, rev scm.Revision, d scm.Dirs) error {
	if err := d.Validate(); err != nil {
		return err
	}
	if !plumbing.IsHash(rev.ID) {
		return fmt.Errorf("revision %q is not a full commit hash", rev.ID)
	}
	if LocalPath(src.URL) != "" {
		return checkout(ctx, src, rev, d)
	}
	return scm.Afresh(ctx, "checkout", d.Meta, scm.Empty, func() error { return checkout(ctx, src, rev, d) })
}

func checkout(ctx context.Context, src scm.Source, rev scm.Revision, d scm.Dirs) error {
	for _, dir := range []string{d.Work, d.Meta} {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
	}
	if err := prepareWorkTree(d.Work); err != nil {
		return fmt.Errorf("clean %s: %w", d.Work, err)
	}
	st, err := openMeta(src, d.Meta)
	if err != nil {
		return err
	}

	hash := plumbing.NewHash(rev.ID)
	var objs storer.EncodedObjectStorer = st
	if p := LocalPath(src.URL); p != "" {
		// A local repository's objects are read where they are.
		local, err := openLocal(p)
		if err != nil {
			return err
		}
		if _, err := object.GetCommit(local, hash); err != nil {
			return fmt.Errorf("%s: commit %s: %w", src.URL, rev.ID, err)
		}
		objs = local
		// What an earlier fetch left is of no use any more.
		for _, rel := range []string{"objects/pack", "refs/remotes", "packed-refs", "FETCH_HEAD"} {
			if err := os.RemoveAll(filepath.Join(d.Meta, filepath.FromSlash(rel))); err != nil {
				return err
			}
		}
		if err := removeLooseObjects(filepath.Join(d.Meta, "objects")); err != nil {
			return err
		}
	} else if err := fetchFor(ctx, st, src, hash); err != nil {
		return err
	}

	files, dirs, err := commitTree(objs, hash)
	if err != nil {
		return err
	}
	idx, err := writeWorkTree(d.Work, objs, files, dirs, readIndex(d.Meta))
	if err != nil {
		return fmt.Errorf("check out %s into %s: %w", rev.ID, d.Work, err)
	}
	if err := writeIndex(d.Meta, idx); err != nil {
		return fmt.Errorf("write the index of %s: %w", d.Meta, err)
	}
	// HEAD last: Current names a revision only once the work tree holds
	// it.
	return st.SetReference(plumbing.NewHashReference(plumbing.HEAD, hash))
}

// openMeta opens the repository kept in the metadata folder meta for
// src, creating it (a bare init) when the folder holds none yet. What git
// would read beside the config is removed first (distrust), and the
// config is written anew from src: the one remote, with src's URL.
func openMeta(src scm.Source, meta string) (*filesystem.Storage, error) {
	if err := os.MkdirAll(meta, 0o755); err != nil {
		return nil, err
	}
	if err := distrust(meta); err != nil {
		return nil, err
	}
	st := storage(meta)
	if _, err := st.Reference(plumbing.HEAD); errors.Is(err, plumbing.ErrReferenceNotFound) {
		// A bare init: nothing is written to the work tree (a work tree
		// given to Init would get a ".git" file pointing here).
		if _, err := gogit.Init(st, nil); err != nil {
			return nil, fmt.Errorf("init %s: %w", meta, err)
		}
	} else if err != nil {
		return nil, fmt.Errorf("open %s: %w", meta, err)
	}
	remote := &gitconfig.RemoteConfig{Name: "origin", URLs: []string{src.URL}, Fetch: fetchSpecs}
	cfg := gitconfig.NewConfig()
	cfg.Remotes[remote.Name] = remote
	if err := st.SetConfig(cfg); err != nil {
		return nil, fmt.Errorf("write the config of %s: %w", meta, err)
	}
	return st, nil
}

// fetchFor makes st hold commit h of the remote src: it fetches
// branches and tags only when st does not hold it yet.
func fetchFor(ctx context.Context, st *filesystem.Storage, src scm.Source, h plumbing.Hash) error {
	if _, err := object.GetCommit(st, h); err == nil {
		return nil
	}
	if err := fetch(ctx, st, src); err != nil {
		return err
	}
	if _, err := object.GetCommit(st, h); err != nil {
		return fmt.Errorf("%s: commit %s not found after fetch: %w", src.URL, h, err)
	}
	return nil
}

// removeLooseObjects removes the loose objects of an objects folder (its
// two-digit folders), and keeps the rest.
func removeLooseObjects(objects string) error {
	ents, err := os.ReadDir(objects)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		return err
	}
	for _, e := range ents {
		if len(e.Name()) == 2 && e.IsDir() {
			if err := os.RemoveAll(filepath.Join(objects, e.Name())); err != nil {
				return err
			}
		}
	}
	return nil
}

// fetch fetches every branch and tag of src.URL, as given: the remote is
// made from src here, not read from any config.
func fetch(ctx context.Context, st *filesystem.Storage, src scm.Source) error {
	remote := gogit.NewRemote(st, &gitconfig.RemoteConfig{Name: "origin", URLs: []string{src.URL}, Fetch: fetchSpecs})
	err := remote.FetchContext(ctx, &gogit.FetchOptions{RemoteName: "origin", RefSpecs: fetchSpecs, Force: true})
	if err != nil && !errors.Is(err, gogit.NoErrAlreadyUpToDate) {
		return fmt.Errorf("fetch %s: %w", src.URL, err)
	}
	return nil
}

// prepareWorkTree makes the work tree one the checkout can read and
// reset, whatever the build did to it: every entry named .git below it (a
// folder, a "gitdir:" file, a symlink; git never tracks such a path, so
// each was planted) is removed, and folders and files the build made
// unreadable or unwritable to their owner (this step runs as that owner)
// get the owner's rights back. Symlinks are neither followed nor changed.
func prepareWorkTree(work string) error {
	var planted []string
	err := filepath.WalkDir(work, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p != work && d.Name() == ".git" {
			planted = append(planted, p)
		}
		if d.Type()&fs.ModeSymlink != 0 {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		perm, want := info.Mode().Perm(), info.Mode().Perm()|0o600
		switch {
		case p == work:
			// The top as the engine made it: the step's helper enters it
			// before it drops to the module's uid, and on SELinux without
			// overriding file modes.
			want = 0o755
		case d.IsDir():
			want |= 0o700
		}
		if want != perm {
			return os.Chmod(p, want)
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, p := range planted {
		if err := os.RemoveAll(p); err != nil {
			return err
		}
	}
	return nil
}

// distrust removes from the metadata folder what git reads beside the
// config and this SCM never writes: alternates (objects read from another
// repository) and hooks (programs a git command runs). Only the checkout
// step writes the folder; this keeps a step that could write it anyway
// (an unconfined build) from steering the next checkout through them.
func distrust(meta string) error {
	for _, rel := range []string{"objects/info/alternates", "objects/info/http-alternates", "hooks"} {
		if err := os.RemoveAll(filepath.Join(meta, filepath.FromSlash(rel))); err != nil {
			return err
		}
	}
	return nil
}
