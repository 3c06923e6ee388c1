package darcs

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/autobuild/autobuild/scm"
)

// dateLayout is the form of a patch's date attribute in darcs log
// --xml-output: its record time in UTC, to the second.
const dateLayout = "20060102150405"

// when is the patch's record time.
func (p patch) when() (time.Time, error) {
	t, err := time.ParseInLocation(dateLayout, p.Date, time.UTC)
	if err != nil {
		return time.Time{}, fmt.Errorf("patch %s: date %q is not of the form YYYYMMDDhhmmss", p.Hash, p.Date)
	}
	return t, nil
}

// ResolveAt implements scm.SCM. A tag or commit pin is Resolve's. Else
// the repository's patch log is read as Resolve reads it (nothing is
// fetched: the log holds every patch's date), and the revision is the
// newest patch, in the repository's order, recorded at or before at:
// the patch a Checkout then clones up to.
func (Darcs) ResolveAt(ctx context.Context, src scm.Source, at time.Time, d scm.Dirs) (scm.Revision, error) {
	if err := (Darcs{}).Validate(src); err != nil {
		return scm.Revision{}, err
	}
	if src.Commit != "" || src.Tag != "" {
		return Darcs{}.Resolve(ctx, src)
	}
	home, err := os.MkdirTemp("", "darcs-home-")
	if err != nil {
		return scm.Revision{}, err
	}
	defer os.RemoveAll(home)
	patches, err := log(ctx, home, location(src))
	if err != nil {
		return scm.Revision{}, err
	}
	if len(patches) == 0 {
		return scm.Revision{}, fmt.Errorf("%s: no patches", src.URL)
	}
	var oldest time.Time
	for _, p := range patches {
		t, err := p.when()
		if err != nil {
			return scm.Revision{}, fmt.Errorf("%s: %w", src.URL, err)
		}
		if !t.After(at) {
			if !hashRE.MatchString(p.Hash) {
				return scm.Revision{}, fmt.Errorf("%s: patch hash %q is not 40 hex digits", src.URL, p.Hash)
			}
			return scm.Revision{ID: p.Hash}, nil
		}
		if oldest.IsZero() || t.Before(oldest) {
			oldest = t
		}
	}
	return scm.Revision{}, fmt.Errorf("%s: %w (%s; its oldest patch is of %s)",
		src.URL, scm.ErrNoRevisionAt, at.UTC().Format(time.RFC3339), oldest.Format(time.RFC3339))
}

// Changes implements scm.SCM, from the clone in d.Meta (which a Checkout
// of to leaves at to): its patches up to to, newest first in the
// repository's order, until from. A patch's files are those its summary
// adds, removes or modifies, and both names of a moved file; a moved
// folder counts every file it held.
func (Darcs) Changes(ctx context.Context, src scm.Source, d scm.Dirs, from, to scm.Revision, max int) ([]scm.Change, error) {
	if !hashRE.MatchString(to.ID) {
		return nil, fmt.Errorf("revision %q is not a patch hash", to.ID)
	}
	if from.ID != "" && !hashRE.MatchString(from.ID) {
		return nil, fmt.Errorf("revision %q is not a patch hash", from.ID)
	}
	if max <= 0 {
		return nil, nil
	}
	tree := filepath.Join(d.Meta, treeDir)
	if st, err := os.Stat(filepath.Join(tree, "_darcs")); err != nil || !st.IsDir() {
		return nil, fmt.Errorf("%s holds no darcs clone: check out %s first", d.Meta, to.ID)
	}
	home, err := os.MkdirTemp("", "darcs-home-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(home)
	patches, err := log(ctx, home, tree, "--summary", fmt.Sprintf("--max-count=%d", max), "--to-hash="+to.ID)
	if err != nil {
		return nil, err
	}
	if len(patches) == 0 || patches[0].Hash != to.ID {
		return nil, fmt.Errorf("%s: the clone in %s holds no patch %s", src.URL, d.Meta, to.ID)
	}
	var cs []scm.Change
	for _, p := range patches {
		if p.Hash == from.ID {
			break
		}
		t, err := p.when()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", src.URL, err)
		}
		files, err := p.files(ctx, home, tree)
		if err != nil {
			return nil, err
		}
		c := scm.Change{ID: p.Hash, Author: p.Author, Date: t, Subject: scm.Subject(p.Name)}
		c.SetFiles(files)
		cs = append(cs, c)
	}
	return cs, nil
}

// files lists the files p's summary names. A move names no kind: the
// files of the clone's state at p tell a moved file from a moved folder.
func (p patch) files(ctx context.Context, home, tree string) ([]string, error) {
	var files []string
	var state map[string]bool // the files at p, read once
	for _, s := range p.Summary.Items {
		switch s.XMLName.Local {
		case "add_file", "remove_file", "modify_file":
			files = append(files, summaryPath(s.Path))
		case "move":
			from, to := cleanPath(s.From), cleanPath(s.To)
			if state == nil {
				var err error
				if state, err = filesAt(ctx, home, tree, p.Hash); err != nil {
					return nil, err
				}
			}
			if state[to] {
				files = append(files, from, to)
				continue
			}
			for f := range state {
				if rest, ok := strings.CutPrefix(f, to+"/"); ok {
					files = append(files, f, from+"/"+rest)
				}
			}
		}
	}
	return files, nil
}

// filesAt lists the files (not folders) of tree's state at patch hash.
func filesAt(ctx context.Context, home, tree, hash string) (map[string]bool, error) {
	out, err := run(ctx, home, "/", "show", "files", "--no-pending", "--no-directories", "--null",
		"--no-cache", "--repodir", tree, "--hash="+hash)
	if err != nil {
		return nil, err
	}
	files := map[string]bool{}
	for _, f := range strings.Split(out, "\x00") {
		if f != "" {
			files[cleanPath(f)] = true
		}
	}
	return files, nil
}

// summaryPath is the path of a summary entry: darcs writes it between a
// newline and four spaces and the same again.
func summaryPath(s string) string {
	const frame = "\n    "
	if strings.HasPrefix(s, frame) && strings.HasSuffix(s, frame) && len(s) >= 2*len(frame) {
		s = s[len(frame) : len(s)-len(frame)]
	} else {
		s = strings.TrimSpace(s)
	}
	return cleanPath(s)
}

func cleanPath(p string) string { return strings.TrimPrefix(p, "./") }

// darcs log --xml-output writes a patch's name, author and file names
// as they are, but XML cannot carry every character: control characters
// (but tab and newline) are refused, a carriage return is read as a
// newline, and a byte that is not UTF-8 is refused. xmlSafe replaces
// each such character c with mark followed by the rune base+c (a private
// use character, like mark), and mark itself with two marks; unescape
// undoes it after the XML is parsed, so the text is exactly darcs's
// (but U+FFFE and U+FFFF, which become U+FFFD).
const (
	mark = '\uE000'
	base = 0xE100
)

func xmlSafe(b []byte) []byte {
	var out bytes.Buffer
	out.Grow(len(b))
	for len(b) > 0 {
		r, n := utf8.DecodeRune(b)
		switch {
		case r == utf8.RuneError && n == 1:
			out.WriteRune(mark)
			out.WriteRune(rune(base + int(b[0])))
		case r == mark:
			out.WriteRune(mark)
			out.WriteRune(mark)
		case r == 0xFFFE, r == 0xFFFF:
			out.WriteRune(utf8.RuneError)
		case r < 0x20 && r != '\t' && r != '\n':
			out.WriteRune(mark)
			out.WriteRune(rune(base + int(r)))
		default:
			out.Write(b[:n])
		}
		b = b[n:]
	}
	return out.Bytes()
}

func unescape(s string) string {
	if !strings.ContainsRune(s, mark) {
		return s
	}
	var out strings.Builder
	rs := []rune(s)
	for i := 0; i < len(rs); i++ {
		if rs[i] != mark || i+1 == len(rs) {
			out.WriteRune(rs[i])
			continue
		}
		i++
		switch r := rs[i]; {
		case r == mark:
			out.WriteRune(mark)
		case r >= base && r <= base+0xFF:
			out.WriteByte(byte(r - base))
		default:
			out.WriteRune(mark)
			out.WriteRune(r)
		}
	}
	return out.String()
}
