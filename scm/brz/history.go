package brz

import (
	"bytes"
	"context"
	_ "embed"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/autobuild/autobuild/scm"
)

// historyPy reads a branch's past through Breezy's API (brz prints its
// log only as text for people): see its head for what it answers.
//
//go:embed history.py
var historyPy string

// ResolveAt implements scm.SCM. A tag or a commit resolves as Resolve
// does. A branch is resolved as Resolve does, its tip is branched or
// pulled into the metadata folder's branch (as Checkout does, and for
// Checkout to reuse), and the revision is the newest of the tip's
// mainline (its left-hand ancestry: the branch's own history, not what
// merges brought in) whose timestamp is at or before at, read through
// Breezy's API. Breezy keeps timestamps to the millisecond.
func (b Brz) ResolveAt(ctx context.Context, src scm.Source, at time.Time, d scm.Dirs) (scm.Revision, error) {
	if err := d.Validate(); err != nil {
		return scm.Revision{}, err
	}
	tip, err := b.Resolve(ctx, src)
	if err != nil || src.Commit != "" || src.Tag != "" {
		return tip, err
	}
	if _, err := python(); err != nil {
		return scm.Revision{}, err
	}
	var id *string
	err = scm.Afresh(ctx, "resolve at "+at.UTC().Format(time.RFC3339), branchDir(d), os.RemoveAll, func() error {
		home, err := newHome(d)
		if err != nil {
			return err
		}
		br := branchDir(d)
		if err := openBranch(ctx, home, src, tip.ID, br); err != nil {
			return err
		}
		type answer struct {
			ID      *string `json:"id"`
			Missing bool    `json:"missing"`
		}
		var r answer
		micros := strconv.FormatInt(at.UnixMicro(), 10)
		if err := query(ctx, home, &r, "at", br, tip.ID, micros); err != nil {
			return err
		}
		if r.Missing {
			if err := pull(ctx, home, src, tip.ID, br); err != nil {
				return err
			}
			r = answer{}
			if err := query(ctx, home, &r, "at", br, tip.ID, micros); err != nil {
				return err
			}
			if r.Missing {
				return fmt.Errorf("%s still lacks %s after a pull", br, tip.ID)
			}
		}
		id = r.ID
		return nil
	})
	if err != nil {
		return scm.Revision{}, fmt.Errorf("%s: %s: %w", branchURL(src), src.Ref(), err)
	}
	if id == nil {
		return scm.Revision{}, fmt.Errorf("%s: %s: no revision of %s's mainline at or before %s: %w",
			branchURL(src), src.Ref(), tip.ID, at.UTC().Format(time.RFC3339Nano), scm.ErrNoRevisionAt)
	}
	if !revidRE.MatchString(*id) {
		return scm.Revision{}, fmt.Errorf("%s: %s: breezy answered %q, not a revision id", branchURL(src), src.Ref(), *id)
	}
	return scm.Revision{ID: *id}, nil
}

// Changes implements scm.SCM, reading the metadata folder's branch only
// (through Breezy's API): the ancestry of to that is not from's (all of
// it when from is empty or not an ancestor of to), in brz log's order
// (each mainline revision followed by what it merged, newest first). A
// change's files are what differs from its left-hand parent, as brz log
// -v shows them (for a merge: all that it brought in); a rename names
// both paths. The author is the revision's first author (its committer
// unless --author said otherwise).
func (Brz) Changes(ctx context.Context, src scm.Source, d scm.Dirs, from, to scm.Revision, max int) ([]scm.Change, error) {
	if !revidRE.MatchString(to.ID) {
		return nil, fmt.Errorf("revision %q is not a revision id", to.ID)
	}
	if max <= 0 {
		return nil, nil
	}
	br := branchDir(d)
	if fi, err := os.Lstat(filepath.Join(br, ".bzr")); err != nil || !fi.IsDir() {
		return nil, fmt.Errorf("%s holds no branch: check %s out first", d.Meta, to.ID)
	}
	fromID := from.ID
	if !revidRE.MatchString(fromID) {
		fromID = ""
	}
	// Reading writes nothing of the metadata folder, not even its
	// configuration folder.
	home, err := os.MkdirTemp("", "brz-home-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(home)
	var r struct {
		Changes []struct {
			ID      string   `json:"id"`
			Author  string   `json:"author"`
			Micros  int64    `json:"micros"`
			Message string   `json:"message"`
			Files   []string `json:"files"`
			Omitted int      `json:"omitted"`
		} `json:"changes"`
	}
	if err := query(ctx, home, &r, "changes", br, to.ID, fromID, strconv.Itoa(max), strconv.Itoa(scm.MaxChangeFiles)); err != nil {
		return nil, fmt.Errorf("changes up to %s: %w", to.ID, err)
	}
	if len(r.Changes) > max {
		return nil, fmt.Errorf("changes up to %s: breezy answered %d changes, more than the %d asked for", to.ID, len(r.Changes), max)
	}
	cs := make([]scm.Change, 0, len(r.Changes))
	for _, e := range r.Changes {
		c := scm.Change{
			ID:      e.ID,
			Author:  e.Author,
			Date:    time.UnixMicro(e.Micros).UTC(),
			Subject: scm.Subject(e.Message),
		}
		c.SetFiles(e.Files)
		c.FilesOmitted += e.Omitted
		cs = append(cs, c)
	}
	return cs, nil
}

// python is the interpreter that runs historyPy: the python3 beside the
// brz command (Debian installs both in /usr/bin, a virtual environment
// in its bin), else the first python3 of Env's PATH.
func python() (string, error) {
	var dirs []string
	if brz, err := exec.LookPath("brz"); err == nil {
		dirs = append(dirs, filepath.Dir(brz))
	}
	dirs = append(dirs, filepath.SplitList(envPath)...)
	for _, d := range dirs {
		p := filepath.Join(d, "python3")
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", fmt.Errorf("no python3 beside brz nor in %s, to read a branch's history through Breezy's API", envPath)
}

// query runs historyPy with args, in the environment of every brz
// command (home its configuration folder), and decodes its answer into
// out. Python runs isolated (-I: no PYTHON* variables, no user site, not
// the current folder on its path) and writes no bytecode (-B).
func query(ctx context.Context, home string, out any, args ...string) error {
	py, err := python()
	if err != nil {
		return err
	}
	cmd := exec.CommandContext(ctx, py, append([]string{"-I", "-B", "-c", historyPy}, args...)...)
	cmd.Env = Env(home)
	cmd.Dir = "/"
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		msg := strings.TrimSpace(stderr.String())
		if i := strings.LastIndexByte(msg, '\n'); i >= 0 {
			msg = msg[i+1:]
		}
		if len(msg) > 500 {
			msg = msg[:500] + "…"
		}
		if msg == "" {
			msg = err.Error()
		}
		return fmt.Errorf("breezy (%s) %s: %s", py, args[0], msg)
	}
	if err := json.Unmarshal(stdout.Bytes(), out); err != nil {
		return fmt.Errorf("breezy (%s) %s: its answer is not JSON: %w", py, args[0], err)
	}
	return nil
}
