package publish

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
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

// Template overrides. The site renders each of its HTML pages from a
// template, named after the page (pages): index.html, packages.html,
// module.html (every modules/<name>.html) and run.html (every
// runs/<counter>.html). An admin's folder (Site.Templates,
// publish.templates in the configuration) may hold <page>.tmpl for any of
// them: it replaces the built-in template for that page. An override is
// parsed with html/template and the same functions as the built-in one
// (funcs), and gets the same data (IndexPage, PackagesPage,
// modulePageData, runPageData), so every text a build controls is
// escaped for where the template puts it, as in the built-in page: no
// data field is typed as trusted HTML, JavaScript or URL, and no function
// returns one (Theme, the built-in style sheet, is the one trusted CSS).
//
// A template that does not parse, or that html/template cannot escape
// (an ambiguous context), is an error naming the file and line; so is a
// file ending in .tmpl that names no page, or one larger than
// maxTemplateSize. LoadTemplates runs when the configuration loads and
// again on every publish; an error at publish, or a template that fails
// while rendering any page, fails the publish and leaves the previous
// site live. Other files in the folder are ignored.
//
// The module and run pages are rendered only when what they show changed
// (runs.go's page cache): the overrides' content is part of every page's
// key (Templates.key), so a changed override renders every page again.

// page is a page the site renders from a template: its built-in template
// and a sample of its data, to try an override on.
type page struct {
	builtin *template.Template
	sample  func() any
}

// pages are the pages rendered from templates, by name.
var pages = map[string]page{
	"index.html":    {index, func() any { return samplePage() }},
	"packages.html": {packagesPage, func() any { return samplePackages() }},
	"module.html":   {moduleTemplate, func() any { return sampleModule() }},
	"run.html":      {runTemplate, func() any { return sampleRun() }},
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

// PackagesPage is the data packages.html's template gets.
type PackagesPage struct {
	// Title is the site's title (publish.title, DefaultTitle when unset).
	Title string
	// Run is the run as published.
	Run *report.Run
	// Packages are the run's packages, module by module in the run's
	// order; Not are the files named as packages that did not parse
	// (each with Why).
	Packages, Not []packageRow
	// Theme is the built-in pages' layout and colour style sheet.
	Theme template.CSS
}

// Templates are the site's page templates: built-in, or an admin's.
type Templates struct {
	byName map[string]*template.Template
	// key is the overrides' names and content, hashed ("" for none):
	// part of the key of every page the site may link from the live site
	// instead of rendering it.
	key string
}

// LoadTemplates reads the overrides in dir (none when dir is ""), each
// parsed and checked against a sample of its page's data.
func LoadTemplates(dir string) (*Templates, error) {
	t := &Templates{byName: map[string]*template.Template{}}
	for name, pg := range pages {
		t.byName[name] = pg.builtin
	}
	if dir == "" {
		return t, nil
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("template folder: %w", err)
	}
	h, overrides := sha256.New(), 0
	for _, e := range ents {
		name, ok := strings.CutSuffix(e.Name(), TemplateSuffix)
		if !ok {
			continue
		}
		p := filepath.Join(dir, e.Name())
		pg, known := pages[name]
		if !known {
			return nil, fmt.Errorf("%s: the site has no page %q to render from a template (it has %s)", p, name, strings.Join(templateNames(), ", "))
		}
		tpl, src, err := parseTemplate(p, pg.sample())
		if err != nil {
			return nil, err
		}
		t.byName[name] = tpl
		fmt.Fprintf(h, "%s\x00%d\x00%s", name, len(src), src)
		overrides++
	}
	if overrides > 0 {
		t.key = hex.EncodeToString(h.Sum(nil))
	}
	return t, nil
}

// templateNames are the file names of the overrides a folder may hold,
// sorted.
func templateNames() []string {
	var names []string
	for n := range pages {
		names = append(names, n+TemplateSuffix)
	}
	sort.Strings(names)
	return names
}

// parseTemplate parses the override at p, named by its path so that
// html/template's errors name the file and line, and renders it once
// with sample, a sample of its page's data: html/template escapes a
// template (and finds what it cannot escape) on its first run. An error
// while rendering the sample is not the template's: a real page's data
// differ.
func parseTemplate(p string, sample any) (*template.Template, []byte, error) {
	f, err := os.Open(p)
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	if st, err := f.Stat(); err != nil {
		return nil, nil, err
	} else if !st.Mode().IsRegular() {
		return nil, nil, fmt.Errorf("%s: not a regular file", p)
	}
	src, err := io.ReadAll(io.LimitReader(f, maxTemplateSize+1))
	if err != nil {
		return nil, nil, err
	}
	if len(src) > maxTemplateSize {
		return nil, nil, fmt.Errorf("%s: larger than %d bytes", p, maxTemplateSize)
	}
	tpl, err := template.New(p).Funcs(funcs).Parse(string(src))
	if err != nil {
		return nil, nil, err
	}
	var te *template.Error
	if err := tpl.Execute(io.Discard, sample); errors.As(err, &te) {
		return nil, nil, err
	}
	return tpl, src, nil
}

// sampleTime is the time of the sample pages.
var sampleTime = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)

// sampleRunReport is a small run to try an override on: a module of each
// state.
func sampleRunReport() *report.Run {
	t := sampleTime
	return &report.Run{Counter: 2, Start: t, Modules: []report.Module{
		{Name: "a", State: report.Built, Level: "isolated", Start: t,
			Artifacts: []report.Artifact{{Path: "a_1_all.deb", Size: 10, Package: &report.Package{Kind: "deb", Name: "a", Version: "1", Arch: "all"}}}},
		{Name: "b", State: report.Failed, Reason: "build exited with status 1", Depends: []string{"a"}, Level: "isolated", Start: t},
		{Name: "c", State: report.Skipped, Reason: "dependency b failed", Depends: []string{"b"}, Level: "isolated"},
	}, History: []report.Summary{{Counter: 1, Start: t, Built: 3}}}
}

// samplePage is index.html's data for the sample run.
func samplePage() IndexPage {
	return indexPage(sampleRunReport(), links{}, DefaultTitle, siteGraph{URL: graphFile})
}

// samplePackages is packages.html's data for the sample run.
func samplePackages() PackagesPage {
	run := sampleRunReport()
	a := run.Modules[0].Artifacts[0]
	return PackagesPage{Title: DefaultTitle, Run: run, Theme: themeCSS, Packages: []packageRow{
		{Module: "a", Package: a.Package, URL: "packages/a/" + a.Path, Name: a.Path, Size: a.Size},
	}}
}

// sampleModule is a failed module's page.
func sampleModule() modulePageData {
	row := moduleRow{Run: 2, Start: sampleTime, State: report.Failed, Reason: "build exited with status 1", Level: "isolated"}
	return modulePageData{Title: DefaultTitle, Name: "b", State: report.Failed, Reason: row.Reason, Level: "isolated",
		LogURL: "../logs/b.log", Tail: []string{"error: no such file"}, Theme: themeCSS,
		LastGood: &lastGoodPage{Run: 1, RunURL: "../runs/1.html"},
		Rows:     []moduleRowPage{{moduleRow: row, RunURL: "../runs/2.html", Duration: "1s"}}}
}

// sampleRun is the sample run's page.
func sampleRun() runPageData {
	run := sampleRunReport()
	d := runPageData{Title: DefaultTitle, Counter: run.Counter, Start: fmtWhen(run.Start), Took: "1s",
		Summary: run.Summarize(), Files: "current", Theme: themeCSS}
	d.Verdict = verdictOf(d.Summary)
	for _, m := range run.Modules {
		d.Modules = append(d.Modules, runPageModule{Name: m.Name, Page: "../modules/" + m.Name + ".html", State: m.State,
			Reason: m.Reason, Level: m.Level})
	}
	return d
}

// render executes the named page's template into a buffer: a template
// that fails writes nothing.
func (t *Templates) render(name string, data any) ([]byte, error) {
	var b bytes.Buffer
	if err := t.execute(&b, name, data); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// execute executes the named page's template with data into w.
func (t *Templates) execute(w io.Writer, name string, data any) error {
	tpl := t.byName[name]
	if tpl == nil {
		return fmt.Errorf("no template for %s", name)
	}
	if err := tpl.Execute(w, data); err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	return nil
}
