package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/autobuild/autobuild/internal/testutil"
)

// The real binary with publish.templates: a folder beside the config
// overrides each page (index, module, run, packages), each page shows
// the admin's markup with its data, and a hostile commit subject is
// escaped in the overrides. A template that does not parse is refused
// by plan and run, naming the config's line and the template's file and
// line; one that fails while rendering fails the site's publishing
// (exit 5) and the previous site stays live.
func TestTemplateOverridesEndToEnd(t *testing.T) {
	f := newFarm(t)
	repo := f.repo("app", script(`work=$(mktemp -d)
echo hi > "$work/README"
tar -C "$work" -czf "$AUTOBUILD_PACKAGE_ROOT/app-1.0.tar.gz" README
rm -rf "$work"`))
	const hostile = `<script>alert("subject")</script>`
	testutil.Git(t, repo, "commit", "-q", "--allow-empty", "-m", hostile)
	pages := filepath.Join(f.dir, "pages")
	if err := os.MkdirAll(pages, 0o755); err != nil {
		t.Fatal(err)
	}
	put := func(name, body string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(pages, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	f.config(`publish: {title: Farm, templates: pages}
modules: [{name: app, source: {url: repos/app}}]
`)

	// A template that does not parse: plan and run refuse the config.
	put("module.html.tmpl", "<p>\n{{if .Name}}unclosed")
	for _, cmd := range []string{"plan", "run"} {
		r := ab(t, nil, cmd, "--config", f.cfg)
		want := f.cfg + ":2: publish.templates: template: " + filepath.Join(pages, "module.html.tmpl") + ":2: unexpected EOF"
		if r.code != exitConfig || !strings.Contains(r.stderr, want) {
			t.Errorf("%s with a bad template: want exit %d and %q:\n%s", cmd, exitConfig, want, r.dump())
		}
	}
	if _, err := os.Lstat(filepath.Join(f.root, "public_html")); !os.IsNotExist(err) {
		t.Fatalf("a run with a bad template published: %v", err)
	}

	put("index.html.tmpl", `<p id="admin">index of {{.Title}} run {{.Run.Counter}}:{{range .Modules}} <a href="{{.PageURL}}">{{.Name}}</a> {{.State}}{{end}}</p>`)
	put("module.html.tmpl", `<p id="admin">module {{.Name}} of {{.Title}}: {{.State}}{{range .Files}} {{.Name}}{{end}}</p>{{range .Changes}}<p class="change">{{.Subject}}</p>{{end}}`)
	put("run.html.tmpl", `<p id="admin">run {{.Counter}} of {{.Title}}: {{.Verdict}}</p>{{range .Modules}}{{range .Changes}}<p class="change">{{.Subject}}</p>{{end}}{{end}}`)
	put("packages.html.tmpl", `<p id="admin">packages of run {{.Run.Counter}}:{{range .Packages}} {{.Package.Name}} {{.Package.Version}}{{end}}</p>`)
	if r := ab(t, nil, "plan", "--config", f.cfg); r.code != 0 {
		t.Fatalf("plan with good templates:\n%s", r.dump())
	}
	if r := f.run(); r.code != 0 {
		t.Fatal(r.dump())
	}
	site := filepath.Join(f.root, "public_html")
	read := func(rel string) string {
		t.Helper()
		b, err := os.ReadFile(filepath.Join(site, rel))
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	escaped := `<p class="change">&lt;script&gt;alert(&#34;subject&#34;)&lt;/script&gt;</p>`
	for rel, want := range map[string][]string{
		"index.html":       {`<p id="admin">index of Farm run 1: <a href="modules/app.html">app</a> built</p>`},
		"modules/app.html": {`<p id="admin">module app of Farm: built app-1.0.tar.gz</p>`, escaped},
		"runs/1.html":      {`<p id="admin">run 1 of Farm: all modules built</p>`, escaped},
		"packages.html":    {`<p id="admin">packages of run 1: app 1.0</p>`},
	} {
		page := read(rel)
		for _, w := range want {
			if !strings.Contains(page, w) {
				t.Errorf("%s has no %s:\n%s", rel, w, page)
			}
		}
		if strings.Contains(page, "<script>") || strings.Contains(page, "<table") {
			t.Errorf("%s holds a script or the built-in page's table:\n%s", rel, page)
		}
	}

	// A run page's template that fails while rendering: the site does not
	// publish (exit 5, naming the template), run 1's site stays live.
	put("run.html.tmpl", `<p>{{(index .Modules 9).Name}}</p>`)
	before := read("index.html")
	r := f.run()
	if r.code != exitInternal || !strings.Contains(r.stderr, "publish site:") ||
		!strings.Contains(r.stderr, filepath.Join(pages, "run.html.tmpl")) || !strings.Contains(r.stderr, "out of range") {
		t.Errorf("want exit %d naming the failing template:\n%s", exitInternal, r.dump())
	}
	if st := f.status(); st.Counter != 1 || read("index.html") != before {
		t.Errorf("the live site shows run %d, want run 1's site as it was", st.Counter)
	}
}
