package git

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/go-git/go-billy/v5/osfs"
	"github.com/go-git/go-git/v5/plumbing/cache"
	"github.com/go-git/go-git/v5/storage/filesystem"
	"github.com/go-git/go-git/v5/storage/filesystem/dotgit"
)

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

// largeObject is the size above which an object is read as a stream from
// its pack or loose file instead of whole into memory: a checkout's
// memory does not grow with the size of the files it writes.
const largeObject = 1 << 20

// objectCache bounds the small objects kept decoded (trees, and the
// bases of deltas).
const objectCache = 32 * cache.MiByte

// openStorage opens a git dir (with its common dir, for a linked
// worktree) for reading and writing.
func openStorage(gitdir, common string) *filesystem.Storage {
	var fs = osfs.New(gitdir)
	if common != "" && common != gitdir {
		fs = dotgit.NewRepositoryFilesystem(osfs.New(gitdir), osfs.New(common))
	}
	return filesystem.NewStorageWithOptions(fs, cache.NewObjectLRU(objectCache),
		filesystem.Options{LargeObjectThreshold: largeObject})
}

// openLocal opens the repository at a local path as git finds it: a work
// tree's .git folder; a .git file naming the git dir elsewhere ("gitdir:
// …", as a linked worktree or a clone made with --separate-git-dir has),
// with the common dir a linked worktree's git dir names; or a bare
// repository.
func openLocal(path string) (*filesystem.Storage, error) {
	gitdir, common, err := gitDirs(path)
	if err != nil {
		return nil, err
	}
	if _, err := os.Stat(filepath.Join(common, "objects")); err != nil {
		return nil, fmt.Errorf("%s is not a git repository (no %s)", path, filepath.Join(common, "objects"))
	}
	return openStorage(gitdir, common), nil
}

// gitDirs finds the git dir of the repository at path, and its common
// dir (the git dir itself but for a linked worktree). It reads at most
// two small files: the .git file and the git dir's "commondir".
func gitDirs(path string) (gitdir, common string, err error) {
	dot := filepath.Join(path, ".git")
	st, err := os.Stat(dot)
	switch {
	case err == nil && st.IsDir():
		gitdir = dot
	case err == nil && st.Mode().IsRegular():
		b, err := readPointer(dot)
		if err != nil {
			return "", "", err
		}
		target, ok := strings.CutPrefix(b, "gitdir:")
		target = strings.TrimSpace(target)
		if !ok || target == "" {
			return "", "", fmt.Errorf("%s: not a \"gitdir: <path>\" file", dot)
		}
		if !filepath.IsAbs(target) {
			target = filepath.Join(path, target)
		}
		gitdir = filepath.Clean(target)
	case err != nil && !errors.Is(err, os.ErrNotExist):
		return "", "", err
	default:
		if _, err := os.Stat(path); err != nil {
			var pe *fs.PathError
			if errors.As(err, &pe) {
				err = pe.Err
			}
			return "", "", fmt.Errorf("open %s: %w", path, err)
		}
		gitdir = path // bare
	}
	common = gitdir
	b, err := readPointer(filepath.Join(gitdir, "commondir"))
	switch {
	case err == nil:
		c := strings.TrimSpace(b)
		if !filepath.IsAbs(c) {
			c = filepath.Join(gitdir, c)
		}
		common = filepath.Clean(c)
	case !errors.Is(err, os.ErrNotExist):
		return "", "", err
	}
	return gitdir, common, nil
}

// readPointer reads a small regular file (a .git file, a commondir)
// without blocking on whatever else might stand in its place.
func readPointer(p string) (string, error) {
	f, err := os.OpenFile(p, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return "", err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return "", err
	}
	if !st.Mode().IsRegular() {
		return "", fmt.Errorf("%s is not a regular file", p)
	}
	const max = 4096
	b, err := io.ReadAll(io.LimitReader(f, max+1))
	if err != nil {
		return "", err
	}
	if len(b) > max {
		return "", fmt.Errorf("%s is longer than %d bytes", p, max)
	}
	return string(b), nil
}

// within reports whether p is dir or below it.
func within(p, dir string) bool {
	rel, err := filepath.Rel(dir, p)
	return err == nil && rel != ".." && !strings.HasPrefix(rel, "../")
}
