package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/autobuild/autobuild/engine/report"
	"github.com/autobuild/autobuild/internal/testutil"
)

// A module that failed is not built again while none of its inputs
// changed: it is reported still failing since the run that failed, with
// that run's log, and its dependents are skipped. --retry-failed, --force,
// a new commit and a changed setting build it again.
func TestStillFailingIsNotRebuilt(t *testing.T) {
	f := newFarm(t)
	bad := f.repo("bad", script(`echo BUILD-ATTEMPT; echo "the compiler said no"; exit 1`))
	f.repo("app", script(`echo app`))
	cfg := func(env string) {
		f.config(`modules:
  - {name: bad, source: {url: repos/bad}` + env + `}
  - {name: app, source: {url: repos/app}, depends: [bad]}
`)
	}
	cfg("")
	// Every build of bad says so in its run's log.
	built := func() int {
		logs, _ := filepath.Glob(filepath.Join(f.root, "log-root", "*", "bad.log"))
		n := 0
		for _, l := range logs {
			b, _ := os.ReadFile(l)
			n += strings.Count(string(b), "\nBUILD-ATTEMPT")
		}
		return n
	}
	if r := f.run(); r.code != 1 || built() != 1 {
		t.Fatalf("run 1: want exit 1 after one attempt (attempts %d)\n%s", built(), r.dump())
	}
	r := f.run()
	if r.code != 1 {
		t.Fatalf("run 2: want exit 1\n%s", r.dump())
	}
	st := f.status()
	m := module(st, "bad")
	if built() != 1 {
		t.Errorf("run 2 built the failed module again (%d attempts)", built())
	}
	if m.State != report.Failed || m.FailedSince != 1 || !strings.HasPrefix(m.Reason, "still failing since run 1:") {
		t.Errorf("run 2: bad is %s since %d (%s)", m.State, m.FailedSince, m.Reason)
	}
	if log, err := os.ReadFile(filepath.Join(f.root, "public_html", m.Log)); err != nil || !strings.Contains(string(log), "the compiler said no") {
		t.Errorf("run 2 does not publish the failing run's log %q: %v", m.Log, err)
	}
	if a := module(st, "app"); a.State != report.Skipped {
		t.Errorf("app is %s", a.State)
	}
	// A skipped module never started: status.json gives it no start.
	var raw struct{ Modules []map[string]any }
	b, _ := os.ReadFile(filepath.Join(f.root, "public_html", "status.json"))
	if err := json.Unmarshal(b, &raw); err != nil {
		t.Fatal(err)
	}
	for _, m := range raw.Modules {
		if _, has := m["start"]; has != (m["name"] == "bad") {
			t.Errorf("status.json: %v has a start: %v (%v)", m["name"], has, m["start"])
		}
	}
	// Each way of asking builds it again.
	for i, retry := range []func() result{
		func() result { return f.run("--retry-failed") },
		func() result { return f.run("--force=bad") },
		func() result {
			b, _ := os.ReadFile(f.cfg)
			os.WriteFile(f.cfg, []byte(strings.Replace(string(b), "{name: bad, source: {url: repos/bad}", "{name: bad, retry_failed: true, source: {url: repos/bad}", 1)), 0o644)
			r := f.run()
			cfg("")
			return r
		},
		func() result { cfg(`, env: ["X=1"]`); return f.run() },
		func() result {
			testutil.Commit(t, bad, script(`echo BUILD-ATTEMPT; echo fixed`))
			return f.run()
		},
	} {
		before := built()
		retry()
		if built() != before+1 {
			t.Errorf("retry %d did not build the module again", i+1)
		}
	}
	if a := module(f.status(), "app"); a.State != report.Built {
		t.Errorf("after the fix, app is %s (%s)", a.State, a.Reason)
	}
}
