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
// the repository.
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
	if err := cmd.Run(); err != nil {
		msg := strings.TrimSpace(errb.String() + "\n" + out.String())
		return out.String(), fmt.Errorf("fossil %s: %w: %s", args[0], err, msg)
	}
	return out.String(), nil
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
		for _, p := range []string{cloneFile, openDir} {
			if rerr := os.RemoveAll(filepath.Join(d.Meta, p)); rerr != nil {
				return fmt.Errorf("%w (and emptying %s: %v)", err, d.Meta, rerr)
			}
		}
		err = checkout(ctx, src, rev, d)
	}
	if err != nil {
		return err
	}
	return dir.WriteRevision(d.Meta, revisionFile, rev)
}

func checkout(ctx context.Context, src scm.Source, rev scm.Revision, d scm.Dirs) error {
	url := dir.LocalPath(src.URL)
	if st, err := os.Stat(url); err != nil {
		return err
	} else if !st.Mode().IsRegular() {
		return fmt.Errorf("%s is not a Fossil repository file", url)
	}
	// A home of Fossil's own, made anew: no configuration survives from
	// one checkout to the next.
	home := filepath.Join(d.Meta, homeDir)
	if err := os.RemoveAll(home); err != nil {
		return err
	}
	if err := os.Mkdir(home, 0o700); err != nil {
		return err
	}
	clone, co := filepath.Join(d.Meta, cloneFile), filepath.Join(d.Meta, openDir)
	if _, err := os.Lstat(clone); errors.Is(err, os.ErrNotExist) {
		if err := os.RemoveAll(co); err != nil {
			return err
		}
		if _, err := run(ctx, home, d.Meta, "clone", "--once", "--", url, clone); err != nil {
			return err
		}
	} else if err != nil {
		return err
	} else if _, err := whatis(ctx, home, clone, rev.ID); err != nil {
		if _, err := run(ctx, home, d.Meta, "pull", url, "--once", "-R", clone); err != nil {
			return err
		}
	}
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
