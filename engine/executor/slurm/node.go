package slurm

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"sort"
	"strings"
	"syscall"

	"github.com/google/renameio/v2"
	"github.com/opencontainers/selinux/go-selinux"
	"golang.org/x/sys/unix"

	"github.com/autobuild/autobuild/engine/executor"
	"github.com/autobuild/autobuild/engine/executor/stream"
	"github.com/autobuild/autobuild/engine/workspace"
	"github.com/autobuild/autobuild/sandbox"
)

// The node modes of the binary: what srun runs on a node.
const (
	// StepArg runs one build step: the job on stdin, the answer on
	// stdout (protocol.go); its argument is the node root.
	StepArg = "__node-step"
	// ProbeArg says what the node can enforce and which ids it reserves,
	// as JSON on stdout.
	ProbeArg = "__node-probe"
)

// RunNodeIfRequested runs the node mode named by the binary's first
// argument, if any, and exits.
func RunNodeIfRequested() {
	if len(os.Args) < 2 {
		return
	}
	switch os.Args[1] {
	case ProbeArg:
		os.Exit(runProbe(os.Stdout, os.Stderr))
	case StepArg:
		if len(os.Args) != 3 {
			fmt.Fprintf(os.Stderr, "autobuild node: usage: %s <node root>\n", StepArg)
			os.Exit(2)
		}
		os.Exit(runStep(os.Args[2]))
	}
}

// nodeName is the node's name as Slurm knows it.
func nodeName() string {
	if n := os.Getenv("SLURMD_NODENAME"); n != "" {
		return n
	}
	n, _ := os.Hostname()
	return n
}

func runProbe(stdout, stderr io.Writer) int {
	reserved, err := sandbox.HostReservedIDs("/")
	if err != nil {
		fmt.Fprintf(stderr, "autobuild node: reserved ids: %v\n", err)
		return 1
	}
	// Always probed afresh: this is what the engine's preflight trusts.
	b, _ := json.Marshal(probe{Node: nodeName(), Host: sandbox.ProbeHost(), Reserved: reserved})
	stdout.Write(b)
	return 0
}

// runStep makes the step's folder in the node root, runs the step from
// it, and removes it. srun starts it through unshare(1), in a mount
// namespace of its own (a Go program cannot move itself into one): it
// refuses to run in its parent's, where its mount at the build root's
// path would be the whole node's. A folder an earlier step left (its job
// was killed before it could remove it) is removed first: each step
// holds a lock on its own.
func runStep(nodeRoot string) int {
	fail := func(err error) int {
		fmt.Fprintf(os.Stderr, "autobuild node %s: %v\n", nodeName(), err)
		return 2
	}
	if !filepath.IsAbs(nodeRoot) {
		return fail(fmt.Errorf("the node root %q is not an absolute path", nodeRoot))
	}
	own, err1 := os.Readlink("/proc/self/ns/mnt")
	parent, err2 := os.Readlink(fmt.Sprintf("/proc/%d/ns/mnt", os.Getppid()))
	if err1 != nil || err2 != nil || own == parent {
		return fail(fmt.Errorf("%s must run in a mount namespace of its own (unshare --mount --propagation private): %v %v", StepArg, err1, err2))
	}
	if err := os.MkdirAll(nodeRoot, 0o700); err != nil {
		return fail(err)
	}
	removeStale(nodeRoot)
	scratch, err := os.MkdirTemp(nodeRoot, "step-")
	if err != nil {
		return fail(err)
	}
	defer os.RemoveAll(scratch)
	lock, err := os.OpenFile(filepath.Join(scratch, ".lock"), os.O_CREATE|os.O_RDWR|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return fail(err)
	}
	defer lock.Close()
	if err := unix.Flock(int(lock.Fd()), unix.LOCK_EX); err != nil {
		return fail(err)
	}
	return runInNS(scratch, os.Stdin, os.Stdout)
}

// NodeCommand is the command srun runs on a node for one build step:
// bin's StepArg mode in a mount namespace of its own.
func NodeCommand(bin, nodeRoot string) []string {
	return []string{"unshare", "--mount", "--propagation", "private", "--", bin, StepArg, nodeRoot}
}

// removeStale removes the step folders of the node root no step holds.
func removeStale(nodeRoot string) {
	ents, _ := os.ReadDir(nodeRoot)
	for _, e := range ents {
		if !e.IsDir() || !strings.HasPrefix(e.Name(), "step-") {
			continue
		}
		dir := filepath.Join(nodeRoot, e.Name())
		f, err := os.OpenFile(filepath.Join(dir, ".lock"), os.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			// Not yet locked, or broken: only a folder with its lock file
			// is known to be a step's.
			continue
		}
		if unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB) == nil {
			os.RemoveAll(dir)
		}
		f.Close()
	}
}

// runInNS is the step on the node: in its own mount namespace, the step
// folder's root/ is mounted at the engine's build root path; the folders
// are unpacked there, the step runs through the Local executor, and the
// outputs go back. Whatever goes wrong is said in the answer.
func runInNS(scratch string, stdin io.Reader, stdout io.Writer) int {
	mux, err := stream.NewMux(stdout)
	if err != nil {
		return 2
	}
	b, _ := json.Marshal(where{Node: nodeName(), Job: os.Getenv("SLURM_JOB_ID")})
	if mux.Send(chNode, b) != nil {
		return 2
	}
	answerWith := func(a answer) int {
		b, _ := json.Marshal(a)
		if mux.Send(chResult, b) != nil {
			return 2
		}
		return 0
	}
	fail := func(format string, args ...any) int {
		return answerWith(answer{Result: sandbox.Result{ExitCode: -1}, Err: &stepErr{Msg: fmt.Sprintf(format, args...)}})
	}
	j, sp, err := receive(stdin, scratch)
	if sp != nil {
		defer sp.Close()
	}
	if err != nil {
		return fail("receive the step: %v", err)
	}
	if err := mountBuildRoot(scratch, j.BuildRoot); err != nil {
		return fail("make the build root %s: %v", j.BuildRoot, err)
	}
	host := nodeHost(filepath.Dir(scratch))
	ws := workspace.NewLocal(j.BuildRoot, host.Root)
	if err := ws.Init(); err != nil {
		return fail("make the build root %s: %v", j.BuildRoot, err)
	}
	isOut := map[string]bool{}
	for _, p := range j.Outputs {
		isOut[p] = true
	}
	for _, p := range j.Trees {
		var err error
		if isOut[p] {
			err = ws.PrepareDir(p, j.ID, true)
		} else {
			err = os.MkdirAll(p, 0o755)
		}
		if err != nil {
			return fail("prepare %s: %v", p, err)
		}
	}
	r, err := sp.Reader()
	if err != nil {
		return fail("%v", err)
	}
	if _, err := stream.Unpack(r, j.Trees, stream.UnpackOptions{UID: -1, GID: -1, MaxBytes: j.MaxBytes, MaxEntries: maxEntries}); err != nil {
		return fail("unpack the step's folders: %v", err)
	}
	installs := ws.Layout.InstallRoots() + string(filepath.Separator)
	for _, p := range j.Trees {
		var err error
		switch {
		case isOut[p]:
			err = ws.PrepareDir(p, j.ID, false)
		case strings.HasPrefix(p, installs):
			err = ws.SealInstall(p)
		}
		if err != nil {
			return fail("prepare %s: %v", p, err)
		}
	}
	self, err := os.Executable()
	if err != nil {
		return fail("%v", err)
	}
	runner := &sandbox.Exec{Self: sandbox.HelperBeside(self), Host: host}
	local := executor.NewLocal(runner, host, self, j.BuildRoot)
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP)
	defer stop()
	res, runErr := local.Run(ctx, &executor.Step{
		Kind: executor.Build, Module: j.Module, ID: j.ID, Args: j.Args, Dir: j.Dir, Env: j.Env,
		Stdout: mux.Channel(chStdout), Stderr: mux.Channel(chStderr), LogLimit: j.LogLimit,
		Timeout: j.Timeout, Profile: j.Profile, Inputs: j.Inputs, Outputs: j.Outputs, Merge: j.Merge,
	})
	a := answer{Result: res, Err: toStepErr(runErr)}
	names := make([]string, 0, len(j.Back))
	for n := range j.Back {
		names = append(names, n)
	}
	sort.Strings(names)
	back := make([]stream.Tree, len(names))
	for i, n := range names {
		back[i] = stream.Tree{Name: n, Path: j.Back[n]}
	}
	sum, err := stream.Pack(mux.Channel(chTree), back, stream.PackOptions{AllowMissing: true})
	if err == nil {
		b, _ := json.Marshal(sum)
		err = mux.Send(chSummary, b)
	}
	if err != nil && a.Err == nil {
		a.Err = &stepErr{Msg: "the build's outputs cannot be sent back: " + err.Error()}
	}
	return answerWith(a)
}

// receive reads the job and spools its folders' tar stream, checked
// against the summary the engine sent after it. Every folder of the job
// must lie in its build root: nothing is unpacked anywhere else on the
// node.
func receive(stdin io.Reader, scratch string) (job, *stream.Spool, error) {
	var (
		j      job
		gotJob bool
		sum    *stream.Summary
	)
	sp, err := stream.NewSpool(scratch)
	if err != nil {
		return j, nil, err
	}
	err = stream.ReadFrames(stdin, func(ch byte, data []byte) error {
		switch {
		case ch == chJob && !gotJob:
			gotJob = true
			if err := json.Unmarshal(data, &j); err != nil {
				return err
			}
			if j.MaxBytes > 0 {
				sp.SetLimit(j.MaxBytes + 1<<20)
			}
			return nil
		case !gotJob:
			return fmt.Errorf("frame %q before the job", ch)
		case ch == chTree:
			_, err := sp.Write(data)
			return err
		case ch == chSummary && sum == nil:
			sum = new(stream.Summary)
			return json.Unmarshal(data, sum)
		}
		return fmt.Errorf("unexpected frame %q", ch)
	})
	switch {
	case err != nil:
		return j, sp, err
	case !gotJob || sum == nil:
		return j, sp, errors.New("the stream ended early")
	}
	if err := sp.Verify(*sum); err != nil {
		return j, sp, err
	}
	if !filepath.IsAbs(j.BuildRoot) || filepath.Clean(j.BuildRoot) != j.BuildRoot || j.BuildRoot == "/" {
		return j, sp, fmt.Errorf("the build root %q is not a clean absolute path", j.BuildRoot)
	}
	for _, p := range j.Trees {
		if !within(j.BuildRoot, p) {
			return j, sp, fmt.Errorf("the folder %q is outside the build root %s", p, j.BuildRoot)
		}
	}
	for n, p := range j.Back {
		if j.Trees[n] != p {
			return j, sp, fmt.Errorf("the output %q is not one of the step's folders", p)
		}
	}
	return j, sp, nil
}

// within reports whether p is a clean path strictly inside root.
func within(root, p string) bool {
	return filepath.IsAbs(p) && filepath.Clean(p) == p && strings.HasPrefix(p, root+string(filepath.Separator))
}

// mountBuildRoot makes this mount namespace's mounts private and mounts
// the step folder's root/ at the build root's path (made if the node
// lacks it: an empty folder, the mount point).
func mountBuildRoot(scratch, buildRoot string) error {
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		return fmt.Errorf("make the mounts private: %w", err)
	}
	root := filepath.Join(scratch, "root")
	if err := os.Mkdir(root, 0o755); err != nil {
		return err
	}
	if err := os.MkdirAll(buildRoot, 0o755); err != nil {
		return err
	}
	if err := unix.Mount(root, buildRoot, "", unix.MS_BIND, ""); err != nil {
		return fmt.Errorf("mount %s at %s: %w", root, buildRoot, err)
	}
	return nil
}

// nodeHost is what this node can enforce for a step. sandbox.ProbeHost
// starts a few throw-away children to find out, a third of a no-op
// build's time on the node; so its answer is kept in the node root
// (host.json), for as long as the machine is not rebooted and this
// binary, its uid and AUTOBUILD_SANDBOX_DISABLE do not change, and
// SELinux's mode is read afresh every time. An answer gone stale can only
// refuse a step, never weaken it: a mechanism the sandbox believes it has
// and cannot apply fails the step as unconfinable (sandbox.ErrUnsupported),
// and one it believes missing is treated as missing.
func nodeHost(nodeRoot string) sandbox.Host {
	key := hostKey()
	file := filepath.Join(nodeRoot, "host.json")
	var kept struct {
		Key  string       `json:"key"`
		Host sandbox.Host `json:"host"`
	}
	if key != "" {
		if b, err := os.ReadFile(file); err == nil && json.Unmarshal(b, &kept) == nil && kept.Key == key {
			h := kept.Host
			h.SELinux = selinux.GetEnabled() && selinux.EnforceMode() == selinux.Enforcing
			return h
		}
	}
	h := sandbox.ProbeHost()
	if key != "" {
		kept.Key, kept.Host = key, h
		if b, err := json.Marshal(kept); err == nil {
			_ = renameio.WriteFile(file, b, 0o600, renameio.WithTempDir(nodeRoot))
		}
	}
	return h
}

// hostKey names what a kept probe holds for: this boot, this binary, its
// uid and the mechanisms turned off; "" when it cannot tell.
func hostKey() string {
	boot, err := os.ReadFile("/proc/sys/kernel/random/boot_id")
	if err != nil {
		return ""
	}
	self, err := os.Executable()
	if err != nil {
		return ""
	}
	var st unix.Stat_t
	if unix.Stat(self, &st) != nil {
		return ""
	}
	return fmt.Sprintf("%s %d:%d %d %d.%d uid %d disable %q", strings.TrimSpace(string(boot)), st.Dev, st.Ino, st.Size,
		st.Mtim.Sec, st.Mtim.Nsec, os.Geteuid(), os.Getenv(sandbox.DisableEnv))
}
