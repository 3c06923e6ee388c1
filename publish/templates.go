package publish

import (
	"bytes"
	"errors"
	"fmt"
	"html/template"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/autobuild/autobuild/engine/report"
)

// Template overrides. The site renders some of its pages from templates,
// each named by the page's file name on the site (pageTemplates). An
// admin's folder (Site.Templates, publish.templates in the configuration)
// may hold <page>.tmpl for any of them: it replaces the built-in template
// for that page. An override is parsed with html/template and the same
// functions as the built-in one (funcs), and gets the same data (IndexPage
// for index.html), so every text a build controls is escaped for where
// the template puts it, as in the built-in page: no data field is typed
// as trusted HTML, JavaScript or URL, and no function returns one.
//
// A template that does not parse, or that html/template cannot escape
// (an ambiguous context), is an error naming the file and line; so is a
// file ending in .tmpl that names no page, or one larger than
// maxTemplateSize. LoadTemplates runs when the configuration loads and
// again on every publish; an error at publish, or a template that fails
// while rendering, fails the publish and leaves the previous site live.
// Other files in the folder are ignored.

// pageTemplates are the built-in templates of the pages the site renders
// from templates, by the page's name.
func pageTemplates() map[string]*template.Template {
	return map[string]*template.Template{"index.html": index}
}

// TemplateSuffix ends the name of an override: index.html.tmpl.
const TemplateSuffix = ".tmpl"

// maxTemplateSize bounds an override file.
const maxTemplateSize = 1 << 20

// IndexPage is the data index.html's template gets.
type IndexPage struct {
	// Run is the run as published (its modules' Log and Artifacts say
	// what the site holds).
	Run *report.Run
	// Modules are the run's modules with their links, in the run's order.
	Modules []pageModule
	Summary report.Summary
	// Verdict is "all modules built" or "N failed, M skipped".
	Verdict string
	// Title is the site's title.
	Title string
	// Theme is the built-in page's layout and colour style sheet.
	Theme template.CSS
	// History are the earlier runs, no-change runs folded into one row.
	History []historyRow
	// Graph is the dependency graph's picture: its URL, or a note why
	// it is not drawn.
	Graph siteGraph
}

// Templates are the site's page templates: built-in, or an admin's.
type Templates struct {
	byName map[string]*template.Template
}

// LoadTemplates reads the overrides in dir (none when dir is ""), each
// parsed and checked against a sample page.
func LoadTemplates(dir string) (*Templates, error) {
	t := &Templates{byName: pageTemplates()}
	if dir == "" {
		return t, nil
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("template folder: %w", err)
	}
	for _, e := range ents {
		name, ok := strings.CutSuffix(e.Name(), TemplateSuffix)
		if !ok {
			continue
		}
		p := filepath.Join(dir, e.Name())
		if _, known := t.byName[name]; !known {
			return nil, fmt.Errorf("%s: the site has no page %q to render from a template (it has %s)", p, name, strings.Join(templateNames(), ", "))
		}
		tpl, err := parseTemplate(p)
		if err != nil {
			return nil, err
		}
		t.byName[name] = tpl
	}
	return t, nil
}

// templateNames are the pages a template may be given for, sorted.
func templateNames() []string {
	var names []string
	for n := range pageTemplates() {
		names = append(names, n+TemplateSuffix)
	}
	sort.Strings(names)
	return names
}

// parseTemplate parses the override at p, named by its path so that
// html/template's errors name the file and line, and renders it once
// with a sample page: html/template escapes a template (and finds what it
// cannot escape) on its first run.
func parseTemplate(p string) (*template.Template, error) {
	f, err := os.Open(p)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if st, err := f.Stat(); err != nil {
		return nil, err
	} else if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("%s: not a regular file", p)
	}
	src, err := io.ReadAll(io.LimitReader(f, maxTemplateSize+1))
	if err != nil {
		return nil, err
	}
	if len(src) > maxTemplateSize {
		return nil, fmt.Errorf("%s: larger than %d bytes", p, maxTemplateSize)
	}
	tpl, err := template.New(p).Funcs(funcs).Parse(string(src))
	if err != nil {
		return nil, err
	}
	var te *template.Error
	if err := tpl.Execute(io.Discard, samplePage()); errors.As(err, &te) {
		return nil, err
	}
	return tpl, nil
}

// samplePage is a small page to try an override on: a module of each
// state.
func samplePage() IndexPage {
	t := time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)
	run := &report.Run{Counter: 2, Start: t, Modules: []report.Module{
		{Name: "a", State: report.Built, Level: "isolated", Start: t},
		{Name: "b", State: report.Failed, Reason: "build exited with status 1", Depends: []string{"a"}, Level: "isolated", Start: t},
		{Name: "c", State: report.Skipped, Reason: "dependency b failed", Depends: []string{"b"}, Level: "isolated"},
	}, History: []report.Summary{{Counter: 1, Start: t, Built: 3}}}
	return indexPage(run, links{}, DefaultTitle, siteGraph{URL: graphFile})
}

// render executes the named page's template into a buffer: a template
// that fails writes nothing.
func (t *Templates) render(name string, data any) ([]byte, error) {
	tpl := t.byName[name]
	if tpl == nil {
		return nil, fmt.Errorf("no template for %s", name)
	}
	var b bytes.Buffer
	if err := tpl.Execute(&b, data); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return b.Bytes(), nil
}
