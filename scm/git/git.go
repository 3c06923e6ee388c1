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

// HasCheckout implements scm.SCM.
func (Git) HasCheckout(d scm.Dirs) bool {
	if d.Meta == "" {
		return false
	}
	_, err := os.Stat(filepath.Join(d.Meta, "HEAD"))
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
	refs, err := remote.ListContext(ctx, &gogit.ListOptions{})
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
	err := checkout(ctx, src, rev, d)
	if err == nil || ctx.Err() != nil || LocalPath(src.URL) != "" {
		return err
	}
	// The metadata is a cache of the remote's: a checkout killed while it
	// fetched (an empty ref file) must not break every later one. Start
	// it afresh once; a remote that really fails fails again. (A damaged
	// index costs nothing: every file is written anew.)
	fmt.Fprintf(os.Stderr, "autobuild scm: checkout failed (%v); starting %s afresh\n", err, d.Meta)
	if rerr := emptyDir(d.Meta); rerr != nil {
		return fmt.Errorf("%w (and emptying %s: %v)", err, d.Meta, rerr)
	}
	return checkout(ctx, src, rev, d)
}

// emptyDir removes everything in dir, but dir itself.
func emptyDir(dir string) error {
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

func checkout(ctx context.Context, src scm.Source, rev scm.Revision, d scm.Dirs) error {
	for _, dir := range []string{d.Work, d.Meta} {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
	}
	if err := prepareWorkTree(d.Work); err != nil {
		return fmt.Errorf("clean %s: %w", d.Work, err)
	}
	if err := distrust(d.Meta); err != nil {
		return err
	}
	st := storage(d.Meta)
	if _, err := st.Reference(plumbing.HEAD); errors.Is(err, plumbing.ErrReferenceNotFound) {
		// A bare init: nothing is written to the work tree (a work tree
		// given to Init would get a ".git" file pointing here).
		if _, err := gogit.Init(st, nil); err != nil {
			return fmt.Errorf("init %s: %w", d.Meta, err)
		}
	} else if err != nil {
		return fmt.Errorf("open %s: %w", d.Meta, err)
	}
	remote := &gitconfig.RemoteConfig{Name: "origin", URLs: []string{src.URL}, Fetch: fetchSpecs}
	cfg := gitconfig.NewConfig()
	cfg.Remotes[remote.Name] = remote
	if err := st.SetConfig(cfg); err != nil {
		return fmt.Errorf("write the config of %s: %w", d.Meta, err)
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
	} else if _, err := object.GetCommit(st, hash); err != nil {
		// Not here yet: fetch branches and tags.
		if err := fetch(ctx, st, src); err != nil {
			return err
		}
		if _, err := object.GetCommit(st, hash); err != nil {
			return fmt.Errorf("%s: commit %s not found after fetch: %w", src.URL, rev.ID, err)
		}
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
