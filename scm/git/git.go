// Package git is the git SCM, built on go-git.
//
// Local paths and file:// URLs are resolved by reading the repository's
// refs directly (no process, no network); other URLs by listing the
// remote's refs. Checkout fetches only when the pinned commit is missing,
// then resets the work tree hard and removes untracked files.
package git

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/go-git/go-billy/v5/osfs"
	gogit "github.com/go-git/go-git/v5"
	gitconfig "github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/cache"
	"github.com/go-git/go-git/v5/plumbing/storer"
	"github.com/go-git/go-git/v5/plumbing/transport"
	"github.com/go-git/go-git/v5/plumbing/transport/client"
	"github.com/go-git/go-git/v5/plumbing/transport/server"
	"github.com/go-git/go-git/v5/storage/filesystem"
	"github.com/go-git/go-git/v5/storage/memory"

	"github.com/autobuild/autobuild/scm"
)

// Kind is the registry name of this SCM.
const Kind = "git"

func init() {
	scm.Register(Kind, Git{})
	// Local repositories are read in-process rather than through
	// git-upload-pack: no external process, and no refusal of a
	// repository owned by another user (the step runs as the module's uid).
	client.InstallProtocol("file", server.NewClient(localLoader{}))
}

// localLoader opens a local repository, bare or not, for the in-process
// file transport.
type localLoader struct{}

func (localLoader) Load(ep *transport.Endpoint) (storer.Storer, error) {
	p := ep.Path
	if st, err := os.Stat(filepath.Join(p, ".git")); err == nil && st.IsDir() {
		p = filepath.Join(p, ".git")
	}
	if _, err := os.Stat(filepath.Join(p, "objects")); err != nil {
		return nil, transport.ErrRepositoryNotFound
	}
	return filesystem.NewStorage(osfs.New(p), cache.NewObjectLRUDefault()), nil
}

// Git implements scm.SCM.
type Git struct{}

// LocalPath returns the folder a URL names when it is a local path or a
// file:// URL, and "" otherwise.
func LocalPath(u string) string {
	if strings.HasPrefix(u, "file://") {
		if p, err := url.Parse(u); err == nil {
			return p.Path
		}
		return ""
	}
	if filepath.IsAbs(u) {
		return u
	}
	return ""
}

// Validate implements scm.SCM.
func (Git) Validate(src scm.Source) error {
	if src.Commit != "" && !commitRE.MatchString(src.Commit) {
		return &scm.FieldError{Field: "commit", Msg: fmt.Sprintf("must be a full 40-digit lowercase hash, not %q", src.Commit)}
	}
	return nil
}

var commitRE = regexp.MustCompile(`^[0-9a-f]{40}$`)

// Inputs implements scm.SCM: a local repository is read in-process.
func (Git) Inputs(src scm.Source) []string {
	if p := LocalPath(src.URL); p != "" {
		return []string{p}
	}
	return nil
}

// IsMetadata implements scm.SCM.
func (Git) IsMetadata(rel string) bool { return rel == ".git" }

// HasCheckout implements scm.SCM.
func (Git) HasCheckout(dir string) bool {
	_, err := os.Stat(filepath.Join(dir, ".git"))
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
	repo, err := gogit.PlainOpenWithOptions(path, &gogit.PlainOpenOptions{EnableDotGitCommonDir: true})
	if err != nil {
		return scm.Revision{}, fmt.Errorf("open %s: %w", path, err)
	}
	want, err := wantedRef(src, func(n plumbing.ReferenceName) (*plumbing.Reference, bool) {
		r, err := repo.Reference(n, true)
		return r, err == nil
	})
	if err != nil {
		return scm.Revision{}, err
	}
	h := want.Hash()
	if src.Tag != "" {
		// Peel an annotated tag to its commit.
		if tag, err := repo.TagObject(h); err == nil {
			c, err := tag.Commit()
			if err != nil {
				return scm.Revision{}, fmt.Errorf("tag %s: %w", src.Tag, err)
			}
			h = c.Hash
		}
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
func (Git) Current(dir string) (scm.Revision, error) {
	repo, err := gogit.PlainOpen(dir)
	if err != nil {
		return scm.Revision{}, err
	}
	head, err := repo.Head()
	if err != nil {
		return scm.Revision{}, err
	}
	return scm.Revision{ID: head.Hash().String()}, nil
}

// Checkout implements scm.SCM.
func (Git) Checkout(ctx context.Context, src scm.Source, rev scm.Revision, dir string) error {
	repo, err := gogit.PlainOpen(dir)
	if errors.Is(err, gogit.ErrRepositoryNotExists) {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
		repo, err = gogit.PlainInit(dir, false)
		if err != nil {
			return fmt.Errorf("init %s: %w", dir, err)
		}
		if _, err := repo.CreateRemote(&gitconfig.RemoteConfig{Name: "origin", URLs: []string{src.URL}}); err != nil {
			return err
		}
	} else if err != nil {
		return fmt.Errorf("open %s: %w", dir, err)
	}
	// The URL may have changed in the config since the first clone.
	if remote, err := repo.Remote("origin"); err == nil && len(remote.Config().URLs) > 0 && remote.Config().URLs[0] != src.URL {
		_ = repo.DeleteRemote("origin")
		if _, err := repo.CreateRemote(&gitconfig.RemoteConfig{Name: "origin", URLs: []string{src.URL}}); err != nil {
			return err
		}
	}
	hash := plumbing.NewHash(rev.ID)
	if _, err := repo.CommitObject(hash); err != nil {
		// Not here yet: fetch branches and tags.
		err := repo.FetchContext(ctx, &gogit.FetchOptions{
			RemoteName: "origin",
			RefSpecs: []gitconfig.RefSpec{
				"+refs/heads/*:refs/remotes/origin/*",
				"+refs/tags/*:refs/tags/*",
			},
			Force: true,
		})
		if err != nil && !errors.Is(err, gogit.NoErrAlreadyUpToDate) {
			return fmt.Errorf("fetch %s: %w", src.URL, err)
		}
		if _, err := repo.CommitObject(hash); err != nil {
			return fmt.Errorf("%s: commit %s not found after fetch: %w", src.URL, rev.ID, err)
		}
	}
	wt, err := repo.Worktree()
	if err != nil {
		return err
	}
	// Detach HEAD at the commit first: a fresh clone's HEAD names a
	// branch that does not exist yet, and Current reports HEAD.
	if err := repo.Storer.SetReference(plumbing.NewHashReference(plumbing.HEAD, hash)); err != nil {
		return err
	}
	if err := wt.Reset(&gogit.ResetOptions{Commit: hash, Mode: gogit.HardReset}); err != nil {
		return fmt.Errorf("reset to %s: %w", rev.ID, err)
	}
	if err := wt.Clean(&gogit.CleanOptions{Dir: true}); err != nil {
		return fmt.Errorf("clean %s: %w", dir, err)
	}
	return nil
}
