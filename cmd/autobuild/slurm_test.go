package main

import (
	"context"
	"crypto/sha256"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/autobuild/autobuild/engine/report"
	"github.com/autobuild/autobuild/internal/slurmtest"
)

// startCluster starts a two-node Slurm cluster for one test: n1 offers
// the trusted and isolated levels, n2 isolated and unconfined. The nodes
// see the binaries under test and nothing else of this host's temporary
// files: no shared file system.
func startCluster(t *testing.T) *slurmtest.Cluster {
	t.Helper()
	return slurmtest.Start(t, slurmtest.Options{
		Nodes: []slurmtest.NodeSpec{
			{Name: "n1", Features: []string{"level-trusted", "level-isolated"}},
			{Name: "n2", Features: []string{"level-isolated", "level-unconfined"}},
		},
		Share: []string{filepath.Dir(bin)},
	})
}

// clusterConfig is the executor: section of a farm on cluster c.
func clusterConfig(c *slurmtest.Cluster) string {
	return fmt.Sprintf("executor: {kind: slurm, slurm_conf: %s, node_root: /tmp/autobuild-node}\n", c.Conf)
}

// A farm built on the cluster: a library and a program that links its
// install root (merged), each placed by its level; a failing module and
// its skipped dependent; the artifacts, install roots, results and logs
// come back and are published as if built here; an unchanged second run
// reuses everything without a job.
func TestClusterFarm(t *testing.T) {
	c := startCluster(t)
	f := newFarm(t)
	f.repo("lib", script(`mkdir -p "$AUTOBUILD_INSTALL_ROOT/include" "$AUTOBUILD_PACKAGE_ROOT"
echo "#define LIB 42" > "$AUTOBUILD_INSTALL_ROOT/include/lib.h"
head -c 1048576 /dev/urandom > "$AUTOBUILD_PACKAGE_ROOT/lib-1.0.bin"
sha256sum "$AUTOBUILD_PACKAGE_ROOT/lib-1.0.bin" | cut -d' ' -f1 > "$AUTOBUILD_PACKAGE_ROOT/lib-1.0.sum"
printf '1..2\nok 1 - builds\nok 2 - links\n' > "$1"
echo "lib built on $(hostname)"`))
	f.repo("app", script(`grep -q 'LIB 42' "$AUTOBUILD_INSTALL_ROOT/include/lib.h"
mkdir -p "$AUTOBUILD_PACKAGE_ROOT"; echo app > "$AUTOBUILD_PACKAGE_ROOT/app-1.0.txt"`))
	f.repo("broken", script(`echo "error: boom" >&2; exit 3`))
	f.repo("needs-broken", script(`true`))
	f.config(clusterConfig(c) + `workers: 4
modules:
  - {name: lib, source: {url: repos/lib}}
  - {name: app, source: {url: repos/app}, depends: [lib], trust: trusted}
  - {name: broken, source: {url: repos/broken}}
  - {name: needs-broken, source: {url: repos/needs-broken}, depends: [broken]}
`)
	if r := ab(t, nil, "plan", "--config", f.cfg); r.code != 0 || !strings.Contains(r.stdout, "level trusted builds on the Slurm cluster: srun --constraint=level-trusted") {
		t.Errorf("plan does not say where builds run:\n%s", r.dump())
	}
	r := f.run()
	if r.code != 1 {
		t.Fatalf("want exit 1 (broken failed):\n%s", r.dump())
	}
	st := f.status()
	for name, want := range map[string]report.State{"lib": report.Built, "app": report.Built, "broken": report.Failed, "needs-broken": report.Skipped} {
		if m := module(st, name); m.State != want {
			t.Errorf("%s: %s (%s), want %s", name, m.State, m.Reason, want)
		}
	}
	if m := module(st, "app"); m.Node != "n1" {
		t.Errorf("app (trusted) ran on %q, want n1", m.Node)
	}
	if m := module(st, "lib"); m.Node != "n1" && m.Node != "n2" {
		t.Errorf("lib ran on %q", m.Node)
	}
	if m := module(st, "needs-broken"); !strings.Contains(m.Reason, "dependency broken failed") {
		t.Errorf("needs-broken: %q", m.Reason)
	}
	if m := module(st, "lib"); m.Tests == nil || m.Tests.Passed != 2 {
		t.Errorf("lib's results: %+v", m.Tests)
	}
	site := filepath.Join(f.root, "public_html")
	bin, err := os.ReadFile(filepath.Join(site, "packages", "lib", "lib-1.0.bin"))
	sum, _ := os.ReadFile(filepath.Join(site, "packages", "lib", "lib-1.0.sum"))
	if err != nil || len(bin) != 1<<20 || fmt.Sprintf("%x", sha256.Sum256(bin)) != strings.TrimSpace(string(sum)) {
		t.Errorf("lib's artifact: %d bytes, %v; its checksum on the node %q", len(bin), err, sum)
	}
	if b, err := os.ReadFile(filepath.Join(f.root, "install-root", "lib", "include", "lib.h")); err != nil || !strings.Contains(string(b), "LIB 42") {
		t.Errorf("lib's install root here: %q %v", b, err)
	}
	log, _ := os.ReadFile(filepath.Join(site, module(st, "broken").Log))
	if !strings.Contains(string(log), "error: boom") {
		t.Errorf("broken's log:\n%s", log)
	}
	log, _ = os.ReadFile(filepath.Join(site, module(st, "lib").Log))
	if !strings.Contains(string(log), "on node n") {
		t.Errorf("lib's log does not say the node:\n%s", log)
	}
	if jobs, err := c.Jobs(); err != nil || len(jobs) > 0 {
		t.Errorf("jobs after the run: %v %v", jobs, err)
	}
	for _, page := range []string{"index.html", "modules/app.html"} {
		if b, _ := os.ReadFile(filepath.Join(site, page)); !strings.Contains(string(b), "node n1") {
			t.Errorf("%s does not say app was built on n1", page)
		}
	}

	// Unchanged: reused, nothing runs (a failed build with the same
	// inputs is not retried).
	if r := f.run(); r.code != 1 {
		t.Fatalf("second run:\n%s", r.dump())
	}
	for _, name := range []string{"lib", "app"} {
		if m := module(f.status(), name); m.State != report.Reused {
			t.Errorf("second run: %s %s", name, m.State)
		}
	}
}

// The engine killed mid-build leaves no job on the cluster; its timeout
// ends a build that hangs on a node; a level no node offers is refused
// before anything runs.
func TestClusterKillsAndRefusals(t *testing.T) {
	c := startCluster(t)
	f := newFarm(t)
	f.repo("hang", script(`echo started; sleep 300`))
	f.repo("slow", script(`sleep 300`))
	f.config(clusterConfig(c) + `modules:
  - {name: hang, source: {url: repos/hang}}
`)
	for run, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGKILL} {
		eng := exec.Command(bin, "run", "--config", f.cfg)
		if err := eng.Start(); err != nil {
			t.Fatal(err)
		}
		// The log streams from the node: "started" is there while it
		// runs.
		log := filepath.Join(f.root, "log-root", fmt.Sprint(run+1), "hang.log")
		deadline := time.Now().Add(60 * time.Second)
		for {
			if b, _ := os.ReadFile(log); strings.Contains(string(b), "started") {
				break
			}
			if time.Now().After(deadline) {
				eng.Process.Kill()
				eng.Wait()
				t.Fatalf("the build's first line never reached %s", log)
			}
			time.Sleep(50 * time.Millisecond)
		}
		if jobs, _ := c.Jobs(); len(jobs) != 1 {
			t.Errorf("jobs while building: %v, want one", jobs)
		}
		eng.Process.Signal(sig)
		err := eng.Wait()
		if ee, ok := err.(*exec.ExitError); sig == syscall.SIGTERM && (!ok || ee.ExitCode() != 130) {
			t.Errorf("SIGTERM: the engine ended with %v, want exit 130", err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		if err := c.WaitNoJobs(ctx); err != nil {
			t.Errorf("a job outlived the engine's %v: %v", sig, err)
		}
		cancel()
	}

	f.config(clusterConfig(c) + `modules:
  - {name: slow, source: {url: repos/slow}, timeout: 3s}
`)
	r := f.run()
	if m := module(f.status(), "slow"); r.code != 1 || m.State != report.Failed || !strings.Contains(m.Reason, "timed out") {
		t.Errorf("slow: %s %q\n%s", m.State, m.Reason, r.dump())
	}
	if jobs, _ := c.Jobs(); len(jobs) > 0 {
		t.Errorf("jobs after the timeout: %v", jobs)
	}

	f.config(clusterConfig(c) + `modules:
  - {name: slow, source: {url: repos/slow}, trust: network}
`)
	r = f.run()
	if r.code != 4 || !strings.Contains(r.stderr, `"network"`) || !strings.Contains(r.stderr, "level-network") {
		t.Errorf("a level no node offers: want exit 4 naming it:\n%s", r.dump())
	}
}

// The hostile suite at the default level, on the nodes: every attack the
// script can try there fails, the daemon and the fork bomb are gone; the
// control run, unconfined on n2, shows the attacks that can reach
// anything on a node succeed there.
func TestClusterHostile(t *testing.T) {
	requireConfinement(t)
	for _, control := range []bool{false, true} {
		t.Run(map[bool]string{false: "isolated", true: "control"}[control], func(t *testing.T) {
			c := startCluster(t)
			level := "isolated"
			if control {
				level = "unconfined"
			}
			e := hostileFarm(t, level, control)
			b, _ := os.ReadFile(e.f.cfg)
			cfg := strings.Replace(string(b), "build_root: build\n", "build_root: build\n"+clusterConfig(c), 1)
			if err := os.WriteFile(e.f.cfg, []byte(cfg), 0o644); err != nil {
				t.Fatal(err)
			}
			r := e.f.run()
			if r.code != 1 {
				t.Fatalf("want exit 1:\n%s", r.dump())
			}
			if !control {
				st := checkContained(t, e, "on a node")
				for _, m := range st.Modules {
					if m.State == report.Built && m.Node == "" {
						t.Errorf("%s was built, but not on a node", m.Name)
					}
				}
				if left := procsWithMarker(e.bomb); len(left) > 0 {
					t.Errorf("%d processes of the fork bomb survive", len(left))
				}
				return
			}
			got := e.results(t)
			for _, attack := range []string{"a-state", "a-site", "b-install", "f-processes", "g-huge"} {
				if !got[attack] {
					t.Errorf("control: attack %s did not succeed unconfined on the node", attack)
				}
			}
		})
	}
}
