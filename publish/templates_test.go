package publish_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/net/html"

	"github.com/autobuild/autobuild/engine/report"
	"github.com/autobuild/autobuild/publish"
)

// templateDir is a fresh folder holding the given files.
func templateDir(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, body := range files {
		write(t, filepath.Join(dir, name), body)
	}
	return dir
}

func publishWith(t *testing.T, f *fixture, public, sites, templates string) error {
	t.Helper()
	s := f.site(public, sites, 3)
	s.Templates = templates
	return s.Publish(context.Background(), f.in)
}

// An index.html.tmpl in the folder replaces the built-in page, with the
// same data and functions; other files there are ignored.
func TestTemplateOverrideIsUsed(t *testing.T) {
	dir := templateDir(t, map[string]string{
		"index.html.tmpl": `<p>{{.Title}} {{.Run.Counter}}: {{.Verdict}}</p>{{range .Modules}}
{{.Name}} {{.State}} {{short .Revision}} {{dur .Duration}}{{range .Files}} {{.Name}}={{size .Size}}{{end}}{{end}}
graph: {{.Graph.URL}}`,
		"README": "notes of the admin, not a template",
	})
	f := newFixture(t, 5)
	public, sites := paths(t)
	if err := publishWith(t, f, public, sites, dir); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(filepath.Join(public, "index.html"))
	if err != nil {
		t.Fatal(err)
	}
	want := `<p>autobuild 5: 1 failed, 1 skipped</p>
libfoo built 0123456789ab 12.3s libfoo_1.2_amd64.deb=10 B src/libfoo-1.2.tar.gz=2.9 KiB
app reused fedcba98 250ms app.bin=2.0 MiB
broken failed 77aa 900ms
downstream skipped  0s
graph: graph.svg`
	if string(got) != want {
		t.Errorf("index.html =\n%s\nwant\n%s", got, want)
	}
}

// pageCase is one page the site renders from a template, for the tests
// that run on each.
type pageCase struct {
	tmpl string // the override's file name
	page string // the page it renders, in the site of newFixture(t, 5)
	// admin is an override that shows some of its data in <p
	// id="admin">, an image of the admin's own, and the text a build
	// controls (hostile below) in <p class="r"> and a title attribute.
	admin string
	// shown is what <p id="admin"> shows.
	shown string
	// hostile puts reason where the override shows it, in f's run.
	hostile func(f *fixture, reason string)
	// fails parses and renders the sample data, but fails on a real page.
	fails string
}

var pageCases = []pageCase{
	{tmpl: "index.html.tmpl", page: "index.html",
		admin: `<p id="admin">{{.Title}} {{.Run.Counter}}{{range .Modules}} {{.Name}}={{.State}}{{end}}</p><img src="logo.png" alt="">
{{range .Modules}}{{if .Reason}}<p class="r" title="{{.Reason}}">{{.Reason}}</p>{{end}}{{end}}`,
		shown:   "autobuild 5 libfoo=built app=reused broken=failed downstream=skipped",
		hostile: func(f *fixture, r string) { f.in.Run.Modules[2].Reason = r },
		fails:   `{{(index .Modules 9).Name}}`},
	{tmpl: "module.html.tmpl", page: "modules/broken.html",
		admin: `<p id="admin">{{.Title}} {{.Name}} {{.State}}{{range .Rows}} run {{.Run}}{{end}}, {{len .Tail}} lines of {{.LogURL}}</p><img src="../logo.png" alt="">
{{if .Reason}}<p class="r" title="{{.Reason}}">{{.Reason}}</p>{{end}}`,
		shown:   "autobuild broken failed run 5, 1 lines of ../logs/broken.log",
		hostile: func(f *fixture, r string) { f.in.Run.Modules[2].Reason = r },
		fails:   `{{(index .Rows 9).Run}}`},
	{tmpl: "run.html.tmpl", page: "runs/5.html",
		admin: `<p id="admin">{{.Title}} {{.Counter}}: {{.Verdict}}{{range .Modules}} {{.Name}}={{.State}}{{end}}</p><img src="../logo.png" alt="">
{{range .Modules}}{{if .Reason}}<p class="r" title="{{.Reason}}">{{.Reason}}</p>{{end}}{{end}}`,
		shown:   "autobuild 5: 1 failed, 1 skipped libfoo=built app=reused broken=failed downstream=skipped",
		hostile: func(f *fixture, r string) { f.in.Run.Modules[2].Reason = r },
		fails:   `{{(index .Modules 9).Name}}`},
	{tmpl: "packages.html.tmpl", page: "packages.html",
		admin: `<p id="admin">{{.Run.Counter}}{{range .Packages}} {{.Module}}={{.Package.Name}} {{.Package.Version}} {{.URL}}{{end}}</p><img src="logo.png" alt="">
{{range .Not}}<p class="r" title="{{.Why}}">{{.Why}}</p>{{end}}`,
		shown:   "5 libfoo=libfoo 1.2 packages/libfoo/libfoo_1.2_amd64.deb",
		hostile: func(f *fixture, r string) { f.in.Run.Modules[1].Artifacts[0].NotPackage = r },
		fails:   `{{(index .Packages 9).Name}}`},
}

// pageFixture is newFixture(t, 5) with a package, and one module with a
// reason (broken's).
func pageFixture(t *testing.T) *fixture {
	f := newFixture(t, 5)
	f.in.Run.Modules[0].Artifacts[0].Package = &report.Package{Kind: "deb", Name: "libfoo", Version: "1.2", Arch: "amd64", Entries: 2}
	f.in.Run.Modules[3].Reason = ""
	return f
}

// elements parses page and returns the text of <p id="admin">, the
// texts and title attributes of <p class="r">, and how many img and
// script elements it holds.
func elements(t *testing.T, page []byte) (admin string, texts, titles []string, imgs, scripts int) {
	t.Helper()
	doc, err := html.Parse(strings.NewReader(string(page)))
	if err != nil {
		t.Fatal(err)
	}
	attr := func(n *html.Node, key string) (string, bool) {
		for _, a := range n.Attr {
			if a.Key == key {
				return a.Val, true
			}
		}
		return "", false
	}
	var text func(n *html.Node) string
	text = func(n *html.Node) string {
		if n.Type == html.TextNode {
			return n.Data
		}
		var b strings.Builder
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			b.WriteString(text(c))
		}
		return b.String()
	}
	var walk func(n *html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.ElementNode {
			switch n.Data {
			case "p":
				if id, _ := attr(n, "id"); id == "admin" {
					admin = text(n)
				}
				if c, _ := attr(n, "class"); c == "r" {
					texts = append(texts, text(n))
					title, _ := attr(n, "title")
					titles = append(titles, title)
				}
			case "img":
				imgs++
			case "script":
				scripts++
			}
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(doc)
	return admin, texts, titles, imgs, scripts
}

// Each page's override replaces its built-in template: the page is the
// admin's markup (their image is an element) with the page's data, the
// other pages stay built-in; a build's hostile text is shown as text,
// never as markup, in the element and in the attribute. The control: a
// harmless reason is shown as it is, and the hostile one is markup where
// nothing escapes it.
func TestTemplateOverrideOfEachPage(t *testing.T) {
	const hostile = `</p><script>alert(1)</script><img src=x onerror=alert(2)>"'&`
	if _, _, _, imgs, scripts := elements(t, []byte(`<p class="r">`+hostile+`</p>`)); imgs != 1 || scripts != 1 {
		t.Fatalf("control: the hostile text unescaped makes %d img and %d script elements, want 1 and 1", imgs, scripts)
	}
	for _, pc := range pageCases {
		t.Run(pc.tmpl, func(t *testing.T) {
			dir := templateDir(t, map[string]string{pc.tmpl: pc.admin})
			for _, reason := range []string{"build exited with status 2", hostile} {
				f := pageFixture(t)
				pc.hostile(f, reason)
				public, sites := paths(t)
				if err := publishWith(t, f, public, sites, dir); err != nil {
					t.Fatal(err)
				}
				page := []byte(readSite(t, public, pc.page))
				admin, texts, titles, imgs, scripts := elements(t, page)
				if admin != pc.shown {
					t.Errorf("%s shows %q, want %q:\n%s", pc.page, admin, pc.shown, page)
				}
				if len(texts) != 1 || texts[0] != reason || titles[0] != reason {
					t.Errorf("reason %q: shown as %q, title %q; want the text itself, once", reason, texts, titles)
				}
				if imgs != 1 || scripts != 0 {
					t.Errorf("reason %q made %d img and %d script elements, want the admin's image only:\n%s", reason, imgs, scripts, page)
				}
				// The other pages are the built-in ones.
				for _, other := range pageCases {
					if other.page != pc.page && !strings.Contains(readSite(t, public, other.page), "<table") {
						t.Errorf("%s is not the built-in page", other.page)
					}
				}
				if strings.Contains(string(page), "<table") {
					t.Errorf("%s holds the built-in page's table", pc.page)
				}
			}
		})
	}
}

// An override's content is part of the key of the pages the site links
// from the live site when their data did not change: a new or changed
// override renders them again, an unchanged one leaves them linked.
func TestTemplateChangeRendersUnchangedPagesAgain(t *testing.T) {
	public, sites := paths(t)
	one := templateDir(t, map[string]string{"module.html.tmpl": `<p id="admin">one {{.Name}}</p>`, "run.html.tmpl": `<p id="admin">one {{.Counter}}</p>`})
	two := templateDir(t, map[string]string{"module.html.tmpl": `<p id="admin">two {{.Name}}</p>`, "run.html.tmpl": `<p id="admin">two {{.Counter}}</p>`})
	pageOf := func(rel string) (uint64, string) {
		ino, _, _ := inode(t, filepath.Join(public, rel))
		admin, _, _, _, _ := elements(t, []byte(readSite(t, public, rel)))
		return ino, admin
	}
	var lastApp, lastRun1 uint64
	for i, step := range []struct {
		templates         string
		app, run1         string // <p id="admin"> of modules/app.html and runs/1.html
		appSame, run1Same bool   // linked from the live site
	}{
		{"", "", "", false, false},
		{"", "", "", false, false}, // app's no-change streak begins; run 1's files are kept
		{"", "", "", true, true},   // the control: nothing changed
		{one, "one app", "one 1", false, false},
		{one, "one app", "one 1", true, true},
		{two, "two app", "two 1", false, false},
		{"", "", "", false, false},
	} {
		f := newFixture(t, i+1)
		// app: reused from run 1 after it (the fixture's run 3 would
		// change run 1's page when run 3 comes).
		f.in.Run.Modules[1].ReusedFrom = min(i, 1)
		s := f.site(public, sites, 10)
		s.Templates = step.templates
		if err := s.Publish(context.Background(), f.in); err != nil {
			t.Fatal(err)
		}
		app, appShown := pageOf("modules/app.html")
		run1, run1Shown := pageOf("runs/1.html")
		if appShown != step.app || run1Shown != step.run1 {
			t.Errorf("run %d: app's page shows %q, run 1's %q; want %q and %q", i+1, appShown, run1Shown, step.app, step.run1)
		}
		if i > 0 && (app == lastApp) != step.appSame {
			t.Errorf("run %d: app's page linked from the live site: %v, want %v", i+1, app == lastApp, step.appSame)
		}
		if i > 0 && (run1 == lastRun1) != step.run1Same {
			t.Errorf("run %d: run 1's page linked from the live site: %v, want %v", i+1, run1 == lastRun1, step.run1Same)
		}
		lastApp, lastRun1 = app, run1
	}
}

// Every text a build controls is escaped in an override too, for the
// context it lands in (element, attribute, URL, script): the hostile
// reason is shown as text, never as markup. The control: the same
// template with a harmless reason shows it as it is.
func TestTemplateOverrideEscapesBuildText(t *testing.T) {
	const hostile = `</script><script>alert(1)</script><img src=x onerror=alert(2)>"'&`
	tmpl := `<!DOCTYPE html><html><head><title>t</title></head><body>
{{range .Modules}}{{if .Reason}}<p class="r">{{.Reason}}</p><a title="{{.Reason}}" href="{{.Reason}}">x</a><a href="/m?r={{.Reason}}">y</a><script>var r = {{.Reason}};</script>{{end}}{{end}}
</body></html>`
	dir := templateDir(t, map[string]string{"index.html.tmpl": tmpl})
	for _, reason := range []string{hostile, "build exited with status 2"} {
		f := newFixture(t, 1)
		f.in.Run.Modules[2].Reason = reason
		f.in.Run.Modules[3].Reason = ""
		public, sites := paths(t)
		if err := publishWith(t, f, public, sites, dir); err != nil {
			t.Fatal(err)
		}
		page, err := os.ReadFile(filepath.Join(public, "index.html"))
		if err != nil {
			t.Fatal(err)
		}
		doc, err := html.Parse(strings.NewReader(string(page)))
		if err != nil {
			t.Fatal(err)
		}
		var shown, scripts []string
		var imgs, links int
		var walk func(n *html.Node)
		walk = func(n *html.Node) {
			if n.Type == html.ElementNode {
				switch n.Data {
				case "p":
					if n.FirstChild != nil {
						shown = append(shown, n.FirstChild.Data)
					}
				case "img":
					imgs++
				case "script":
					scripts = append(scripts, n.FirstChild.Data)
				case "a":
					links++
					for _, a := range n.Attr {
						if a.Key == "title" && a.Val != reason {
							t.Errorf("title attribute %q, want the reason as it is", a.Val)
						}
						if a.Key == "href" && strings.ContainsAny(a.Val, `<>"' `) {
							t.Errorf("href %q is not escaped as a URL", a.Val)
						}
					}
				}
			}
			for c := n.FirstChild; c != nil; c = c.NextSibling {
				walk(c)
			}
		}
		walk(doc)
		if len(shown) != 1 || shown[0] != reason {
			t.Errorf("reason %q: shown as %q, want the text itself", reason, shown)
		}
		if imgs != 0 || len(scripts) != 1 || links != 2 {
			t.Errorf("reason %q made %d img, %d script, %d a elements (want 0, 1, 2):\n%s", reason, imgs, len(scripts), links, page)
		}
		if len(scripts) == 1 && (strings.Contains(scripts[0], "</") || !strings.HasPrefix(scripts[0], `var r = "`)) {
			t.Errorf("script %q: the reason is not a JavaScript string", scripts[0])
		}
	}
}

// A template that does not parse is an error naming its file and line,
// for each page, and the publish leaves the previous site as it was.
func TestTemplateSyntaxError(t *testing.T) {
	for _, pc := range pageCases {
		for _, tc := range []struct{ body, want string }{
			{"<p>\n{{.Title}}\n{{if .Title}}unclosed", pc.tmpl + ":3: unexpected EOF"},
			{"<p>\n{{nosuchfunc .Title}}</p>", pc.tmpl + `:2: function "nosuchfunc" not defined`},
			// Parses, but html/template cannot escape it (a branch ends
			// inside an attribute).
			{"<p>\n\n{{if .Title}}<a href=\"{{end}}\">x</a>", pc.tmpl + ":3:"},
		} {
			dir := templateDir(t, map[string]string{pc.tmpl: tc.body})
			if _, err := publish.LoadTemplates(dir); err == nil || !strings.Contains(err.Error(), dir+"/"+tc.want) {
				t.Errorf("LoadTemplates(%q) = %v, want an error with %s", tc.body, err, dir+"/"+tc.want)
			}
			f := newFixture(t, 1)
			public, sites := paths(t)
			if err := publishFixture(public, sites, 3, f); err != nil {
				t.Fatal(err)
			}
			before := snapshot(t, filepath.Dir(public))
			f2 := newFixture(t, 2)
			err := publishWith(t, f2, public, sites, dir)
			if err == nil || !strings.Contains(err.Error(), dir+"/"+tc.want) {
				t.Errorf("publish with %q: %v, want an error with %s", tc.body, err, tc.want)
			}
			sameSnapshot(t, "after a bad template", snapshot(t, filepath.Dir(public)), before)
		}
	}
}

// A file ending in .tmpl that names no page of the site is refused
// (a misspelt name would otherwise be ignored).
func TestTemplateForNoPage(t *testing.T) {
	dir := templateDir(t, map[string]string{"indx.html.tmpl": "<p>x</p>"})
	_, err := publish.LoadTemplates(dir)
	if err == nil || !strings.Contains(err.Error(), filepath.Join(dir, "indx.html.tmpl")+`: the site has no page "indx.html"`) ||
		!strings.Contains(err.Error(), "index.html.tmpl") {
		t.Errorf("LoadTemplates = %v", err)
	}
	if _, err := publish.LoadTemplates(filepath.Join(dir, "missing")); err == nil {
		t.Error("a missing folder is no error")
	}
}

// A template that fails while rendering any page fails the publish (the
// error names its file): the previous site stays live and no new one is
// left behind. The control: the built-in pages publish the same run.
func TestTemplateExecutionErrorKeepsPreviousSite(t *testing.T) {
	for _, pc := range pageCases {
		t.Run(pc.tmpl, func(t *testing.T) {
			// Parses and renders the sample data; the run has no 10th
			// module, row or package.
			dir := templateDir(t, map[string]string{pc.tmpl: "<p>" + pc.fails + "</p>"})
			if _, err := publish.LoadTemplates(dir); err != nil {
				t.Fatal(err)
			}
			public, sites := paths(t)
			if err := publishFixture(public, sites, 3, pageFixture(t)); err != nil {
				t.Fatal(err)
			}
			before := snapshot(t, filepath.Dir(public))
			err := publishWith(t, pageFixture(t), public, sites, dir)
			if err == nil || !strings.Contains(err.Error(), filepath.Join(dir, pc.tmpl)) || !strings.Contains(err.Error(), "out of range") {
				t.Errorf("publish = %v, want the template's error", err)
			}
			sameSnapshot(t, "after a failing template", snapshot(t, filepath.Dir(public)), before)
			if err := publishFixture(public, sites, 3, pageFixture(t)); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// The examples in examples/templates render the site's pages: index.html
// every module with its state, log and artifacts, the graph linked; a
// module's page its state, log tail, artifacts with their SHA-256, last
// good build and runs. Every link leads to a file of the site.
func TestExampleTemplate(t *testing.T) {
	dir := filepath.Join("..", "examples", "templates")
	public, sites := paths(t)
	if err := publishWith(t, newFixture(t, 2), public, sites, dir); err != nil {
		t.Fatal(err)
	}
	f := newFixture(t, 3)
	f.in.Run.Modules[2].Reason = "<b>hostile</b>"
	f.in.Run.Modules[1].State, f.in.Run.Modules[1].Reason = report.Failed, "tests failed"
	if err := publishWith(t, f, public, sites, dir); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		page string
		want []string
	}{
		{"index.html", []string{
			`<title>autobuild: run 3, 2 failed, 1 skipped</title>`,
			`<li id="broken"><strong>broken</strong> <span class="failed">failed</span>: &lt;b&gt;hostile&lt;/b&gt; (<a href="logs/broken.log">log</a>)</li>`,
			`<a href="packages/libfoo/src/libfoo-1.2.tar.gz" download>src/libfoo-1.2.tar.gz</a> <small>2.9 KiB</small>`,
			`<a href="graph.svg">Dependency graph</a>`,
		}},
		{"modules/broken.html", []string{
			`<title>autobuild: broken failed</title>`,
			`<p class="reason">&lt;b&gt;hostile&lt;/b&gt;</p>`,
			"<pre>error: no such file\n</pre>",
			`<li><a href="../runs/3.html">run 3</a>: failed (&lt;b&gt;hostile&lt;/b&gt;)</li>`,
			`<li><a href="../runs/2.html">run 2</a>: failed (build exited with status 2)</li>`,
		}},
		{"modules/libfoo.html", []string{
			`<a href="../packages/libfoo/libfoo_1.2_amd64.deb" download>libfoo_1.2_amd64.deb</a> <small>10 B</small> <code>` + f.in.Run.Modules[0].Artifacts[0].SHA256 + `</code>`,
		}},
		{"modules/app.html", []string{
			`<p>Last good build: run 2 (<a href="../modules/app/last-good/app.log">its log</a>).</p>`,
		}},
	} {
		page := readSite(t, public, tc.page)
		for _, want := range tc.want {
			if !strings.Contains(page, want) {
				t.Errorf("%s has no %s:\n%s", tc.page, want, page)
			}
		}
		for _, l := range pageLinks(t, []byte(page)) {
			u := strings.SplitN(l.href, "#", 2)[0]
			if u == "" {
				continue
			}
			if _, err := os.Stat(filepath.Join(public, filepath.Dir(tc.page), u)); err != nil {
				t.Errorf("%s: link %q: %v", tc.page, l.href, err)
			}
		}
	}
}
