package repo

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"pault.ag/go/debian/control"
	"pault.ag/go/debian/deb"
)

// The fields of a Packages stanza that describe the file, written from
// what the site knows of it, never from the package's control file.
var fileFields = map[string]bool{
	"filename": true, "size": true, "md5sum": true, "sha1": true, "sha256": true, "sha512": true,
}

// fieldName is what a control field's name may be here.
var fieldName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9-]{0,62}$`)

// writeApt writes the flat apt repository dir (repos/apt) of the site.
func (r *Repos) writeApt(ctx context.Context, key *Key, site, dir, prev string, debs []pkg) error {
	if err := os.Mkdir(dir, 0o755); err != nil {
		return err
	}
	if err := linkPool(site, dir, debs); err != nil {
		return err
	}
	var cached map[stanzaKey][]byte
	if prev != "" {
		cached = previousStanzas(key, filepath.Join(prev, "apt"))
	}
	var idx bytes.Buffer
	for _, p := range debs {
		if err := ctx.Err(); err != nil {
			return context.Cause(ctx)
		}
		if c, ok := cached[stanzaKey{p.a.SHA256, p.a.Size}]; ok {
			idx.Write(c)
		} else {
			para, err := readControl(filepath.Join(dir, filepath.FromSlash(p.pool())))
			if err != nil {
				return fmt.Errorf("%s: %v", p.site(), err)
			}
			if err := writeControl(&idx, para); err != nil {
				return fmt.Errorf("%s: %v", p.site(), err)
			}
		}
		writeFileFields(&idx, p)
	}
	return r.writeAptIndexes(key, dir, idx.Bytes(), time.Now())
}

// writeAptIndexes writes Packages, Packages.gz and the signed Release
// files into dir.
func (r *Repos) writeAptIndexes(key *Key, dir string, packages []byte, now time.Time) error {
	var gz bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&gz, gzip.DefaultCompression)
	zw.Write(packages)
	if err := zw.Close(); err != nil {
		return err
	}
	label := r.Label
	if label == "" {
		label = "autobuild"
	}
	label = strings.Map(func(c rune) rune {
		if c < 0x20 || c == 0x7f {
			return -1
		}
		return c
	}, label)
	var rel bytes.Buffer
	fmt.Fprintf(&rel, "Origin: %s\nLabel: %s\nSuite: autobuild\nCodename: autobuild\n", label, label)
	fmt.Fprintf(&rel, "Date: %s\nAcquire-By-Hash: no\nSHA256:\n", now.UTC().Format("Mon, 02 Jan 2006 15:04:05 UTC"))
	for _, f := range []struct {
		name string
		b    []byte
	}{{"Packages", packages}, {"Packages.gz", gz.Bytes()}} {
		sum := sha256.Sum256(f.b)
		fmt.Fprintf(&rel, " %s %d %s\n", hex.EncodeToString(sum[:]), len(f.b), f.name)
	}
	inrel, err := key.ClearSign(rel.Bytes())
	if err != nil {
		return fmt.Errorf("sign InRelease: %w", err)
	}
	sig, err := key.DetachSign(rel.Bytes())
	if err != nil {
		return fmt.Errorf("sign Release: %w", err)
	}
	for _, f := range []struct {
		name string
		b    []byte
	}{{"Packages", packages}, {"Packages.gz", gz.Bytes()}, {"Release", rel.Bytes()}, {"Release.gpg", sig}, {"InRelease", inrel}} {
		if err := writeFile(filepath.Join(dir, f.name), f.b); err != nil {
			return err
		}
	}
	return nil
}

// stanzaKey is what proves a package unchanged: its SHA-256 and size, as
// the run's report gives them.
type stanzaKey struct {
	sha256 string
	size   int64
}

// Bounds of what is read of a previous apt repository.
const (
	maxRelease  = 1 << 20
	maxPackages = 1 << 30
)

// previousStanzas reads the Packages file of the live site's apt
// repository dir, which writeApt wrote: the control part of each stanza
// (all but its last three lines, the file's fields), by the key of the
// package it describes. Only a Packages file whose SHA-256 and size are
// those its Release lists, signed by key (Release.gpg), is read: the
// stanzas then are exactly what a run wrote and signed, and a file
// changed, truncated or signed by another key is no help (every package
// is read again).
func previousStanzas(key *Key, dir string) map[stanzaKey][]byte {
	rel, err := readFile(filepath.Join(dir, "Release"), maxRelease)
	if err != nil {
		return nil
	}
	sig, err := readFile(filepath.Join(dir, "Release.gpg"), maxRelease)
	if err != nil || key.verify(rel, sig) != nil {
		return nil
	}
	sum, size, ok := releaseEntry(rel, "Packages")
	if !ok || size > maxPackages {
		return nil
	}
	pk, err := readFile(filepath.Join(dir, "Packages"), size)
	if err != nil || int64(len(pk)) != size {
		return nil
	}
	if got := sha256.Sum256(pk); hex.EncodeToString(got[:]) != sum {
		return nil
	}
	m := map[stanzaKey][]byte{}
	for len(pk) > 0 {
		end := bytes.Index(pk, []byte("\n\n"))
		if end < 0 {
			return nil
		}
		st := pk[:end+1]
		pk = pk[end+2:]
		i := bytes.LastIndex(st, []byte("\nFilename: "))
		if i < 0 {
			return nil
		}
		f := strings.Split(string(st[i+1:len(st)-1]), "\n")
		if len(f) != 3 || !strings.HasPrefix(f[1], "Size: ") || !strings.HasPrefix(f[2], "SHA256: ") {
			return nil
		}
		n, err := strconv.ParseInt(strings.TrimPrefix(f[1], "Size: "), 10, 64)
		if err != nil {
			return nil
		}
		m[stanzaKey{strings.TrimPrefix(f[2], "SHA256: "), n}] = st[:i+1]
	}
	return m
}

// releaseEntry finds name's SHA-256 and size in a Release file.
func releaseEntry(rel []byte, name string) (sum string, size int64, ok bool) {
	in := false
	for _, l := range strings.Split(string(rel), "\n") {
		if !strings.HasPrefix(l, " ") {
			in = l == "SHA256:"
			continue
		}
		f := strings.Fields(l)
		if in && len(f) == 3 && f[2] == name && len(f[0]) == 64 {
			n, err := strconv.ParseInt(f[1], 10, 64)
			if err != nil || n < 0 {
				return "", 0, false
			}
			return f[0], n, true
		}
	}
	return "", 0, false
}

// maxControl bounds the control data read of a .deb.
const maxControl = 1 << 20

// readControl reads the control file of the .deb at path.
func readControl(path string) (para control.Paragraph, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("unreadable .deb: %v", p)
		}
	}()
	f, err := os.Open(path)
	if err != nil {
		return para, err
	}
	defer f.Close()
	d, err := deb.Load(f, path)
	if err != nil {
		return para, fmt.Errorf("unreadable .deb: %v", err)
	}
	defer d.Close()
	var b bytes.Buffer
	if err := d.Control.Paragraph.WriteTo(&limitWriter{w: &b, n: maxControl}); err != nil {
		return para, fmt.Errorf("control file: %v", err)
	}
	return d.Control.Paragraph, nil
}

// writeControl writes the control part of a package's stanza: the
// control file's fields, each name checked, each value's lines indented
// so that none can start a field or a stanza, the file's fields left out.
func writeControl(w *bytes.Buffer, para control.Paragraph) error {
	for _, k := range []string{"Package", "Version", "Architecture"} {
		if strings.TrimSpace(para.Values[k]) == "" {
			return fmt.Errorf("its control file has no %s", k)
		}
	}
	seen := map[string]bool{}
	for _, k := range para.Order {
		lk := strings.ToLower(k)
		if !fieldName.MatchString(k) || fileFields[lk] || seen[lk] {
			continue
		}
		seen[lk] = true
		lines := strings.Split(strings.TrimRight(para.Values[k], "\n"), "\n")
		w.WriteString(k + ":")
		for i, l := range lines {
			l = strings.Map(func(c rune) rune {
				if c < 0x20 && c != '\t' || c == 0x7f {
					return -1
				}
				return c
			}, l)
			switch {
			case i == 0 && l != "":
				w.WriteString(" " + l)
			case i == 0:
			case strings.TrimSpace(l) == "":
				w.WriteString("\n .")
			default:
				w.WriteString("\n " + l)
			}
		}
		w.WriteByte('\n')
	}
	return nil
}

// writeFileFields ends p's stanza with the file's fields, from the site's
// report (previousStanzas reads them back as the last three lines).
func writeFileFields(w *bytes.Buffer, p pkg) {
	w.WriteString("Filename: " + p.pool() + "\n")
	w.WriteString("Size: " + strconv.FormatInt(p.a.Size, 10) + "\n")
	w.WriteString("SHA256: " + p.a.SHA256 + "\n\n")
}

// limitWriter fails once more than n bytes are written.
type limitWriter struct {
	w io.Writer
	n int64
}

func (l *limitWriter) Write(b []byte) (int, error) {
	if int64(len(b)) > l.n {
		return 0, fmt.Errorf("larger than %d bytes", maxControl)
	}
	l.n -= int64(len(b))
	return l.w.Write(b)
}
