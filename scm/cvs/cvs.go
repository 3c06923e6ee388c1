// Package cvs is the CVS SCM, driving the cvs command of Debian's cvs
// package.
//
// A module's url is a CVSROOT and a module name, joined by "#":
// "/srv/cvs#proj" or "file:///srv/cvs#proj" (a local repository),
// ":local:/srv/cvs#proj", ":pserver:anon@cvs.example.org:/cvs#proj",
// ":ext:user@host:/cvs#proj/sub". The module is a path in the repository.
// "branch: B" is a CVS branch tag, "tag: T" a CVS tag (not a branch).
//
// CVS has no revision of a whole tree: the revision is the time of the
// newest change a checkout would hold, to the second, in UTC:
// "2026-11-26T04:20:25Z" on the trunk (the default branch),
// "B@2026-11-26T04:20:25Z" on branch B, "T@…" for tag T. The time is the
// newest of the dates "cvs rls -e" gives the files a checkout holds and,
// on the trunk or a branch, of the revisions "cvs rlog" lists on that line
// (a removal counts). "commit:" pins a time in that form (the time part
// of an ID, or an ID of the same branch): Resolve gives the newest change
// at or before it. A checkout is "cvs export -D <time>" (with "-r B" on a
// branch; "-r T" for a tag). CVS dates have no finer grain than the
// second, so Resolve never names a second that is not over yet (it waits
// for its end): a later commit cannot share it. A tag moved between
// Resolve and Checkout is checked out where it is then.
//
// CVS versions no symlinks (cvs import and cvs add ignore them), nor file
// names with a newline (its Entries files are line-based).
//
// History is on the server, and both methods that read it ask it, writing
// nothing. ResolveAt is Resolve with the time as the bound (rls -D, rlog
// -d "<=time"), the time cut to its second. Changes reads "cvs rlog" of
// the revisions dated after from up to to, keeps each file's revisions on
// the line a checkout follows (a branch's own, then those it branched
// from), and groups them into commits by commitid (cvs 1.12 records one
// per commit), else by author and message within two seconds; a Change's
// ID is its commitid, or without one its time as a revision ID has it.
//
// Resolve runs rls and rlog, which write nothing. Checkout exports the
// revision afresh into a folder of the metadata folder, then makes the
// work tree mirror it (scm/dir's Mirror: files left untouched when
// unchanged, anything else removed); the export is removed afterwards,
// and the metadata folder keeps only the revision file. Every cvs runs
// with -f (no ~/.cvsrc), a clean environment (PATH, HOME and TMPDIR of the
// step) and, on a local repository, -R (read-only: no lock files are
// written in the repository).
package cvs

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/autobuild/autobuild/scm"
	"github.com/autobuild/autobuild/scm/dir"
)

// Kind is the registry name of this SCM.
const Kind = "cvs"

func init() { scm.Register(Kind, CVS{}) }

// CVS implements scm.SCM.
type CVS struct{}

// revisionFile records the revision the work tree holds.
const revisionFile = "cvs-revision"

// idTime is the form of an ID's time.
const idTime = "2006-01-02T15:04:05Z"

var (
	tagRE    = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_-]*$`)
	timeRE   = regexp.MustCompile(`^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z$`)
	remoteRE = regexp.MustCompile(`^:(pserver|ext|server|gserver|fork|local)(;[^:]*)?:[^\s]+$`)
)

// Root is a Source's CVSROOT and module.
type Root struct {
	// CVSROOT is what cvs gets as -d.
	CVSROOT string
	// Local is the repository's folder when it is on this machine.
	Local  string
	Module string
}

// ParseURL splits url into its CVSROOT and module.
func ParseURL(u string) (Root, error) {
	i := strings.LastIndexByte(u, '#')
	if i < 0 {
		return Root{}, fmt.Errorf("%q names no module: write <CVSROOT>#<module>", u)
	}
	root, mod := u[:i], u[i+1:]
	if mod == "" || strings.HasPrefix(mod, "/") || strings.HasPrefix(mod, "-") {
		return Root{}, fmt.Errorf("%q: module %q is not a path in the repository", u, mod)
	}
	for _, c := range strings.Split(mod, "/") {
		if c == "" || c == "." || c == ".." || c == "CVSROOT" || strings.ContainsFunc(c, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
			return Root{}, fmt.Errorf("%q: module %q is not a path in the repository", u, mod)
		}
	}
	r := Root{Module: mod}
	switch {
	case strings.HasPrefix(root, "file://"):
		p, err := url.Parse(root)
		if err != nil || p.Host != "" || !filepath.IsAbs(p.Path) {
			return Root{}, fmt.Errorf("%q: %q is not a file:// URL of a local folder", u, root)
		}
		r.Local = filepath.Clean(p.Path)
	case strings.HasPrefix(root, ":local:"):
		r.Local = filepath.Clean(strings.TrimPrefix(root, ":local:"))
	case filepath.IsAbs(root):
		r.Local = filepath.Clean(root)
	case remoteRE.MatchString(root):
		r.CVSROOT = root
		return r, nil
	default:
		return Root{}, fmt.Errorf("%q: %q is not a CVSROOT (/path, file:///path, :local:, :pserver:, :ext:)", u, root)
	}
	if !filepath.IsAbs(r.Local) || strings.ContainsAny(r.Local, "\n\x00") {
		return Root{}, fmt.Errorf("%q: %q is not an absolute folder", u, r.Local)
	}
	r.CVSROOT = r.Local
	return r, nil
}

// Validate implements scm.SCM.
func (CVS) Validate(src scm.Source) error {
	if _, err := ParseURL(src.URL); err != nil {
		return &scm.FieldError{Field: "url", Msg: err.Error()}
	}
	if src.Branch != "" && !tagRE.MatchString(src.Branch) {
		return &scm.FieldError{Field: "branch", Msg: fmt.Sprintf("%q is not a CVS branch tag name", src.Branch)}
	}
	if src.Tag != "" && !tagRE.MatchString(src.Tag) {
		return &scm.FieldError{Field: "tag", Msg: fmt.Sprintf("%q is not a CVS tag name", src.Tag)}
	}
	if src.Commit != "" {
		if src.Tag != "" {
			return &scm.FieldError{Field: "commit", Msg: "a tag names fixed revisions: no time can be pinned with it"}
		}
		if _, err := pinned(src); err != nil {
			return &scm.FieldError{Field: "commit", Msg: err.Error()}
		}
	}
	return nil
}

// pinned is the time a commit pin names.
func pinned(src scm.Source) (time.Time, error) {
	c := src.Commit
	if line, t, ok := strings.Cut(c, "@"); ok {
		if line != src.Branch {
			return time.Time{}, fmt.Errorf("%q is a revision of branch %q, not of %s", c, line, src.Ref())
		}
		c = t
	}
	if !timeRE.MatchString(c) {
		return time.Time{}, fmt.Errorf("%q is not a time as a CVS revision has it (2026-11-26T04:20:25Z)", src.Commit)
	}
	return time.Parse(idTime, c)
}

// Inputs implements scm.SCM: a local repository's folder.
func (CVS) Inputs(src scm.Source) []string {
	r, err := ParseURL(src.URL)
	if err != nil || r.Local == "" {
		return nil
	}
	return []string{r.Local}
}

// HasCheckout implements scm.SCM.
func (CVS) HasCheckout(d scm.Dirs) bool {
	_, err := dir.ReadRevision(d.Meta, revisionFile)
	return err == nil
}

// Current implements scm.SCM.
func (CVS) Current(d scm.Dirs) (scm.Revision, error) {
	return dir.ReadRevision(d.Meta, revisionFile)
}

var (
	// An entry of "rls -e": /name/1.2/Thu Nov 26 04:20:23 2026//Ttag
	entryRE = regexp.MustCompile(`(?m)/[0-9]+(?:\.[0-9]+)+/([A-Z][a-z]{2} [A-Z][a-z]{2} [ 0-9][0-9] [0-9]{2}:[0-9]{2}:[0-9]{2} [0-9]{4})//[^/\n]*$`)
	// A revision's date in rlog.
	dateRE = regexp.MustCompile(`(?m)^date: ([0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2}) \+0000;`)
)

// cvsDate is a time as cvs -D takes it.
func cvsDate(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05 +0000") }

// Resolve implements scm.SCM.
//
// A change made later within the second of the newest change would be
// checked out under the same revision: when that second is not over yet
// (by this machine's clock), Resolve waits for it to end and asks again
// (a few times at most, for a server whose clock is ahead).
func (c CVS) Resolve(ctx context.Context, src scm.Source) (scm.Revision, error) {
	if err := c.Validate(src); err != nil {
		return scm.Revision{}, err
	}
	var until time.Time
	if src.Commit != "" {
		until, _ = pinned(src)
	}
	return settled(ctx, src, until, src.Commit == "")
}

// settled is the revision of the newest change src's checkout holds (at
// or before until, when it is set). With wait, a change whose second is
// not over yet is asked for again once it is.
func settled(ctx context.Context, src scm.Source, until time.Time, wait bool) (scm.Revision, error) {
	for try := 0; ; try++ {
		newest, err := resolve(ctx, src, until)
		if err != nil {
			return scm.Revision{}, err
		}
		end := newest.Add(time.Second)
		if !wait || try == 3 || !time.Now().Before(end) {
			return scm.Revision{ID: revisionID(src, newest)}, nil
		}
		select {
		case <-ctx.Done():
			return scm.Revision{}, ctx.Err()
		case <-time.After(time.Until(end) + 10*time.Millisecond):
		}
	}
}

// revisionID is the ID of src's revision whose newest change is at t.
func revisionID(src scm.Source, t time.Time) string {
	id := t.UTC().Format(idTime)
	switch {
	case src.Tag != "":
		id = src.Tag + "@" + id
	case src.Branch != "":
		id = src.Branch + "@" + id
	}
	return id
}

// revisionTime is the time of rev, a revision of src.
func revisionTime(src scm.Source, rev scm.Revision) (time.Time, error) {
	line, ts, ok := strings.Cut(rev.ID, "@")
	if !ok {
		line, ts = "", rev.ID
	}
	want := src.Tag
	if want == "" {
		want = src.Branch
	}
	if line != want || !timeRE.MatchString(ts) {
		return time.Time{}, fmt.Errorf("revision %q is not a CVS revision of %s", rev.ID, src.Ref())
	}
	return time.Parse(idTime, ts)
}

// errNoFile is resolve's error when src's checkout would hold no file.
var errNoFile = errors.New("no file (unknown branch or tag, or an empty module)")

// resolve is the time of the newest change src's checkout holds, at or
// before until when it is set.
func resolve(ctx context.Context, src scm.Source, until time.Time) (time.Time, error) {
	r, _ := ParseURL(src.URL)
	tmp, err := os.MkdirTemp("", "autobuild-cvs-")
	if err != nil {
		return time.Time{}, err
	}
	defer os.RemoveAll(tmp)

	rls := []string{"rls", "-e", "-R"}
	rlog := []string{"rlog", "-N", "-S"}
	switch {
	case src.Tag != "":
		rls = append(rls, "-r", src.Tag)
		rlog = nil // a tag's revisions are what rls lists
	case src.Branch != "":
		rls = append(rls, "-r", src.Branch)
		rlog = append(rlog, "-r"+src.Branch)
	default:
		rlog = append(rlog, "-b")
	}
	if !until.IsZero() {
		rls = append(rls, "-D", cvsDate(until))
		if rlog != nil {
			rlog = append(rlog, "-d<="+cvsDate(until))
		}
	}
	out, err := run(ctx, r, tmp, append(rls, "--", r.Module)...)
	if err != nil {
		return time.Time{}, err
	}
	var newest time.Time
	entries := entryRE.FindAllSubmatch(out, -1)
	for _, m := range entries {
		t, err := time.Parse(time.ANSIC, string(m[1]))
		if err != nil {
			return time.Time{}, fmt.Errorf("cvs rls: %q: %w", m[1], err)
		}
		newest = later(newest, t)
	}
	if len(entries) == 0 {
		return time.Time{}, fmt.Errorf("%s of %s: %w", src.Ref(), src.URL, errNoFile)
	}
	if rlog != nil {
		out, err := run(ctx, r, tmp, append(rlog, "--", r.Module)...)
		if err != nil {
			return time.Time{}, err
		}
		for _, m := range dateRE.FindAllSubmatch(out, -1) {
			t, err := time.Parse("2006-01-02 15:04:05", string(m[1]))
			if err != nil {
				return time.Time{}, fmt.Errorf("cvs rlog: %q: %w", m[1], err)
			}
			newest = later(newest, t)
		}
	}
	return newest, nil
}

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// Checkout implements scm.SCM: an export of the revision into the
// metadata folder, mirrored into the work tree.
func (c CVS) Checkout(ctx context.Context, src scm.Source, rev scm.Revision, d scm.Dirs) error {
	if err := d.Validate(); err != nil {
		return err
	}
	if err := c.Validate(src); err != nil {
		return err
	}
	t, err := revisionTime(src, rev)
	if err != nil {
		return err
	}
	r, _ := ParseURL(src.URL)
	for _, p := range []string{d.Work, d.Meta} {
		if err := os.MkdirAll(p, 0o755); err != nil {
			return err
		}
	}
	if err := dir.ClearRevision(d.Meta, revisionFile); err != nil {
		return err
	}
	// What a killed checkout left.
	if old, err := filepath.Glob(filepath.Join(d.Meta, "export-*")); err == nil {
		for _, p := range old {
			os.RemoveAll(p)
		}
	}
	tmp, err := os.MkdirTemp(d.Meta, "export-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	args := []string{"export", "-d", "tree"}
	switch {
	case src.Tag != "":
		args = append(args, "-r", src.Tag)
	case src.Branch != "":
		args = append(args, "-r", src.Branch, "-D", cvsDate(t))
	default:
		args = append(args, "-D", cvsDate(t))
	}
	if _, err := run(ctx, r, tmp, append(args, "--", r.Module)...); err != nil {
		return err
	}
	tree := filepath.Join(tmp, "tree")
	if fi, err := os.Lstat(tree); err != nil || !fi.IsDir() {
		return fmt.Errorf("cvs export of %s at %s wrote no folder", src.URL, rev.ID)
	}
	if _, err := dir.Mirror(tree, d.Work, nil); err != nil {
		return fmt.Errorf("copy the export into %s: %w", d.Work, err)
	}
	return dir.WriteRevision(d.Meta, revisionFile, rev)
}

// run runs cvs in wd, with a clean environment (wd is its HOME and
// TMPDIR too) and r's CVSROOT; it returns the standard output, and an
// error holding the standard error.
func run(ctx context.Context, r Root, wd string, args ...string) ([]byte, error) {
	global := []string{"-f", "-Q", "-d", r.CVSROOT}
	if r.Local != "" {
		global = append(global, "-R")
	}
	cmd := exec.CommandContext(ctx, "cvs", append(global, args...)...)
	cmd.Env = []string{"PATH=/usr/bin:/bin", "HOME=" + wd, "TMPDIR=" + wd, "CVS_RSH=ssh"}
	cmd.Dir = wd
	cmd.WaitDelay = 5 * time.Second
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		msg := strings.TrimSpace(stderr.String())
		if len(msg) > 4096 {
			msg = msg[:4096] + "…"
		}
		return nil, fmt.Errorf("cvs %s: %w: %s", args[0], err, msg)
	}
	return stdout.Bytes(), nil
}
