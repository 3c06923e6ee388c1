package git

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/format/index"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/storer"
)

// The work tree is written here, not by go-git's Worktree: a committed
// symlink is written as the text it holds (go-git's file system resolves
// an absolute target into the work tree), a file name git accepts (a
// newline, a control character) is written as git writes it, and every
// blob is streamed from its object into its file, never held in memory.
//
// Every operation goes through an os.Root of the work tree, so nothing is
// read, written or removed outside it, whatever symlinks a build planted;
// and every folder on a path is checked to be a real folder before
// anything is written below it, so nothing is written through a symlink
// inside it either. The index (in the metadata folder) records each
// file's stat data after its checkout: a file whose stat data still match
// its entry is left as it is, so a checkout of the revision a tree holds
// rewrites nothing.

// entry is one path of a commit's tree: a file, a symlink or a submodule.
type entry struct {
	mode filemode.FileMode
	hash plumbing.Hash
}

// commitTree lists the files and the folders of a commit's tree. It
// refuses a path git refuses to check out: a component that is empty,
// "." or "..", holds a slash, or names a git dir (".git" in any case, or
// a name the NTFS or HFS+ file systems read as ".git"), and a path listed
// twice.
func commitTree(objs storer.EncodedObjectStorer, h plumbing.Hash) (files map[string]entry, dirs map[string]bool, err error) {
	c, err := object.GetCommit(objs, h)
	if err != nil {
		return nil, nil, fmt.Errorf("commit %s: %w", h, err)
	}
	files, dirs = map[string]entry{}, map[string]bool{}
	type todo struct {
		prefix string
		hash   plumbing.Hash
	}
	stack := []todo{{"", c.TreeHash}}
	for len(stack) > 0 {
		td := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		t, err := object.GetTree(objs, td.hash)
		if err != nil {
			return nil, nil, fmt.Errorf("tree %s of %q: %w", td.hash, td.prefix, err)
		}
		for _, e := range t.Entries {
			p := td.prefix + e.Name
			if err := validName(e.Name); err != nil {
				return nil, nil, fmt.Errorf("commit %s: path %q: %w", h, p, err)
			}
			if _, dup := files[p]; dup || dirs[p] {
				return nil, nil, fmt.Errorf("commit %s: path %q is listed twice", h, p)
			}
			switch e.Mode {
			case filemode.Dir:
				dirs[p] = true
				stack = append(stack, todo{p + "/", e.Hash})
			case filemode.Regular, filemode.Deprecated, filemode.Executable, filemode.Symlink:
				files[p] = entry{e.Mode, e.Hash}
			case filemode.Submodule:
				// Another repository's commit: refused, never silently
				// left out of the build.
				return nil, nil, &SubmoduleError{Path: p, Commit: e.Hash.String()}
			default:
				return nil, nil, fmt.Errorf("commit %s: path %q has unknown mode %o", h, p, uint32(e.Mode))
			}
		}
	}
	return files, dirs, nil
}

// validName checks one component of a tree's path as git does before it
// writes it.
func validName(name string) error {
	switch {
	case name == "" || name == "." || name == "..":
		return errors.New("not a valid path component")
	case strings.ContainsAny(name, "/\x00"):
		return errors.New("a path component holds a slash")
	case isDotGit(name):
		return errors.New("names a git dir")
	}
	return nil
}

// isDotGit reports whether a file system could take name for ".git": in
// any case, with trailing dots and spaces (NTFS), as its short name
// "git~1", or with ignorable Unicode characters (HFS+).
func isDotGit(name string) bool {
	n := strings.ToLower(name)
	for _, ign := range []string{"\u200c", "\u200d", "\u200e", "\u200f", "\u202a", "\u202b", "\u202c", "\u202d", "\u202e", "\u206a", "\u206b", "\u206c", "\u206d", "\u206e", "\u206f", "\ufeff"} {
		n = strings.ReplaceAll(n, ign, "")
	}
	if i := strings.IndexByte(n, ':'); i >= 0 {
		n = n[:i] // an NTFS stream: ".git::$INDEX_ALLOCATION"
	}
	n = strings.TrimRight(n, ". ")
	return n == ".git" || n == "git~1"
}

// stat is what the index records of a file to tell it unchanged.
type stat struct {
	mode       os.FileMode
	size       int64
	mtime      time.Time
	ctime      time.Time
	dev, ino   uint64
	uid, gid   uint32
	regular    bool
	executable bool
}

func statOf(fi fs.FileInfo) stat {
	s := stat{mode: fi.Mode(), size: fi.Size(), mtime: fi.ModTime(),
		regular: fi.Mode().IsRegular(), executable: fi.Mode().Perm()&0o100 != 0}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		s.ctime = time.Unix(st.Ctim.Sec, st.Ctim.Nsec)
		s.dev, s.ino, s.uid, s.gid = uint64(st.Dev), st.Ino, st.Uid, st.Gid
	}
	return s
}

// matches reports whether a file's stat data are those its index entry
// recorded, for the content and mode want.
func (s stat) matches(e *index.Entry, want entry) bool {
	if e == nil || e.Hash != want.hash || e.Mode != want.mode {
		return false
	}
	switch want.mode {
	case filemode.Symlink:
		if s.mode&fs.ModeSymlink == 0 {
			return false
		}
	case filemode.Executable:
		if !s.regular || !s.executable {
			return false
		}
	default:
		if !s.regular || s.executable {
			return false
		}
	}
	return e.Size == uint32(s.size) && e.ModifiedAt.Equal(s.mtime) && e.CreatedAt.Equal(s.ctime) &&
		e.Dev == uint32(s.dev) && e.Inode == uint32(s.ino) && e.UID == s.uid && e.GID == s.gid
}

func (s stat) entry(name string, want entry) *index.Entry {
	return &index.Entry{Name: name, Hash: want.hash, Mode: want.mode,
		CreatedAt: s.ctime, ModifiedAt: s.mtime, Dev: uint32(s.dev), Inode: uint32(s.ino),
		UID: s.uid, GID: s.gid, Size: uint32(s.size)}
}

// workTree is one checkout's writing of a work tree: the commit's files
// and folders, their objects, and the last checkout's index entries
// (prev, written at prevTime). kept are the files left as they were.
type workTree struct {
	root     *os.Root
	objs     storer.EncodedObjectStorer
	files    map[string]entry
	dirs     map[string]bool
	prev     map[string]*index.Entry
	prevTime time.Time
	kept     map[string]stat
}

// writeWorkTree makes work hold exactly the commit's files: what is
// unchanged since the last checkout (prev, the index) stays untouched,
// everything else there is removed, and what is missing is written.
func writeWorkTree(work string, objs storer.EncodedObjectStorer, files map[string]entry, dirs map[string]bool, prev *index.Index) (*index.Index, error) {
	root, err := os.OpenRoot(work)
	if err != nil {
		return nil, err
	}
	defer root.Close()
	w := &workTree{root: root, objs: objs, files: files, dirs: dirs, prev: map[string]*index.Entry{}, kept: map[string]stat{}}
	if prev != nil {
		w.prevTime = prev.ModTime
		for _, e := range prev.Entries {
			w.prev[e.Name] = e
		}
	}
	if err := w.sweep("."); err != nil {
		return nil, err
	}
	for _, d := range slices.Sorted(maps.Keys(dirs)) {
		if err := root.Mkdir(d, 0o755); err != nil && !errors.Is(err, fs.ErrExist) {
			return nil, err
		}
		if fi, err := root.Lstat(d); err != nil || !fi.IsDir() {
			return nil, fmt.Errorf("%s: not a folder after its creation (%v)", d, err)
		}
	}
	idx := &index.Index{Version: 2}
	for _, name := range slices.Sorted(maps.Keys(files)) {
		want := files[name]
		st, ok := w.kept[name]
		if !ok {
			if st, err = w.write(name, want); err != nil {
				return nil, fmt.Errorf("write %q: %w", name, err)
			}
		}
		idx.Entries = append(idx.Entries, st.entry(name, want))
	}
	return idx, nil
}

// sweep goes through folder dir of the work tree: it keeps what the
// commit holds unchanged, and removes everything else (a file whose
// content or type changed, an untracked or ignored file, a folder the
// commit does not have, a symlink where a folder must be).
func (w *workTree) sweep(dir string) error {
	f, err := w.root.Open(dir)
	if err != nil {
		return err
	}
	ents, err := f.ReadDir(-1)
	f.Close()
	if err != nil {
		return err
	}
	for _, d := range ents {
		p := d.Name()
		if dir != "." {
			p = dir + "/" + p
		}
		switch want, ok := w.files[p]; {
		case w.dirs[p] && d.IsDir():
			// A folder of the commit (a submodule's is empty): keep it,
			// and go through it.
			if err := w.sweep(p); err != nil {
				return err
			}
			if ok {
				fi, err := w.root.Lstat(p)
				if err != nil {
					return err
				}
				w.kept[p] = statOf(fi)
			}
			continue
		case ok && want.mode != filemode.Submodule:
			fi, err := w.root.Lstat(p)
			if err != nil {
				return err
			}
			if st := statOf(fi); st.matches(w.prev[p], want) && w.fresh(p, st, want) {
				w.kept[p] = st
				continue
			}
		}
		if err := w.root.RemoveAll(p); err != nil {
			return err
		}
	}
	return nil
}

// fresh checks a file whose stat data match its entry but were taken in
// the same clock tick as the index was written: it could have changed
// since without changing them (git's "racily clean" entries), so its
// content is compared.
func (w *workTree) fresh(p string, st stat, want entry) bool {
	if st.mtime.Before(w.prevTime) && st.ctime.Before(w.prevTime) {
		return true
	}
	h, err := w.hash(p, st)
	return err == nil && h == want.hash
}

// hash is the git object id of the work tree's file p.
func (w *workTree) hash(p string, st stat) (plumbing.Hash, error) {
	if st.mode&fs.ModeSymlink != 0 {
		target, err := w.root.Readlink(p)
		if err != nil {
			return plumbing.ZeroHash, err
		}
		return plumbing.ComputeHash(plumbing.BlobObject, []byte(target)), nil
	}
	f, err := w.root.OpenFile(p, os.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_NONBLOCK, 0)
	if err != nil {
		return plumbing.ZeroHash, err
	}
	defer f.Close()
	h := plumbing.NewHasher(plumbing.BlobObject, st.size)
	if _, err := io.Copy(h, io.LimitReader(f, st.size)); err != nil {
		return plumbing.ZeroHash, err
	}
	return h.Sum(), nil
}

// maxSymlink bounds a symlink's target, as the kernel does.
const maxSymlink = 4095

// write creates the file, symlink or submodule folder name (nothing is
// there: sweep removed what was), streaming its blob.
func (w *workTree) write(name string, want entry) (stat, error) {
	switch want.mode {
	case filemode.Submodule:
		// The folder exists (dirs).
	case filemode.Symlink:
		b, err := w.blob(want.hash, func(r io.Reader, size int64) ([]byte, error) {
			if size > maxSymlink {
				return nil, fmt.Errorf("symlink target of %d bytes", size)
			}
			return io.ReadAll(r)
		})
		if err != nil {
			return stat{}, err
		}
		if bytes.IndexByte(b, 0) >= 0 {
			return stat{}, errors.New("symlink target holds a NUL byte")
		}
		if err := w.root.Symlink(string(b), name); err != nil {
			return stat{}, err
		}
	default:
		perm := os.FileMode(0o644)
		if want.mode == filemode.Executable {
			perm = 0o755
		}
		f, err := w.root.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL|syscall.O_NOFOLLOW, perm)
		if err != nil {
			return stat{}, err
		}
		_, err = w.blob(want.hash, func(r io.Reader, size int64) ([]byte, error) {
			n, err := io.CopyBuffer(onlyWriter{f}, r, make([]byte, 256<<10))
			if err == nil && n != size {
				err = fmt.Errorf("blob %s: read %d bytes of %d", want.hash, n, size)
			}
			return nil, err
		})
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return stat{}, err
		}
	}
	fi, err := w.root.Lstat(name)
	if err != nil {
		return stat{}, err
	}
	return statOf(fi), nil
}

// onlyWriter hides everything but Write, so that io.Copy streams through
// the buffer it is given.
type onlyWriter struct{ io.Writer }

// blob streams the blob h to use.
func (w *workTree) blob(h plumbing.Hash, use func(r io.Reader, size int64) ([]byte, error)) ([]byte, error) {
	obj, err := w.objs.EncodedObject(plumbing.BlobObject, h)
	if err != nil {
		return nil, fmt.Errorf("blob %s: %w", h, err)
	}
	r, err := obj.Reader()
	if err != nil {
		return nil, fmt.Errorf("blob %s: %w", h, err)
	}
	defer r.Close()
	return use(r, obj.Size())
}

// readIndex reads the index of the last checkout in meta; a missing or
// damaged one is no index (every file is written anew).
func readIndex(meta string) *index.Index {
	f, err := os.Open(filepath.Join(meta, "index"))
	if err != nil {
		return nil
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil || !fi.Mode().IsRegular() {
		return nil
	}
	idx := &index.Index{}
	if err := index.NewDecoder(f).Decode(idx); err != nil {
		return nil
	}
	idx.ModTime = fi.ModTime()
	return idx
}

// writeIndex replaces meta's index: written aside, then renamed (what a
// killed checkout left aside is removed first).
func writeIndex(meta string, idx *index.Index) error {
	if old, err := filepath.Glob(filepath.Join(meta, "index.tmp-*")); err == nil {
		for _, p := range old {
			os.Remove(p)
		}
	}
	f, err := os.CreateTemp(meta, "index.tmp-*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	if err := index.NewEncoder(f).Encode(idx); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), filepath.Join(meta, "index"))
}

// SubmoduleError is a commit whose tree holds a git submodule: autobuild
// does not check submodules out, and refuses rather than build without
// them.
type SubmoduleError struct {
	Path, Commit string
}

func (e *SubmoduleError) Error() string {
	return fmt.Sprintf("%s is a git submodule (commit %.12s), which autobuild does not check out: "+
		"make it a module of its own and depend on it, or commit its files", e.Path, e.Commit)
}
