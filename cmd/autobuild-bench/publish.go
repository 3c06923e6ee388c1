package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"time"

	"github.com/autobuild/autobuild/engine/report"
	"github.com/autobuild/autobuild/publish"
)

var (
	publishModules = flag.Int("publish-modules", 500, "modules in the publish figure (4 artifacts each)")
	publishHistory = flag.Int("publish-history", 200, "runs of history published before the measured runs of the publish figure")
)

// publishChanged is how many modules each run of the publish figure
// builds anew (a new revision, one artifact and the log changed); the
// others are reused.
const publishChanged = 5

// benchPublish: publishing a run of publishModules modules (4 artifacts
// each, 512 B to 64 KiB) on a site that already holds publishHistory
// runs of history (the runs published one after the other, as the engine
// would, keep 3), each run building publishChanged modules anew and
// reusing the rest. The figure is the median of the 5 runs after the
// history, each published on top of the newest MaxRunRecords runs, with
// the median time of each phase of the publisher (Site.Phase), and the
// median CPU time (user and system) of those runs: on a shared machine
// the wall time also waits for the cores, the CPU time much less. The
// site's spare (the site that left the kept ones, which the next Publish
// takes as its folder) is reconciled within each measured Publish, so
// its cost is in the figure.
func benchPublish(dir string) {
	n, hist := *publishModules, *publishHistory
	fmt.Printf("\n== publish a run of %d modules (%d artifacts) with %d runs of history, %d modules changed (target ≤ 1 s)\n",
		n, 4*n, hist, publishChanged)
	rng := rand.New(rand.NewPCG(13, 1))
	logs, pkgs := filepath.Join(dir, "logs"), filepath.Join(dir, "pkg")
	must(os.MkdirAll(logs, 0o755))
	// writeArtifact writes artifact j of module i, of a size from 512 B to
	// 64 KiB (log-uniform), with content of the given version.
	sizes := make([]int, 4*n)
	for k := range sizes {
		sizes[k] = int(512 * float64(uint(1)<<rng.IntN(8)) * (1 + rng.Float64()))
	}
	writeArtifact := func(i, j, version int) report.Artifact {
		rel := fmt.Sprintf("m%04d-%d.%d.tar.gz", i, j, i%7)
		if j == 3 {
			rel = fmt.Sprintf("doc/m%04d-manual.pdf", i)
		}
		p := filepath.Join(pkgs, fmt.Sprintf("m%04d", i), rel)
		must(os.MkdirAll(filepath.Dir(p), 0o755))
		b := make([]byte, sizes[4*i+j])
		r := rand.New(rand.NewPCG(uint64(i), uint64(j*1_000_003+version)))
		for k := range b {
			b[k] = byte(r.UintN(256))
		}
		os.Remove(p)
		must(os.WriteFile(p, b, 0o644))
		sum := sha256.Sum256(b)
		return report.Artifact{Path: rel, Size: int64(len(b)), SHA256: hex.EncodeToString(sum[:])}
	}
	writeLog := func(i, version int) {
		p := filepath.Join(logs, fmt.Sprintf("m%04d.log", i))
		os.Remove(p)
		must(os.WriteFile(p, fmt.Appendf(nil, "building m%04d, revision %d\n%s\nok\n", i, version, make([]byte, 2000)), 0o644))
	}
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	mods := make([]report.Module, n)
	files := map[string]publish.ModuleFiles{}
	builtIn := make([]int, n)
	for i := range mods {
		name := fmt.Sprintf("m%04d", i)
		mods[i] = report.Module{Name: name, State: report.Built, Level: "isolated", Revision: fmt.Sprintf("%040x", i)}
		if i > 0 {
			mods[i].Depends = []string{fmt.Sprintf("m%04d", rng.IntN(i))}
		}
		for j := range 4 {
			mods[i].Artifacts = append(mods[i].Artifacts, writeArtifact(i, j, 0))
		}
		writeLog(i, 0)
		files[name] = publish.ModuleFiles{Log: filepath.Join(logs, name+".log"), Packages: filepath.Join(pkgs, name)}
		builtIn[i] = 1
	}
	var history []report.Summary
	var phases map[string][]time.Duration
	var order []string
	site := &publish.Site{Dir: filepath.Join(dir, "web", "public_html"), Sites: filepath.Join(dir, "web", "sites"), Keep: 3,
		LogRoot: logs, Title: "bench", Phase: func(name string, took time.Duration) {
			if phases != nil {
				if _, ok := phases[name]; !ok {
					order = append(order, name)
				}
				phases[name] = append(phases[name], took)
			}
		}}
	// publishRun publishes run c: the first builds every module, each
	// later one builds publishChanged of them anew.
	var cpus []time.Duration
	publishRun := func(c int) time.Duration {
		start := t0.Add(time.Duration(c) * time.Hour)
		if c > 1 {
			for i := range mods {
				m := &mods[i]
				m.State, m.ReusedFrom, m.Changes = report.Reused, builtIn[i], nil
			}
			for k := range publishChanged {
				i := rng.IntN(n)
				if k == 0 && c%10 == 0 {
					// Now and then a failure, fixed in the next runs.
					mods[i].State, mods[i].Reason, mods[i].ReusedFrom = report.Failed, "build exited with status 2", 0
					mods[i].Artifacts = nil
					continue
				}
				m := &mods[i]
				m.State, m.Reason, m.ReusedFrom = report.Built, "", 0
				m.Revision = fmt.Sprintf("%040x", c*n+i)
				m.Changes = []report.Change{{ID: m.Revision, Author: "A <a@example.org>", Date: start, Subject: fmt.Sprintf("change %d", c)}}
				m.Artifacts = nil
				for j := range 4 {
					if j == 0 {
						m.Artifacts = append(m.Artifacts, writeArtifact(i, j, c))
					} else {
						m.Artifacts = append(m.Artifacts, writeArtifact(i, j, 0))
					}
				}
				writeLog(i, c)
				builtIn[i] = c
			}
		}
		for i := range mods {
			if mods[i].State == report.Reused && mods[i].Artifacts == nil {
				// Fixed: built again with what it had.
				mods[i].State, mods[i].Reason, mods[i].ReusedFrom = report.Built, "", 0
				for j := range 4 {
					mods[i].Artifacts = append(mods[i].Artifacts, writeArtifact(i, j, 0))
				}
				builtIn[i] = c
			}
			mods[i].Start, mods[i].Duration = start, time.Second
		}
		run := &report.Run{Counter: c, Start: start, Duration: time.Minute,
			Modules: append([]report.Module(nil), mods...), History: append([]report.Summary(nil), history...)}
		t, cpu := time.Now(), cpuTime()
		must(site.Publish(context.Background(), publish.Input{Run: run, Files: files}))
		d := time.Since(t)
		cpus = append(cpus, cpuTime()-cpu)
		history = append([]report.Summary{run.Summarize()}, history...)
		if len(history) > 50 {
			history = history[:50]
		}
		return d
	}
	t := time.Now()
	var first time.Duration
	for c := 1; c <= hist; c++ {
		d := publishRun(c)
		if c == 1 {
			first = d
		}
	}
	setup := time.Since(t)
	phases, cpus = map[string][]time.Duration{}, nil
	var ds []time.Duration
	for c := hist + 1; c <= hist+5; c++ {
		ds = append(ds, publishRun(c))
	}
	m := median(ds)
	fmt.Printf("  %-44s %8.0f ms\n", "first run (every module built, no history)", ms(first))
	fmt.Printf("  %-44s %8.1f s   (%.0f ms per run)\n", fmt.Sprintf("the %d runs of history", hist), setup.Seconds(), ms(setup)/float64(hist))
	fmt.Printf("  %-44s %8.0f ms  %s\n", fmt.Sprintf("runs %d–%d (median)", hist+1, hist+5), ms(m), verdict(m <= time.Second))
	fmt.Printf("    %-42s %8.0f ms\n", "CPU time (user+system, median)", ms(median(cpus)))
	for _, name := range order {
		fmt.Printf("    %-42s %8.0f ms\n", name, ms(median(phases[name])))
	}
}
