// Package slurm is the executor that runs module builds on the nodes of a
// Slurm cluster. The engine keeps what is its own (the graph and its
// scheduler, checkouts, cache keys, the archive, publishing); each build
// step becomes one srun, placed by its trust level on nodes whose
// features allow that level. Checkouts run on this host (through the
// Local executor the Executor wraps): they reach the repositories, and
// builds get the tree they checked out.
//
// No shared file system is assumed. The step, its source tree and its
// dependencies' install roots go to the job on srun's stdin (package
// stream: frames, and the folders as one tar stream with its size and
// SHA-256 after it). On the node this same binary, in its node mode
// (RunNodeIfRequested), makes a folder of the node root its own build
// root (bind-mounted at the engine's build root path, in a mount namespace
// of its own, so every path of the step holds), unpacks, and runs the
// step through the Local executor: the same sandbox, confined at the
// module's level exactly as on the engine's host, refusing where it
// cannot. The log streams back as the step writes it; the step's outputs
// (install root, package root, temp folder) come back as a tar stream that
// the engine spools, checks (size, checksum) and unpacks (nothing outside
// the folders, no special files, package stream) into the module's
// folders. From there a module built on a node is the same as one built
// here.
//
// srun runs with the engine as its parent and dies with it (its
// parent-death signal); a job whose srun is gone is ended by Slurm, and
// Reap cancels by name (one per build root) what a killed engine left.
package slurm

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/autobuild/autobuild/engine/executor"
	"github.com/autobuild/autobuild/engine/executor/stream"
	"github.com/autobuild/autobuild/sandbox"
)

// Placement is where one trust level's builds run.
type Placement struct {
	Partition  string // empty: the cluster's default
	Constraint string // srun --constraint: the node features the level needs
}

// Options configure the executor.
type Options struct {
	// Srun is the srun program; scancel and squeue are beside it, or in
	// the PATH when it is a bare name.
	Srun string
	// Env is added to the environment of srun, squeue and scancel
	// (SLURM_CONF=…).
	Env []string
	// Args are added to every srun (an account, a QOS, CPUs per task).
	Args []string
	// Bin is the autobuild binary on the nodes.
	Bin string
	// NodeRoot is where a node keeps a build's files while it runs.
	NodeRoot string
	// Place is where each trust level's builds run.
	Place func(level string) Placement
	// TransferLimit bounds the file data of one step's stream, either
	// way, in bytes.
	TransferLimit int64
}

// Executor runs builds on a Slurm cluster and everything else through
// Local.
type Executor struct {
	Local *executor.Local
	Opts  Options
	// Name is the job name of every job of this build root: Reap cancels
	// by it.
	Name string

	mu     sync.Mutex
	probes map[string]probe // by trust level, from Probe
}

// New returns the executor of a build root whose folders and checkouts
// local keeps.
func New(local *executor.Local, o Options) *Executor {
	if o.Srun == "" {
		o.Srun = "srun"
	}
	if o.TransferLimit <= 0 {
		o.TransferLimit = 8 << 30
	}
	sum := sha256.Sum256([]byte(local.WS.Root))
	return &Executor{Local: local, Opts: o, Name: "autobuild-" + hex.EncodeToString(sum[:6]), probes: map[string]probe{}}
}

// tool is scancel or squeue, beside srun.
func (e *Executor) tool(name string) string {
	if strings.ContainsRune(e.Opts.Srun, '/') {
		return filepath.Join(filepath.Dir(e.Opts.Srun), name)
	}
	return name
}

func (e *Executor) env() []string {
	env := slices.DeleteFunc(os.Environ(), func(kv string) bool {
		// srun passes its environment to the job; the engine's own
		// settings are not the job's, and SLURM_* of an enclosing job
		// would steer this one (SLURM_CONF, which cluster, stays).
		return (strings.HasPrefix(kv, "SLURM_") && !strings.HasPrefix(kv, "SLURM_CONF=")) ||
			strings.HasPrefix(kv, "SRUN_") || strings.HasPrefix(kv, "AUTOBUILD_")
	})
	return append(env, e.Opts.Env...)
}

// srunArgs are the arguments of one job at placement pl.
func (e *Executor) srunArgs(pl Placement, comment string, args ...string) []string {
	a := []string{"--job-name=" + e.Name, "--comment=" + comment, "--nodes=1", "--ntasks=1", "--quiet", "--kill-on-bad-exit=1"}
	if pl.Partition != "" {
		a = append(a, "--partition="+pl.Partition)
	}
	if pl.Constraint != "" {
		a = append(a, "--constraint="+pl.Constraint)
	}
	a = append(a, e.Opts.Args...)
	return append(a, args...)
}

// Probe asks one node of each level's placement what it can enforce and
// which ids it reserves, before anything runs: a level no node offers is
// an error wrapping sandbox.ErrUnsupported, naming the level and what
// srun said. Check, SeparateUIDs and ReservedIDs answer from what the
// nodes said.
func (e *Executor) Probe(ctx context.Context, levels []string) error {
	for _, lv := range levels {
		pl := e.Opts.Place(lv)
		ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
		cmd := exec.CommandContext(ctx, e.Opts.Srun, e.srunArgs(pl, "probe", e.Opts.Bin, ProbeArg)...)
		cmd.Env = e.env()
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
		var out, errb bytes.Buffer
		cmd.Stdout, cmd.Stderr = &limited{w: &out, n: 1 << 20}, &limited{w: &errb, n: 64 << 10}
		err := cmd.Run()
		cancel()
		if err != nil {
			said := oneLine(errb.String())
			if unplaceable(said) {
				return fmt.Errorf("%w: trust level %q: no node of the cluster runs it (srun %s): %s",
					sandbox.ErrUnsupported, lv, strings.Join(placeArgs(pl), " "), said)
			}
			return fmt.Errorf("trust level %q: ask a node (srun %s): %v: %s", lv, strings.Join(placeArgs(pl), " "), err, said)
		}
		var p probe
		if err := json.Unmarshal(out.Bytes(), &p); err != nil {
			return fmt.Errorf("trust level %q: the node's answer to %s: %v: %q %s", lv, ProbeArg, err, trim(out.String(), 200), oneLine(errb.String()))
		}
		e.mu.Lock()
		e.probes[lv] = p
		e.mu.Unlock()
	}
	return nil
}

// unplaceable reports whether srun said that no node matches a
// placement (rather than that it could not ask: a controller down).
func unplaceable(said string) bool {
	for _, m := range []string{"Requested node configuration is not available", "Invalid feature specification",
		"invalid partition specified", "Invalid partition name specified", "Node count specification invalid"} {
		if strings.Contains(strings.ToLower(said), strings.ToLower(m)) {
			return true
		}
	}
	return false
}

func placeArgs(pl Placement) []string {
	var a []string
	if pl.Partition != "" {
		a = append(a, "--partition="+pl.Partition)
	}
	if pl.Constraint != "" {
		a = append(a, "--constraint="+pl.Constraint)
	}
	return a
}

// Check implements executor.Executor: what this host lacks for the
// level's checkouts, and what the node probed for it lacks for its
// builds.
func (e *Executor) Check(p sandbox.Profile) (enforced, missing []string) {
	enforced, missing = e.Local.Check(p)
	e.mu.Lock()
	pr, ok := e.probes[p.Level]
	e.mu.Unlock()
	if !ok {
		return enforced, missing
	}
	enf, mis := pr.Host.Check(p)
	for _, m := range mis {
		if !slices.Contains(missing, m) {
			missing = append(missing, m+" (node "+pr.Node+")")
		}
	}
	return enf, missing
}

// SeparateUIDs implements executor.Executor: when this host and every
// node probed run steps as their module's uid.
func (e *Executor) SeparateUIDs() bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, p := range e.probes {
		if !p.Host.Root {
			return false
		}
	}
	return e.Local.SeparateUIDs()
}

// ReservedIDs implements executor.Executor: those of this host and of
// every node probed.
func (e *Executor) ReservedIDs() ([]sandbox.IDRange, error) {
	ids, err := e.Local.ReservedIDs()
	if err != nil {
		return nil, err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, p := range e.probes {
		for _, r := range p.Reserved {
			r.Why = "node " + p.Node + ": " + r.Why
			ids = append(ids, r)
		}
	}
	return ids, nil
}

// Self implements executor.Executor: checkouts run here.
func (e *Executor) Self() string { return e.Local.Self() }

// Workspace implements executor.Executor: the module folders are this
// host's.
func (e *Executor) Workspace() executor.Workspace { return e.Local.Workspace() }

// Reap implements executor.Executor: the steps a killed engine left here,
// and its jobs on the cluster (cancelled by name; it waits until Slurm
// lists none).
func (e *Executor) Reap(ctx context.Context) error {
	if err := e.Local.Reap(ctx); err != nil {
		return err
	}
	return e.cancel(ctx, "--name="+e.Name)
}

// cancel runs scancel with the selector and waits until squeue lists no
// job of it.
func (e *Executor) cancel(ctx context.Context, sel string) error {
	ctx, stop := context.WithTimeout(ctx, time.Minute)
	defer stop()
	for {
		cmd := exec.CommandContext(ctx, e.tool("scancel"), "--full", sel)
		cmd.Env = e.env()
		out, err := cmd.CombinedOutput()
		if err != nil && ctx.Err() == nil {
			return fmt.Errorf("scancel %s: %v: %s", sel, err, oneLine(string(out)))
		}
		q := []string{"--noheader", "--format=%i"} // the jobs not yet ended
		if n, ok := strings.CutPrefix(sel, "--name="); ok {
			q = append(q, "--name="+n)
		} else {
			q = append(q, "--jobs="+sel)
		}
		cmd = exec.CommandContext(ctx, e.tool("squeue"), q...)
		cmd.Env = e.env()
		out, err = cmd.Output()
		if err == nil && len(strings.Fields(string(out))) == 0 {
			return nil
		}
		if ctx.Err() != nil {
			if err != nil {
				return fmt.Errorf("squeue after scancel %s: %v", sel, err)
			}
			return fmt.Errorf("jobs %s still listed by squeue after scancel: %s", sel, oneLine(string(out)))
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// Run implements executor.Executor: a build as one srun; any other step
// here.
func (e *Executor) Run(ctx context.Context, s *executor.Step) (sandbox.Result, error) {
	if s.Kind != executor.Build {
		return e.Local.Run(ctx, s)
	}
	j, trees := e.job(s)
	pl := e.Opts.Place(s.Profile.Level)
	cmd := exec.Command(e.Opts.Srun, e.srunArgs(pl, s.Module, NodeCommand(e.Opts.Bin, e.Opts.NodeRoot)...)...)
	cmd.Env = e.env()
	// srun dies with the engine; Slurm then ends its job.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return sandbox.Result{}, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return sandbox.Result{}, err
	}
	var srunErr bytes.Buffer
	cmd.Stderr = &limited{w: &srunErr, n: 64 << 10}
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return sandbox.Result{}, fmt.Errorf("start srun: %w", err)
	}
	sent := make(chan error, 1)
	go func() { sent <- send(stdin, j, trees) }()

	// The node ends the step at its timeout; the engine ends srun a
	// while after, should the node not answer, and at once when the run
	// is cancelled.
	var (
		mu       sync.Mutex
		jobID    string
		timedOut bool
	)
	kill := func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		mu.Lock()
		id := jobID
		mu.Unlock()
		if id != "" {
			_ = e.cancel(context.Background(), id)
		}
	}
	done := make(chan struct{})
	defer close(done)
	var guard <-chan time.Time
	if s.Timeout > 0 {
		t := time.NewTimer(s.Timeout + grace(s.Timeout))
		defer t.Stop()
		guard = t.C
	}
	go func() {
		select {
		case <-ctx.Done():
			kill()
		case <-guard:
			mu.Lock()
			timedOut = true
			mu.Unlock()
			kill()
		case <-done:
		}
	}()

	sp, err := stream.NewSpool(filepath.Join(e.Local.WS.Root, "tmp"))
	if err != nil {
		kill()
		_ = cmd.Wait()
		return sandbox.Result{}, err
	}
	defer sp.Close()
	sp.SetLimit(e.Opts.TransferLimit + 1<<20)
	var (
		at      where
		sum     *stream.Summary
		ans     *answer
		logErrs int64
	)
	readErr := stream.ReadFrames(stdout, func(ch byte, data []byte) error {
		switch ch {
		case chNode:
			if err := json.Unmarshal(data, &at); err != nil {
				return fmt.Errorf("the node's first frame: %w", err)
			}
			mu.Lock()
			jobID = at.Job
			mu.Unlock()
		case chStdout, chStderr:
			w := s.Stdout
			if ch == chStderr {
				w = s.Stderr
			}
			if w == nil {
				w = io.Discard
			}
			if _, err := w.Write(data); err != nil {
				logErrs += int64(len(data))
			}
		case chTree:
			if _, err := sp.Write(data); err != nil {
				return err
			}
		case chSummary:
			sum = new(stream.Summary)
			if err := json.Unmarshal(data, sum); err != nil {
				return fmt.Errorf("the outputs' summary: %w", err)
			}
		case chResult:
			ans = new(answer)
			if err := json.Unmarshal(data, ans); err != nil {
				return fmt.Errorf("the result: %w", err)
			}
		default:
			return fmt.Errorf("unknown channel %q", ch)
		}
		return nil
	})
	if readErr != nil {
		// The node's stream is broken: whatever it is still doing ends.
		kill()
	}
	waitErr := cmd.Wait()
	sendErr := <-sent
	mu.Lock()
	expired := timedOut
	mu.Unlock()
	node := at.Node
	if node == "" {
		node = "(unknown)"
	}
	switch {
	case ctx.Err() != nil:
		return sandbox.Result{ExitCode: -1, Duration: time.Since(start), Node: at.Node}, context.Cause(ctx)
	case expired:
		return sandbox.Result{ExitCode: -1, TimedOut: true, Duration: time.Since(start), Node: at.Node}, nil
	case ans == nil:
		why := "srun: " + describeExit(waitErr)
		if readErr != nil {
			why = readErr.Error() + "; " + why
		}
		if sendErr != nil {
			why += "; sending the step: " + sendErr.Error()
		}
		return sandbox.Result{ExitCode: -1, Duration: time.Since(start), Node: at.Node},
			fmt.Errorf("the build's job ended without a result (node %s): %s: %s", node, why, oneLine(srunErr.String()))
	}
	res := ans.Result
	res.Node = at.Node
	res.OutputDiscarded += logErrs
	if err := ans.Err.err(node); err != nil {
		return res, err
	}
	if sum == nil {
		return res, fmt.Errorf("node %s sent no outputs: %s", node, oneLine(srunErr.String()))
	}
	if err := e.unpack(sp, *sum, s, j.Back); err != nil {
		return res, fmt.Errorf("the outputs from node %s: %w", node, err)
	}
	return res, nil
}

// grace is how long after a step's timeout the engine waits for its node
// before it ends the job itself.
func grace(timeout time.Duration) time.Duration { return max(30*time.Second, timeout/10) }

// job is s as the node gets it, and the folders the engine sends.
func (e *Executor) job(s *executor.Step) (job, []stream.Tree) {
	j := job{BuildRoot: e.Local.WS.Root, Module: s.Module, ID: s.ID, Args: s.Args, Dir: s.Dir, Env: s.Env,
		LogLimit: s.LogLimit, Timeout: s.Timeout, Profile: s.Profile, Inputs: s.Inputs, Outputs: s.Outputs,
		Merge: s.Merge, Trees: map[string]string{}, Back: map[string]string{}, MaxBytes: e.Opts.TransferLimit}
	var trees []stream.Tree
	seen := map[string]bool{}
	add := func(prefix string, paths []string) {
		for i, p := range paths {
			if seen[p] {
				continue
			}
			seen[p] = true
			name := fmt.Sprintf("%s%d", prefix, i)
			j.Trees[name] = p
			trees = append(trees, stream.Tree{Name: name, Path: p})
		}
	}
	add("o", s.Outputs)
	add("i", s.Inputs)
	for name, p := range j.Trees {
		if slices.Contains(s.Outputs, p) && !slices.Contains(s.Scratch, p) {
			j.Back[name] = p
		}
	}
	return j, trees
}

// send writes the job and its folders to the node.
func send(w io.WriteCloser, j job, trees []stream.Tree) error {
	defer w.Close()
	mux, err := stream.NewMux(w)
	if err != nil {
		return err
	}
	b, err := json.Marshal(j)
	if err != nil {
		return err
	}
	if err := mux.Send(chJob, b); err != nil {
		return err
	}
	sum, err := stream.Pack(mux.Channel(chTree), trees, stream.PackOptions{AllowMissing: true})
	if err != nil {
		return err
	}
	if b, err = json.Marshal(sum); err != nil {
		return err
	}
	if err := mux.Send(chSummary, b); err != nil {
		return err
	}
	return mux.Err()
}

// unpack checks what the node sent against its summary and puts it into
// the step's outputs, each emptied first and then made the module's
// again (owner, label).
func (e *Executor) unpack(sp *stream.Spool, sum stream.Summary, s *executor.Step, back map[string]string) error {
	if err := sp.Verify(sum); err != nil {
		return err
	}
	ws := e.Local.Workspace()
	for _, p := range back {
		if err := ws.PrepareDir(p, s.ID, true); err != nil {
			return err
		}
	}
	r, err := sp.Reader()
	if err != nil {
		return err
	}
	if _, err := stream.Unpack(r, back, stream.UnpackOptions{UID: -1, GID: -1, MaxBytes: e.Opts.TransferLimit, MaxEntries: maxEntries}); err != nil {
		return err
	}
	for _, p := range back {
		if err := ws.PrepareDir(p, s.ID, false); err != nil {
			return err
		}
	}
	return nil
}

// maxEntries bounds the entries of one stream: far beyond any build's
// install root.
const maxEntries = 4 << 20

// describeExit says how srun ended.
func describeExit(err error) string {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ProcessState.String()
	}
	if err == nil {
		return "exit status 0"
	}
	return err.Error()
}

// limited writes at most n bytes to w, dropping the rest.
type limited struct {
	w io.Writer
	n int64
}

func (l *limited) Write(p []byte) (int, error) {
	if l.n > 0 {
		k := min(int64(len(p)), l.n)
		l.w.Write(p[:k])
		l.n -= k
	}
	return len(p), nil
}

// oneLine is s without its line breaks, bounded.
func oneLine(s string) string {
	return trim(strings.Join(strings.Fields(s), " "), 2000)
}

func trim(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}
