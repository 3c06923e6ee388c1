package publish_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
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

func write(t *testing.T, p, body string) {
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
						{Path: "libfoo_1.2_amd64.deb", Size: 10, SHA256: "aa"},
						{Path: "src/libfoo-1.2.tar.gz", Size: 3000, SHA256: "bb"},
					}},
				{Name: "app", State: report.Cached, Depends: []string{"libfoo"}, Groups: []string{"core", "apps"}, Revision: "fedcba98", Key: "k-app", CachedFrom: 3,
					Level: "network", Start: t0.Add(13 * time.Second), Duration: 250 * time.Millisecond,
					Artifacts: []report.Artifact{{Path: "app.bin", Size: 2 << 20, SHA256: "cc"}}},
				{Name: "broken", State: report.Failed, Reason: "build exited with status 2", Revision: "77aa", Level: "isolated",
					Missing: []string{"selinux"}, Start: t0.Add(time.Second), Duration: 900 * time.Millisecond},
				{Name: "downstream", State: report.Skipped, Reason: "dependency broken failed", Depends: []string{"broken", "libfoo"},
					Level: "isolated", Start: t0.Add(2 * time.Second)},
			},
			History: []report.Summary{
				{Counter: counter - 1, Start: t0.Add(-24 * time.Hour), Duration: 61 * time.Second, Built: 3, Cached: 1},
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
		names = append(names, e.Name())
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

func TestSiteGolden(t *testing.T) {
	f := newFixture(t, 42)
	public, sites := paths(t)
	if err := (&publish.Site{Dir: public, Sites: sites, Keep: 3}).Publish(context.Background(), f.in); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"index.html", "status.json", "feed.atom"} {
		b, err := os.ReadFile(filepath.Join(public, name))
		if err != nil {
			t.Fatal(err)
		}
		golden(t, name+".golden", b)
	}
}

func TestSiteContents(t *testing.T) {
	f := newFixture(t, 42)
	public, sites := paths(t)
	// The input run is not modified by publishing.
	before, _ := json.Marshal(f.in.Run)
	if err := (&publish.Site{Dir: public, Sites: sites, Keep: 3}).Publish(context.Background(), f.in); err != nil {
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
	if err := (&publish.Site{Dir: public, Sites: sites, Keep: 3}).Publish(context.Background(), f.in); err != nil {
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
	if n != 9 { // index.html, status.json, feed.atom, 3 logs, 3 artifacts
		t.Errorf("published %d files, want 9", n)
	}
}

func TestSiteReplacesTheLiveSite(t *testing.T) {
	public, sites := paths(t)
	f1 := newFixture(t, 1)
	if err := (&publish.Site{Dir: public, Sites: sites, Keep: 3}).Publish(context.Background(), f1.in); err != nil {
		t.Fatal(err)
	}
	first := live(t, public, sites)
	firstSnap := snapshot(t, first)

	f2 := newFixture(t, 2)
	f2.in.Run.Modules[0].Reason = "second run"
	if err := (&publish.Site{Dir: public, Sites: sites, Keep: 3}).Publish(context.Background(), f2.in); err != nil {
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
		{"artifact missing", func(t *testing.T, f *fixture, _ string) {
			if err := os.Remove(filepath.Join(f.root, "pkg", "app", "app.bin")); err != nil {
				t.Fatal(err)
			}
		}},
		{"artifact in a missing subfolder", func(t *testing.T, f *fixture, _ string) {
			f.in.Run.Modules[0].Artifacts = append(f.in.Run.Modules[0].Artifacts, report.Artifact{Path: "gone/x.rpm"})
		}},
		{"log is a folder", func(t *testing.T, f *fixture, _ string) {
			if err := os.Mkdir(filepath.Join(f.root, "a-folder.log"), 0o755); err != nil {
				t.Fatal(err)
			}
			f.in.Files["broken"] = publish.ModuleFiles{Log: filepath.Join(f.root, "a-folder.log")}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			public, sites := paths(t)
			if err := (&publish.Site{Dir: public, Sites: sites, Keep: 3}).Publish(context.Background(), newFixture(t, 1).in); err != nil {
				t.Fatal(err)
			}
			prev := live(t, public, sites)
			prevSnap := snapshot(t, prev)
			namesBefore := siteNames(t, sites)

			f := newFixture(t, 2)
			tc.setup(t, f, public)
			if err := (&publish.Site{Dir: public, Sites: sites, Keep: 3}).Publish(context.Background(), f.in); err == nil {
				t.Fatal("Site succeeded")
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

func TestSiteRefusesARealPublicFolder(t *testing.T) {
	public, sites := paths(t)
	write(t, filepath.Join(public, "index.html"), "hand-made site")
	before := snapshot(t, public)
	err := (&publish.Site{Dir: public, Sites: sites, Keep: 3}).Publish(context.Background(), newFixture(t, 1).in)
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
				if err := (&publish.Site{Dir: public, Sites: sites, Keep: keep}).Publish(context.Background(), newFixture(t, c).in); err != nil {
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
		if err := (&publish.Site{Dir: public, Sites: sites, Keep: 2}).Publish(context.Background(), newFixture(t, c).in); err != nil {
			t.Fatal(err)
		}
	}
	good := filepath.Base(live(t, public, sites))
	write(t, filepath.Join(sites, "run-000003-killed", "logs", "x.log"), "half")
	if err := (&publish.Site{Dir: public, Sites: sites, Keep: 2}).Publish(context.Background(), newFixture(t, 4).in); err != nil {
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
	f.in.Run.Modules[0].Artifacts[0].Path = `a"><script>alert('art')</script>.deb`
	write(t, filepath.Join(f.root, "pkg", "libfoo", f.in.Run.Modules[0].Artifacts[0].Path), "x")

	public, sites := paths(t)
	if err := (&publish.Site{Dir: public, Sites: sites, Keep: 3}).Publish(context.Background(), f.in); err != nil {
		t.Fatal(err)
	}
	page, err := os.ReadFile(filepath.Join(public, "index.html"))
	if err != nil {
		t.Fatal(err)
	}
	html := string(page)
	for _, bad := range []string{"<script", "<img", `"><s`, `a"`} {
		if strings.Contains(html, bad) {
			t.Errorf("index.html contains the raw %q", bad)
		}
	}
	if !strings.Contains(html, "&lt;script&gt;alert(&#34;reason&#34;)&lt;/script&gt;") {
		t.Error("the hostile reason is not shown, escaped")
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
			return &publish.Site{Dir: filepath.Join(dir, "public_html"), Sites: filepath.Join(dir, "sites"), Keep: 3}
		},
		Snapshot: siteSnapshot,
		// Known gap, to be removed: Site hard-links artifacts
		// (linkOrCopy) and chmods the link 0444, which is the input's
		// inode. See issue 9: publish must copy, never hard-link.
		AllowsHardLinks: true,
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
