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
	"path/filepath"
	"slices"
	"strings"
)

// Tree is a folder to send, under a top name of the tar stream.
type Tree struct {
	// Name is the top name in the archive: one plain path element
	// ("t0", "t1"…): no "/", not "." or "..", unique among the trees.
	Name string
	// Path is the folder on this machine.
	Path string
}

// Summary describes a tar stream: Pack returns it for what it wrote, and
// Unpack for what it read. The sender sends it after the stream, so that
// the receiver can check the stream (Spool.Verify) before unpacking it.
type Summary struct {
	Bytes   int64  // the tar stream's size
	SHA256  string // the tar stream's SHA-256, hex
	Entries int    // its entries, top folders included
	Files   int64  // the bytes of file data it holds
}

// PackOptions tune Pack.
type PackOptions struct {
	// AllowMissing omits a tree whose Path does not exist (else an error).
	AllowMissing bool
}

// packBuffer is the size of the writes Pack makes to w (so, through a
// Mux Channel, of most frames).
const packBuffer = 256 << 10

// testHookOpened, when set, is called with a file's path once Pack has
// opened and checked it, before it reads it.
var testHookOpened func(path string)

// Pack writes the trees to w as one tar stream (see the package doc for
// what it sends) and returns its Summary. The first error stops it: what
// it wrote to w is then no valid stream.
func Pack(w io.Writer, trees []Tree, opts PackOptions) (Summary, error) {
	if err := checkTrees(trees); err != nil {
		return Summary{}, err
	}
	hw := &hashWriter{w: w, h: sha256.New()}
	bw := bufio.NewWriterSize(hw, packBuffer)
	p := &packer{tw: tar.NewWriter(bw), buf: make([]byte, packBuffer)}
	err := func() error {
		for _, t := range trees {
			if err := p.tree(t, opts); err != nil {
				return err
			}
		}
		if err := p.tw.Close(); err != nil {
			return fmt.Errorf("stream: pack: %w", err)
		}
		if err := bw.Flush(); err != nil {
			return fmt.Errorf("stream: pack: %w", err)
		}
		return nil
	}()
	if err == nil && hw.err != nil {
		err = fmt.Errorf("stream: pack: %w", hw.err)
	}
	return Summary{Bytes: hw.n, SHA256: hex.EncodeToString(hw.h.Sum(nil)), Entries: p.entries, Files: p.files}, err
}

// checkTrees checks the trees' names.
func checkTrees(trees []Tree) error {
	seen := map[string]bool{}
	for _, t := range trees {
		switch {
		case t.Name == "", t.Name == ".", t.Name == "..", strings.ContainsAny(t.Name, "/\x00"):
			return fmt.Errorf("stream: tree %q: name must be one plain path element (no \"/\", not \".\" or \"..\")", t.Name)
		case seen[t.Name]:
			return fmt.Errorf("stream: tree %q: name given twice", t.Name)
		case t.Path == "":
			return fmt.Errorf("stream: tree %q: no path", t.Name)
		}
		seen[t.Name] = true
	}
	return nil
}

type packer struct {
	tw      *tar.Writer
	buf     []byte
	entries int
	files   int64
}

func (p *packer) tree(t Tree, opts PackOptions) error {
	fi, err := os.Lstat(t.Path)
	if errors.Is(err, fs.ErrNotExist) && opts.AllowMissing {
		return nil
	}
	if err != nil {
		return fmt.Errorf("stream: tree %s: %w", t.Name, err)
	}
	if !fi.IsDir() {
		return fmt.Errorf("stream: tree %s: %s is not a folder (%s)", t.Name, t.Path, typeName(fi.Mode()))
	}
	root, err := os.OpenRoot(t.Path)
	if err != nil {
		return fmt.Errorf("stream: tree %s: %w", t.Name, err)
	}
	defer root.Close()
	w := walker{packer: p, root: root, tree: t}
	return w.dir(".", fi)
}

// walker sends one tree.
type walker struct {
	*packer
	root *os.Root
	tree Tree
}

// host is rel's path on this machine, for errors.
func (w *walker) host(rel string) string { return filepath.Join(w.tree.Path, rel) }

// name is rel's name in the archive.
func (w *walker) name(rel string) string {
	if rel == "." {
		return w.tree.Name
	}
	return w.tree.Name + "/" + filepath.ToSlash(rel)
}

func (w *walker) header(h *tar.Header, fi fs.FileInfo) error {
	h.Mode = int64(fi.Mode().Perm())
	h.ModTime = fi.ModTime()
	h.Format = tar.FormatPAX
	if err := w.tw.WriteHeader(h); err != nil {
		return fmt.Errorf("stream: pack %s: %w", h.Name, err)
	}
	w.entries++
	return nil
}

// dir sends the folder rel, which Lstat described as fi, and what it
// holds.
func (w *walker) dir(rel string, fi fs.FileInfo) error {
	f, err := w.root.Open(rel)
	if err != nil {
		return fmt.Errorf("stream: pack %s: %w", w.host(rel), err)
	}
	if err := w.check(f, rel, fi); err != nil {
		f.Close()
		return err
	}
	names, err := f.Readdirnames(-1)
	f.Close()
	if err != nil {
		return fmt.Errorf("stream: pack %s: %w", w.host(rel), err)
	}
	if err := w.header(&tar.Header{Typeflag: tar.TypeDir, Name: w.name(rel) + "/"}, fi); err != nil {
		return err
	}
	slices.Sort(names)
	for _, n := range names {
		child := filepath.Join(rel, n)
		cfi, err := w.root.Lstat(child)
		if err != nil {
			return fmt.Errorf("stream: pack %s: %w", w.host(child), err)
		}
		switch cfi.Mode().Type() {
		case fs.ModeDir:
			err = w.dir(child, cfi)
		case 0:
			err = w.file(child, cfi)
		case fs.ModeSymlink:
			err = w.symlink(child, cfi)
		default:
			err = fmt.Errorf("stream: pack %s: a %s: only folders, regular files and symlinks are sent", w.host(child), typeName(cfi.Mode()))
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// check checks that f, just opened as rel, is what Lstat saw (fi): the
// same file (not what a symlink put in its place points to), the same
// type, and for a file the same size.
func (w *walker) check(f *os.File, rel string, fi fs.FileInfo) error {
	ofi, err := f.Stat()
	if err != nil {
		return fmt.Errorf("stream: pack %s: %w", w.host(rel), err)
	}
	if !os.SameFile(fi, ofi) || ofi.Mode().Type() != fi.Mode().Type() {
		return fmt.Errorf("stream: pack %s: replaced while packed", w.host(rel))
	}
	if fi.Mode().IsRegular() && ofi.Size() != fi.Size() {
		return fmt.Errorf("stream: pack %s: changed size while packed (%d bytes, then %d)", w.host(rel), fi.Size(), ofi.Size())
	}
	return nil
}

func (w *walker) file(rel string, fi fs.FileInfo) error {
	f, err := w.root.OpenFile(rel, os.O_RDONLY|openFlags, 0)
	if err != nil {
		return fmt.Errorf("stream: pack %s: %w", w.host(rel), err)
	}
	defer f.Close()
	if err := w.check(f, rel, fi); err != nil {
		return err
	}
	if testHookOpened != nil {
		testHookOpened(w.host(rel))
	}
	size := fi.Size()
	if err := w.header(&tar.Header{Typeflag: tar.TypeReg, Name: w.name(rel), Size: size}, fi); err != nil {
		return err
	}
	n, err := io.CopyBuffer(w.tw, io.LimitReader(f, size), w.buf)
	if err != nil {
		return fmt.Errorf("stream: pack %s: %w", w.host(rel), err)
	}
	if n < size {
		return fmt.Errorf("stream: pack %s: changed size while read (%d bytes, then only %d)", w.host(rel), size, n)
	}
	var one [1]byte
	if k, _ := f.Read(one[:]); k > 0 {
		return fmt.Errorf("stream: pack %s: changed size while read (grew beyond %d bytes)", w.host(rel), size)
	}
	w.files += size
	return nil
}

func (w *walker) symlink(rel string, fi fs.FileInfo) error {
	target, err := w.root.Readlink(rel)
	if err != nil {
		return fmt.Errorf("stream: pack %s: %w", w.host(rel), err)
	}
	return w.header(&tar.Header{Typeflag: tar.TypeSymlink, Name: w.name(rel), Linkname: target}, fi)
}

// typeName names a file type for errors.
func typeName(m fs.FileMode) string {
	switch m.Type() {
	case fs.ModeDir:
		return "folder"
	case 0:
		return "regular file"
	case fs.ModeSymlink:
		return "symlink"
	case fs.ModeNamedPipe:
		return "FIFO"
	case fs.ModeSocket:
		return "socket"
	case fs.ModeDevice:
		return "block device"
	case fs.ModeDevice | fs.ModeCharDevice:
		return "character device"
	}
	return "special file"
}

// hashWriter writes to w, counting and hashing what w took.
type hashWriter struct {
	w   io.Writer
	h   hash.Hash
	n   int64
	err error
}

func (hw *hashWriter) Write(p []byte) (int, error) {
	n, err := hw.w.Write(p)
	hw.h.Write(p[:n])
	hw.n += int64(n)
	if err != nil && hw.err == nil {
		hw.err = err
	}
	return n, err
}
