package stream

import (
	"archive/tar"
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"os"
	"strings"
	"time"
)

// Unpack's defaults and bounds.
const (
	// DefaultMaxBytes is UnpackOptions.MaxBytes when none is given.
	DefaultMaxBytes = 8 << 30
	// DefaultMaxEntries is UnpackOptions.MaxEntries when none is given.
	DefaultMaxEntries = 1 << 20
	// maxName bounds an entry's name and a symlink's text (PATH_MAX).
	maxName = 4096
	// maxPadding bounds the zeros Unpack accepts after the archive's end.
	maxPadding = 1 << 20
)

// UnpackOptions tune Unpack.
type UnpackOptions struct {
	// UID and GID own every entry the stream names below a top, when UID
	// >= 0 (GID -1: only the uid changes). The zero value is root: pass
	// UID -1 to leave entries to the unpacking process.
	UID, GID int
	// MaxBytes bounds the file data and MaxEntries the entries (top
	// folders included); 0 or less: DefaultMaxBytes, DefaultMaxEntries.
	MaxBytes   int64
	MaxEntries int
}

// Unpack reads a tar stream from r and writes each top name's entries into
// dests[top], an existing folder (usually empty). See the package doc for
// what it refuses and what it guarantees. The Summary describes what it
// read of r (all of it, when it returns nil).
func Unpack(r io.Reader, dests map[string]string, opts UnpackOptions) (Summary, error) {
	if opts.MaxBytes <= 0 {
		opts.MaxBytes = DefaultMaxBytes
	}
	if opts.MaxEntries <= 0 {
		opts.MaxEntries = DefaultMaxEntries
	}
	hr := &hashReader{r: r, h: sha256.New()}
	u := &unpacker{opts: opts, roots: map[string]*os.Root{}, seen: map[string]bool{}, buf: make([]byte, 256<<10)}
	defer u.close()
	err := u.open(dests)
	if err == nil {
		err = u.run(bufio.NewReaderSize(hr, 64<<10))
	}
	if err == nil {
		err = u.finish()
	}
	return Summary{Bytes: hr.n, SHA256: hex.EncodeToString(hr.h.Sum(nil)), Entries: u.entries, Files: u.files}, err
}

type unpacker struct {
	opts    UnpackOptions
	roots   map[string]*os.Root
	seen    map[string]bool // every entry unpacked (the key is there), true for a folder
	dirs    []pending       // folders, in the order made, to finish
	buf     []byte
	entries int
	files   int64
}

// pending is a folder whose mode and time are set once its contents are
// written.
type pending struct {
	root  *os.Root
	rel   string
	mode  fs.FileMode
	mtime time.Time
	top   bool
}

func (u *unpacker) open(dests map[string]string) error {
	for top, dir := range dests {
		if top == "" || top == "." || top == ".." || strings.ContainsAny(top, "/\x00") {
			return fmt.Errorf("stream: unpack: destination of %q: top name must be one plain path element", top)
		}
		fi, err := os.Lstat(dir)
		if err != nil {
			return fmt.Errorf("stream: unpack: destination of %q: %w", top, err)
		}
		if !fi.IsDir() {
			return fmt.Errorf("stream: unpack: destination of %q: %s is not a folder (%s)", top, dir, typeName(fi.Mode()))
		}
		root, err := os.OpenRoot(dir)
		if err != nil {
			return fmt.Errorf("stream: unpack: destination of %q: %w", top, err)
		}
		u.roots[top] = root
	}
	return nil
}

func (u *unpacker) close() {
	for _, r := range u.roots {
		r.Close()
	}
}

func (u *unpacker) run(br *bufio.Reader) error {
	tr := tar.NewReader(br)
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return fmt.Errorf("stream: unpack: reading the entry after %d: %w", u.entries, err)
		}
		if err := u.entry(hdr, tr); err != nil {
			return err
		}
	}
	// Only zeros may follow the end (a writer's padding).
	var pad int64
	for {
		n, err := br.Read(u.buf)
		for _, b := range u.buf[:n] {
			if b != 0 {
				return errors.New("stream: unpack: data after the end of the archive")
			}
		}
		if pad += int64(n); pad > maxPadding {
			return fmt.Errorf("stream: unpack: more than %d bytes of padding after the end of the archive", maxPadding)
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("stream: unpack: reading after the end of the archive: %w", err)
		}
	}
}

// refuse is the error for the entry name.
func refuse(name, format string, args ...any) error {
	return fmt.Errorf("stream: unpack %s: %s", quote([]byte(name)), fmt.Sprintf(format, args...))
}

func (u *unpacker) entry(hdr *tar.Header, tr *tar.Reader) error {
	name := hdr.Name
	if u.entries++; u.entries > u.opts.MaxEntries {
		return refuse(name, "more than %d entries", u.opts.MaxEntries)
	}
	switch {
	case len(name) > maxName:
		return refuse(name, "name longer than %d bytes", maxName)
	case len(hdr.Linkname) > maxName:
		return refuse(name, "link text longer than %d bytes", maxName)
	case strings.Contains(name, "\x00") || strings.Contains(hdr.Linkname, "\x00"):
		return refuse(name, "NUL in the name or link text")
	}
	switch hdr.Typeflag {
	case tar.TypeDir, tar.TypeReg, tar.TypeRegA, tar.TypeSymlink:
	case tar.TypeLink:
		return refuse(name, "a hard link (to %s): not allowed", quote([]byte(hdr.Linkname)))
	case tar.TypeChar, tar.TypeBlock:
		return refuse(name, "a device: not allowed")
	case tar.TypeFifo:
		return refuse(name, "a FIFO: not allowed")
	default:
		return refuse(name, "entry type %q: only folders, regular files and symlinks are allowed", hdr.Typeflag)
	}
	clean := name
	if hdr.Typeflag == tar.TypeDir {
		clean = strings.TrimSuffix(clean, "/")
	}
	if strings.HasPrefix(clean, "/") {
		return refuse(name, "absolute name")
	}
	elems := strings.Split(clean, "/")
	for _, e := range elems {
		switch e {
		case "..":
			return refuse(name, `".." in the name`)
		case "", ".":
			return refuse(name, `not a clean name (an empty or "." element)`)
		}
	}
	top := elems[0]
	root, ok := u.roots[top]
	if !ok {
		return refuse(name, "unknown top name %s", quote([]byte(top)))
	}
	if _, dup := u.seen[clean]; dup {
		return refuse(name, "sent twice")
	}
	mtime := hdr.ModTime
	if len(elems) == 1 {
		if hdr.Typeflag != tar.TypeDir {
			return refuse(name, "a top name must be a folder")
		}
		u.seen[clean] = true
		u.dirs = append(u.dirs, pending{root: root, rel: ".", mtime: mtime, top: true})
		return nil
	}
	if len(elems) > 2 {
		if parent := strings.Join(elems[:len(elems)-1], "/"); !u.seen[parent] {
			return refuse(name, "its folder %s was not sent as a folder before it", quote([]byte(parent)))
		}
	}
	rel := strings.Join(elems[1:], "/")
	mode := fs.FileMode(hdr.Mode) & fs.ModePerm
	var err error
	switch hdr.Typeflag {
	case tar.TypeDir:
		err = u.dir(root, rel, mode, mtime)
	case tar.TypeReg, tar.TypeRegA:
		if hdr.Size > u.opts.MaxBytes-u.files {
			return refuse(name, "more than %d bytes of file data", u.opts.MaxBytes)
		}
		err = u.file(root, rel, hdr.Size, mode, mtime, tr)
	case tar.TypeSymlink:
		err = u.symlink(root, rel, hdr.Linkname, mtime)
	}
	if err != nil {
		return refuse(name, "%v", err)
	}
	u.seen[clean] = hdr.Typeflag == tar.TypeDir
	return nil
}

// replaceable makes way for a new file or symlink rel: an existing file
// or symlink is removed; an existing folder is an error.
func replaceable(root *os.Root, rel, what string) error {
	fi, err := root.Lstat(rel)
	if err != nil {
		return err
	}
	if fi.IsDir() {
		return fmt.Errorf("would replace a folder with a %s", what)
	}
	return root.Remove(rel)
}

func (u *unpacker) chown(root *os.Root, rel string) error {
	if u.opts.UID < 0 {
		return nil
	}
	return root.Lchown(rel, u.opts.UID, u.opts.GID)
}

func (u *unpacker) dir(root *os.Root, rel string, mode fs.FileMode, mtime time.Time) error {
	if err := root.Mkdir(rel, 0o700); err != nil {
		if !errors.Is(err, fs.ErrExist) {
			return err
		}
		fi, lerr := root.Lstat(rel)
		if lerr != nil {
			return lerr
		}
		if !fi.IsDir() {
			return fmt.Errorf("would replace a %s with a folder", typeName(fi.Mode()))
		}
		// A folder the destination held: the stream's merges into it.
	}
	if err := u.chown(root, rel); err != nil {
		return err
	}
	u.dirs = append(u.dirs, pending{root: root, rel: rel, mode: mode, mtime: mtime})
	return nil
}

func (u *unpacker) file(root *os.Root, rel string, size int64, mode fs.FileMode, mtime time.Time, data io.Reader) error {
	const flags = os.O_WRONLY | os.O_CREATE | os.O_EXCL
	f, err := root.OpenFile(rel, flags, 0o600)
	if errors.Is(err, fs.ErrExist) {
		if err = replaceable(root, rel, "file"); err == nil {
			f, err = root.OpenFile(rel, flags, 0o600)
		}
	}
	if err != nil {
		return err
	}
	n, err := io.CopyBuffer(f, io.LimitReader(data, size), u.buf)
	if err == nil && n < size {
		err = io.ErrUnexpectedEOF
	}
	if err == nil && u.opts.UID >= 0 {
		err = f.Chown(u.opts.UID, u.opts.GID)
	}
	if err == nil {
		err = f.Chmod(mode)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	u.files += n
	if err != nil {
		return err
	}
	return root.Chtimes(rel, mtime, mtime)
}

func (u *unpacker) symlink(root *os.Root, rel, target string, mtime time.Time) error {
	if target == "" {
		return errors.New("a symlink with no text")
	}
	err := root.Symlink(target, rel)
	if errors.Is(err, fs.ErrExist) {
		if err = replaceable(root, rel, "symlink"); err == nil {
			err = root.Symlink(target, rel)
		}
	}
	if err != nil {
		return err
	}
	if err := u.chown(root, rel); err != nil {
		return err
	}
	return lchtimes(root, rel, mtime)
}

// finish sets the folders' modes and times, the deepest first (a
// folder's time changes when what it holds does).
func (u *unpacker) finish() error {
	for i := len(u.dirs) - 1; i >= 0; i-- {
		d := u.dirs[i]
		if !d.top {
			if err := d.root.Chmod(d.rel, d.mode); err != nil {
				return fmt.Errorf("stream: unpack: %w", err)
			}
		}
		if err := d.root.Chtimes(d.rel, d.mtime, d.mtime); err != nil {
			return fmt.Errorf("stream: unpack: %w", err)
		}
	}
	return nil
}

// hashReader reads from r, counting and hashing what it read.
type hashReader struct {
	r io.Reader
	h hash.Hash
	n int64
}

func (hr *hashReader) Read(p []byte) (int, error) {
	n, err := hr.r.Read(p)
	hr.h.Write(p[:n])
	hr.n += int64(n)
	return n, err
}
