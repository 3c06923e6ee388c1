// Package darcs is the Darcs SCM, driven through the darcs program
// (Debian package darcs).
//
// A source's URL is a repository: a local folder (an absolute path or a
// file:// URL) or an http:// or https:// address.
//
// Resolve reads the repository's patch log (darcs log --xml-output
// --repo URL; no patch is downloaded) and pins the hash of a patch: the
// newest one by default; with tag:, the newest tag patch of that name
// (darcs tag); with commit:, the patch of that hash (40 hex digits),
// which must be in the repository. Darcs has no branches (a branch is
// another repository, another URL): branch: is refused.
//
// Checkout makes a complete clone of the repository up to the pinned
// patch (darcs clone --to-hash) in the metadata folder (tree), from the
// Source's URL as given (never remembered as a default), with no patch
// cache and hooks off; the clone is kept while the revision stays the
// same and darcs whatsnew finds it unchanged, and made anew otherwise. Every darcs command runs with a
// home folder of its own in the metadata folder (home, made anew), so no
// user's preferences are read. The clone's files are then copied into the
// work tree (dir.Mirror), without its _darcs folder. Darcs does not
// record symlinks nor file modes: the work tree holds regular files and
// folders only.
//
// ResolveAt keeps a tag or commit pin as Resolve does. Otherwise it reads
// the repository's patch log as Resolve does (every patch's record date
// is there: nothing is fetched, no folder written) and pins the newest
// patch, in the repository's order, recorded at or before the time
// asked for (darcs keeps dates to the second, in UTC); Checkout then
// clones up to it. A repository whose patches are all younger is an
// error wrapping scm.ErrNoRevisionAt.
//
// Changes reads the clone a Checkout of the newer revision left (darcs
// log --summary --to-hash): its patches, newest first in the
// repository's order, down to the older revision (excluded), with their
// author, date and name (a patch's name is the first line of its
// message; tags are patches too). A patch's files are those it adds,
// removes or modifies, and both names of what it moves: a moved folder
// counts each file it held (darcs show files at that patch), never the
// folder. darcs writes control characters and bytes that are not UTF-8
// into its XML as they are, which XML cannot carry: they are escaped
// before parsing and restored after, so names arrive byte for byte.
package darcs

import (
	"bytes"
	"context"
	"encoding/xml"
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
const Kind = "darcs"

func init() { scm.Register(Kind, Darcs{}) }

// Darcs implements scm.SCM.
type Darcs struct{}

// Program is the darcs program run.
var Program = "darcs"

var (
	hashRE = regexp.MustCompile(`^[0-9a-f]{40}$`)
	tagRE  = regexp.MustCompile(`^[^\x00-\x1f\x7f-][^\x00-\x1f\x7f]*$`)
)

// remote reports whether u is an address darcs fetches over HTTP.
func remote(u string) bool {
	return strings.HasPrefix(u, "http://") || strings.HasPrefix(u, "https://")
}

// location is what darcs is given for src: the local folder, or the
// HTTP address.
func location(src scm.Source) string {
	if p := dir.LocalPath(src.URL); p != "" {
		return p
	}
	return src.URL
}

// Validate implements scm.SCM.
func (Darcs) Validate(src scm.Source) error {
	if dir.LocalPath(src.URL) == "" && !remote(src.URL) {
		return &scm.FieldError{Field: "url", Msg: fmt.Sprintf("%q is neither a local Darcs repository (an absolute path or a file:// URL) nor an http:// or https:// address", src.URL)}
	}
	if src.Branch != "" {
		return &scm.FieldError{Field: "branch", Msg: "Darcs has no branches: a branch is a repository of its own, give its URL"}
	}
	if src.Commit != "" && !hashRE.MatchString(src.Commit) {
		return &scm.FieldError{Field: "commit", Msg: fmt.Sprintf("must be a patch hash (40 lowercase hex digits), not %q", src.Commit)}
	}
	if src.Tag != "" && !tagRE.MatchString(src.Tag) {
		return &scm.FieldError{Field: "tag", Msg: fmt.Sprintf("%q is not a Darcs tag name (no control characters, no leading dash)", src.Tag)}
	}
	return nil
}

// Inputs implements scm.SCM: a local repository's folder.
func (Darcs) Inputs(src scm.Source) []string {
	if p := dir.LocalPath(src.URL); p != "" {
		return []string{p}
	}
	return nil
}

// The metadata folder's entries.
const (
	treeDir      = "tree"
	treeRevision = "tree.revision"
	homeDir      = "home"
	revisionFile = "revision"
)

// HasCheckout implements scm.SCM.
func (Darcs) HasCheckout(d scm.Dirs) bool {
	_, err := Darcs{}.Current(d)
	return err == nil
}

// Current implements scm.SCM.
func (Darcs) Current(d scm.Dirs) (scm.Revision, error) {
	return dir.ReadRevision(d.Meta, revisionFile)
}

// run runs darcs with args in folder wd, with home as its home and
// nothing else of the caller's environment but TMPDIR.
func run(ctx context.Context, home, wd string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, Program, args...)
	cmd.Dir = wd
	cmd.Env = []string{
		"PATH=/usr/local/bin:/usr/bin:/bin",
		"HOME=" + home,
		"XDG_CACHE_HOME=" + filepath.Join(home, ".cache"),
		"XDG_CONFIG_HOME=" + filepath.Join(home, ".config"),
		"DARCS_EMAIL=autobuild",
		"LANG=C.UTF-8",
	}
	if tmp := os.Getenv("TMPDIR"); tmp != "" {
		cmd.Env = append(cmd.Env, "TMPDIR="+tmp)
	}
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		msg := strings.TrimSpace(errb.String() + "\n" + out.String())
		return out.String(), fmt.Errorf("darcs %s: %w: %s", args[0], err, msg)
	}
	return out.String(), nil
}

// patch is one patch of darcs log --xml-output (--summary fills
// Summary).
type patch struct {
	Hash    string `xml:"hash,attr"`
	Author  string `xml:"author,attr"`
	Date    string `xml:"date,attr"`
	Name    string `xml:"name"`
	Summary struct {
		Items []summaryItem `xml:",any"`
	} `xml:"summary"`
}

// summaryItem is one entry of a patch's summary: add_file, modify_file,
// remove_file, add_directory, remove_directory (a path), or move (from
// and to).
type summaryItem struct {
	XMLName xml.Name
	Path    string `xml:",chardata"`
	From    string `xml:"from,attr"`
	To      string `xml:"to,attr"`
}

// log lists the patches darcs log selects with args, newest first.
func log(ctx context.Context, home, repo string, args ...string) ([]patch, error) {
	out, err := run(ctx, home, "/", append([]string{"log", "--xml-output", "--no-cache", "--repo", repo}, args...)...)
	if err != nil {
		return nil, err
	}
	var cl struct {
		Patches []patch `xml:"patch"`
	}
	if err := xml.Unmarshal(xmlSafe([]byte(out)), &cl); err != nil {
		return nil, fmt.Errorf("darcs log of %s: %w", repo, err)
	}
	for i := range cl.Patches {
		p := &cl.Patches[i]
		p.Author, p.Name = unescape(p.Author), unescape(p.Name)
		for j := range p.Summary.Items {
			s := &p.Summary.Items[j]
			s.Path, s.From, s.To = unescape(s.Path), unescape(s.From), unescape(s.To)
		}
	}
	return cl.Patches, nil
}

// Resolve implements scm.SCM.
func (Darcs) Resolve(ctx context.Context, src scm.Source) (scm.Revision, error) {
	if err := (Darcs{}).Validate(src); err != nil {
		return scm.Revision{}, err
	}
	home, err := os.MkdirTemp("", "darcs-home-")
	if err != nil {
		return scm.Revision{}, err
	}
	defer os.RemoveAll(home)
	repo := location(src)
	var (
		patches []patch
		want    func(p patch) bool
	)
	switch {
	case src.Commit != "":
		patches, err = log(ctx, home, repo, "--hash="+src.Commit)
		want = func(p patch) bool { return p.Hash == src.Commit }
	case src.Tag != "":
		patches, err = log(ctx, home, repo, "--tags=^"+regexp.QuoteMeta(src.Tag)+"$")
		want = func(p patch) bool { return p.Name == "TAG "+src.Tag }
	default:
		patches, err = log(ctx, home, repo, "--last=1")
		want = func(patch) bool { return true }
	}
	if err != nil {
		return scm.Revision{}, err
	}
	for _, p := range patches {
		if want(p) && hashRE.MatchString(p.Hash) {
			return scm.Revision{ID: p.Hash}, nil
		}
	}
	if src.Commit == "" && src.Tag == "" {
		return scm.Revision{}, fmt.Errorf("%s: no patches", src.URL)
	}
	return scm.Revision{}, fmt.Errorf("%s: no %s", src.URL, src.Ref())
}

// Checkout implements scm.SCM.
func (Darcs) Checkout(ctx context.Context, src scm.Source, rev scm.Revision, d scm.Dirs) error {
	if err := d.Validate(); err != nil {
		return err
	}
	if err := (Darcs{}).Validate(src); err != nil {
		return err
	}
	if !hashRE.MatchString(rev.ID) {
		return fmt.Errorf("revision %q is not a patch hash", rev.ID)
	}
	for _, p := range []string{d.Work, d.Meta} {
		if err := os.MkdirAll(p, 0o755); err != nil {
			return err
		}
	}
	if err := dir.ClearRevision(d.Meta, revisionFile); err != nil {
		return err
	}
	home := filepath.Join(d.Meta, homeDir)
	if err := os.RemoveAll(home); err != nil {
		return err
	}
	if err := os.Mkdir(home, 0o700); err != nil {
		return err
	}
	tree := filepath.Join(d.Meta, treeDir)
	if have, err := dir.ReadRevision(d.Meta, treeRevision); err != nil || have != rev || !pristine(ctx, home, tree) {
		if err := dir.ClearRevision(d.Meta, treeRevision); err != nil {
			return err
		}
		fresh := filepath.Join(d.Meta, treeDir+".new")
		for _, p := range []string{tree, fresh} {
			if err := os.RemoveAll(p); err != nil {
				return err
			}
		}
		if _, err := run(ctx, home, d.Meta, "clone", "--complete", "--no-set-default", "--no-cache",
			"--no-prehook", "--no-posthook", "--to-hash="+rev.ID, "--", location(src), fresh); err != nil {
			return err
		}
		// The clone is at rev only if rev is its newest patch.
		got, err := log(ctx, home, fresh, "--last=1")
		if err != nil {
			return err
		}
		if len(got) != 1 || got[0].Hash != rev.ID {
			return fmt.Errorf("%s: no patch %s", src.URL, rev.ID)
		}
		if err := os.Rename(fresh, tree); err != nil {
			return err
		}
		if err := dir.WriteRevision(d.Meta, treeRevision, rev); err != nil {
			return err
		}
	}
	if _, err := os.Stat(filepath.Join(tree, "_darcs")); err != nil {
		return errors.Join(fmt.Errorf("%s holds no darcs clone", tree), err)
	}
	if _, err := dir.Mirror(tree, d.Work, func(name string) bool { return name == "_darcs" }); err != nil {
		return fmt.Errorf("copy %s into %s: %w", rev.ID, d.Work, err)
	}
	return dir.WriteRevision(d.Meta, revisionFile, rev)
}

// pristine reports whether the clone tree holds exactly its recorded
// files: darcs whatsnew, looking for files it does not track too, finds
// no change (it exits 1 when there is none).
func pristine(ctx context.Context, home, tree string) bool {
	_, err := run(ctx, home, tree, "whatsnew", "--look-for-adds", "--ignore-times", "--summary", "--no-cache")
	var ee *exec.ExitError
	return errors.As(err, &ee) && ee.ExitCode() == 1
}
