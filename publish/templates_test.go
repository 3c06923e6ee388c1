package publish_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/net/html"

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
// and the publish leaves the previous site as it was.
func TestTemplateSyntaxError(t *testing.T) {
	for _, tc := range []struct{ body, want string }{
		{"<p>\n{{.Title}}\n{{if .Run}}unclosed", "index.html.tmpl:3: unexpected EOF"},
		{"<p>\n{{nosuchfunc .Title}}</p>", `index.html.tmpl:2: function "nosuchfunc" not defined`},
		// Parses, but html/template cannot escape it (a branch ends
		// inside an attribute).
		{"<p>\n\n{{if .Title}}<a href=\"{{end}}\">x</a>", "index.html.tmpl:3:"},
	} {
		dir := templateDir(t, map[string]string{"index.html.tmpl": tc.body})
		file := filepath.Join(dir, "index.html.tmpl")
		if _, err := publish.LoadTemplates(dir); err == nil || !strings.Contains(err.Error(), filepath.Dir(file)+"/"+tc.want) {
			t.Errorf("LoadTemplates(%q) = %v, want an error with %s", tc.body, err, filepath.Dir(file)+"/"+tc.want)
		}
		f := newFixture(t, 1)
		public, sites := paths(t)
		if err := publishFixture(public, sites, 3, f); err != nil {
			t.Fatal(err)
		}
		before := snapshot(t, filepath.Dir(public))
		f2 := newFixture(t, 2)
		err := publishWith(t, f2, public, sites, dir)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("publish with %q: %v, want an error with %s", tc.body, err, tc.want)
		}
		sameSnapshot(t, "after a bad template", snapshot(t, filepath.Dir(public)), before)
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

// A template that fails while rendering fails the publish: the previous
// site stays live and no new one is left behind.
func TestTemplateExecutionErrorKeepsPreviousSite(t *testing.T) {
	// Parses and renders the sample page; the run has no 10th module.
	dir := templateDir(t, map[string]string{"index.html.tmpl": "<p>{{(index .Modules 9).Name}}</p>"})
	if _, err := publish.LoadTemplates(dir); err != nil {
		t.Fatal(err)
	}
	f := newFixture(t, 1)
	public, sites := paths(t)
	if err := publishFixture(public, sites, 3, f); err != nil {
		t.Fatal(err)
	}
	before := snapshot(t, filepath.Dir(public))
	err := publishWith(t, newFixture(t, 2), public, sites, dir)
	if err == nil || !strings.Contains(err.Error(), "index.html.tmpl") || !strings.Contains(err.Error(), "out of range") {
		t.Errorf("publish = %v, want the template's error", err)
	}
	sameSnapshot(t, "after a failing template", snapshot(t, filepath.Dir(public)), before)
	// The control: the built-in page publishes run 2.
	if err := publishFixture(public, sites, 3, newFixture(t, 2)); err != nil {
		t.Fatal(err)
	}
}

// The example in examples/templates renders the site's page: every
// module with its state, log and artifacts, the graph linked.
func TestExampleTemplate(t *testing.T) {
	dir := filepath.Join("..", "examples", "templates")
	f := newFixture(t, 3)
	f.in.Run.Modules[2].Reason = "<b>hostile</b>"
	public, sites := paths(t)
	if err := publishWith(t, f, public, sites, dir); err != nil {
		t.Fatal(err)
	}
	page, err := os.ReadFile(filepath.Join(public, "index.html"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		`<title>autobuild: run 3, 1 failed, 1 skipped</title>`,
		`<li id="broken"><strong>broken</strong> <span class="failed">failed</span>: &lt;b&gt;hostile&lt;/b&gt; (<a href="logs/broken.log">log</a>)</li>`,
		`<a href="packages/libfoo/src/libfoo-1.2.tar.gz" download>src/libfoo-1.2.tar.gz</a> <small>2.9 KiB</small>`,
		`<a href="graph.svg">Dependency graph</a>`,
	} {
		if !strings.Contains(string(page), want) {
			t.Errorf("index.html has no %s:\n%s", want, page)
		}
	}
	for _, l := range pageLinks(t, page) {
		u := strings.SplitN(l.href, "#", 2)[0]
		if u == "" {
			continue
		}
		if _, err := os.Stat(filepath.Join(public, u)); err != nil {
			t.Errorf("link %q: %v", l.href, err)
		}
	}
}
