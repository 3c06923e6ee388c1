package publish

import (
	"bytes"
	"html/template"
	"io"
	"path/filepath"

	"github.com/autobuild/autobuild/engine/report"
)

// packages.html lists every package the run published, module by module
// in the run's order: what the package says of itself (engine/packages:
// kind, name, version, architecture, entries) beside its file's link,
// size and SHA-256. Files named as packages that did not parse are listed
// apart, with the reason. Every field is the build's: html/template
// escapes it, and engine/packages has already written out control
// characters and bounded its length.

var packagesPage = template.Must(template.New("packages").Funcs(funcs).Parse(`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="color-scheme" content="light dark">
<title>{{.Title}} run {{.Run.Counter}}: packages</title>
<style>
body{font-family:system-ui,sans-serif;margin:2em}
.scroll{overflow-x:auto}table{border-collapse:collapse;margin:1em 0}th,td{padding:.3em .8em;border-bottom:1px solid #8884;text-align:left;vertical-align:top}
code{font-size:.85em;word-break:break-all}small{opacity:.75}.warn{color:#cf222e}
</style>
</head>
<body>
<h1>{{.Title}} run {{.Run.Counter}}: packages</h1>
<p><a href="index.html">Back to the run</a>. {{len .Packages}} package{{if ne (len .Packages) 1}}s{{end}}, as each file says of itself: a .deb's control file, an RPM's header; a tarball's or zip file's name and version come from its file name (<code>name-version.tar.gz</code>). Machine-readable: the artifacts' <code>package</code> in <a href="status.json">status.json</a>.</p>
{{if .Packages}}<div class="scroll"><table class="packages">
<thead><tr><th>Module</th><th>Name</th><th>Version</th><th>Arch</th><th>Kind</th><th>Entries</th><th>File</th></tr></thead>
<tbody>
{{range .Packages}}<tr>
<td><a href="index.html#{{.Module}}">{{.Module}}</a></td>
<td>{{.Package.Name}}</td>
<td>{{.Package.Version}}</td>
<td>{{.Package.Arch}}</td>
<td>{{.Package.Kind}}</td>
<td>{{.Package.Entries}}</td>
<td><a href="{{.URL}}" download>{{.Name}}</a> <small>{{size .Size}}</small><br><small>SHA-256 <code>{{.SHA256}}</code></small></td>
</tr>
{{end}}</tbody>
</table></div>
{{else}}<p>No module left a package in this run.</p>
{{end}}{{if .Not}}<h2>Named as packages, but not</h2>
<div class="scroll"><table class="not-packages">
<thead><tr><th>Module</th><th>File</th><th>Why</th></tr></thead>
<tbody>
{{range .Not}}<tr><td><a href="index.html#{{.Module}}">{{.Module}}</a></td><td><a href="{{.URL}}" download>{{.Name}}</a> <small>{{size .Size}}</small></td><td><small class="warn">{{.Why}}</small></td></tr>
{{end}}</tbody>
</table></div>
{{end}}</body>
</html>
`))

// packageRow is one package (or a file named as one) on packages.html.
type packageRow struct {
	Module  string
	Package *report.Package
	Why     string
	URL     string
	Name    string
	Size    int64
	SHA256  string
}

func renderPackages(w io.Writer, run *report.Run, l links, title string, tpl *Templates) error {
	var pkgs, not []packageRow
	for _, m := range run.Modules {
		for _, a := range m.Artifacts {
			row := packageRow{Module: m.Name, Package: a.Package, Why: a.NotPackage,
				URL: l.href("packages/" + m.Name + "/" + a.Path), Name: readable(a.Path), Size: a.Size, SHA256: a.SHA256}
			switch {
			case a.Package != nil:
				pkgs = append(pkgs, row)
			case a.NotPackage != "":
				not = append(not, row)
			}
		}
	}
	return tpl.execute(w, "packages.html", PackagesPage{Title: title, Run: run, Packages: pkgs, Not: not, Theme: themeCSS})
}

// writePackages writes packages.html into the site folder dir, from the
// run as published (a module whose artifacts were not published lists
// none).
func writePackages(dir string, run *report.Run, l links, title string, tpl *Templates) error {
	var page bytes.Buffer
	if err := renderPackages(&page, run, l, title, tpl); err != nil {
		return err
	}
	return writeFile(filepath.Join(dir, "packages.html"), page.Bytes())
}
