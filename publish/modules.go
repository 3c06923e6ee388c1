package publish

import (
	"encoding/json"
	"html/template"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/autobuild/autobuild/publish/logtail"

	"github.com/autobuild/autobuild/engine/report"
)

// A page per module, modules/<name>.html: its state in the latest run,
// the tail of its log when it failed, its artifacts with their SHA-256
// (and its SHA256SUMS), its changes, its last good build's artifacts and
// log while it fails or is skipped, and its last runs. What it shows of
// earlier runs comes from modules/<name>.json (moduleRecord), which each
// site carries to the next.

const (
	// moduleRows bounds a module's history.
	moduleRows = 50
	// tailLines is how many last lines of a failed log its page shows.
	tailLines = 40
	// rowChanges bounds the changes a history row keeps.
	rowChanges = 20
)

// moduleRow is one row of a module's history: one run, or (Same) a
// streak of runs with no change for the module, from Run to Last (0: to
// the latest run).
type moduleRow struct {
	Run          int             `json:"run"`
	Last         int             `json:"last,omitempty"`
	Same         bool            `json:"same,omitempty"`
	Start        time.Time       `json:"start,omitzero"`
	State        report.State    `json:"state"`
	Reason       string          `json:"reason,omitempty"`
	Revision     string          `json:"revision,omitempty"`
	Level        string          `json:"level,omitempty"`
	Duration     time.Duration   `json:"duration_ns"`
	Changes      []report.Change `json:"changes,omitempty"`
	ChangesSince string          `json:"changes_since,omitempty"`
}

// lastGood is what a module's last good build published, kept under
// modules/<name>/last-good/ (packages/ and <name>.log) while it fails.
type lastGood struct {
	Run       int            `json:"run"`
	Revision  string         `json:"revision,omitempty"`
	Artifacts []siteArtifact `json:"artifacts,omitempty"`
	Log       bool           `json:"log,omitempty"`
	Sums      bool           `json:"sums,omitempty"`
}

// moduleRecord is modules/<name>.json.
type moduleRecord struct {
	Rows     []moduleRow `json:"rows"`
	LastGood *lastGood   `json:"last_good,omitempty"`
}

// sameAs reports whether m, in this run, changed nothing since top, the
// newest row of its history: the same revision and trust level, and
// either reused after a good build, or failed again without building
// (same inputs) or skipped again, for the same reason.
func sameAs(m *report.Module, top *moduleRow) bool {
	if top == nil || m.Revision != top.Revision || m.Level != top.Level {
		return false
	}
	switch m.State {
	case report.Reused:
		return top.State.OK()
	case report.Failed:
		return m.FailedSince != 0 && top.State == report.Failed && m.Reason == top.Reason
	case report.Skipped:
		return top.State == report.Skipped && m.Reason == top.Reason
	}
	return false
}

// nextRecord is the module's record after this run, from the live site's
// (old; its run prevCounter).
func nextRecord(old moduleRecord, m *report.Module, run *report.Run, prevCounter int) moduleRecord {
	var top *moduleRow
	if len(old.Rows) > 0 {
		top = &old.Rows[0]
	}
	rows := append([]moduleRow(nil), old.Rows...)
	switch {
	case sameAs(m, top) && top.Same && top.Last == 0:
		// The streak goes on: nothing changes.
	case sameAs(m, top):
		rows = append([]moduleRow{{Run: run.Counter, Same: true, Start: m.Start, State: m.State, Reason: m.Reason,
			Revision: m.Revision, Level: m.Level}}, rows...)
	default:
		if top != nil && top.Same && top.Last == 0 {
			rows[0].Last = prevCounter
		}
		ch := m.Changes
		if len(ch) > rowChanges {
			ch = ch[:rowChanges]
		}
		rows = append([]moduleRow{{Run: run.Counter, Start: m.Start, State: m.State, Reason: m.Reason, Revision: m.Revision,
			Level: m.Level, Duration: m.Duration, Changes: ch, ChangesSince: m.ChangesSince}}, rows...)
	}
	if len(rows) > moduleRows {
		rows = rows[:moduleRows]
	}
	return moduleRecord{Rows: rows, LastGood: old.LastGood}
}

// module writes the module's record, its last good build (when it failed
// or was skipped) and its page.
func (h *historyState) module(run *report.Run, m *report.Module, hasSums bool) error {
	var old moduleRecord
	var oldBytes []byte
	rel := filepath.Join("modules", m.Name+".json")
	if h.prev.dir != "" {
		if b, err := readSmall(filepath.Join(h.prev.dir, rel), 16<<20); err == nil {
			oldBytes = b
			if json.Unmarshal(b, &old) != nil {
				old = moduleRecord{}
			}
		}
	}
	rec := nextRecord(old, m, run, h.prev.counter)
	rec.LastGood = nil
	if !m.State.OK() {
		rec.LastGood = h.carryLastGood(m, old.LastGood)
	}
	b, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	if oldBytes == nil || string(oldBytes) != string(b)+"\n" ||
		!linkFile(filepath.Join(h.prev.dir, rel), filepath.Join(h.dir, rel)) {
		if err := writeFile(filepath.Join(h.dir, rel), append(b, '\n')); err != nil {
			return err
		}
	}
	d := h.modulePageData(m, rec, hasSums)
	key, err := pageKey(h.settings, d)
	if err != nil {
		return err
	}
	return h.cache.put(filepath.Join("modules", m.Name+".html"), key, func(w io.Writer) error {
		return h.tpl.execute(w, "module.html", d)
	})
}

// carryLastGood links into modules/<name>/last-good/ what the module's
// last good build published: the live site's artifacts and log of the
// module when it was good there, else the live site's own last good
// build of it. None (nil) when there is none or it cannot all be linked.
func (h *historyState) carryLastGood(m *report.Module, old *lastGood) *lastGood {
	if h.prev.dir == "" {
		return nil
	}
	dst := filepath.Join(h.dir, "modules", m.Name, "last-good")
	var lg *lastGood
	var err error
	if was := h.prev.modules[m.Name]; was != nil && was.State.OK() {
		lg = &lastGood{Run: h.prev.counter, Revision: was.Revision, Artifacts: h.prev.published[m.Name]}
		if err = mkdirAll(dst); err == nil && len(lg.Artifacts) > 0 {
			err = linkTree(filepath.Join(h.prev.dir, "packages", m.Name), filepath.Join(dst, "packages"))
			lg.Sums = err == nil && exists(filepath.Join(dst, "packages", sumsName)) && !ownSums(rawArtifacts(lg.Artifacts))
		}
		if err == nil && was.Log != "" {
			lg.Log = linkFile(filepath.Join(h.prev.dir, "logs", m.Name+".log"), filepath.Join(dst, m.Name+".log"))
		}
	} else if old != nil && exists(filepath.Join(h.prev.dir, "modules", m.Name, "last-good")) {
		lg = old
		err = linkTree(filepath.Join(h.prev.dir, "modules", m.Name, "last-good"), dst)
	}
	if lg == nil {
		return nil
	}
	if err != nil {
		os.RemoveAll(filepath.Join(h.dir, "modules", m.Name))
		return nil
	}
	return lg
}

// moduleRowPage is a history row as the page shows it.
type moduleRowPage struct {
	moduleRow
	RunURL, LastURL, RevURL, Duration string
	PageChanges                       []pageChange
}

// lastGoodPage is the last good build as the page shows it.
type lastGoodPage struct {
	Run              int
	RunURL           string
	Revision, RevURL string
	Files            []sumFile
	LogURL, SumsURL  string
}

// modulePageData is what a module's page shows. It holds nothing that
// changes from run to run while the module does not (no run counter or
// time of the latest run): a reused module keeps its page.
type modulePageData struct {
	Title, Name, Label string
	Links              []report.Link
	State              report.State
	Reason             string
	Revision, RevURL   string
	Level              string
	Node               string
	Missing            []string
	FeedURL, BadgeURL  string
	LogURL, LogNote    string
	LogDiscarded       int64
	Tail               []string
	Files              []sumFile
	SumsURL            string
	OwnSums            bool
	Unpublished        string
	Changes            []pageChange
	ChangesSince       string
	LastGood           *lastGoodPage
	Rows               []moduleRowPage
	Theme              template.CSS `json:"-"`
}

func (h *historyState) modulePageData(m *report.Module, rec moduleRecord, hasSums bool) modulePageData {
	l := links{base: up(h.base)}
	site := links{base: "../"}
	d := modulePageData{Title: h.title, Name: m.Name, Label: m.Label, Links: m.Links, State: m.State, Reason: m.Reason,
		Revision: m.Revision, RevURL: commitURL(h.commitURL, m.Name, m.Revision), Level: m.Level, Node: m.Node, Missing: m.Missing,
		LogDiscarded: m.LogDiscarded, Unpublished: m.Unpublished, Changes: changesOf(h.commitURL, m.Name, m.Changes),
		ChangesSince: m.ChangesSince, OwnSums: ownSums(m.Artifacts), Theme: themeCSS}
	if len(m.Name)+len(".atom") <= maxName {
		d.FeedURL = site.href("feeds/" + m.Name + ".atom")
	}
	if len(m.Name)+len(".svg") <= maxName && m.Name != "all" {
		d.BadgeURL = site.href("badges/" + m.Name + ".svg")
	}
	switch {
	case m.Log != "":
		d.LogURL = l.href(m.Log)
		if m.State == report.Failed {
			// The site's own copy of the log, read bounded and cleaned.
			d.Tail, _ = logtail.Last(filepath.Join(h.dir, m.Log), tailLines)
		}
	case m.LogUnavailable != "":
		d.LogNote = "log unavailable: " + m.LogUnavailable
	}
	for _, a := range m.Artifacts {
		d.Files = append(d.Files, sumFile{URL: l.href("packages/" + m.Name + "/" + a.Path), Name: readable(a.Path),
			Size: a.Size, SHA256: a.SHA256, Package: a.Package})
	}
	if hasSums {
		d.SumsURL = l.href("packages/" + m.Name + "/" + sumsName)
	}
	if lg := rec.LastGood; lg != nil {
		p := &lastGoodPage{Run: lg.Run, Revision: lg.Revision, RevURL: commitURL(h.commitURL, m.Name, lg.Revision)}
		if h.hasRecord(lg.Run) {
			p.RunURL = site.href("runs/" + strconv.Itoa(lg.Run) + ".html")
		}
		lgDir := "modules/" + m.Name + "/last-good/"
		for _, a := range rawArtifacts(lg.Artifacts) {
			p.Files = append(p.Files, sumFile{URL: l.href(lgDir + "packages/" + a.Path), Name: readable(a.Path),
				Size: a.Size, SHA256: a.SHA256, Package: a.Package})
		}
		if lg.Log {
			p.LogURL = l.href(lgDir + m.Name + ".log")
		}
		if lg.Sums {
			p.SumsURL = l.href(lgDir + "packages/" + sumsName)
		}
		d.LastGood = p
	}
	for _, r := range rec.Rows {
		rp := moduleRowPage{moduleRow: r, RevURL: commitURL(h.commitURL, m.Name, r.Revision),
			PageChanges: changesOf(h.commitURL, m.Name, r.Changes)}
		if h.hasRecord(r.Run) {
			rp.RunURL = site.href("runs/" + strconv.Itoa(r.Run) + ".html")
		}
		if r.Last != 0 && h.hasRecord(r.Last) {
			rp.LastURL = site.href("runs/" + strconv.Itoa(r.Last) + ".html")
		}
		if !r.Same && !r.Start.IsZero() {
			rp.Duration = fmtDur(r.Duration)
		}
		d.Rows = append(d.Rows, rp)
	}
	return d
}

var moduleTemplate = template.Must(template.New("module").Funcs(funcs).Parse(`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="color-scheme" content="light dark">
<title>{{.Title}}: {{.Name}} {{.State}}</title>
{{if .FeedURL}}<link rel="alternate" type="application/atom+xml" title="{{.Title}}: {{.Name}}" href="{{.FeedURL}}">
{{end}}<style>` + pageStyle + `</style>
<style>{{.Theme}}</style>
</head>
<body>
<p><a href="../index.html">{{.Title}}: the latest run</a></p>
<h1>{{.Name}}{{if .Label}} <small>{{.Label}}</small>{{end}}: <span class="{{.State}}">{{.State}}</span></h1>
<p>In the latest run: <span class="{{.State}}">{{.State}}</span>{{if .Reason}} ({{.Reason}}){{end}}{{if .Revision}}, revision {{if .RevURL}}<a href="{{.RevURL}}" rel="nofollow noopener"><code>{{.Revision}}</code></a>{{else}}<code>{{.Revision}}</code>{{end}}{{end}}; trust level {{.Level}}{{if .Node}}, built on node {{.Node}}{{end}}{{if .Missing}} <small class="warn">(not enforced: {{range $i, $m := .Missing}}{{if $i}}, {{end}}{{$m}}{{end}})</small>{{end}}.
{{if .FeedURL}}<a href="{{.FeedURL}}" type="application/atom+xml">Feed</a>{{end}}{{if .BadgeURL}} · <a href="{{.BadgeURL}}">badge</a>{{end}}{{range .Links}} · <a href="{{.Href}}" rel="nofollow noopener">{{or .Label .Href}}</a>{{end}}</p>
<h2>Log</h2>
<p>{{if .LogURL}}<a href="{{.LogURL}}">The whole log</a>.{{else if .LogNote}}<small class="warn">{{.LogNote}}</small>{{else}}No log.{{end}}{{if .LogDiscarded}} <small class="warn">Log cut: {{size .LogDiscarded}} beyond the log limit left out.</small>{{end}}</p>
{{if .Tail}}<p>Its last {{len .Tail}} lines:</p>
<pre class="tail">{{range .Tail}}{{.}}
{{end}}</pre>
{{end}}<h2>Artifacts</h2>
{{if .Files}}<div class="scroll"><table class="files"><thead><tr><th>File</th><th>Size</th><th>SHA-256</th></tr></thead><tbody>
{{range .Files}}<tr><td><a href="{{.URL}}" download>{{.Name}}</a>{{with .Package}} <small class="pkg">{{.Kind}} {{.Name}} {{.Version}}{{with .Arch}} {{.}}{{end}}</small>{{end}}</td><td>{{size .Size}}</td><td><code>{{.SHA256}}</code></td></tr>
{{end}}</tbody></table></div>
{{if .SumsURL}}<p>Check a download with <code>sha256sum -c</code>: <a href="{{.SumsURL}}" download>SHA256SUMS</a>.</p>
{{else if .OwnSums}}<p><small>The build published a SHA256SUMS of its own: the site writes none for it.</small></p>
{{end}}{{else if .Unpublished}}<p class="warn">Artifacts not published: {{.Unpublished}}</p>
{{else}}<p>None in the latest run.</p>
{{end}}{{with .LastGood}}<div class="lastgood" id="last-good">
<h2>Last good build: run {{.Run}}</h2>
<p>What the module's last good build ({{if .RunURL}}<a href="{{.RunURL}}">run {{.Run}}</a>{{else}}run {{.Run}}{{end}}{{if .Revision}}, revision {{if .RevURL}}<a href="{{.RevURL}}" rel="nofollow noopener"><code>{{.Revision}}</code></a>{{else}}<code>{{.Revision}}</code>{{end}}{{end}}) published. These are not the latest run's.
{{if .LogURL}}<a href="{{.LogURL}}">Its log</a>.{{end}}</p>
{{if .Files}}<div class="scroll"><table class="files"><thead><tr><th>File (last good build: run {{.Run}})</th><th>Size</th><th>SHA-256</th></tr></thead><tbody>
{{range .Files}}<tr><td><a href="{{.URL}}" download>{{.Name}}</a></td><td>{{size .Size}}</td><td><code>{{.SHA256}}</code></td></tr>
{{end}}</tbody></table></div>
{{if .SumsURL}}<p><a href="{{.SumsURL}}" download>SHA256SUMS</a> of the last good build.</p>{{end}}
{{else}}<p>It published no artifact.</p>
{{end}}</div>
{{end}}{{if .Changes}}<h2>Changes</h2>
<p>{{if .ChangesSince}}Since <code>{{.ChangesSince}}</code>, the last good build's revision:{{else}}The newest:{{end}}</p>
<ul class="changes">{{range .Changes}}<li>{{if .Source}}<small>{{.Source}}:</small> {{end}}{{if .URL}}<a href="{{.URL}}" rel="nofollow noopener"><code title="{{.ID}}">{{short .ID}}</code></a>{{else}}<code title="{{.ID}}">{{short .ID}}</code>{{end}} {{.Subject}}<br><small>{{.Author}}, {{when .Date}}{{if .Files}}: {{range $i, $f := .Files}}{{if $i}}, {{end}}{{$f}}{{end}}{{end}}{{if .FilesOmitted}} and {{.FilesOmitted}} more{{end}}</small></li>{{end}}</ul>
{{end}}<h2>Runs</h2>
<div class="scroll"><table class="history"><thead><tr><th>Run</th><th>Started</th><th>Status</th><th>Revision</th><th>Trust level</th><th>Duration</th></tr></thead><tbody>
{{range .Rows}}{{if .Same}}<tr class="nochange"><td>{{if .RunURL}}<a href="{{.RunURL}}">{{.Run}}</a>{{else}}{{.Run}}{{end}}–{{if .Last}}{{if .LastURL}}<a href="{{.LastURL}}">{{.Last}}</a>{{else}}{{.Last}}{{end}}{{end}}</td><td colspan="5">{{.State}} with no change{{if .Reason}} ({{.Reason}}){{end}}, {{if .Last}}every run from {{.Run}} to {{.Last}}{{else}}every run since {{.Run}}, the latest included{{end}}</td></tr>
{{else}}<tr><td>{{if .RunURL}}<a href="{{.RunURL}}">{{.Run}}</a>{{else}}{{.Run}}{{end}}</td><td>{{if not .Start.IsZero}}{{when .Start}}{{end}}</td><td class="{{.State}}">{{.State}}{{if .Reason}}<br><small>{{.Reason}}</small>{{end}}</td><td>{{if .RevURL}}<a href="{{.RevURL}}" rel="nofollow noopener"><code title="{{.Revision}}">{{short .Revision}}</code></a>{{else}}<code title="{{.Revision}}">{{short .Revision}}</code>{{end}}{{if .PageChanges}}<details><summary><small>{{len .PageChanges}} change{{if gt (len .PageChanges) 1}}s{{end}}</small></summary><ul class="changes">{{range .PageChanges}}<li>{{if .URL}}<a href="{{.URL}}" rel="nofollow noopener"><code title="{{.ID}}">{{short .ID}}</code></a>{{else}}<code title="{{.ID}}">{{short .ID}}</code>{{end}} {{.Subject}}<br><small>{{.Author}}</small></li>{{end}}</ul></details>{{end}}</td><td>{{.Level}}</td><td>{{.Duration}}</td></tr>
{{end}}{{end}}</tbody></table></div>
</body>
</html>
`))
