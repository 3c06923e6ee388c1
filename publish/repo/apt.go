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
	var cached map[string]control.Paragraph
	if prev != "" {
		cached = readStanzas(filepath.Join(prev, "apt", "Packages"))
	}
	var idx bytes.Buffer
	for _, p := range debs {
		if err := ctx.Err(); err != nil {
			return context.Cause(ctx)
		}
		para, ok := cached[p.a.SHA256]
		if !ok {
			var err error
			if para, err = readControl(filepath.Join(dir, filepath.FromSlash(p.pool()))); err != nil {
				return fmt.Errorf("%s: %v", p.site(), err)
			}
		}
		if err := writeStanza(&idx, para, p); err != nil {
			return fmt.Errorf("%s: %v", p.site(), err)
		}
	}
	return r.writeAptIndexes(key, dir, idx.Bytes(), time.Now())
}

// writeAptIndexes writes Packages, Packages.gz and the signed Release
// files into dir.
func (r *Repos) writeAptIndexes(key *Key, dir string, packages []byte, now time.Time) error {
	var gz bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&gz, gzip.BestCompression)
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

// readStanzas reads a Packages file the repository wrote before, by each
// stanza's SHA256; an unreadable one is no help.
func readStanzas(path string) map[string]control.Paragraph {
	f, err := os.Open(path)
	if err != nil {
		return nil
	}
	defer f.Close()
	pr, err := control.NewParagraphReader(f, nil)
	if err != nil {
		return nil
	}
	all, err := pr.All()
	if err != nil {
		return nil
	}
	m := make(map[string]control.Paragraph, len(all))
	for _, p := range all {
		if s := p.Values["SHA256"]; len(s) == 64 {
			m[s] = p
		}
	}
	return m
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

// writeStanza writes p's stanza: the control file's fields (each name
// checked, each value's lines indented so that none can start a field or
// a stanza), then the file's, from the site's report.
func writeStanza(w *bytes.Buffer, para control.Paragraph, p pkg) error {
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
	w.WriteString("Filename: " + p.pool() + "\n")
	w.WriteString("Size: " + strconv.FormatInt(p.a.Size, 10) + "\n")
	w.WriteString("SHA256: " + p.a.SHA256 + "\n\n")
	return nil
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
