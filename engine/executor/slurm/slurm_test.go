package slurm_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/autobuild/autobuild/engine/executor"
	"github.com/autobuild/autobuild/engine/executor/executortest"
	"github.com/autobuild/autobuild/engine/executor/slurm"
	"github.com/autobuild/autobuild/internal/slurmtest"
	"github.com/autobuild/autobuild/internal/testutil"
	"github.com/autobuild/autobuild/sandbox"
	"github.com/autobuild/autobuild/sandbox/sandboxtest"
)

// helper is a copy of this test binary: the sandbox helper here and on
// the nodes, and the node modes there (srun runs it).
var helper string

func TestMain(m *testing.M) { sandboxtest.Main(m, &helper, slurm.RunNodeIfRequested) }

// The cluster of these tests: n1 runs trusted and isolated builds, n2
// isolated and unconfined ones. The nodes see this test binary's copy
// and nothing else of this host's temporary files.
func startCluster(t *testing.T) *slurmtest.Cluster {
	t.Helper()
	return slurmtest.Start(t, slurmtest.Options{
		Nodes: []slurmtest.NodeSpec{
			{Name: "n1", Features: []string{"level-trusted", "level-isolated"}},
			{Name: "n2", Features: []string{"level-isolated", "level-unconfined"}},
		},
		Share: []string{filepath.Dir(helper)},
	})
}

// nodeRoot is where the nodes keep a step's files: in their own /tmp.
const nodeRoot = "/tmp/autobuild-node"

func newExecutor(t *testing.T, c *slurmtest.Cluster, root string, levels ...string) *slurm.Executor {
	t.Helper()
	host := sandbox.ProbeHost()
	local := executor.NewLocal(&sandbox.Exec{Self: helper, Host: host}, host, helper, root)
	ex := slurm.New(local, slurm.Options{
		Env: c.Env(), Bin: helper, NodeRoot: nodeRoot,
		Place: func(level string) slurm.Placement { return slurm.Placement{Constraint: "level-" + level} },
	})
	if err := ex.Probe(context.Background(), levels); err != nil {
		t.Fatalf("Probe: %v", err)
	}
	return ex
}

// The executor boundary's conformance suite, every build step on a node.
func TestConformance(t *testing.T) {
	c := startCluster(t)
	executortest.Run(t, func(t *testing.T, root string) executor.Executor {
		return newExecutor(t, c, root, "unconfined", "isolated")
	})
	if jobs, err := c.Jobs(); err != nil || len(jobs) > 0 {
		t.Errorf("jobs left after the suite: %v %v", jobs, err)
	}
}

// rig is a build root with one module's folders, on an executor of the
// cluster.
type rig struct {
	ex                  *slurm.Executor
	id                  sandbox.ID
	src, inst, pkg, tmp string
	dep                 string // a dependency's install root
}

func newRig(t *testing.T, c *slurmtest.Cluster, levels ...string) *rig {
	root := filepath.Join(testutil.Dir(t), "build")
	ex := newExecutor(t, c, root, levels...)
	ws := ex.Workspace()
	if err := ws.Init(); err != nil {
		t.Fatal(err)
	}
	l := ws.Layout()
	r := &rig{ex: ex, id: sandbox.AssignIDs([]string{"m"})["m"],
		src: l.SourceDir("m"), inst: l.InstallDir("m"), pkg: l.PackageDir("m"), tmp: l.TmpDir("m"), dep: l.InstallDir("dep")}
	for _, d := range []string{r.src, r.inst, r.pkg, r.tmp, r.dep} {
		if err := ws.PrepareDir(d, r.id, true); err != nil {
			t.Fatal(err)
		}
	}
	return r
}

func (r *rig) profile(t *testing.T, level string) sandbox.Profile {
	l := sandbox.Builtin()[level]
	p := sandbox.Profile{Level: level, Confined: l.Confined, Network: l.Network, Limits: l.Limits, UID: -1, GID: -1}
	if l.Confined && r.ex.SeparateUIDs() {
		p.UID, p.GID = r.id.UID, r.id.UID
	}
	if _, missing := r.ex.Check(p); len(missing) > 0 {
		t.Fatalf("level %s: missing %v", level, missing)
	}
	return p
}

func (r *rig) step(p sandbox.Profile, script string, log *syncBuffer) *executor.Step {
	return &executor.Step{
		Module: "m", ID: r.id, Args: []string{"/bin/sh", "-c", script}, Dir: r.src,
		Env:    append(executor.BaseEnv(r.tmp), "SRC="+r.src, "INST="+r.inst, "PKG="+r.pkg, "DEP="+r.dep),
		Stdout: log, Stderr: log, Profile: p, Timeout: time.Minute,
		Inputs: []string{r.dep}, Outputs: []string{r.src, r.inst, r.pkg, r.tmp}, Scratch: []string{r.src},
	}
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
	on func(string) // called with what was written so far
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	s.b.Write(p)
	text := s.b.String()
	s.mu.Unlock()
	if s.on != nil {
		s.on(text)
	}
	return len(p), nil
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// Placement by level: trusted builds run on n1 only, unconfined ones on
// n2 only, every time; a level no node offers is refused before anything
// runs, as a confinement error naming the level.
func TestPlacement(t *testing.T) {
	c := startCluster(t)
	r := newRig(t, c, "trusted", "unconfined", "isolated")
	seen := map[string]map[string]bool{}
	for _, level := range []string{"trusted", "unconfined", "isolated"} {
		seen[level] = map[string]bool{}
		p := r.profile(t, level)
		for range 4 {
			var log syncBuffer
			res, err := r.ex.Run(context.Background(), r.step(p, "echo at $AUTOBUILD_LEVEL", &log))
			if err != nil || res.ExitCode != 0 {
				t.Fatalf("%s: exit %d, %v: %s", level, res.ExitCode, err, log.String())
			}
			seen[level][res.Node] = true
		}
	}
	if len(seen["trusted"]) != 1 || !seen["trusted"]["n1"] {
		t.Errorf("trusted builds ran on %v, want n1 only", seen["trusted"])
	}
	if len(seen["unconfined"]) != 1 || !seen["unconfined"]["n2"] {
		t.Errorf("unconfined builds ran on %v, want n2 only", seen["unconfined"])
	}
	for n := range seen["isolated"] {
		if n != "n1" && n != "n2" {
			t.Errorf("an isolated build ran on %q", n)
		}
	}

	// Build uids avoid the nodes' accounts too.
	ids, err := r.ex.ReservedIDs()
	fromNode := false
	for _, id := range ids {
		fromNode = fromNode || strings.HasPrefix(id.Why, "node n")
	}
	if err != nil || !fromNode {
		t.Errorf("ReservedIDs: %v, %v; want the nodes' accounts among them", ids, err)
	}

	host := sandbox.ProbeHost()
	local := executor.NewLocal(&sandbox.Exec{Self: helper, Host: host}, host, helper, filepath.Join(testutil.Dir(t), "other"))
	ex := slurm.New(local, slurm.Options{Env: c.Env(), Bin: helper, NodeRoot: nodeRoot,
		Place: func(level string) slurm.Placement { return slurm.Placement{Constraint: "level-" + level} }})
	err = ex.Probe(context.Background(), []string{"isolated", "network"})
	if !errors.Is(err, sandbox.ErrUnsupported) || !strings.Contains(err.Error(), `"network"`) {
		t.Errorf("a level no node offers: %v, want a confinement error naming it", err)
	}
}

// The log reaches the engine while the step runs: the step waits for a
// file that the test makes on its node only once the step's first line
// is in the log.
func TestLogStreamsLive(t *testing.T) {
	c := startCluster(t)
	r := newRig(t, c, "unconfined")
	marker := fmt.Sprintf("/tmp/live-%s", rand.Text())
	var once sync.Once
	made := make(chan error, 1)
	log := &syncBuffer{on: func(text string) {
		if strings.Contains(text, "waiting for the test") {
			once.Do(func() { made <- c.Exec("n2", "touch", marker).Run() })
		}
	}}
	script := `echo waiting for the test; i=0
while [ ! -e ` + marker + ` ]; do i=$((i+1)); [ $i -lt 600 ] || { echo gave up; exit 3; }; sleep 0.1; done
echo seen`
	res, err := r.ex.Run(context.Background(), r.step(r.profile(t, "unconfined"), script, log))
	if err != nil || res.ExitCode != 0 {
		t.Fatalf("exit %d, %v: %s", res.ExitCode, err, log.String())
	}
	if err := <-made; err != nil {
		t.Fatalf("touch on n2: %v", err)
	}
	if !strings.Contains(log.String(), "seen") {
		t.Errorf("log %q", log.String())
	}
}

// What a build leaves in its install and package roots comes back byte
// for byte (content, modes, symlinks as links, times); what it left in
// its source tree does not come back; its dependency's install root is
// there to read.
func TestOutputsComeBack(t *testing.T) {
	c := startCluster(t)
	r := newRig(t, c, "isolated")
	big := make([]byte, 3<<20)
	rand.Read(big)
	// The dependency's files go to the node as the build's input.
	if err := os.WriteFile(filepath.Join(r.dep, "big.bin"), big, 0o644); err != nil {
		t.Fatal(err)
	}
	var log syncBuffer
	script := `set -e
mkdir -p "$INST/usr/lib" "$INST/usr/bin" "$PKG/sub"
cp "$DEP/big.bin" "$INST/usr/lib/copy.bin"
printf '#!/bin/sh\necho hi\n' > "$INST/usr/bin/tool"; chmod 755 "$INST/usr/bin/tool"
ln -s ../lib/copy.bin "$INST/usr/bin/link"
ln -s /etc/shadow "$INST/usr/bin/shadow"
touch -d '2001-02-03 04:05:06' "$INST/usr/bin/tool"
echo package > "$PKG/sub/m-1.0.tar.gz"
echo junk > "$SRC/built-in-tree"`
	res, err := r.ex.Run(context.Background(), r.step(r.profile(t, "isolated"), script, &log))
	if err != nil || res.ExitCode != 0 {
		t.Fatalf("exit %d, %v: %s", res.ExitCode, err, log.String())
	}
	if b, err := os.ReadFile(filepath.Join(r.inst, "usr/lib/copy.bin")); err != nil || !bytes.Equal(b, big) {
		t.Errorf("copy.bin: %d bytes, %v; want the dependency's %d bytes", len(b), err, len(big))
	}
	fi, err := os.Stat(filepath.Join(r.inst, "usr/bin/tool"))
	if err != nil || fi.Mode().Perm() != 0o755 || !fi.ModTime().Equal(time.Date(2001, 2, 3, 4, 5, 6, 0, time.Local)) {
		t.Errorf("tool: %v", err)
		if err == nil {
			t.Errorf("tool: mode %v, time %v", fi.Mode(), fi.ModTime())
		}
	}
	for link, want := range map[string]string{"usr/bin/link": "../lib/copy.bin", "usr/bin/shadow": "/etc/shadow"} {
		if got, err := os.Readlink(filepath.Join(r.inst, link)); err != nil || got != want {
			t.Errorf("%s -> %q, %v; want a link to %q", link, got, err, want)
		}
	}
	if b, err := os.ReadFile(filepath.Join(r.pkg, "sub/m-1.0.tar.gz")); err != nil || string(b) != "package\n" {
		t.Errorf("package: %q %v", b, err)
	}
	if _, err := os.Stat(filepath.Join(r.src, "built-in-tree")); err == nil {
		t.Error("the source tree came back")
	}
	if fi, err := os.Lstat(filepath.Join(r.inst, "usr/lib/copy.bin")); err != nil {
		t.Error(err)
	} else if st := fi.Sys().(*syscall.Stat_t); r.ex.SeparateUIDs() && int(st.Uid) != r.id.UID {
		t.Errorf("copy.bin is owned by uid %d, want the module's %d", st.Uid, r.id.UID)
	}
	if res.Node == "" {
		t.Error("the result does not name the node")
	}
}

// A build that leaves a FIFO in its package root fails with a reason
// naming it: special files never travel.
func TestSpecialFileRefused(t *testing.T) {
	c := startCluster(t)
	r := newRig(t, c, "isolated")
	var log syncBuffer
	_, err := r.ex.Run(context.Background(), r.step(r.profile(t, "isolated"), `mkfifo "$PKG/pipe"`, &log))
	if err == nil || !strings.Contains(err.Error(), "pipe") {
		t.Errorf("a FIFO in the package root: %v, want an error naming it", err)
	}
	// Control: the same build without the FIFO.
	if res, err := r.ex.Run(context.Background(), r.step(r.profile(t, "isolated"), `echo ok > "$PKG/file"`, &log)); err != nil || res.ExitCode != 0 {
		t.Errorf("control: exit %d, %v", res.ExitCode, err)
	}
}

// A node that cannot enforce what a step asks for refuses it, as a
// confinement error: here an SELinux context, which no node has.
func TestNodeRefusesWhatItCannotEnforce(t *testing.T) {
	c := startCluster(t)
	r := newRig(t, c, "isolated")
	p := r.profile(t, "isolated")
	p.SELinuxLabel = "system_u:system_r:autobuild_build_t:s0:c1,c2"
	if _, missing := r.ex.Check(p); len(missing) == 0 {
		t.Error("Check: nothing missing for an SELinux context")
	}
	var log syncBuffer
	_, err := r.ex.Run(context.Background(), r.step(p, "echo ran", &log))
	if !errors.Is(err, sandbox.ErrUnsupported) {
		t.Errorf("got %v, want a confinement error", err)
	}
	if strings.Contains(log.String(), "ran") {
		t.Error("the step ran")
	}
}

// Cancelling the run ends the job: Slurm lists none.
func TestCancelEndsTheJob(t *testing.T) {
	c := startCluster(t)
	r := newRig(t, c, "isolated")
	ctx, cancel := context.WithCancel(context.Background())
	log := &syncBuffer{}
	log.on = func(text string) {
		if strings.Contains(text, "started") {
			cancel()
		}
	}
	_, err := r.ex.Run(ctx, r.step(r.profile(t, "isolated"), "echo started; sleep 300", log))
	if !errors.Is(err, context.Canceled) {
		t.Errorf("got %v, want the cancellation", err)
	}
	wctx, stop := context.WithTimeout(context.Background(), 30*time.Second)
	defer stop()
	if err := c.WaitNoJobs(wctx); err != nil {
		t.Errorf("the job outlived its cancelled step: %v", err)
	}
}

// The node's step mode mounts at the build root's path: run in its
// parent's mount namespace (not through unshare), it refuses before it
// reads anything or mounts anything.
func TestNodeStepNeedsItsOwnMountNamespace(t *testing.T) {
	root := filepath.Join(testutil.Dir(t), "node")
	cmd := exec.Command(helper, slurm.StepArg, root)
	cmd.Stdin = strings.NewReader("not read")
	out, err := cmd.CombinedOutput()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 2 || !strings.Contains(string(out), "mount namespace of its own") {
		t.Errorf("got %v: %s", err, out)
	}
	if _, err := os.Stat(root); err == nil {
		t.Error("it made the node root")
	}
}
