package packages

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"compress/gzip"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/klauspost/compress/zstd"

	"github.com/autobuild/autobuild/engine/report"
	"github.com/autobuild/autobuild/internal/testutil"
)

// read recognises the file at p as collect does: through an open file.
func read(t *testing.T, p string) (*report.Package, error) {
	t.Helper()
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		t.Fatal(err)
	}
	return Read(f, st.Size(), filepath.Base(p))
}

func run(t *testing.T, dir string, name string, args ...string) {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s %v: %v\n%s", name, args, err, out)
	}
}

// makeDeb builds a .deb with the real dpkg-deb, compressed with comp.
func makeDeb(t *testing.T, dir, pkg, version, arch, comp string) string {
	t.Helper()
	testutil.NeedTool(t, "dpkg-deb", "dpkg")
	root := filepath.Join(dir, pkg+"-"+comp)
	os.MkdirAll(filepath.Join(root, "DEBIAN"), 0o755)
	os.MkdirAll(filepath.Join(root, "usr", "share", pkg), 0o755)
	os.WriteFile(filepath.Join(root, "usr", "share", pkg, "README"), []byte("hello\n"), 0o644)
	os.WriteFile(filepath.Join(root, "DEBIAN", "control"), []byte(fmt.Sprintf(
		"Package: %s\nVersion: %s\nArchitecture: %s\nMaintainer: T <t@example.org>\nDescription: a test\n a test package\n",
		pkg, version, arch)), 0o644)
	out := filepath.Join(dir, fmt.Sprintf("%s_%s_%s.%s.deb", pkg, version, arch, comp))
	run(t, dir, "dpkg-deb", "--root-owner-group", "-Z"+comp, "--build", root, out)
	return out
}

// makeRPM builds an RPM with the real rpmbuild.
func makeRPM(t *testing.T, dir string) string {
	t.Helper()
	testutil.NeedTool(t, "rpmbuild", "rpm")
	top := filepath.Join(dir, "rpmbuild")
	spec := filepath.Join(dir, "hello.spec")
	os.WriteFile(spec, []byte(`Name: hello-rpm
Version: 2.5
Release: 7
Epoch: 1
Summary: a test package
License: MIT
BuildArch: noarch
%description
a test package
%install
mkdir -p %{buildroot}/usr/share/hello-rpm
echo one > %{buildroot}/usr/share/hello-rpm/one
echo two > %{buildroot}/usr/share/hello-rpm/two
%files
/usr/share/hello-rpm/one
/usr/share/hello-rpm/two
`), 0o644)
	run(t, dir, "rpmbuild", "--quiet", "--define", "_topdir "+top, "--define", "_build_id_links none", "-bb", spec)
	out := filepath.Join(top, "RPMS", "noarch", "hello-rpm-2.5-7.noarch.rpm")
	if _, err := os.Stat(out); err != nil {
		t.Fatal(err)
	}
	return out
}

// tarball writes a tar stream of n regular entries, compressed by comp.
func tarball(t *testing.T, p string, n int, comp string) string {
	t.Helper()
	var buf bytes.Buffer
	var w interface {
		Write([]byte) (int, error)
		Close() error
	}
	switch comp {
	case "gz":
		w, _ = gzip.NewWriterLevel(&buf, gzip.BestSpeed)
	case "zst":
		w, _ = zstd.NewWriter(&buf)
	default:
		w = nopCloser{&buf}
	}
	tw := tar.NewWriter(w)
	for i := range n {
		body := []byte(fmt.Sprintf("file %d\n", i))
		tw.WriteHeader(&tar.Header{Name: fmt.Sprintf("pkg/f%d", i), Mode: 0o644, Size: int64(len(body)), Typeflag: tar.TypeReg})
		tw.Write(body)
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	w.Close()
	if err := os.WriteFile(p, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

type nopCloser struct{ *bytes.Buffer }

func (nopCloser) Close() error { return nil }

func zipFile(t *testing.T, p string, files map[string][]byte) string {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for name, body := range files {
		w, err := zw.Create(name)
		if err != nil {
			t.Fatal(err)
		}
		w.Write(body)
	}
	zw.Close()
	os.WriteFile(p, buf.Bytes(), 0o644)
	return p
}

// Real packages, made by the real tools or Go's own writers, are
// recognised with their name, version, architecture and entries.
func TestRecognise(t *testing.T) {
	dir := t.TempDir()
	for _, c := range []struct {
		file string
		want report.Package
	}{
		{makeDeb(t, dir, "hello", "1.2-3", "amd64", "xz"), report.Package{Kind: "deb", Name: "hello", Version: "1.2-3", Arch: "amd64", Entries: 5}},
		{makeDeb(t, dir, "hello-gz", "0.1", "all", "gzip"), report.Package{Kind: "deb", Name: "hello-gz", Version: "0.1", Arch: "all", Entries: 5}},
		{makeDeb(t, dir, "hello-zst", "2:3.0~rc1", "arm64", "zstd"), report.Package{Kind: "deb", Name: "hello-zst", Version: "2:3.0~rc1", Arch: "arm64", Entries: 5}},
		{makeRPM(t, dir), report.Package{Kind: "rpm", Name: "hello-rpm", Version: "1:2.5-7", Arch: "noarch", Entries: 2}},
		{tarball(t, filepath.Join(dir, "tool-1.0.tar"), 3, ""), report.Package{Kind: "tar", Name: "tool", Version: "1.0", Entries: 3}},
		{tarball(t, filepath.Join(dir, "my-tool-2.1.0-rc1.tar.gz"), 4, "gz"), report.Package{Kind: "tar", Name: "my-tool", Version: "2.1.0-rc1", Entries: 4}},
		{tarball(t, filepath.Join(dir, "lib-3.tgz"), 1, "gz"), report.Package{Kind: "tar", Name: "lib", Version: "3", Entries: 1}},
		{tarball(t, filepath.Join(dir, "z-0.9.tar.zst"), 2, "zst"), report.Package{Kind: "tar", Name: "z", Version: "0.9", Entries: 2}},
		{tarball(t, filepath.Join(dir, "noversion.tar"), 1, ""), report.Package{Kind: "tar", Name: "noversion", Entries: 1}},
		{zipFile(t, filepath.Join(dir, "bundle-4.5.zip"), map[string][]byte{"a": []byte("a"), "b/c": []byte("c")}), report.Package{Kind: "zip", Name: "bundle", Version: "4.5", Entries: 2}},
	} {
		t.Run(filepath.Base(c.file), func(t *testing.T) {
			got, err := read(t, c.file)
			if err != nil {
				t.Fatal(err)
			}
			if *got != c.want {
				t.Errorf("got %+v, want %+v", *got, c.want)
			}
		})
	}
	// The real xz and bzip2 tools' tarballs.
	for _, tool := range []struct{ cmd, pkg, ext string }{{"xz", "xz-utils", ".tar.xz"}, {"bzip2", "bzip2", ".tar.bz2"}} {
		t.Run(tool.ext, func(t *testing.T) {
			testutil.NeedTool(t, tool.cmd, tool.pkg)
			p := tarball(t, filepath.Join(dir, "c-5.0.tar"), 6, "")
			run(t, dir, tool.cmd, "-k", "-f", p)
			got, err := read(t, p+strings.TrimPrefix(tool.ext, ".tar"))
			if err != nil {
				t.Fatal(err)
			}
			if want := (report.Package{Kind: "tar", Name: "c", Version: "5.0", Entries: 6}); *got != want {
				t.Errorf("got %+v, want %+v", *got, want)
			}
		})
	}
	// Any other name is not read at all.
	os.WriteFile(filepath.Join(dir, "notes.txt"), []byte("x"), 0o644)
	if p, err := read(t, filepath.Join(dir, "notes.txt")); p != nil || err != nil {
		t.Errorf("notes.txt: %+v, %v", p, err)
	}
}

// arFile writes an ar archive of the members, in order (the container a
// .deb is).
func arFile(t *testing.T, p string, members ...any) string {
	t.Helper()
	var b bytes.Buffer
	b.WriteString("!<arch>\n")
	for i := 0; i < len(members); i += 2 {
		name, body := members[i].(string), members[i+1].([]byte)
		fmt.Fprintf(&b, "%-16s%-12d%-6d%-6d%-8s%-10d`\n", name, 0, 0, 0, "100644", len(body))
		b.Write(body)
		if len(body)%2 == 1 {
			b.WriteByte('\n')
		}
	}
	os.WriteFile(p, b.Bytes(), 0o644)
	return p
}

// tarOf is a tar stream of the named files; size, when not 0, is what
// the first header claims.
func tarOf(t *testing.T, claim int64, files ...string) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for i := 0; i < len(files); i += 2 {
		body := []byte(files[i+1])
		tw.WriteHeader(&tar.Header{Name: files[i], Mode: 0o644, Size: int64(len(body)), Typeflag: tar.TypeReg})
		tw.Write(body)
	}
	tw.Close()
	b := buf.Bytes()
	if claim != 0 {
		// Rewrite the first header's size field (octal, 12 bytes at 124)
		// and its checksum, as a hostile writer would.
		copy(b[124:136], fmt.Sprintf("%011o\x00", claim))
		copy(b[148:156], "        ")
		sum := 0
		for _, c := range b[:512] {
			sum += int(c)
		}
		copy(b[148:156], fmt.Sprintf("%06o\x00 ", sum))
	}
	return b
}

func gz(b []byte) []byte {
	var buf bytes.Buffer
	w, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	w.Write(b)
	w.Close()
	return buf.Bytes()
}

const goodControl = "Package: hand\nVersion: 1.0\nArchitecture: all\n"

// A .deb made by hand: each attack beside its control, a .deb that
// differs only in what the attack changes.
func TestHostileDebs(t *testing.T) {
	dir := t.TempDir()
	data := tarOf(t, 0, "./usr/x", "x")
	deb := func(name string, control []byte) string {
		return arFile(t, filepath.Join(dir, name), "debian-binary", []byte("2.0\n"), "control.tar.gz", control, "data.tar", data)
	}
	// Control: the hand-made .deb is one.
	if p, err := read(t, deb("good.deb", gz(tarOf(t, 0, "./control", goodControl)))); err != nil || p.Name != "hand" || p.Entries != 1 {
		t.Fatalf("control: %+v, %v", p, err)
	}
	huge := strings.Repeat("a", 2*MaxControl)
	for _, c := range []struct {
		name, want string
		control    []byte
	}{
		// A control file whose header claims a terabyte.
		{"claims-huge.deb", "claims 8589934591 bytes", gz(tarOf(t, 8589934591, "./control", goodControl))},
		// A control file really larger than read.
		{"large-control.deb", "claims", gz(tarOf(t, 0, "./control", goodControl+"X-Pad: "+huge+"\n"))},
		// A control archive that expands far beyond its bound (a gzip bomb).
		{"bomb.deb", "larger than its bound", gz(tarOf(t, 0, "./md5sums", strings.Repeat("\x00", 3*MaxMeta), "./control", goodControl))},
		// No control file.
		{"no-control.deb", "no control file", gz(tarOf(t, 0, "./md5sums", "x"))},
		// A control file without a Version.
		{"no-version.deb", "Version", gz(tarOf(t, 0, "./control", "Package: x\nArchitecture: all\n"))},
		// Not gzip at all.
		{"not-gzip.deb", "not gzip", []byte("plain")},
	} {
		p, err := read(t, deb(c.name, c.control))
		if p != nil || err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %+v, %v; want an error with %q", c.name, p, err, c.want)
		}
	}
	// An ar member that claims more bytes than the file holds.
	b, _ := os.ReadFile(filepath.Join(dir, "good.deb"))
	i := bytes.Index(b, []byte("control.tar.gz"))
	copy(b[i+48:i+58], "9999999999")
	os.WriteFile(filepath.Join(dir, "member-huge.deb"), b, 0o644)
	if p, err := read(t, filepath.Join(dir, "member-huge.deb")); p != nil || err == nil || !strings.Contains(err.Error(), "claims 9999999999 bytes") {
		t.Errorf("member-huge.deb: %+v, %v", p, err)
	}
	// A file named .deb that is none.
	os.WriteFile(filepath.Join(dir, "text.deb"), []byte("just text, not an archive\n"), 0o644)
	if p, err := read(t, filepath.Join(dir, "text.deb")); p != nil || err == nil || !strings.Contains(err.Error(), "not a Debian package") {
		t.Errorf("text.deb: %+v, %v", p, err)
	}
	os.WriteFile(filepath.Join(dir, "empty.deb"), nil, 0o644)
	if p, err := read(t, filepath.Join(dir, "empty.deb")); p != nil || err == nil {
		t.Errorf("empty.deb: %+v, %v", p, err)
	}
}

// Fields are the build's: HTML stays as text (the site escapes it),
// control characters are written out, and length is bounded.
func TestFieldsAreCleaned(t *testing.T) {
	dir := t.TempDir()
	control := "Package: <script>alert(1)</script>\x1b[31m\nVersion: 1.0\x07" + strings.Repeat("9", 1000) + "\nArchitecture: all\n"
	p, err := read(t, arFile(t, filepath.Join(dir, "evil.deb"), "debian-binary", []byte("2.0\n"),
		"control.tar.gz", gz(tarOf(t, 0, "control", control)), "data.tar", tarOf(t, 0, "x", "x")))
	if err != nil {
		t.Fatal(err)
	}
	if p.Name != `<script>alert(1)</script>\u001b[31m` {
		t.Errorf("name %q", p.Name)
	}
	if !strings.HasPrefix(p.Version, `1.0\u0007999`) || len(p.Version) > MaxField+len("…") || !strings.HasSuffix(p.Version, "…") {
		t.Errorf("version %q (%d bytes)", p.Version, len(p.Version))
	}
	if got := clean("a\xffb\nc"); got != `a\xffb\u000ac` {
		t.Errorf("clean: %q", got)
	}
}

// An RPM cut short, or whose header declares more than is read, is not
// a package; the real one beside it is.
func TestHostileRPMs(t *testing.T) {
	dir := t.TempDir()
	good, err := os.ReadFile(makeRPM(t, dir))
	if err != nil {
		t.Fatal(err)
	}
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		os.WriteFile(p, b, 0o644)
		return p
	}
	if p, err := read(t, write("good.rpm", good)); err != nil || p.Name != "hello-rpm" {
		t.Fatalf("control: %+v, %v", p, err)
	}
	truncated := func(n int) []byte { return append([]byte(nil), good[:n]...) }
	declares := append([]byte(nil), good...)
	copy(declares[96+12:], []byte{0x7f, 0xff, 0xff, 0xff}) // the signature header's data size
	badOffset := append([]byte(nil), good...)
	// The signature header's first index entry points far outside its data.
	copy(badOffset[96+16+8:], []byte{0x7f, 0xff, 0xff, 0x00})
	for _, c := range []struct {
		name string
		b    []byte
		want string
	}{
		{"lead-only.rpm", truncated(96), "not an RPM"},
		{"half-header.rpm", truncated(400), "not an RPM"},
		{"cut-header.rpm", truncated(2000), "not an RPM"},
		{"declares.rpm", declares, "declares"},
		{"bad-offset.rpm", badOffset, "rpm"},
		{"text.rpm", []byte(strings.Repeat("not an rpm ", 20)), "not an RPM"},
	} {
		p, err := read(t, write(c.name, c.b))
		if p != nil || err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %+v, %v; want an error with %q", c.name, p, err, c.want)
		}
	}
}

// A tarball of a million entries is counted only up to MaxEntries; one
// that expands far beyond its ratio is read only that far; a zip bomb is
// never decompressed (its directory is read). Each beside its control.
func TestHostileArchives(t *testing.T) {
	dir := t.TempDir()

	// A million empty entries, gzipped.
	var buf bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&buf, gzip.BestSpeed)
	tw := tar.NewWriter(zw)
	for i := range 1000000 {
		tw.WriteHeader(&tar.Header{Name: fmt.Sprintf("f%d", i), Mode: 0o644, Typeflag: tar.TypeReg})
	}
	tw.Close()
	zw.Close()
	million := filepath.Join(dir, "many-1.0.tar.gz")
	os.WriteFile(million, buf.Bytes(), 0o644)
	if p, err := read(t, million); p != nil || err == nil || !(strings.Contains(err.Error(), fmt.Sprintf("more than %d entries", MaxEntries)) || strings.Contains(err.Error(), "bound")) {
		t.Errorf("a million entries: %+v, %v", p, err)
	}
	// Control: MaxEntries entries are counted.
	if p, err := read(t, tarball(t, filepath.Join(dir, "max-1.0.tar.gz"), MaxEntries, "gz")); err != nil || p.Entries != MaxEntries {
		t.Errorf("%d entries: %+v, %v", MaxEntries, p, err)
	}

	// One entry of 200 MB of zeros: a ratio of about 1000.
	buf.Reset()
	zw, _ = gzip.NewWriterLevel(&buf, gzip.BestCompression)
	tw = tar.NewWriter(zw)
	const big = 200 << 20
	tw.WriteHeader(&tar.Header{Name: "zeros", Mode: 0o644, Size: big, Typeflag: tar.TypeReg})
	zero := make([]byte, 1<<20)
	for range big >> 20 {
		tw.Write(zero)
	}
	tw.Close()
	zw.Close()
	bomb := filepath.Join(dir, "bomb-1.0.tar.gz")
	os.WriteFile(bomb, buf.Bytes(), 0o644)
	if p, err := read(t, bomb); p != nil || err == nil || !strings.Contains(err.Error(), "larger than its bound") {
		t.Errorf("a gzip bomb (%d bytes): %+v, %v", buf.Len(), p, err)
	}
	// Control: the same content uncompressed is within its bound.
	plain := filepath.Join(dir, "plain-1.0.tar")
	f, _ := os.Create(plain)
	tw = tar.NewWriter(f)
	tw.WriteHeader(&tar.Header{Name: "zeros", Mode: 0o644, Size: big, Typeflag: tar.TypeReg})
	f.Truncate(512 + big) // sparse: the zeros are not written
	f.Seek(512+big, 0)
	tw = tar.NewWriter(f)
	tw.Close()
	f.Close()
	if p, err := read(t, plain); err != nil || p.Entries != 1 {
		t.Errorf("control, plain: %+v, %v", p, err)
	}

	// A zip whose one entry expands to 1 GiB: listed, not expanded.
	buf.Reset()
	zipw := zip.NewWriter(&buf)
	w, _ := zipw.Create("zeros")
	for range 1 << 10 {
		w.Write(zero)
	}
	zipw.Close()
	zipBomb := filepath.Join(dir, "zbomb-1.0.zip")
	os.WriteFile(zipBomb, buf.Bytes(), 0o644)
	if p, err := read(t, zipBomb); err != nil || p.Entries != 1 {
		t.Errorf("zip bomb: %+v, %v", p, err)
	}
	// A zip file that is not one, and one cut short.
	os.WriteFile(filepath.Join(dir, "text.zip"), []byte("PK but not really"), 0o644)
	os.WriteFile(filepath.Join(dir, "cut.zip"), buf.Bytes()[:buf.Len()/2], 0o644)
	for _, n := range []string{"text.zip", "cut.zip"} {
		if p, err := read(t, filepath.Join(dir, n)); p != nil || err == nil || !strings.Contains(err.Error(), "not a zip file") {
			t.Errorf("%s: %+v, %v", n, p, err)
		}
	}
	// A tarball that is not one.
	os.WriteFile(filepath.Join(dir, "text.tar.gz"), []byte("not gzip"), 0o644)
	if p, err := read(t, filepath.Join(dir, "text.tar.gz")); p != nil || err == nil {
		t.Errorf("text.tar.gz: %+v, %v", p, err)
	}
}

func TestFileNames(t *testing.T) {
	for _, c := range []struct{ file, kind, name, version string }{
		{"foo-1.0.tar.gz", "tar", "foo", "1.0"},
		{"foo-bar-2.tar.xz", "tar", "foo-bar", "2"},
		{"python3-x-0.1b1.zip", "zip", "python3-x", "0.1b1"},
		{"-1.0.tar", "tar", "-1.0", ""},
		{"FOO-1.TAR.GZ", "tar", "FOO", "1"},
		{"x.deb", "deb", "", ""},
		{"x.tar.lz", "", "", ""},
	} {
		if k := Kind(c.file); k != c.kind {
			t.Errorf("%s: kind %q, want %q", c.file, k, c.kind)
			continue
		}
		if c.kind != "tar" && c.kind != "zip" {
			continue
		}
		suffix, _, _ := tarSuffix(strings.ToLower(c.file))
		if c.kind == "zip" {
			suffix = ".zip"
		}
		p := fromFileName(c.file, suffix)
		if p.Name != c.name || p.Version != c.version {
			t.Errorf("%s: %q %q, want %q %q", c.file, p.Name, p.Version, c.name, c.version)
		}
	}
}
