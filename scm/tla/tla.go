// Package tla is the GNU Arch SCM, driven through the tla program
// (Debian package tla).
//
// A source's URL is an archive's location and a version in it, joined by
// "#": "/srv/arch/2009#jdoe@example.org--2009/hello--main--1.0". The
// location is an absolute path (or a file:// URL, given to tla as the
// path), or an http://, https://, ftp:// or sftp:// address; the version
// is fully qualified: the archive's name, "/", then
// category--branch--version. branch: names another version of the same
// archive ("hello--devel--1.0"), which replaces the URL's. GNU Arch has
// no tag names (a tla tag is a revision of a version of its own): tag: is
// refused; name that version with branch:. commit: pins a patch level of
// the version ("base-0", "patch-3", "version-0", "versionfix-1") or a full
// revision name of the archive, whose version then replaces the URL's
// (with branch: too, it must be a revision of that branch).
//
// A revision is the full name of a patch level:
// "jdoe@example.org--2009/hello--main--1.0--patch-3". Resolve lists the
// version's patch levels (tla revisions; nothing is downloaded) and pins
// the newest, or the one commit: names, which must be there.
//
// Every tla runs with a home folder of its own, so no user's
// ~/.arch-params is read or written: a fresh temporary one for Resolve
// and ResolveAt, the metadata folder's "home" (made anew) for Checkout.
// The archive is registered there each time from the Source's URL, never
// from anything a checkout left, and the archive must call itself by the
// URL's name (tla archive-meta-info name), else nothing is read from it.
//
// Checkout gets the revision (tla get) into a folder of its own in the
// metadata folder ("tree": a project tree, with its {arch} folder), then
// copies its files into the work tree (dir.Mirror), without {arch}. The
// tree is kept while the revision and the archive's location stay the
// same (archives elsewhere may share a name) and its content hash is the
// one recorded when it was got, and got anew otherwise; tla get runs
// into an empty folder, where no other tree's pristine copy is found.
//
// ResolveAt keeps a commit pin as Resolve does. Otherwise it lists the
// version's patch levels with their dates (tla revisions -D, to the
// second, in UTC: nothing is downloaded) and pins the newest committed at
// or before the time; none that old is an error wrapping
// scm.ErrNoRevisionAt. Changes reads the patch logs of the tree a
// Checkout left (its {arch} holds every log of the version up to its
// revision): the revisions after from up to to, newest first, each with
// its log's Creator, Standard-date and Summary, and the files of its
// New-files, Removed-files, Modified-files and Renamed-files (both
// names), unescaped; a renamed folder is not listed by its files. A from
// of another version lists the newest ones up to to.
// tla commits symlinks, written into the work tree as the text they hold.
// An archive made with the explicit or tagline tagging method carries
// its .arch-ids folders in every tree tla gets, so in the work tree too.
//
// Names Debian's tla 1.3.5 cannot keep (see the package's tests): a name
// holding white space (a space, tab, newline or carriage return) is
// imported, but the tree that holds it fails every later commit (tla's
// pristine copy of it is "corrupt"); a name that is not ASCII fails the
// import (bytes that are not UTF-8 "violate naming conventions", UTF-8
// text crashes tla's inventory); and an entry named {arch} below the top
// is never source.
package tla

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/autobuild/autobuild/scm"
	"github.com/autobuild/autobuild/scm/dir"
)

// Kind is the registry name of this SCM.
const Kind = "tla"

func init() { scm.Register(Kind, TLA{}) }

// TLA implements scm.SCM.
type TLA struct{}

// Program is the tla program run.
var Program = "tla"

var (
	// archiveRE is an archive name: an email address, "--", a label.
	archiveRE = regexp.MustCompile(`^[A-Za-z0-9][-A-Za-z0-9._+]*@[-A-Za-z0-9.]+--[-A-Za-z0-9._+]+$`)
	// versionRE is category--branch--version.
	versionRE = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9]*(-[A-Za-z0-9]+)*--[A-Za-z][A-Za-z0-9]*(-[A-Za-z0-9]+)*--[0-9]+(\.[0-9]+)*$`)
	// levelRE is a patch level.
	levelRE = regexp.MustCompile(`^(base-0|patch-[1-9][0-9]*|version-0|versionfix-[1-9][0-9]*)$`)
	// remoteRE is an archive location tla reaches over the network.
	remoteRE = regexp.MustCompile(`^(https?|s?ftp)://[^\s/]+(/\S*)?$`)
)

// address is a Source's parsed URL and branch.
type address struct {
	location string // as tla is given it
	archive  string
	version  string // category--branch--version, branch: applied
}

// fq is the fully qualified version.
func (a address) fq() string { return a.archive + "/" + a.version }

// revision is the full name of patch level level.
func (a address) revision(level string) string { return a.fq() + "--" + level }

// level is the patch level of revision id when id is a revision of a's
// version, and "" otherwise.
func (a address) level(id string) string {
	l, ok := strings.CutPrefix(id, a.fq()+"--")
	if !ok || !levelRE.MatchString(l) {
		return ""
	}
	return l
}

func parse(src scm.Source) (address, error) {
	loc, fqv, ok := cut(src.URL)
	if !ok {
		return address{}, &scm.FieldError{Field: "url", Msg: fmt.Sprintf("%q is not an archive location and a version joined by \"#\" (/srv/arch#jdoe@example.org--2009/hello--main--1.0)", src.URL)}
	}
	var a address
	switch {
	case strings.ContainsFunc(loc, func(r rune) bool { return r < 0x20 || r == 0x7f }):
		return address{}, &scm.FieldError{Field: "url", Msg: fmt.Sprintf("archive location %q holds a control character", loc)}
	case dir.LocalPath(loc) != "":
		a.location = dir.LocalPath(loc)
	case remoteRE.MatchString(loc):
		a.location = loc
	default:
		return address{}, &scm.FieldError{Field: "url", Msg: fmt.Sprintf("archive location %q is neither a local folder (an absolute path or a file:// URL) nor an http://, https://, ftp:// or sftp:// address", loc)}
	}
	name, version, ok := strings.Cut(fqv, "/")
	if !ok || !archiveRE.MatchString(name) || !versionRE.MatchString(version) {
		return address{}, &scm.FieldError{Field: "url", Msg: fmt.Sprintf("%q after \"#\" is not a fully qualified version (archive/category--branch--version, as jdoe@example.org--2009/hello--main--1.0)", fqv)}
	}
	a.archive, a.version = name, version
	if src.Branch != "" {
		if !versionRE.MatchString(src.Branch) {
			return address{}, &scm.FieldError{Field: "branch", Msg: fmt.Sprintf("%q is not a version of the archive (category--branch--version, as hello--devel--1.0)", src.Branch)}
		}
		a.version = src.Branch
	}
	if src.Tag != "" {
		return address{}, &scm.FieldError{Field: "tag", Msg: "GNU Arch has no tag names: a tla tag is a revision of a version of its own; name that version with branch:, or pin a revision with commit:"}
	}
	if c := src.Commit; c != "" && !levelRE.MatchString(c) {
		v, ok := revisionVersion(c, a.archive)
		switch {
		case !ok:
			return address{}, &scm.FieldError{Field: "commit", Msg: fmt.Sprintf("%q is neither a patch level (base-0, patch-N, version-0, versionfix-N) nor a revision of archive %s (%s/category--branch--version--patch-N)", c, a.archive, a.archive)}
		case src.Branch != "" && v != a.version:
			return address{}, &scm.FieldError{Field: "commit", Msg: fmt.Sprintf("%q is not a revision of branch %s", c, src.Branch)}
		}
		a.version = v
	}
	return a, nil
}

// revisionVersion is the version of id when id is the full name of a
// revision of archive.
func revisionVersion(id, archive string) (string, bool) {
	rest, ok := strings.CutPrefix(id, archive+"/")
	i := strings.LastIndex(rest, "--")
	if !ok || i < 0 || !versionRE.MatchString(rest[:i]) || !levelRE.MatchString(rest[i+2:]) {
		return "", false
	}
	return rest[:i], true
}

// cut splits u at its last "#" (an archive name holds none).
func cut(u string) (loc, version string, ok bool) {
	i := strings.LastIndexByte(u, '#')
	if i <= 0 || i == len(u)-1 {
		return "", "", false
	}
	return u[:i], u[i+1:], true
}

// pin is the patch level src's commit: names, or "".
func pin(src scm.Source, a address) string {
	if levelRE.MatchString(src.Commit) {
		return src.Commit
	}
	return a.level(src.Commit)
}

// Validate implements scm.SCM.
func (TLA) Validate(src scm.Source) error {
	_, err := parse(src)
	return err
}

// Inputs implements scm.SCM: a local archive's folder.
func (TLA) Inputs(src scm.Source) []string {
	if a, err := parse(src); err == nil && filepath.IsAbs(a.location) {
		return []string{a.location}
	}
	return nil
}

// The metadata folder's entries.
const (
	treeDir      = "tree"
	getDir       = "get"
	treeRevision = "tree.revision"
	treeArchive  = "tree.archive"
	treeHash     = "tree.hash"
	homeDir      = "home"
	revisionFile = "revision"
	archDir      = "{arch}"
)

// HasCheckout implements scm.SCM.
func (TLA) HasCheckout(d scm.Dirs) bool {
	_, err := TLA{}.Current(d)
	return err == nil
}

// Current implements scm.SCM.
func (TLA) Current(d scm.Dirs) (scm.Revision, error) {
	return dir.ReadRevision(d.Meta, revisionFile)
}

// run runs tla with args in home, with home as its home and nothing else
// of the caller's environment but TMPDIR. tla takes no "--": no argument
// starts with a dash (names and locations are checked first).
func run(ctx context.Context, home string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, Program, args...)
	cmd.Dir = home
	cmd.Env = []string{
		"PATH=/usr/local/bin:/usr/bin:/bin",
		"HOME=" + home,
		"LANG=C",
	}
	if tmp := os.Getenv("TMPDIR"); tmp != "" {
		cmd.Env = append(cmd.Env, "TMPDIR="+tmp)
	}
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		msg := strings.TrimSpace(errb.String() + "\n" + out.String())
		return out.String(), fmt.Errorf("tla %s: %w: %s", args[0], err, msg)
	}
	return out.String(), nil
}

// register registers a's archive in home, from the Source's location,
// and checks that the archive there is the one the URL names.
func register(ctx context.Context, home string, a address) error {
	if _, err := run(ctx, home, "register-archive", a.archive, a.location); err != nil {
		return err
	}
	out, err := run(ctx, home, "archive-meta-info", "-A", a.archive, "name")
	if err != nil {
		return fmt.Errorf("%s: %w", a.location, err)
	}
	if got := strings.TrimSpace(out); got != a.archive {
		return fmt.Errorf("the archive at %s is %q, not %q", a.location, got, a.archive)
	}
	return nil
}

// tempHome makes a home folder that holds nothing, for one call.
func tempHome() (string, func(), error) {
	home, err := os.MkdirTemp("", "tla-home-")
	if err != nil {
		return "", nil, err
	}
	return home, func() { os.RemoveAll(home) }, nil
}

// levels lists the patch levels of a's version, oldest first; with
// dates, each level's standard date too (tla revisions -D).
func levels(ctx context.Context, home string, a address, dates bool) ([]string, []string, error) {
	args := []string{"revisions"}
	if dates {
		args = append(args, "-D")
	}
	out, err := run(ctx, home, append(args, a.fq())...)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", a.location, err)
	}
	var ls, ds []string
	for _, line := range strings.Split(out, "\n") {
		switch {
		case strings.TrimSpace(line) == "":
		case line[0] == ' ' || line[0] == '\t':
			if !dates || len(ds) != len(ls)-1 {
				return nil, nil, fmt.Errorf("tla revisions of %s: unexpected line %q", a.fq(), line)
			}
			ds = append(ds, strings.TrimSpace(line))
		default:
			if !levelRE.MatchString(line) || (dates && len(ds) != len(ls)) {
				return nil, nil, fmt.Errorf("tla revisions of %s: unexpected line %q", a.fq(), line)
			}
			ls = append(ls, line)
		}
	}
	if dates && len(ds) != len(ls) {
		return nil, nil, fmt.Errorf("tla revisions of %s: a revision without its date", a.fq())
	}
	if len(ls) == 0 {
		return nil, nil, fmt.Errorf("%s: version %s has no revisions", a.location, a.fq())
	}
	return ls, ds, nil
}

// Resolve implements scm.SCM.
func (TLA) Resolve(ctx context.Context, src scm.Source) (scm.Revision, error) {
	a, err := parse(src)
	if err != nil {
		return scm.Revision{}, err
	}
	home, done, err := tempHome()
	if err != nil {
		return scm.Revision{}, err
	}
	defer done()
	if err := register(ctx, home, a); err != nil {
		return scm.Revision{}, err
	}
	ls, _, err := levels(ctx, home, a, false)
	if err != nil {
		return scm.Revision{}, err
	}
	want := pin(src, a)
	if want == "" {
		return scm.Revision{ID: a.revision(ls[len(ls)-1])}, nil
	}
	for _, l := range ls {
		if l == want {
			return scm.Revision{ID: a.revision(l)}, nil
		}
	}
	return scm.Revision{}, fmt.Errorf("%s: no patch level %s in %s (it has %s to %s)", a.location, want, a.fq(), ls[0], ls[len(ls)-1])
}

// Checkout implements scm.SCM.
func (TLA) Checkout(ctx context.Context, src scm.Source, rev scm.Revision, d scm.Dirs) error {
	if err := d.Validate(); err != nil {
		return err
	}
	a, err := parse(src)
	if err != nil {
		return err
	}
	level := a.level(rev.ID)
	if level == "" {
		return fmt.Errorf("revision %q is not a patch level of %s", rev.ID, a.fq())
	}
	for _, p := range []string{d.Work, d.Meta} {
		if err := os.MkdirAll(p, 0o755); err != nil {
			return err
		}
	}
	if err := dir.ClearRevision(d.Meta, revisionFile); err != nil {
		return err
	}
	tree := filepath.Join(d.Meta, treeDir)
	if !intact(d.Meta, tree, a, rev) {
		if err := get(ctx, a, rev, d.Meta); err != nil {
			return err
		}
	}
	if _, err := dir.Mirror(tree, d.Work, func(name string) bool { return name == archDir }); err != nil {
		return fmt.Errorf("copy %s into %s: %w", rev.ID, d.Work, err)
	}
	return dir.WriteRevision(d.Meta, revisionFile, rev)
}

// intact reports whether tree holds rev from a's location, unchanged
// since it was got. (Archives elsewhere may have the same name: an
// archive's name says nothing of what it holds.)
func intact(meta, tree string, a address, rev scm.Revision) bool {
	have, err := dir.ReadRevision(meta, treeRevision)
	if err != nil || have != rev {
		return false
	}
	if loc, err := dir.ReadRevision(meta, treeArchive); err != nil || loc.ID != a.location {
		return false
	}
	sum, err := dir.ReadRevision(meta, treeHash)
	if err != nil {
		return false
	}
	got, err := dir.Hash(tree, nil)
	return err == nil && got == sum.ID
}

// get gets rev afresh into the tree of the metadata folder meta: with a
// home made anew, into an empty folder.
func get(ctx context.Context, a address, rev scm.Revision, meta string) error {
	if err := dir.ClearRevision(meta, treeRevision); err != nil {
		return err
	}
	tree, fresh := filepath.Join(meta, treeDir), filepath.Join(meta, getDir)
	home := filepath.Join(meta, homeDir)
	for _, p := range []string{tree, fresh, home} {
		if err := os.RemoveAll(p); err != nil {
			return err
		}
	}
	for _, p := range []string{fresh, home} {
		if err := os.Mkdir(p, 0o700); err != nil {
			return err
		}
	}
	if err := register(ctx, home, a); err != nil {
		return err
	}
	if _, err := run(ctx, home, "get", "--no-pristine", rev.ID, filepath.Join(fresh, treeDir)); err != nil {
		return fmt.Errorf("%s: %w", a.location, err)
	}
	// The tree is at rev only if it holds rev's log.
	if _, err := os.Stat(filepath.Join(fresh, treeDir, logDir(a), a.level(rev.ID))); err != nil {
		return errors.Join(fmt.Errorf("%s: tla get of %s made no tree of it", a.location, rev.ID), err)
	}
	if err := os.Rename(filepath.Join(fresh, treeDir), tree); err != nil {
		return err
	}
	if err := os.Remove(fresh); err != nil {
		return err
	}
	sum, err := dir.Hash(tree, nil)
	if err != nil {
		return err
	}
	if err := dir.WriteRevision(meta, treeHash, scm.Revision{ID: sum}); err != nil {
		return err
	}
	if err := dir.WriteRevision(meta, treeArchive, scm.Revision{ID: a.location}); err != nil {
		return err
	}
	return dir.WriteRevision(meta, treeRevision, rev)
}

// logDir is the folder of a project tree that holds the patch logs of
// a's version: {arch}/category/category--branch/version/archive/patch-log.
func logDir(a address) string {
	parts := strings.Split(a.version, "--")
	return filepath.Join(archDir, parts[0], parts[0]+"--"+parts[1], a.version, a.archive, "patch-log")
}
