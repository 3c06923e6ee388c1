package publish_test

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/autobuild/autobuild/engine/report"
	"github.com/autobuild/autobuild/publish"
)

// The spare (spare.go): the site that leaves the kept ones is renamed to
// sites/.spare, and the next Publish makes its new site in that folder,
// reconciled, instead of in an empty one. These tests publish the same
// runs twice, into a site that uses its spare and into one whose spare is
// removed before each Publish (so each of its sites is made in an empty
// folder), and compare the two.

// spareFarm is a build root whose modules change from run to run in
// every way a site's folder must follow: artifacts that change, appear
// and go, a file that becomes a folder and back, a module that fails
// (its last good build kept), one that comes and goes, hostile names, a
// module without a log.
type spareFarm struct {
	t    *testing.T
	root string
}

func newSpareFarm(t *testing.T) *spareFarm {
	return &spareFarm{t: t, root: t.TempDir()}
}

// in is run c's input; it writes the run's package folders anew (as
// builds do) and a module's log only when it changes.
func (f *spareFarm) in(c int) publish.Input {
	t := f.t
	start := t0.Add(time.Duration(c) * time.Hour)
	run := &report.Run{Counter: c, Start: start, Duration: time.Minute}
	files := map[string]publish.ModuleFiles{}
	add := func(name string, state report.State, log string, arts map[string]string) {
		pkg := filepath.Join(f.root, "pkg", name)
		if err := os.RemoveAll(pkg); err != nil {
			t.Fatal(err)
		}
		m := report.Module{Name: name, State: state, Level: "isolated", Revision: fmt.Sprintf("%s-%d", name, c), Start: start, Duration: time.Second}
		if state == report.Failed {
			m.Reason = "build exited with status 1"
		}
		mf := publish.ModuleFiles{}
		if arts != nil {
			mf.Packages = pkg
			if err := os.MkdirAll(pkg, 0o755); err != nil {
				t.Fatal(err)
			}
		}
		for rel, body := range arts {
			write(t, filepath.Join(pkg, rel), body)
			m.Artifacts = append(m.Artifacts, artifact(t, pkg, rel))
		}
		sortArtifacts(m.Artifacts)
		if log != "" {
			p := filepath.Join(f.root, "logs", name+".log")
			if b, err := os.ReadFile(p); err != nil || string(b) != log {
				os.Remove(p) // a new file: the old one may be linked, read-only
				write(t, p, log)
			}
			mf.Log = p
		}
		run.Modules = append(run.Modules, m)
		files[name] = mf
	}
	add("stable", report.Built, "stable log\n", map[string]string{"a.bin": "stable a", "doc/manual.pdf": "stable manual"})
	add("churn", report.Built, fmt.Sprintf("churn log %d\n", c), map[string]string{"a.bin": fmt.Sprintf("churn run %d", c), "b.bin": "churn b"})
	if c%2 == 0 {
		add("shape", report.Built, "shape log\n", map[string]string{"x": "x, a file", "y/z": "z"})
	} else {
		add("shape", report.Built, "shape log\n", map[string]string{"x/inner": "inner", "y": "y, a file"})
	}
	if c%4 == 3 {
		add("flaky", report.Failed, fmt.Sprintf("flaky broke in run %d\n", c), nil)
	} else {
		add("flaky", report.Built, "flaky ok\n", map[string]string{"f.bin": "flaky"})
	}
	if c >= 4 && c <= 6 {
		add("late", report.Built, "late log\n", map[string]string{"l.bin": "late"})
	}
	add("names", report.Built, "names log\n", map[string]string{"new\nline.bin": "nl", "dir-\xff/file.bin": "ff", "a#b.bin": "hash"})
	if c%3 == 0 {
		add("nolog", report.Built, "", map[string]string{})
	} else {
		add("nolog", report.Built, "", map[string]string{"n.bin": "n"})
	}
	return publish.Input{Run: run, Files: files}
}

func sortArtifacts(as []report.Artifact) {
	for i := range as {
		for j := i + 1; j < len(as); j++ {
			if as[j].Path < as[i].Path {
				as[i], as[j] = as[j], as[i]
			}
		}
	}
}

// spareSite is a site of keep in a web root of its own.
func (f *spareFarm) site(keep int) *publish.Site {
	web := f.t.TempDir()
	return &publish.Site{Dir: filepath.Join(web, "public_html"), Sites: filepath.Join(web, "sites"), Keep: keep,
		LogRoot: filepath.Join(f.root, "logs"), URL: "https://ci.example.org/", Title: "spare"}
}

// publishFresh publishes c on s after removing its spare: a site made in
// an empty folder, as before there was a spare.
func publishFresh(t *testing.T, s *publish.Site, in publish.Input) {
	t.Helper()
	if err := os.RemoveAll(filepath.Join(s.Sites, ".spare")); err != nil {
		t.Fatal(err)
	}
	if err := s.Publish(context.Background(), in); err != nil {
		t.Fatal(err)
	}
}

func inodeOf(t *testing.T, p string) uint64 {
	t.Helper()
	st, err := os.Lstat(p)
	if err != nil {
		t.Fatal(err)
	}
	return st.Sys().(*syscall.Stat_t).Ino
}

// noModuleFileLinked checks that no file of the package folders has a
// link anywhere (the sites, the spare): a site copies artifacts.
func (f *spareFarm) noModuleFileLinked(t *testing.T) {
	t.Helper()
	filepath.WalkDir(filepath.Join(f.root, "pkg"), func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			if info, err := d.Info(); err == nil && info.Sys().(*syscall.Stat_t).Nlink != 1 {
				t.Errorf("the module's file %s has %d links", p, info.Sys().(*syscall.Stat_t).Nlink)
			}
		}
		return nil
	})
}

// A site made in the spare's folder is the very site made in an empty
// one (every file, folder and mode), run after run, for keep 1 to 3, and
// after the counter starts again at 1 (a build root made afresh: the
// site drops every older record, which the spare holds); the control is
// that it is the spare's folder (the same inode), from the run after
// keep+1 on.
func TestSpareMakesTheSameSiteAsAnEmptyFolder(t *testing.T) {
	for _, keep := range []int{1, 2, 3} {
		t.Run(fmt.Sprintf("keep=%d", keep), func(t *testing.T) {
			f := newSpareFarm(t)
			a, b := f.site(keep), f.site(keep)
			reused := 0
			for i := 1; i <= 15; i++ {
				c := i
				if i > 12 {
					c = i - 12
				}
				in := f.in(c)
				spare := filepath.Join(a.Sites, ".spare")
				var spareIno uint64
				if _, err := os.Lstat(spare); err == nil {
					spareIno = inodeOf(t, spare)
				} else if i > keep+1 {
					t.Fatalf("run %d: no spare after %d runs", c, i-1)
				}
				if err := a.Publish(context.Background(), in); err != nil {
					t.Fatal(err)
				}
				publishFresh(t, b, in)
				la, lb := live(t, a.Dir, a.Sites), live(t, b.Dir, b.Sites)
				if spareIno != 0 {
					if inodeOf(t, la) != spareIno {
						t.Fatalf("run %d: the new site is not the spare's folder", c)
					}
					reused++
				}
				sameSnapshot(t, fmt.Sprintf("run %d: the site made in the spare", c), snapshot(t, la), snapshot(t, lb))
				checkAllLinks(t, a.Dir)
				f.noModuleFileLinked(t)
			}
			if reused < 15-keep-1 {
				t.Errorf("the spare was taken %d times", reused)
			}
		})
	}
}

// A spare that holds what no site of the engine's holds is reconciled
// all the same: a module's own file linked where its artifact goes, a
// symlink where a folder goes, a writable file of other content where a
// log or a kept run's artifact goes, files and a run folder the site does
// not hold, a FIFO, a folder of mode 0777 and (as root) one of another
// uid. The new site is the one made in an empty folder, and no module's
// file stays linked; the control: each of them was in the spare, and the
// spare's folder is the new site's.
func TestSpareHoldingForeignEntriesIsReconciled(t *testing.T) {
	f := newSpareFarm(t)
	const keep = 3
	a, b := f.site(keep), f.site(keep)
	for c := 1; c <= 5; c++ {
		in := f.in(c)
		if err := a.Publish(context.Background(), in); err != nil {
			t.Fatal(err)
		}
		publishFresh(t, b, in)
	}
	in := f.in(6)
	sp := filepath.Join(a.Sites, ".spare")
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	own := filepath.Join(f.root, "pkg", "stable", "a.bin")
	must(os.Remove(filepath.Join(sp, "packages", "stable", "a.bin")))
	must(os.Link(own, filepath.Join(sp, "packages", "stable", "a.bin")))
	must(os.RemoveAll(filepath.Join(sp, "packages", "stable", "doc")))
	must(os.Symlink(filepath.Join(f.root, "pkg", "stable", "doc"), filepath.Join(sp, "packages", "stable", "doc")))
	must(os.Remove(filepath.Join(sp, "logs", "stable.log")))
	write(t, filepath.Join(sp, "logs", "stable.log"), "not the log")
	runs, err := os.ReadDir(filepath.Join(sp, "runs"))
	must(err)
	kept := ""
	for _, e := range runs {
		if e.IsDir() {
			kept = filepath.Join(sp, "runs", e.Name())
		}
	}
	if kept == "" {
		t.Fatal("control: the spare holds no run's files")
	}
	must(os.Remove(filepath.Join(kept, "packages", "churn", "b.bin")))
	write(t, filepath.Join(kept, "packages", "churn", "b.bin"), "not the artifact")
	write(t, filepath.Join(kept, "evil.html"), "<script>")
	write(t, filepath.Join(sp, "packages", "evil.html"), "<script>")
	write(t, filepath.Join(sp, "evil.html"), "<script>")
	write(t, filepath.Join(sp, "index.html"), "a finished site?")
	write(t, filepath.Join(sp, "runs", "999", "packages", "x", "y.bin"), "a run no site keeps")
	must(syscall.Mkfifo(filepath.Join(sp, "packages", "fifo"), 0o644))
	must(os.Chmod(filepath.Join(sp, "packages", "shape"), 0o777))
	if os.Geteuid() == 0 {
		must(os.Chown(filepath.Join(sp, "packages", "names"), 65534, 65534))
	}
	if st, err := os.Stat(own); err != nil || st.Sys().(*syscall.Stat_t).Nlink != 2 {
		t.Fatalf("control: the module's file is not linked into the spare: %v", err)
	}
	spareIno := inodeOf(t, sp)

	if err := a.Publish(context.Background(), in); err != nil {
		t.Fatal(err)
	}
	publishFresh(t, b, in)
	la := live(t, a.Dir, a.Sites)
	if inodeOf(t, la) != spareIno {
		t.Fatal("control: the new site is not the spare's folder")
	}
	filepath.WalkDir(la, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && !d.Type().IsRegular() {
			t.Fatalf("%s is %v", p, d.Type()) // and snapshot would block on a FIFO
		}
		return err
	})
	sameSnapshot(t, "the site made in a foreign spare", snapshot(t, la), snapshot(t, live(t, b.Dir, b.Sites)))
	f.noModuleFileLinked(t)
	if os.Geteuid() == 0 {
		if st, err := os.Stat(filepath.Join(la, "packages", "names")); err != nil || st.Sys().(*syscall.Stat_t).Uid != 0 {
			t.Errorf("a folder of another uid was kept: %v", err)
		}
	}
}

// spareStatus is what checkSite reads of a status.json or a run record.
type spareStatus struct {
	Counter int `json:"counter"`
	Modules []struct {
		Name      string `json:"name"`
		Log       string `json:"log"`
		Artifacts []struct {
			Path      string `json:"path"`
			PathBytes []byte `json:"path_bytes"`
			Size      int64  `json:"size"`
			SHA256    string `json:"sha256"`
		} `json:"artifacts"`
	} `json:"modules"`
}

// checkSite says what is missing from the site folder dir, as a reader
// sees it: its pages, each log and artifact its status.json lists (the
// artifact's size and SHA-256), and the same of every run whose files it
// keeps (runs/<c>/), which must be each run within keep of its own.
func checkSite(dir string, keep int) error {
	for _, p := range []string{"index.html", "status.json", "pages.json", "feed.atom", "graph.svg", "runs/index.json"} {
		if st, err := os.Lstat(filepath.Join(dir, p)); err != nil || !st.Mode().IsRegular() {
			return fmt.Errorf("%s: %v", p, err)
		}
	}
	files := func(rec, prefix string) (int, error) {
		b, err := os.ReadFile(filepath.Join(dir, rec))
		if err != nil {
			return 0, err
		}
		var st spareStatus
		if err := json.Unmarshal(b, &st); err != nil {
			return 0, fmt.Errorf("%s: %v", rec, err)
		}
		for _, m := range st.Modules {
			if m.Log != "" {
				if _, err := os.Stat(filepath.Join(dir, prefix, m.Log)); err != nil {
					return 0, fmt.Errorf("%s's log: %v", m.Name, err)
				}
			}
			for _, a := range m.Artifacts {
				name := a.Path
				if a.PathBytes != nil {
					name = string(a.PathBytes)
				}
				b, err := os.ReadFile(filepath.Join(dir, prefix, "packages", m.Name, name))
				if err != nil {
					return 0, fmt.Errorf("%s's artifact: %v", m.Name, err)
				}
				if int64(len(b)) != a.Size || fmt.Sprintf("%x", sha256.Sum256(b)) != a.SHA256 {
					return 0, fmt.Errorf("%s%s/%q is not what %s lists", prefix, m.Name, name, rec)
				}
			}
		}
		return st.Counter, nil
	}
	counter, err := files("status.json", "")
	if err != nil {
		return err
	}
	for c := counter - 1; c > counter-keep && c > 0; c-- {
		if _, err := os.Lstat(filepath.Join(dir, "runs", strconv.Itoa(c)+".json")); err != nil {
			continue
		}
		if _, err := files(filepath.Join("runs", strconv.Itoa(c)+".json"), filepath.Join("runs", strconv.Itoa(c))); err != nil {
			return fmt.Errorf("run %d's files: %v", c, err)
		}
	}
	return nil
}

// finishedSites are the folders in sites with an index.html.
func finishedSites(t *testing.T, sites string) []string {
	t.Helper()
	var out []string
	for _, n := range siteNames(t, sites) {
		if _, err := os.Stat(filepath.Join(sites, n, "index.html")); err == nil {
			out = append(out, filepath.Join(sites, n))
		}
	}
	return out
}

// A reader of the live site sees a complete site at every moment of a
// Publish that uses the spare: checked between each two phases (the live
// site and every kept one are complete; the control: the site being made
// is not, until index.html is written) and by a reader that checks the
// live site over and over while runs are published.
func TestLiveSiteStaysCompleteWhileTheSpareIsMadeTheNextSite(t *testing.T) {
	f := newSpareFarm(t)
	const keep = 2
	s := f.site(keep)
	counter := 0
	checks, controls := 0, 0
	s.Phase = func(name string, _ time.Duration) {
		if name == "swap" || name == "prune" || counter <= 1 {
			return
		}
		l := live(t, s.Dir, s.Sites)
		for _, d := range finishedSites(t, s.Sites) {
			if err := checkSite(d, keep); err != nil {
				t.Errorf("run %d, after %s: the site %s (live: %v): %v", counter, name, filepath.Base(d), d == l, err)
			}
			checks++
		}
		ents, _ := os.ReadDir(s.Sites)
		for _, e := range ents {
			if !strings.HasPrefix(e.Name(), fmt.Sprintf("run-%06d-", counter)) {
				continue
			}
			err := checkSite(filepath.Join(s.Sites, e.Name()), keep)
			if complete := name == "pages"; (err == nil) != complete {
				t.Errorf("control: run %d, after %s: the site being made passes the check: %v, want %v (%v)", counter, name, err == nil, complete, err)
			}
			controls++
		}
	}
	var (
		wg              sync.WaitGroup
		done            = make(chan struct{})
		mu              sync.Mutex
		reads, problems int
	)
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-done:
				return
			default:
			}
			target, err := os.Readlink(s.Dir)
			if err != nil {
				continue // not published yet
			}
			d := filepath.Join(filepath.Dir(s.Dir), target)
			err = checkSite(d, keep)
			// A site that left the kept ones meanwhile (its folder the
			// spare, renamed) is no longer the reader's.
			if _, gone := os.Stat(filepath.Join(d, "index.html")); gone != nil {
				continue
			}
			mu.Lock()
			reads++
			if err != nil {
				problems++
				t.Errorf("a reader of the live site %s: %v", filepath.Base(d), err)
			}
			mu.Unlock()
		}
	}()
	for c := 1; c <= 10; c++ {
		counter = c
		if err := s.Publish(context.Background(), f.in(c)); err != nil {
			t.Fatal(err)
		}
	}
	close(done)
	wg.Wait()
	t.Logf("%d checks of live and kept sites between phases, %d of sites being made, %d reads of the live site", checks, controls, reads)
	if checks == 0 || controls == 0 || reads == 0 {
		t.Errorf("checked nothing: %d checks, %d controls, %d reads", checks, controls, reads)
	}
}

// A Publish killed at any phase (here: a panic out of Site.Phase, which
// leaves its folder as a killed process would) or failing (a cancelled
// context, at several moments of publishing the files) after it took the
// spare leaves the live site and every kept one as they were; the next
// run publishes the site made in an empty folder.
func TestPublishThatFailsOrIsKilledWithTheSpareKeepsTheSites(t *testing.T) {
	type stop struct {
		name   string
		phase  string // killed after this phase
		cancel int    // else: cancelled after so many checks of the context
	}
	var stops []stop
	for _, p := range []string{"spare", "files", "feeds", "history", "parts", "pages", "swap"} {
		stops = append(stops, stop{name: "killed after " + p, phase: p})
	}
	for _, n := range []int{1, 5, 10, 16} {
		stops = append(stops, stop{name: fmt.Sprintf("cancelled at %d", n), cancel: n})
	}
	for _, st := range stops {
		t.Run(st.name, func(t *testing.T) {
			f := newSpareFarm(t)
			const keep = 2
			a, b := f.site(keep), f.site(keep)
			for c := 1; c <= 4; c++ {
				in := f.in(c)
				if err := a.Publish(context.Background(), in); err != nil {
					t.Fatal(err)
				}
				publishFresh(t, b, in)
			}
			if _, err := os.Lstat(filepath.Join(a.Sites, ".spare")); err != nil {
				t.Fatalf("control: no spare to take: %v", err)
			}
			prev := live(t, a.Dir, a.Sites)
			names := strings.Join(siteNames(t, a.Sites), ",")
			before := map[string]map[string]string{}
			for _, d := range finishedSites(t, a.Sites) {
				before[d] = snapshot(t, d)
			}
			in := f.in(5)
			ctx := context.Background()
			if st.cancel > 0 {
				ctx = &cancelAfter{Context: ctx, n: st.cancel}
			} else {
				a.Phase = func(name string, _ time.Duration) {
					if name == st.phase {
						panic("killed")
					}
				}
			}
			err := func() (err error) {
				defer func() {
					if r := recover(); r != nil {
						err = fmt.Errorf("%v", r)
					}
				}()
				return a.Publish(ctx, in)
			}()
			a.Phase = nil
			if err == nil {
				t.Fatal("the Publish did not fail")
			}
			swapped := st.phase == "swap"
			if got := live(t, a.Dir, a.Sites); (got != prev) != swapped {
				t.Fatalf("public_html -> %s, previous site %s", got, prev)
			}
			for d, snap := range before {
				sameSnapshot(t, "site "+filepath.Base(d), snapshot(t, d), snap)
			}
			if got := strings.Join(siteNames(t, a.Sites), ","); st.cancel > 0 && got != names {
				t.Errorf("sites/ = %s after a failed Publish, want %s (no partial site)", got, names)
			}
			if swapped {
				publishFresh(t, b, in)
			}
			next := f.in(6)
			if err := a.Publish(context.Background(), next); err != nil {
				t.Fatal(err)
			}
			publishFresh(t, b, next)
			sameSnapshot(t, "the next site", snapshot(t, live(t, a.Dir, a.Sites)), snapshot(t, live(t, b.Dir, b.Sites)))
			if n := len(siteNames(t, a.Sites)); n != keep {
				t.Errorf("sites/ holds %d sites, want %d", n, keep)
			}
			f.noModuleFileLinked(t)
		})
	}
}

// The files of a run leave the live site after keep runs (its page then
// says they expired), and the disk with the Publish that takes the spare
// holding them: after run n, the sites and the spare hold the files of
// runs n-2·keep+1 to n, none older.
func TestExpiredRunsLoseTheirFiles(t *testing.T) {
	for _, keep := range []int{1, 2, 3} {
		t.Run(fmt.Sprintf("keep=%d", keep), func(t *testing.T) {
			f := newSpareFarm(t)
			s := f.site(keep)
			const n = 10
			for c := 1; c <= n; c++ {
				if err := s.Publish(context.Background(), f.in(c)); err != nil {
					t.Fatal(err)
				}
			}
			l := live(t, s.Dir, s.Sites)
			ents, err := os.ReadDir(filepath.Join(l, "runs"))
			if err != nil {
				t.Fatal(err)
			}
			var dirs []string
			for _, e := range ents {
				if e.IsDir() {
					dirs = append(dirs, e.Name())
				}
			}
			var want []string
			for c := n - keep + 1; c < n; c++ {
				want = append(want, strconv.Itoa(c))
			}
			if strings.Join(dirs, ",") != strings.Join(want, ",") {
				t.Errorf("the live site keeps the files of runs %v, want %v", dirs, want)
			}
			// churn's a.bin is new in every run: which runs' are on disk.
			onDisk := map[int]bool{}
			filepath.WalkDir(s.Sites, func(p string, d fs.DirEntry, err error) error {
				if err == nil && d.Type().IsRegular() && strings.HasSuffix(p, "/churn/a.bin") {
					b, _ := os.ReadFile(p)
					c, _ := strconv.Atoi(strings.TrimPrefix(string(b), "churn run "))
					onDisk[c] = true
				}
				return nil
			})
			for c := 1; c <= n; c++ {
				if want := c > n-2*keep; onDisk[c] != want {
					t.Errorf("run %d's artifact on disk: %v, want %v", c, onDisk[c], want)
				}
			}
			for c := 1; c <= n-keep; c++ {
				if page := readSite(t, s.Dir, "runs/"+strconv.Itoa(c)+".html"); !strings.Contains(page, "have expired") {
					t.Errorf("run %d's page does not say its files expired", c)
				}
			}
		})
	}
}
