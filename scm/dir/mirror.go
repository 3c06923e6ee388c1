package dir

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"syscall"
	"time"
)

// Hash is the content hash of the folder from (see the package doc for
// what it covers), read without following any symlink. skip names the
// top-level entries left out (an SCM's metadata folder); nil skips none.
func Hash(from string, skip func(name string) bool) (string, error) {
	m, err := walk(from, "", skip)
	if err != nil {
		return "", err
	}
	return m.hash(), nil
}

// Mirror makes the folder to hold exactly what the folder from holds
// (skip's top-level entries left out) and returns the content hash of
// what it copied, as Hash computes it. A file of to whose content and
// mode are already right is left untouched (not even its modification
// time changes); everything else there is removed or rewritten, symlinks
// are written as the text they hold, and nothing is read or written
// through a symlink in either folder. Both folders are opened as an
// os.Root, so nothing outside them is reached.
func Mirror(from, to string, skip func(name string) bool) (string, error) {
	if to == "" {
		return "", errors.New("no folder to copy into")
	}
	if err := usable(to); err != nil {
		return "", fmt.Errorf("clean %s: %w", to, err)
	}
	m, err := walk(from, to, skip)
	if err != nil {
		return "", err
	}
	return m.hash(), nil
}

// walk hashes from and, when to is not "", mirrors it into to.
func walk(from, to string, skip func(name string) bool) (*mirror, error) {
	src, err := os.OpenRoot(from)
	if err != nil {
		return nil, err
	}
	defer src.Close()
	m := &mirror{src: src, sum: sha256.New(), skip: skip}
	if to != "" {
		if m.dst, err = os.OpenRoot(to); err != nil {
			return nil, err
		}
		defer m.dst.Close()
	}
	top, err := src.Lstat(".")
	if err != nil {
		return nil, err
	}
	m.saw(".", top)
	if err := m.folder("."); err != nil {
		return nil, err
	}
	return m, nil
}

type mirror struct {
	src, dst *os.Root
	sum      hash.Hash
	skip     func(string) bool

	// newest is the latest modification time of the entries read (the
	// folder itself too), and newestPath the entry's path.
	newest     time.Time
	newestPath string
}

func (m *mirror) hash() string { return hex.EncodeToString(m.sum.Sum(nil)) }

// saw notes the modification time of the entry p.
func (m *mirror) saw(p string, fi fs.FileInfo) {
	if t := fi.ModTime(); t.After(m.newest) {
		m.newest, m.newestPath = t, p
	}
}

// record adds one entry to the tree's hash: its type, mode, path (length
// first, so that any byte may be in a name) and content (a file's size
// and SHA-256, a symlink's target text).
func (m *mirror) record(kind byte, mode fs.FileMode, p, content string) {
	fmt.Fprintf(m.sum, "%c %04o %d:%s %d:%s\n", kind, mode.Perm(), len(p), p, len(content), content)
}

func readDir(r *os.Root, dir string) ([]fs.DirEntry, error) {
	f, err := r.Open(dir)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	ents, err := f.ReadDir(-1)
	slices.SortFunc(ents, func(a, b fs.DirEntry) int { return bytes.Compare([]byte(a.Name()), []byte(b.Name())) })
	return ents, err
}

func join(dir, name string) string {
	if dir == "." {
		return name
	}
	return path.Join(dir, name)
}

// folder hashes (and mirrors) the folder dir, by path relative to the
// roots.
func (m *mirror) folder(dir string) error {
	ents, err := readDir(m.src, dir)
	if err != nil {
		return err
	}
	want := map[string]bool{}
	var keep []fs.DirEntry
	for _, e := range ents {
		if dir == "." && m.skip != nil && m.skip(e.Name()) {
			continue
		}
		want[e.Name()] = true
		keep = append(keep, e)
	}
	if m.dst != nil {
		// What the copy does not hold goes first.
		have, err := readDir(m.dst, dir)
		if err != nil {
			return err
		}
		for _, e := range have {
			if !want[e.Name()] {
				if err := m.dst.RemoveAll(join(dir, e.Name())); err != nil {
					return err
				}
			}
		}
	}
	for _, e := range keep {
		p := join(dir, e.Name())
		fi, err := m.src.Lstat(p)
		if err != nil {
			return err
		}
		m.saw(p, fi)
		switch {
		case fi.IsDir():
			m.record('d', fi.Mode(), p, "")
			if err := m.mkdir(p, fi.Mode().Perm()|0o700); err != nil {
				return fmt.Errorf("%s: %w", p, err)
			}
			if err := m.folder(p); err != nil {
				return err
			}
		case fi.Mode()&fs.ModeSymlink != 0:
			target, err := m.src.Readlink(p)
			if err != nil {
				return err
			}
			m.record('l', 0, p, target)
			if err := m.link(p, target); err != nil {
				return fmt.Errorf("%s: %w", p, err)
			}
		case fi.Mode().IsRegular():
			sum, n, err := m.file(p, fi)
			if err != nil {
				return fmt.Errorf("%s: %w", p, err)
			}
			m.record('f', fi.Mode(), p, fmt.Sprintf("%d %s", n, sum))
		default:
			return fmt.Errorf("%s is a %v, neither a file, a folder nor a symlink", p, fi.Mode().Type())
		}
	}
	return nil
}

func (m *mirror) mkdir(p string, perm fs.FileMode) error {
	if m.dst == nil {
		return nil
	}
	if fi, err := m.dst.Lstat(p); err == nil && fi.IsDir() {
		if fi.Mode().Perm() != perm {
			return m.dst.Chmod(p, perm)
		}
		return nil
	}
	if err := m.dst.RemoveAll(p); err != nil {
		return err
	}
	if err := m.dst.Mkdir(p, perm); err != nil {
		return err
	}
	return m.dst.Chmod(p, perm) // past the umask
}

func (m *mirror) link(p, target string) error {
	if m.dst == nil {
		return nil
	}
	if fi, err := m.dst.Lstat(p); err == nil && fi.Mode()&fs.ModeSymlink != 0 {
		if have, err := m.dst.Readlink(p); err == nil && have == target {
			return nil
		}
	}
	if err := m.dst.RemoveAll(p); err != nil {
		return err
	}
	return m.dst.Symlink(target, p)
}

// file hashes the file p and, when it mirrors, leaves the copy as it is
// if it holds the same bytes (compared while hashing), or writes it anew
// from what it reads. The hash is always of the bytes read once, and
// those are the ones written. It returns the SHA-256 and the size of
// what it read.
func (m *mirror) file(p string, fi fs.FileInfo) (string, int64, error) {
	in, err := m.src.OpenFile(p, os.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_NONBLOCK, 0)
	if err != nil {
		return "", 0, err
	}
	defer in.Close()
	perm := fi.Mode().Perm()
	h := sha256.New()
	if m.dst == nil {
		n, err := io.Copy(h, in)
		return hex.EncodeToString(h.Sum(nil)), n, err
	}
	if n, same, err := m.same(in, h, p, fi.Size()); err != nil {
		return "", 0, err
	} else if same {
		if have, err := m.dst.Lstat(p); err == nil && have.Mode().Perm() != perm {
			if err := m.dst.Chmod(p, perm); err != nil {
				return "", 0, err
			}
		}
		return hex.EncodeToString(h.Sum(nil)), n, nil
	}
	// Different: start again from the top of the source.
	if _, err := in.Seek(0, io.SeekStart); err != nil {
		return "", 0, err
	}
	h.Reset()
	if err := m.dst.RemoveAll(p); err != nil {
		return "", 0, err
	}
	out, err := m.dst.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL|syscall.O_NOFOLLOW, perm)
	if err != nil {
		return "", 0, err
	}
	n, err := io.CopyBuffer(io.MultiWriter(out, h), onlyReader{in}, make([]byte, 256<<10))
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = m.dst.Chmod(p, perm) // past the umask
	}
	return hex.EncodeToString(h.Sum(nil)), n, err
}

// same compares the source file in with the copy's file p, hashing in
// into h as it goes; false means the copy differs (or is no regular
// file), and h is then incomplete. It returns the size read too.
func (m *mirror) same(in *os.File, h hash.Hash, p string, size int64) (int64, bool, error) {
	fi, err := m.dst.Lstat(p)
	if err != nil || !fi.Mode().IsRegular() || fi.Size() != size {
		return 0, false, nil
	}
	have, err := m.dst.OpenFile(p, os.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_NONBLOCK, 0)
	if err != nil {
		return 0, false, nil // unreadable: rewritten
	}
	defer have.Close()
	a, b := make([]byte, 64<<10), make([]byte, 64<<10)
	var total int64
	for {
		n, err := io.ReadFull(in, a)
		if n > 0 {
			total += int64(n)
			h.Write(a[:n])
			if k, _ := io.ReadFull(have, b[:n]); k != n || !bytes.Equal(a[:n], b[:n]) {
				return 0, false, nil
			}
		}
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			// The copy must end here too.
			k, _ := have.Read(b[:1])
			return total, k == 0, nil
		}
		if err != nil {
			return 0, false, err
		}
	}
}

// onlyReader hides everything but Read, so that io.CopyBuffer streams
// through the buffer it is given.
type onlyReader struct{ io.Reader }

// usable gives back to their owner (the step runs as that owner) the
// folders of to that a build made unreadable or unwritable, so that what
// they hold can be compared and removed; the top is set as the engine
// makes it. Symlinks are neither followed nor changed.
func usable(to string) error {
	return filepath.WalkDir(to, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		want := info.Mode().Perm() | 0o700
		if p == to {
			want = 0o755
		}
		if want != info.Mode().Perm() {
			return os.Chmod(p, want)
		}
		return nil
	})
}
