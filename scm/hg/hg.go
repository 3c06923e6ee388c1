// Package hg is the Mercurial SCM: it drives the hg command (Debian
// package mercurial).
//
// Resolve asks the repository, local or remote, for the node a name
// stands for (hg identify --rev NAME SOURCE), without downloading
// anything: a branch is a bookmark or a named branch (its tip-most open
// head), a tag is a tag, both looked up as hg looks up a name (bookmark,
// then tag, then named branch: a tag and a bookmark of the same name are
// the bookmark); no branch means the named branch "default"; a commit is
// a full 40-digit node, which the repository must have. A name is only
// ever looked up, never evaluated as a revset (hg reads --rev of a local
// repository as one: the name is quoted). The revision is the full node.
//
// Checkout keeps a repository without a working copy in the metadata
// folder (<meta>/repo), pulls into it only the pinned node and its
// ancestors, and only when it does not have the node yet, from the
// Source's URL as given (never from a stored path), then archives the
// node (hg archive) into <meta>/export and mirrors that into the work
// tree (dir.Mirror, shared with the other backends that drive a tool): the work tree holds exactly the node's files,
// symlinks as the text they hold, and no .hg. A node whose tree names
// subrepositories (.hgsub) fails its checkout: autobuild does not check
// them out, and never builds without them.
//
// ResolveAt resolves a tag or a commit as Resolve does, whatever the
// time. For a branch it resolves the head as Resolve does, pulls it into
// the metadata folder's repository as Checkout would (so the Checkout
// that follows needs no network), and takes the newest node along the
// head's first parents dated at or before the time (hg log --rev
// "max(_firstancestors(id(HEAD)) and date('<SECONDS 0'))"): the states
// the branch itself went through, never a commit a merge brought in as
// its second parent. hg dates are whole seconds.
//
// Changes reads the metadata folder's repository only: hg log --rev
// "reverse(only(id(TO), id(FROM) and ::id(TO)))" (every ancestor of TO
// when FROM is not one), children first, at most max, with hg's json
// template: node, author, date, the description's first line, and the
// files hg records for the changeset (for a merge, only those the merge
// itself had to change). Nodes are matched with id(), never looked up as
// names.
//
// Every hg command runs with an explicit environment: no user or system
// configuration (HGRCPATH empty), no repository's .hg/hgrc either
// (HGRCSKIPREPO: hg reads the hgrc of a local source it pulls from, and
// would run that repository's outgoing hooks and load its extensions),
// plain output (HGPLAIN), HOME and TMPDIR the step's temp folder.
package hg

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

	"github.com/autobuild/autobuild/scm"
	"github.com/autobuild/autobuild/scm/dir"
)

// Kind is the registry name of this SCM.
const Kind = "hg"

func init() { scm.Register(Kind, Hg{}) }

// Hg implements scm.SCM.
type Hg struct{}

var nodeRE = regexp.MustCompile(`^[0-9a-f]{40}$`)

// schemes are the URL schemes a source may use; anything else must be an
// absolute path.
var schemes = map[string]bool{"file": true, "http": true, "https": true, "ssh": true}

// Validate implements scm.SCM.
func (Hg) Validate(src scm.Source) error {
	if err := validURL(src.URL); err != nil {
		return &scm.FieldError{Field: "url", Msg: err.Error()}
	}
	if src.Commit != "" && !nodeRE.MatchString(src.Commit) {
		return &scm.FieldError{Field: "commit", Msg: fmt.Sprintf("must be a full 40-digit lowercase node, not %q", src.Commit)}
	}
	for _, f := range []struct{ field, v string }{{"branch", src.Branch}, {"tag", src.Tag}} {
		if strings.ContainsFunc(f.v, func(r rune) bool { return r < ' ' || r == 0x7f }) {
			return &scm.FieldError{Field: f.field, Msg: fmt.Sprintf("%q holds a control character", f.v)}
		}
	}
	return nil
}

func validURL(u string) error {
	if strings.Contains(u, "#") {
		// hg reads "URL#name" as a branch to pull.
		return fmt.Errorf("%q holds '#' (hg would take what follows for a branch): use branch:", u)
	}
	if i := strings.Index(u, "://"); i > 0 {
		if !schemes[u[:i]] {
			return fmt.Errorf("%q: scheme %q is not one of file, http, https, ssh", u, u[:i])
		}
		return nil
	}
	if !filepath.IsAbs(u) {
		return fmt.Errorf("%q is neither an absolute path nor a file, http, https or ssh URL", u)
	}
	return nil
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

// Inputs implements scm.SCM: a local repository, and the repository
// whose store it shares when it is a share (.hg/sharedpath).
func (Hg) Inputs(src scm.Source) []string {
	p := LocalPath(src.URL)
	if p == "" {
		return nil
	}
	in := []string{p}
	if b, err := os.ReadFile(filepath.Join(p, ".hg", "sharedpath")); err == nil && len(b) < 4096 {
		shared := filepath.Clean(strings.TrimSpace(string(b)))
		if !filepath.IsAbs(shared) {
			shared = filepath.Join(p, ".hg", shared)
		}
		if rel, err := filepath.Rel(p, shared); err != nil || rel == ".." || strings.HasPrefix(rel, "../") {
			// The store's repository (sharedpath names its .hg).
			in = append(in, filepath.Dir(shared))
		}
	}
	return in
}

// repoDir is the repository (no working copy) kept in the metadata
// folder; exportDir is where a node is archived before it is mirrored;
// revisionFile (of the metadata folder) records the node the work tree
// holds.
func repoDir(d scm.Dirs) string   { return filepath.Join(d.Meta, "repo") }
func exportDir(d scm.Dirs) string { return filepath.Join(d.Meta, "export") }

const revisionFile = "revision"

// HasCheckout implements scm.SCM.
func (Hg) HasCheckout(d scm.Dirs) bool {
	if d.Meta == "" {
		return false
	}
	_, err1 := os.Stat(filepath.Join(repoDir(d), ".hg", "requires"))
	_, err2 := os.Stat(filepath.Join(d.Meta, revisionFile))
	return err1 == nil && err2 == nil
}

// Current implements scm.SCM.
func (Hg) Current(d scm.Dirs) (scm.Revision, error) {
	rev, err := dir.ReadRevision(d.Meta, revisionFile)
	if err == nil && !nodeRE.MatchString(rev.ID) {
		return scm.Revision{}, fmt.Errorf("%s: %q is not a node", filepath.Join(d.Meta, revisionFile), rev.ID)
	}
	return rev, err
}

// Resolve implements scm.SCM.
func (Hg) Resolve(ctx context.Context, src scm.Source) (scm.Revision, error) {
	if err := validURL(src.URL); err != nil {
		return scm.Revision{}, err
	}
	name := "default"
	switch {
	case src.Commit != "":
		if !nodeRE.MatchString(src.Commit) {
			return scm.Revision{}, fmt.Errorf("commit %q is not a full 40-digit node", src.Commit)
		}
		name = src.Commit
	case src.Tag != "":
		name = src.Tag
	case src.Branch != "":
		name = src.Branch
	}
	if LocalPath(src.URL) != "" {
		// hg reads --rev of a local repository as a revset: quoted, the
		// name is only looked up.
		name = quote(name)
	}
	out, err := run(ctx, "", "identify", "--rev="+name, "--template={node}\n", "--", src.URL)
	if err != nil {
		return scm.Revision{}, fmt.Errorf("%s: %s: %w", src.URL, src.Ref(), err)
	}
	id := strings.TrimSpace(out)
	if !nodeRE.MatchString(id) {
		return scm.Revision{}, fmt.Errorf("%s: %s: hg answered %q, not a node", src.URL, src.Ref(), id)
	}
	if src.Commit != "" && id != src.Commit {
		return scm.Revision{}, fmt.Errorf("%s: commit %s: hg found %s", src.URL, src.Commit, id)
	}
	return scm.Revision{ID: id}, nil
}

// quote is name as a revset string, which hg looks up as a name.
func quote(name string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(name) + "'"
}

// Checkout implements scm.SCM.
func (Hg) Checkout(ctx context.Context, src scm.Source, rev scm.Revision, d scm.Dirs) error {
	if err := d.Validate(); err != nil {
		return err
	}
	if !nodeRE.MatchString(rev.ID) {
		return fmt.Errorf("revision %q is not a full 40-digit node", rev.ID)
	}
	if err := validURL(src.URL); err != nil {
		return err
	}
	return scm.Afresh(ctx, "checkout", repoDir(d), os.RemoveAll, func() error { return checkout(ctx, src, rev, d) })
}

func checkout(ctx context.Context, src scm.Source, rev scm.Revision, d scm.Dirs) error {
	if err := os.MkdirAll(d.Work, 0o755); err != nil {
		return err
	}
	// Current names a revision only once the work tree holds it.
	if err := dir.ClearRevision(d.Meta, revisionFile); err != nil {
		return err
	}
	if err := fetch(ctx, src, rev.ID, d); err != nil {
		return err
	}
	repo := repoDir(d)
	export := exportDir(d)
	if err := os.RemoveAll(export); err != nil {
		return err
	}
	defer os.RemoveAll(export)
	if _, err := run(ctx, repo, "archive", "--config=ui.archivemeta=False", "--no-decode", "--type=files", "--rev="+rev.ID, "--", export); err != nil {
		return fmt.Errorf("archive %s: %w", rev.ID, err)
	}
	// An archive of an empty tree writes no folder.
	if err := os.MkdirAll(export, 0o755); err != nil {
		return err
	}
	if fi, err := os.Lstat(filepath.Join(export, ".hgsub")); err == nil && fi.Size() > 0 {
		return fmt.Errorf("%s: node %s has subrepositories (.hgsub), which autobuild does not check out: "+
			"make each a module of its own and depend on it, or commit its files", src.URL, rev.ID)
	}
	if _, err := dir.Mirror(export, d.Work, nil); err != nil {
		return fmt.Errorf("check out %s into %s: %w", rev.ID, d.Work, err)
	}
	return dir.WriteRevision(d.Meta, revisionFile, rev)
}

// fetch makes the metadata folder's repository hold node and its
// ancestors, pulling them from the Source's URL when it does not.
func fetch(ctx context.Context, src scm.Source, node string, d scm.Dirs) error {
	if err := os.MkdirAll(d.Meta, 0o755); err != nil {
		return err
	}
	repo := repoDir(d)
	made, err := openRepo(ctx, repo)
	if err != nil {
		return err
	}
	if !made {
		have, err := hasNode(ctx, repo, node)
		if err != nil || have {
			return err
		}
	}
	// Only the node and its ancestors; -f: the metadata folder may hold
	// an unrelated repository's history (the URL changed). (A source
	// without the node fails the pull: unknown revision.)
	if _, err := run(ctx, repo, "pull", "--force", "--rev="+node, "--", src.URL); err != nil {
		return fmt.Errorf("pull %s from %s: %w", node, src.URL, err)
	}
	return nil
}

// openRepo makes repo a repository of this SCM's, kept as the engine's:
// one that is not (a folder without .hg, a share whose store is
// elsewhere) is made afresh; its hgrc files are removed (never read:
// HGRCSKIPREPO). It reports whether it made repo afresh (then empty).
func openRepo(ctx context.Context, repo string) (made bool, err error) {
	dot := filepath.Join(repo, ".hg")
	fi, err := os.Lstat(dot)
	if err == nil && fi.IsDir() {
		_, err = os.Lstat(filepath.Join(dot, "sharedpath"))
		if errors.Is(err, os.ErrNotExist) {
			for _, name := range []string{"hgrc", "hgrc-not-shared"} {
				if err := os.RemoveAll(filepath.Join(dot, name)); err != nil {
					return false, err
				}
			}
			if _, err := os.Stat(filepath.Join(dot, "requires")); err == nil {
				return false, nil
			}
		}
	}
	if err := os.RemoveAll(repo); err != nil {
		return false, err
	}
	if _, err := run(ctx, "", "init", "--", repo); err != nil {
		return false, fmt.Errorf("init %s: %w", repo, err)
	}
	return true, nil
}

// hasNode reports whether repo holds node.
func hasNode(ctx context.Context, repo, node string) (bool, error) {
	out, err := run(ctx, repo, "log", "--rev=id("+node+")", "--template={node}\n")
	if err != nil {
		return false, fmt.Errorf("look for %s in %s: %w", node, repo, err)
	}
	return strings.TrimSpace(out) == node, nil
}

// Env is the environment of every hg command: nothing of the user's, the
// system's or a repository's configuration.
func Env() []string {
	tmp := os.TempDir()
	return []string{
		"PATH=/usr/local/bin:/usr/bin:/bin",
		"HOME=" + tmp,
		"TMPDIR=" + tmp,
		"LANG=C.UTF-8",
		"TZ=UTC",
		"HGRCPATH=",
		"HGRCSKIPREPO=1",
		"HGPLAIN=1",
		"HGENCODING=utf-8",
		"HGUSER=autobuild",
	}
}

// run runs hg with args (in repository repo when it is not ""), and
// returns its output; an error carries what hg said.
func run(ctx context.Context, repo string, args ...string) (string, error) {
	hg, err := exec.LookPath("hg")
	if err != nil {
		return "", fmt.Errorf("the hg command (Debian package mercurial): %w", err)
	}
	sub := args[0]
	if repo != "" {
		args = append([]string{"--repository=" + repo}, args...)
	}
	cmd := exec.CommandContext(ctx, hg, append([]string{"--noninteractive"}, args...)...)
	cmd.Env = Env()
	cmd.Dir = "/"
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		msg := strings.TrimSpace(stderr.String())
		if msg == "" {
			msg = err.Error()
		}
		return stdout.String(), fmt.Errorf("hg %s: %s", sub, msg)
	}
	return stdout.String(), nil
}
