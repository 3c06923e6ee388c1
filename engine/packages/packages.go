// Package packages recognises the packages among a build's artifacts:
// Debian packages (.deb, .udeb), RPMs (.rpm), tarballs (.tar, .tar.gz or
// .tgz, .tar.bz2, .tar.xz, .tar.zst) and zip files, and reads each one's
// name, version, architecture and number of entries.
//
// The formats are read by libraries, never by the engine's own parsers:
// a .deb's ar container by pault.ag/go/debian/deb and its control file by
// pault.ag/go/debian/control; an RPM's header by
// github.com/sassoftware/go-rpmutils; tarballs by archive/tar over
// compress/gzip, compress/bzip2, github.com/xi2/xz and
// github.com/klauspost/compress/zstd; zip files by archive/zip. No
// process is started.
//
// The files are the build's to choose, so everything read is bounded:
// the bytes a library may read of a file's metadata (an RPM header, a zip
// directory, a .deb's control archive and control file), the members of
// a .deb, the entries counted, the bytes a compressed stream may expand
// to (a ratio of the file's size, and an absolute cap), the memory a
// decompressor may take (its window). Nothing is extracted to disk; a
// file is read through the descriptor collect opened (no symlink is
// followed). A library that panics on a hostile file is recovered from.
// A file whose name says package but whose content does not parse within
// the bounds is "not a package", with the reason.
package packages

import (
	"archive/tar"
	"archive/zip"
	"compress/bzip2"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"path"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/klauspost/compress/zstd"
	rpmutils "github.com/sassoftware/go-rpmutils"
	"github.com/xi2/xz"
	"pault.ag/go/debian/control"
	"pault.ag/go/debian/deb"

	"github.com/autobuild/autobuild/engine/report"
)

// The bounds of what is read of one file.
const (
	// MaxEntries bounds the entries counted in a tarball, a zip file or
	// a .deb's data archive, and the files an RPM header lists.
	MaxEntries = 100000
	// MaxRatio bounds how many times its own size a compressed stream
	// may expand to (beyond MinExpand), and MaxExpand absolutely.
	MaxRatio  = 100
	MinExpand = 16 << 20
	MaxExpand = 8 << 30
	// MaxWindow bounds the memory an xz or zstd stream may ask for.
	MaxWindow = 64 << 20
	// MaxMeta bounds the bytes read of a file's metadata: an RPM's lead
	// and headers, a zip file's central directory, a .deb's control
	// archive (expanded).
	MaxMeta = 16 << 20
	// MaxControl bounds a .deb's control file.
	MaxControl = 1 << 20
	// MaxMembers bounds the members of a .deb's ar archive looked at.
	MaxMembers = 16
	// MaxField bounds the bytes of a name, version or architecture kept.
	MaxField = 256
)

// Kind is what name says a file is: "deb", "rpm", "tar", "zip", or ""
// for anything else. Only such files are read.
func Kind(name string) string {
	n := strings.ToLower(path.Base(name))
	switch {
	case strings.HasSuffix(n, ".deb"), strings.HasSuffix(n, ".udeb"):
		return "deb"
	case strings.HasSuffix(n, ".rpm"):
		return "rpm"
	case strings.HasSuffix(n, ".zip"):
		return "zip"
	}
	if _, _, ok := tarSuffix(n); ok {
		return "tar"
	}
	return ""
}

// tarSuffixes are the tarball suffixes, with their compression.
var tarSuffixes = []struct{ suffix, comp string }{
	{".tar", ""}, {".tar.gz", "gz"}, {".tgz", "gz"}, {".tar.bz2", "bz2"}, {".tbz2", "bz2"},
	{".tar.xz", "xz"}, {".txz", "xz"}, {".tar.zst", "zst"}, {".tzst", "zst"},
}

func tarSuffix(lower string) (suffix, comp string, ok bool) {
	for _, s := range tarSuffixes {
		if strings.HasSuffix(lower, s.suffix) {
			return s.suffix, s.comp, true
		}
	}
	return "", "", false
}

// Read recognises the file r of size bytes, named name (its path below
// the package folder). It returns nil and no error for a file whose name
// is no package's; nil and the reason for one whose content is not the
// package its name says.
func Read(r io.ReaderAt, size int64, name string) (p *report.Package, err error) {
	kind := Kind(name)
	if kind == "" {
		return nil, nil
	}
	defer func() {
		if v := recover(); v != nil {
			p, err = nil, fmt.Errorf("unreadable %s (the parser gave up: %v)", kind, v)
		}
	}()
	switch kind {
	case "deb":
		p, err = readDeb(r, size)
	case "rpm":
		p, err = readRPM(r, size)
	case "zip":
		p, err = readZip(r, size, name)
	case "tar":
		p, err = readTar(r, size, name)
	}
	if err != nil {
		return nil, err
	}
	p.Kind = kind
	p.Name, p.Version, p.Arch = clean(p.Name), clean(p.Version), clean(p.Arch)
	if p.Name == "" {
		return nil, errors.New("no package name")
	}
	return p, nil
}

// readDeb reads a .deb's control file (Package, Version, Architecture)
// and counts the entries of its data archive.
func readDeb(r io.ReaderAt, size int64) (*report.Package, error) {
	ar, err := deb.LoadAr(io.NewSectionReader(r, 0, size))
	if err != nil {
		return nil, fmt.Errorf("not a Debian package: %v", err)
	}
	var p *report.Package
	entries := -1
	for i := 0; ; i++ {
		m, err := ar.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("not a Debian package: ar member %d: %v", i+1, err)
		}
		if i >= MaxMembers {
			return nil, fmt.Errorf("not a Debian package: more than %d ar members", MaxMembers)
		}
		if m.Size < 0 || m.Size > size {
			return nil, fmt.Errorf("not a Debian package: ar member %q claims %d bytes in a file of %d", clean(m.Name), m.Size, size)
		}
		switch {
		case i == 0:
			if m.Name != "debian-binary" {
				return nil, fmt.Errorf("not a Debian package: first member %q, not debian-binary", clean(m.Name))
			}
		case strings.HasPrefix(m.Name, "control.tar") && p == nil:
			if p, err = debControl(m, size); err != nil {
				return nil, err
			}
		case strings.HasPrefix(m.Name, "data.tar") && entries < 0:
			tr, err := decompress(m.Data, strings.TrimPrefix(m.Name, "data.tar"), m.Size, size)
			if err != nil {
				return nil, fmt.Errorf("%s: %v", m.Name, err)
			}
			if entries, err = countTar(tr); err != nil {
				return nil, fmt.Errorf("%s: %v", m.Name, err)
			}
		}
	}
	if p == nil {
		return nil, errors.New("not a Debian package: no control archive")
	}
	if entries < 0 {
		return nil, errors.New("not a Debian package: no data archive")
	}
	p.Entries = entries
	return p, nil
}

// debFields are the control file's fields that the site shows.
type debFields struct {
	Package      string `required:"true"`
	Version      string `required:"true"`
	Architecture string `required:"true"`
}

func debControl(m *deb.ArEntry, size int64) (*report.Package, error) {
	comp := strings.TrimPrefix(m.Name, "control.tar")
	stream, err := decompress(m.Data, comp, m.Size, size)
	if err != nil {
		return nil, fmt.Errorf("%s: %v", m.Name, err)
	}
	tr := tar.NewReader(&limited{r: stream, n: MaxMeta, what: "control archive"})
	for range MaxEntries {
		h, err := tr.Next()
		if err != nil {
			return nil, fmt.Errorf("%s: no control file: %v", m.Name, err)
		}
		if path.Clean(h.Name) != "control" || h.Typeflag != tar.TypeReg {
			continue
		}
		if h.Size > MaxControl {
			return nil, fmt.Errorf("%s: the control file claims %d bytes (at most %d are read)", m.Name, h.Size, MaxControl)
		}
		var f debFields
		if err := control.Unmarshal(&f, io.LimitReader(tr, MaxControl)); err != nil {
			return nil, fmt.Errorf("%s: control file: %v", m.Name, err)
		}
		return &report.Package{Name: f.Package, Version: f.Version, Arch: f.Architecture}, nil
	}
	return nil, fmt.Errorf("%s: more than %d entries", m.Name, MaxEntries)
}

// readRPM reads an RPM's header: name, [epoch:]version-release, arch
// ("src" for a source package) and the files it lists.
func readRPM(r io.ReaderAt, size int64) (*report.Package, error) {
	if err := rpmBounds(r); err != nil {
		return nil, err
	}
	hdr, err := rpmutils.ReadHeader(&limited{r: io.NewSectionReader(r, 0, size), n: 2*MaxMeta + 4096, what: "the RPM header"})
	if err != nil {
		return nil, fmt.Errorf("not an RPM: %v", err)
	}
	n, err := hdr.GetNEVRA()
	if err != nil {
		return nil, fmt.Errorf("not an RPM: %v", err)
	}
	p := &report.Package{Name: n.Name, Version: n.Version + "-" + n.Release, Arch: n.Arch}
	if n.Epoch != "" && n.Epoch != "0" {
		p.Version = n.Epoch + ":" + p.Version
	}
	if !hdr.HasTag(rpmutils.SOURCERPM) {
		p.Arch = "src"
	}
	if hdr.HasTag(rpmutils.BASENAMES) {
		names, err := hdr.GetStrings(rpmutils.BASENAMES)
		if err != nil {
			return nil, fmt.Errorf("not an RPM: file names: %v", err)
		}
		p.Entries = len(names)
	} else if hdr.HasTag(rpmutils.OLDFILENAMES) {
		names, err := hdr.GetStrings(rpmutils.OLDFILENAMES)
		if err != nil {
			return nil, fmt.Errorf("not an RPM: file names: %v", err)
		}
		p.Entries = len(names)
	}
	if p.Entries > MaxEntries {
		return nil, fmt.Errorf("not an RPM: more than %d files", MaxEntries)
	}
	return p, nil
}

// rpmBounds refuses an RPM whose signature or main header declares more
// index entries or data than MaxMeta, before the library allocates what
// they declare. It reads only the two headers' declared sizes (the
// header structure is the library's to parse).
func rpmBounds(r io.ReaderAt) error {
	const lead, intro = 96, 16
	var off int64 = lead
	for i, which := range []string{"signature", "main"} {
		b := make([]byte, intro)
		if _, err := r.ReadAt(b, off); err != nil {
			return fmt.Errorf("not an RPM: the %s header: %v", which, err)
		}
		entries := int64(be32(b[8:])) * 16
		data := int64(be32(b[12:]))
		if entries+data > MaxMeta {
			return fmt.Errorf("not an RPM: the %s header declares %d bytes (at most %d are read)", which, entries+data, MaxMeta)
		}
		if i == 0 {
			data = (data + 7) / 8 * 8 // the signature header is padded
		}
		off += intro + entries + data
	}
	return nil
}

func be32(b []byte) uint32 {
	return uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
}

// readZip counts a zip file's entries from its central directory; no
// entry is decompressed.
func readZip(r io.ReaderAt, size int64, name string) (*report.Package, error) {
	lr := &limitedAt{r: r, n: MaxMeta}
	z, err := zip.NewReader(lr, size)
	if err != nil && !errors.Is(err, zip.ErrInsecurePath) {
		if lr.over {
			return nil, fmt.Errorf("not a zip file: its directory is larger than %d bytes", MaxMeta)
		}
		return nil, fmt.Errorf("not a zip file: %v", err)
	}
	if len(z.File) > MaxEntries {
		return nil, fmt.Errorf("not a zip file: more than %d entries", MaxEntries)
	}
	p := fromFileName(name, ".zip")
	p.Entries = len(z.File)
	return p, nil
}

// readTar counts a tarball's entries, decompressing it as its name says.
func readTar(r io.ReaderAt, size int64, name string) (*report.Package, error) {
	suffix, comp, _ := tarSuffix(strings.ToLower(path.Base(name)))
	var stream io.Reader = io.NewSectionReader(r, 0, size)
	if comp != "" {
		var err error
		if stream, err = decompress(stream, "."+comp, size, size); err != nil {
			return nil, err
		}
	}
	n, err := countTar(stream)
	if err != nil {
		return nil, err
	}
	p := fromFileName(name, suffix)
	p.Entries = n
	return p, nil
}

// countTar counts a tar stream's entries, within MaxEntries. A plain
// tarball's contents are skipped (seeked over), a compressed one's read
// through, within its expansion bound.
func countTar(r io.Reader) (int, error) {
	tr := tar.NewReader(r)
	for n := 0; ; n++ {
		_, err := tr.Next()
		if errors.Is(err, io.EOF) {
			if n == 0 {
				return 0, errors.New("not a tarball: no entries")
			}
			return n, nil
		}
		if err != nil {
			return 0, fmt.Errorf("not a tarball: entry %d: %v", n+1, err)
		}
		if n >= MaxEntries {
			return 0, fmt.Errorf("not a tarball: more than %d entries", MaxEntries)
		}
	}
}

// decompress wraps r (n bytes of a file of size bytes) in the
// decompressor comp names (".gz", ".xz", ... or "" for none), its output
// bounded by MaxRatio and MaxExpand.
func decompress(r io.Reader, comp string, n, size int64) (io.Reader, error) {
	limit := min(max(n, size)*MaxRatio+MinExpand, MaxExpand)
	var d io.Reader
	switch comp {
	case "":
		return r, nil
	case ".gz":
		z, err := gzip.NewReader(r)
		if err != nil {
			return nil, fmt.Errorf("not gzip: %v", err)
		}
		d = z
	case ".bz2":
		d = bzip2.NewReader(r)
	case ".xz":
		z, err := xz.NewReader(r, MaxWindow)
		if err != nil {
			return nil, fmt.Errorf("not xz: %v", err)
		}
		d = z
	case ".zst":
		z, err := zstd.NewReader(r, zstd.WithDecoderConcurrency(1), zstd.WithDecoderLowmem(true),
			zstd.WithDecoderMaxWindow(MaxWindow), zstd.WithDecoderMaxMemory(uint64(limit)))
		if err != nil {
			return nil, fmt.Errorf("not zstd: %v", err)
		}
		d = z.IOReadCloser()
	default:
		return nil, fmt.Errorf("unknown compression %q", clean(comp))
	}
	return &limited{r: d, n: limit, what: "the decompressed stream"}, nil
}

// limited reads at most n bytes of r, then fails, saying so.
type limited struct {
	r    io.Reader
	n    int64
	what string
}

func (l *limited) Read(b []byte) (int, error) {
	if l.n <= 0 {
		return 0, fmt.Errorf("%s is larger than its bound", l.what)
	}
	if int64(len(b)) > l.n {
		b = b[:l.n]
	}
	n, err := l.r.Read(b)
	l.n -= int64(n)
	return n, err
}

// limitedAt lets at most n bytes be read through it in all.
type limitedAt struct {
	r    io.ReaderAt
	n    int64
	over bool
}

func (l *limitedAt) ReadAt(b []byte, off int64) (int, error) {
	if int64(len(b)) > l.n {
		l.over = true
		return 0, errors.New("read bound reached")
	}
	l.n -= int64(len(b))
	return l.r.ReadAt(b, off)
}

// fromFileName reads name and version from a file name by the
// name-version.ext convention: the version starts after the first "-"
// that a digit follows ("foo-bar-1.2.tar.gz": foo-bar, 1.2); without
// one, the whole stem is the name.
func fromFileName(name, suffix string) *report.Package {
	base := path.Base(name)
	stem := base[:len(base)-len(suffix)]
	for i := 0; i+1 < len(stem); i++ {
		if stem[i] == '-' && stem[i+1] >= '0' && stem[i+1] <= '9' && i > 0 {
			return &report.Package{Name: stem[:i], Version: stem[i+1:]}
		}
	}
	return &report.Package{Name: stem}
}

// clean makes a field read from a file printable and bounded: bytes that
// are not UTF-8 and characters that are not graphic (controls, line
// breaks) are written as \xNN or \uNNNN, and it is cut at MaxField bytes.
func clean(s string) string {
	var b strings.Builder
	i := 0
	for i < len(s) && b.Len() < MaxField {
		r, n := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && n == 1:
			fmt.Fprintf(&b, `\x%02x`, s[i])
		case !unicode.IsGraphic(r):
			fmt.Fprintf(&b, `\u%04x`, r)
		default:
			b.WriteString(s[i : i+n])
		}
		i += n
	}
	if i < len(s) || b.Len() > MaxField {
		return strings.ToValidUTF8(b.String()[:min(b.Len(), MaxField)], "") + "…"
	}
	return b.String()
}
