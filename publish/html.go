package publish

import (
	"fmt"
	"html/template"
	"io"
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
<title>autobuild run {{.Run.Counter}}: {{.Verdict}}</title>
<link rel="alternate" type="application/atom+xml" title="autobuild runs" href="feed.atom">
<style>
body{font-family:system-ui,sans-serif;margin:2em;color:#222}
table{border-collapse:collapse;margin:1em 0}th,td{padding:.3em .8em;border-bottom:1px solid #ddd;text-align:left;vertical-align:top}
.built,.cached,.ok{color:#1a7f37;font-weight:600}.failed,.bad{color:#cf222e;font-weight:600}.skipped{color:#9a6700;font-weight:600}
code{font-size:.9em}.warn{color:#cf222e}small{color:#666}
</style>
</head>
<body>
<h1>autobuild run {{.Run.Counter}}: <span class="{{if .Summary.OK}}ok{{else}}bad{{end}}">{{.Verdict}}</span></h1>
<p>Started {{when .Run.Start}}, took {{dur .Run.Duration}}.
{{.Summary.Built}} built, {{.Summary.Cached}} reused, {{.Summary.Failed}} failed, {{.Summary.Skipped}} skipped.
Machine-readable: <a href="status.json">status.json</a>; runs as a feed: <a href="feed.atom">feed.atom</a>.</p>
<table>
<thead><tr><th>Module</th><th>Status</th><th>Revision</th><th>Trust level</th><th>Duration</th><th>Log</th><th>Artifacts</th></tr></thead>
<tbody>
{{range .Run.Modules}}<tr id="{{.Name}}">
<td>{{.Name}}{{if .Groups}} <small>[{{range $i, $g := .Groups}}{{if $i}}, {{end}}{{$g}}{{end}}]</small>{{end}}{{if .Depends}}<br><small>needs {{range $i, $d := .Depends}}{{if $i}}, {{end}}<a href="#{{$d}}">{{$d}}</a>{{end}}</small>{{end}}</td>
<td class="{{.State}}">{{.State}}{{if .Reason}}<br><small>{{.Reason}}</small>{{end}}</td>
<td><code title="{{.Revision}}">{{short .Revision}}</code></td>
<td>{{.Level}}{{if .Missing}}<br><small class="warn">not enforced: {{range $i, $m := .Missing}}{{if $i}}, {{end}}{{$m}}{{end}}</small>{{end}}</td>
<td>{{dur .Duration}}</td>
<td>{{if .Log}}<a href="{{.Log}}">log</a>{{else if .LogUnavailable}}<small class="warn">log unavailable: {{.LogUnavailable}}</small>{{end}}</td>
<td>{{$m := .Name}}{{range .Artifacts}}<a href="packages/{{$m}}/{{.Path}}">{{.Path}}</a> <small>{{size .Size}}</small><br>{{end}}{{if .Unpublished}}<small class="warn">artifacts not published: {{.Unpublished}}</small>{{end}}</td>
</tr>
{{end}}</tbody>
</table>
{{if .Run.History}}<h2>Recent runs</h2>
<table><thead><tr><th>Run</th><th>Started</th><th>Duration</th><th>Built</th><th>Reused</th><th>Failed</th><th>Skipped</th></tr></thead><tbody>
{{range .Run.History}}<tr><td>{{.Counter}}</td><td>{{when .Start}}</td><td>{{dur .Duration}}</td><td>{{.Built}}</td><td>{{.Cached}}</td><td class="{{if .Failed}}failed{{end}}">{{.Failed}}</td><td>{{.Skipped}}</td></tr>
{{end}}</tbody></table>{{end}}
</body>
</html>
`))

func renderIndex(w io.Writer, run *report.Run) error {
	s := run.Summarize()
	verdict := "all modules built"
	if !s.OK() {
		verdict = fmt.Sprintf("%d failed, %d skipped", s.Failed, s.Skipped)
	}
	return index.Execute(w, struct {
		Run     *report.Run
		Summary report.Summary
		Verdict string
	}{run, s, verdict})
}
