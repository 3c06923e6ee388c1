// Package brz is the Bazaar SCM: it drives Breezy's brz command (Debian
// package brz).
//
// A Bazaar branch is a URL of its own, so a source's branch is a path
// relative to its URL: url /srv/bzr/project with branch "trunk" is the
// branch /srv/bzr/project/trunk (no branch: the URL itself). A tag is a
// tag of that branch; a commit is a revision id, or a revision number of
// the branch ("12", "3.1.2"). Resolve asks the branch, local or remote,
// for the revision (brz revision-info), without downloading anything; the
// revision is the revision id.
//
// Checkout keeps a branch without a working tree in the metadata folder
// (<meta>/branch), pulls the pinned revision into it only when it does
// not have it yet, from the Source's URL as given (brz pull --overwrite:
// the folder may hold another branch's history), exports the revision
// (brz export) into <meta>/export and mirrors that into the work tree
// (dir.Mirror, shared with the other backends that drive a tool): exactly the revision's files, symlinks as the text
// they hold, and no .bzr.
//
// ResolveAt and Changes read a branch's past through Breezy's own API
// (history.py, run by the python3 beside the brz command, isolated and
// writing no bytecode, in the environment of every brz command): brz
// prints its log only as text for people. ResolveAt resolves a tag or a
// commit as Resolve does, whatever the time. For a branch it resolves
// the tip as Resolve does, branches or pulls it into the metadata
// folder's branch as Checkout would (so the Checkout that follows needs
// no network), and walks the tip's mainline (its left-hand parents) for
// the newest revision whose timestamp (kept to the millisecond) is at or
// before the time: the states the branch itself went through, never a
// revision a merge brought in. Changes reads the metadata folder's
// branch only: the revisions of to's ancestry that are not from's (all
// of it when from is not an ancestor), in brz log's order (a mainline
// revision, then what it merged, newest first), at most max, each with
// its first author, timestamp, message's first line and the files that
// differ from its left-hand parent (for a merge, all it brought in; a
// rename lists both paths).
//
// Every brz command runs with an explicit environment: no plugins
// (--no-plugins), configuration only from a folder of the step's
// (BRZ_HOME), no log file (BRZ_LOG), HOME and TMPDIR the step's temp
// folder.
package brz

import (
	"bytes"
	"context"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/autobuild/autobuild/scm"
	"github.com/autobuild/autobuild/scm/dir"
)

// Kind is the registry name of this SCM.
const Kind = "brz"

func init() { scm.Register(Kind, Brz{}) }

// Brz implements scm.SCM.
type Brz struct{}

// schemes are the URL schemes a source may use; anything else must be an
// absolute path.
var schemes = map[string]bool{"file": true, "http": true, "https": true, "bzr": true, "bzr+ssh": true, "sftp": true}

var (
	revnoRE = regexp.MustCompile(`^[0-9]+(\.[0-9]+)*$`)
	// A revision id as Breezy makes them: printable ASCII, no space.
	revidRE = regexp.MustCompile(`^[!-~]{1,255}$`)
)

// Validate implements scm.SCM.
func (Brz) Validate(src scm.Source) error {
	if err := validURL(src.URL); err != nil {
		return &scm.FieldError{Field: "url", Msg: err.Error()}
	}
	if src.Branch != "" {
		if err := validBranch(src.Branch); err != nil {
			return &scm.FieldError{Field: "branch", Msg: err.Error()}
		}
	}
	if strings.ContainsFunc(src.Tag, func(r rune) bool { return r < ' ' || r == 0x7f }) {
		return &scm.FieldError{Field: "tag", Msg: fmt.Sprintf("%q holds a control character", src.Tag)}
	}
	if src.Commit != "" && !revidRE.MatchString(src.Commit) {
		return &scm.FieldError{Field: "commit", Msg: fmt.Sprintf("%q is neither a revision id nor a revision number", src.Commit)}
	}
	return nil
}

func validURL(u string) error {
	if i := strings.Index(u, "://"); i > 0 {
		if !schemes[u[:i]] {
			return fmt.Errorf("%q: scheme %q is not one of bzr, bzr+ssh, file, http, https, sftp", u, u[:i])
		}
		return nil
	}
	if !filepath.IsAbs(u) {
		return fmt.Errorf("%q is neither an absolute path nor a bzr, bzr+ssh, file, http, https or sftp URL", u)
	}
	return nil
}

// validBranch accepts a relative slash path below the URL.
func validBranch(b string) error {
	switch {
	case strings.ContainsFunc(b, func(r rune) bool { return r < ' ' || r == 0x7f }):
		return fmt.Errorf("%q holds a control character", b)
	case strings.HasPrefix(b, "/") || strings.Contains(b, "://"):
		return fmt.Errorf("%q must be a path relative to the url (a Bazaar branch is a folder below it)", b)
	}
	for _, c := range strings.Split(b, "/") {
		if c == ".." {
			return fmt.Errorf("%q leaves the url's folder", b)
		}
	}
	return nil
}

// branchURL is the URL of the branch src names.
func branchURL(src scm.Source) string {
	if src.Branch == "" {
		return src.URL
	}
	return strings.TrimRight(src.URL, "/") + "/" + path.Clean(src.Branch)
}

// LocalPath returns the folder a URL names when it is a local path or a
// file:// URL, and "" otherwise.
func LocalPath(u string) string {
	if strings.HasPrefix(u, "file://") {
		if p, err := url.Parse(u); err == nil {
			return filepath.Clean(p.Path)
		}
		return ""
	}
	if filepath.IsAbs(u) {
		return filepath.Clean(u)
	}
	return ""
}

// Inputs implements scm.SCM: a local branch's folder (below the URL),
// and the shared repository above it that holds its revisions, if any
// (brz looks for one in the branch's parent folders).
func (Brz) Inputs(src scm.Source) []string {
	p := LocalPath(src.URL)
	if p == "" {
		return nil
	}
	in := []string{p}
	b := LocalPath(branchURL(src))
	if fi, err := os.Stat(filepath.Join(b, ".bzr", "repository")); err == nil && fi.IsDir() {
		return in // a standalone branch
	}
	for dir := filepath.Dir(b); ; dir = filepath.Dir(dir) {
		if fi, err := os.Stat(filepath.Join(dir, ".bzr", "repository")); err == nil && fi.IsDir() {
			if rel, err := filepath.Rel(dir, p); err == nil && rel != ".." && !strings.HasPrefix(rel, "../") {
				in = []string{dir} // the url is in it
			} else if rel, err := filepath.Rel(p, dir); err != nil || rel == ".." || strings.HasPrefix(rel, "../") {
				in = append(in, dir)
			}
			break
		}
		if dir == "/" || dir == "." {
			break
		}
	}
	return in
}

func branchDir(d scm.Dirs) string { return filepath.Join(d.Meta, "branch") }
func exportDir(d scm.Dirs) string { return filepath.Join(d.Meta, "export") }
func homeDir(d scm.Dirs) string   { return filepath.Join(d.Meta, "home") }

// revisionFile (of the metadata folder) records the revision the work
// tree holds.
const revisionFile = "revision"

// HasCheckout implements scm.SCM.
func (Brz) HasCheckout(d scm.Dirs) bool {
	if d.Meta == "" {
		return false
	}
	_, err1 := os.Stat(filepath.Join(branchDir(d), ".bzr", "branch-format"))
	_, err2 := os.Stat(filepath.Join(d.Meta, revisionFile))
	return err1 == nil && err2 == nil
}

// Current implements scm.SCM.
func (Brz) Current(d scm.Dirs) (scm.Revision, error) {
	rev, err := dir.ReadRevision(d.Meta, revisionFile)
	if err == nil && !revidRE.MatchString(rev.ID) {
		return scm.Revision{}, fmt.Errorf("%s: %q is not a revision id", filepath.Join(d.Meta, revisionFile), rev.ID)
	}
	return rev, err
}

// revSpec is the brz revision spec of what src asks for ("" the tip).
func revSpec(src scm.Source) string {
	switch {
	case src.Commit != "" && revnoRE.MatchString(src.Commit):
		return src.Commit
	case src.Commit != "":
		return "revid:" + src.Commit
	case src.Tag != "":
		return "tag:" + src.Tag
	}
	return ""
}

// Resolve implements scm.SCM.
func (b Brz) Resolve(ctx context.Context, src scm.Source) (scm.Revision, error) {
	if err := b.Validate(src); err != nil {
		return scm.Revision{}, err
	}
	home, err := os.MkdirTemp("", "brz-home-")
	if err != nil {
		return scm.Revision{}, err
	}
	defer os.RemoveAll(home)
	args := []string{"revision-info", "--directory=" + branchURL(src)}
	if spec := revSpec(src); spec != "" {
		args = append(args, "--revision="+spec)
	}
	out, err := run(ctx, home, args...)
	if err != nil {
		return scm.Revision{}, fmt.Errorf("%s: %s: %w", branchURL(src), src.Ref(), err)
	}
	// "<revno> <revision id>"
	fields := strings.Fields(out)
	if len(fields) != 2 || !revidRE.MatchString(fields[1]) {
		return scm.Revision{}, fmt.Errorf("%s: %s: brz answered %q, not a revision", branchURL(src), src.Ref(), out)
	}
	if !revnoRE.MatchString(fields[0]) {
		// brz answers "???" for a revision id the branch's history lacks.
		return scm.Revision{}, fmt.Errorf("%s: %s: no such revision in the branch's history", branchURL(src), src.Ref())
	}
	id := fields[1]
	if src.Commit != "" && !revnoRE.MatchString(src.Commit) && id != src.Commit {
		return scm.Revision{}, fmt.Errorf("%s: commit %s: brz found %s", branchURL(src), src.Commit, id)
	}
	return scm.Revision{ID: id}, nil
}

// Checkout implements scm.SCM.
func (b Brz) Checkout(ctx context.Context, src scm.Source, rev scm.Revision, d scm.Dirs) error {
	if err := d.Validate(); err != nil {
		return err
	}
	if !revidRE.MatchString(rev.ID) {
		return fmt.Errorf("revision %q is not a revision id", rev.ID)
	}
	if err := b.Validate(src); err != nil {
		return err
	}
	return scm.Afresh(ctx, "checkout", branchDir(d), os.RemoveAll, func() error { return checkout(ctx, src, rev, d) })
}

func checkout(ctx context.Context, src scm.Source, rev scm.Revision, d scm.Dirs) error {
	if err := os.MkdirAll(d.Work, 0o755); err != nil {
		return err
	}
	if err := dir.ClearRevision(d.Meta, revisionFile); err != nil {
		return err
	}
	home, err := newHome(d)
	if err != nil {
		return err
	}
	br, export := branchDir(d), exportDir(d)
	if err := openBranch(ctx, home, src, rev.ID, br); err != nil {
		return err
	}
	if err := os.RemoveAll(export); err != nil {
		return err
	}
	defer os.RemoveAll(export)
	exp := []string{"export", "--format=dir", "--revision=revid:" + rev.ID, "--directory=" + br, "--", export}
	if _, err := run(ctx, home, exp...); err != nil {
		// Not here yet: pull it.
		if err := os.RemoveAll(export); err != nil {
			return err
		}
		if err := pull(ctx, home, src, rev.ID, br); err != nil {
			return err
		}
		if _, err := run(ctx, home, exp...); err != nil {
			return fmt.Errorf("export %s: %w", rev.ID, err)
		}
	}
	if err := os.MkdirAll(export, 0o755); err != nil {
		return err
	}
	if _, err := dir.Mirror(export, d.Work, nil); err != nil {
		return fmt.Errorf("check out %s into %s: %w", rev.ID, d.Work, err)
	}
	return dir.WriteRevision(d.Meta, revisionFile, rev)
}

// newHome makes the metadata folder's configuration folder afresh:
// nothing in it steers a command.
func newHome(d scm.Dirs) (string, error) {
	home := homeDir(d)
	if err := os.MkdirAll(d.Meta, 0o755); err != nil {
		return "", err
	}
	if err := os.RemoveAll(home); err != nil {
		return "", err
	}
	if err := os.Mkdir(home, 0o700); err != nil {
		return "", err
	}
	return home, nil
}

// openBranch makes br a branch without a working tree, branched from the
// Source's URL up to revision id, when it is not a branch yet.
func openBranch(ctx context.Context, home string, src scm.Source, id, br string) error {
	if fi, err := os.Lstat(filepath.Join(br, ".bzr")); err == nil && fi.IsDir() {
		return nil
	}
	if err := os.RemoveAll(br); err != nil {
		return err
	}
	if _, err := run(ctx, home, "branch", "--no-tree", "--revision=revid:"+id, "--", branchURL(src), br); err != nil {
		return fmt.Errorf("branch %s: %w", branchURL(src), err)
	}
	return nil
}

// pull brings revision id and its ancestry into the branch br from the
// Source's URL (--overwrite: br may hold another branch's history).
func pull(ctx context.Context, home string, src scm.Source, id, br string) error {
	if _, err := run(ctx, home, "pull", "--overwrite", "--revision=revid:"+id, "--directory="+br, "--", branchURL(src)); err != nil {
		return fmt.Errorf("pull %s from %s: %w", id, branchURL(src), err)
	}
	return nil
}

// envPath is the PATH of every brz command.
const envPath = "/usr/local/bin:/usr/bin:/bin"

// Env is the environment of every brz command, with home its
// configuration folder: nothing of the user's or the system's.
func Env(home string) []string {
	tmp := os.TempDir()
	return []string{
		"PATH=" + envPath,
		"HOME=" + home,
		"TMPDIR=" + tmp,
		"LANG=C.UTF-8",
		"TZ=UTC",
		"BRZ_HOME=" + home,
		"BRZ_LOG=/dev/null",
		"BRZ_PLUGIN_PATH=-site:-user",
		"BRZ_EMAIL=autobuild <autobuild@localhost>",
	}
}

// run runs brz with args, home its configuration folder, and returns its
// output; an error carries what brz said (its ERROR line).
func run(ctx context.Context, home string, args ...string) (string, error) {
	brz, err := exec.LookPath("brz")
	if err != nil {
		return "", fmt.Errorf("the brz command (Debian package brz): %w", err)
	}
	cmd := exec.CommandContext(ctx, brz, append([]string{"--no-plugins"}, args...)...)
	cmd.Env = Env(home)
	cmd.Dir = "/"
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("brz %s: %s", args[0], message(stderr.String(), err))
	}
	return stdout.String(), nil
}

// message is the line of brz's error output that says what went wrong.
func message(stderr string, err error) string {
	lines := strings.Split(strings.TrimSpace(stderr), "\n")
	for _, l := range lines {
		if strings.HasPrefix(l, "brz: ERROR: ") {
			return strings.TrimPrefix(l, "brz: ")
		}
	}
	if s := strings.TrimSpace(stderr); s != "" {
		if len(s) > 500 {
			s = s[:500] + "…"
		}
		return s
	}
	return err.Error()
}
