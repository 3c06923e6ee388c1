package publish

import (
	"fmt"
	"html/template"
	"net/url"
	"strings"
	"time"

	"github.com/autobuild/autobuild/engine/report"
)

var funcs = template.FuncMap{
	"short": func(s string) string {
		if len(s) > 12 {
			return s[:12]
		}
		return s
	},
	"dur": func(d time.Duration) string {
		if d < time.Second {
			return d.Round(time.Millisecond).String()
		}
		return d.Round(100 * time.Millisecond).String()
	},
	"size": func(n int64) string {
		switch {
		case n >= 1<<20:
			return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
		case n >= 1<<10:
			return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
		}
		return fmt.Sprintf("%d B", n)
	},
	"when": func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05 UTC") },
}

var index = template.Must(template.New("index").Funcs(funcs).Parse(`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{.Title}} run {{.Run.Counter}}: {{.Verdict}}</title>
<meta name="color-scheme" content="light dark">
<link rel="alternate" type="application/atom+xml" title="{{.Title}} runs" href="feed.atom">
<link rel="alternate" type="application/atom+xml" title="{{.Title}} failures" href="failures.atom">
<style>
body{font-family:system-ui,sans-serif;margin:2em;color:#222}
table{border-collapse:collapse;margin:1em 0}th,td{padding:.3em .8em;border-bottom:1px solid #ddd;text-align:left;vertical-align:top}
.built,.reused,.ok{color:#1a7f37;font-weight:600}.failed,.bad{color:#cf222e;font-weight:600}.skipped{color:#9a6700;font-weight:600}
code{font-size:.9em}ul.changes{margin:.3em 0;padding-left:1.2em;max-width:40em}.warn{color:#cf222e}small{color:#666}
</style>
<style>{{.Theme}}</style>
</head>
<body>
<h1>{{.Title}} run {{.Run.Counter}}: <span class="{{if .Summary.OK}}ok{{else}}bad{{end}}">{{.Verdict}}</span></h1>
{{if not .Run.AsOf.IsZero}}<p><strong>Sources as of {{when .Run.AsOf}}</strong> (<code>--timestamp</code>): every module was checked out as it was then.</p>
{{end}}<p>Started {{when .Run.Start}}, took {{dur .Run.Duration}}.
{{.Summary.Built}} built, {{.Summary.Reused}} reused, {{.Summary.Failed}} failed, {{.Summary.Skipped}} skipped.
Machine-readable: <a href="status.json">status.json</a>; the run's packages: <a href="packages.html">packages.html</a>; runs as a feed: <a href="feed.atom">feed.atom</a>, failures only: <a href="failures.atom">failures.atom</a>;
status badge: <a href="badges/all.svg"><img class="badge" src="badges/all.svg" alt="{{.Title}}: {{.Verdict}}"></a> (each module's feed and badge are linked beside its name).</p>
<div class="scroll"><table class="modules">
<thead><tr><th>Module</th><th>Status</th><th>Revision</th><th>Trust level</th><th>Duration</th><th>Log</th><th>Artifacts</th></tr></thead>
<tbody>
{{range .Modules}}<tr id="{{.Name}}">
<td data-label="Module">{{if .PageURL}}<a href="{{.PageURL}}">{{.Name}}</a>{{else}}{{.Name}}{{end}}{{if .Label}} <small>{{.Label}}</small>{{end}}{{if .Groups}} <small>[{{range $i, $g := .Groups}}{{if $i}}, {{end}}{{$g}}{{end}}]</small>{{end}}{{if .Depends}}<br><small>needs {{range $i, $d := .Depends}}{{if $i}}, {{end}}<a href="#{{$d}}">{{$d}}</a>{{end}}</small>{{end}}{{if .Links}}<br><small>{{range $i, $l := .Links}}{{if $i}} · {{end}}<a href="{{$l.Href}}" rel="nofollow noopener">{{or $l.Label $l.Href}}</a>{{end}}</small>{{end}}{{if .FeedURL}}<br><small><a href="{{.FeedURL}}" type="application/atom+xml">feed</a>{{if .BadgeURL}} · <a href="{{.BadgeURL}}">badge</a>{{end}}</small>{{end}}</td>
<td data-label="Status" class="{{.State}}">{{.State}}{{if .Reason}}<br><small>{{.Reason}}</small>{{end}}{{with .Tests}}<br><small>{{if .Unreadable}}results file not read: {{.Unreadable}}{{else}}tests ({{if eq .Format "junit"}}JUnit{{else}}TAP{{end}}): {{.Passed}} passed, {{.Failed}} failed, {{.Skipped}} skipped{{end}}</small>{{if .Failures}}<details style="font-weight:normal;color:#222"><summary><small>failing tests</small></summary><ul class="changes">{{range .Failures}}<li><code>{{.Name}}</code>{{if .Message}}<br><small style="white-space:pre-wrap">{{.Message}}</small>{{end}}</li>{{end}}{{if .FailuresOmitted}}<li><small>and {{.FailuresOmitted}} more</small></li>{{end}}</ul></details>{{end}}{{end}}</td>
<td data-label="Revision">{{if .RevURL}}<a href="{{.RevURL}}" rel="nofollow noopener"><code title="{{.Revision}}">{{short .Revision}}</code></a>{{else}}<code title="{{.Revision}}">{{short .Revision}}</code>{{end}}{{if .Changes}}<details><summary><small>{{len .Changes}} {{if .ChangesSince}}change{{if gt (len .Changes) 1}}s{{end}} since <code title="{{.ChangesSince}}">{{short .ChangesSince}}</code>{{else}}newest change{{if gt (len .Changes) 1}}s{{end}}{{end}}</small></summary><ul class="changes">{{range .ChangeLinks}}<li>{{if .Source}}<small>{{.Source}}:</small> {{end}}{{if .URL}}<a href="{{.URL}}" rel="nofollow noopener"><code title="{{.ID}}">{{short .ID}}</code></a>{{else}}<code title="{{.ID}}">{{short .ID}}</code>{{end}} {{.Subject}}<br><small>{{.Author}}, {{when .Date}}{{if .Files}}: {{range $i, $f := .Files}}{{if $i}}, {{end}}{{$f}}{{end}}{{end}}{{if .FilesOmitted}} and {{.FilesOmitted}} more{{end}}</small></li>{{end}}</ul></details>{{end}}</td>
<td data-label="Trust level">{{.Level}}{{if .Node}}<br><small>on node {{.Node}}</small>{{end}}{{if .Missing}}<br><small class="warn">not enforced: {{range $i, $m := .Missing}}{{if $i}}, {{end}}{{$m}}{{end}}</small>{{end}}</td>
<td data-label="Duration">{{dur .Duration}}</td>
<td data-label="Log">{{if .LogURL}}<a href="{{.LogURL}}">log</a>{{else if .LogUnavailable}}<small class="warn">log unavailable: {{.LogUnavailable}}</small>{{end}}{{if .LogDiscarded}}<br><small class="warn">log cut: {{size .LogDiscarded}} beyond the log limit left out</small>{{end}}</td>
<td data-label="Artifacts">{{range .Files}}<a href="{{.URL}}" download>{{.Name}}</a> <small>{{size .Size}}</small>{{with .Package}} <small class="pkg">{{.Kind}} {{.Name}} {{.Version}}{{with .Arch}} {{.}}{{end}}</small>{{end}}<br>{{end}}{{if .Unpublished}}<small class="warn">artifacts not published: {{.Unpublished}}</small>{{end}}</td>
</tr>
{{end}}</tbody>
</table></div>
{{with .Graph}}{{if .URL}}<h2>Dependencies</h2>
<p><a href="{{.URL}}"><img class="graph" src="{{.URL}}" alt="The dependency graph: a box per module, coloured by its state; an arrow from each dependency to the modules that need it" style="max-width:100%;height:auto"></a><br><small>Open the picture to follow its boxes to the modules.</small></p>
{{else if .Note}}<p><small>{{.Note}}</small></p>
{{end}}{{end}}{{if .Run.Disabled}}<p><small>Disabled (<code>enabled: false</code>): {{range $i, $d := .Run.Disabled}}{{if $i}}, {{end}}{{$d}}{{end}}</small></p>
{{end}}{{if .Run.History}}<h2>Recent runs</h2>
<div class="scroll"><table class="history"><thead><tr><th>Run</th><th>Started</th><th>Duration</th><th>Built</th><th>Reused</th><th>Failed</th><th>Skipped</th></tr></thead><tbody>
{{range .History}}{{if .NoChange}}<tr class="nochange"><td>{{if gt .Runs 1}}{{if .FirstPage}}<a href="{{.FirstPage}}">{{.First}}</a>{{else}}{{.First}}{{end}}–{{end}}{{if .Page}}<a href="{{.Page}}">{{.Counter}}</a>{{else}}{{.Counter}}{{end}}</td><td colspan="6">{{if gt .Runs 1}}{{.Runs}} runs{{else}}one run{{end}} with no change (every module reused, nothing failed){{if gt .Runs 1}}, started {{when .FirstStart}} to {{when .Start}}{{else}}, started {{when .Start}}{{end}}</td></tr>
{{else}}<tr><td>{{if .Page}}<a href="{{.Page}}">{{.Counter}}</a>{{else}}{{.Counter}}{{end}}</td><td>{{when .Start}}</td><td>{{dur .Duration}}</td><td>{{.Built}}</td><td>{{.Reused}}</td><td class="{{if .Failed}}failed{{end}}">{{.Failed}}</td><td>{{.Skipped}}</td></tr>
{{end}}{{end}}</tbody></table></div>{{end}}
</body>
</html>
`))

// links makes the URL of a published file, from its path in the site
// folder: each path element escaped as a URL path segment (any byte but
// "/" and NUL may be in a name), after base ("" for a link relative to
// the page, or Site.FilesURL).
//
// runPages and modPages say which run and module pages the site holds
// (runs.go, modules.go), commit is Site.CommitURL: index.html links them.
type links struct {
	base     string
	runPages map[int]bool
	modPages map[string]bool
	commit   string
}

func (l links) href(rel string) string {
	parts := strings.Split(rel, "/")
	for i, p := range parts {
		parts[i] = url.PathEscape(p)
	}
	return l.base + strings.Join(parts, "/")
}

// pageModule is a module as index.html shows it.
type pageModule struct {
	report.Module
	LogURL string
	Files  []pageFile
	// FeedURL and BadgeURL link the module's feed and badge (none for a
	// name too long for their files).
	FeedURL, BadgeURL string
	// PageURL links the module's page; RevURL its revision's commit
	// (Site.CommitURL); ChangeLinks are its Changes, each with its commit's.
	PageURL, RevURL string
	ChangeLinks     []pageChange
}

// pageFile is a published artifact: its link and readable name.
type pageFile struct {
	URL, Name string
	Size      int64
	Package   *report.Package // what it says of itself, when a package
}

// renderIndex renders index.html with its template (built-in, or an
// admin's: templates.go).
func renderIndex(t *Templates, run *report.Run, l links, title string, graph siteGraph) ([]byte, error) {
	return t.render("index.html", indexPage(run, l, title, graph))
}

// indexPage is index.html's data.
func indexPage(run *report.Run, l links, title string, graph siteGraph) IndexPage {
	s := run.Summarize()
	verdict := "all modules built"
	if !s.OK() {
		verdict = fmt.Sprintf("%d failed, %d skipped", s.Failed, s.Skipped)
	}
	mods := make([]pageModule, len(run.Modules))
	for i, m := range run.Modules {
		mods[i].Module = m
		if l.modPages[m.Name] {
			mods[i].PageURL = links{}.href("modules/" + m.Name + ".html")
		}
		mods[i].RevURL = commitURL(l.commit, m.Name, m.Revision)
		mods[i].ChangeLinks = changesOf(l.commit, m.Name, m.Changes)
		if m.Log != "" {
			mods[i].LogURL = l.href(m.Log)
		}
		// Feeds and badges are the site's own pages, never on FilesURL.
		if len(m.Name)+len(".atom") <= maxName {
			mods[i].FeedURL = links{}.href("feeds/" + m.Name + ".atom")
		}
		if len(m.Name)+len(".svg") <= maxName && m.Name != "all" {
			mods[i].BadgeURL = links{}.href("badges/" + m.Name + ".svg")
		}
		for _, a := range m.Artifacts {
			mods[i].Files = append(mods[i].Files, pageFile{
				URL: l.href("packages/" + m.Name + "/" + a.Path), Name: readable(a.Path), Size: a.Size, Package: a.Package,
			})
		}
	}
	hist := collapseHistory(run.History)
	for i := range hist {
		if l.runPages[hist[i].Counter] {
			hist[i].Page = "runs/" + fmt.Sprint(hist[i].Counter) + ".html"
		}
		if hist[i].Runs > 1 && l.runPages[hist[i].First] {
			hist[i].FirstPage = "runs/" + fmt.Sprint(hist[i].First) + ".html"
		}
	}
	return IndexPage{Run: run, Modules: mods, Summary: s, Verdict: verdict, Title: title, Theme: themeCSS,
		History: hist, Graph: graph}
}
