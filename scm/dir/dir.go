// Package dir is the "dir" SCM: a plain local folder, copied as it is.
//
// The source's URL is the folder (an absolute path or a file:// URL). It
// has no history, so a source names no branch, tag or commit (Validate
// refuses them): its one revision is what the folder holds now.
//
// Resolve pins that revision as a content hash of the folder: SHA-256
// over every entry in byte order of its path, each as its type (file,
// folder, symlink), its permission bits, its path, and its content (a
// file's size and SHA-256, a symlink's target text). Modification times
// and owners are not part of it. A special file (a pipe, a device, a
// socket) is refused.
//
// Checkout copies the folder into the work tree (Mirror): symlinks are
// written as the text they hold and never followed, neither in the folder
// nor in the work tree, so nothing outside either is read or written. The
// hash of what it copied must be the resolved one: a folder that changed
// between Resolve and Checkout fails the checkout, which then records no
// revision. The metadata folder holds only the revision last checked out.
//
// A folder keeps no history: Changes lists none, and ResolveAt gives the
// folder's one revision only for a time at or after the latest
// modification time of its entries (files, symlinks and folders, the
// folder itself too, whose time changes when an entry is added, removed
// or renamed): for an earlier time there is no revision, and the error
// (scm.ErrNoRevisionAt) names the entry modified last. The times are
// those the folder reports: a file copied with its old time counts as
// that old.
//
// Mirror and Hash are also how other SCMs of this repository copy their
// tool's working copy (kept in the metadata folder) into the work tree.
package dir

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/autobuild/autobuild/scm"
)

// Kind is the registry name of this SCM.
const Kind = "dir"

func init() { scm.Register(Kind, Dir{}) }

// Dir implements scm.SCM.
type Dir struct{}

// LocalPath returns the folder a URL names when it is an absolute path or
// a file:// URL, and "" otherwise.
func LocalPath(u string) string {
	if strings.HasPrefix(u, "file://") {
		if p, err := url.Parse(u); err == nil && p.Path != "" {
			return filepath.Clean(p.Path)
		}
		return ""
	}
	if !strings.Contains(u, "://") && filepath.IsAbs(u) {
		return filepath.Clean(u)
	}
	return ""
}

// Validate implements scm.SCM.
func (Dir) Validate(src scm.Source) error {
	if LocalPath(src.URL) == "" {
		return &scm.FieldError{Field: "url", Msg: fmt.Sprintf("%q is not a local folder (an absolute path or a file:// URL)", src.URL)}
	}
	for _, f := range []struct{ name, v string }{{"branch", src.Branch}, {"tag", src.Tag}, {"commit", src.Commit}} {
		if f.v != "" {
			return &scm.FieldError{Field: f.name, Msg: "a plain folder has no history: its only revision is what it holds now"}
		}
	}
	return nil
}

// Inputs implements scm.SCM.
func (Dir) Inputs(src scm.Source) []string {
	if p := LocalPath(src.URL); p != "" {
		return []string{p}
	}
	return nil
}

// revisionFile is the file of the metadata folder that names the
// revision the work tree holds.
const revisionFile = "revision"

// HasCheckout implements scm.SCM.
func (Dir) HasCheckout(d scm.Dirs) bool {
	_, err := Dir{}.Current(d)
	return err == nil
}

// Current implements scm.SCM.
func (Dir) Current(d scm.Dirs) (scm.Revision, error) {
	return ReadRevision(d.Meta, revisionFile)
}

var hashRE = regexp.MustCompile(`^[0-9a-f]{64}$`)

// Resolve implements scm.SCM.
func (Dir) Resolve(ctx context.Context, src scm.Source) (scm.Revision, error) {
	if err := (Dir{}).Validate(src); err != nil {
		return scm.Revision{}, err
	}
	h, err := Hash(LocalPath(src.URL), nil)
	if err != nil {
		return scm.Revision{}, fmt.Errorf("hash %s: %w", src.URL, err)
	}
	return scm.Revision{ID: h}, nil
}

// Checkout implements scm.SCM.
func (Dir) Checkout(ctx context.Context, src scm.Source, rev scm.Revision, d scm.Dirs) error {
	if err := d.Validate(); err != nil {
		return err
	}
	if err := (Dir{}).Validate(src); err != nil {
		return err
	}
	if !hashRE.MatchString(rev.ID) {
		return fmt.Errorf("revision %q is not a folder's content hash", rev.ID)
	}
	for _, p := range []string{d.Work, d.Meta} {
		if err := os.MkdirAll(p, 0o755); err != nil {
			return err
		}
	}
	// No revision while the work tree changes.
	if err := ClearRevision(d.Meta, revisionFile); err != nil {
		return err
	}
	from := LocalPath(src.URL)
	if st, err := os.Stat(from); err != nil {
		return err
	} else if !st.IsDir() {
		return fmt.Errorf("%s is not a folder", from)
	}
	got, err := Mirror(from, d.Work, nil)
	if err != nil {
		return fmt.Errorf("copy %s into %s: %w", from, d.Work, err)
	}
	if got != rev.ID {
		return fmt.Errorf("%s changed since it was resolved (it held %s, now %s)", from, rev.ID, got)
	}
	return WriteRevision(d.Meta, revisionFile, rev)
}

// ReadRevision reads the revision that file name of the metadata folder
// meta records.
func ReadRevision(meta, name string) (scm.Revision, error) {
	if meta == "" {
		return scm.Revision{}, errors.New("no metadata folder")
	}
	b, err := os.ReadFile(filepath.Join(meta, name))
	if err != nil {
		return scm.Revision{}, fmt.Errorf("%s holds no checkout: %w", meta, err)
	}
	id := strings.TrimSpace(string(b))
	if id == "" || strings.ContainsAny(id, "\n\x00") {
		return scm.Revision{}, fmt.Errorf("%s: damaged revision file", meta)
	}
	return scm.Revision{ID: id}, nil
}

// WriteRevision records rev in file name of meta: written aside, then
// renamed.
func WriteRevision(meta, name string, rev scm.Revision) error {
	f, err := os.CreateTemp(meta, name+".tmp-*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	if _, err := f.WriteString(rev.ID + "\n"); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), filepath.Join(meta, name))
}

// ClearRevision forgets the revision file name of meta records.
func ClearRevision(meta, name string) error {
	if err := os.Remove(filepath.Join(meta, name)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}
