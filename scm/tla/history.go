package tla

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/autobuild/autobuild/scm"
)

// dateLayout is a log's Standard-date (and tla revisions -D's date),
// in UTC to the second, without its " GMT".
const dateLayout = "2006-01-02 15:04:05"

func parseDate(s string) (time.Time, error) {
	s = strings.TrimSpace(s)
	t, err := time.ParseInLocation(dateLayout, strings.TrimSuffix(s, " GMT"), time.UTC)
	if err != nil || !strings.HasSuffix(s, " GMT") {
		return time.Time{}, fmt.Errorf("date %q is not of the form YYYY-MM-DD hh:mm:ss GMT", s)
	}
	return t, nil
}

// ResolveAt implements scm.SCM. A commit pin is Resolve's. Else the
// version's patch levels are listed with their dates (tla revisions -D:
// nothing is downloaded, no folder written but a temporary home), and
// the revision is the newest level committed at or before at.
func (TLA) ResolveAt(ctx context.Context, src scm.Source, at time.Time, d scm.Dirs) (scm.Revision, error) {
	a, err := parse(src)
	if err != nil {
		return scm.Revision{}, err
	}
	if src.Commit != "" {
		return TLA{}.Resolve(ctx, src)
	}
	home, done, err := tempHome()
	if err != nil {
		return scm.Revision{}, err
	}
	defer done()
	if err := register(ctx, home, a); err != nil {
		return scm.Revision{}, err
	}
	ls, ds, err := levels(ctx, home, a, true)
	if err != nil {
		return scm.Revision{}, err
	}
	var oldest time.Time
	for i := len(ls) - 1; i >= 0; i-- {
		t, err := parseDate(ds[i])
		if err != nil {
			return scm.Revision{}, fmt.Errorf("%s: %s: %w", a.location, a.revision(ls[i]), err)
		}
		if !t.After(at) {
			return scm.Revision{ID: a.revision(ls[i])}, nil
		}
		oldest = t
	}
	return scm.Revision{}, fmt.Errorf("%s: %s: %w (%s; its oldest revision is of %s)",
		a.location, a.fq(), scm.ErrNoRevisionAt, at.UTC().Format(time.RFC3339), oldest.Format(time.RFC3339))
}

// Changes implements scm.SCM, from the patch logs of the tree a Checkout
// of to (or of a later revision) left in d.Meta: the levels of the
// version up to to, newest first, until from. A Change's ID is the full
// revision name; its author the log's Creator, its date its
// Standard-date, its subject its Summary; its files those of New-files,
// Removed-files, Modified-files and both names of Renamed-files (a
// renamed folder is named in Renamed-directories only, not by its files).
func (TLA) Changes(ctx context.Context, src scm.Source, d scm.Dirs, from, to scm.Revision, max int) ([]scm.Change, error) {
	a, err := parse(src)
	if err != nil {
		return nil, err
	}
	toLevel := a.level(to.ID)
	if toLevel == "" {
		return nil, fmt.Errorf("revision %q is not a patch level of %s", to.ID, a.fq())
	}
	fromLevel := a.level(from.ID) // "" when of another version: no ancestor
	if max <= 0 {
		return nil, nil
	}
	logs := filepath.Join(d.Meta, treeDir, logDir(a))
	ents, err := os.ReadDir(logs)
	if err != nil {
		return nil, fmt.Errorf("%s holds no tree of %s: check out %s first: %w", d.Meta, a.fq(), to.ID, err)
	}
	var ls []string
	for _, e := range ents {
		if levelRE.MatchString(e.Name()) && e.Type().IsRegular() {
			ls = append(ls, e.Name())
		}
	}
	sortLevels(ls)
	end := -1
	for i, l := range ls {
		if l == toLevel {
			end = i
		}
	}
	if end < 0 {
		return nil, fmt.Errorf("%s: the tree in %s holds no revision %s", src.URL, d.Meta, to.ID)
	}
	var cs []scm.Change
	for i := end; i >= 0 && len(cs) < max; i-- {
		if ls[i] == fromLevel {
			break
		}
		c, err := readLog(filepath.Join(logs, ls[i]))
		if err != nil {
			return nil, err
		}
		c.ID = a.revision(ls[i])
		cs = append(cs, c)
	}
	return cs, nil
}

// levelKey orders patch levels: base-0, patch-N, version-0,
// versionfix-N.
func levelKey(l string) (int, int) {
	kind, n, _ := strings.Cut(l, "-")
	num, _ := strconv.Atoi(n)
	switch kind {
	case "base":
		return 0, num
	case "patch":
		return 1, num
	case "version":
		return 2, num
	}
	return 3, num
}

func sortLevels(ls []string) {
	slices.SortFunc(ls, func(x, y string) int {
		kx, nx := levelKey(x)
		ky, ny := levelKey(y)
		return cmp.Or(cmp.Compare(kx, ky), cmp.Compare(nx, ny))
	})
}

// readLog reads a patch log: its headers (up to the first empty line,
// a line that starts with white space continuing the one before).
func readLog(p string) (scm.Change, error) {
	b, err := os.ReadFile(p)
	if err != nil {
		return scm.Change{}, err
	}
	h := map[string]string{}
	var last string
	for _, line := range strings.Split(string(b), "\n") {
		if strings.TrimSpace(line) == "" {
			break
		}
		if (line[0] == ' ' || line[0] == '\t') && last != "" {
			h[last] += "\n" + line
			continue
		}
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			return scm.Change{}, fmt.Errorf("patch log %s: line %q is not a header", p, line)
		}
		last = strings.ToLower(k)
		h[last] = v
	}
	t, err := parseDate(h["standard-date"])
	if err != nil {
		return scm.Change{}, fmt.Errorf("patch log %s: %w", p, err)
	}
	c := scm.Change{Author: strings.TrimSpace(h["creator"]), Date: t, Subject: scm.Subject(h["summary"])}
	var files []string
	for _, k := range []string{"new-files", "removed-files", "modified-files", "renamed-files"} {
		for _, f := range strings.Fields(h[k]) {
			name, err := unescape(f)
			if err != nil {
				return scm.Change{}, fmt.Errorf("patch log %s: %s: %w", p, k, err)
			}
			name = strings.TrimPrefix(name, "./")
			if name != archDir && !strings.HasPrefix(name, archDir+"/") {
				files = append(files, name)
			}
		}
	}
	c.SetFiles(files)
	return c, nil
}

// escapes are the names tla writes \(name) for.
var escapes = map[string]string{"sp": " ", "tab": "\t", "nl": "\n", "cr": "\r", "vtab": "\v", "np": "\f", "bs": "\b", "bel": "\a"}

// unescape undoes tla's escaping of a file name: \\ and \" for the
// character, \(sp), \(tab), \(nl) and the like, and \(U+HEX) for a
// character by its code.
func unescape(s string) (string, error) {
	if !strings.Contains(s, `\`) {
		return s, nil
	}
	var out strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '\\' {
			out.WriteByte(s[i])
			continue
		}
		if i+1 == len(s) {
			return "", errors.New("name " + strconv.Quote(s) + " ends in a lone backslash")
		}
		if s[i+1] != '(' {
			out.WriteByte(s[i+1])
			i++
			continue
		}
		end := strings.IndexByte(s[i:], ')')
		if end < 0 {
			return "", errors.New("name " + strconv.Quote(s) + " has an unterminated \\(")
		}
		code := s[i+2 : i+end]
		i += end
		if hex, ok := strings.CutPrefix(code, "U+"); ok {
			n, err := strconv.ParseUint(hex, 16, 32)
			if err != nil {
				return "", fmt.Errorf("name %q: bad escape \\(%s)", s, code)
			}
			if n < 0x80 {
				out.WriteByte(byte(n))
			} else {
				out.WriteRune(rune(n))
			}
			continue
		}
		r, ok := escapes[code]
		if !ok {
			return "", fmt.Errorf("name %q: unknown escape \\(%s)", s, code)
		}
		out.WriteString(r)
	}
	return out.String(), nil
}
