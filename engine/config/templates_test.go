package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// publish.templates, relative to the config file, is checked when the
// configuration loads: a good template passes, the example's too.
func TestTemplates(t *testing.T) {
	p := write(t, "modules: [{name: a, source: {url: repo}}]\npublish:\n  templates: pages\n")
	dir := filepath.Join(filepath.Dir(p), "pages")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "index.html.tmpl"), []byte("<h1>{{.Title}}</h1>{{range .Modules}}{{.Name}}{{end}}"), 0o644); err != nil {
		t.Fatal(err)
	}
	c, err := Load(p)
	if err != nil {
		t.Fatal(err)
	}
	if c.Publish.Templates != dir {
		t.Errorf("publish.templates = %q, want %q", c.Publish.Templates, dir)
	}
	example, err := filepath.Abs("../../examples/templates")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Load(write(t, "modules: [{name: a, source: {url: repo}}]\npublish: {templates: "+example+"}\n")); err != nil {
		t.Errorf("the example templates: %v", err)
	}
}

// A template that does not parse, or names no page, or a missing folder,
// is refused at load: the config's file, line and key, then the
// template's file and line.
func TestTemplateErrors(t *testing.T) {
	for _, tc := range []struct{ file, body, want string }{
		{"index.html.tmpl", "<p>\n{{.Title}\n", "index.html.tmpl:2: bad character U+007D"},
		{"index.html.tmpl", "<p>\n\n\n{{if .Title}}<a href=\"{{end}}\">x</a>", "index.html.tmpl:4:"},
		{"idx.html.tmpl", "<p>", `idx.html.tmpl: the site has no page "idx.html"`},
		{"", "", "template folder: open "},
	} {
		p := write(t, "modules: [{name: a, source: {url: repo}}]\npublish:\n  keep: 2\n  templates: pages\n")
		dir := filepath.Join(filepath.Dir(p), "pages")
		if tc.file != "" {
			if err := os.MkdirAll(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, tc.file), []byte(tc.body), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		_, err := Load(p)
		prefix := p + ":4: publish.templates: "
		if err == nil || !strings.HasPrefix(err.Error(), prefix) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s %q: %v\nwant %s…%s", tc.file, tc.body, err, prefix, tc.want)
		}
		if tc.file != "" && !strings.Contains(err.Error(), filepath.Join(dir, tc.file)) {
			t.Errorf("%v does not name %s", err, filepath.Join(dir, tc.file))
		}
	}
}
