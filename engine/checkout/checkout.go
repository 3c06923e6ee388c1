// Package checkout is the checkout stage: it pins a module's source to a
// revision (resolve) and makes the module's source folder hold exactly
// that revision (act), each in a confined step.
//
// Both halves of the step live here. The engine side (Resolve, Run)
// decides what the step must do and runs it through the executor; the
// child side (RunIfRequested) is the hidden mode of the autobuild binary
// that the confined step executes. The engine never knows which SCM it
// talks to: everything kind-specific is behind scm.SCM.
//
// The engine never reads a module's repository itself, nor talks to its
// server: both halves run as the module's SCM step (its uid and MCS
// categories, the SCM trust level, the module's timeout), and only that
// step reads the repository's local paths (scm.SCM.Inputs) or uses the
// network. A server that accepts a connection and never answers costs
// its module the timeout, and nothing else: the run goes on.
//
// Resolving costs one such step per module per run, a no-change run
// included (README: Performance gives the figure). One step per run for
// the modules that share a level would be cheaper, but it would read
// every module's repository in one process: as whose uid and categories,
// with whose network rights? A step of one module's identity may use
// only that module's folders, repositories and network, and a hostile
// repository could hang or crash the step for all of them, or answer
// with another's revision. So each module resolves in a step of its own.
//
// A checkout has two folders (scm.Dirs): the work tree, which the build
// then gets and may change at will, and the SCM's metadata, which only
// this step writes. Nothing a build can write is trusted by the checkout
// that follows it, which runs with more rights (the network): the SCM
// reads its metadata only from the metadata folder, the repository's URL
// comes from the module's configuration every time, and anything in the
// work tree that looks like metadata is removed.
package checkout

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"
	"unicode"

	"github.com/opencontainers/selinux/go-selinux"

	"github.com/autobuild/autobuild/engine/executor"
	"github.com/autobuild/autobuild/sandbox"
	"github.com/autobuild/autobuild/scm"
)

// Arg is the hidden subcommand of the autobuild binary that performs a
// checkout; the engine runs it confined, as the module's SCM step.
const Arg = "__scm-checkout"

// ResolveArg is the hidden subcommand that resolves a module's source,
// confined as the checkout is: it writes the revision, as JSON
// (resolved), into a file of its temp folder, which the engine reads
// when it ends. (A file, not its stdout: on an SELinux host a step may
// write no pipe of an engine that runs outside autobuild_t.)
const ResolveArg = "__scm-resolve"

// answerFile is the file of the resolve step's temp folder that holds
// its answer.
const answerFile = "scm-resolve.json"

// spec is the step's instructions, passed as one JSON argument.
type spec struct {
	Sources []Source `json:"sources"`
	// Revision is the module's (JoinRevisions of its sources').
	Revision string   `json:"revision"`
	Dirs     scm.Dirs `json:"dirs"`
	// Answer is where the step writes its answer.
	Answer string `json:"answer,omitempty"`
	// At asks the resolve step for the source as it was then
	// (scm.SCM.ResolveAt, into Dirs.Meta).
	At *time.Time `json:"at,omitempty"`
	// From and Changes ask the checkout step for the changes since From,
	// at most Changes of them (none when Changes is 0).
	From    string `json:"from,omitempty"`
	Changes int    `json:"changes,omitempty"`
}

func encode(src scm.Source, rev string, dirs scm.Dirs, answer string) (string, error) {
	b, err := json.Marshal(spec{Sources: Single(src), Revision: rev, Dirs: dirs, Answer: answer})
	return string(b), err
}

func decode(raw string) (spec, []scm.SCM, error) {
	var sp spec
	if err := json.Unmarshal([]byte(raw), &sp); err != nil {
		return sp, nil, fmt.Errorf("bad spec: %w", err)
	}
	s, err := scms(sp.Sources)
	return sp, s, err
}

// RunIfRequested turns the process into the checkout or the resolve step
// when it was started as one (os.Args[1] is Arg or ResolveArg), and never
// returns in that case. main calls it right after
// sandbox.RunHelperIfRequested.
func RunIfRequested() {
	if len(os.Args) < 3 {
		return
	}
	switch os.Args[1] {
	case Arg:
		os.Exit(runStep(context.Background(), os.Args[2], os.Stdout, os.Stderr))
	case ResolveArg:
		os.Exit(runResolve(context.Background(), os.Args[2], os.Stdout, os.Stderr))
	}
}

// runStep is the child side of the checkout step. Its output goes to the
// module's log.
func runStep(ctx context.Context, raw string, stdout, stderr io.Writer) int {
	sp, s, err := decode(raw)
	if err != nil {
		fmt.Fprintf(stderr, "autobuild scm: %v\n", err)
		return 2
	}
	if selinux.GetEnabled() {
		if label, err := os.ReadFile("/proc/thread-self/attr/current"); err == nil {
			fmt.Fprintf(stdout, "autobuild scm: running in %s\n", strings.TrimRight(string(label), "\x00\n"))
		}
	}
	fail := func(err error) int {
		fmt.Fprintf(stderr, "autobuild scm: %v\n", err)
		// Why, for the module's reason on the site (the log has it too).
		if sp.Answer != "" {
			if b, jerr := json.Marshal(resolved{Error: err.Error()}); jerr == nil {
				_ = writeNew(sp.Answer, b)
			}
		}
		return 1
	}
	if err := sp.Dirs.Validate(); err != nil {
		return fail(err)
	}
	if err := clearTop(sp.Dirs.Work, sp.Sources); err != nil {
		return fail(err)
	}
	revs := make([]scm.Revision, len(sp.Sources))
	for i, src := range sp.Sources {
		d := dirsOf(sp.Dirs, src)
		revs[i] = scm.Revision{ID: revisionOf(sp.Sources, sp.Revision, i)}
		if revs[i].ID == "" {
			return fail(named(src, fmt.Errorf("the revision %q names none for it", sp.Revision)))
		}
		if src.Path != "" {
			for _, dir := range []string{d.Work, d.Meta} {
				if err := os.MkdirAll(dir, 0o755); err != nil {
					return fail(err)
				}
			}
		}
		if err := s[i].Checkout(ctx, src.Source, revs[i], d); err != nil {
			return fail(named(src, err))
		}
		fmt.Fprintf(stdout, "autobuild scm: %s is at %s\n", d.Work, revs[i].ID)
	}
	if sp.Changes <= 0 || sp.Answer == "" || sp.From == sp.Revision {
		return 0
	}
	// The changes are news, not part of the checkout: a failure to list
	// them is said, and the checkout stands.
	var cs []Change
	for i, src := range sp.Sources {
		from := scm.Revision{ID: revisionOf(sp.Sources, sp.From, i)}
		if from == revs[i] {
			continue
		}
		list, err := s[i].Changes(ctx, src.Source, dirsOf(sp.Dirs, src), from, revs[i], sp.Changes)
		if err != nil {
			fmt.Fprintf(stderr, "autobuild scm: list the changes: %v\n", named(src, err))
			continue
		}
		for _, c := range list {
			cs = append(cs, Change{Change: c, Source: src.Path})
		}
	}
	// Several sources: the newest first across them.
	sort.SliceStable(cs, func(a, b int) bool { return cs[a].Date.After(cs[b].Date) })
	b, err := json.Marshal(resolved{Changes: cs})
	if err == nil {
		err = writeNew(sp.Answer, b)
	}
	if err != nil {
		fmt.Fprintf(stderr, "autobuild scm: %v\n", err)
	}
	return 0
}

// Change is one commit a checkout brought, and the source it is of.
type Change struct {
	scm.Change
	// Source is the Path of the module's source it belongs to.
	Source string `json:"source,omitempty"`
}

// resolved is the step's answer: the revision (resolve), or the changes
// it brought (checkout), or why there is none.
type resolved struct {
	// Revisions are the sources' (in the spec's order).
	Revisions []scm.Revision `json:"revisions,omitempty"`
	Changes   []Change       `json:"changes,omitempty"`
	Error     string         `json:"error,omitempty"`
}

// runResolve is the child side of the resolve step: the answer goes to
// the spec's answer file (the engine reads it), what it says to stdout
// and stderr (the module's log).
func runResolve(ctx context.Context, raw string, stdout, stderr io.Writer) int {
	sp, s, err := decode(raw)
	if err != nil {
		fmt.Fprintf(stderr, "autobuild scm: %v\n", err)
		return 2
	}
	if sp.Answer == "" {
		fmt.Fprintln(stderr, "autobuild scm: bad spec: no answer file")
		return 2
	}
	out, code := resolved{}, 0
	for i, src := range sp.Sources {
		var rev scm.Revision
		if sp.At != nil {
			d := dirsOf(sp.Dirs, src)
			if err = os.MkdirAll(d.Meta, 0o755); err == nil {
				rev, err = s[i].ResolveAt(ctx, src.Source, *sp.At, d)
			}
		} else {
			rev, err = s[i].Resolve(ctx, src.Source)
		}
		if err != nil {
			err = named(src, err)
			fmt.Fprintf(stderr, "autobuild scm: resolve: %v\n", err)
			out, code = resolved{Error: err.Error()}, 1
			break
		}
		out.Revisions = append(out.Revisions, rev)
	}
	b, err := json.Marshal(out)
	if err == nil {
		err = writeNew(sp.Answer, b)
	}
	if err != nil {
		fmt.Fprintf(stderr, "autobuild scm: %v\n", err)
		return 2
	}
	return code
}

// writeNew writes a file that must not exist yet.
func writeNew(p string, b []byte) error {
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL|syscall.O_NOFOLLOW, 0o644)
	if err != nil {
		return err
	}
	_, err = f.Write(b)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// ResolveRequest is one module's resolve: its SCM step's identity,
// profile and timeout are the checkout's.
type ResolveRequest struct {
	Module  string
	ID      sandbox.ID
	Sources []Source
	// Tmp is the step's private temp folder (emptied first).
	Tmp string
	// At, when set, asks for the source as it was at that time; the step
	// may then fetch into Dirs.Meta, the SCM's metadata folder (and
	// Dirs.Work names the work tree it belongs to, which it leaves
	// alone).
	At   time.Time
	Dirs scm.Dirs
	// Profile is the SCM level resolved for the module.
	Profile sandbox.Profile
	Timeout time.Duration
	// LogLimit bounds what the step writes to the log (0: the default).
	LogLimit int64
	// Log receives what the step says.
	Log io.Writer
	// Say writes a line to the module's log.
	Say func(format string, args ...any)
}

// maxAnswer bounds what the engine reads of a step's answer.
const maxAnswer = 1 << 20

// Resolve pins req.Source to a revision, in the module's confined SCM
// step: the step reads the repository (a local one, or a remote's refs)
// and answers the revision, which feeds the cache key. A step that does
// not answer within req.Timeout is killed, and costs only its module.
func Resolve(ctx context.Context, ex executor.Executor, req ResolveRequest) (scm.Revision, error) {
	if _, err := scms(req.Sources); err != nil {
		return scm.Revision{}, err
	}
	sp := spec{Sources: req.Sources, Answer: filepath.Join(req.Tmp, answerFile)}
	outputs := []string{req.Tmp}
	if !req.At.IsZero() {
		if err := req.Dirs.Validate(); err != nil {
			return scm.Revision{}, fmt.Errorf("resolve: %w", err)
		}
		at := req.At.UTC()
		sp.At, sp.Dirs = &at, req.Dirs
		outputs = append(outputs, req.Dirs.Meta)
		if err := ex.Workspace().PrepareDir(req.Dirs.Meta, req.ID, false); err != nil {
			return scm.Revision{}, fmt.Errorf("resolve: %w", err)
		}
	}
	b, err := json.Marshal(sp)
	if err != nil {
		return scm.Revision{}, err
	}
	if err := ex.Workspace().PrepareDir(req.Tmp, req.ID, true); err != nil {
		return scm.Revision{}, fmt.Errorf("resolve: %w", err)
	}
	res, err := ex.Run(ctx, &executor.Step{
		Kind:     executor.Checkout,
		Module:   req.Module,
		ID:       req.ID,
		Args:     []string{ex.Self(), ResolveArg, string(b)},
		Dir:      req.Tmp,
		Env:      executor.BaseEnv(req.Tmp),
		Stdout:   req.Log,
		Stderr:   req.Log,
		Timeout:  req.Timeout,
		LogLimit: req.LogLimit,
		Profile:  req.Profile,
		Inputs:   append([]string{ex.Self()}, Inputs(req.Sources)...),
		Outputs:  outputs,
	})
	if err != nil {
		req.Say("resolve could not start: %v", err)
		return scm.Revision{}, fmt.Errorf("resolve: %w", err)
	}
	if res.TimedOut {
		return scm.Revision{}, fmt.Errorf("resolve timed out after %s", req.Timeout)
	}
	if err := ctx.Err(); err != nil {
		return scm.Revision{}, fmt.Errorf("resolve: %w", err)
	}
	raw, err := readAnswer(req.Tmp)
	if err != nil {
		req.Say("resolve: no answer: %v", err)
		return scm.Revision{}, fmt.Errorf("resolve failed (exit %d): see the log", res.ExitCode)
	}
	var ans resolved
	switch {
	case len(raw) > maxAnswer:
		return scm.Revision{}, fmt.Errorf("resolve: the step answered more than %d bytes", maxAnswer)
	case json.Unmarshal(raw, &ans) != nil:
		return scm.Revision{}, fmt.Errorf("resolve failed (exit %d): see the log", res.ExitCode)
	case ans.Error != "":
		return scm.Revision{}, errors.New(printable(ans.Error, 500))
	case res.ExitCode != 0 || len(ans.Revisions) != len(req.Sources):
		return scm.Revision{}, fmt.Errorf("resolve failed (exit %d): see the log", res.ExitCode)
	}
	revs := make([]string, len(ans.Revisions))
	for i, r := range ans.Revisions {
		if err := validRevision(r.ID); err != nil {
			return scm.Revision{}, fmt.Errorf("resolve: %w", named(req.Sources[i], err))
		}
		revs[i] = r.ID
	}
	return scm.Revision{ID: JoinRevisions(req.Sources, revs)}, nil
}

// validRevision accepts what a revision may be: it goes into the cache
// key, the state, the log and the site, and back to the checkout step.
func validRevision(id string) error {
	if id == "" || len(id) > 256 {
		return fmt.Errorf("the step answered a revision of %d bytes", len(id))
	}
	for _, r := range id {
		if r <= ' ' || r >= 0x7f {
			return fmt.Errorf("the step answered a revision with %q in it", r)
		}
	}
	return nil
}

// printable is s with control characters replaced, cut to n bytes.
func printable(s string, n int) string {
	if len(s) > n {
		s = s[:n] + "…"
	}
	return strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, s)
}

// readAnswer reads the resolve step's answer from its temp folder, which
// the step could write at will: within the folder, not through a symlink,
// only from a regular file, and at most one byte more than maxAnswer.
func readAnswer(tmp string) ([]byte, error) {
	root, err := os.OpenRoot(tmp)
	if err != nil {
		return nil, err
	}
	defer root.Close()
	f, err := root.OpenFile(answerFile, os.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if st, err := f.Stat(); err != nil || !st.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is not a regular file (%v)", answerFile, err)
	}
	return io.ReadAll(io.LimitReader(f, maxAnswer+1))
}

// Tree is what the engine remembers of a module's source folder.
type Tree struct {
	// Revision is the revision the folder holds ("" unknown).
	Revision string
	// Pristine is the folder's fingerprint right after its checkout.
	Pristine string
}

// Request is one module's checkout.
type Request struct {
	Module  string
	ID      sandbox.ID
	Sources []Source
	// Revision is what Resolve returned.
	Revision string
	// Dir is the module's source folder (the work tree the build gets),
	// Meta the SCM's metadata of it (a folder no build is given), Tmp
	// the step's private temp folder (emptied first).
	Dir, Meta, Tmp string
	// Prev is what the source folder held after the last checkout.
	Prev Tree
	// From is the revision of the module's last good build ("" none):
	// the step lists the changes since (scm.SCM.Changes), at most
	// Changes of them (none when Changes is 0).
	From    string
	Changes int
	// Profile is the SCM level resolved for the module.
	Profile  sandbox.Profile
	Timeout  time.Duration
	LogLimit int64
	Log      io.Writer
	// Say writes a line to the module's log.
	Say func(format string, args ...any)
}

// Result is what the stage did.
type Result struct {
	// Tree is what the source folder holds now.
	Tree Tree
	// Changes are the commits since ChangesSince (Request.From), newest
	// first, as the step listed them (none when it could not: its log
	// says why).
	Changes      []Change
	ChangesSince string
}

// Run makes req.Dir hold exactly req.Revision: not at all when the folder
// holds it untouched since its checkout, and otherwise with the confined
// SCM step, which fetches only when the revision is new, and resets and
// cleans the work tree. The reset needs the metadata (the index), which
// the build must not write, so it is never done in the build's step.
func Run(ctx context.Context, ex executor.Executor, req Request) (Result, error) {
	s, err := scms(req.Sources)
	if err != nil {
		return Result{}, fmt.Errorf("checkout: %w", err)
	}
	dirs := scm.Dirs{Work: req.Dir, Meta: req.Meta}
	if err := dirs.Validate(); err != nil {
		return Result{}, fmt.Errorf("checkout: %w", err)
	}
	hasCheckout := true
	for i, src := range req.Sources {
		hasCheckout = hasCheckout && s[i].HasCheckout(dirsOf(dirs, src))
	}
	sp := spec{Sources: req.Sources, Revision: req.Revision, Dirs: dirs, Answer: filepath.Join(req.Tmp, answerFile)}
	if req.From != req.Revision {
		sp.From, sp.Changes = req.From, req.Changes
	}
	b, err := json.Marshal(sp)
	if err != nil {
		return Result{}, err
	}
	if req.Prev.Revision == req.Revision && hasCheckout {
		if fp, err := treeFingerprint(req.Dir); err == nil && fp == req.Prev.Pristine {
			if sp.Changes == 0 {
				req.Say("source folder holds %s, untouched since its checkout", req.Revision)
				return Result{Tree: req.Prev}, nil
			}
			// Checked out by a run that did not build it: the step
			// leaves the folder as it is, and lists the changes.
			req.Say("source folder holds %s, untouched since its checkout; the SCM step lists the changes since %s", req.Revision, req.From)
		} else {
			req.Say("source folder holds %s but was changed since its checkout: the SCM step resets and cleans it", req.Revision)
		}
	}

	ws := ex.Workspace()
	for _, d := range []struct {
		dir  string
		wipe bool
	}{{req.Dir, false}, {req.Meta, false}, {req.Tmp, true}} {
		if err := ws.PrepareDir(d.dir, req.ID, d.wipe); err != nil {
			return Result{}, fmt.Errorf("checkout: %w", err)
		}
	}
	req.Say("checkout %s into %s (trust level %s)", req.Revision, req.Dir, req.Profile.Level)
	res, err := ex.Run(ctx, &executor.Step{
		Kind:     executor.Checkout,
		Module:   req.Module,
		ID:       req.ID,
		Args:     []string{ex.Self(), Arg, string(b)},
		Dir:      req.Tmp,
		Env:      executor.BaseEnv(req.Tmp),
		Stdout:   req.Log,
		Stderr:   req.Log,
		Timeout:  req.Timeout,
		LogLimit: req.LogLimit,
		Profile:  req.Profile,
		// The step runs this very binary in its checkout mode.
		Inputs:  append([]string{ex.Self()}, Inputs(req.Sources)...),
		Outputs: []string{req.Dir, req.Meta, req.Tmp},
	})
	if err != nil {
		req.Say("checkout could not start: %v", err)
		return Result{}, fmt.Errorf("checkout: %w", err)
	}
	if res.ExitCode != 0 {
		if res.TimedOut {
			return Result{}, fmt.Errorf("checkout timed out after %s", req.Timeout)
		}
		var ans resolved
		if raw, err := readAnswer(req.Tmp); err == nil && len(raw) <= maxAnswer && json.Unmarshal(raw, &ans) == nil && ans.Error != "" {
			return Result{}, errors.New("checkout failed: " + printable(ans.Error, 500))
		}
		return Result{}, fmt.Errorf("checkout failed (exit %d): see the log", res.ExitCode)
	}
	fp, err := treeFingerprint(req.Dir)
	if err != nil {
		fp = "" // unknown: the next run resets it through the SCM step
	}
	out := Result{Tree: Tree{Revision: req.Revision, Pristine: fp}}
	if sp.Changes > 0 {
		var ans resolved
		raw, err := readAnswer(req.Tmp)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			// The step said why in the log.
		case err != nil || len(raw) > maxAnswer || json.Unmarshal(raw, &ans) != nil:
			req.Say("the SCM step's list of changes is unreadable: ignored")
		default:
			out.Changes, out.ChangesSince = sanitize(ans.Changes, sp.Changes), sp.From
		}
	}
	return out, nil
}

// sanitize bounds what a step listed as changes: it goes to the site, the
// feed and status.json as text.
func sanitize(cs []Change, limit int) []Change {
	if len(cs) > limit {
		cs = cs[:limit]
	}
	out := make([]Change, 0, len(cs))
	for _, c := range cs {
		files := c.Files
		if len(files) > scm.MaxChangeFiles {
			c.FilesOmitted += len(files) - scm.MaxChangeFiles
			files = files[:scm.MaxChangeFiles]
		}
		c.Files = make([]string, len(files))
		for i, f := range files {
			c.Files[i] = printable(f, 1024)
		}
		c.ID, c.Author, c.Subject = printable(c.ID, 100), printable(c.Author, 200), printable(c.Subject, 300)
		c.Source = printable(c.Source, 64)
		c.FilesOmitted = max(c.FilesOmitted, 0)
		out = append(out, c)
	}
	return out
}
