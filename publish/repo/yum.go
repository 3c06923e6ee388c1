package repo

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// The yum metadata: three files of per-package entries (the <package>
// elements createrepo_c writes), gzipped, each listed with its SHA-256 in
// repodata/repomd.xml, which is signed (repomd.xml.asc). No sqlite
// databases: dnf reads the XML.
//
// writeYum keeps each unchanged package's entries from the live site's
// metadata, runs createrepo_c over only the packages it lacks, and
// writes the three files and repomd.xml itself, the packages in the
// run's order. A new package's entries are taken only if createrepo_c
// found the SHA-256 and size the report gives.
var yumFiles = [3]struct{ name, root, open string }{
	{"primary", "metadata", `<metadata xmlns="http://linux.duke.edu/metadata/common" xmlns:rpm="http://linux.duke.edu/metadata/rpm" packages="%d">`},
	{"filelists", "filelists", `<filelists xmlns="http://linux.duke.edu/metadata/filelists" packages="%d">`},
	{"other", "otherdata", `<otherdata xmlns="http://linux.duke.edu/metadata/other" packages="%d">`},
}

// yumEntries are packages' entries in the three files. primary's entry
// of a package names its path (location) and size; filelists' and
// other's only its SHA-256 (pkgid), and depend on nothing else.
type yumEntries struct {
	primary          map[yumKey][]byte
	filelists, other map[string][]byte
}

// yumKey is what proves a package's primary entry its own: the package's
// SHA-256 and size, as the run's report gives them, and its pool path.
type yumKey struct {
	sha256, href string
	size         int64
}

func (p pkg) yumKey() yumKey { return yumKey{p.a.SHA256, p.pool(), p.a.Size} }

// has reports whether e holds all three entries of p.
func (e *yumEntries) has(p pkg) bool {
	if e == nil {
		return false
	}
	_, ok1 := e.primary[p.yumKey()]
	_, ok2 := e.filelists[p.a.SHA256]
	_, ok3 := e.other[p.a.SHA256]
	return ok1 && ok2 && ok3
}

// entry is p's entry in the i-th file of yumFiles.
func (e *yumEntries) entry(i int, p pkg) ([]byte, bool) {
	if e == nil {
		return nil, false
	}
	var b []byte
	switch i {
	case 0:
		b = e.primary[p.yumKey()]
	case 1:
		b = e.filelists[p.a.SHA256]
	case 2:
		b = e.other[p.a.SHA256]
	}
	return b, b != nil
}

// writeYum writes the yum repository dir (repos/yum) of the site, and
// signs its repomd.xml. createrepo_c reads the packages the live site's
// metadata lacks from the site's copies while their pool is linked.
func (r *Repos) writeYum(ctx context.Context, key *Key, site, dir, prev string, rpms []pkg) error {
	if err := os.Mkdir(dir, 0o755); err != nil {
		return err
	}
	var old *yumEntries
	if prev != "" {
		old = previousEntries(key, filepath.Join(prev, "yum"))
	}
	var missing []pkg
	for _, p := range rpms {
		if !old.has(p) {
			missing = append(missing, p)
		}
	}
	cctx, cancel := context.WithCancel(ctx)
	defer cancel()
	type indexed struct {
		e   *yumEntries
		err error
	}
	done := make(chan indexed, 1)
	if len(missing) > 0 {
		go func() {
			e, err := r.createrepo(cctx, site, filepath.Dir(dir), missing)
			done <- indexed{e, err}
		}()
	} else {
		done <- indexed{}
	}
	if err := linkPool(site, dir, rpms); err != nil {
		cancel()
		<-done
		return err
	}
	fresh := <-done
	if fresh.err != nil {
		return fresh.err
	}
	if err := ctx.Err(); err != nil {
		return context.Cause(ctx)
	}
	repodata := filepath.Join(dir, "repodata")
	if err := os.Mkdir(repodata, 0o755); err != nil {
		return err
	}
	now := strconv.FormatInt(time.Now().Unix(), 10)
	var md bytes.Buffer
	md.WriteString(`<?xml version="1.0" encoding="UTF-8"?>` + "\n")
	md.WriteString(`<repomd xmlns="http://linux.duke.edu/metadata/repo" xmlns:rpm="http://linux.duke.edu/metadata/rpm">` + "\n")
	md.WriteString("  <revision>" + now + "</revision>\n")
	for i, f := range yumFiles {
		var x bytes.Buffer
		x.WriteString(`<?xml version="1.0" encoding="UTF-8"?>` + "\n")
		fmt.Fprintf(&x, f.open+"\n", len(rpms))
		for _, p := range rpms {
			e, ok := old.entry(i, p)
			if !ok {
				e, ok = fresh.e.entry(i, p)
			}
			if !ok {
				return fmt.Errorf("createrepo_c did not index %s as the report describes it (SHA-256 %s, %d bytes)", p.site(), p.a.SHA256, p.a.Size)
			}
			x.Write(e)
			x.WriteByte('\n')
		}
		x.WriteString("</" + f.root + ">")
		var gz bytes.Buffer
		zw := gzip.NewWriter(&gz)
		zw.Write(x.Bytes())
		if err := zw.Close(); err != nil {
			return err
		}
		sum, open := sha256.Sum256(gz.Bytes()), sha256.Sum256(x.Bytes())
		name := hex.EncodeToString(sum[:]) + "-" + f.name + ".xml.gz"
		if err := writeFile(filepath.Join(repodata, name), gz.Bytes()); err != nil {
			return err
		}
		fmt.Fprintf(&md, "  <data type=\"%s\">\n", f.name)
		fmt.Fprintf(&md, "    <checksum type=\"sha256\">%x</checksum>\n", sum)
		fmt.Fprintf(&md, "    <open-checksum type=\"sha256\">%x</open-checksum>\n", open)
		fmt.Fprintf(&md, "    <location href=\"repodata/%s\"/>\n", name)
		fmt.Fprintf(&md, "    <timestamp>%s</timestamp>\n", now)
		fmt.Fprintf(&md, "    <size>%d</size>\n", gz.Len())
		fmt.Fprintf(&md, "    <open-size>%d</open-size>\n", x.Len())
		md.WriteString("  </data>\n")
	}
	md.WriteString("</repomd>\n")
	sig, err := key.DetachSign(md.Bytes())
	if err != nil {
		return fmt.Errorf("sign repomd.xml: %w", err)
	}
	if err := writeFile(filepath.Join(repodata, "repomd.xml"), md.Bytes()); err != nil {
		return err
	}
	return writeFile(filepath.Join(repodata, "repomd.xml.asc"), sig)
}

// createrepo indexes ps with createrepo_c: it reads the site's copies
// (packages/<module>/<path>, located as pool/<module>/<path>) and writes
// its metadata into a folder of its own in tmp, removed after. It returns
// their entries.
func (r *Repos) createrepo(ctx context.Context, site, tmp string, ps []pkg) (*yumEntries, error) {
	aside, err := os.MkdirTemp(tmp, ".createrepo-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(aside)
	var list strings.Builder
	for _, p := range ps {
		list.WriteString(p.module + "/" + p.a.Path + "\n")
	}
	pkglist, out := filepath.Join(aside, "pkglist"), filepath.Join(aside, "out")
	if err := os.WriteFile(pkglist, []byte(list.String()), 0o644); err != nil {
		return nil, err
	}
	if err := os.Mkdir(out, 0o755); err != nil {
		return nil, err
	}
	if err := r.run(ctx, []string{"--no-database", "--workers", "1", "--quiet",
		"--checksum", "sha256", "--repomd-checksum", "sha256", "--general-compress-type", "gz",
		"--pkglist", pkglist, "--location-prefix", "pool", "--outputdir", out,
		filepath.Join(site, "packages")}); err != nil {
		return nil, err
	}
	md, err := readFile(filepath.Join(out, "repodata", "repomd.xml"), maxRepomd)
	if err != nil {
		return nil, fmt.Errorf("createrepo_c wrote no repomd.xml: %v", err)
	}
	e, err := readEntries(out, md)
	if err != nil {
		return nil, fmt.Errorf("createrepo_c's metadata: %v", err)
	}
	return e, nil
}

// Bounds of what is read of yum metadata.
const (
	maxRepomd   = 1 << 20
	maxMetadata = 1 << 30
)

// previousEntries reads the entries of the live site's yum repository
// dir, which writeYum wrote. Only a repomd.xml signed by key
// (repomd.xml.asc) is read, and only files whose SHA-256 it lists: the
// entries then are exactly what a run wrote and signed, and metadata
// changed, truncated or signed by another key is no help (every package
// is read again).
func previousEntries(key *Key, dir string) *yumEntries {
	md, err := readFile(filepath.Join(dir, "repodata", "repomd.xml"), maxRepomd)
	if err != nil {
		return nil
	}
	sig, err := readFile(filepath.Join(dir, "repodata", "repomd.xml.asc"), maxRepomd)
	if err != nil || key.verify(md, sig) != nil {
		return nil
	}
	e, err := readEntries(dir, md)
	if err != nil {
		return nil
	}
	return e
}

// metadataName is what a metadata file's name may be.
var metadataName = regexp.MustCompile(`^[A-Za-z0-9._-]+\.xml\.gz$`)

// readEntries reads the entries of the yum repository dir whose
// repomd.xml is md: each of the three files must be gzipped XML with the
// SHA-256 md lists, and hold as many entries as it says.
func readEntries(dir string, md []byte) (*yumEntries, error) {
	var doc struct {
		Data []struct {
			Type     string `xml:"type,attr"`
			Checksum struct {
				Type string `xml:"type,attr"`
				Sum  string `xml:",chardata"`
			} `xml:"checksum"`
			Location struct {
				Href string `xml:"href,attr"`
			} `xml:"location"`
			OpenSize int64 `xml:"open-size"`
		} `xml:"data"`
	}
	if err := xml.Unmarshal(md, &doc); err != nil {
		return nil, fmt.Errorf("repomd.xml: %v", err)
	}
	e := &yumEntries{primary: map[yumKey][]byte{}, filelists: map[string][]byte{}, other: map[string][]byte{}}
	for i, f := range yumFiles {
		var b []byte
		for _, d := range doc.Data {
			if d.Type != f.name {
				continue
			}
			name, ok := strings.CutPrefix(d.Location.Href, "repodata/")
			if !ok || !metadataName.MatchString(name) || d.Checksum.Type != "sha256" || d.OpenSize <= 0 || d.OpenSize > maxMetadata {
				return nil, fmt.Errorf("repomd.xml: %s: not a gzipped file of repodata/ with its SHA-256 and size", f.name)
			}
			gz, err := readFile(filepath.Join(dir, "repodata", name), maxMetadata)
			if err != nil {
				return nil, err
			}
			if sum := sha256.Sum256(gz); hex.EncodeToString(sum[:]) != strings.TrimSpace(d.Checksum.Sum) {
				return nil, fmt.Errorf("%s: its SHA-256 is not the one repomd.xml lists", name)
			}
			zr, err := gzip.NewReader(bytes.NewReader(gz))
			if err != nil {
				return nil, fmt.Errorf("%s: %v", name, err)
			}
			if b, err = io.ReadAll(io.LimitReader(zr, d.OpenSize+1)); err != nil {
				return nil, fmt.Errorf("%s: %v", name, err)
			}
			if int64(len(b)) != d.OpenSize {
				return nil, fmt.Errorf("%s: not the size repomd.xml lists", name)
			}
			break
		}
		if b == nil {
			return nil, fmt.Errorf("repomd.xml lists no %s", f.name)
		}
		ents, err := splitEntries(b, f.root)
		if err != nil {
			return nil, fmt.Errorf("%s: %v", f.name, err)
		}
		for _, x := range ents {
			if i == 0 {
				k, ok := primaryKey(x)
				if !ok {
					return nil, fmt.Errorf("primary: an entry without its SHA-256, size or location")
				}
				e.primary[k] = x
				continue
			}
			id, ok := attr(x[:bytes.IndexByte(x, '>')], "pkgid")
			if !ok || len(id) != 64 {
				return nil, fmt.Errorf("%s: an entry without its pkgid", f.name)
			}
			if i == 1 {
				e.filelists[id] = x
			} else {
				e.other[id] = x
			}
		}
	}
	return e, nil
}

// splitEntries splits the XML of a metadata file, whose root element is
// root, into its <package> elements, as createrepo_c and writeYum write
// them: one after the other, each ended by the first "</package>" after
// its start (a "<" in text is escaped). The root's packages attribute
// must count them.
func splitEntries(b []byte, root string) ([][]byte, error) {
	i := bytes.Index(b, []byte("<"+root+" "))
	if i < 0 {
		return nil, fmt.Errorf("no <%s>", root)
	}
	j := bytes.IndexByte(b[i:], '>')
	if j < 0 {
		return nil, fmt.Errorf("no <%s>", root)
	}
	count, ok := attr(b[i:i+j], "packages")
	n, err := strconv.Atoi(count)
	if !ok || err != nil || n < 0 {
		return nil, errors.New("no count of its packages")
	}
	rest := b[i+j+1:]
	ents := make([][]byte, 0, n)
	const end = "</package>"
	for {
		rest = bytes.TrimLeft(rest, " \t\r\n")
		if r, ok := bytes.CutPrefix(rest, []byte("</"+root+">")); ok {
			if len(bytes.TrimSpace(r)) != 0 {
				return nil, fmt.Errorf("text after </%s>", root)
			}
			break
		}
		if !bytes.HasPrefix(rest, []byte("<package ")) {
			return nil, errors.New("an element that is not a <package>")
		}
		k := bytes.Index(rest, []byte(end))
		if k < 0 {
			return nil, errors.New("a <package> not ended")
		}
		ents = append(ents, rest[:k+len(end)])
		rest = rest[k+len(end):]
	}
	if len(ents) != n {
		return nil, fmt.Errorf("%d packages, not the %d it counts", len(ents), n)
	}
	return ents, nil
}

// primaryKey reads the SHA-256, size and location of a primary entry.
func primaryKey(x []byte) (yumKey, bool) {
	var k yumKey
	const sum = `<checksum type="sha256" pkgid="YES">`
	i := bytes.Index(x, []byte(sum))
	if i < 0 || len(x) < i+len(sum)+64 {
		return k, false
	}
	k.sha256 = string(x[i+len(sum) : i+len(sum)+64])
	if !bytes.HasPrefix(x[i+len(sum)+64:], []byte("</checksum>")) {
		return k, false
	}
	tag := func(name string) []byte {
		i := bytes.Index(x, []byte("<"+name+" "))
		if i < 0 {
			return nil
		}
		j := bytes.IndexByte(x[i:], '>')
		if j < 0 {
			return nil
		}
		return x[i : i+j]
	}
	var ok bool
	if k.href, ok = attr(tag("location"), "href"); !ok {
		return k, false
	}
	size, ok := attr(tag("size"), "package")
	var err error
	if k.size, err = strconv.ParseInt(size, 10, 64); !ok || err != nil {
		return k, false
	}
	return k, true
}

// attr is the value of the attribute name in the start tag tag.
func attr(tag []byte, name string) (string, bool) {
	i := bytes.Index(tag, []byte(" "+name+`="`))
	if i < 0 {
		return "", false
	}
	v := tag[i+len(name)+3:]
	j := bytes.IndexByte(v, '"')
	if j < 0 {
		return "", false
	}
	return string(v[:j]), true
}

// run runs createrepo_c, bounded by Timeout and ctx.
func (r *Repos) run(ctx context.Context, args []string) error {
	timeout := r.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	prog := r.Createrepo
	if prog == "" {
		prog = "createrepo_c"
	}
	tctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	cmd := exec.CommandContext(tctx, prog, args...)
	cmd.Env = []string{"PATH=/usr/local/bin:/usr/bin:/bin", "LC_ALL=C", "HOME=/nonexistent"}
	out := &tail{max: 4096}
	cmd.Stdout, cmd.Stderr = out, out
	// createrepo_c and anything it starts are one session, killed
	// together.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 10 * time.Second
	err := cmd.Run()
	switch {
	case err == nil:
		return nil
	case ctx.Err() != nil:
		return fmt.Errorf("createrepo_c stopped: %w", context.Cause(ctx))
	case tctx.Err() != nil:
		return fmt.Errorf("createrepo_c still ran after %v: killed%s", timeout, out.said())
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return fmt.Errorf("createrepo_c exited with status %d%s", ee.ExitCode(), out.said())
	}
	return fmt.Errorf("createrepo_c: %v%s", err, out.said())
}

// tail keeps the last max bytes written to it.
type tail struct {
	max int
	b   []byte
}

func (t *tail) Write(p []byte) (int, error) {
	t.b = append(t.b, p...)
	if len(t.b) > t.max {
		t.b = t.b[len(t.b)-t.max:]
	}
	return len(p), nil
}

func (t *tail) said() string {
	s := strings.TrimSpace(string(t.b))
	if s == "" {
		return ""
	}
	return ": " + s
}
