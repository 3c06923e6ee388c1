package publish_test

import (
	"bytes"
	"context"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/net/html"

	"github.com/autobuild/autobuild/engine/report"
	"github.com/autobuild/autobuild/publish"
)

// siteRefs are the references of a page: every <a href>, <link href>
// and <img src>.
func siteRefs(t *testing.T, page []byte) []string {
	t.Helper()
	doc, err := html.Parse(bytes.NewReader(page))
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	var walk func(n *html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.ElementNode {
			for _, a := range n.Attr {
				if (a.Key == "href" && (n.Data == "a" || n.Data == "link")) || (a.Key == "src" && n.Data == "img") {
					out = append(out, a.Val)
				}
			}
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(doc)
	return out
}

// checkAllLinks reads every page of the live site and checks that each
// reference that stays on the site (served at a made-up root, so that
// "../" cannot leave it) leads to a file the site holds, and each
// fragment to an element of its page. It returns how many it checked.
func checkAllLinks(t *testing.T, public string) int {
	t.Helper()
	dir, err := filepath.EvalSymlinks(public)
	if err != nil {
		t.Fatal(err)
	}
	root, _ := url.Parse("https://ci.example.org/site/")
	n := 0
	err = filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(p, ".html") {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		page, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		base := root.ResolveReference(&url.URL{Path: filepath.ToSlash(rel)})
		for _, href := range siteRefs(t, page) {
			ref, err := url.Parse(href)
			if err != nil {
				t.Errorf("%s: href %q: %v", rel, href, err)
				continue
			}
			u := base.ResolveReference(ref)
			if u.Host != root.Host {
				continue // a commit's page, a module's link: not the site's
			}
			bare := &url.URL{Scheme: u.Scheme, Host: u.Host, Path: u.Path, RawPath: u.RawPath}
			target, ok := fileOf(t, bare, root, dir)
			if !ok {
				t.Errorf("%s: link %q leaves the site", rel, href)
				continue
			}
			n++
			st, err := os.Stat(target)
			if err != nil {
				t.Errorf("%s: link %q: %v", rel, href, err)
				continue
			}
			if u.Fragment != "" && strings.HasSuffix(target, ".html") && !st.IsDir() {
				b, _ := os.ReadFile(target)
				if !bytes.Contains(b, []byte(`id="`+html.EscapeString(u.Fragment)+`"`)) {
					t.Errorf("%s: link %q: no element with id %q", rel, href, u.Fragment)
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func readSite(t *testing.T, public, rel string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(public, rel))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

const commitTmpl = "https://git.example.org/{module}/commit/{revision}"

// The module and run pages as golden files: a built module with changes
// and artifacts, a failed one with its log's tail, the run's page.
func TestModuleAndRunPagesGolden(t *testing.T) {
	f := newFixture(t, 42)
	var log strings.Builder
	for i := 1; i <= 60; i++ {
		log.WriteString("line " + strings.Repeat("x", i%7) + "\n")
	}
	log.WriteString("error: <script>alert(1)</script> \x1b[31mred\x1b[0m\n")
	write(t, filepath.Join(f.root, "logs", "broken.log"), log.String())
	public, sites := paths(t)
	s := f.site(public, sites, 3)
	s.URL, s.Title, s.CommitURL = "https://ci.example.org/autobuild/", "Nightly", commitTmpl
	if err := s.Publish(context.Background(), f.in); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"modules/libfoo.html", "modules/broken.html", "runs/42.html"} {
		golden(t, strings.ReplaceAll(p, "/", "_")+".golden", []byte(readSite(t, public, p)))
	}
	broken := readSite(t, public, "modules/broken.html")
	if strings.Contains(broken, "<script>") || !strings.Contains(broken, "&lt;script&gt;") || strings.Contains(broken, "\x1b") {
		t.Error("the failed log's tail is not escaped")
	}
	if strings.Contains(broken, "line x\n") && strings.Count(broken, "\nline ") > 40 {
		t.Error("the tail holds more than 40 lines")
	}
	if !strings.Contains(readSite(t, public, "index.html"), `href="https://git.example.org/libfoo/commit/0123456789abcdef0123456789abcdef01234567"`) {
		t.Error("index.html does not link libfoo's revision to its commit")
	}
	checkAllLinks(t, public)
}

// A module that builds, then fails twice: while it fails its page shows
// the artifacts and log of its last good build (run 1), marked as such,
// each link leading to the very file that build published.
func TestLastGoodBuildOfAFailedModule(t *testing.T) {
	public, sites := paths(t)
	f := newFixture(t, 1)
	if err := publishFixture(public, sites, 2, f); err != nil {
		t.Fatal(err)
	}
	deb := readSite(t, public, "packages/libfoo/libfoo_1.2_amd64.deb")
	for c := 2; c <= 4; c++ {
		g := newFixture(t, c)
		g.in.Run.Modules[0].State, g.in.Run.Modules[0].Reason = report.Failed, "build exited with status 1"
		g.in.Run.Modules[0].Artifacts = nil
		write(t, filepath.Join(g.root, "logs", "libfoo.log"), "compiling libfoo\nerror: it broke in run "+string(rune('0'+c))+"\n")
		if err := publishFixture(public, sites, 2, g); err != nil {
			t.Fatal(err)
		}
		page := readSite(t, public, "modules/libfoo.html")
		if !strings.Contains(page, "Last good build: run 1") || !strings.Contains(page, "it broke in run") {
			t.Fatalf("run %d: libfoo's page does not show its last good build and its failure:\n%s", c, page)
		}
		if got := readSite(t, public, "modules/libfoo/last-good/packages/libfoo_1.2_amd64.deb"); got != deb {
			t.Errorf("run %d: last good artifact holds %q", c, got)
		}
		if got := readSite(t, public, "modules/libfoo/last-good/libfoo.log"); got != "compiling libfoo\nok\n" {
			t.Errorf("run %d: last good log holds %q", c, got)
		}
		for _, want := range []string{`href="libfoo/last-good/packages/libfoo_1.2_amd64.deb"`, `href="libfoo/last-good/libfoo.log"`, `href="../runs/1.html"`} {
			if !strings.Contains(page, strings.ReplaceAll(want, "libfoo/", "../modules/libfoo/")) {
				t.Errorf("run %d: libfoo's page has no %s", c, want)
			}
		}
		checkAllLinks(t, public)
	}
	// Fixed: no last good build any more (the latest is).
	g := newFixture(t, 5)
	if err := publishFixture(public, sites, 2, g); err != nil {
		t.Fatal(err)
	}
	if page := readSite(t, public, "modules/libfoo.html"); strings.Contains(page, "Last good build") {
		t.Error("a good module's page shows a last good build")
	}
	if _, err := os.Stat(filepath.Join(public, "modules", "libfoo", "last-good")); err == nil {
		t.Error("a good module keeps a last-good folder")
	}
	// The control: without a good build before, a failed module has none.
	public2, sites2 := paths(t)
	if err := publishFixture(public2, sites2, 2, newFixture(t, 1)); err != nil {
		t.Fatal(err)
	}
	if page := readSite(t, public2, "modules/broken.html"); strings.Contains(page, "Last good build") {
		t.Error("broken, which never built, shows a last good build")
	}
}

// Run pages stay for MaxRunRecords runs; the logs and artifacts of a run
// only for publish.keep runs: then its page says so and links none.
func TestRunPageOutlivesItsFiles(t *testing.T) {
	public, sites := paths(t)
	const keep = 2
	for c := 1; c <= 4; c++ {
		if err := publishFixture(public, sites, keep, newFixture(t, c)); err != nil {
			t.Fatal(err)
		}
	}
	for c := 1; c <= 4; c++ {
		page := readSite(t, public, "runs/"+string(rune('0'+c))+".html")
		expired := strings.Contains(page, "have expired")
		if want := 4-c >= keep; expired != want {
			t.Errorf("run %d's page says its files expired: %v, want %v", c, expired, want)
		}
		hasFileLinks := strings.Contains(page, ".deb\" download")
		if hasFileLinks == expired {
			t.Errorf("run %d's page links artifacts: %v", c, hasFileLinks)
		}
	}
	if !strings.Contains(readSite(t, public, "runs/3.html"), `href="../runs/3/packages/libfoo/libfoo_1.2_amd64.deb"`) {
		t.Error("run 3's page does not link its own copy of libfoo's artifact")
	}
	if _, err := os.Stat(filepath.Join(public, "runs", "2")); err == nil {
		t.Error("run 2's files are still on the site")
	}
	idx := readSite(t, public, "index.html")
	if !strings.Contains(idx, `href="modules/libfoo.html"`) {
		t.Error("index.html does not link libfoo's page")
	}
	if n := checkAllLinks(t, public); n < 50 {
		t.Errorf("only %d links checked", n)
	}
}

// SHA256SUMS of every module, hostile names included (a newline, a
// backslash, bytes that are not UTF-8), checks with the real sha256sum;
// a changed file fails it (the control).
func TestSHA256SUMSVerifiesWithCoreutils(t *testing.T) {
	if _, err := exec.LookPath("sha256sum"); err != nil {
		t.Skip("no sha256sum")
	}
	f := hostileFixture(t, 1)
	public, sites := paths(t)
	if err := f.site(public, sites, 3).Publish(context.Background(), f.in); err != nil {
		t.Fatal(err)
	}
	dir, _ := filepath.EvalSymlinks(public)
	for _, m := range []string{"libfoo", "app", hostileModule} {
		cmd := exec.Command("sha256sum", "--strict", "-c", "SHA256SUMS")
		cmd.Dir = filepath.Join(dir, "packages", m)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Errorf("%s: sha256sum -c: %v\n%s", m, err, out)
		}
		want := len(statusModule(t, siteStatus(t, public), m).Artifacts)
		if got := strings.Count(string(out), ": OK\n"); got != want {
			t.Errorf("%s: %d files checked, want %d:\n%s", m, got, want, out)
		}
	}
	// The control: a copy of the module's folder with one file changed.
	cp := t.TempDir()
	if out, err := exec.Command("cp", "-r", filepath.Join(dir, "packages", hostileModule)+"/.", cp).CombinedOutput(); err != nil {
		t.Fatalf("%v %s", err, out)
	}
	victim := filepath.Join(cp, "new\nline.bin")
	os.Chmod(victim, 0o644)
	write(t, victim, "changed")
	cmd := exec.Command("sha256sum", "-c", "SHA256SUMS")
	cmd.Dir = cp
	if out, err := cmd.CombinedOutput(); err == nil || !strings.Contains(string(out), "FAILED") {
		t.Errorf("a changed file passed sha256sum -c:\n%s", out)
	}
	if page := readSite(t, public, "modules/"+hostileModule+".html"); !strings.Contains(page, "SHA256SUMS") {
		t.Error("the module's page does not link its SHA256SUMS")
	}
	n := checkAllLinks(t, public)
	t.Logf("%d links checked", n)
}

// A module reused with nothing new keeps its page: the new site links
// the live site's (same inode); a module that changed gets a new one.
func TestUnchangedModulePageIsLinked(t *testing.T) {
	public, sites := paths(t)
	if err := publishFixture(public, sites, 3, newFixture(t, 1)); err != nil {
		t.Fatal(err)
	}
	f := newFixture(t, 2)
	f.in.Run.Modules[1].ReusedFrom = 1 // app: reused, as in run 1
	if err := publishFixture(public, sites, 3, f); err != nil {
		t.Fatal(err)
	}
	app2, _, _ := inode(t, filepath.Join(public, "modules", "app.html"))
	lib2, _, _ := inode(t, filepath.Join(public, "modules", "libfoo.html"))
	g := newFixture(t, 3)
	g.in.Run.Modules[0].Revision = "ab" + g.in.Run.Modules[0].Revision[2:]
	if err := publishFixture(public, sites, 3, g); err != nil {
		t.Fatal(err)
	}
	app3, _, _ := inode(t, filepath.Join(public, "modules", "app.html"))
	lib3, _, _ := inode(t, filepath.Join(public, "modules", "libfoo.html"))
	if app3 != app2 {
		t.Error("app's page was rendered again though nothing changed")
	}
	if lib3 == lib2 {
		t.Error("libfoo's page was kept though its revision changed")
	}
	if page := readSite(t, public, "modules/app.html"); !strings.Contains(page, "with no change") {
		t.Errorf("app's page does not fold its no-change runs:\n%s", page)
	}
}

func TestCheckCommitURL(t *testing.T) {
	for _, good := range []string{"", commitTmpl, "http://h/{revision}", "https://h/c?id={revision}&m={module}"} {
		if err := publish.CheckCommitURL(good); err != nil {
			t.Errorf("CheckCommitURL(%q) = %v", good, err)
		}
	}
	for _, bad := range []string{"https://h/{module}", "https://h/{rev}", "javascript:alert('{revision}')", "/rel/{revision}",
		"https://h/{revision}}", "https://u:p@h/{revision}", "{revision}", "https:///{revision}"} {
		err := publish.CheckCommitURL(bad)
		if err == nil {
			t.Errorf("CheckCommitURL(%q) = nil", bad)
			continue
		}
		t.Logf("%q: %v", bad, err)
	}
	// A hostile revision stays inside its path segment.
	f := newFixture(t, 1)
	f.in.Run.Modules[2].Revision = `"><script>x</script>/../?#`
	public, sites := paths(t)
	s := f.site(public, sites, 3)
	s.CommitURL = commitTmpl
	if err := s.Publish(context.Background(), f.in); err != nil {
		t.Fatal(err)
	}
	page := readSite(t, public, "modules/broken.html")
	if !strings.Contains(page, `href="https://git.example.org/broken/commit/%22%3E%3Cscript%3Ex%3C%2Fscript%3E%2F..%2F%3F%23"`) {
		t.Errorf("the hostile revision's link is not escaped as a segment:\n%s", page)
	}
}

// An older run's page is linked from the live site while what it shows
// stays the same, also when the live site has no runs/index.json (a site
// made before it: the records are read instead); it is rendered again
// when a module it links loses its page, and then links no page that is
// gone. A module's feed and badge are linked the same way while the
// module does not change, and made anew when it does.
func TestOlderRunPagesAreLinkedUntilTheyChange(t *testing.T) {
	public, sites := paths(t)
	for c := 1; c <= 4; c++ {
		if err := publishFixture(public, sites, 2, newFixture(t, c)); err != nil {
			t.Fatal(err)
		}
	}
	ino := func(rel string) uint64 {
		t.Helper()
		i, _, _ := inode(t, filepath.Join(public, rel))
		return i
	}
	run1, feed, badge := ino("runs/1.html"), ino("feeds/app.atom"), ino("badges/app.svg")
	libFeed := ino("feeds/libfoo.atom")
	// The live site as one made before the index.
	live, err := filepath.EvalSymlinks(public)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(live, "runs", "index.json")); err != nil {
		t.Fatal(err)
	}
	f := newFixture(t, 5)
	f.in.Run.Modules[0].Revision = "ab" + f.in.Run.Modules[0].Revision[2:] // libfoo changed
	if err := publishFixture(public, sites, 2, f); err != nil {
		t.Fatal(err)
	}
	if ino("runs/1.html") != run1 {
		t.Error("run 1's page was rendered again though it shows the same")
	}
	if ino("feeds/app.atom") != feed || ino("badges/app.svg") != badge {
		t.Error("app's feed or badge was made again though app did not change")
	}
	if ino("feeds/libfoo.atom") == libFeed {
		t.Error("libfoo's feed was kept though its revision changed")
	}
	if got := strings.Count(readSite(t, public, "feeds/libfoo.atom"), "<entry>"); got != 2 {
		t.Errorf("libfoo's feed has %d entries, want 2", got)
	}
	if _, err := os.Stat(filepath.Join(public, "runs", "index.json")); err != nil {
		t.Errorf("the new site has no index: %v", err)
	}
	// The control: app leaves the run, so its page goes; run 1's page,
	// which linked it, is rendered again.
	g := newFixture(t, 6)
	g.in.Run.Modules = append(g.in.Run.Modules[:1], g.in.Run.Modules[2:]...)
	if err := publishFixture(public, sites, 2, g); err != nil {
		t.Fatal(err)
	}
	if ino("runs/1.html") == run1 {
		t.Error("run 1's page was linked though app's page is gone")
	}
	if page := readSite(t, public, "runs/1.html"); strings.Contains(page, "modules/app.html") {
		t.Error("run 1's page links app's page, which is gone")
	}
	checkAllLinks(t, public)
}

// A run whose build later runs reuse keeps its record and page beyond the
// newest MaxRunRecords runs, so "build of run 1" stays a link; a run no
// kept run reuses from is dropped (the control).
func TestReusedRunKeepsItsRecord(t *testing.T) {
	if testing.Short() {
		t.Skip("publishes MaxRunRecords+2 runs")
	}
	public, sites := paths(t)
	for c := 1; c <= publish.MaxRunRecords+2; c++ {
		f := newFixture(t, c)
		app := &f.in.Run.Modules[1]
		app.ReusedFrom = 1
		if c == 1 {
			app.State, app.ReusedFrom = report.Built, 0
		}
		if err := publishFixture(public, sites, 2, f); err != nil {
			t.Fatal(err)
		}
	}
	for _, rel := range []string{"runs/1.json", "runs/1.html"} {
		if _, err := os.Stat(filepath.Join(public, rel)); err != nil {
			t.Errorf("run 1, whose build app reuses, lost %s: %v", rel, err)
		}
	}
	if _, err := os.Stat(filepath.Join(public, "runs", "2.json")); err == nil {
		t.Error("run 2, older than the newest runs and reused by none, kept its record")
	}
	last := readSite(t, public, "runs/"+strconv.Itoa(publish.MaxRunRecords+2)+".html")
	if !strings.Contains(last, `<a href="1.html">run 1</a>`) {
		t.Error("the latest run's page does not link the run whose build app reuses")
	}
	checkAllLinks(t, public)
}
