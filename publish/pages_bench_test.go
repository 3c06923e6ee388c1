package publish_test

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/autobuild/autobuild/engine/report"
	"github.com/autobuild/autobuild/publish"
)

// benchRuns is how many runs of history the benchmark publishes first.
const benchRuns = 30

// Publishing a run of 500 modules (2,000 artifacts, all reused) on top
// of a history of benchRuns runs: most module pages and every older run
// page are linked from the live site, not rendered, and each site is
// made in the spare (the folder of the site that left the kept ones),
// where most of those links are already.
func BenchmarkPublishWithHistory(b *testing.B) {
	root := b.TempDir()
	in := publish.Input{Run: &report.Run{Start: t0}, Files: map[string]publish.ModuleFiles{}}
	for i := 0; i < 500; i++ {
		name := fmt.Sprintf("m%03d", i)
		pkg := filepath.Join(root, "pkg", name)
		m := report.Module{Name: name, State: report.Reused, Revision: "0123456789abcdef", Level: "isolated", Start: t0}
		for j := 0; j < 4; j++ {
			rel := fmt.Sprintf("f%d.bin", j)
			write(b, filepath.Join(pkg, rel), name+rel)
			m.Artifacts = append(m.Artifacts, artifact(b, pkg, rel))
		}
		log := filepath.Join(root, "logs", name+".log")
		write(b, log, "log of "+name+"\n")
		in.Run.Modules = append(in.Run.Modules, m)
		in.Files[name] = publish.ModuleFiles{Log: log, Packages: pkg}
	}
	web := b.TempDir()
	s := &publish.Site{Dir: filepath.Join(web, "public_html"), Sites: filepath.Join(web, "sites"), Keep: 3, LogRoot: filepath.Join(root, "logs")}
	c := 0
	publishOne := func() {
		c++
		in.Run.Counter = c
		if err := s.Publish(context.Background(), in); err != nil {
			b.Fatal(err)
		}
	}
	for i := 0; i < benchRuns; i++ {
		publishOne()
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		publishOne()
	}
}
