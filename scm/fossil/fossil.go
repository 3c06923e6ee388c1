// Package fossil is the Fossil SCM, driven through the fossil program
// (Debian package fossil).
//
// A source's URL is a local repository file (an absolute path or a
// file:// URL): Fossil keeps a whole repository in one SQLite file.
// Remote servers are not supported: Fossil has no way to ask a server
// for a branch's newest check-in without cloning it.
//
// Resolve asks the repository what the source names (fossil whatis),
// read-only: its default branch is "trunk"; branch: is a branch's newest
// check-in (the branch must exist); tag: a tag's check-in ("tag:NAME";
// in Fossil a branch name is a tag too, and names its newest check-in);
// commit: a full check-in hash (64 hex digits, or 40 for an older
// repository), which must name a check-in of the repository. The revision is the check-in's
// full hash.
//
// Checkout keeps everything of Fossil's in the metadata folder: a clone
// of the repository (repo.fossil), pulled from the Source's URL (given on
// the command line every time, never remembered) only when it lacks the
// revision; Fossil's open checkout of it (co, with its .fslckout), opened
// afresh at the revision on every checkout; and the home folder every
// fossil command runs with (home, made anew on every checkout: no user's
// configuration is read). A checkout that fails (the clone is another
// project's, or damaged) starts once more from an empty clone. The open
// checkout is copied into the work tree (dir.Mirror): exactly its files,
// without .fslckout, symlinks as their text. The clone allows symlinks
// (the allow-symlinks setting), so committed symlinks are checked out as
// symlinks; autosync is off, so nothing but the explicit pull talks to
// the repository. A clone of another project (its project code differs
// from the repository's) is replaced by a new clone rather than pulled
// into.
//
// ResolveAt keeps a tag or commit pin as Resolve does. For a branch
// (trunk by default) it clones or pulls the repository into the metadata
// folder's clone (as Checkout does, which then finds the check-in there)
// and asks the clone (fossil sql --readonly) for the newest check-in
// carrying the branch's tag whose time is at or before the one asked
// for, to the millisecond Fossil keeps. A branch no check-in is on is an
// error naming it; a branch younger than the time, an error wrapping
// scm.ErrNoRevisionAt.
//
// Changes reads the clone a Checkout of the newer revision left: the
// check-ins that lead to it (through every parent, so a merge brings the
// merged branch's check-ins) and not to the older one, newest first by
// check-in time, with their user, time and comment (as edited by fossil
// amend), and the files each added, changed, removed or renamed (both
// names) against its primary parent. The empty check-in fossil init
// makes (no parent, no file) is not listed. Text is read hex-encoded
// from the SQL shell, so a comment or a name arrives byte for byte.
package fossil

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
const Kind = "fossil"

func init() { scm.Register(Kind, Fossil{}) }

// Fossil implements scm.SCM.
type Fossil struct{}

// Program is the fossil program run.
var Program = "fossil"

var (
	hashRE = regexp.MustCompile(`^([0-9a-f]{40}|[0-9a-f]{64})$`)
	nameRE = regexp.MustCompile(`^[^\x00-\x20\x7f-][^\x00-\x1f\x7f]*$`)
)

// Validate implements scm.SCM.
func (Fossil) Validate(src scm.Source) error {
	if dir.LocalPath(src.URL) == "" {
		return &scm.FieldError{Field: "url", Msg: fmt.Sprintf("%q is not a local Fossil repository file (an absolute path or a file:// URL); remote Fossil servers are not supported", src.URL)}
	}
	if src.Commit != "" && !hashRE.MatchString(src.Commit) {
		return &scm.FieldError{Field: "commit", Msg: fmt.Sprintf("must be a full check-in hash (64 or 40 lowercase hex digits), not %q", src.Commit)}
	}
	for _, f := range []struct{ name, v string }{{"branch", src.Branch}, {"tag", src.Tag}} {
		if f.v != "" && !nameRE.MatchString(f.v) {
			return &scm.FieldError{Field: f.name, Msg: fmt.Sprintf("%q is not a Fossil name (no control characters, no leading space or dash)", f.v)}
		}
	}
	return nil
}

// Inputs implements scm.SCM: the repository file.
func (Fossil) Inputs(src scm.Source) []string {
	if p := dir.LocalPath(src.URL); p != "" {
		return []string{p}
	}
	return nil
}

// The metadata folder's entries.
const (
	cloneFile    = "repo.fossil"
	openDir      = "co"
	homeDir      = "home"
	revisionFile = "revision"
)

// HasCheckout implements scm.SCM.
func (Fossil) HasCheckout(d scm.Dirs) bool {
	_, err := Fossil{}.Current(d)
	return err == nil
}

// Current implements scm.SCM.
func (Fossil) Current(d scm.Dirs) (scm.Revision, error) {
	return dir.ReadRevision(d.Meta, revisionFile)
}

// run runs fossil with args in folder wd, with home as its home and
// configuration folder and nothing else of the caller's environment but
// TMPDIR. Its output is returned; a failure's error quotes it.
func run(ctx context.Context, home, wd string, args ...string) (string, error) {
	out, errOut, err := run2(ctx, home, wd, args...)
	if err != nil {
		msg := strings.TrimSpace(errOut + "\n" + out)
		return out, fmt.Errorf("fossil %s: %w: %s", args[0], err, msg)
	}
	return out, nil
}

// run2 is run, returning the standard output and error apart.
func run2(ctx context.Context, home, wd string, args ...string) (string, string, error) {
	cmd := exec.CommandContext(ctx, Program, args...)
	cmd.Dir = wd
	cmd.Env = []string{
		"PATH=/usr/local/bin:/usr/bin:/bin",
		"HOME=" + home,
		"FOSSIL_HOME=" + home,
		"FOSSIL_USER=autobuild",
		"LANG=C.UTF-8",
	}
	if tmp := os.Getenv("TMPDIR"); tmp != "" {
		cmd.Env = append(cmd.Env, "TMPDIR="+tmp)
	}
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	cmd.Stdin = nil
	err := cmd.Run()
	return out.String(), errb.String(), err
}

// whatis resolves name in the repository file repo to a check-in's full
// hash.
func whatis(ctx context.Context, home, repo, name string) (string, error) {
	out, err := run(ctx, home, "/", "whatis", "-R", repo, "--", name)
	if err != nil {
		return "", err
	}
	var hash, typ string
	for _, line := range strings.Split(out, "\n") {
		k, v, _ := strings.Cut(line, ":")
		switch strings.TrimSpace(k) {
		case "artifact":
			hash = strings.TrimSpace(v)
		case "type":
			typ = strings.TrimSpace(v)
		case "unknown":
			return "", fmt.Errorf("%s: no such name", repo)
		}
	}
	if !hashRE.MatchString(hash) {
		return "", fmt.Errorf("%s: %q names no single artifact", repo, name)
	}
	if !strings.HasPrefix(typ, "Check-in") {
		return "", fmt.Errorf("%s: %q is not a check-in (%s)", repo, name, typ)
	}
	return hash, nil
}

// tempHome is a fresh home folder for a command outside a checkout,
// in the step's temp folder.
func tempHome() (string, func(), error) {
	h, err := os.MkdirTemp("", "fossil-home-")
	if err != nil {
		return "", nil, err
	}
	return h, func() { os.RemoveAll(h) }, nil
}

// Resolve implements scm.SCM.
func (Fossil) Resolve(ctx context.Context, src scm.Source) (scm.Revision, error) {
	if err := (Fossil{}).Validate(src); err != nil {
		return scm.Revision{}, err
	}
	repo := dir.LocalPath(src.URL)
	if st, err := os.Stat(repo); err != nil {
		return scm.Revision{}, err
	} else if !st.Mode().IsRegular() {
		return scm.Revision{}, fmt.Errorf("%s is not a Fossil repository file", repo)
	}
	home, done, err := tempHome()
	if err != nil {
		return scm.Revision{}, err
	}
	defer done()
	name := "trunk"
	switch {
	case src.Commit != "":
		name = src.Commit
	case src.Tag != "":
		name = "tag:" + src.Tag
	case src.Branch != "":
		out, err := run(ctx, home, "/", "branch", "list", "--all", "-R", repo)
		if err != nil {
			return scm.Revision{}, err
		}
		found := false
		for _, l := range strings.Split(out, "\n") {
			if strings.TrimLeft(strings.TrimSpace(l), "* ") == src.Branch {
				found = true
			}
		}
		if !found {
			return scm.Revision{}, fmt.Errorf("%s: no branch %s", src.URL, src.Branch)
		}
		name = src.Branch
	}
	h, err := whatis(ctx, home, repo, name)
	if err != nil {
		return scm.Revision{}, fmt.Errorf("%s: %s: %w", src.URL, src.Ref(), err)
	}
	if src.Commit != "" && h != src.Commit {
		return scm.Revision{}, fmt.Errorf("%s: commit %s names check-in %s", src.URL, src.Commit, h)
	}
	return scm.Revision{ID: h}, nil
}

// Checkout implements scm.SCM.
func (Fossil) Checkout(ctx context.Context, src scm.Source, rev scm.Revision, d scm.Dirs) error {
	if err := d.Validate(); err != nil {
		return err
	}
	if err := (Fossil{}).Validate(src); err != nil {
		return err
	}
	if !hashRE.MatchString(rev.ID) {
		return fmt.Errorf("revision %q is not a full check-in hash", rev.ID)
	}
	for _, p := range []string{d.Work, d.Meta} {
		if err := os.MkdirAll(p, 0o755); err != nil {
			return err
		}
	}
	if err := dir.ClearRevision(d.Meta, revisionFile); err != nil {
		return err
	}
	err := checkout(ctx, src, rev, d)
	if err != nil && ctx.Err() == nil {
		// The clone and its open checkout are a cache of the
		// repository's: start afresh once (another project, a damaged
		// clone); a source that really fails fails again.
		fmt.Fprintf(os.Stderr, "autobuild scm: fossil checkout failed (%v); starting %s afresh\n", err, d.Meta)
		if rerr := forget(d); rerr != nil {
			return fmt.Errorf("%w (and emptying %s: %v)", err, d.Meta, rerr)
		}
		err = checkout(ctx, src, rev, d)
	}
	if err != nil {
		return err
	}
	return dir.WriteRevision(d.Meta, revisionFile, rev)
}

func checkout(ctx context.Context, src scm.Source, rev scm.Revision, d scm.Dirs) error {
	url, err := repoFile(src)
	if err != nil {
		return err
	}
	home, err := freshHome(d)
	if err != nil {
		return err
	}
	if err := fetch(ctx, home, url, d, rev.ID); err != nil {
		return err
	}
	clone, co := filepath.Join(d.Meta, cloneFile), filepath.Join(d.Meta, openDir)
	if h, err := whatis(ctx, home, clone, rev.ID); err != nil {
		return fmt.Errorf("%s: check-in %s: %w", src.URL, rev.ID, err)
	} else if h != rev.ID {
		return fmt.Errorf("%s: %s names check-in %s", src.URL, rev.ID, h)
	}
	for _, set := range [][2]string{{"allow-symlinks", "on"}, {"autosync", "off"}, {"mtime-changes", "off"}} {
		if _, err := run(ctx, home, d.Meta, "settings", set[0], set[1], "-R", clone); err != nil {
			return err
		}
	}
	// The open checkout is made afresh: fossil's own checkout of another
	// revision leaves files it no longer manages, and keeps a symlink
	// where the revision has a folder.
	if err := os.RemoveAll(co); err != nil {
		return err
	}
	if err := os.Mkdir(co, 0o755); err != nil {
		return err
	}
	if _, err := run(ctx, home, co, "open", "--force", "--", clone, rev.ID); err != nil {
		return err
	}
	if _, err := dir.Mirror(co, d.Work, func(name string) bool { return name == ".fslckout" || name == "_FOSSIL_" }); err != nil {
		return fmt.Errorf("copy %s into %s: %w", rev.ID, d.Work, err)
	}
	return nil
}

// repoFile is src's repository file, which must be a regular file.
func repoFile(src scm.Source) (string, error) {
	url := dir.LocalPath(src.URL)
	if st, err := os.Stat(url); err != nil {
		return "", err
	} else if !st.Mode().IsRegular() {
		return "", fmt.Errorf("%s is not a Fossil repository file", url)
	}
	return url, nil
}

// freshHome makes d.Meta's home folder anew: no configuration survives
// from one command to the next.
func freshHome(d scm.Dirs) (string, error) {
	home := filepath.Join(d.Meta, homeDir)
	if err := os.RemoveAll(home); err != nil {
		return "", err
	}
	if err := os.Mkdir(home, 0o700); err != nil {
		return "", err
	}
	return home, nil
}

// fetch makes d.Meta's clone hold the check-ins of the repository file
// url: it clones url when there is no clone yet, and pulls from url when
// the clone lacks check-in want (always, with want empty). A clone of
// another project (fossil pull reports "wrong project" and succeeds) is
// replaced by a new clone.
func fetch(ctx context.Context, home, url string, d scm.Dirs, want string) error {
	clone, co := filepath.Join(d.Meta, cloneFile), filepath.Join(d.Meta, openDir)
	if _, err := os.Lstat(clone); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	} else if err == nil {
		if want != "" {
			if _, err := whatis(ctx, home, clone, want); err == nil {
				return nil
			}
		}
		ours, err1 := projectCode(ctx, home, clone)
		theirs, err2 := projectCode(ctx, home, url)
		if err := errors.Join(err1, err2); err != nil {
			return err
		}
		if ours == theirs {
			_, err := run(ctx, home, d.Meta, "pull", url, "--once", "-R", clone)
			return err
		}
		if err := forget(d); err != nil {
			return err
		}
	}
	if err := os.RemoveAll(co); err != nil {
		return err
	}
	_, err := run(ctx, home, d.Meta, "clone", "--once", "--", url, clone)
	return err
}

// projectCode is the project code of the repository file repo: a clone
// has its origin's.
func projectCode(ctx context.Context, home, repo string) (string, error) {
	var rows []struct {
		Code string `json:"code"`
	}
	if err := query(ctx, home, repo, `SELECT value AS code FROM config WHERE name='project-code'`, &rows); err != nil {
		return "", err
	}
	if len(rows) != 1 || rows[0].Code == "" {
		return "", fmt.Errorf("%s has no project code", repo)
	}
	return rows[0].Code, nil
}

// forget removes the clone and its open checkout from d.Meta, so that
// the next fetch starts from an empty clone.
func forget(d scm.Dirs) error {
	for _, p := range []string{cloneFile, openDir} {
		if err := os.RemoveAll(filepath.Join(d.Meta, p)); err != nil {
			return err
		}
	}
	return nil
}
