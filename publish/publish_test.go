package publish_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"encoding/xml"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/autobuild/autobuild/engine/report"
	"github.com/autobuild/autobuild/publish"
	"github.com/autobuild/autobuild/publish/publishtest"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

var t0 = time.Date(2024, 3, 1, 4, 5, 6, 0, time.UTC)

// fixture is a build root with logs and package folders, and the run that
// produced them. Times are fixed so the rendered site is deterministic.
type fixture struct {
	root string
	in   publish.Input
}

func write(t testing.TB, p, body string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
}

func newFixture(t *testing.T, counter int) *fixture {
	t.Helper()
	root := t.TempDir()
	f := &fixture{root: root}
	logs := filepath.Join(root, "logs")
	write(t, filepath.Join(logs, "libfoo.log"), "compiling libfoo\nok\n")
	write(t, filepath.Join(logs, "app.log"), "restored from run 3\n")
	write(t, filepath.Join(logs, "broken.log"), "error: no such file\n")
	write(t, filepath.Join(root, "pkg", "libfoo", "libfoo_1.2_amd64.deb"), "DEB libfoo")
	write(t, filepath.Join(root, "pkg", "libfoo", "src", "libfoo-1.2.tar.gz"), strings.Repeat("z", 3000))
	write(t, filepath.Join(root, "pkg", "app", "app.bin"), strings.Repeat("a", 2<<20))

	f.in = publish.Input{
		Run: &report.Run{
			Counter:  counter,
			Start:    t0,
			Duration: 83*time.Second + 420*time.Millisecond,
			Modules: []report.Module{
				{Name: "libfoo", State: report.Built, Revision: "0123456789abcdef0123456789abcdef01234567", Key: "k-libfoo",
					Level: "isolated", Enforced: []string{"landlock-fs", "pid-namespace"}, Start: t0, Duration: 12345 * time.Millisecond,
					Artifacts: []report.Artifact{
						artifact(t, filepath.Join(root, "pkg", "libfoo"), "libfoo_1.2_amd64.deb"),
						artifact(t, filepath.Join(root, "pkg", "libfoo"), "src/libfoo-1.2.tar.gz"),
					},
					ChangesSince: "ffeeddccbbaa99887766554433221100ffeeddcc",
					Changes: []report.Change{
						{ID: "0123456789abcdef0123456789abcdef01234567", Author: "Ada <ada@example.org>", Date: t0.Add(-time.Hour),
							Subject: "Fix the build on 32-bit hosts", Files: []string{"configure.ac", "src/foo.c"}, FilesOmitted: 3},
						{ID: "1123456789abcdef0123456789abcdef01234567", Author: "Bob", Date: t0.Add(-2 * time.Hour), Subject: "Add libfoo_bar()"},
					}},
				{Name: "app", State: report.Reused, Depends: []string{"libfoo"}, Groups: []string{"core", "apps"}, Revision: "fedcba98", Key: "k-app", ReusedFrom: 3,
					Level: "network", Start: t0.Add(13 * time.Second), Duration: 250 * time.Millisecond,
					Artifacts: []report.Artifact{artifact(t, filepath.Join(root, "pkg", "app"), "app.bin")}},
				{Name: "broken", State: report.Failed, Reason: "build exited with status 2", Revision: "77aa", Level: "isolated",
					Missing: []string{"selinux"}, Start: t0.Add(time.Second), Duration: 900 * time.Millisecond},
				{Name: "downstream", State: report.Skipped, Reason: "dependency broken failed", Depends: []string{"broken", "libfoo"},
					Level: "isolated", Start: t0.Add(2 * time.Second)},
			},
			History: []report.Summary{
				{Counter: counter - 1, Start: t0.Add(-24 * time.Hour), Duration: 61 * time.Second, Built: 3, Reused: 1},
				{Counter: counter - 2, Start: t0.Add(-48 * time.Hour), Duration: 2 * time.Second, Built: 1, Failed: 1, Skipped: 2},
			},
		},
		Files: map[string]publish.ModuleFiles{
			"libfoo":     {Log: filepath.Join(logs, "libfoo.log"), Packages: filepath.Join(root, "pkg", "libfoo")},
			"app":        {Log: filepath.Join(logs, "app.log"), Packages: filepath.Join(root, "pkg", "app")},
			"broken":     {Log: filepath.Join(logs, "broken.log")},
			"downstream": {Log: filepath.Join(logs, "downstream.log")}, // never written: skipped
		},
	}
	return f
}

// artifact describes the file rel of a package folder, as collect does.
func artifact(t testing.TB, pkg, rel string) report.Artifact {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(pkg, rel))
	if err != nil {
		t.Fatal(err)
	}
	return report.Artifact{Path: rel, Size: int64(len(b)), SHA256: fmt.Sprintf("%x", sha256.Sum256(b))}
}

// site is a Site at public and sites that publishes logs from f's log
// folder, as the engine's takes them from its log-root.
func (f *fixture) site(public, sites string, keep int) *publish.Site {
	return &publish.Site{Dir: public, Sites: sites, Keep: keep, LogRoot: filepath.Join(f.root, "logs")}
}

func publishFixture(public, sites string, keep int, f *fixture) error {
	return f.site(public, sites, keep).Publish(context.Background(), f.in)
}

// paths returns the public symlink and the sites folder of a fresh web root.
func paths(t *testing.T) (public, sites string) {
	web := t.TempDir()
	return filepath.Join(web, "public_html"), filepath.Join(web, "sites")
}

// live returns the folder public points at, checking it is a symlink to a
// folder directly under sites.
func live(t *testing.T, public, sites string) string {
	t.Helper()
	info, err := os.Lstat(public)
	if err != nil {
		t.Fatal(err)
	}
	if info.Mode()&fs.ModeSymlink == 0 {
		t.Fatalf("%s is %v, not a symlink", public, info.Mode())
	}
	target, err := os.Readlink(public)
	if err != nil {
		t.Fatal(err)
	}
	if !filepath.IsAbs(target) {
		target = filepath.Join(filepath.Dir(public), target)
	}
	if filepath.Dir(target) != sites {
		t.Fatalf("public_html -> %s, not a folder in %s", target, sites)
	}
	return target
}

// snapshot records every file under root (content, mode, link target) so
// a test can show a site was left exactly as it was.
func snapshot(t *testing.T, root string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		info, err := d.Info()
		if err != nil {
			return err
		}
		switch {
		case info.Mode()&fs.ModeSymlink != 0:
			target, _ := os.Readlink(p)
			out[rel] = "link " + target
		case info.IsDir():
			out[rel] = fmt.Sprintf("dir %v", info.Mode())
		default:
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			out[rel] = fmt.Sprintf("%v %q", info.Mode(), b)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func sameSnapshot(t *testing.T, what string, got, want map[string]string) {
	t.Helper()
	for k, w := range want {
		if g, ok := got[k]; !ok {
			t.Errorf("%s: %s disappeared", what, k)
		} else if g != w {
			t.Errorf("%s: %s changed:\n got %.200s\nwant %.200s", what, k, g, w)
		}
	}
	for k := range got {
		if _, ok := want[k]; !ok {
			t.Errorf("%s: %s appeared", what, k)
		}
	}
}

func siteNames(t *testing.T, sites string) []string {
	t.Helper()
	ents, err := os.ReadDir(sites)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		if e.Name() != ".spare" { // not a site: the next one's folder (spare_test.go)
			names = append(names, e.Name())
		}
	}
	sort.Strings(names)
	return names
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	p := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(p, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(p)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the golden file (go test -update rewrites it):\n%s", name, firstDiff(string(got), string(want)))
	}
}

func firstDiff(got, want string) string {
	g, w := strings.Split(got, "\n"), strings.Split(want, "\n")
	for i := 0; i < len(g) || i < len(w); i++ {
		var gl, wl string
		if i < len(g) {
			gl = g[i]
		}
		if i < len(w) {
			wl = w[i]
		}
		if gl != wl {
			return fmt.Sprintf("line %d:\n got %q\nwant %q", i+1, gl, wl)
		}
	}
	return "(no line differs)"
}

// The site's files as a golden copy each; the site has a URL (its feeds'
// IDs derive from it, so they are the same on every machine) and a title.
func TestSiteGolden(t *testing.T) {
	f := newFixture(t, 42)
	// Runs 40 and 41 changed nothing since 39 (which built or reused all
	// four modules): one row "runs 40–41" in the history and the feed.
	f.in.Run.History = append([]report.Summary{
		{Counter: 42, Start: t0, Duration: 83 * time.Second, Built: 1, Reused: 1, Failed: 1, Skipped: 1},
		{Counter: 41, Start: t0.Add(-time.Hour), Duration: time.Second, Reused: 4},
		{Counter: 40, Start: t0.Add(-2 * time.Hour), Duration: time.Second, Reused: 4},
	}, f.in.Run.History...)
	f.in.Run.History[3].Counter, f.in.Run.History[4].Counter = 39, 38
	public, sites := paths(t)
	s := f.site(public, sites, 3)
	s.URL, s.Title = "https://build.example.org/ci", "Example CI"
	if err := s.Publish(context.Background(), f.in); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"index.html", "status.json", "feed.atom", "failures.atom", "feeds/libfoo.atom", "badges/broken.svg", "badges/all.svg"} {
		b, err := os.ReadFile(filepath.Join(public, name))
		if err != nil {
			t.Fatal(err)
		}
		golden(t, strings.ReplaceAll(name, "/", "_")+".golden", b)
	}
}

func TestSiteContents(t *testing.T) {
	f := newFixture(t, 42)
	public, sites := paths(t)
	// The input run is not modified by publishing.
	before, _ := json.Marshal(f.in.Run)
	if err := f.site(public, sites, 3).Publish(context.Background(), f.in); err != nil {
		t.Fatal(err)
	}
	if after, _ := json.Marshal(f.in.Run); !bytes.Equal(before, after) {
		t.Error("Site modified its input run")
	}
	dir := live(t, public, sites)
	if !strings.HasPrefix(filepath.Base(dir), "run-000042-") {
		t.Errorf("site folder %s is not named after run 42", dir)
	}
	if info, err := os.Stat(dir); err != nil || info.Mode().Perm() != 0o755 {
		t.Errorf("site folder mode = %v (%v), want 0755 so the web server can read it", info.Mode(), err)
	}

	files := []struct{ rel, body string }{
		{"logs/libfoo.log", "compiling libfoo\nok\n"},
		{"logs/app.log", "restored from run 3\n"},
		{"logs/broken.log", "error: no such file\n"},
		{"packages/libfoo/libfoo_1.2_amd64.deb", "DEB libfoo"},
		{"packages/libfoo/src/libfoo-1.2.tar.gz", strings.Repeat("z", 3000)},
		{"packages/app/app.bin", strings.Repeat("a", 2<<20)},
	}
	for _, c := range files {
		b, err := os.ReadFile(filepath.Join(public, c.rel))
		if err != nil {
			t.Errorf("%s: %v", c.rel, err)
			continue
		}
		if string(b) != c.body {
			t.Errorf("%s: content differs (%d bytes, want %d)", c.rel, len(b), len(c.body))
		}
	}
	if _, err := os.Stat(filepath.Join(public, "logs", "downstream.log")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("a log that does not exist was published: %v", err)
	}

	// status.json says where each log is, relative to the site.
	b, err := os.ReadFile(filepath.Join(public, "status.json"))
	if err != nil {
		t.Fatal(err)
	}
	var run report.Run
	if err := json.Unmarshal(b, &run); err != nil {
		t.Fatalf("status.json: %v", err)
	}
	logs := map[string]string{}
	for _, m := range run.Modules {
		logs[m.Name] = m.Log
	}
	want := map[string]string{"libfoo": "logs/libfoo.log", "app": "logs/app.log", "broken": "logs/broken.log", "downstream": ""}
	for n, w := range want {
		if logs[n] != w {
			t.Errorf("status.json: log of %s = %q, want %q", n, logs[n], w)
		}
		if w != "" {
			if _, err := os.Stat(filepath.Join(public, w)); err != nil {
				t.Errorf("status.json points %s at a missing log: %v", n, err)
			}
		}
	}
	if run.Counter != 42 || !run.Start.Equal(t0) || len(run.Modules) != 4 || len(run.History) != 2 {
		t.Errorf("status.json run = counter %d, start %v, %d modules, %d history", run.Counter, run.Start, len(run.Modules), len(run.History))
	}
}

func TestPublishedFilesAreReadOnly(t *testing.T) {
	f := newFixture(t, 1)
	public, sites := paths(t)
	if err := f.site(public, sites, 3).Publish(context.Background(), f.in); err != nil {
		t.Fatal(err)
	}
	n := 0
	err := filepath.WalkDir(live(t, public, sites), func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		n++
		if info.Mode().Perm()&0o222 != 0 {
			t.Errorf("%s is writable: %v", p, info.Mode())
		}
		if info.Mode().Perm()&0o444 != 0o444 {
			t.Errorf("%s is not readable by all: %v", p, info.Mode())
		}
		if os.Geteuid() != 0 { // root writes to anything
			if w, err := os.OpenFile(p, os.O_WRONLY, 0); err == nil {
				w.Close()
				t.Errorf("%s could be opened for writing", p)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// index.html, status.json, feed.atom, failures.atom, packages.html,
	// 3 logs, 3 artifacts, 4 module feeds, 4 module badges,
	// badges/all.svg and graph.svg; 2 SHA256SUMS, runs/1.json and
	// runs/1.html, runs/index.json, 4 module records and 4 module pages,
	// pages.json
	if n != 35 {
		t.Errorf("published %d files, want 35", n)
	}
}

func TestSiteReplacesTheLiveSite(t *testing.T) {
	public, sites := paths(t)
	f1 := newFixture(t, 1)
	if err := f1.site(public, sites, 3).Publish(context.Background(), f1.in); err != nil {
		t.Fatal(err)
	}
	first := live(t, public, sites)
	firstSnap := snapshot(t, first)

	f2 := newFixture(t, 2)
	f2.in.Run.Modules[0].Reason = "second run"
	if err := f2.site(public, sites, 3).Publish(context.Background(), f2.in); err != nil {
		t.Fatal(err)
	}
	second := live(t, public, sites)
	if second == first {
		t.Fatal("the second run did not get a new site folder")
	}
	b, err := os.ReadFile(filepath.Join(public, "status.json"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), `"counter": 2`) || !strings.Contains(string(b), "second run") {
		t.Error("public_html does not serve the second run")
	}
	// The older site is kept, unchanged.
	sameSnapshot(t, "first site", snapshot(t, first), firstSnap)
}

func TestSiteFailureKeepsPreviousSite(t *testing.T) {
	tests := []struct {
		name  string
		setup func(t *testing.T, f *fixture, public string)
	}{
		{"module name not a path element", func(t *testing.T, f *fixture, _ string) {
			f.in.Run.Modules = append(f.in.Run.Modules, report.Module{Name: "../../escape", State: report.Failed})
		}},
		{"module twice", func(t *testing.T, f *fixture, _ string) {
			f.in.Run.Modules = append(f.in.Run.Modules, f.in.Run.Modules[0])
		}},
		{"cancelled", nil}, // below: a cancelled context
		{"cancelled midway", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			public, sites := paths(t)
			if err := publishFixture(public, sites, 3, newFixture(t, 1)); err != nil {
				t.Fatal(err)
			}
			prev := live(t, public, sites)
			prevSnap := snapshot(t, prev)
			namesBefore := siteNames(t, sites)

			f := newFixture(t, 2)
			ctx := context.Background()
			if tc.setup != nil {
				tc.setup(t, f, public)
			} else if tc.name == "cancelled midway" {
				// After the logs and libfoo's artifacts are copied.
				ctx = &cancelAfter{Context: ctx, n: 5}
			} else {
				c, cancel := context.WithCancel(ctx)
				cancel()
				ctx = c
			}
			if err := f.site(public, sites, 3).Publish(ctx, f.in); err == nil {
				t.Fatal("Site succeeded")
			} else {
				t.Logf("Site failed as it must: %v", err)
			}
			if got := live(t, public, sites); got != prev {
				t.Errorf("public_html now -> %s, want the previous site %s", got, prev)
			}
			sameSnapshot(t, "previous site", snapshot(t, prev), prevSnap)
			if got := siteNames(t, sites); strings.Join(got, ",") != strings.Join(namesBefore, ",") {
				t.Errorf("sites/ = %v after a failed run, want %v (no partial site)", got, namesBefore)
			}
			if entries, _ := os.ReadDir(filepath.Dir(public)); len(entries) != 2 {
				var names []string
				for _, e := range entries {
					names = append(names, e.Name())
				}
				t.Errorf("web root holds %v, want only public_html and sites", names)
			}
		})
	}
}

// cancelAfter is a context whose Err turns to Canceled after n calls: a
// run interrupted while its site is being written.
type cancelAfter struct {
	context.Context
	n int
}

func (c *cancelAfter) Err() error {
	c.n--
	if c.n < 0 {
		return context.Canceled
	}
	return nil
}

func TestSiteRefusesARealPublicFolder(t *testing.T) {
	public, sites := paths(t)
	write(t, filepath.Join(public, "index.html"), "hand-made site")
	before := snapshot(t, public)
	err := publishFixture(public, sites, 3, newFixture(t, 1))
	if err == nil {
		t.Fatal("Site replaced a real folder")
	}
	if !strings.Contains(err.Error(), "not a symlink") {
		t.Errorf("error %q does not say why", err)
	}
	sameSnapshot(t, "public_html", snapshot(t, public), before)
	if ents, err := os.ReadDir(sites); err == nil && len(ents) > 0 {
		t.Errorf("a failed Site left %d entries in sites/", len(ents))
	}
}

func TestPrune(t *testing.T) {
	for _, keep := range []int{1, 2, 3} {
		t.Run(fmt.Sprintf("keep=%d", keep), func(t *testing.T) {
			public, sites := paths(t)
			// A folder left by a run killed long ago, before its swap.
			partial := filepath.Join(sites, "run-000000-partial")
			write(t, filepath.Join(partial, "logs", "x.log"), "half")
			var made []string
			for c := 1; c <= 5; c++ {
				if err := publishFixture(public, sites, keep, newFixture(t, c)); err != nil {
					t.Fatal(err)
				}
				made = append(made, filepath.Base(live(t, public, sites)))
			}
			want := made[len(made)-keep:]
			if got := siteNames(t, sites); strings.Join(got, ",") != strings.Join(want, ",") {
				t.Errorf("sites/ = %v, want %v", got, want)
			}
			if filepath.Base(live(t, public, sites)) != made[4] {
				t.Error("the live site is not the newest")
			}
		})
	}
}

func TestPruneRemovesPartialSiteOfAKilledRun(t *testing.T) {
	// Package doc: Site "keeps keep sites (the live one included) and
	// removes older or unfinished ones". A run killed before its swap
	// leaves a folder with a higher counter than the last good site.
	public, sites := paths(t)
	for c := 1; c <= 2; c++ {
		if err := publishFixture(public, sites, 2, newFixture(t, c)); err != nil {
			t.Fatal(err)
		}
	}
	good := filepath.Base(live(t, public, sites))
	write(t, filepath.Join(sites, "run-000003-killed", "logs", "x.log"), "half")
	if err := publishFixture(public, sites, 2, newFixture(t, 4)); err != nil {
		t.Fatal(err)
	}
	got := siteNames(t, sites)
	if strings.Join(got, ",") != good+","+filepath.Base(live(t, public, sites)) {
		t.Errorf("sites/ = %v, want the previous good site %s and the live one", got, good)
	}
}

func TestHTMLEscapesModuleOutput(t *testing.T) {
	f := newFixture(t, 9)
	m := &f.in.Run.Modules[2]
	m.Reason = `build failed: <script>alert("reason")</script>`
	m.Revision = `"><script>alert('rev')</script>`
	m.Missing = []string{`<img src=x onerror=alert(1)>`}
	m.Level = `</td><script>alert('level')</script>`
	m.Changes = []report.Change{{ID: `<script>alert('id')</script>`, Author: `<img src=x onerror=alert(2)>`,
		Subject: `<script>alert("subject")</script>`, Files: []string{`<script>alert('file')</script>`}}}
	f.in.Run.Modules[0].Artifacts[0].Path = `a"><script>alert('art')</script>.deb`
	write(t, filepath.Join(f.root, "pkg", "libfoo", f.in.Run.Modules[0].Artifacts[0].Path), "x")

	public, sites := paths(t)
	if err := f.site(public, sites, 3).Publish(context.Background(), f.in); err != nil {
		t.Fatal(err)
	}
	page, err := os.ReadFile(filepath.Join(public, "index.html"))
	if err != nil {
		t.Fatal(err)
	}
	html := string(page)
	for _, bad := range []string{"<script", "<img src=x", `"><script`, `a"`} {
		if strings.Contains(html, bad) {
			t.Errorf("index.html contains the raw %q", bad)
		}
	}
	if !strings.Contains(html, "&lt;script&gt;alert(&#34;reason&#34;)&lt;/script&gt;") {
		t.Error("the hostile reason is not shown, escaped")
	}
	if !strings.Contains(html, "&lt;script&gt;alert(&#34;subject&#34;)&lt;/script&gt;") {
		t.Error("the hostile change subject is not shown, escaped")
	}

	// status.json carries the text unchanged (as JSON) for machines.
	b, err := os.ReadFile(filepath.Join(public, "status.json"))
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(b, []byte("<script>")) {
		t.Error("status.json holds a raw <script> (JSON encoding should escape it)")
	}
	var run report.Run
	if err := json.Unmarshal(b, &run); err != nil {
		t.Fatal(err)
	}
	if run.Modules[2].Reason != m.Reason || run.Modules[2].Revision != m.Revision {
		t.Errorf("status.json changed the text: %q, %q", run.Modules[2].Reason, run.Modules[2].Revision)
	}
}

func TestSiteConformance(t *testing.T) {
	publishtest.Run(t, publishtest.Harness{
		New: func(t *testing.T, dir string) publish.Publisher {
			// The suite's logs are in temporary folders.
			return &publish.Site{Dir: filepath.Join(dir, "public_html"), Sites: filepath.Join(dir, "sites"), Keep: 3,
				LogRoot: os.TempDir()}
		},
		Snapshot: siteSnapshot,
	})
}

// siteSnapshot lists the live site as a web server sees it, through the
// public_html symlink: every path with its mode, and a file's sha256 or a
// link's target. It is empty before the first site.
func siteSnapshot(t *testing.T, dir string) string {
	t.Helper()
	public := filepath.Join(dir, "public_html")
	if _, err := os.Lstat(public); errors.Is(err, fs.ErrNotExist) {
		return ""
	}
	var lines []string
	site := os.DirFS(public) // opens public/name: follows the link
	err := fs.WalkDir(site, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		switch {
		case info.Mode()&fs.ModeSymlink != 0:
			target, err := os.Readlink(filepath.Join(public, p))
			if err != nil {
				return err
			}
			lines = append(lines, fmt.Sprintf("%s %v -> %s", p, info.Mode(), target))
		case info.IsDir():
			lines = append(lines, fmt.Sprintf("%s/ %v", p, info.Mode()))
		case !info.Mode().IsRegular(): // a FIFO would block the read
			lines = append(lines, fmt.Sprintf("%s %v", p, info.Mode()))
		default:
			b, err := fs.ReadFile(site, p)
			if err != nil {
				return err
			}
			lines = append(lines, fmt.Sprintf("%s %v %x", p, info.Mode(), sha256.Sum256(b)))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(lines)
	return strings.Join(lines, "\n")
}

// ---- Published files are the engine's own (issue: published artifacts
// could change after publishing; one module could stop all publishing).

// siteStatus reads the live site's status.json.
func siteStatus(t *testing.T, public string) *report.Run {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(public, "status.json"))
	if err != nil {
		t.Fatal(err)
	}
	var run report.Run
	if err := json.Unmarshal(b, &run); err != nil {
		t.Fatal(err)
	}
	return &run
}

func statusModule(t *testing.T, run *report.Run, name string) report.Module {
	t.Helper()
	for _, m := range run.Modules {
		if m.Name == name {
			return m
		}
	}
	t.Fatalf("status.json has no module %s", name)
	return report.Module{}
}

func fileSHA(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("%x", sha256.Sum256(b))
}

func inode(t *testing.T, p string) (ino, nlink uint64, mode fs.FileMode) {
	t.Helper()
	info, err := os.Lstat(p)
	if err != nil {
		t.Fatal(err)
	}
	st := info.Sys().(*syscall.Stat_t)
	return st.Ino, uint64(st.Nlink), info.Mode()
}

// A build keeps a second hard link to its artifact, in a folder of its
// own outside the package root, and rewrites the artifact through it once
// the run is published: the site's copy, and its checksum in
// status.json, stay as published.
func TestPublishedArtifactDoesNotChangeWithItsInput(t *testing.T) {
	f := newFixture(t, 1)
	art := filepath.Join(f.root, "pkg", "libfoo", "libfoo_1.2_amd64.deb")
	kept := filepath.Join(f.root, "build-tmp", "kept.deb")
	if err := os.MkdirAll(filepath.Dir(kept), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Link(art, kept); err != nil {
		t.Fatal(err)
	}
	public, sites := paths(t)
	if err := publishFixture(public, sites, 3, f); err != nil {
		t.Fatal(err)
	}
	site := filepath.Join(public, "packages", "libfoo", "libfoo_1.2_amd64.deb")
	listed := statusModule(t, siteStatus(t, public), "libfoo").Artifacts[0]
	if listed.Path != "libfoo_1.2_amd64.deb" || fileSHA(t, site) != listed.SHA256 {
		t.Fatalf("published %s: sha256 %s, status.json %+v", site, fileSHA(t, site), listed)
	}
	siteIno, _, siteMode := inode(t, site)
	artIno, artLinks, artMode := inode(t, art)
	if siteIno == artIno {
		t.Error("the published artifact is the input's inode (a hard link)")
	}
	if artLinks != 2 || artMode.Perm() != 0o644 {
		t.Errorf("the input has %d links, mode %v: want 2 (its own and the build's), 0644 as the build left it", artLinks, artMode)
	}
	if siteMode.Perm() != 0o444 {
		t.Errorf("the published artifact's mode is %v, want 0444", siteMode)
	}

	// The build rewrites its artifact through the link it kept.
	w, err := os.OpenFile(kept, os.O_WRONLY|os.O_TRUNC, 0)
	if err != nil {
		t.Fatal(err)
	}
	w.WriteString("TROJANED DEB")
	w.Close()

	// Control: the rewrite reached the input (the link is real).
	if fileSHA(t, art) == listed.SHA256 {
		t.Fatal("control: rewriting the kept link did not change the input's checksum")
	}
	if b, _ := os.ReadFile(site); string(b) != "DEB libfoo" {
		t.Errorf("the published artifact changed after publishing: %q", b)
	}
	if got := fileSHA(t, site); got != listed.SHA256 {
		t.Errorf("the published artifact's sha256 %s no longer matches status.json's %s", got, listed.SHA256)
	}
}

// A package root holding a hard link to a root-owned 0600 file: the file
// the module listed is published as its artifact (a copy, 0444), and the
// original's mode, links and content do not change. Listed with another
// checksum (the link swapped after it was collected), it is not published.
func TestPublishDoesNotChangeALinkedFile(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to make a root-owned file")
	}
	for _, matches := range []bool{true, false} {
		t.Run(fmt.Sprintf("listed-as-it-is=%v", matches), func(t *testing.T) {
			secretDir := t.TempDir()
			os.Chmod(secretDir, 0o700)
			secret := filepath.Join(secretDir, "root-only")
			if err := os.WriteFile(secret, []byte("ROOT ONLY SECRET\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			os.Chmod(secret, 0o600)
			f := newFixture(t, 1)
			pkg := filepath.Join(f.root, "pkg", "libfoo")
			linked := filepath.Join(pkg, "linked.deb")
			if err := os.Link(secret, linked); err != nil {
				t.Fatal(err)
			}
			a := artifact(t, pkg, "linked.deb")
			if !matches {
				a.SHA256 = fmt.Sprintf("%x", sha256.Sum256([]byte("what collect saw")))
			}
			m := &f.in.Run.Modules[0]
			m.Artifacts = append(m.Artifacts, a)
			ino, _, _ := inode(t, secret)
			if lino, _, _ := inode(t, linked); lino != ino {
				t.Fatal("control: the package root's entry is not the secret's inode")
			}

			public, sites := paths(t)
			if err := publishFixture(public, sites, 3, f); err != nil {
				t.Fatal(err)
			}
			if _, links, mode := inode(t, secret); mode.Perm() != 0o600 || links != 2 {
				t.Errorf("the linked root-only file is now mode %v with %d links, want 0600 with 2", mode, links)
			}
			if b, _ := os.ReadFile(secret); string(b) != "ROOT ONLY SECRET\n" {
				t.Errorf("the linked file changed: %q", b)
			}
			got := statusModule(t, siteStatus(t, public), "libfoo")
			pub := filepath.Join(public, "packages", "libfoo", "linked.deb")
			if matches {
				if got.Unpublished != "" {
					t.Fatalf("libfoo unpublished: %s", got.Unpublished)
				}
				sino, _, smode := inode(t, pub)
				if sino == ino || smode.Perm() != 0o444 {
					t.Errorf("published as inode %d (secret's %d), mode %v: want a copy, 0444", sino, ino, smode)
				}
				return
			}
			if !strings.Contains(got.Unpublished, "changed since it was collected") || len(got.Artifacts) != 0 {
				t.Errorf("libfoo: unpublished %q, artifacts %v", got.Unpublished, got.Artifacts)
			}
			if _, err := os.Lstat(filepath.Join(public, "packages", "libfoo")); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("packages/libfoo is on the site: %v", err)
			}
			noSiteFileHolds(t, public, "ROOT ONLY SECRET")
		})
	}
}

// noSiteFileHolds checks no file of the live site holds secret.
func noSiteFileHolds(t *testing.T, public, secret string) {
	t.Helper()
	err := filepath.WalkDir(public+"/", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		if !d.Type().IsRegular() {
			t.Errorf("%s on the site is %v, not a regular file", p, d.Type())
			return nil
		}
		if b, err := os.ReadFile(p); err != nil {
			return err
		} else if strings.Contains(string(b), secret) {
			t.Errorf("%s on the site holds %q", p, secret)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// makeLongPath makes, below dir, 20 nested folders of 200 characters
// (longer than PATH_MAX in all) holding name, and returns its path below dir.
func makeLongPath(t *testing.T, dir, name, body string) string {
	t.Helper()
	elem := strings.Repeat("x", 200)
	fd, err := syscall.Open(dir, syscall.O_RDONLY|syscall.O_DIRECTORY, 0)
	if err != nil {
		t.Fatal(err)
	}
	var rel []string
	for range 20 {
		if err := syscall.Mkdirat(fd, elem, 0o755); err != nil {
			t.Fatal(err)
		}
		next, err := syscall.Openat(fd, elem, syscall.O_RDONLY|syscall.O_DIRECTORY, 0)
		if err != nil {
			t.Fatal(err)
		}
		syscall.Close(fd)
		fd = next
		rel = append(rel, elem)
	}
	defer syscall.Close(fd)
	w, err := syscall.Openat(fd, name, syscall.O_WRONLY|syscall.O_CREAT, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	syscall.Write(w, []byte(body))
	syscall.Close(w)
	return strings.Join(append(rel, name), "/")
}

// Each file that cannot be published as listed costs its module (libfoo)
// its artifacts, with the reason, and nothing else: app is published, the
// run's site is made, and nothing of libfoo's stays in it.
func TestUnpublishableArtifactCostsOnlyItsModule(t *testing.T) {
	outside := t.TempDir()
	os.WriteFile(filepath.Join(outside, "target"), []byte("outside"), 0o644)
	tests := []struct {
		name string
		// setup adds to libfoo's package folder and returns the artifact
		// to list last (its entry as collect would make it).
		setup func(t *testing.T, pkg string, s *publish.Site) report.Artifact
		why   string
	}{
		{"symlink", func(t *testing.T, pkg string, _ *publish.Site) report.Artifact {
			a := artifact(t, outside, "target")
			os.Symlink(filepath.Join(outside, "target"), filepath.Join(pkg, "link.deb"))
			a.Path = "link.deb"
			return a
		}, "is a symlink"},
		{"symlinked folder", func(t *testing.T, pkg string, _ *publish.Site) report.Artifact {
			a := artifact(t, outside, "target")
			os.Symlink(outside, filepath.Join(pkg, "dir"))
			a.Path = "dir/target"
			return a
		}, "is a symlink"},
		{"FIFO", func(t *testing.T, pkg string, _ *publish.Site) report.Artifact {
			if err := syscall.Mkfifo(filepath.Join(pkg, "pipe.deb"), 0o644); err != nil {
				t.Fatal(err)
			}
			return report.Artifact{Path: "pipe.deb", SHA256: fmt.Sprintf("%x", sha256.Sum256(nil))}
		}, "is a FIFO"},
		{"device", func(t *testing.T, pkg string, _ *publish.Site) report.Artifact {
			if err := syscall.Mknod(filepath.Join(pkg, "null.deb"), syscall.S_IFCHR|0o666, 1<<8|3); err != nil {
				t.Skipf("mknod: %v", err)
			}
			return report.Artifact{Path: "null.deb", SHA256: fmt.Sprintf("%x", sha256.Sum256(nil))}
		}, "is a device"},
		{"folder", func(t *testing.T, pkg string, _ *publish.Site) report.Artifact {
			os.Mkdir(filepath.Join(pkg, "dir.deb"), 0o755)
			return report.Artifact{Path: "dir.deb", SHA256: fmt.Sprintf("%x", sha256.Sum256(nil))}
		}, "is a folder"},
		{"vanished", func(t *testing.T, pkg string, _ *publish.Site) report.Artifact {
			write(t, filepath.Join(pkg, "gone.deb"), "here when collected")
			a := artifact(t, pkg, "gone.deb")
			os.Remove(filepath.Join(pkg, "gone.deb"))
			return a
		}, "does not exist"},
		{"4000-character path", func(t *testing.T, pkg string, _ *publish.Site) report.Artifact {
			rel := makeLongPath(t, pkg, "long.deb", "long")
			return report.Artifact{Path: rel, Size: 4, SHA256: fmt.Sprintf("%x", sha256.Sum256([]byte("long")))}
		}, "path too long"},
		{"size changed", func(t *testing.T, pkg string, _ *publish.Site) report.Artifact {
			write(t, filepath.Join(pkg, "grown.deb"), "small")
			a := artifact(t, pkg, "grown.deb")
			write(t, filepath.Join(pkg, "grown.deb"), "small, then larger")
			return a
		}, "changed since it was collected"},
		{"content changed", func(t *testing.T, pkg string, _ *publish.Site) report.Artifact {
			write(t, filepath.Join(pkg, "swapped.deb"), "genuine")
			a := artifact(t, pkg, "swapped.deb")
			write(t, filepath.Join(pkg, "swapped.deb"), "trojan!")
			return a
		}, "changed since it was collected"},
		{"larger than the limit", func(t *testing.T, pkg string, s *publish.Site) report.Artifact {
			s.MaxFileSize = 2 << 20 // app.bin's size
			write(t, filepath.Join(pkg, "huge.deb"), strings.Repeat("h", 2<<20+1))
			return artifact(t, pkg, "huge.deb")
		}, "larger than the site's limit"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, 1)
			public, sites := paths(t)
			site := f.site(public, sites, 3)
			pkg := filepath.Join(f.root, "pkg", "libfoo")
			a := tc.setup(t, pkg, site)
			m := &f.in.Run.Modules[0]
			m.Artifacts = append(m.Artifacts, a) // last: the others are copied first
			done := make(chan error, 1)
			go func() { done <- site.Publish(context.Background(), f.in) }()
			select {
			case err := <-done:
				if err != nil {
					t.Fatalf("one module's file failed the whole site: %v", err)
				}
			case <-time.After(30 * time.Second):
				// Unblock a FIFO's reader, so the test can end.
				if w, err := os.OpenFile(filepath.Join(pkg, "pipe.deb"), os.O_WRONLY|syscall.O_NONBLOCK, 0); err == nil {
					w.Close()
				}
				t.Fatal("Publish blocked")
			}
			run := siteStatus(t, public)
			lib := statusModule(t, run, "libfoo")
			t.Logf("libfoo: unpublished: %s", lib.Unpublished)
			if !strings.Contains(lib.Unpublished, tc.why) || len(lib.Artifacts) != 0 {
				t.Errorf("libfoo: unpublished %q (want %q), artifacts %v", lib.Unpublished, tc.why, lib.Artifacts)
			}
			if len(lib.Unpublished) > 400 {
				t.Errorf("the reason is %d bytes long", len(lib.Unpublished))
			}
			if _, err := os.Lstat(filepath.Join(public, "packages", "libfoo")); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("packages/libfoo is on the site: %v", err)
			}
			if lib.Log != "logs/libfoo.log" {
				t.Errorf("libfoo's log: %q", lib.Log)
			}
			app := statusModule(t, run, "app")
			if app.Unpublished != "" || len(app.Artifacts) != 1 ||
				fileSHA(t, filepath.Join(public, "packages", "app", "app.bin")) != app.Artifacts[0].SHA256 {
				t.Errorf("app is not published: %+v", app)
			}
			page, _ := os.ReadFile(filepath.Join(public, "index.html"))
			if !strings.Contains(string(page), "artifacts not published: ") {
				t.Error("index.html does not say libfoo's artifacts are not published")
			}
			noSiteFileHolds(t, public, "outside")
		})
	}
}

// A log is published only from the log folder, reached without a symlink,
// as a regular file the engine wrote. A state file naming /etc/shadow, or
// a root-only file, as a reused module's log gets nothing published: the
// log is shown as unavailable, with the reason, and the run is published.
func TestLogsOnlyFromTheLogFolder(t *testing.T) {
	secretDir := t.TempDir()
	os.Chmod(secretDir, 0o700)
	secret := filepath.Join(secretDir, "root-only")
	os.WriteFile(secret, []byte("ROOT ONLY SECRET\n"), 0o600)
	shadow, _ := os.ReadFile("/etc/shadow")
	if info, err := os.Stat("/etc/shadow"); err == nil {
		// Should a regression chmod what it links (the bug this
		// guards), the host's file is put back.
		t.Cleanup(func() {
			if now, err := os.Stat("/etc/shadow"); err == nil && now.Mode() != info.Mode() {
				t.Errorf("/etc/shadow's mode is %v, was %v: put back", now.Mode(), info.Mode())
				os.Chmod("/etc/shadow", info.Mode().Perm())
			}
		})
	}
	tests := []struct {
		name  string
		setup func(t *testing.T, f *fixture, s *publish.Site) string // the log path
		why   string
	}{
		{"/etc/shadow", func(t *testing.T, f *fixture, _ *publish.Site) string { return "/etc/shadow" }, "not below the log folder"},
		{"root-only file outside", func(t *testing.T, f *fixture, _ *publish.Site) string { return secret }, "not below the log folder"},
		{"dot-dot out of the log folder", func(t *testing.T, f *fixture, _ *publish.Site) string {
			rel, _ := filepath.Rel(filepath.Join(f.root, "logs"), secret)
			return filepath.Join(f.root, "logs") + "/" + rel // not cleaned
		}, "not below the log folder"},
		{"symlink in the log folder", func(t *testing.T, f *fixture, _ *publish.Site) string {
			p := filepath.Join(f.root, "logs", "evil.log")
			os.Symlink(secret, p)
			return p
		}, "is a symlink"},
		{"symlinked folder in the log folder", func(t *testing.T, f *fixture, _ *publish.Site) string {
			os.Symlink(secretDir, filepath.Join(f.root, "logs", "7"))
			return filepath.Join(f.root, "logs", "7", "root-only")
		}, "is a symlink"},
		{"FIFO", func(t *testing.T, f *fixture, _ *publish.Site) string {
			p := filepath.Join(f.root, "logs", "fifo.log")
			syscall.Mkfifo(p, 0o644)
			return p
		}, "is a FIFO"},
		{"folder", func(t *testing.T, f *fixture, _ *publish.Site) string {
			p := filepath.Join(f.root, "logs", "dir.log")
			os.Mkdir(p, 0o755)
			return p
		}, "is a folder"},
		{"not the engine's", func(t *testing.T, f *fixture, _ *publish.Site) string {
			p := filepath.Join(f.root, "logs", "other.log")
			write(t, p, "written by someone else")
			if err := os.Chown(p, 12345, 12345); err != nil {
				t.Skipf("chown: %v", err)
			}
			return p
		}, "was not written by the engine"},
		{"no log folder configured", func(t *testing.T, f *fixture, s *publish.Site) string {
			s.LogRoot = ""
			return filepath.Join(f.root, "logs", "broken.log")
		}, "no log folder"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, 1)
			public, sites := paths(t)
			site := f.site(public, sites, 3)
			f.in.Files["broken"] = publish.ModuleFiles{Log: tc.setup(t, f, site)}
			done := make(chan error, 1)
			go func() { done <- site.Publish(context.Background(), f.in) }()
			select {
			case err := <-done:
				if err != nil {
					t.Fatalf("one module's log failed the whole site: %v", err)
				}
			case <-time.After(30 * time.Second):
				t.Fatal("Publish blocked")
			}
			run := siteStatus(t, public)
			broken := statusModule(t, run, "broken")
			t.Logf("broken: log unavailable: %s", broken.LogUnavailable)
			if broken.Log != "" || !strings.Contains(broken.LogUnavailable, tc.why) {
				t.Errorf("broken: log %q, unavailable %q (want %q)", broken.Log, broken.LogUnavailable, tc.why)
			}
			if _, err := os.Lstat(filepath.Join(public, "logs", "broken.log")); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("logs/broken.log is on the site: %v", err)
			}
			noSiteFileHolds(t, public, "ROOT ONLY SECRET")
			if len(shadow) > 0 {
				noSiteFileHolds(t, public, string(shadow))
			}
			// Control: the other logs, in the log folder, are published.
			if lib := statusModule(t, run, "libfoo"); tc.name != "no log folder configured" && lib.Log != "logs/libfoo.log" {
				t.Errorf("libfoo's log: %q (%s)", lib.Log, lib.LogUnavailable)
			}
			page, _ := os.ReadFile(filepath.Join(public, "index.html"))
			if !strings.Contains(string(page), "log unavailable: ") {
				t.Error("index.html does not say broken's log is unavailable")
			}
			if info, err := os.Stat(secret); err != nil || info.Mode().Perm() != 0o600 {
				t.Errorf("the secret's mode: %v (%v)", info.Mode(), err)
			}
		})
	}
}

// A module collect could not list within bounds (report.Module's
// Unpublished is set already) has no artifacts on the site, and its
// reason stays; a module whose name the site cannot hold is shown
// without its files. The others are published.
func TestSiteKeepsWhatCollectRefused(t *testing.T) {
	f := newFixture(t, 1)
	f.in.Run.Modules[0].Unpublished = "the package folder holds more than 10000 files"
	long := strings.Repeat("m", 252)
	f.in.Run.Modules[2].Name = long
	f.in.Run.Modules[2].Artifacts = []report.Artifact{artifact(t, filepath.Join(f.root, "pkg", "app"), "app.bin")}
	f.in.Files[long] = publish.ModuleFiles{Log: filepath.Join(f.root, "logs", "broken.log"), Packages: filepath.Join(f.root, "pkg", "app")}
	public, sites := paths(t)
	if err := publishFixture(public, sites, 3, f); err != nil {
		t.Fatal(err)
	}
	run := siteStatus(t, public)
	lib := statusModule(t, run, "libfoo")
	if lib.Unpublished != "the package folder holds more than 10000 files" || len(lib.Artifacts) != 0 || lib.Log != "logs/libfoo.log" {
		t.Errorf("libfoo: %+v", lib)
	}
	if _, err := os.Lstat(filepath.Join(public, "packages", "libfoo")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("packages/libfoo is on the site: %v", err)
	}
	lm := statusModule(t, run, long)
	if lm.Log != "" || lm.LogUnavailable == "" || lm.Unpublished == "" || len(lm.Artifacts) != 0 {
		t.Errorf("the long-named module: log %q (%q), unpublished %q, %d artifacts", lm.Log, lm.LogUnavailable, lm.Unpublished, len(lm.Artifacts))
	}
	if app := statusModule(t, run, "app"); app.Unpublished != "" || len(app.Artifacts) != 1 || app.Log != "logs/app.log" {
		t.Errorf("app: %+v", app)
	}
}

// An artifact that has not changed since the live site is not copied
// again: the new site links the live site's own copy (the engine's, never
// the module's file), and the module's file still has no other link.
// A changed artifact is copied anew (control).
func TestUnchangedArtifactsReuseTheLiveSitesCopy(t *testing.T) {
	f := newFixture(t, 1)
	base := t.TempDir()
	public, sites := filepath.Join(base, "public_html"), filepath.Join(base, "sites")
	site := f.site(public, sites, 3)
	if err := site.Publish(context.Background(), f.in); err != nil {
		t.Fatal(err)
	}
	inode := func(p string) (uint64, uint64) {
		var st syscall.Stat_t
		if err := syscall.Stat(p, &st); err != nil {
			t.Fatal(err)
		}
		return st.Ino, uint64(st.Nlink)
	}
	deb := filepath.Join("packages", "libfoo", "libfoo_1.2_amd64.deb")
	tgz := filepath.Join("packages", "libfoo", "src", "libfoo-1.2.tar.gz")
	first, _ := inode(filepath.Join(public, deb))
	firstTgz, _ := inode(filepath.Join(public, tgz))

	// The next run: the .deb unchanged, the tarball rebuilt with other
	// content.
	f.in.Run.Counter = 2
	src := filepath.Join(f.root, "pkg", "libfoo", "src", "libfoo-1.2.tar.gz")
	os.Remove(src)
	write(t, src, strings.Repeat("y", 3001))
	f.in.Run.Modules[0].Artifacts[1] = artifact(t, filepath.Join(f.root, "pkg", "libfoo"), "src/libfoo-1.2.tar.gz")
	if err := site.Publish(context.Background(), f.in); err != nil {
		t.Fatal(err)
	}
	second, links := inode(filepath.Join(public, deb))
	if second != first || links < 2 {
		t.Errorf("the unchanged .deb was copied again (inode %d → %d, %d links)", first, second, links)
	}
	if secondTgz, _ := inode(filepath.Join(public, tgz)); secondTgz == firstTgz {
		t.Error("control: the changed tarball is the live site's old copy")
	}
	if b, _ := os.ReadFile(filepath.Join(public, tgz)); string(b) != strings.Repeat("y", 3001) {
		t.Error("the changed tarball's new content is not published")
	}
	if _, n := inode(filepath.Join(f.root, "pkg", "libfoo", "libfoo_1.2_amd64.deb")); n != 1 {
		t.Errorf("the module's own .deb has %d links: the site linked to it", n)
	}
}

// A run built as of a time says so on the page and in the feed, and the
// feed's entry for the run lists the changes it built.
func TestSiteShowsAsOfAndChanges(t *testing.T) {
	f := newFixture(t, 9)
	f.in.Run.AsOf = time.Date(2009, 3, 1, 12, 0, 0, 0, time.UTC)
	f.in.Run.History = append([]report.Summary{f.in.Run.Summarize()}, f.in.Run.History...)
	public, sites := paths(t)
	if err := f.site(public, sites, 3).Publish(context.Background(), f.in); err != nil {
		t.Fatal(err)
	}
	page, err := os.ReadFile(filepath.Join(public, "index.html"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"Sources as of 2009-03-01 12:00:00 UTC", "2 changes since", "Fix the build on 32-bit hosts", "configure.ac, src/foo.c and 3 more"} {
		if !strings.Contains(string(page), want) {
			t.Errorf("index.html lacks %q", want)
		}
	}
	feed, err := os.ReadFile(filepath.Join(public, "feed.atom"))
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Entries []struct {
			ID      string `xml:"id"`
			Content string `xml:"content"`
		} `xml:"entry"`
	}
	if err := xml.Unmarshal(feed, &doc); err != nil {
		t.Fatal(err)
	}
	if len(doc.Entries) != 3 || !strings.Contains(doc.Entries[0].Content, "Sources as of 2009-03-01T12:00:00Z") ||
		!strings.Contains(doc.Entries[0].Content, "libfoo (built, changes since ffeeddccbbaa99887766554433221100ffeeddcc)") ||
		!strings.Contains(doc.Entries[0].Content, "Ada <ada@example.org>: Fix the build on 32-bit hosts") {
		t.Errorf("feed entries = %+v; want the run's changes in its entry", doc.Entries)
	}
	if doc.Entries[1].Content != "" {
		t.Errorf("an older run's entry has content %q", doc.Entries[1].Content)
	}
}
